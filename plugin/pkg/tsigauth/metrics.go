package tsigauth

import (
	"github.com/dnspki/dnspki/plugin/pkg/metric"
)

var (
	refused  = metric.CounterVec("tsig_refused_total", "Requests refused before any plugin acted on them, by reason (formerr_tsig, formerr_opt, formerr_question, formerr_mac, badkey, badsig, badtime, badtrunc, replay).", "reason")
	verified = metric.CounterVec("tsig_verified_total", "Signed requests whose TSIG verified, by key.", "key")
)
