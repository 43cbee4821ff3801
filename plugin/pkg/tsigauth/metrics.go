package tsigauth

import (
	"github.com/coredns/coredns/plugin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	refused = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "dnspki",
		Name: "tsig_refused_total",
		Help: "Requests refused before any plugin acted on them, by reason (formerr_tsig, formerr_opt, formerr_question, formerr_mac, badkey, badsig, badtime, badtrunc, replay).",
	}, []string{"reason"})
	verified = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "dnspki",
		Name: "tsig_verified_total",
		Help: "Signed requests whose TSIG verified, by key.",
	}, []string{"key"})
)
