package zonemodel

// PreviousClosed is closed once the zone of the previous configuration
// generation that this zone superseded (at Open) has closed, i.e. once the
// old generation no longer serves (CoreDNS runs both while a reload starts
// the new servers on the same sockets). Closed already if there was none.
// A NOTIFY sent before then can make a secondary ask the old generation,
// which still answers the old serial, and conclude it is up to date.
func (z *Zone) PreviousClosed() <-chan struct{} {
	if z.prevClosed != nil {
		return z.prevClosed
	}
	done := make(chan struct{})
	close(done)
	return done
}
