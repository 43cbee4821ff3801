package acmechallenge

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/dnsaccount"
	"github.com/dnspki/dnspki/plugin/pkg/grants"
	"github.com/dnspki/dnspki/plugin/pkg/setuptest"
	"github.com/dnspki/dnspki/plugin/pkg/tsigkey"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
)

// The fuzz targets of the plugin's untrusted input: UPDATE messages (their
// checks alone, and the whole path through ServeDNS into a zone), the HTTP
// API's requests, the Corefile block, and the record ids the expiry reads
// back.

// fuzzExtra is what the fuzzed zone's Corefile adds to testCorefile: a
// persist grant, so that validation records are reachable too, and a
// subdomain grant for the HTTP user (names of any spelling below it).
const fuzzExtra = "grant host.intra.example.test. persist self\ngrant lego subdomain sub.example.test\nmax_records 20"

// fuzzZone opens the test zone for a fuzz target (one per fuzzing process),
// with fuzzExtra and more lines in the Corefile.
func fuzzZone(f *testing.F, more string) (*AcmeChallenge, *zone, *zonemodel.Zone) {
	a, z, m := openZone(f, strings.Replace(testCorefile, "%s", fuzzExtra+"\n"+more, 1), f.TempDir())
	f.Cleanup(func() {
		z.shutdown()
		m.Close()
	})
	return a, z, m
}

// zoneState is what a refused request must leave as it was.
type zoneState struct {
	serial uint32
	recs   map[string][]string // source → sorted record ids
}

func stateOf(z *zone, m *zonemodel.Zone) zoneState {
	st := zoneState{serial: m.View("").Snapshot().Serial, recs: map[string][]string{}}
	for _, s := range []*recSet{z.ch, z.persist} {
		var ids []string
		for _, rr := range s.src.Records("") {
			ids = append(ids, recID(rr))
		}
		slices.Sort(ids)
		st.recs[s.name] = ids
	}
	return st
}

func (st zoneState) equal(o zoneState) bool {
	if st.serial != o.serial || len(st.recs) != len(o.recs) {
		return false
	}
	for k, v := range st.recs {
		if !slices.Equal(v, o.recs[k]) {
			return false
		}
	}
	return true
}

// checkInvariants fails t if the zone breaks a rule that every accepted
// change keeps: the metadata mirrors the stored records, the per-name and
// per-identity limits hold, TTLs are capped, values are valid, the records
// are where a grant put them.
func checkInvariants(t *testing.T, a *AcmeChallenge, z *zone) {
	t.Helper()
	z.mu.Lock()
	defer z.mu.Unlock()
	byIdentity := map[string]int{}
	for _, s := range []*recSet{z.ch, z.persist} {
		ids := map[string]bool{}
		perOwner := map[string]int{}
		maxTTL, label := a.cfg.ttl, Label
		if s.kind == kindPersist {
			maxTTL, label = a.cfg.persistTTL, "_validation-persist"
		}
		for _, rr := range s.src.Records("") {
			id := recID(rr)
			ids[id] = true
			h := rr.Header()
			if h.Name != zonemodel.Fqdn(h.Name) || !strings.HasPrefix(h.Name, label+".") || h.Rrtype != dns.TypeTXT {
				t.Fatalf("%s record %s: owner or type outside every grant", s.kind, rr)
			}
			if h.Ttl > maxTTL {
				t.Fatalf("%s record %s: TTL over %d", s.kind, rr, maxTTL)
			}
			perOwner[h.Name]++
			rm, ok := s.recs[id]
			if !ok {
				t.Fatalf("%s record %s has no metadata (recs %v)", s.kind, id, s.recs)
			}
			byIdentity[rm.By]++
			var err error
			if !a.cfg.anyValue {
				err = digestValidator(rr)
			}
			if s.kind == kindPersist {
				err = validatePersist(rr, time.Time{}) // the syntax: persistUntil was checked when added
			}
			if err != nil {
				t.Fatalf("%s record %s is invalid: %v", s.kind, rr, err)
			}
			if g := a.policy.Find(rm.By, h.Name, dns.TypeTXT); g == nil {
				t.Fatalf("%s record %s added by %s, who has no grant there", s.kind, rr, rm.By)
			}
		}
		for id := range s.recs {
			if !ids[id] {
				t.Fatalf("%s metadata of %s without a record", s.kind, id)
			}
		}
		for owner, n := range perOwner {
			if n > a.cfg.maxValues {
				t.Fatalf("%s has %d values (max_values %d)", owner, n, a.cfg.maxValues)
			}
		}
	}
	for id, n := range byIdentity {
		if n > a.cfg.maxRecords {
			t.Fatalf("%s has %d records (max_records %d)", id, n, a.cfg.maxRecords)
		}
	}
}

// resetZone removes every record of the plugin's sources (each fuzz input
// starts from the same zone, so that a failure reproduces from its input
// alone).
func resetZone(t *testing.T, z *zone) {
	t.Helper()
	z.mu.Lock()
	defer z.mu.Unlock()
	for _, s := range []*recSet{z.ch, z.persist} {
		if len(s.recs) == 0 && len(s.src.Records("")) == 0 {
			continue
		}
		err := s.src.Update(nil, func(tx *zonemodel.Tx) error {
			tx.Clear()
			for _, k := range s.src.MetaKeys() {
				tx.DeleteMeta(k)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		s.recs = map[string]recMeta{}
	}
}

// fuzzKeys are the keys a fuzzed UPDATE is signed with (chosen by its ID).
var fuzzKeys = []key{wwwKey, md5Key, hostKey}

// serveSigned signs m with k as a client would, computes the TSIG status as
// the DNS server would, and serves it. It returns the reply (nil when the
// plugin passed the message on) and the request as the plugin saw it.
func serveSigned(a *AcmeChallenge, m *dns.Msg, k key) (*dns.Msg, *dns.Msg, error) {
	ring := tsigkey.NewRing()
	kk, err := tsigkey.New(k.name, tsigkey.AlgorithmName(k.alg), k.secret)
	if err != nil {
		return nil, nil, err
	}
	ring.Add(kk)
	m.SetTsig(k.name, k.alg, 300, time.Now().Unix())
	b, _, err := dns.TsigGenerateWithProvider(m, ring.Provider(), "", false)
	if err != nil {
		return nil, nil, nil // not signable (does not pack): no request
	}
	w := &writer{status: dns.TsigVerify(slices.Clone(b), a.ring.Secrets()[k.name], "", false)}
	in := new(dns.Msg)
	if err := in.Unpack(b); err != nil {
		return nil, nil, nil
	}
	if _, err := gateOf(a).ServeDNS(serverContext(a), w, in); err != nil {
		return nil, in, nil // passed on (no next plugin here)
	}
	return w.msg, in, nil
}

// FuzzUpdate sends arbitrary UPDATE messages, signed with the plugin's keys,
// through ServeDNS into a real zone: every reply has an RCODE RFC 2136
// allows and echoes the request; a refused UPDATE changes nothing (serial,
// records); after an accepted one the zone keeps every invariant.
func FuzzUpdate(f *testing.F) {
	for _, m := range updateSeeds() {
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	a, z, model := fuzzZone(f, "values any")
	f.Fuzz(func(t *testing.T, b []byte) {
		resetZone(t, z)
		m := new(dns.Msg)
		if m.Unpack(b) != nil {
			return
		}
		m.Extra = slices.DeleteFunc(m.Extra, func(rr dns.RR) bool { return rr.Header().Rrtype == dns.TypeTSIG })
		before := stateOf(z, model)
		k := fuzzKeys[int(m.Id)%len(fuzzKeys)]
		r, in, err := serveSigned(a, m, k)
		if err != nil {
			t.Fatal(err)
		}
		if in == nil {
			return
		}
		if r == nil {
			if in.Opcode == dns.OpcodeUpdate && len(in.Question) == 1 {
				if _, ours := a.zoneOf(zonemodel.Fqdn(in.Question[0].Name)); ours {
					t.Fatalf("UPDATE for our zone passed on: %v", in)
				}
			}
			if !before.equal(stateOf(z, model)) {
				t.Fatal("a message passed on changed the zone")
			}
			return
		}
		if in.Opcode != dns.OpcodeUpdate || len(in.Question) != 1 {
			// Not an UPDATE the plugin takes: only the server block's
			// TSIG gate answers it (a malformed message: FORMERR; a
			// TSIG it cannot accept, e.g. in a request whose header
			// carries rcode NOTAUTH, which miekg/dns cannot verify:
			// NOTAUTH).
			if (r.Rcode != dns.RcodeFormatError && r.Rcode != dns.RcodeNotAuth) || !before.equal(stateOf(z, model)) {
				t.Fatalf("not an UPDATE, answered %v", r)
			}
			return
		}
		if r.Id != in.Id || r.Opcode != dns.OpcodeUpdate || !r.Response {
			t.Fatalf("reply does not match the request: %v", r)
		}
		switch r.Rcode {
		case dns.RcodeSuccess, dns.RcodeFormatError, dns.RcodeServerFailure, dns.RcodeNameError, dns.RcodeRefused,
			dns.RcodeYXDomain, dns.RcodeYXRrset, dns.RcodeNXRrset, dns.RcodeNotAuth, dns.RcodeNotZone:
		default:
			t.Fatalf("rcode %s", dns.RcodeToString[r.Rcode])
		}
		after := stateOf(z, model)
		if r.Rcode != dns.RcodeSuccess {
			if !before.equal(after) {
				t.Fatalf("refused (%s) UPDATE changed the zone: %v -> %v", dns.RcodeToString[r.Rcode], before, after)
			}
			return
		}
		if slices.Equal(before.recs[sourceName], after.recs[sourceName]) && slices.Equal(before.recs[persistSourceName], after.recs[persistSourceName]) {
			if after.serial != before.serial {
				t.Fatalf("serial moved from %d to %d without a change", before.serial, after.serial)
			}
		} else if after.serial == before.serial {
			t.Fatal("records changed, serial did not")
		}
		checkInvariants(t, a, z)
		// Expiry finds every challenge again (by its stored id).
		z.expire(time.Now().Add(a.cfg.expire + time.Hour))
		if n := len(z.ch.src.Records("")); n != 0 || z.count() != 0 {
			t.Fatalf("%d challenge records (%d known) left after expiry", n, z.count())
		}
	})
}

// updateSeeds are UPDATEs of every kind the plugin takes.
func updateSeeds() []*dns.Msg {
	const www = "_acme-challenge.www.example.test."
	withID := func(id uint16, m *dns.Msg) *dns.Msg { m.Id = id; return m }
	var out []*dns.Msg
	out = append(out, withID(0, update(txtRR(www, v1))))
	out = append(out, withID(0, update(txtRR(www, v1), txtRR(www, v2), txtRR("_acme-challenge.x.intra.example.test.", v3))))
	m := update()
	m.RemoveRRset([]dns.RR{txtRR(www, v1)})
	out = append(out, withID(0, m))
	m = update()
	m.Remove([]dns.RR{txtRR(www, v1)})
	out = append(out, withID(0, m))
	m = update()
	m.RemoveName([]dns.RR{txtRR(www, v1)})
	out = append(out, withID(0, m))
	m = update(txtRR(www, v2))
	m.NameUsed([]dns.RR{rr("www.example.test. 0 IN A 192.0.2.10")})
	m.NameNotUsed([]dns.RR{rr("nothere.example.test. 0 IN A 192.0.2.10")})
	m.RRsetUsed([]dns.RR{rr("www.example.test. 0 IN A 192.0.2.10")})
	m.RRsetNotUsed([]dns.RR{rr("www.example.test. 0 IN AAAA ::1")})
	m.Used([]dns.RR{rr("www.example.test. 0 IN A 192.0.2.10")})
	out = append(out, withID(0, m))
	out = append(out, withID(1, update(txtRR("_acme-challenge.mail.example.test.", v1))))
	out = append(out, withID(2, update(txtRR("_acme-challenge.host.intra.example.test.", v1))))
	persistRR := &dns.TXT{Hdr: dns.RR_Header{Name: "_validation-persist.host.intra.example.test.", Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 300},
		Txt: []string{"letsencrypt.org; accounturi=https://acme.example/acct/1"}}
	out = append(out, withID(2, update(persistRR)))
	out = append(out, withID(2, update(persistRR, txtRR("_acme-challenge.host.intra.example.test.", v1))))
	out = append(out, withID(0, update(txtRR("_acme-challenge.cn.intra.example.test.", v1))))
	out = append(out, withID(0, update(txtRR("_acme-challenge.x.deleg.intra.example.test.", v1))))
	out = append(out, withID(0, update(rr("www.example.test. 60 IN A 192.0.2.1"))))
	odd := &dns.TXT{Hdr: dns.RR_Header{Name: "_acme-challenge.x.intra.example.test.", Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: []string{`a\"b`, `\\`, `\000;(`}}
	out = append(out, withID(0, update(odd)))
	m = update(txtRR(www, v1))
	m.Question[0].Name = "example.org."
	out = append(out, withID(0, m))
	return out
}

// FuzzUpdateChecks runs the RFC 2136 checks alone on arbitrary sections:
// prescan and the prerequisite form refuse with FORMERR or NOTZONE only;
// what they accept is in the zone, canonical and of the right class; the
// prerequisites are decided the same way in any order.
func FuzzUpdateChecks(f *testing.F) {
	for _, m := range updateSeeds() {
		b, _ := m.Pack()
		f.Add(b)
	}
	_, _, model := fuzzZone(f, "")
	snap := model.View("").Snapshot()
	f.Fuzz(func(t *testing.T, b []byte) {
		m := new(dns.Msg)
		if m.Unpack(b) != nil {
			return
		}
		ops, rf := prescan(origin, m.Ns)
		if rf != nil {
			if rf.Rcode != dns.RcodeFormatError && rf.Rcode != dns.RcodeNotZone {
				t.Fatalf("prescan: rcode %s", dns.RcodeToString[rf.Rcode])
			}
		} else {
			if len(ops) != len(m.Ns) {
				t.Fatalf("prescan: %d ops of %d records", len(ops), len(m.Ns))
			}
			for i, o := range ops {
				if o.Name != zonemodel.Fqdn(o.Name) || !zonemodel.InZone(o.Name, origin) {
					t.Fatalf("prescan: op %v: name not canonical or outside the zone", o.Change)
				}
				h := m.Ns[i].Header()
				switch o.Op {
				case grants.Add:
					if h.Class != dns.ClassINET || isMeta(h.Rrtype) || o.RR == nil {
						t.Fatalf("prescan: add of %v", m.Ns[i])
					}
				case grants.Delete:
					if h.Class != dns.ClassNONE || o.RR == nil {
						t.Fatalf("prescan: delete of %v", m.Ns[i])
					}
				case grants.DeleteRRset, grants.DeleteName:
					if h.Class != dns.ClassANY {
						t.Fatalf("prescan: %s of %v", o.Op, m.Ns[i])
					}
				}
			}
		}
		if rf := checkPrereqFormat(origin, m.Answer); rf != nil {
			if rf.Rcode != dns.RcodeFormatError && rf.Rcode != dns.RcodeNotZone {
				t.Fatalf("checkPrereqFormat: rcode %s", dns.RcodeToString[rf.Rcode])
			}
			return
		}
		rf = checkPrereqs(snap, m.Answer)
		if rf != nil {
			switch rf.Rcode {
			case dns.RcodeNameError, dns.RcodeYXDomain, dns.RcodeNXRrset, dns.RcodeYXRrset:
			default:
				t.Fatalf("checkPrereqs: rcode %s", dns.RcodeToString[rf.Rcode])
			}
		}
		rev := slices.Clone(m.Answer)
		slices.Reverse(rev)
		if rf2 := checkPrereqs(snap, rev); (rf == nil) != (rf2 == nil) {
			t.Fatalf("prerequisites decided differently in reverse order: %v vs %v", rf, rf2)
		}
		if rf == nil {
			for _, p := range m.Answer {
				h := p.Header()
				n := snap.Node(zonemodel.Fqdn(h.Name))
				if h.Class == dns.ClassANY && h.Rrtype == dns.TypeANY && (n == nil || n.Empty()) {
					t.Fatalf("prerequisite 'name in use' held for %s, which is empty", h.Name)
				}
				if h.Class == dns.ClassANY && h.Rrtype != dns.TypeANY && snap.Get(zonemodel.Fqdn(h.Name), h.Rrtype) == nil {
					t.Fatalf("prerequisite 'RRset exists' held for %s/%s, which does not", h.Name, dns.TypeToString[h.Rrtype])
				}
			}
		}
	})
}

// FuzzHTTP drives the HTTP API (lego present and cleanup, acme-dns update)
// with arbitrary bodies and credentials: the status is one the API
// documents; a request that is not 200 changes nothing; a 200 leaves the
// value served (present) or gone (cleanup) at the canonical owner it
// answered, and the zone keeps every invariant.
func FuzzHTTP(f *testing.F) {
	for _, body := range []string{
		`{"fqdn":"` + apiCh + `","value":"` + v1 + `"}`,
		`{"fqdn":"_ACME-challenge.API.example.test","value":"` + v2 + `"}`,
		`{"domain":"api.example.test","token":"t","keyAuth":"t.thumb"}`,
		`{"domain":"*.api.example.test","token":"t","keyAuth":"t.thumb"}`,
		`{"subdomain":"api.example.test","txt":"` + v1 + `"}`,
		`{"subdomain":"_acme-challenge.api.example.test","txt":"` + v3 + `"}`,
		`{"fqdn":"_acme-challenge.\\097pi.example.test","value":"` + v1 + `"}`,
		`{"fqdn":"_acme-challenge.\\104ost.sub.example.test","value":"` + v1 + `"}`,
		`{"subdomain":"X.SUB.example.test","txt":"` + v2 + `"}`,
		`{"fqdn":"_acme-challenge.api.example.test ","value":"` + v1 + `"}`,
		`{"fqdn":"_acme-challenge.bücher.example.test","value":"` + v1 + `"}`,
		`{"fqdn":"_ujmmovf2vn55tgye._acme-challenge.api.example.test.","value":"` + v1 + `"}`,
		`{"subdomain":"_ujmmovf2vn55tgye._acme-challenge.api.example.test","txt":"` + v2 + `"}`,
		`{}`, `nope`,
	} {
		for ep := uint8(0); ep < 3; ep++ {
			f.Add(ep, true, "", "", body)
		}
	}
	f.Add(uint8(0), false, "lego", "wrong-pass", `{"fqdn":"`+apiCh+`","value":"`+v1+`"}`)
	f.Add(uint8(2), false, "who", "lego-pass", `{"subdomain":"api.example.test","txt":"`+v1+`"}`)
	a, z, model := fuzzZone(f, "")
	api := a.api
	f.Fuzz(func(t *testing.T, ep uint8, good bool, user, pass, body string) {
		resetZone(t, z)
		api.throttle = newAuthThrottle(time.Now)
		if good {
			user, pass = "lego", "lego-pass"
		}
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		var h http.HandlerFunc
		switch ep % 3 {
		case 0:
			h = api.lego(true)
		case 1:
			h = api.lego(false)
		default:
			h = api.acmeDNS
		}
		if ep%3 == 2 {
			req.Header.Set("X-Api-User", user)
			req.Header.Set("X-Api-Key", pass)
		} else {
			req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
		}
		before := stateOf(z, model)
		w := httptest.NewRecorder()
		h(w, req)
		after := stateOf(z, model)
		allowed := []int{200, 400, 401, 403, 429, 503}
		if !slices.Contains(allowed, w.Code) {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		if w.Code != 200 {
			if !before.equal(after) {
				t.Fatalf("status %d changed the zone", w.Code)
			}
			return
		}
		if user != "lego" || pass != "lego-pass" {
			t.Fatalf("200 for user %q password %q", user, pass)
		}
		var resp map[string]string
		if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
			t.Fatalf("200 with a body that is not JSON: %q", w.Body)
		}
		var owner, value string
		if ep%3 == 2 {
			value = resp["txt"]
			var in acmeDNSMessage
			json.Unmarshal([]byte(body), &in)
			owner = in.Subdomain
			if !strings.HasPrefix(strings.ToLower(owner), Label+".") {
				owner = Label + "." + owner
			}
			c, err := canonicalName(owner)
			if err != nil {
				t.Fatalf("acme-dns accepted subdomain %q: %v", in.Subdomain, err)
			}
			owner = c
		} else {
			owner, value = resp["fqdn"], resp["value"]
		}
		if !hostNameForm(owner) {
			t.Fatalf("answered owner %q is not a canonical host name", owner)
		}
		served := fuzzTXT(model, owner)
		if present := ep%3 != 1; present != slices.Contains(served, value) {
			t.Fatalf("after %d %s: %q served at %s: %v", w.Code, []string{"present", "cleanup", "update"}[ep%3], value, owner, served)
		}
		checkInvariants(t, a, z)
	})
}

// hostNameForm reports whether name is in the one form the HTTP API keeps
// names in: lower-case letters, digits, hyphens and underscores in non-empty
// labels, with the trailing dot.
func hostNameForm(name string) bool {
	if !strings.HasSuffix(name, ".") || name == "." {
		return false
	}
	for _, l := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		if l == "" || len(l) > 63 {
			return false
		}
		for i := 0; i < len(l); i++ {
			if c := l[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// fuzzTXT returns the served TXT values at name.
func fuzzTXT(m *zonemodel.Zone, name string) []string {
	set := m.View("").Snapshot().Get(name, dns.TypeTXT)
	if set == nil {
		return nil
	}
	var out []string
	for _, rr := range set.RRs {
		out = append(out, strings.Join(rr.(*dns.TXT).Txt, ""))
	}
	return out
}

// FuzzRecID checks the records the HTTP API makes from a value: on the wire
// they carry exactly the value's bytes, they are the record the store gives
// back, and their id (the metadata key) reads back as the same record: expiry
// deletes a record by parsing its id, so a value whose id did not parse back
// would never expire.
func FuzzRecID(f *testing.F) {
	for _, v := range []string{v1, "hello world", `a"b`, `a\b`, "a;b", "\x00\xff", "(", ")", "$ORIGIN", "@", `\065`} {
		f.Add("_acme-challenge.www.example.test.", v)
	}
	f.Add("_validation-persist.h.example.test.", "ca.example; accounturi=https://ca.example/acct/1")
	f.Fuzz(func(t *testing.T, owner, value string) {
		o, err := canonicalName(owner)
		if err != nil || len(value) > 255 {
			return
		}
		rr := challengeTXT(o, value, 60)
		buf := make([]byte, 2048)
		n, err := dns.PackRR(rr, buf, 0, nil, false)
		if err != nil {
			t.Fatalf("%v does not pack: %v", rr, err)
		}
		wire, _, err := dns.UnpackRR(buf[:n], 0)
		if err != nil {
			t.Fatal(err)
		}
		rdata := buf[n-int(wire.Header().Rdlength) : n]
		if len(rdata) == 0 || int(rdata[0]) != len(rdata)-1 || string(rdata[1:]) != value {
			t.Fatalf("value %q is %q on the wire", value, rdata)
		}
		if !dns.IsDuplicate(wire, rr) {
			t.Fatalf("%v reads back from the wire as another record: %v", rr, wire)
		}
		id := recID(rr)
		back, err := dns.NewRR(id)
		if err != nil || back == nil {
			t.Fatalf("id %q does not parse: %v", id, err)
		}
		if !dns.IsDuplicate(back, rr) {
			t.Fatalf("id %q reads back as %v, not %v", id, back, rr)
		}
		if recID(back) != id || recID(wire) != id {
			t.Fatalf("ids differ: %q, read back %q, from the wire %q", id, recID(back), recID(wire))
		}
	})
}

// FuzzSetup parses arbitrary acmechallenge blocks: an error names the
// Corefile's file and line; a configuration that parses is usable (zones,
// grants inside them, an HTTP API only with users and never plain HTTP
// outside loopback).
func FuzzSetup(f *testing.F) {
	setuptest.AddREADME(f, pluginName, "README.md", "../../corefile-examples/acme-dns01.Corefile", "../../corefile-examples/dns-persist.Corefile")
	f.Add(strings.Replace(testCorefile, "%s", fuzzExtra, 1))
	f.Add("acmechallenge example.test {\nuser u long-enough\ngrant u name www.example.test\nhttp 0.0.0.0:80\n}")
	f.Add("acmechallenge example.test {\nkey k. hmac-sha256 " + wwwSecret + "\ngrant k. name www.example.test account any\ngrant k. self account _ujmmovf2vn55tgye https://ca.example/acct/1\n}")
	f.Fuzz(func(t *testing.T, input string) {
		if !setuptest.Directive(pluginName, input) {
			return
		}
		if strings.Contains(input, "keyfile") || strings.Contains(input, "key-file") {
			return // reads files named by the input
		}
		a, err := parse(newController(input))
		if err != nil {
			setuptest.CheckError(t, input, err)
			return
		}
		if len(a.origins) == 0 || len(a.policy.Identities()) == 0 {
			t.Fatalf("parsed without zones or grants: %v %v", a.origins, a.policy.Identities())
		}
		for _, o := range a.origins {
			if _, ok := dns.IsDomainName(o); !ok || o != zonemodel.Fqdn(o) {
				t.Fatalf("zone %q is not a canonical domain name", o)
			}
		}
		for _, id := range a.policy.Identities() {
			for _, g := range a.policy.Grants(id) {
				d := g.Domain
				if g.Match == grants.Self {
					d = g.Identity
				}
				if a.enclosing(zonemodel.Fqdn(d)) == nil {
					t.Fatalf("grant %v outside the zones %v", g, a.origins)
				}
				if g.Accounts != nil {
					if g.Label != Label {
						t.Fatalf("account labels on a grant of %s", g.Label)
					}
					for _, l := range g.Accounts.Labels {
						if !dnsaccount.IsLabel(l) {
							t.Fatalf("grant %v: %q is not an account label", g, l)
						}
					}
				}
			}
		}
		if a.api != nil {
			if len(a.users) == 0 {
				t.Fatal("HTTP API without users")
			}
			if err := checkPlainHTTP(a.cfg.http); err != nil {
				t.Fatalf("accepted: %v", err)
			}
		}
		for u, p := range a.users {
			if len(p) < 8 {
				t.Fatalf("user %s with a password of %d characters", u, len(p))
			}
		}
		if a.cfg.maxSize < 512 || a.cfg.maxValues < 1 || a.cfg.maxRecords < 1 || a.cfg.ttl < 1 {
			t.Fatalf("limits out of range: %+v", a.cfg)
		}
	})
}
