package cookie

import (
	"github.com/dnspki/dnspki/plugin/pkg/metric"
	"github.com/prometheus/client_golang/prometheus"
)

var (
	requests  = metric.CounterVec("cookie_requests_total", "Requests by what their COOKIE option held: missing (no option), client_only, valid, invalid (a server cookie that is not ours, not this client's, or expired), malformed (answered FORMERR).", "result")
	badCookie = metric.Counter("cookie_badcookie_total", "BADCOOKIE answers (require: UDP requests with a client cookie and no valid server cookie).")
	byVerdict = [...]prometheus.Counter{
		Missing:    requests.WithLabelValues(Missing.String()),
		ClientOnly: requests.WithLabelValues(ClientOnly.String()),
		Invalid:    requests.WithLabelValues(Invalid.String()),
		Valid:      requests.WithLabelValues(Valid.String()),
	}
	malformed = requests.WithLabelValues("malformed")
)
