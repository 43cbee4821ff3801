#!/usr/bin/env bash
# Knot DNS (knotd 3.2) serving bench.test. unsigned, with DNS Cookies
# (mod-cookies, random secret) and response rate limiting (mod-rrl: RATE
# responses a second per /24 or /56, slip SLIP) as global modules, cookies
# first (mod-rrl does not limit a response to a valid cookie). The peer of
# dnspki's hardened entries in bench/flood.sh.
#   knot-hardened.sh PORT RUNDIR [RATE [SLIP]]     (default 20 2; RATE 0: no modules)
# Writes RUNDIR/knot.conf and execs knotd in the foreground.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
PORT=${1:?port}; RUNDIR=${2:?rundir}; RATE=${3:-20}; SLIP=${4:-2}
mkdir -p "$RUNDIR/run" "$RUNDIR/storage"
cp "$ZONE_FILE" "$RUNDIR/storage/bench.test.zone"

MODULES="" GLOBAL=""
if [ "$RATE" != 0 ]; then
	MODULES="mod-cookies:
  - id: bench

mod-rrl:
  - id: bench
    rate-limit: $RATE
    slip: $SLIP
"
	GLOBAL="    global-module: [ mod-cookies/bench, mod-rrl/bench ]"
fi

cat > "$RUNDIR/knot.conf" <<CONF
server:
    rundir: "$RUNDIR/run"
    listen: $BENCH_ADDR@$PORT
    udp-workers: $(nproc)
    tcp-workers: $(nproc)
    background-workers: $(nproc)

log:
  - target: "$RUNDIR/knot.log"
    any: info

database:
    storage: "$RUNDIR/storage"

$MODULES
template:
  - id: default
    storage: "$RUNDIR/storage"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
$GLOBAL

zone:
  - domain: $ZONE_NAME
    file: bench.test.zone
CONF

exec knotd -c "$RUNDIR/knot.conf" -s "$RUNDIR/run/knot.sock"
