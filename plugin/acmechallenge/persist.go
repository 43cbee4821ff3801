package acmechallenge

import (
	"fmt"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/persist"
)

// dns-persist-01 validation records over UPDATE.
//
// A `grant KEY persist ...` line gives a TSIG key the `_validation-persist`
// TXT records of its names (draft-ietf-acme-dns-persist), so that a host can
// publish its own record once. They are checked on the way in with the rules
// the CA applies (persist.Parse) and go to their own source of the zone model,
// "persist-update": Dynamic (stored, served again after a restart), never
// expired like challenges, in every view unless `persist-view` says
// otherwise. The records dnspersist publishes from the Corefile are another
// source ("persist"); the served RRset is the union of both, and a key can
// change only what was set over UPDATE.

// persistValidator accepts a TXT record whose value (its strings
// concatenated, as the CA reads it) is a well-formed dns-persist-01 record
// that has not expired yet.
func persistValidator(rr dns.RR) error {
	return validatePersist(rr, time.Now())
}

func validatePersist(rr dns.RR, now time.Time) error {
	t, ok := rr.(*dns.TXT)
	if !ok {
		return fmt.Errorf("not a TXT record")
	}
	r, err := persist.Parse(persist.Value(t))
	if err != nil {
		return fmt.Errorf("not a dns-persist-01 record the CA would accept: %v", err)
	}
	if !r.PersistUntil.IsZero() && !r.PersistUntil.After(now) {
		return fmt.Errorf("persistUntil %s is already past: the CA would refuse this record", r.PersistUntil.Format(time.RFC3339))
	}
	return nil
}
