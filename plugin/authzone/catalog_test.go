package authzone

import (
	"reflect"
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/tsigauth"
)

const testCatalog = "catalog.invalid."

func catRRs(t *testing.T, lines ...string) []dns.RR {
	t.Helper()
	var out []dns.RR
	for _, l := range lines {
		rr, err := dns.NewRR(l)
		if err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		out = append(out, rr)
	}
	return out
}

func TestCatalogMemberID(t *testing.T) {
	a, b := catalogMemberID("example.test."), catalogMemberID("EXAMPLE.test")
	if a != b {
		t.Errorf("ID depends on case or the final dot: %s %s", a, b)
	}
	if len(a) != 16 || strings.Trim(a, "0123456789abcdef") != "" {
		t.Errorf("ID %q: want 16 hex digits", a)
	}
	if catalogMemberID("example.org.") == a {
		t.Error("two names, one ID")
	}
}

// TestCatalogRoundTrip: what the producer writes, the consumer reads back
// whole (members, IDs, groups, coo), and the records are RFC 9432's.
func TestCatalogRoundTrip(t *testing.T) {
	members := []catalogMember{
		{Zone: "a.test.", ID: catalogMemberID("a.test."), Groups: []string{"g1", "g2"}},
		{Zone: "b.test.", ID: catalogMemberID("b.test."), Coo: "other.invalid."},
		{Zone: "c.test.", ID: catalogMemberID("c.test.")},
	}
	rrs := catalogRecords(testCatalog, members)
	text := ""
	for _, rr := range rrs {
		text += rr.String() + "\n"
	}
	for _, want := range []string{
		"catalog.invalid.\t0\tIN\tSOA\tinvalid. invalid. 1 3600 600 2147483646 0",
		"catalog.invalid.\t0\tIN\tNS\tinvalid.",
		"version.catalog.invalid.\t0\tIN\tTXT\t\"2\"",
		members[0].ID + ".zones.catalog.invalid.\t0\tIN\tPTR\ta.test.",
		"group." + members[0].ID + ".zones.catalog.invalid.\t0\tIN\tTXT\t\"g2\"",
		"coo." + members[1].ID + ".zones.catalog.invalid.\t0\tIN\tPTR\tother.invalid.",
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("missing %q in\n%s", want, text)
		}
	}
	p, err := parseCatalog(testCatalog, rrs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p.Members, members) || len(p.Refused) != 0 {
		t.Errorf("parsed %+v (refused %v), want %+v", p.Members, p.Refused, members)
	}
}

// TestCatalogRefusals: a bad version refuses the catalog; a bad member is
// refused alone, the good ones stay.
func TestCatalogRefusals(t *testing.T) {
	base := []string{
		"catalog.invalid. 0 IN SOA invalid. invalid. 1 3600 600 2147483646 0",
		"catalog.invalid. 0 IN NS invalid.",
	}
	good := []string{
		"good1.zones.catalog.invalid. 0 IN PTR good.test.",
		"good2.zones.catalog.invalid. 0 IN PTR Other.Test.",
	}
	for _, v := range [][]string{
		nil,
		{`version.catalog.invalid. 0 IN TXT "1"`},
		{`version.catalog.invalid. 0 IN TXT "3"`},
		{`version.catalog.invalid. 0 IN TXT "2"`, `version.catalog.invalid. 0 IN TXT "1"`},
	} {
		_, err := parseCatalog(testCatalog, catRRs(t, append(append(append([]string{}, base...), v...), good...)...), nil)
		if err == nil || !strings.Contains(err.Error(), "not processed") {
			t.Errorf("version %v: err %v, want the catalog not processed", v, err)
		}
	}
	version := `version.catalog.invalid. 0 IN TXT "2"`
	for _, tc := range []struct {
		name  string
		lines []string
		held  map[string]string
		want  []string // member zones kept besides the good ones
		why   string
	}{
		{"two PTRs", []string{"bad.zones.catalog.invalid. 0 IN PTR x.test.", "bad.zones.catalog.invalid. 0 IN PTR y.test."}, nil, nil, "2 PTR records"},
		{"PTR into the catalog", []string{"bad.zones.catalog.invalid. 0 IN PTR zones.catalog.invalid."}, nil, nil, "not a zone this catalog can list"},
		{"root", []string{"bad.zones.catalog.invalid. 0 IN PTR ."}, nil, nil, "not a zone this catalog can list"},
		{"property without PTR", []string{`group.lone.zones.catalog.invalid. 0 IN TXT "g"`}, nil, nil, "no PTR"},
		{"duplicate, none held", []string{"d1.zones.catalog.invalid. 0 IN PTR dup.test.", "d2.zones.catalog.invalid. 0 IN PTR DUP.test."}, nil, nil, "listed under 2 IDs"},
		{"duplicate, one held", []string{"d1.zones.catalog.invalid. 0 IN PTR dup.test.", "d2.zones.catalog.invalid. 0 IN PTR dup.test."}, map[string]string{"dup.test.": "d2"}, []string{"dup.test."}, "keeping ID d2"},
		{"bad group kept member", []string{"m.zones.catalog.invalid. 0 IN PTR m.test.", `group.m.zones.catalog.invalid. 0 IN TXT "a" "b"`}, nil, []string{"m.test."}, "group properties that are not one string"},
		{"two coo", []string{"m.zones.catalog.invalid. 0 IN PTR m.test.", "coo.m.zones.catalog.invalid. 0 IN PTR a.invalid.", "coo.m.zones.catalog.invalid. 0 IN PTR b.invalid."}, nil, []string{"m.test."}, "2 coo properties"},
	} {
		lines := append(append(append(append([]string{}, base...), version), good...), tc.lines...)
		held := func(z string) string { return tc.held[z] }
		p, err := parseCatalog(testCatalog, catRRs(t, lines...), held)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		var got []string
		for _, m := range p.Members {
			got = append(got, m.Zone)
		}
		want := append([]string{"good.test.", "other.test."}, tc.want...)
		if strings.Join(sorted(got), " ") != strings.Join(sorted(want), " ") {
			t.Errorf("%s: members %v, want %v", tc.name, got, want)
		}
		if len(p.Refused) != 1 || !strings.Contains(p.Refused[0], tc.why) {
			t.Errorf("%s: refused %q, want one mentioning %q", tc.name, p.Refused, tc.why)
		}
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestParseCatalogLines(t *testing.T) {
	for i, tc := range []struct {
		input   string
		wantErr string
	}{
		{"authzone catalog.invalid {\ncatalog produce\ngroup a.test g1 g2\ncoo a.test new.invalid\n}", ""},
		{"authzone catalog.invalid {\ncatalog produce a.test b.test\ngroup a.test g1\n}", ""},
		{"authzone catalog.invalid {\ncatalog produce a.test\ngroup b.test g1\n}", "not a member of this catalog"},
		{"authzone catalog.invalid {\ncatalog produce\nfile db\n}", "it has no 'file' or 'primary'"},
		{"authzone catalog.invalid {\ncatalog produce\nmember transfer to *\n}", "'member' lines are for 'catalog consume'"},
		{"authzone catalog.invalid {\ncatalog consume\n}", "add 'primary ADDRESS"},
		{"authzone catalog.invalid {\nprimary 127.0.0.1:53\ncatalog consume\nmember transfer to 127.0.0.0/8\nmember notify 127.0.0.1:1054\n}", ""},
		{"authzone catalog.invalid {\nprimary 127.0.0.1:53\ncatalog consume\nmember file db\n}", "a member zone's template takes"},
		{"authzone catalog.invalid {\nprimary 127.0.0.1:53\ncatalog consume\ngroup a.test g\n}", "properties a producer writes"},
		{"authzone catalog.invalid {\ncatalog sometimes\n}", "want 'catalog produce"},
		{"authzone catalog.invalid {\ncatalog produce\ncatalog produce\n}", "given twice"},
		{"authzone catalog.invalid {\nfile db\ngroup a.test g\n}", "need 'catalog produce' or 'catalog consume'"},
		{"authzone catalog.invalid {\ncatalog produce\ncoo a.test\n}", "want 'coo ZONE CATALOG'"},
		{"authzone catalog.invalid {\nprimary 127.0.0.1:53\ncatalog consume\nmember transfer to * view x\n}", "a member zone has one view"},
		{"authzone catalog.invalid {\nprimary 127.0.0.1:53\ncatalog consume\nmember group g transfer to *\n}", ""},
		{"authzone catalog.invalid {\nprimary 127.0.0.1:53\ncatalog consume\nmember group g\n}", "want a PROPERTY after the group"},
		{"authzone catalog.invalid {\ncatalog produce\nmember group g transfer to *\n}", "'member' lines are for 'catalog consume'"},
	} {
		c := caddy.NewTestController("dns", tc.input)
		_, err := parse(c, tsigauth.ForBlock(c))
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%d: unexpected error %v", i, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%d: error %v, want %q", i, err, tc.wantErr)
		}
	}
	// The member template gets the lines after 'member'; the catalog keeps
	// its own.
	c := caddy.NewTestController("dns", "authzone catalog.invalid {\nkey k. hmac-sha256 c2VjcmV0c2VjcmV0c2VjcmV0\nprimary 127.0.0.1:53 key k.\ncatalog consume\nmember transfer to 127.0.0.0/8 key k.\n}")
	specs, err := parse(c, tsigauth.ForBlock(c))
	if err != nil {
		t.Fatal(err)
	}
	sp := specs[0]
	if len(sp.transfers) != 0 || sp.cat.member == nil || len(sp.cat.member.transfers) != 1 || sp.cat.member.transfers[0].keys[0] != "k." {
		t.Errorf("template not separated: catalog transfers %d, template %+v", len(sp.transfers), sp.cat.member)
	}
}
