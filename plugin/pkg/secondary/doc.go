// Package secondary receives zones from primaries: it is the record source
// "primary" of a secondary zone (the zone's base source, dynamic: stored, so
// a restart serves the last transfer at once), fed through
// zonemodel.Source like every other source. It owns the SOA refresh, retry
// and expire timers (RFC 1034 §4.3.5), refreshes on a NOTIFY hint (RFC
// 1996), transfers by IXFR with AXFR fallback (RFC 1995, RFC 5936) over TCP
// or TLS (XoT, RFC 9103), TSIG on every message, verifies the ZONEMD of a
// transfer that carries one (RFC 8976) and marks the zone expired when no
// primary could be reached for the SOA's expire interval. Its timers are
// two keyed jobs in a plugin/pkg/sched group the caller gives Start (the
// zone's): the refresh and the expiry; no goroutine of its own.
//
// It answers nothing: plugin/authzone answers the zone from the model,
// accepts or refuses NOTIFY (AllowNotify) and hands an accepted one over
// (Notified), and asks IsExpired before answering. The peers it talks to
// are plugin/pkg/xfrpeer's.
package secondary
