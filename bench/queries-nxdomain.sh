#!/usr/bin/env bash
# Write $DATA_DIR/queries-nxdomain.txt: random NXDOMAIN names under the bench
# zone, all different (a 15 s run at 100k QPS never repeats one), so that an
# online signer must sign a fresh denial for every query: no cache can help.
#
#   queries-nxdomain.sh [LINES] [SEED]     (defaults: 3000000, 7)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
N=${1:-3000000}
SEED=${2:-7}
mkdir -p "$DATA_DIR"
awk -v n="$N" -v seed="$SEED" -v zone="$ZONE_NAME" '
BEGIN {
	srand(seed)
	a = "abcdefghijklmnopqrstuvwxyz0123456789"
	for (q = 0; q < n; q++) {
		s = "nx"
		for (i = 0; i < 14; i++) s = s substr(a, int(rand() * 36) + 1, 1)
		printf "%s.%s A\n", s, zone
	}
}' > "$NXDOMAIN_QUERY_FILE"
log "queries: $NXDOMAIN_QUERY_FILE ($(wc -l < "$NXDOMAIN_QUERY_FILE") lines, $(sort -u "$NXDOMAIN_QUERY_FILE" | wc -l) distinct)"
