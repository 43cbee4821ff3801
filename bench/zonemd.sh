#!/usr/bin/env bash
# dnspki authzone 'zone-digest': the cost of the ZONEMD (RFC 8976, SIMPLE,
# SHA-384) that the zone model computes at every change, on UPDATE latency
# and throughput in a large zone, against the same server without it.
#
#   bench/zonemd.sh [NAMES] [SECONDS]
#     NAMES    wwwN hosts of the generated zone (default 54000: about 100,000
#              records with zone.sh's mix of A, AAAA, TXT, TLSA per host)
#     SECONDS  of UPDATEs per run (default 15)
#   ROUNDS=3 bench/zonemd.sh    # interleaved rounds, every result listed
#
# One dnspki (servers/corefiles/dnspki-acme.Corefile, plus 'zone-digest' for
# the "sha384" runs), state on disk under $BENCH_OUT/zonemd/; updateload
# sends UPDATEs on CONNS [1] TCP connection(s), TSIG, lego's pattern. Every
# UPDATE is a committed, fsynced change; with zone-digest each also
# recomputes the digest of the whole zone. The digest alone, without the
# store: go test -run '^$' -bench DigestChange ./plugin/pkg/zonemodel
set -uo pipefail
. "$(dirname "$0")/lib.sh"

NAMES=${1:-54000}
DURATION=${2:-15}
CONNS=${CONNS:-1}
ROUNDS=${ROUNDS:-1}
PORT=${PORT:-15396}
SERVER_CPUS=${SERVER_CPUS:-1}
CLIENT_CPUS=${CLIENT_CPUS:-0}
KEY="hmac-sha256:acme-bench.:YmVuY2gtdXBkYXRlLWtleS1mb3ItZG5zcGtpLWFjbWU="
DATA_DIR="$BENCH_OUT/zonemd-data"
ZONE_FILE="$DATA_DIR/bench.test.zone"
export DATA_DIR

REPO=$(cd "$BENCH_DIR/.." && pwd)
mkdir -p "$BENCH_OUT/bin"
DNSPKI_BIN=${DNSPKI_BIN:-$BENCH_OUT/bin/dnspki}
(cd "$REPO" && go build -o "$DNSPKI_BIN" ./cmd/dnspki && go build -o "$BENCH_OUT/bin/updateload" ./bench/cmd/updateload) || die "build failed"
"$BENCH_DIR/zone.sh" "$NAMES" 10 >/dev/null || die "zone.sh failed"
port_free "$PORT" || die "port $PORT is busy (PORT=... to choose another)"
records=$(grep -cv '^\$' "$ZONE_FILE")

OUT="$BENCH_OUT/zonemd/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
log "zone: $records records ($NAMES hosts); $DURATION s of UPDATEs per run, $CONNS connection(s); results in $OUT"

run() { # run MODE ROUND
	local mode=$1 round=$2 dir pid res
	dir="$OUT/$mode-$round"
	mkdir -p "$dir"
	sed -e "s|{ZONE}|$ZONE_NAME|g; s|{PORT}|$PORT|g; s|{ADDR}|$BENCH_ADDR|g; s|{ZONE_FILE}|$ZONE_FILE|g; s|{RUNDIR}|$dir|g" \
		"$BENCH_DIR/servers/corefiles/dnspki-acme.Corefile" >"$dir/Corefile"
	if [ "$mode" = sha384 ]; then
		sed -i "s|        state $dir/state|        state $dir/state\n        zone-digest sha384|" "$dir/Corefile"
	fi
	(cd "$dir" && exec taskset -c "$SERVER_CPUS" "$DNSPKI_BIN" -conf Corefile >"$dir/server.log" 2>&1) &
	pid=$!
	wait_udp "$PORT" 120 || { stop_pid "$pid"; die "dnspki ($mode) did not answer"; }
	res=$(taskset -c "$CLIENT_CPUS" "$BENCH_OUT/bin/updateload" -server "$BENCH_ADDR:$PORT" -zone "$ZONE_NAME." -key "$KEY" -conns "$CONNS" -duration "${DURATION}s" | grep '^RESULT')
	stop_pid "$pid"
	echo "$mode round $round: $res" | tee -a "$OUT/summary.txt"
}

for ((r = 1; r <= ROUNDS; r++)); do
	run off "$r"
	run sha384 "$r"
done
log "summary: $OUT/summary.txt"
