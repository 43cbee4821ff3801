#!/usr/bin/env bash
# Zone transfer benchmarks (not query QPS), as Go benchmarks in test/xfr:
#   BenchmarkPropagation  time from a change committed on dnspki to Knot, BIND,
#                         NSD and dnspki (TSIG secondaries, notified) answering it:
#                         p50/p95/max per secondary, one change a second
#   BenchmarkAXFR         TSIG-signed AXFR of 100 000 records: records/s
#   BenchmarkSignedAXFR   signed transfer (NSEC chain) of 100 000 names: first
#                         (cold), repeated (cached) and after a change
#
#   bench/xfr.sh [ITERATIONS]     (default 20)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20}
exec go test -count=1 -run XXX -bench 'Propagation|AXFR' -benchtime "${N}x" ./test/xfr/
