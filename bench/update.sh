#!/usr/bin/env bash
# dnspki acmechallenge: RFC 2136 UPDATE throughput, and query QPS while
# UPDATEs run against the same zone, compared with no UPDATEs.
#
#   bench/update.sh [SECONDS]
#
# One dnspki (servers/corefiles/dnspki-acme.Corefile: authzone + acmechallenge
# for bench.test, state on disk under $BENCH_OUT/update/) pinned to CPU 1;
# the load generators on CPU 0. Phases, SECONDS each (default 15):
#   updates       updateload alone: CONNS [4] TCP connections, TSIG hmac-sha256,
#                 lego's pattern (delete the RRset, add a value), as fast as answered
#   queries       dnsperf alone (run.sh's arguments)            -> the baseline QPS
#   queries+upd   dnsperf while updateload runs as fast as answered
#   queries+N/s   dnsperf while updateload sends UPDATE_RATE [20] UPDATEs/s
# Every accepted UPDATE is a committed, fsynced change (new serial, journal
# entry). Results: $BENCH_OUT/update/<timestamp>/summary.txt.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

DURATION=${1:-15}
CONNS=${CONNS:-4}
UPDATE_RATE=${UPDATE_RATE:-20}
PORT=${PORT:-15395}
CLIENTS=${CLIENTS:-4}
THREADS=${THREADS:-2}
OUTSTANDING=${OUTSTANDING:-200}
SERVER_CPUS=${SERVER_CPUS:-1}
CLIENT_CPUS=${CLIENT_CPUS:-0}
KEY="hmac-sha256:acme-bench.:YmVuY2gtdXBkYXRlLWtleS1mb3ItZG5zcGtpLWFjbWU="

REPO=$(cd "$BENCH_DIR/.." && pwd)
mkdir -p "$BENCH_OUT/bin"
DNSPKI_BIN=${DNSPKI_BIN:-$BENCH_OUT/bin/dnspki}
(cd "$REPO" && go build -o "$DNSPKI_BIN" ./cmd/dnspki && go build -o "$BENCH_OUT/bin/updateload" ./bench/cmd/updateload) || die "build failed"
[ -f "$ZONE_FILE" ] && [ -f "$QUERY_FILE" ] || "$BENCH_DIR/zone.sh" || die "zone.sh failed"
command -v dnsperf >/dev/null || die "dnsperf missing: run bench/install.sh"
port_free "$PORT" || die "port $PORT is busy (PORT=... to choose another)"

OUT=$BENCH_OUT/update/$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT"
PIN_SRV=() PIN_CLI=()
if [ "$(nproc)" -ge 2 ]; then PIN_SRV=(taskset -c "$SERVER_CPUS"); PIN_CLI=(taskset -c "$CLIENT_CPUS"); fi

"${PIN_SRV[@]}" "$BENCH_DIR/servers/coredns.sh" "$PORT" "$OUT/rundir" "$BENCH_DIR/servers/corefiles/dnspki-acme.Corefile" "$DNSPKI_BIN" > "$OUT/server.log" 2>&1 &
SERVER_PID=$!
trap 'stop_pid $SERVER_PID' EXIT
wait_udp "$PORT" 30 || die "dnspki did not start: $(tail -5 "$OUT/server.log")"

PERF=(dnsperf -s "$BENCH_ADDR" -p "$PORT" -d "$QUERY_FILE" -c "$CLIENTS" -T "$THREADS" -q "$OUTSTANDING" -t 2 -D)
UPD=("$BENCH_OUT/bin/updateload" -server "$BENCH_ADDR:$PORT" -zone bench.test. -key "$KEY" -conns "$CONNS")
qps() { awk '/Queries per second:/ {printf "%.0f", $4}' "$1"; }
lat() { awk '/Average Latency \(s\):/ {printf "%.3f", $4 * 1000}' "$1"; }
res() { grep '^RESULT' "$1" | sed 's/^RESULT //'; }

log "warm-up"
"${PIN_CLI[@]}" "${PERF[@]}" -l 3 > "$OUT/warmup.txt" 2>&1
"${PIN_CLI[@]}" "${UPD[@]}" -duration 3s > "$OUT/warmup-upd.txt" 2>&1

log "updates alone (${DURATION}s, $CONNS TCP connections)"
"${PIN_CLI[@]}" "${UPD[@]}" -duration "${DURATION}s" > "$OUT/updates.txt" 2>&1
log "  $(head -1 "$OUT/updates.txt")"

log "queries alone (${DURATION}s)"
"${PIN_CLI[@]}" "${PERF[@]}" -l "$DURATION" > "$OUT/queries.txt" 2>&1
log "  $(qps "$OUT/queries.txt") QPS"

log "queries while updates run as fast as answered"
"${PIN_CLI[@]}" "${UPD[@]}" -duration "$((DURATION + 1))s" > "$OUT/queries+upd.upd.txt" 2>&1 &
UPID=$!
"${PIN_CLI[@]}" "${PERF[@]}" -l "$DURATION" > "$OUT/queries+upd.txt" 2>&1
wait $UPID
log "  $(qps "$OUT/queries+upd.txt") QPS; $(head -1 "$OUT/queries+upd.upd.txt")"

log "queries while $UPDATE_RATE updates/s run"
"${PIN_CLI[@]}" "${UPD[@]}" -rate "$UPDATE_RATE" -duration "$((DURATION + 1))s" > "$OUT/queries+rate.upd.txt" 2>&1 &
UPID=$!
"${PIN_CLI[@]}" "${PERF[@]}" -l "$DURATION" > "$OUT/queries+rate.txt" 2>&1
wait $UPID
log "  $(qps "$OUT/queries+rate.txt") QPS; $(head -1 "$OUT/queries+rate.upd.txt")"

SERIAL=$(kdig +short @"$BENCH_ADDR" -p "$PORT" bench.test SOA | awk '{print $3}')
{
	echo "date: $(date -Is)  host: $(uname -r)  cpus: $(nproc)  state: $(df -T "$OUT" | awk 'NR==2 {print $2}') (fsync per accepted UPDATE)"
	echo "server: ${PIN_SRV[*]:-unpinned} dnspki (dnspki-acme.Corefile); clients: ${PIN_CLI[*]:-unpinned}"
	echo "dnsperf: ${PERF[*]} -l $DURATION"
	echo "updateload: ${UPD[*]} -duration ${DURATION}s [-rate $UPDATE_RATE]"
	echo
	printf "%-28s %10s %9s   %s\n" phase QPS avg_ms "UPDATEs (accepted/s, latency)"
	printf "%-28s %10s %9s   %s\n" "updates alone" - - "$(res "$OUT/updates.txt")"
	printf "%-28s %10s %9s   %s\n" "queries alone" "$(qps "$OUT/queries.txt")" "$(lat "$OUT/queries.txt")" -
	printf "%-28s %10s %9s   %s\n" "queries + updates (max)" "$(qps "$OUT/queries+upd.txt")" "$(lat "$OUT/queries+upd.txt")" "$(res "$OUT/queries+upd.upd.txt")"
	printf "%-28s %10s %9s   %s\n" "queries + $UPDATE_RATE updates/s" "$(qps "$OUT/queries+rate.txt")" "$(lat "$OUT/queries+rate.txt")" "$(res "$OUT/queries+rate.upd.txt")"
	echo
	echo "final serial: $SERIAL"
} > "$OUT/summary.txt"
cat "$OUT/summary.txt"
log "details: $OUT"
