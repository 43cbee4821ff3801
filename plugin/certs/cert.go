package certs

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/acme/api"
	"github.com/go-acme/lego/v5/certcrypto"
	"github.com/go-acme/lego/v5/certificate"
	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/persist"
	"github.com/dnspki/dnspki/plugin/pkg/zonemodel"
	"github.com/dnspki/dnspki/plugin/tlsa"
)

// stageLabel is the label of the next key in the tlsa manager.
const stageLabel = "certs-next"

// extraRecord is a validation record lego asked for beyond the configured
// ones (kept until the next restart).
type extraRecord struct {
	name string
	rec  *persist.Record
}

// cert is one configured certificate at run time. Its fields are used by
// the manager's worker only, except those under mu (read by the ready
// plugin, the metrics and lego's providers).
type cert struct {
	m         *manager
	cfg       *certConfig
	statePath string
	tm        *tlsa.Manager // nil without TLSA records
	tlsaZone  string

	mu           sync.Mutex
	cur          *issued
	extraPersist []extraRecord
	status       Status // the last step's view, for the status endpoint

	// Set from outside the worker: wakeAt (run now), forceARI (ask ARI now,
	// whatever the stored next check: `dnspki certs check`), ariAsked
	// (counts the steps that handled forceARI).
	wakeAt   atomic.Int32
	forceARI atomic.Bool
	ariAsked atomic.Int64

	st         *certState
	next       crypto.Signer
	pending    *issued // obtained, not written yet
	pendingKey string  // which key it is for ("next", "current", "new")
	held       *issued // obtained, waiting until its TLSA records are ready
	heldKey    string
	forceDone  bool // this step answered an ARI check asked for from outside
	staged     bool // next key staged in the tlsa manager by this run
	unstaged   bool
	currentSet bool // current certificate given to the tlsa manager by this run
	nextPoll   time.Time
	ariOff     bool // the CA has no ARI
	ariErr     string
	ariFails   int       // ARI questions failed in a row (backoff)
	lastWait   time.Time // when a "waiting" message was last logged
	told       bool      // "nothing to order" was logged by this run
	deployMu   sync.Mutex
	seen       int64 // the state file's save count this run last read or wrote
}

// certLocks keeps two configurations (during a reload) from working on one
// certificate at once; saves counts the saves of each state file, so a
// configuration notices that another one changed the certificate and reads
// it again.
var (
	certLocks sync.Map // state path -> *sync.Mutex
	saves     sync.Map // state path -> *atomic.Int64
)

func certLock(path string) *sync.Mutex {
	v, _ := certLocks.LoadOrStore(path, &sync.Mutex{})
	return v.(*sync.Mutex)
}

func saveCount(path string) *atomic.Int64 {
	v, _ := saves.LoadOrStore(path, &atomic.Int64{})
	return v.(*atomic.Int64)
}

func newCert(m *manager, cc *certConfig) (*cert, error) {
	c := &cert{m: m, cfg: cc, statePath: filepath.Join(m.b.stateDir, "certs", cc.id+".json")}
	c.load()
	return c, nil
}

func keyTypeOf(k crypto.Signer) certcrypto.KeyType {
	if k == nil {
		return ""
	}
	kt, _ := certcrypto.GetPrivateKeyType(k)
	return kt
}

// fingerprint digests what an order depends on in the configuration.
func (c *cert) fingerprint() string {
	b := c.m.b
	h := sha256.Sum256([]byte(strings.Join([]string{b.directory, b.caRoot, b.contact, b.accountKey, b.eabKID, b.eabHMAC,
		strings.Join(b.checks, " "), strings.Join(c.cfg.names, " "), c.cfg.method, string(c.cfg.keyType), c.cfg.profile,
		strings.Join(c.cfg.issuers, " "), b.persistForm}, "\x00")))
	return hex.EncodeToString(h[:8])
}

// load reads the stored state and the certificate in use.
func (c *cert) load() {
	cc := c.cfg
	c.seen = saveCount(c.statePath).Load()
	st, err := loadCertState(c.statePath)
	if err != nil {
		log.Warningf("cert %s: %v; starting without the stored state", cc.id, err)
	}
	if fp := c.fingerprint(); st.Config != fp {
		if !st.RetryAt.IsZero() {
			log.Infof("cert %s: the configuration changed since the last failure: trying again now", cc.id)
		}
		st.Config, st.RetryAt, st.Failures = fp, time.Time{}, 0
	}
	c.st = st
	c.next = nil
	if k, err := st.nextKey(); err != nil {
		log.Warningf("cert %s: stored next key unreadable (%v); a new one will be made", cc.id, err)
		st.NextKey = ""
	} else if kt := keyTypeOf(k); k != nil && kt != cc.keyType {
		log.Infof("cert %s: the stored next key is %s, the configuration wants %s: a new one will be made", cc.id, kt, cc.keyType)
		st.NextKey = ""
	} else {
		c.next = k
	}
	if is, err := readIssued(cc.out); err == nil {
		c.mu.Lock()
		c.cur = is
		c.mu.Unlock()
		observeExpiry(c)
	} else if !errors.Is(err, os.ErrNotExist) {
		log.Warningf("cert %s: the certificate in %s is not usable (%v); a new one will be ordered", cc.id, cc.out, err)
	}
	if !st.Pending.IsZero() {
		if l := certLock(c.statePath); l.TryLock() {
			l.Unlock()
			log.Infof("cert %s: an order started %s was interrupted; it is placed again", cc.id, st.Pending.Format(time.RFC3339))
		} // else the configuration before a reload is still at it
		st.Pending = time.Time{}
	}
	c.staged, c.currentSet, c.unstaged, c.nextPoll = false, false, false, time.Time{}
	c.held, c.heldKey = nil, ""
	c.loadHeld()
}

func (c *cert) current() *issued {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur
}

// logWait logs why the certificate waits: at once, then at most once a
// minute while it keeps waiting.
func (c *cert) logWait(msg string) {
	if now := time.Now(); now.Sub(c.lastWait) >= time.Minute {
		c.lastWait = now
		log.Infof("cert %s: %s", c.cfg.id, msg)
	}
}

// valid reports whether a certificate valid now exists.
func (c *cert) valid(now time.Time) bool {
	cur := c.current()
	return cur != nil && now.Before(cur.leaf().NotAfter) && !now.Before(cur.leaf().NotBefore)
}

func (c *cert) save() {
	if err := c.saveErr(); err != nil {
		log.Errorf("cert %s: saving the state: %v", c.cfg.id, err)
	}
}

func (c *cert) saveErr() error {
	c.seen = saveCount(c.statePath).Add(1)
	return c.st.save(c.statePath)
}

func life(is *issued) time.Duration {
	return is.leaf().NotAfter.Sub(is.leaf().NotBefore)
}

// step does what is due for the certificate and returns when to come back.
func (c *cert) step(ctx context.Context, now time.Time) time.Time {
	lock := certLock(c.statePath)
	if !lock.TryLock() {
		return now.Add(time.Second) // the other configuration (a reload) has it
	}
	defer lock.Unlock()
	if saveCount(c.statePath).Load() != c.seen {
		// Another configuration (before a reload) changed it.
		c.load()
	}
	force := c.forceARI.Swap(false)
	c.forceDone = false
	at, action := c.stepLocked(ctx, now, force)
	c.publishStatus(time.Now(), at, action, force && !c.forceDone)
	return at
}

// stepLocked does the step (the certificate's lock held); action says what
// the certificate waits for until at.
func (c *cert) stepLocked(ctx context.Context, now time.Time, force bool) (time.Time, string) {
	if c.pending != nil {
		if now.Before(c.st.RetryAt) {
			return c.st.RetryAt, "write the obtained certificate's files again"
		}
		if !c.stillGood(ctx, c.pending) {
			c.pending = nil
			return time.Now(), "order again"
		}
		if err := c.install(c.pending, c.pendingKey); err != nil {
			return c.failed(time.Now(), "writing the files", err), "write the obtained certificate's files again"
		}
		return time.Now(), "installed"
	}
	if c.held != nil {
		return c.stepHeld(ctx, now, force)
	}
	why := c.needsOrder(now)
	if why == "" {
		wake := c.maintain(ctx, now, force)
		if now.Before(c.st.RenewAt) {
			nextRenewal.WithLabelValues(c.cfg.id).Set(float64(c.st.RenewAt.Unix()))
			c.tellUpToDate()
			return earliest(wake, c.st.RenewAt), "renew at " + c.st.RenewAt.UTC().Format(time.RFC3339) + " (" + c.st.RenewWhy + ")"
		}
		why = "renewal due (" + c.st.RenewWhy + ")"
		if c.urgent(now) {
			why = "renewal due (ari: the CA asks to replace it now)"
		}
	}
	if now.Before(c.st.RetryAt) {
		return c.st.RetryAt, "retry the order (" + why + "; last attempt: " + c.st.LastResult + ")"
	}
	if ok, at := c.m.gate.enter(now); !ok {
		until, reason := c.m.gate.pausedUntil()
		if until.IsZero() {
			until = at
		}
		return at, "order when the CA answers again (" + why + "; paused until " + until.UTC().Format(time.RFC3339) + " after: " + reason + ")"
	}
	key, label, wake := c.orderKey(ctx, now)
	if key == nil {
		c.m.gate.skip()
		return wake, "order when the next key's TLSA records are ready (" + why + ")"
	}
	at, err := c.order(ctx, key, label, why)
	c.m.gate.leave(time.Now(), err)
	switch {
	case c.held != nil:
		return at, "install the obtained certificate once its TLSA records are ready"
	case err != nil:
		return at, "retry the order (" + c.st.LastResult + ")"
	}
	return at, "installed"
}

// urgent reports that the CA asks (ARI) to replace the certificate now: its
// suggested window is already over (a revocation, a CA incident).
func (c *cert) urgent(now time.Time) bool {
	return c.st.RenewWhy == "ari" && !c.st.WindowEnd.IsZero() && !c.st.WindowEnd.After(now)
}

// tellUpToDate logs, once per run (start or reload), that the certificate
// needs no order until its renewal time.
func (c *cert) tellUpToDate() {
	if c.told {
		return
	}
	c.told = true
	log.Infof("cert %s: up to date, nothing to order until the renewal at %s", c.cfg.id, c.st.RenewAt.UTC().Format(time.RFC3339))
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// needsOrder says why a certificate must be ordered now regardless of the
// schedule ("" when it need not).
func (c *cert) needsOrder(now time.Time) string {
	cur := c.current()
	switch {
	case cur == nil:
		return "no certificate yet"
	case !now.Before(cur.leaf().NotAfter):
		return "the certificate expired"
	}
	have := map[string]bool{}
	for _, n := range cur.leaf().DNSNames {
		have[strings.ToLower(n)] = true
	}
	for _, n := range c.cfg.names {
		if !have[n] {
			return "the configured names changed (" + n + " is not in the certificate)"
		}
	}
	if len(have) != len(c.cfg.names) {
		return "the configured names changed"
	}
	return ""
}

// maintain keeps the next key made and published, the TLSA current, the
// secondaries' view of the next key checked and the renewal scheduled. It
// returns when it wants to run again.
func (c *cert) maintain(ctx context.Context, now time.Time, force bool) time.Time {
	wake := now.Add(time.Hour)
	cur := c.current()
	if c.tm != nil && !c.currentSet {
		mat, _ := tlsa.ChainMaterial(cur.chain)
		if err := c.tm.SetCurrent(c.cfg.id, mat); err != nil {
			log.Warningf("cert %s: publishing the TLSA records: %v", c.cfg.id, err)
			wake = now.Add(time.Second)
		} else {
			c.currentSet = true
		}
	}
	if c.cfg.reuseKey {
		if c.tm != nil && !c.unstaged {
			if err := c.tm.Unstage(c.cfg.id, stageLabel); err == nil {
				c.unstaged = true
			}
		}
	} else {
		if c.next == nil && !c.makeNextKey(now) {
			return now.Add(c.m.b.backoffMin)
		}
		if c.tm != nil {
			wake = earliest(wake, c.publishNextKey(ctx, now))
		}
	}
	return earliest(wake, c.keepScheduled(ctx, now, cur, force))
}

// makeNextKey makes and stores the next key (false: it could not; logged).
func (c *cert) makeNextKey(now time.Time) bool {
	k, err := certcrypto.GeneratePrivateKey(c.cfg.keyType)
	if err != nil {
		log.Errorf("cert %s: making the next key: %v", c.cfg.id, err)
		return false
	}
	c.st.NextKey, c.st.NextSince, c.st.Seen = string(keyPEM(k)), now.UTC(), nil
	if err := c.saveErr(); err != nil {
		// Never publish a key that is not stored: a restart would
		// lose it and the digest would be a lie.
		c.st.NextKey = ""
		log.Errorf("cert %s: storing the next key: %v", c.cfg.id, err)
		return false
	}
	c.next, c.staged = k, false
	log.Infof("cert %s: next key made (%s)", c.cfg.id, keyRecord(k.Public()))
	return true
}

// publishNextKey stages the next key's TLSA records and, once they are,
// asks the secondaries whether they serve them; it returns when to come
// back (zero: no sooner than usual).
func (c *cert) publishNextKey(ctx context.Context, now time.Time) time.Time {
	var wake time.Time
	if !c.staged {
		mat, _ := tlsa.KeyMaterial(c.next.Public())
		if err := c.tm.Stage(c.cfg.id, stageLabel, mat); err != nil {
			log.Warningf("cert %s: publishing the next key's TLSA: %v", c.cfg.id, err)
			wake = now.Add(time.Second)
		} else {
			c.staged = true
		}
	}
	if c.staged && !now.Before(c.nextPoll) {
		ok, wait, _ := c.pollSeen(ctx, now)
		if !ok {
			if wait <= 0 || wait > c.pollEvery() {
				wait = c.pollEvery()
			}
			c.nextPoll = now.Add(wait)
			wake = earliest(wake, c.nextPoll)
		} else {
			c.nextPoll = now.Add(time.Hour)
		}
	}
	return wake
}

// keepScheduled schedules the renewal of a new certificate, when none is
// scheduled, when the ARI check is due, or when forced (and then answers
// the check); it returns when the next ARI check is due (zero: none).
func (c *cert) keepScheduled(ctx context.Context, now time.Time, cur *issued, force bool) time.Time {
	if c.st.Serial != serialOf(cur) {
		c.st.Serial, c.st.RenewAt, c.st.WindowStart, c.st.WindowEnd, c.st.ARICheck = serialOf(cur), time.Time{}, time.Time{}, time.Time{}, time.Time{}
	}
	if force {
		c.ariOff = false // asked to ask: a CA may have added ARI since
	}
	if force || c.st.RenewAt.IsZero() || (!c.ariOff && !c.st.ARICheck.IsZero() && !now.Before(c.st.ARICheck)) {
		c.schedule(ctx, now)
	}
	if force {
		// Answer the check now, before a renewal it may start.
		next := "renew at " + c.st.RenewAt.UTC().Format(time.RFC3339) + " (" + c.st.RenewWhy + ")"
		if !now.Before(c.st.RenewAt) {
			next = "order now (renewal due: " + c.st.RenewWhy + ")"
		}
		c.publishStatus(time.Now(), now, next, true)
		c.forceDone = true
	}
	if !c.ariOff && !c.st.ARICheck.IsZero() {
		return c.st.ARICheck
	}
	return time.Time{}
}

// pollEvery is how often the secondaries are asked for the next key's TLSA.
func (c *cert) pollEvery() time.Duration {
	d := c.cfg.holddown / 4
	if d < time.Second {
		d = time.Second
	}
	if d > 30*time.Second {
		d = 30 * time.Second
	}
	return d
}

func serialOf(is *issued) string {
	if is == nil {
		return ""
	}
	return is.leaf().SerialNumber.Text(16)
}

// schedule chooses the renewal time: in the CA's ARI window (RFC 9773) when
// it has one, else at two thirds of the lifetime, with jitter; never later
// than when a sixth of the lifetime remains.
func (c *cert) schedule(ctx context.Context, now time.Time) {
	cur := c.current()
	var info *acme.ExtendedRenewalInfo
	err := api.ErrNoARI
	if !c.ariOff {
		info, err = c.askARI(ctx, cur.leaf())
	}
	switch {
	case errors.Is(err, api.ErrNoARI):
		if !c.ariOff {
			log.Infof("cert %s: the CA has no renewal information (ARI); renewing at two thirds of the lifetime", c.cfg.id)
		}
		c.ariOff = true
		if c.st.RenewWhy != "lifetime" || c.st.RenewAt.IsZero() {
			c.st.RenewAt, c.st.RenewWhy = lifetimeRenewal(cur), "lifetime"
		}
	case err != nil:
		c.ariFailed(err, now, cur)
	default:
		c.ariWindow(info, now, cur)
	}
	if c.st.RenewWhy == "lifetime" {
		log.Infof("cert %s: renewal at %s (two thirds of the lifetime)", c.cfg.id, c.st.RenewAt.UTC().Format(time.RFC3339))
	}
	nextRenewal.WithLabelValues(c.cfg.id).Set(float64(c.st.RenewAt.Unix()))
	c.save()
}

// lifetimeRenewal is the renewal time without ARI: two thirds of the
// lifetime, minus up to a fifteenth of it (jitter).
func lifetimeRenewal(cur *issued) time.Time {
	L := life(cur)
	return cur.leaf().NotBefore.Add(2 * L / 3).Add(-time.Duration(rand.Int64N(int64(L/15) + 1)))
}

// askARI asks the CA's renewal information of leaf.
func (c *cert) askARI(ctx context.Context, leaf *x509.Certificate) (*acme.ExtendedRenewalInfo, error) {
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	core, err := c.m.client(actx)
	if err != nil {
		return nil, err
	}
	var info *acme.ExtendedRenewalInfo
	id, err := api.MakeARICertID(leaf)
	if err == nil {
		info, err = core.Certificates.GetRenewalInfo(actx, id)
	}
	// lego (v5.6) also answers ErrNoARI for a window whose end is
	// not after its start (RFC 9773 §4.2: treat it as no answer):
	// a CA whose directory has renewalInfo gave a malformed one.
	if errors.Is(err, api.ErrNoARI) && core.GetDirectory().RenewalInfo != "" {
		err = errors.New("the CA's renewal information is malformed (its window ends before it starts)")
	}
	return info, err
}

// ariFailed handles a malformed answer or an unreachable CA: the schedule
// stays as it is (the lifetime's without one), asked again with backoff.
func (c *cert) ariFailed(err error, now time.Time, cur *issued) {
	L := life(cur)
	c.ariFails++
	d := c.m.b.backoffMin
	for i := 1; i < c.ariFails && d < c.m.b.backoffMax; i++ {
		d *= 2
	}
	d = clampDur(d, time.Second, min(c.m.b.backoffMax, clampDur(L/10, time.Second, time.Hour)))
	if c.st.RenewAt.IsZero() {
		c.st.RenewAt, c.st.RenewWhy = lifetimeRenewal(cur), "lifetime"
	}
	if c.ariErr != err.Error() {
		c.ariErr = err.Error()
		log.Warningf("cert %s: renewal information (ARI): %v; the certificate stays, renewal at %s (%s), ARI asked again in %s", c.cfg.id, err, c.st.RenewAt.UTC().Format(time.RFC3339), c.st.RenewWhy, d)
	}
	c.st.ARICheck = now.Add(d)
}

// ariWindow renews at a random time in the CA's window (a new window only:
// the time chosen in the same window stays), no later than when a sixth of
// the lifetime remains, and asks again when the CA says.
func (c *cert) ariWindow(info *acme.ExtendedRenewalInfo, now time.Time, cur *issued) {
	L := life(cur)
	c.ariErr, c.ariFails = "", 0
	w := info.SuggestedWindow
	if !w.Start.Equal(c.st.WindowStart) || !w.End.Equal(c.st.WindowEnd) || c.st.RenewWhy != "ari" || c.st.RenewAt.IsZero() {
		at := w.Start
		if span := w.End.Sub(w.Start); span > 0 {
			at = at.Add(time.Duration(rand.Int64N(int64(span))))
		}
		if latest := cur.leaf().NotAfter.Add(-L / 6); at.After(latest) {
			at = latest
		}
		c.st.RenewAt, c.st.RenewWhy, c.st.WindowStart, c.st.WindowEnd = at.UTC(), "ari", w.Start.UTC(), w.End.UTC()
		msg := ""
		if info.ExplanationURL != "" {
			msg = " (the CA explains: " + info.ExplanationURL + ")"
		}
		log.Infof("cert %s: renewal at %s, in the CA's window %s .. %s%s", c.cfg.id, at.UTC().Format(time.RFC3339), w.Start.UTC().Format(time.RFC3339), w.End.UTC().Format(time.RFC3339), msg)
	}
	retry := info.RetryAfter
	if retry <= 0 {
		retry = 6 * time.Hour
	}
	c.st.ARICheck = now.Add(clampDur(retry, time.Second, clampDur(L/4, time.Second, 6*time.Hour)))
}

func clampDur(d, lo, hi time.Duration) time.Duration {
	if d < lo {
		return lo
	}
	if d > hi {
		return hi
	}
	return d
}

// orderKey chooses the key of the next order: the staged next key once its
// TLSA is ready everywhere; the current key with reuse-key, or when the next
// key could not be made ready before the deadline (a tenth of the lifetime
// left; its TLSA is published, so nothing changes); a fresh key for a first
// certificate. A nil key means "not yet, come back at wake".
func (c *cert) orderKey(ctx context.Context, now time.Time) (key crypto.Signer, label string, wake time.Time) {
	cur := c.current()
	if cur == nil {
		if c.next != nil {
			return c.next, "next", time.Time{}
		}
		k, err := certcrypto.GeneratePrivateKey(c.cfg.keyType)
		if err != nil {
			log.Errorf("cert %s: making a key: %v", c.cfg.id, err)
			return nil, "", now.Add(c.m.b.backoffMin)
		}
		return k, "new", time.Time{}
	}
	if c.cfg.reuseKey || c.next == nil {
		return cur.key, "current", time.Time{}
	}
	ready, wait, why := c.nextReady(ctx, now)
	if ready {
		c.lastWait = time.Time{}
		return c.next, "next", time.Time{}
	}
	refused := c.st.RefusedKey != "" && c.st.RefusedKey == keyRecord(cur.key.Public())
	if c.urgent(now) && !refused {
		// A replacement the CA asks for now (a revoked intermediate does not
		// concern the key): the current key, whose TLSA records are served,
		// rather than a next key that is not ready.
		log.Infof("cert %s: the CA asks to replace the certificate now; the next key's TLSA records are not ready (%s): renewing with the current key, whose TLSA records are served", c.cfg.id, why)
		return cur.key, "current", time.Time{}
	}
	deadline := cur.leaf().NotAfter.Add(-life(cur) / 10)
	if now.Before(deadline) {
		c.logWait("renewal due; waiting until the next key's TLSA records are ready: " + why)
		if wait <= 0 {
			wait = c.pollEvery()
		}
		wait = clampDur(wait, 200*time.Millisecond, 30*time.Second)
		if at := now.Add(wait); at.After(deadline) {
			return nil, "", deadline
		}
		return nil, "", now.Add(wait)
	}
	if refused {
		log.Warningf("cert %s: the next key's TLSA records are not ready (%s), the certificate expires at %s and the CA refused the current key: renewing with the next key", c.cfg.id, why, cur.leaf().NotAfter.UTC().Format(time.RFC3339))
		return c.next, "next", time.Time{}
	}
	log.Warningf("cert %s: the next key's TLSA records are not ready (%s) and the certificate expires at %s: renewing with the current key (its TLSA records stay as they are)", c.cfg.id, why, cur.leaf().NotAfter.UTC().Format(time.RFC3339))
	return cur.key, "current", time.Time{}
}

// nextReady: the next key's TLSA records have been served by dnspki for the
// hold-down (the tlsa plugin's readiness), and every check server of the
// zone has served them for the hold-down too.
func (c *cert) nextReady(ctx context.Context, now time.Time) (bool, time.Duration, string) {
	if c.tm == nil {
		return true, 0, ""
	}
	if !c.staged {
		return false, time.Second, "the next key is not published yet"
	}
	mat, _ := tlsa.KeyMaterial(c.next.Public())
	r, err := c.tm.Ready(c.cfg.id, &mat)
	if err != nil {
		return false, time.Second, err.Error()
	}
	if !r.Ready {
		return false, r.Wait, r.Reason
	}
	return c.pollSeen(ctx, now)
}

// keyRecord names a key by its 3 1 1 record data (tlsa's KeyRecord).
func keyRecord(pub crypto.PublicKey) string {
	m, _ := tlsa.KeyMaterial(pub)
	return m.KeyRecord()
}

func tlsaKey(t *dns.TLSA) string {
	return fmt.Sprintf("%d %d %d %s", t.Usage, t.Selector, t.MatchingType, strings.ToLower(t.Certificate))
}

// pollSeen asks every check server of the TLSA zone whether it serves the
// next key's records (as dnspki serves them in the server's view) at every
// owner name, and records since when. Ready when all do, each for at least
// the hold-down.
func (c *cert) pollSeen(ctx context.Context, now time.Time) (bool, time.Duration, string) {
	zb := c.m.zones[c.tlsaZone]
	z := zb.zoneModel()
	if z == nil {
		return false, time.Second, "the zone is not open"
	}
	next, _ := tlsa.KeyMaterial(c.next.Public())
	if c.st.Seen == nil {
		c.st.Seen = map[string]time.Time{}
	}
	changed := false
	var missing []string
	var wait time.Duration
	live := map[string]bool{}
	for _, t := range c.m.targets(ctx, zb) {
		live[t.addr] = true
		ok, reason := c.serves(ctx, z, t, next)
		since, seen := c.st.Seen[t.addr]
		switch {
		case ok && !seen:
			c.st.Seen[t.addr] = now.UTC()
			since = now
			changed = true
			log.Infof("cert %s: %s serves the next key's TLSA records", c.cfg.id, t.addr)
		case !ok && seen:
			delete(c.st.Seen, t.addr)
			changed = true
		}
		if !ok {
			missing = append(missing, t.addr+" ("+reason+")")
			continue
		}
		if age := now.Sub(since); age < c.cfg.holddown {
			wait = max(wait, c.cfg.holddown-age)
		}
	}
	for a := range c.st.Seen {
		if !live[a] {
			delete(c.st.Seen, a)
			changed = true
		}
	}
	if changed {
		c.save()
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return false, 0, "not served by " + strings.Join(missing, ", ")
	}
	if wait > 0 {
		return false, wait, fmt.Sprintf("every secondary serves it, for less than the hold-down (%s) at one of them", c.cfg.holddown)
	}
	return true, 0, ""
}

// serves reports whether check server t serves, at every owner name, the
// next key's records that dnspki serves there in t's view (and why not).
func (c *cert) serves(ctx context.Context, z *zonemodel.Zone, t target, next tlsa.Material) (bool, string) {
	for _, name := range c.cfg.tlsaNames {
		var expected []string
		if v := z.View(t.view); v != nil {
			if set := v.Snapshot().Get(name, dns.TypeTLSA); set != nil {
				for _, rr := range set.RRs {
					if r := rr.(*dns.TLSA); tlsa.Matches(next, r) {
						expected = append(expected, tlsaKey(r))
					}
				}
			}
		}
		if len(expected) == 0 {
			return false, "not published by dnspki yet"
		}
		rrs, err := queryRRs(ctx, t.addr, name, dns.TypeTLSA)
		if err != nil {
			return false, err.Error()
		}
		have := map[string]bool{}
		for _, rr := range rrs {
			have[tlsaKey(rr.(*dns.TLSA))] = true
		}
		for _, k := range expected {
			if !have[k] {
				return false, "no " + k[:6] + " record of the next key at " + name
			}
		}
	}
	return true, ""
}

// order places an order for key and installs the certificate, or holds it
// until its TLSA records are ready (a new issuer). The error is the order's
// (for the CA gate).
func (c *cert) order(ctx context.Context, key crypto.Signer, label, why string) (time.Time, error) {
	start := time.Now()
	c.lastWait = time.Time{}
	c.st.Pending, c.st.PendingKey, c.st.LastTry = start.UTC(), label, start.UTC()
	c.save()
	lastAttempt.WithLabelValues(c.cfg.id).Set(float64(start.Unix()))
	log.Infof("cert %s: ordering a certificate for %s with the %s key (%s; %s)", c.cfg.id, strings.Join(c.cfg.names, " "), label, keyRecord(key.Public()), why)
	octx, cancel := context.WithTimeout(ctx, c.m.b.orderTimeout)
	chain, err := c.obtain(octx, key)
	cancel()
	c.st.Pending, c.st.PendingKey = time.Time{}, ""
	if err != nil || ctx.Err() != nil {
		if ctx.Err() != nil {
			// Shutting down (or replaced by a reload): nothing is installed.
			log.Infof("cert %s: the order was abandoned (shutdown or reload)", c.cfg.id)
			c.save()
			return time.Now().Add(time.Hour), nil // shutting down
		}
		if label == "current" && isBadKey(err) {
			c.st.RefusedKey = keyRecord(key.Public())
		}
		return c.failed(time.Now(), "the order", err), err
	}
	is := &issued{chain: chain, key: key}
	if wait, why := c.mustHold(is, time.Now()); why != "" {
		return c.hold(is, label, why, wait), nil
	}
	if err := c.install(is, label); err != nil {
		c.pending, c.pendingKey = is, label
		return c.failed(time.Now(), "writing the files", err), nil
	}
	return time.Now(), nil
}

// isBadKey reports the CA refusing the key of an order (badPublicKey: a
// weak or compromised key, e.g. revoked for keyCompromise).
func isBadKey(err error) bool {
	var pd *acme.ProblemDetails
	return errors.As(err, &pd) && pd.Type == acme.BadPublicKeyErrorType
}

// obtain runs one order through lego: registration (again, if the CA forgot
// the account), the challenges, the CSR for key, the certificate.
func (c *cert) obtain(ctx context.Context, key crypto.Signer) ([]*x509.Certificate, error) {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		core, err := c.m.client(ctx)
		if err != nil {
			return nil, err
		}
		uri, _ := c.m.acct.known()
		replaces := ""
		if cur := c.current(); cur != nil && !c.st.NoReplaces && core.GetDirectory().RenewalInfo != "" {
			replaces, _ = api.MakeARICertID(cur.leaf())
		}
		certifier := certificate.NewCertifier(core, &solver{m: c.m, c: c, core: core}, certificate.CertifierOptions{Timeout: time.Minute})
		res, err := certifier.Obtain(ctx, certificate.ObtainRequest{
			Domains: c.cfg.names, PrivateKey: key, Bundle: true, Profile: c.cfg.profile, ReplacesCertID: replaces,
		})
		if err == nil {
			chain, err := parseChain(res.Certificate)
			if err != nil {
				return nil, fmt.Errorf("the CA's certificate: %v", err)
			}
			if !samePublic(chain[0].PublicKey, key.Public()) {
				return nil, errors.New("the CA's certificate is not for the key of the order")
			}
			return chain, nil
		}
		lastErr = err
		switch {
		case isAccountGone(err):
			c.m.acct.forget(uri)
			continue
		case replaces != "" && isNewOrderProblem(err, core):
			log.Warningf("cert %s: the CA refused an order replacing the current certificate (%v); ordering without naming it", c.cfg.id, err)
			c.st.NoReplaces = true
			continue
		case isNetwork(err):
			c.m.acct.drop()
		}
		return nil, err
	}
	return nil, lastErr
}

// isNewOrderProblem reports the CA refusing the newOrder request itself
// (not a rate limit).
func isNewOrderProblem(err error, core *api.Core) bool {
	var pd *acme.ProblemDetails
	if !errors.As(err, &pd) || pd.Type == acme.RateLimitedErrorType {
		return false
	}
	return pd.URL != "" && pd.URL == core.GetDirectory().NewOrderURL
}

func isNetwork(err error) bool {
	var ne net.Error
	var ue *url.Error
	return errors.As(err, &ne) || errors.As(err, &ue)
}

// install writes the certificate's files (all or nothing), makes it
// current, publishes its TLSA and runs the deploy command.
func (c *cert) install(is *issued, label string) error {
	if err := writeFiles(outputFiles(c.cfg.out, is)); err != nil {
		return err
	}
	c.mu.Lock()
	c.cur = is
	c.mu.Unlock()
	c.pending = nil
	observeExpiry(c)
	if c.next != nil && samePublic(c.next.Public(), is.key.Public()) {
		c.next, c.st.NextKey, c.st.NextSince, c.st.Seen, c.staged = nil, "", time.Time{}, nil, false
	}
	c.st.Failures, c.st.RetryAt, c.st.LastError, c.st.NoReplaces, c.st.RefusedKey = 0, time.Time{}, "", false, ""
	c.st.WindowStart, c.st.WindowEnd = time.Time{}, time.Time{}
	c.st.Serial, c.st.RenewAt, c.st.RenewWhy, c.st.ARICheck = serialOf(is), time.Time{}, "", time.Time{}
	c.setResult("success")
	c.save()
	c.currentSet = false
	if c.tm != nil {
		mat, _ := tlsa.ChainMaterial(is.chain)
		if err := c.tm.SetCurrent(c.cfg.id, mat); err != nil {
			log.Warningf("cert %s: publishing the new certificate's TLSA records: %v (retried)", c.cfg.id, err)
		} else {
			c.currentSet = true
		}
	}
	leaf := is.leaf()
	log.Infof("cert %s: certificate %s for %s installed in %s (the %s key %s; valid until %s)", c.cfg.id, serialOf(is), strings.Join(leaf.DNSNames, " "), c.cfg.out, label, keyRecord(is.key.Public()), leaf.NotAfter.UTC().Format(time.RFC3339))
	c.deploy()
	return nil
}

// failed records a failed attempt and schedules the next one (exponential
// backoff, or the CA's Retry-After for a rate limit). Nothing installed is
// touched: the current certificate and its TLSA records stay.
func (c *cert) failed(now time.Time, what string, err error) time.Time {
	result := classify(err)
	c.st.Failures++
	d := c.m.b.backoffMin
	for i := 1; i < c.st.Failures && d < c.m.b.backoffMax; i++ {
		d *= 2
	}
	if d > c.m.b.backoffMax {
		d = c.m.b.backoffMax
	}
	d += time.Duration(rand.Int64N(int64(d)/10 + 1))
	var rl *acme.RateLimitedError
	if errors.As(err, &rl) && rl.RetryAfter > d {
		d = rl.RetryAfter
	}
	c.st.RetryAt, c.st.LastError = now.Add(d).UTC(), err.Error()
	c.setResult(result)
	c.save()
	keep := "no certificate yet"
	if cur := c.current(); cur != nil {
		keep = "the current certificate (valid until " + cur.leaf().NotAfter.UTC().Format(time.RFC3339) + ") and its TLSA records stay"
	}
	log.Errorf("cert %s: %s failed (%s, attempt %d): %v; %s; next attempt in %s", c.cfg.id, what, result, c.st.Failures, err, keep, d.Round(time.Second))
	return c.st.RetryAt
}

func (c *cert) setResult(r string) {
	c.st.LastResult = r
	ordersTotal.WithLabelValues(c.cfg.id, r).Inc()
	for _, x := range results {
		v := 0.0
		if x == r {
			v = 1
		}
		lastResult.WithLabelValues(c.cfg.id, x).Set(v)
	}
}

// Outcomes of an attempt (the result label).
var results = []string{"success", "ca_unreachable", "rate_limited", "refused", "validation_failed", "dns_propagation", "write_failed", "timeout", "error"}

func classify(err error) string {
	var we *writeError
	var pe *propagationError
	var ve *validationError
	var re *refusedError
	var rl *acme.RateLimitedError
	var pd *acme.ProblemDetails
	switch {
	case errors.As(err, &we):
		return "write_failed"
	case errors.As(err, &pe):
		return "dns_propagation"
	case errors.As(err, &ve):
		return "validation_failed"
	case errors.As(err, &rl):
		return "rate_limited"
	case errors.As(err, &pd):
		if pd.Type == acme.RateLimitedErrorType {
			return "rate_limited"
		}
		return "refused"
	case errors.As(err, &re):
		return "refused"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case isNetwork(err):
		return "ca_unreachable"
	}
	return "error"
}

// deploy runs the deploy command (in the background, one at a time per
// certificate) with certbot's and dnspki's environment variables.
func (c *cert) deploy() {
	if len(c.cfg.deploy) == 0 {
		return
	}
	dir, _ := filepath.Abs(c.cfg.out)
	env := append(os.Environ(),
		"DNSPKI_CERT_ID="+c.cfg.id,
		"DNSPKI_CERT_DIR="+dir,
		"DNSPKI_CERT_NAMES="+strings.Join(c.cfg.names, " "),
		"RENEWED_LINEAGE="+dir,
		"RENEWED_DOMAINS="+strings.Join(c.cfg.names, " "),
	)
	c.m.wg.Add(1)
	go func() {
		defer c.m.wg.Done()
		c.deployMu.Lock()
		defer c.deployMu.Unlock()
		ctx, cancel := context.WithTimeout(c.m.ctx, c.cfg.deployTO)
		defer cancel()
		cmd := exec.CommandContext(ctx, c.cfg.deploy[0], c.cfg.deploy[1:]...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		text := strings.TrimSpace(string(out))
		if len(text) > 2000 {
			text = text[:2000] + "..."
		}
		if err != nil {
			deploysTotal.WithLabelValues(c.cfg.id, "failed").Inc()
			log.Errorf("cert %s: deploy command %q failed: %v: %s", c.cfg.id, strings.Join(c.cfg.deploy, " "), err, text)
			return
		}
		deploysTotal.WithLabelValues(c.cfg.id, "ok").Inc()
		log.Infof("cert %s: deploy command %q done%s", c.cfg.id, strings.Join(c.cfg.deploy, " "), map[bool]string{true: "", false: ": " + text}[text == ""])
	}()
}
