#!/usr/bin/env bash
# dnspki under an UPDATE flood it must refuse: query QPS while an attacker
# sends refused UPDATEs as fast as they are answered, as a ratio to the QPS
# of the same server idle.
#
#   bench/refused.sh [SECONDS]
#   ROUNDS=3 bench/refused.sh 15        # noisy box: interleaved rounds, medians
#   KINDS="unsigned twotsig" PROTO=tcp bench/refused.sh 10
#
# One dnspki (servers/corefiles/dnspki-refused.Corefile: authzone +
# acmechallenge for bench.test, acme-bench. granted www1 only) pinned to
# CPU 1; dnsperf and the flood (bench/cmd/updateload -refused KIND) on
# CPU 0. Phases, SECONDS each (default 15), every round:
#   queries           dnsperf alone (run.sh's arguments)             -> the idle QPS
#   queries+KIND      dnsperf while updateload floods with refused UPDATEs of KIND
# KINDS (default: all) are updateload's: unsigned (REFUSED by acmechallenge),
# scope (signed, a name the key may not change: REFUSED), badsig (a guessed
# secret: NOTAUTH/BADSIG), twotsig (a second, forged TSIG: FORMERR),
# badtime (an hour old: NOTAUTH/BADTIME, signed); the last three are
# refused by the TSIG gate before any plugin. CONNS [4] connections (PROTO
# udp [default] or tcp), each with one UPDATE in flight.
# Results: $BENCH_OUT/refused/<timestamp>/summary.txt (ratio = QPS with the
# flood / idle QPS, medians over the rounds).
set -uo pipefail
. "$(dirname "$0")/lib.sh"

DURATION=${1:-15}
PROTO=${PROTO:-udp}
KINDS=${KINDS:-unsigned scope badsig twotsig badtime}
PORT=${PORT:-15396}
start_update_bench refused dnspki-refused.Corefile
FLOOD=("$BENCH_OUT/bin/updateload" -server "$BENCH_ADDR:$PORT" -zone bench.test. -key "$KEY" -conns "$CONNS" -forge acme-other.)
[ "$PROTO" = udp ] && FLOOD+=(-udp)
qps() { awk '/Queries per second:/ {printf "%.0f", $4}' "$1"; }
lost() { awk '/Queries lost:/ {print $3}' "$1"; }
kv() { grep '^RESULT' "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k {print $2}'; }

log "warm-up"
"${PIN_CLI[@]}" "${PERF[@]}" -l 3 > "$OUT/warmup.txt" 2>&1
for k in $KINDS; do
	"${PIN_CLI[@]}" "${FLOOD[@]}" -refused "$k" -duration 1s > "$OUT/warmup-$k.txt" 2>&1 || die "updateload -refused $k: $(tail -3 "$OUT/warmup-$k.txt")"
done

# One line per phase and round in $OUT/summary.raw: phase round qps lost refused_per_s
for ((r = 1; r <= ROUNDS; r++)); do
	log "round $r/$ROUNDS"
	d=$OUT/r$r; mkdir -p "$d"
	"${PIN_CLI[@]}" "${PERF[@]}" -l "$DURATION" > "$d/queries.txt" 2>&1
	echo "queries $r $(qps "$d/queries.txt") $(lost "$d/queries.txt") -" >> "$OUT/summary.raw"
	log "  queries: QPS $(qps "$d/queries.txt")"
	for k in $KINDS; do
		"${PIN_CLI[@]}" "${FLOOD[@]}" -refused "$k" -duration "$((DURATION + 1))s" > "$d/flood-$k.txt" 2>&1 &
		FPID=$!
		"${PIN_CLI[@]}" "${PERF[@]}" -l "$DURATION" > "$d/queries+$k.txt" 2>&1
		wait $FPID || log "  updateload -refused $k failed: $(tail -2 "$d/flood-$k.txt")"
		echo "queries+$k $r $(qps "$d/queries+$k.txt") $(lost "$d/queries+$k.txt") $(kv "$d/flood-$k.txt" rps)" >> "$OUT/summary.raw"
		log "  queries+$k: QPS $(qps "$d/queries+$k.txt") while $(kv "$d/flood-$k.txt" rps) refused UPDATEs/s"
	done
done

SERIAL0=$(awk '$1 == "@" || /SOA/ {print; exit}' "$ZONE_FILE" | grep -o '[0-9]\{6,\}' | head -1)
SERIAL=$(kdig +short @"$BENCH_ADDR" -p "$PORT" bench.test SOA | awk '{print $3}')
{
	echo "date: $(date -Is)  host: $(uname -r)  cpus: $(nproc)  load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "server: ${PIN_SRV[*]:-unpinned} dnspki (servers/corefiles/dnspki-refused.Corefile); clients: ${PIN_CLI[*]:-unpinned}"
	echo "dnsperf: ${PERF[*]} -l $DURATION"
	echo "flood: ${FLOOD[*]} -refused KIND -duration $((DURATION + 1))s"
	echo "rounds: $ROUNDS (interleaved; medians over the rounds, min-max in brackets)"
	echo
	awk '
	function med(a, n,   i, j, t) { for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
		return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2 }
	function col(p, c,   i, n, a, lo, hi) { n = 0; for (i = 1; i <= cnt[p]; i++) { v = val[p, i, c]; if (v != "-" && v != "") a[++n] = v + 0 }
		if (n == 0) return "-"; lo = hi = a[1]; for (i = 1; i <= n; i++) { if (a[i] < lo) lo = a[i]; if (a[i] > hi) hi = a[i] }
		m = med(a, n); last = m; return (n > 1) ? sprintf("%g [%g-%g]", m, lo, hi) : sprintf("%g", m) }
	{ if (!($1 in cnt)) order[++np] = $1; cnt[$1]++; for (c = 3; c <= 5; c++) val[$1, cnt[$1], c] = $c }
	END {
		printf "%-20s %-26s %-8s %-12s %-24s\n", "phase", "QPS", "ratio", "lost", "refused UPDATEs/s"
		q = col("queries", 3); idle = last
		for (i = 1; i <= np; i++) { p = order[i]
			s = col(p, 3); ratio = (idle > 0) ? sprintf("%.2f", last / idle) : "-"
			printf "%-20s %-26s %-8s %-12s %-24s\n", p, s, ratio, col(p, 4), col(p, 5) }
	}' "$OUT/summary.raw"
	echo
	echo "serial: $SERIAL (zone file: $SERIAL0; refused UPDATEs change nothing)"
} > "$OUT/summary.txt"
cat "$OUT/summary.txt"
log "details: $OUT"
