package dnspersist

import (
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/persist"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// The Go API (used by the certs plugin): authorizations set before the zone
// serves join the first publication; later ones are published at once, next
// to the Corefile's; invalid ones change nothing; an empty set withdraws.
func TestAPISet(t *testing.T) {
	dir := t.TempDir()
	z := zonemodel.New(zonemodel.Config{Origin: "example.test", StateDir: dir})
	base, _ := z.AddSource("file", zonemodel.SourceOptions{Base: true})
	zd, err := zonemodel.ParseZone(strings.NewReader(zoneText), "example.test.", "z")
	if err != nil {
		t.Fatal(err)
	}
	base.SetInitial(nil, zd.RRs)
	// No dnspersist block: the API's own publisher (empty configuration).
	p := &Persist{cfg: &config{origin: "example.test.", ttl: 3600}}
	a := Authorization{Names: []string{"intra.example.test"}, Issuers: []string{"pebble.letsencrypt.org"},
		AccountURI: "https://127.0.0.1:14000/my-account/1", Wildcard: true, TTL: 60}
	if err := p.Set("certs/intra", []Authorization{a}); err != nil {
		t.Fatal(err)
	}
	if err := p.attach(z); err != nil {
		t.Fatal(err)
	}
	if err := z.Open(); err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	if err := p.publish(now); err != nil {
		t.Fatal(err)
	}
	get := func() []*persist.Record {
		set := z.View("").Snapshot().Get("_validation-persist.intra.example.test.", dns.TypeTXT)
		if set == nil {
			return nil
		}
		var out []*persist.Record
		for _, rr := range set.RRs {
			r, err := persist.Parse(persist.Value(rr.(*dns.TXT)))
			if err != nil {
				t.Fatal(err)
			}
			if rr.Header().Ttl != 60 {
				t.Fatalf("ttl %d", rr.Header().Ttl)
			}
			out = append(out, r)
		}
		return out
	}
	if rs := get(); len(rs) != 1 || rs[0].AccountURI != a.AccountURI || rs[0].Policy != "wildcard" {
		t.Fatalf("after the first publication: %+v", rs)
	}
	serial := z.View("").Snapshot().Serial
	// A new account: replaced at once.
	a.AccountURI = "https://127.0.0.1:14000/my-account/2"
	if err := p.Set("certs/intra", []Authorization{a}); err != nil {
		t.Fatal(err)
	}
	if rs := get(); len(rs) != 1 || rs[0].AccountURI != a.AccountURI {
		t.Fatalf("after the change: %+v", rs)
	}
	if z.View("").Snapshot().Serial == serial {
		t.Fatal("serial did not move")
	}
	// Invalid input: an error, nothing changes.
	bad := a
	bad.AccountURI = "http://ca/1"
	if err := p.Set("certs/intra", []Authorization{bad}); err == nil || !strings.Contains(err.Error(), "https") {
		t.Fatalf("http account URI: %v", err)
	}
	bad = a
	bad.Names = []string{"www.example.org"}
	if err := p.Set("certs/intra", []Authorization{bad}); err == nil || !strings.Contains(err.Error(), "not in zone") {
		t.Fatalf("out of zone: %v", err)
	}
	if rs := get(); len(rs) != 1 || rs[0].AccountURI != a.AccountURI {
		t.Fatalf("after refused changes: %+v", rs)
	}
	// The hourly republication keeps them.
	if err := p.publish(now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if rs := get(); len(rs) != 1 {
		t.Fatalf("after republication: %+v", rs)
	}
	// Withdrawn.
	if err := p.Set("certs/intra", nil); err != nil {
		t.Fatal(err)
	}
	if rs := get(); rs != nil {
		t.Fatalf("after withdrawal: %+v", rs)
	}
}
