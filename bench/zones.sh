#!/usr/bin/env bash
# bench/zones.sh [N]: N small zones (default 10000) in one dnspki, each a
# zone file with its authzone stanza in one generated Corefile, plus their
# catalog zone (catalog produce), transfers with TSIG and NOTIFY to one Knot
# secondary that consumes the catalog (catalog-role interpret).
#
# Measures:
#   cold start   dnspki started with no state until every zone answers its
#                SOA (bench/cmd/zonewait), RSS (VmRSS) and peak RSS (VmHWM),
#                goroutines (go_goroutines from the prometheus plugin)
#   Knot         Knot started with only the catalog configured until it
#                answers every member zone (provisioned from the catalog,
#                each zone transferred from dnspki)
#   warm start   dnspki restarted on its stored state until every zone answers
#   reload       one zone added to the Corefile, SIGUSR1, until Knot answers it
#
# Needs knotd (bench/install.sh or apt-get install knot). Results in
# $BENCH_OUT/zones/<timestamp>/summary.txt (BENCH_OUT=/tmp/dns-bench).
set -euo pipefail

N=${1:-10000}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${BENCH_OUT:-/tmp/dns-bench}/zones/$(date +%Y%m%d-%H%M%S)
PORT=${PORT:-25353}   # dnspki
KPORT=${KPORT:-25354} # Knot
MPORT=${MPORT:-25355} # dnspki metrics
KEY="xfr-key. hmac-sha256 eGZyLWtleS1zZWNyZXQtZm9yLXRlc3RzLTAxMjM0NTY="
SECRET=eGZyLWtleS1zZWNyZXQtZm9yLXRlc3RzLTAxMjM0NTY=

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
command -v knotd >/dev/null || { log "knotd not found (apt-get install knot)"; exit 1; }

mkdir -p "$OUT/zones" "$OUT/knot"
log "building dnspki and zonewait into $OUT"
(cd "$ROOT" && go build -o "$OUT/dnspki" ./cmd/dnspki && go build -o "$OUT/zonewait" ./bench/cmd/zonewait)

log "writing $N zone files and the Corefile"
awk -v n="$N" -v dir="$OUT/zones" 'BEGIN {
	for (i = 1; i <= n; i++) {
		f = dir "/z" i ".bench.zone"
		printf "$ORIGIN z%d.bench.\n$TTL 300\n@ IN SOA ns1 hostmaster 1 3600 600 1209600 60\n@ IN NS ns1\nns1 IN A 192.0.2.53\n@ IN A 192.0.2.1\nwww IN A 192.0.2.10\n@ IN TXT \"zone %d\"\n", i, i > f
		close(f)
	}
}'
corefile() { # corefile COUNT
	awk -v n="$1" -v dir="$OUT" -v port="$PORT" -v kport="$KPORT" -v mport="$MPORT" -v key="$KEY" 'BEGIN {
		printf ".:%d {\n    bind 127.0.0.1\n    prometheus 127.0.0.1:%d\n", port, mport
		common = sprintf("        state %s/state\n        key %s\n        transfer to 127.0.0.0/8 key xfr-key.\n        notify 127.0.0.1:%d key xfr-key.\n", dir, key, kport)
		for (i = 1; i <= n; i++)
			printf "    authzone z%d.bench {\n        file %s/zones/z%d.bench.zone\n%s    }\n", i, dir, i, common
		printf "    authzone catalog.invalid {\n        catalog produce\n%s    }\n}\n", common
	}'
}
corefile "$N" >"$OUT/Corefile"

cat >"$OUT/knot/knot.conf" <<EOF
server:
    rundir: "$OUT/knot"
    listen: 127.0.0.1@$KPORT
database:
    storage: "$OUT/knot"
log:
  - target: stderr
    any: notice
key:
  - id: xfr-key.
    algorithm: hmac-sha256
    secret: $SECRET
remote:
  - id: primary
    address: 127.0.0.1@$PORT
    key: xfr-key.
acl:
  - id: notify
    address: 127.0.0.1
    key: xfr-key.
    action: notify
template:
  - id: default
    storage: "$OUT/knot"
    zonefile-sync: -1
    zonefile-load: none
    journal-content: all
  - id: member
    storage: "$OUT/knot"
    master: primary
    acl: notify
    zonefile-sync: -1
    zonefile-load: none
    journal-content: all
zone:
  - domain: catalog.invalid.
    master: primary
    acl: notify
    catalog-role: interpret
    catalog-template: member
EOF

DPID= KPID=
cleanup() {
	[ -n "$DPID" ] && kill "$DPID" 2>/dev/null || true
	[ -n "$KPID" ] && kill "$KPID" 2>/dev/null || true
	wait 2>/dev/null || true
}
trap cleanup EXIT

rss() { awk '/^VmRSS/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }
hwm() { awk '/^VmHWM/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }
goroutines() { curl -s "http://127.0.0.1:$MPORT/metrics" | awk '/^go_goroutines / {print $2}'; }
heap() { curl -s "http://127.0.0.1:$MPORT/metrics" | awk '/^go_memstats_heap_inuse_bytes / {printf "%.0f", $2/1048576}'; }
now() { date +%s%N; }

# start_dnspki: starts dnspki (DPID) and waits until every zone answers;
# the seconds that took are in STARTED.
start_dnspki() {
	local t0
	t0=$(now)
	(cd "$OUT" && exec "$OUT/dnspki" -conf Corefile >>"$OUT/dnspki.log" 2>&1) &
	DPID=$!
	STARTED=$("$OUT/zonewait" -addr "127.0.0.1:$PORT" -prefix z -suffix bench. -n "$N" -since "$t0")
}

log "cold start: $N zones, no state"
start_dnspki
COLD=$STARTED
sleep 2
COLD_RSS=$(rss "$DPID") COLD_HWM=$(hwm "$DPID") COLD_G=$(goroutines) COLD_HEAP=$(heap)
log "cold start ${COLD}s, RSS ${COLD_RSS} MB (peak ${COLD_HWM} MB), $COLD_G goroutines"

log "Knot provisioning $N zones from the catalog"
T0=$(now)
knotd -c "$OUT/knot/knot.conf" >"$OUT/knot.log" 2>&1 &
KPID=$!
KNOT=$("$OUT/zonewait" -addr "127.0.0.1:$KPORT" -prefix z -suffix bench. -n "$N" -since "$T0")
KNOT_RSS=$(rss "$KPID")
log "Knot answered all $N zones after ${KNOT}s (Knot RSS ${KNOT_RSS} MB)"
AFTER_RSS=$(rss "$DPID") AFTER_G=$(goroutines)

log "one more zone: reload (SIGUSR1) until Knot serves it"
M=$((N + 1))
awk -v i="$M" -v f="$OUT/zones/z$M.bench.zone" 'BEGIN { printf "$ORIGIN z%d.bench.\n$TTL 300\n@ IN SOA ns1 hostmaster 1 3600 600 1209600 60\n@ IN NS ns1\nns1 IN A 192.0.2.53\n", i > f }'
corefile "$M" >"$OUT/Corefile"
T0=$(now)
kill -USR1 "$DPID"
RELOAD=$("$OUT/zonewait" -addr "127.0.0.1:$KPORT" -prefix z -suffix bench. -first "$M" -n 1 -since "$T0" -timeout 10m)
log "reload: Knot serves the new zone ${RELOAD}s after SIGUSR1"

log "warm start: dnspki restarted on its state"
kill "$DPID"; wait "$DPID" 2>/dev/null || true
N=$M
start_dnspki
WARM=$STARTED
sleep 2
WARM_RSS=$(rss "$DPID")
log "warm start ${WARM}s, RSS ${WARM_RSS} MB"

STATE=$(du -sm "$OUT/state" | cut -f1)
{
	echo "zones:        $((M - 1)) (+1 by reload), one authzone stanza each, one catalog"
	echo "cold start:   ${COLD} s until every zone answers; RSS ${COLD_RSS} MB (peak ${COLD_HWM} MB; Go heap in use ${COLD_HEAP} MB); ${COLD_G} goroutines"
	echo "Knot:         ${KNOT} s from start until it answers every member (catalog + $((M - 1)) AXFRs); Knot RSS ${KNOT_RSS} MB"
	echo "after Knot:   dnspki RSS ${AFTER_RSS} MB; ${AFTER_G} goroutines"
	echo "reload:       ${RELOAD} s from SIGUSR1 until Knot serves the added zone"
	echo "warm start:   ${WARM} s until every zone answers; RSS ${WARM_RSS} MB"
	echo "state:        ${STATE} MB in $OUT/state"
} | tee "$OUT/summary.txt"
