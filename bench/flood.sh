#!/usr/bin/env bash
# A spoofed-source UDP flood at FACTOR times the server's capacity, and what
# a legitimate client (127.0.0.1) still gets: the fraction of its queries
# answered over UDP without cookies (a truncated answer asked again over
# TCP, as resolvers do), over UDP with the server cookie it learned, and
# over TCP; dnspki and Knot, each without and with cookies and RRL (20
# answers a second per /24, slip 2), one at a time on the same machine.
#
#   bench/flood.sh [SECONDS]        (as root: the flood is sent from a raw socket)
#
# Environment (defaults in brackets):
#   FACTOR [4]      flood rate = FACTOR x the capacity dnsperf measures on the
#                   server without RRL (the mix, best of 3 runs of 5 s)
#   FLOOD_PPS []    a fixed flood rate for every entry instead (the table
#                   shows it as a multiple of each server's capacity)
#   SCENARIOS ["victim random"]  victim: sources forged in 127.0.0.0/24, the
#                   legitimate client's network (an attack on that resolver,
#                   or a reflection at it); random: sources all over 127/8
#   ENTRIES ["dnspki dnspki-hardened knot knot-hardened"]
#   ROUNDS [1]      interleaved rounds; every round is reported
#   LEGIT_RATE [40] legitimate queries a second per mode
#   PORT_BASE [15450]  SERVER_CPUS [1]  CLIENT_CPUS [0]
#
# Entries: dnspki = authzone alone (servers/corefiles/dnspki-unsigned.Corefile);
# dnspki-hardened = cookie + rrl 20 slip 2 (dnspki-flood.Corefile, as
# corefile-examples/hardened.Corefile); knot = knotd unsigned; knot-hardened =
# mod-cookies + mod-rrl rate-limit 20 slip 2 (servers/knot-hardened.sh).
# Results: $BENCH_OUT/flood/<timestamp>/summary.txt (and per run floodbench.txt).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
DURATION=${1:-10}
FACTOR=${FACTOR:-4}
SCENARIOS=${SCENARIOS:-victim random}
ENTRIES=${ENTRIES:-dnspki dnspki-hardened knot knot-hardened}
ROUNDS=${ROUNDS:-1}
LEGIT_RATE=${LEGIT_RATE:-40}
PORT=${PORT_BASE:-15450}
SERVER_CPUS=${SERVER_CPUS:-1}
CLIENT_CPUS=${CLIENT_CPUS:-0}
[ "$(id -u)" = 0 ] || die "flood.sh sends from a raw socket: run it as root"
OUT=$BENCH_OUT/flood/$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT" "$BENCH_OUT/bin"
REPO=$(cd "$BENCH_DIR/.." && pwd)
if [ -z "${DNSPKI_BIN:-}" ]; then
	DNSPKI_BIN=$BENCH_OUT/bin/dnspki
	(cd "$REPO" && go build -o "$DNSPKI_BIN" ./cmd/dnspki) || die "building dnspki failed"
fi
FB=$BENCH_OUT/bin/floodbench
(cd "$REPO" && go build -o "$FB" ./bench/cmd/floodbench) || die "building floodbench failed"
[ -f "$ZONE_FILE" ] && [ -f "$MIX_QUERY_FILE" ] || "$BENCH_DIR/zone.sh"
S=$BENCH_DIR/servers
CF=$S/corefiles

start_entry() { # start_entry NAME RUNDIR: exec the server on $PORT
	case $1 in
	dnspki) exec "$S/coredns.sh" "$PORT" "$2" "$CF/dnspki-unsigned.Corefile" "$DNSPKI_BIN" ;;
	dnspki-hardened) exec "$S/coredns.sh" "$PORT" "$2" "$CF/dnspki-flood.Corefile" "$DNSPKI_BIN" ;;
	knot) exec "$S/knot-hardened.sh" "$PORT" "$2" 0 ;;
	knot-hardened) exec "$S/knot-hardened.sh" "$PORT" "$2" 20 2 ;;
	*) die "unknown entry $1" ;;
	esac
}

SERVER_PID=""
stop_server() { [ -n "$SERVER_PID" ] && stop_pid "$SERVER_PID"; SERVER_PID=""; }
trap stop_server EXIT
trap 'exit 130' INT TERM

# up NAME DIR: start the entry pinned to the server CPUs, wait for it.
up() {
	mkdir -p "$2/rundir"
	for ((i = 0; i < 25; i++)); do port_free "$PORT" && break; sleep 0.2; done
	port_free "$PORT" || die "port $PORT busy"
	(taskset -cp "$SERVER_CPUS" "$BASHPID" >/dev/null; start_entry "$1" "$2/rundir") > "$2/server.log" 2>&1 &
	SERVER_PID=$!
	wait_udp "$PORT" 30 || die "$1 did not answer (see $2/server.log)"
	# knotd pins its workers itself: back to the server CPUs
	for t in /proc/"$SERVER_PID"/task/*; do taskset -pc "$SERVER_CPUS" "${t##*/}" >/dev/null 2>&1; done
}

# capacity FAMILY: QPS of the entry without RRL (dnsperf, the mix, the
# best of 3 runs of 5 s: other work on the machine only ever lowers it).
declare -A CAP
capacity() {
	local d=$OUT/capacity-$1 i q best=0
	up "$1" "$d"
	for i in 1 2 3; do
		taskset -c "$CLIENT_CPUS" dnsperf -s "$BENCH_ADDR" -p "$PORT" -d "$MIX_QUERY_FILE" -c 4 -T 2 -q 200 -t 2 -l 5 > "$d/dnsperf$i.txt" 2>&1
		q=$(awk '/Queries per second:/{printf "%.0f", $4}' "$d/dnsperf$i.txt")
		[ "${q:-0}" -gt "$best" ] && best=$q
	done
	stop_server
	CAP[$1]=$best
	log "capacity of $1: ${CAP[$1]} QPS"
}
for fam in dnspki knot; do
	[[ " $ENTRIES " == *" $fam"* ]] && capacity "$fam"
done

printf '%-16s %-7s %5s %8s %8s %5s  %-22s %-22s %-22s\n' entry flood round cap_qps flood_pps xcap \
	"udp(TC->TCP) ans p50ms" "cookie ans p50ms" "tcp ans p50ms" > "$OUT/summary.txt"
for ((round = 1; round <= ROUNDS; round++)); do
	for sc in $SCENARIOS; do
		for e in $ENTRIES; do
			fam=${e%%-*}
			cap=${CAP[$fam]:-0}
			rate=${FLOOD_PPS:-$((cap * FACTOR))}
			d=$OUT/$e-$sc-r$round
			log "[$round/$ROUNDS] $e, $sc flood at ${rate} pps (capacity $cap)"
			up "$e" "$d"
			taskset -c "$CLIENT_CPUS" "$FB" -server "$BENCH_ADDR:$PORT" -rate "$rate" -spoof "$sc" \
				-legit-rate "$LEGIT_RATE" -duration "${DURATION}s" > "$d/floodbench.txt" 2>&1
			stop_server
			awk -v e="$e" -v sc="$sc" -v r="$round" -v cap="$cap" '
				/^FLOOD/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] } }
				/^LEGIT/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); l[kv[1]] = kv[2] }
					res[l["mode"]] = sprintf("%5.1f%% %6.1f", 100 * l["fraction"], l["p50_ms"]) }
				END { printf "%-16s %-7s %5d %8d %8d %5.1f  %-22s %-22s %-22s\n", e, sc, r, cap, f["pps"], (cap ? f["pps"] / cap : 0),
					res["udp"], res["cookie"], res["tcp"] }' "$d/floodbench.txt" >> "$OUT/summary.txt"
			tail -n1 "$OUT/summary.txt" >&2
		done
	done
done
{
	echo
	echo "date: $(date -Is)  load at end: $(cut -d' ' -f1-3 /proc/loadavg)  cpus: $(nproc)"
	echo "server on CPU $SERVER_CPUS, flood and legitimate client on CPU $CLIENT_CPUS; ${DURATION}s per run, legitimate ${LEGIT_RATE} q/s per mode"
	echo "ans = share of the legitimate client's queries answered (1 s for UDP, then 1 s for TCP after TC)"
} >> "$OUT/summary.txt"
cat "$OUT/summary.txt"
log "results: $OUT"
