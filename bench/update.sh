#!/usr/bin/env bash
# dnspki acmechallenge: RFC 2136 UPDATE throughput, and query QPS while
# UPDATEs run against the same zone, compared with no UPDATEs.
#
#   bench/update.sh [SECONDS]
#   ROUNDS=3 bench/update.sh 15     # noisy box: interleaved rounds, medians
#
# One dnspki (servers/corefiles/dnspki-acme.Corefile: authzone + acmechallenge
# for bench.test, state on disk under $BENCH_OUT/update/) pinned to CPU 1;
# the load generators on CPU 0. Phases, SECONDS each (default 15):
#   updates       updateload alone: CONNS [4] TCP connections, TSIG hmac-sha256,
#                 lego's pattern (delete the RRset, add a value), as fast as answered
#   queries       dnsperf alone (run.sh's arguments)            -> the baseline QPS
#   queries+N/s   dnsperf while updateload sends UPDATE_RATE [20] UPDATEs/s
#   queries+max   dnsperf while updateload runs as fast as answered
# Every accepted UPDATE is a committed, fsynced change (new serial, journal
# entry). Results: $BENCH_OUT/update/<timestamp>/summary.txt.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

DURATION=${1:-15}
UPDATE_RATE=${UPDATE_RATE:-20}
PORT=${PORT:-15395}
start_update_bench update dnspki-acme.Corefile
UPD=("$BENCH_OUT/bin/updateload" -server "$BENCH_ADDR:$PORT" -zone bench.test. -key "$KEY" -conns "$CONNS")
qps() { awk '/Queries per second:/ {printf "%.0f", $4}' "$1"; }
lat() { awk '/Average Latency \(s\):/ {printf "%.3f", $4 * 1000}' "$1"; }

log "warm-up"
"${PIN_CLI[@]}" "${PERF[@]}" -l 3 > "$OUT/warmup.txt" 2>&1
"${PIN_CLI[@]}" "${UPD[@]}" -duration 3s > "$OUT/warmup-upd.txt" 2>&1

# One line per phase and round in $OUT/summary.raw:
#   phase round qps avg_ms ups p50_ms p99_ms
kv() { grep '^RESULT' "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k {print $2}'; }
record() { # record PHASE ROUND PERF_FILE|- UPD_FILE|-
	local q=- l=- u=- p50=- p99=-
	[ "$3" != - ] && q=$(qps "$3") && l=$(lat "$3")
	[ "$4" != - ] && u=$(kv "$4" ups) && p50=$(kv "$4" p50_ms) && p99=$(kv "$4" p99_ms)
	echo "$1 $2 ${q:--} ${l:--} ${u:--} ${p50:--} ${p99:--}" >> "$OUT/summary.raw"
	log "  $1: QPS ${q:--} avg ${l:--}ms; UPDATEs/s ${u:--} p50 ${p50:--}ms p99 ${p99:--}ms"
}
for ((r = 1; r <= ROUNDS; r++)); do
	log "round $r/$ROUNDS"
	d=$OUT/r$r; mkdir -p "$d"
	"${PIN_CLI[@]}" "${UPD[@]}" -duration "${DURATION}s" > "$d/updates.txt" 2>&1
	record updates "$r" - "$d/updates.txt"

	"${PIN_CLI[@]}" "${PERF[@]}" -l "$DURATION" > "$d/queries.txt" 2>&1
	record queries "$r" "$d/queries.txt" -

	"${PIN_CLI[@]}" "${UPD[@]}" -rate "$UPDATE_RATE" -duration "$((DURATION + 1))s" > "$d/queries+rate.upd.txt" 2>&1 &
	UPID=$!
	"${PIN_CLI[@]}" "${PERF[@]}" -l "$DURATION" > "$d/queries+rate.txt" 2>&1
	wait $UPID
	record "queries+${UPDATE_RATE}/s" "$r" "$d/queries+rate.txt" "$d/queries+rate.upd.txt"

	"${PIN_CLI[@]}" "${UPD[@]}" -duration "$((DURATION + 1))s" > "$d/queries+max.upd.txt" 2>&1 &
	UPID=$!
	"${PIN_CLI[@]}" "${PERF[@]}" -l "$DURATION" > "$d/queries+max.txt" 2>&1
	wait $UPID
	record "queries+max" "$r" "$d/queries+max.txt" "$d/queries+max.upd.txt"
done

SERIAL=$(kdig +short @"$BENCH_ADDR" -p "$PORT" bench.test SOA | awk '{print $3}')
{
	echo "date: $(date -Is)  host: $(uname -r)  cpus: $(nproc)  load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "state: $(df -T "$OUT" | awk 'NR==2 {print $2}'), one fsync per accepted UPDATE"
	echo "server: ${PIN_SRV[*]:-unpinned} dnspki (servers/corefiles/dnspki-acme.Corefile); clients: ${PIN_CLI[*]:-unpinned}"
	echo "dnsperf: ${PERF[*]} -l $DURATION"
	echo "updateload: ${UPD[*]} -duration ${DURATION}s [-rate $UPDATE_RATE]"
	echo "rounds: $ROUNDS (interleaved; the median of each column over the rounds, min-max in brackets)"
	echo
	awk '
	function med(a, n,   i, j, t) { for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
		return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2 }
	function col(p, c,   i, n, a, lo, hi) { n = 0; for (i = 1; i <= cnt[p]; i++) { v = val[p, i, c]; if (v != "-") a[++n] = v + 0 }
		if (n == 0) return "-"; lo = hi = a[1]; for (i = 1; i <= n; i++) { if (a[i] < lo) lo = a[i]; if (a[i] > hi) hi = a[i] }
		m = med(a, n); return (n > 1) ? sprintf("%g [%g-%g]", m, lo, hi) : sprintf("%g", m) }
	{ if (!($1 in cnt)) order[++np] = $1; cnt[$1]++; for (c = 3; c <= 7; c++) val[$1, cnt[$1], c] = $c }
	END {
		printf "%-18s %-24s %-22s %-22s %-18s %-18s\n", "phase", "QPS", "avg_ms", "UPDATEs/s", "p50_ms", "p99_ms"
		for (i = 1; i <= np; i++) { p = order[i]
			printf "%-18s %-24s %-22s %-22s %-18s %-18s\n", p, col(p, 3), col(p, 4), col(p, 5), col(p, 6), col(p, 7) }
	}' "$OUT/summary.raw"
	echo
	echo "final serial: $SERIAL"
} > "$OUT/summary.txt"
cat "$OUT/summary.txt"
log "details: $OUT"
