package main

import (
	// Stock CoreDNS plugins an authoritative deployment uses. Never import
	// github.com/coredns/coredns/core/plugin: it pulls in every plugin.
	_ "github.com/coredns/caddy/onevent"
	_ "github.com/coredns/coredns/plugin/acl"
	_ "github.com/coredns/coredns/plugin/any"
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/bufsize"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/cancel"
	_ "github.com/coredns/coredns/plugin/chaos"
	_ "github.com/coredns/coredns/plugin/debug"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/metadata"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/minimal"
	_ "github.com/coredns/coredns/plugin/nsid"
	_ "github.com/coredns/coredns/plugin/pprof"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
	_ "github.com/coredns/coredns/plugin/root"
	_ "github.com/coredns/coredns/plugin/timeouts"
	_ "github.com/coredns/coredns/plugin/transfer"
	_ "github.com/coredns/coredns/plugin/tsig"
	_ "github.com/coredns/coredns/plugin/view"
	_ "github.com/coredns/coredns/plugin/whoami"

	// dnspki plugins.
	_ "github.com/dnspki/dnspki/plugin/acmechallenge"
	_ "github.com/dnspki/dnspki/plugin/authzone"
	_ "github.com/dnspki/dnspki/plugin/certs"
	_ "github.com/dnspki/dnspki/plugin/cookie"
	_ "github.com/dnspki/dnspki/plugin/dnspersist"
	_ "github.com/dnspki/dnspki/plugin/horizon"
	_ "github.com/dnspki/dnspki/plugin/onlinesign"
	_ "github.com/dnspki/dnspki/plugin/rrl"
	_ "github.com/dnspki/dnspki/plugin/status"
	_ "github.com/dnspki/dnspki/plugin/tlsa"
	_ "github.com/dnspki/dnspki/plugin/xot"
)

// directives is the order of the plugin chain (and of setup). A query passes
// the plugins in this order; a plugin that is not used in a server block is
// skipped. dnspki's record sources and signer bind to authzone's zones, so
// their setup must run in the same configuration, wherever they sit here.
var directives = []string{
	"root",
	"metadata",
	"cancel",
	"timeouts",
	"reload",
	"nsid",
	"bufsize",
	"bind",
	"xot", // dnspki: the TLS of tls:// listeners (XoT, RFC 9103); marks requests that came over TLS
	"debug",
	"ready",
	"health",
	"pprof",
	"prometheus",
	"errors",
	"log",
	// The TSIG gate (plugin/pkg/tsigauth) is put before everything in a
	// server block with a dnspki plugin. The observability plugins above
	// (prometheus, errors, log) see every request, limited or not; then:
	"cookie",  // dnspki: DNS Cookies (RFC 7873, RFC 9018)
	"rrl",     // dnspki: response rate limiting (after cookie: a valid cookie is not limited)
	"horizon", // dnspki: split-horizon view selection
	"any",
	"chaos",
	"tsig",
	"acl",
	"minimal",
	"cache",
	"acmechallenge", // dnspki: RFC 2136 UPDATE of _acme-challenge, HTTP API
	"dnspersist",    // dnspki: _validation-persist and CAA
	"tlsa",          // dnspki: TLSA from certificate files
	"certs",         // dnspki: ACME client
	"status",        // dnspki: the status page (no handler)
	"onlinesign",    // dnspki: online DNSSEC signing
	"transfer",
	"authzone", // dnspki: the zones and their model
	"whoami",
	"view",
	"on",
}
