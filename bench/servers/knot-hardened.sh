#!/usr/bin/env bash
# Knot DNS (knotd 3.2) serving bench.test. unsigned, with DNS Cookies
# (mod-cookies, random secret) and response rate limiting (mod-rrl: RATE
# responses a second per /24 or /56, slip SLIP) as global modules, cookies
# first (mod-rrl does not limit a response to a valid cookie). The peer of
# dnspki's hardened entries in bench/flood.sh.
#   knot-hardened.sh PORT RUNDIR [RATE [SLIP]]     (default 20 2; RATE 0: no modules)
# Writes RUNDIR/knot.conf and execs knotd in the foreground (knot.sh).
set -euo pipefail
PORT=${1:?port}; RUNDIR=${2:?rundir}; RATE=${3:-20}; SLIP=${4:-2}
[ "$RATE" = 0 ] && exec "$(dirname "$0")/knot.sh" "$PORT" "$RUNDIR" unsigned
KNOT_RRL_RATE=$RATE KNOT_RRL_SLIP=$SLIP exec "$(dirname "$0")/knot.sh" "$PORT" "$RUNDIR" hardened
