package authzone

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// FuzzCatalogParser feeds arbitrary catalog zones (as a primary might
// transfer them) to the catalog parser: it never panics; a catalog it
// processes has the version property "2"; every member it accepts is a
// valid zone name outside the catalog, listed once, with the ID of a PTR
// that names it and no other PTR at that ID.
func FuzzCatalogParser(f *testing.F) {
	m := new(dns.Msg)
	m.Answer = catalogRecords(testCatalog, []catalogMember{
		{Zone: "a.test.", ID: "id1", Groups: []string{"g"}},
		{Zone: "b.test.", ID: "id2", Coo: "new.invalid."},
	})
	seed, _ := m.Pack()
	f.Add(seed, "")
	for _, bad := range [][]dns.RR{
		{&dns.PTR{Hdr: dns.RR_Header{Name: "id1.zones." + testCatalog, Rrtype: dns.TypePTR, Class: dns.ClassINET}, Ptr: "c.test."}},
		{&dns.PTR{Hdr: dns.RR_Header{Name: "id3.zones." + testCatalog, Rrtype: dns.TypePTR, Class: dns.ClassINET}, Ptr: "a.test."}},
		{&dns.TXT{Hdr: dns.RR_Header{Name: "version." + testCatalog, Rrtype: dns.TypeTXT, Class: dns.ClassINET}, Txt: []string{"1"}}},
	} {
		m2 := new(dns.Msg)
		m2.Answer = append(append([]dns.RR{}, m.Answer...), bad...)
		b, _ := m2.Pack()
		f.Add(b, "id3")
	}
	f.Fuzz(func(t *testing.T, data []byte, held string) {
		msg := new(dns.Msg)
		if msg.Unpack(data) != nil {
			return
		}
		p, err := parseCatalog(testCatalog, msg.Answer, func(string) string { return held })
		if err != nil {
			return
		}
		ptrs := map[string][]string{}
		versions := 0
		for _, rr := range msg.Answer {
			name := strings.ToLower(rr.Header().Name)
			if rr.Header().Class != dns.ClassINET {
				continue
			}
			if txt, ok := rr.(*dns.TXT); ok && name == "version."+testCatalog {
				versions++
				if strings.Join(txt.Txt, "\x00") != catalogVersion {
					t.Fatalf("processed a catalog with version %q", txt.Txt)
				}
			}
			if ptr, ok := rr.(*dns.PTR); ok {
				ptrs[name] = append(ptrs[name], strings.ToLower(ptr.Ptr))
			}
		}
		if versions != 1 {
			t.Fatalf("processed a catalog with %d version records", versions)
		}
		seen := map[string]bool{}
		for _, mb := range p.Members {
			if seen[mb.Zone] {
				t.Fatalf("member %s accepted twice", mb.Zone)
			}
			seen[mb.Zone] = true
			if _, ok := dns.IsDomainName(mb.Zone); !ok || mb.Zone == "." || strings.HasSuffix(mb.Zone, "."+testCatalog) || mb.Zone == testCatalog {
				t.Fatalf("member %q accepted", mb.Zone)
			}
			got := ptrs[strings.ToLower(mb.ID)+".zones."+testCatalog]
			if len(got) != 1 || got[0] != mb.Zone {
				t.Fatalf("member %s with ID %s: PTRs there %v", mb.Zone, mb.ID, got)
			}
		}
	})
}
