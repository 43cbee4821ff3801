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
// installed: when the certificate has TLSA records and the tlsa plugin does
// not find the new chain ready (a certificate from a new issuer, whose
// DANE-TA record pins the old one, e.g. after the CA replaced a revoked
// intermediate; or a 3 0 x form). Not for a first certificate, nor when the
// current one expires within the hold-down (an expired certificate is worse).
// wait is how long the tlsa plugin expects it to take.
func (c *cert) mustHold(is *issued, now time.Time) (time.Duration, string) {
	cur := c.current()
	if c.tm == nil || cur == nil || !now.Add(c.cfg.holddown).Before(cur.leaf().NotAfter) {
		return 0, ""
	}
	mat, err := tlsa.ChainMaterial(is.chain)
	if err != nil {
		return 0, ""
	}
	r, err := c.tm.Ready(c.cfg.id, &mat)
	if err != nil || r.Ready {
		return 0, ""
	}
	return r.Wait, r.Reason
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
	r, err := c.tm.Ready(c.cfg.id, &mat)
	if err != nil {
		return now.Add(time.Second), "install the obtained certificate once its TLSA records are ready (" + err.Error() + ")"
	}
	ready := r.Ready || cur == nil || !now.Add(c.cfg.holddown).Before(cur.leaf().NotAfter)
	if (force || ready) && !c.stillGood(ctx, is) {
		c.dropHeld("the CA asks to replace it already")
		return time.Now(), "order again"
	}
	if !ready {
		c.logWait("the obtained certificate waits until its TLSA records are ready: " + r.Reason)
		return now.Add(clampDur(r.Wait, 200*time.Millisecond, c.pollEvery())), "install the obtained certificate once its TLSA records are ready (" + r.Reason + ")"
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
