#!/usr/bin/env bash
# The cost of DNS Cookies and response rate limiting on the normal query mix,
# as QPS ratios to dnspki-unsigned (authzone alone), with run.sh:
#
#   1. dnsperf sends no cookie: dnspki-cookie, dnspki-rrl (every answer
#      counted in its bucket, none limited), dnspki-hardened (both);
#   2. every query has a client cookie (-E 10:CLIENT): each answer gets a
#      freshly made server cookie, and rrl counts it;
#   3. every query has a valid server cookie (made by bench/cmd/cookiegen with
#      the entries' fixed secret for 127.0.0.1, valid for an hour): verified,
#      returned as it is, rrl not consulted.
#
#   bench/cookie.sh [SECONDS]          ROUNDS (default 3) interleaved rounds each
#   QPS=8000 bench/cookie.sh 15        dnsperf at a fixed rate (-Q) below capacity
#
# Two ratios per entry: QPS / dnspki-unsigned's QPS (run.sh's vs_base), and
# the server's CPU time per answered query (srvCPU / QPS, the median over
# the rounds) / dnspki-unsigned's. On a machine shared with other work the
# second is the steadier one: the server is not always the bottleneck
# (srvCPU below 100%), its CPU time per query does not depend on that. The
# summaries go to $BENCH_OUT/cookie/<timestamp>/summary.txt.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
DURATION=${1:-15}
export ROUNDS=${ROUNDS:-3} BASELINE=dnspki-unsigned
OUT=$BENCH_OUT/cookie/$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
REPO=$(cd "$BENCH_DIR/.." && pwd)
if [ -z "${DNSPKI_BIN:-}" ]; then
	export DNSPKI_BIN=$BENCH_OUT/bin/dnspki
	mkdir -p "$BENCH_OUT/bin"
	(cd "$REPO" && go build -o "$DNSPKI_BIN" ./cmd/dnspki) || die "building dnspki failed"
fi
RATE_ARGS=""
[ -n "${QPS:-}" ] && RATE_ARGS="-Q $QPS"

# cpu_per_query RAW: median server CPU microseconds per answered query per
# entry, and its ratio to dnspki-unsigned.
cpu_per_query() {
	awk '$4 == "OK" && $5 > 0 { k = ++n[$2]; v[$2, k] = $9 * 1e4 / $5; if (!($2 in seen)) { seen[$2] = 1; order[++m] = $2 } }
	END {
		for (j = 1; j <= m; j++) { s = order[j]
			for (a = 1; a <= n[s]; a++) x[a] = v[s, a]
			for (a = 2; a <= n[s]; a++) { t = x[a]; b = a - 1; while (b >= 1 && x[b] > t) { x[b + 1] = x[b]; b-- } x[b + 1] = t }
			med[s] = x[int((n[s] + 1) / 2)] }
		print "server CPU per answered query (median of the rounds):"
		for (j = 1; j <= m; j++) { s = order[j]
			printf "  %-18s %7.1f us  %5.2fx\n", s, med[s], ("dnspki-unsigned" in med) ? med[s] / med["dnspki-unsigned"] : 0 } }' "$1"
}

run() { # run NAME DNSPERF_EXTRA ENTRIES
	log "cookie.sh: $1 (dnsperf ${2:-without extra options} $RATE_ARGS)"
	DNSPERF_EXTRA="$2 $RATE_ARGS" RESULTS_DIR=$OUT/$1 "$BENCH_DIR/run.sh" "$DURATION" --only "$3" >&2
	{
		echo "== $1: dnsperf ${2:-(no cookie)} $RATE_ARGS"
		cat "$OUT/$1/summary.txt"
		cpu_per_query "$OUT/$1/summary.raw"
		echo
	} >> "$OUT/summary.txt"
}
run no-cookie "" dnspki-unsigned,dnspki-cookie,dnspki-rrl,dnspki-hardened
run client-cookie "-E 10:0102030405060708" dnspki-unsigned,dnspki-cookie,dnspki-hardened
# Made now: the server returns it unchanged while it is under 30 minutes old.
VALID=$(cd "$REPO" && go run ./bench/cmd/cookiegen -secret 0123456789abcdef0123456789abcdef -client 0102030405060708 -ip "$BENCH_ADDR") ||
	die "cookiegen failed"
run valid-cookie "-E $VALID" dnspki-unsigned,dnspki-cookie,dnspki-hardened
cat "$OUT/summary.txt"
log "results: $OUT/summary.txt"
