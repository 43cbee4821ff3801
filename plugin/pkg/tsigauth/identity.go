// Package tsigauth decides, once per request and in one place, who signed a
// DNS message (RFC 8945 TSIG), and writes the signed replies and the TSIG
// error answers. Every dnspki plugin of a server block uses that decision:
// UPDATE grants (acmechallenge), view selection (horizon), transfer ACLs and
// NOTIFY (authzone). No plugin reads a key name out of a request itself.
//
// The decision is made by the block's gate, a handler that dnspki puts first
// in the plugin chain of every server block with a dnspki plugin
// (ForBlock). It refuses malformed messages (two TSIG records, a TSIG record
// that is not the last one, two OPT records, ...) with FORMERR before any
// other plugin sees them, verifies the TSIG against the block's own keys
// (each bound to its algorithm), refuses replays, and puts the result in the
// request's context (Of).
package tsigauth

import (
	"context"
	"strings"

	"github.com/miekg/dns"

	"github.com/dnspki/dnspki/plugin/pkg/tsigkey"
)

// Identity is who signed a request, as the gate decided.
type Identity struct {
	// Key is the verified key; nil for an unsigned request and for Foreign.
	Key *tsigkey.Key
	// TSIG is the request's TSIG record (nil: unsigned). It is the message's
	// only TSIG record and its last record.
	TSIG *dns.TSIG
	// Foreign: signed with a key that is not one of this block's dnspki keys
	// (the stock tsig plugin's, in a block that has it). dnspki plugins
	// treat it as an unknown key (BADKEY); it selects no view.
	Foreign bool
}

// Signed reports whether the request carried a TSIG record.
func (id Identity) Signed() bool { return id.TSIG != nil }

// KeyName is the verified key's name (lowercase, fully qualified), or "".
func (id Identity) KeyName() string {
	if id.Key == nil {
		return ""
	}
	return id.Key.Name
}

type ctxKey struct{}

// WithIdentity returns ctx carrying the gate's decision.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// Of returns the gate's decision about r. ok is false when r carries a TSIG
// record but no gate decided about it (a handler reached without the
// block's gate): the caller must fail closed. An unsigned request needs no
// decision and always gives (Identity{}, true).
func Of(ctx context.Context, r *dns.Msg) (Identity, bool) {
	if id, ok := ctx.Value(ctxKey{}).(Identity); ok {
		return id, true
	}
	if r.IsTsig() != nil {
		return Identity{}, false
	}
	return Identity{}, true
}

// KeyName is the verified key's name of the request in ctx ("" when
// unsigned, foreign or undecided).
func KeyName(ctx context.Context) string {
	if id, ok := ctx.Value(ctxKey{}).(Identity); ok {
		return id.KeyName()
	}
	return ""
}

// Decided returns the identity of r for a dnspki plugin that acts on it.
// When r cannot be taken as signed by one of the block's keys or as
// unsigned, Decided answers r itself and returns ok false:
//   - signed with a key that is not a dnspki key of the block (the stock
//     tsig plugin's, in a block that has it): NOTAUTH/BADKEY, logged with
//     the key, the name and why, like the gate's refusals;
//   - signed, but no gate decided about it (a handler reached without its
//     block's gate, a bug): SERVFAIL, never a guess.
func Decided(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (Identity, bool) {
	id, ok := Of(ctx, r)
	switch {
	case !ok:
		log.Errorf("%s %s: signed request without a TSIG decision (the dnspki gate is not first in this server block): SERVFAIL", dns.OpcodeToString[r.Opcode], r.Question[0].Name)
		m := new(dns.Msg)
		m.SetRcode(r, dns.RcodeServerFailure)
		w.WriteMsg(m)
		return Identity{}, false
	case id.Foreign:
		refuse(ctx, w, r, notAuth(dns.RcodeBadKey, "badkey", id.TSIG, nil, "TSIG key %s is not a key of this server block's dnspki plugins", strings.ToLower(id.TSIG.Hdr.Name)))
		return Identity{}, false
	}
	return id, true
}
