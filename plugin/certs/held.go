package certs

import (
	"context"
	"time"

	"github.com/go-acme/lego/v5/acme/api"

	"github.com/dnspki/dnspki/plugin/tlsa"
)

// stagedLabel is the label of an obtained certificate (chain) staged in the
// tlsa manager while it is held.
const stagedLabel = "certs-obtained"

// mustHold says whether an obtained certificate must wait before it is
// installed: when the certificate has TLSA records and the tlsa plugin finds
// the new chain not ready where it finds the current one ready (a
// certificate from a new issuer, whose DANE-TA record pins the old one, e.g.
// after the CA replaced a revoked intermediate; or a 3 0 x form). A
// replacement that matches the served records as well as the current
// certificate does (the same key and issuer) changes nothing for DANE and is
// not held. Not for a first certificate either, nor when the current one
// expires within the hold-down (an expired certificate is worse). wait is
// how long the tlsa plugin expects it to take.
func (c *cert) mustHold(is *issued, now time.Time) (time.Duration, string) {
	cur := c.current()
	if c.tm == nil || cur == nil || !now.Add(c.cfg.holddown).Before(cur.leaf().NotAfter) {
		return 0, ""
	}
	ok, wait, why := c.switchable(is, cur)
	if ok {
		return 0, ""
	}
	return wait, why
}

// switchable asks the tlsa plugin whether switching from cur to is keeps
// DANE working (see mustHold); when not, how long that may take and why.
func (c *cert) switchable(is, cur *issued) (bool, time.Duration, string) {
	mat, err := tlsa.ChainMaterial(is.chain)
	if err != nil {
		return true, 0, ""
	}
	r, err := c.tm.Ready(c.cfg.id, &mat)
	if err != nil {
		return false, time.Second, err.Error()
	}
	if r.Ready {
		return true, 0, ""
	}
	curMat, err := tlsa.ChainMaterial(cur.chain)
	if err != nil {
		return false, r.Wait, r.Reason
	}
	rc, err := c.tm.Ready(c.cfg.id, &curMat)
	if err != nil {
		return false, r.Wait, r.Reason
	}
	if why := degrades(r, rc); why != "" {
		return false, r.Wait, why
	}
	return true, 0, ""
}

// degrades says how switching from the current certificate (readiness cur)
// to a new one (readiness next) would break DANE for someone: a check (view,
// name, usage, matching type) ready for the current certificate and not for
// the new one; "" when there is none.
func degrades(next, cur tlsa.Readiness) string {
	ready := map[[4]string]bool{}
	for _, ch := range cur.Checks {
		if ch.Ready {
			ready[checkKey(ch)] = true
		}
	}
	for _, ch := range next.Checks {
		if !ch.Ready && ready[checkKey(ch)] {
			return ch.Reason
		}
	}
	return ""
}

func checkKey(ch tlsa.Check) [4]string {
	return [4]string{ch.View, ch.Name, string(rune('0' + ch.Usage)), string(rune('0' + ch.MatchingType))}
}

// hold keeps an obtained certificate, stored, with its chain's TLSA records
// (every form: the new issuer's DANE-TA too) published beside the current
// ones; stepHeld installs it once they are ready.
func (c *cert) hold(is *issued, label, why string, wait time.Duration) time.Time {
	now := time.Now()
	c.held, c.heldKey = is, label
	c.st.Held, c.st.HeldKey, c.st.HeldSince = string(certsPEM(is.chain)), label, now.UTC()
	c.st.Failures, c.st.RetryAt, c.st.LastError = 0, time.Time{}, ""
	c.setResult("success")
	c.save()
	issuer := "?"
	if len(is.chain) > 1 {
		issuer = is.chain[1].Subject.CommonName
	}
	mat, _ := tlsa.ChainMaterial(is.chain)
	if err := c.tm.Stage(c.cfg.id, stagedLabel, mat); err != nil {
		log.Warningf("cert %s: publishing the TLSA records of the obtained certificate: %v (retried)", c.cfg.id, err)
	}
	log.Infof("cert %s: certificate %s obtained (issuer %s); it is installed once its TLSA records are ready (%s; about %s)", c.cfg.id, serialOf(is), issuer, why, wait.Round(time.Second))
	return now.Add(clampDur(wait, 200*time.Millisecond, c.pollEvery()))
}

// stepHeld installs the held certificate once the tlsa plugin finds it
// ready (or the current certificate is about to expire), unless the CA asks
// to replace it too (ARI says renew now: a revoked certificate is never
// deployed); then it is dropped and ordered again.
func (c *cert) stepHeld(ctx context.Context, now time.Time, force bool) (time.Time, string) {
	is := c.held
	mat, _ := tlsa.ChainMaterial(is.chain)
	if err := c.tm.Stage(c.cfg.id, stagedLabel, mat); err != nil {
		return now.Add(time.Second), "publish the obtained certificate's TLSA records"
	}
	cur := c.current()
	ready, wait, why := true, time.Duration(0), ""
	if cur != nil && now.Add(c.cfg.holddown).Before(cur.leaf().NotAfter) {
		ready, wait, why = c.switchable(is, cur)
	}
	if (force || ready) && !c.stillGood(ctx, is) {
		c.dropHeld("the CA asks to replace it already")
		return time.Now(), "order again"
	}
	if !ready {
		c.logWait("the obtained certificate waits until its TLSA records are ready: " + why)
		return now.Add(clampDur(wait, 200*time.Millisecond, c.pollEvery())), "install the obtained certificate once its TLSA records are ready (" + why + ")"
	}
	label := c.heldKey
	c.held, c.heldKey = nil, ""
	c.st.Held, c.st.HeldKey, c.st.HeldSince = "", "", time.Time{}
	if err := c.install(is, label); err != nil {
		c.pending, c.pendingKey = is, label
		return c.failed(time.Now(), "writing the files", err), "write the obtained certificate's files again"
	}
	if err := c.tm.Unstage(c.cfg.id, stagedLabel); err != nil {
		log.Warningf("cert %s: %v", c.cfg.id, err)
	}
	return time.Now(), "installed"
}

// dropHeld forgets the held certificate (its staged records retire).
func (c *cert) dropHeld(why string) {
	log.Warningf("cert %s: the obtained certificate %s is not installed: %s; ordering again", c.cfg.id, serialOf(c.held), why)
	c.held, c.heldKey = nil, ""
	c.st.Held, c.st.HeldKey, c.st.HeldSince = "", "", time.Time{}
	c.save()
	if c.tm != nil {
		if err := c.tm.Unstage(c.cfg.id, stagedLabel); err != nil {
			log.Warningf("cert %s: %v", c.cfg.id, err)
		}
	}
}

// stillGood asks the CA's renewal information (RFC 9773) about a
// certificate obtained a while ago and not installed yet: a window already
// over means the CA wants it replaced (revoked meanwhile). Without an answer
// it is taken as good.
func (c *cert) stillGood(ctx context.Context, is *issued) bool {
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	core, err := c.m.client(actx)
	if err != nil || core.GetDirectory().RenewalInfo == "" {
		return true
	}
	id, err := api.MakeARICertID(is.leaf())
	if err != nil {
		return true
	}
	info, err := core.Certificates.GetRenewalInfo(actx, id)
	if err != nil {
		log.Warningf("cert %s: renewal information of the obtained certificate %s: %v; installing it", c.cfg.id, serialOf(is), err)
		return true
	}
	return info.SuggestedWindow.End.After(time.Now())
}

// loadHeld restores a held certificate from the state (the key: the next key
// or the current one); one that cannot be restored is dropped (ordered
// again).
func (c *cert) loadHeld() {
	if c.st.Held == "" {
		return
	}
	chain, err := parseChain([]byte(c.st.Held))
	var key = c.next
	if c.st.HeldKey == "current" {
		if cur := c.current(); cur != nil {
			key = cur.key
		}
	}
	if err != nil || key == nil || !samePublic(chain[0].PublicKey, key.Public()) {
		log.Warningf("cert %s: the stored obtained certificate cannot be restored (%v); it is ordered again", c.cfg.id, err)
		c.st.Held, c.st.HeldKey, c.st.HeldSince = "", "", time.Time{}
		return
	}
	c.held, c.heldKey = &issued{chain: chain, key: key}, c.st.HeldKey
}
