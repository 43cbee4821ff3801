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
#
# The three summaries go to $BENCH_OUT/cookie/<timestamp>/summary.txt.
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
run() { # run NAME DNSPERF_EXTRA ENTRIES
	log "cookie.sh: $1 (dnsperf ${2:-without extra options})"
	DNSPERF_EXTRA=$2 RESULTS_DIR=$OUT/$1 "$BENCH_DIR/run.sh" "$DURATION" --only "$3" >&2
	{ echo "== $1: dnsperf ${2:-(no cookie)}"; cat "$OUT/$1/summary.txt"; echo; } >> "$OUT/summary.txt"
}
run no-cookie "" dnspki-unsigned,dnspki-cookie,dnspki-rrl,dnspki-hardened
run client-cookie "-E 10:0102030405060708" dnspki-unsigned,dnspki-cookie,dnspki-hardened
# Made now: the server returns it unchanged while it is under 30 minutes old.
VALID=$(cd "$REPO" && go run ./bench/cmd/cookiegen -secret 0123456789abcdef0123456789abcdef -client 0102030405060708 -ip "$BENCH_ADDR") ||
	die "cookiegen failed"
run valid-cookie "-E $VALID" dnspki-unsigned,dnspki-cookie,dnspki-hardened
cat "$OUT/summary.txt"
log "results: $OUT/summary.txt"
