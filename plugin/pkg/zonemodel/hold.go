package zonemodel

// A zone's reads of its store before Open (StoredMeta, SetInitialFile's
// digest check, HasData) hold the store from the first of them until Open
// takes it over, or Close: the state directory's database (statedb.go) is
// then opened once for the setup of all its zones, not once per read.

// readStore runs fn with the zone's store.
func (z *Zone) readStore(fn func(*store) error) error {
	if z.opened.Load() {
		st, err := z.acquire()
		if err != nil {
			return err
		}
		defer st.release()
		return fn(st)
	}
	z.heldMu.Lock()
	defer z.heldMu.Unlock()
	if z.held == nil {
		st, err := z.acquire()
		if err != nil {
			return err
		}
		z.held = st
	}
	return fn(z.held)
}

// takeHeld returns the store held since a read before Open (nil: none);
// the caller owns its reference.
func (z *Zone) takeHeld() *store {
	z.heldMu.Lock()
	defer z.heldMu.Unlock()
	st := z.held
	z.held = nil
	return st
}
