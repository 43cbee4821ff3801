package cookie

import (
	"github.com/coredns/coredns/plugin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	requests = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "dnspki",
		Name: "cookie_requests_total",
		Help: "Requests by what their COOKIE option held: missing (no option), client_only, valid, invalid (a server cookie that is not ours, not this client's, or expired), malformed (answered FORMERR).",
	}, []string{"result"})
	badCookie = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: "dnspki",
		Name: "cookie_badcookie_total",
		Help: "BADCOOKIE answers (require: UDP requests with a client cookie and no valid server cookie).",
	})
	byVerdict = [...]prometheus.Counter{
		Missing:    requests.WithLabelValues(Missing.String()),
		ClientOnly: requests.WithLabelValues(ClientOnly.String()),
		Invalid:    requests.WithLabelValues(Invalid.String()),
		Valid:      requests.WithLabelValues(Valid.String()),
	}
	malformed = requests.WithLabelValues("malformed")
)
