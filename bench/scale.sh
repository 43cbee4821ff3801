#!/usr/bin/env bash
# How the cost of serving a zone grows with the zone: dnspki beside Knot DNS
# 3.2 and NSD 4.6, in one run, at several zone sizes (issue 16).
#
#   bench/scale.sh [SIZE...]                # default: 10000 100000 1000000 records
#   BEFORE_BIN=/path/dnspki bench/scale.sh  # also an older dnspki build ("before")
#
# For each size: a zone of A/AAAA/MX/TXT/CNAME records and 100k queries drawn
# from it (scale/genzone.awk, deterministic), then per server, each pinned to
# CPU 1 (clients, secondaries and probes on CPU 0), one at a time:
#   start      seconds from exec to the first SOA answer (fresh state), and the
#              peak RSS (VmHWM) by then
#   restart    dnspki only: the same with the state the first start stored
#   UPDATE     p50/p99 ms of UPDATEs at 20/s on one TCP connection, TSIG
#              hmac-sha256 (delete the _acme-challenge TXT RRset, add a value;
#              bench/cmd/updateload); Knot: an update ACL with the same key
#   QPS        dnsperf QPS idle, and while the UPDATEs run (ratio)
#   1st msg    ms from an AXFR request, right after one UPDATE, to the first
#              message of the transfer (bench/cmd/scaleprobe firstmsg)
#   IXFR       ms from an UPDATE answered by the primary to a Knot secondary,
#              and to a dnspki secondary (NOTIFY, IXFR), serving the new
#              serial; median of 5
#   signed     dnspki onlinesign vs Knot mod-onlinesign (one ECDSA P-256 CSK),
#              dnsperf with DO after the server settled (its CPU idle: dnspki
#              pre-signs in the background) and one pass over the queries
#              (caches warm); QPS and VmHWM
# QPS figures are the best of QPS_ROUNDS runs (the box is shared); idle and
# during UPDATEs run as UPD_PAIRS interleaved pairs, and the ratio is the
# median of the pairs' ratios.
#   flood      with FLOOD_SECONDS > 0, at the largest size: signed dnspki
#              under distinct random NXDOMAIN names (queries-nxdomain.sh)
#              for that long; its RSS before and the most during, against
#              the caches' configured bound (onlinesign cache-size)
# The table prints each dnspki figure with its ratio to Knot's.
#
#   signed pairs  after the sizes: dnspki signed at the smallest and the
#              largest size running side by side, SIGNED_PAIRS interleaved
#              pairs of passes, the median of the pairs' QPS ratios (the
#              per-size figures are minutes apart, and a shared box drifts)
# Knobs (defaults in brackets): QPS_SECONDS [10] UPD_SECONDS [10] QPS_ROUNDS [2] UPD_PAIRS [3] SIGNED_PAIRS [3]
# START_TIMEOUT [300] SETTLE_MAX [180] SERVER_CPUS [1] CLIENT_CPUS [0] FLOOD_SECONDS [0]
# SERVERS [dnspki knot nsd] PORT_BASE [15400]
# Results: $BENCH_OUT/scale/<timestamp>/ (summary.txt, results.raw, logs).
set -uo pipefail
# lib.sh builds stock CoreDNS for run.sh unless told where one is; not needed here.
export COREDNS_BIN=${COREDNS_BIN:-$(type -P true)}
. "$(dirname "$0")/lib.sh"

SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(10000 100000 1000000)
QPS_SECONDS=${QPS_SECONDS:-10}
UPD_SECONDS=${UPD_SECONDS:-10}
START_TIMEOUT=${START_TIMEOUT:-300}
SETTLE_MAX=${SETTLE_MAX:-180}
FLOOD_SECONDS=${FLOOD_SECONDS:-0}
QPS_ROUNDS=${QPS_ROUNDS:-2}
UPD_PAIRS=${UPD_PAIRS:-3}
SIGNED_PAIRS=${SIGNED_PAIRS:-3}
SERVER_CPUS=${SERVER_CPUS:-1}
CLIENT_CPUS=${CLIENT_CPUS:-0}
PORT_BASE=${PORT_BASE:-15400}
read -r -a SERVERS <<< "${SERVERS:-dnspki knot nsd}"
[ -n "${BEFORE_BIN:-}" ] && SERVERS+=(before)
P_SRV=$PORT_BASE P_SEC=$((PORT_BASE + 1))
UKEY_SECRET="c2NhbGUtYmVuY2gtdXBkYXRlLWtleS0wMTIzNDU2Nzg="
XKEY_SECRET="c2NhbGUtYmVuY2gteGZyLWtleS0wMTIzNDU2Nzg5YWI="
UKEY="hmac-sha256:scale-key.:$UKEY_SECRET"
XKEY="hmac-sha256:xfr-key.:$XKEY_SECRET"

for t in dnsperf knotd nsd kdig taskset; do
	command -v $t >/dev/null || die "$t missing: run bench/install.sh"
done
for p in $P_SRV $P_SEC; do port_free $p || die "port $p is busy (PORT_BASE=...)"; done

REPO=$(cd "$BENCH_DIR/.." && pwd)
OUT=$BENCH_OUT/scale/$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUT" "$BENCH_OUT/bin"
DNSPKI_BIN=${DNSPKI_BIN:-$BENCH_OUT/bin/dnspki}
(cd "$REPO" && go build -o "$DNSPKI_BIN" ./cmd/dnspki && go build -o "$BENCH_OUT/bin/updateload" ./bench/cmd/updateload &&
	go build -o "$BENCH_OUT/bin/scaleprobe" ./bench/cmd/scaleprobe) || die "build failed"
PROBE=$BENCH_OUT/bin/scaleprobe
RAW=$OUT/results.raw
PIN_SRV=(taskset -c "$SERVER_CPUS") PIN_CLI=(taskset -c "$CLIENT_CPUS")

put() { echo "$1 $2 $3 $4" >> "$RAW"; } # put SIZE SERVER METRIC VALUE
kv() { awk -v k="$2" '/^RESULT/ { for (i = 2; i <= NF; i++) { split($i, a, "="); if (a[1] == k) print a[2] } }' "$1"; }
mb() { awk -v k="$2" '$1 == k":" { printf "%.0f", $2 / 1024 }' /proc/"$1"/status 2>/dev/null; }

# settle PID: wait until the server's CPU stays below 5% for 2 s (at most SETTLE_MAX s).
settle() {
	local pid=$1 i a b quiet=0
	for ((i = 0; i < SETTLE_MAX; i++)); do
		a=$(cpu_ticks "$pid"); sleep 1; b=$(cpu_ticks "$pid")
		if [ $((b - a)) -le 5 ]; then quiet=$((quiet + 1)); [ $quiet -ge 2 ] && return 0; else quiet=0; fi
	done
	log "  still busy after ${SETTLE_MAX}s"
}

# Config writers: write_<server> RUNDIR ZONEFILE MODE (unsigned|signed)
write_dnspki() {
	local rd=$1 zf=$2 mode=$3
	mkdir -p "$rd"
	if [ "$mode" = signed ]; then
		cat > "$rd/Corefile" <<-EOF
		$ZONE_NAME:$P_SRV {
		    bind $BENCH_ADDR
		    authzone $ZONE_NAME {
		        file $zf
		        state $rd/state
		    }
		    onlinesign $ZONE_NAME {
		        keys $rd/state/keys
		    }
		}
		EOF
		return
	fi
	cat > "$rd/Corefile" <<-EOF
	$ZONE_NAME:$P_SRV {
	    bind $BENCH_ADDR
	    acmechallenge $ZONE_NAME {
	        key scale-key. hmac-sha256 $UKEY_SECRET
	        grant scale-key. subdomain $ZONE_NAME
	        max_records 100000
	    }
	    authzone $ZONE_NAME {
	        file $zf
	        state $rd/state
	        key xfr-key. hmac-sha256 $XKEY_SECRET
	        transfer to $BENCH_ADDR key xfr-key.
	        notify $BENCH_ADDR:$P_SEC key xfr-key.
	    }
	}
	EOF
}

knot_common() { # knot_common RUNDIR PORT
	cat <<-EOF
	server:
	    rundir: "$1/run"
	    listen: $BENCH_ADDR@$2
	    udp-workers: 1
	    tcp-workers: 1
	    background-workers: 1
	log:
	  - target: "$1/knot.log"
	    any: info
	database:
	    storage: "$1/storage"
	key:
	  - id: scale-key.
	    algorithm: hmac-sha256
	    secret: $UKEY_SECRET
	  - id: xfr-key.
	    algorithm: hmac-sha256
	    secret: $XKEY_SECRET
	EOF
}

write_knot() {
	local rd=$1 zf=$2 mode=$3
	mkdir -p "$rd/run" "$rd/storage"
	cp "$zf" "$rd/storage/$ZONE_NAME.zone"
	{
		knot_common "$rd" $P_SRV
		cat <<-EOF
		remote:
		  - id: secondary
		    address: $BENCH_ADDR@$P_SEC
		    key: xfr-key.
		acl:
		  - id: update
		    key: scale-key.
		    action: update
		  - id: transfer
		    key: xfr-key.
		    action: transfer
		policy:
		  - id: scale
		    algorithm: ecdsap256sha256
		    single-type-signing: on
		mod-onlinesign:
		  - id: scale
		    policy: scale
		template:
		  - id: default
		    storage: "$rd/storage"
		    zonefile-sync: -1
		    zonefile-load: whole
		    journal-content: changes
		zone:
		  - domain: $ZONE_NAME
		    file: $ZONE_NAME.zone
		EOF
		if [ "$mode" = signed ]; then
			echo "    module: mod-onlinesign/scale"
		else
			echo "    acl: [update, transfer]"
			echo "    notify: secondary"
		fi
	} > "$rd/knot.conf"
}

write_secondary() { # a Knot secondary of the primary on P_SRV, on P_SEC
	local rd=$1
	mkdir -p "$rd/run" "$rd/storage"
	{
		knot_common "$rd" $P_SEC
		cat <<-EOF
		remote:
		  - id: primary
		    address: $BENCH_ADDR@$P_SRV
		    key: xfr-key.
		acl:
		  - id: notify
		    address: $BENCH_ADDR
		    key: xfr-key.
		    action: notify
		template:
		  - id: default
		    storage: "$rd/storage"
		    zonefile-sync: -1
		    journal-content: none
		zone:
		  - domain: $ZONE_NAME
		    master: primary
		    acl: notify
		EOF
	} > "$rd/knot.conf"
}

write_dnspki_secondary() { # a dnspki secondary of the primary on P_SRV, on P_SEC
	local rd=$1
	mkdir -p "$rd"
	cat > "$rd/Corefile" <<-EOF
	$ZONE_NAME:$P_SEC {
	    bind $BENCH_ADDR
	    authzone $ZONE_NAME {
	        primary $BENCH_ADDR:$P_SRV key xfr-key.
	        key xfr-key. hmac-sha256 $XKEY_SECRET
	        state $rd/state
	    }
	}
	EOF
}

# start SERVER RUNDIR ZONEFILE MODE: starts the server pinned, sets PID,
# STARTED (seconds to the first SOA answer, or "timeout") and STARTCPU (the
# CPU seconds the server used by then: what the start cost on a shared box).
start() {
	local srv=$1 rd=$2 zf=$3 mode=$4
	local t0
	t0=$(date +%s%N)
	"${PIN_CLI[@]}" "$PROBE" waitsoa -server "$BENCH_ADDR:$P_SRV" -zone "$ZONE_NAME" -timeout "${START_TIMEOUT}s" -since "$t0" > "$rd.probe" 2>&1 &
	local probe=$!
	case $srv in
	dnspki | before)
		local bin=$DNSPKI_BIN
		[ "$srv" = before ] && bin=$BEFORE_BIN
		(cd "$rd" && exec "${PIN_SRV[@]}" "$bin" -conf "$rd/Corefile") >> "$rd/server.log" 2>&1 &
		;;
	knot) "${PIN_SRV[@]}" knotd -c "$rd/knot.conf" -s "$rd/run/knot.sock" >> "$rd/server.log" 2>&1 & ;;
	nsd) DATA_DIR=$(dirname "$zf") NSD_SERVER_COUNT=1 "${PIN_SRV[@]}" "$BENCH_DIR/servers/nsd.sh" $P_SRV "$rd" unsigned >> "$rd.log" 2>&1 & ;;
	esac
	PID=$!
	wait $probe
	STARTED=$(kv "$rd.probe" seconds)
	[ -n "$STARTED" ] || STARTED=error
	STARTCPU=$(cpu_ticks "$PID" | awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", $1 / hz}')
}

stop() { stop_pid "$PID"; PID=; }

perf() { # perf SECONDS [-D]: "QPS QPS-PER-CPU-SECOND" of dnsperf against the server
	local a b out
	a=$(cpu_ticks "$PID")
	out=$("${PIN_CLI[@]}" dnsperf -s "$BENCH_ADDR" -p $P_SRV -d "$QFILE" -c 4 -T 1 -q 100 -t 2 -l "$1" "${@:2}" 2>&1)
	b=$(cpu_ticks "$PID")
	awk -v cpu=$((b - a)) -v hz="$(getconf CLK_TCK)" '/Queries completed:/ {n = $3} /Queries per second:/ {q = $4}
		END {printf "%.0f %.0f", q, (cpu > 0) ? n / (cpu / hz) : 0}' <<< "$out"
}

bestperf() { # bestperf SECONDS [-D]: the best QPS (and its per-CPU figure) of QPS_ROUNDS runs
	local r best="0 0" cur
	for ((r = 0; r < QPS_ROUNDS; r++)); do
		cur=$(perf "$@")
		[ "${cur%% *}" -gt "${best%% *}" ] && best=$cur
	done
	echo "$best"
}

updates() { # updates SECONDS OUTFILE: UPDATEs at 20/s on one connection
	"${PIN_CLI[@]}" "$BENCH_OUT/bin/updateload" -server "$BENCH_ADDR:$P_SRV" -zone "$ZONE_NAME." -key "$UKEY" -conns 1 -rate 20 -duration "${1}s" > "$2" 2>&1
}

# upd_pairs SIZE SERVER RUNDIR: QPS idle and while UPDATEs run, in
# UPD_PAIRS interleaved pairs (idle, then during), so that the other work of a
# shared box weighs on both alike; puts the best QPS of each kind and the
# median of the pairs' ratios (QPS and per CPU-second).
upd_pairs() {
	local n=$1 srv=$2 rd=$3 r qi ci qu cu up best_i=0 best_u=0 cbi=0 cbu=0 ratios="" cratios=""
	for ((r = 0; r < UPD_PAIRS; r++)); do
		read -r qi ci <<< "$(perf "$QPS_SECONDS")"
		updates $((QPS_SECONDS + 1)) "$rd.upd-q$r" &
		up=$!
		read -r qu cu <<< "$(perf "$QPS_SECONDS")"
		wait $up
		[ "$qi" -gt "$best_i" ] && best_i=$qi cbi=$ci
		[ "$qu" -gt "$best_u" ] && best_u=$qu cbu=$cu
		ratios+="$(awk -v a="$qu" -v b="$qi" 'BEGIN {if (b > 0) printf "%.3f", a / b}') "
		cratios+="$(awk -v a="$cu" -v b="$ci" 'BEGIN {if (b > 0) printf "%.3f", a / b}') "
	done
	put "$n" "$srv" qps_idle "$best_i"
	put "$n" "$srv" qpc_idle "$cbi"
	put "$n" "$srv" qps_upd "$best_u"
	put "$n" "$srv" qpc_upd "$cbu"
	put "$n" "$srv" upd_ratio "$(median $ratios)"
	put "$n" "$srv" upd_cratio "$(median $cratios)"
}

median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# bench_unsigned SIZE SERVER
bench_unsigned() {
	local n=$1 srv=$2 rd=$OUT/run/$1/$2
	log "size $n: $srv"
	mkdir -p "$(dirname "$rd")"
	case $srv in
	dnspki | before) write_dnspki "$rd" "$ZF" unsigned ;;
	knot) write_knot "$rd" "$ZF" unsigned ;;
	nsd) mkdir -p "$rd" ;;
	esac
	start "$srv" "$rd" "$ZF" unsigned
	put "$n" "$srv" start_s "$STARTED"
	put "$n" "$srv" start_cpu "$STARTCPU"
	if [ "$STARTED" = timeout ] || [ "$STARTED" = error ]; then
		log "  no answer within ${START_TIMEOUT}s"
		stop
		return
	fi
	put "$n" "$srv" start_hwm_mb "$(peak_rss_kb "$PID" | awk '{printf "%.0f", $1 / 1024}')"
	log "  started in ${STARTED}s"
	settle "$PID"
	put "$n" "$srv" rss_mb "$(mb "$PID" VmRSS)"
	if [ "$srv" = nsd ]; then
		read -r q c <<< "$(bestperf "$QPS_SECONDS")"
		put "$n" "$srv" qps_idle "$q"
		put "$n" "$srv" qpc_idle "$c"
	else
		upd_pairs "$n" "$srv" "$rd"
		updates "$UPD_SECONDS" "$rd.upd"
		put "$n" "$srv" upd_p50_ms "$(kv "$rd.upd" p50_ms)"
		put "$n" "$srv" upd_p99_ms "$(kv "$rd.upd" p99_ms)"
		put "$n" "$srv" upd_ok "$(kv "$rd.upd" accepted)"
		"${PIN_CLI[@]}" "$PROBE" firstmsg -server "$BENCH_ADDR:$P_SRV" -zone "$ZONE_NAME" -key "$XKEY" -ukey "$UKEY" -update > "$rd.xfr" 2>&1
		put "$n" "$srv" xfr_first_ms "$(kv "$rd.xfr" first_ms)"
		put "$n" "$srv" xfr_all_ms "$(kv "$rd.xfr" last_ms)"
		write_secondary "$rd.sec"
		"${PIN_CLI[@]}" knotd -c "$rd.sec/knot.conf" -s "$rd.sec/run/knot.sock" > "$rd.sec/server.log" 2>&1 &
		local sec=$!
		"${PIN_CLI[@]}" "$PROBE" ixfrlag -primary "$BENCH_ADDR:$P_SRV" -secondary "$BENCH_ADDR:$P_SEC" -zone "$ZONE_NAME" -ukey "$UKEY" -n 5 -timeout "${START_TIMEOUT}s" > "$rd.ixfr" 2>&1
		stop_pid $sec
		put "$n" "$srv" ixfr_lag_ms "$(kv "$rd.ixfr" lag_ms)"
		write_dnspki_secondary "$rd.dsec"
		(cd "$rd.dsec" && exec "${PIN_CLI[@]}" "$DNSPKI_BIN" -conf "$rd.dsec/Corefile") > "$rd.dsec/server.log" 2>&1 &
		sec=$!
		"${PIN_CLI[@]}" "$PROBE" ixfrlag -primary "$BENCH_ADDR:$P_SRV" -secondary "$BENCH_ADDR:$P_SEC" -zone "$ZONE_NAME" -ukey "$UKEY" -n 5 -timeout "${START_TIMEOUT}s" > "$rd.dixfr" 2>&1
		stop_pid $sec
		put "$n" "$srv" dixfr_lag_ms "$(kv "$rd.dixfr" lag_ms)"
	fi
	if [ "$srv" = dnspki ] || [ "$srv" = before ]; then
		stop
		start "$srv" "$rd" "$ZF" unsigned
		put "$n" "$srv" restart_s "$STARTED"
		put "$n" "$srv" restart_cpu "$STARTCPU"
		[ -n "$PID" ] && put "$n" "$srv" restart_hwm_mb "$(peak_rss_kb "$PID" | awk '{printf "%.0f", $1 / 1024}')"
		log "  restarted in ${STARTED}s"
	fi
	stop
}

# bench_signed SIZE SERVER
bench_signed() {
	local n=$1 srv=$2 rd=$OUT/run/$1/$2-signed
	log "size $n: $srv signed"
	mkdir -p "$(dirname "$rd")"
	case $srv in
	dnspki | before) write_dnspki "$rd" "$ZF" signed ;;
	knot) write_knot "$rd" "$ZF" signed ;;
	*) return ;;
	esac
	start "$srv" "$rd" "$ZF" signed
	if [ "$STARTED" = timeout ] || [ "$STARTED" = error ]; then
		stop
		return
	fi
	settle "$PID"
	"${PIN_CLI[@]}" dnsperf -s "$BENCH_ADDR" -p $P_SRV -d "$QFILE" -c 4 -T 1 -q 100 -t 2 -n 1 -D > /dev/null 2>&1 # warm: one pass
	read -r q c <<< "$(bestperf "$QPS_SECONDS" -D)"
	put "$n" "$srv" sqps "$q"
	put "$n" "$srv" sqpc "$c"
	put "$n" "$srv" s_hwm_mb "$(peak_rss_kb "$PID" | awk '{printf "%.0f", $1 / 1024}')"
	put "$n" "$srv" s_rss_mb "$(mb "$PID" VmRSS)"
	if [ "$FLOOD_SECONDS" -gt 0 ] && [ "$srv" = dnspki ] && [ "$n" = "${SIZES[-1]}" ]; then
		flood "$n" "$srv"
	fi
	stop
}

# flood SIZE SERVER: distinct random NXDOMAIN names with DO for FLOOD_SECONDS;
# RSS sampled every 5 s.
flood() {
	log "  NXDOMAIN flood, ${FLOOD_SECONDS}s"
	local nx=$OUT/data/queries-nxdomain.txt max=0 r i
	[ -f "$nx" ] || DATA_DIR=$OUT/data "$BENCH_DIR/queries-nxdomain.sh" 12000000 >&2
	put "$1" "$2" flood_before_mb "$(mb "$PID" VmRSS)"
	"${PIN_CLI[@]}" dnsperf -s "$BENCH_ADDR" -p $P_SRV -d "$nx" -c 4 -T 1 -q 100 -t 2 -D -l "$FLOOD_SECONDS" > "$OUT/flood.txt" 2>&1 &
	local fp=$!
	for ((i = 0; i < FLOOD_SECONDS; i += 5)); do
		sleep 5
		r=$(mb "$PID" VmRSS)
		[ -n "$r" ] && [ "$r" -gt "$max" ] && max=$r
	done
	wait $fp
	put "$1" "$2" flood_max_mb "$max"
	put "$1" "$2" flood_qps "$(awk '/Queries per second:/ {printf "%.0f", $4}' "$OUT/flood.txt")"
}

# signed_pairs: signed QPS at the largest size against the smallest, robust
# to a shared box whose speed drifts over minutes (the per-size runs above are
# minutes apart): dnspki signed at both sizes at once, both pinned to the
# server CPUs and each idle while the other is measured, then SIGNED_PAIRS
# interleaved pairs of passes (smallest, largest); the median of the pairs'
# ratios (QPS and per CPU-second).
signed_pairs() {
	local lo=${SIZES[0]} hi=${SIZES[-1]} r ql cl qh ch ratios="" cratios=""
	local p_lo=$P_SRV p_hi=$((PORT_BASE + 2)) pid_lo pid_hi q_lo q_hi
	local rd_lo=$OUT/run/pairs/$lo rd_hi=$OUT/run/pairs/$hi
	q_lo=$OUT/data/$lo/queries.txt q_hi=$OUT/data/$hi/queries.txt
	port_free $p_hi || { log "signed pairs: port $p_hi busy, skipped"; return; }
	log "signed pairs: $lo and $hi side by side, $SIGNED_PAIRS pairs"
	mkdir -p "$OUT/run/pairs"
	P_SRV=$p_hi
	write_dnspki "$rd_hi" "$OUT/data/$hi/$ZONE_NAME.zone" signed
	start dnspki "$rd_hi" "$OUT/data/$hi/$ZONE_NAME.zone" signed
	pid_hi=$PID PID2=$PID
	P_SRV=$p_lo
	write_dnspki "$rd_lo" "$OUT/data/$lo/$ZONE_NAME.zone" signed
	start dnspki "$rd_lo" "$OUT/data/$lo/$ZONE_NAME.zone" signed
	pid_lo=$PID
	settle "$pid_hi"
	settle "$pid_lo"
	for r in lo hi; do # warm: one pass each
		if [ $r = lo ]; then P_SRV=$p_lo QFILE=$q_lo; else P_SRV=$p_hi QFILE=$q_hi; fi
		"${PIN_CLI[@]}" dnsperf -s "$BENCH_ADDR" -p $P_SRV -d "$QFILE" -c 4 -T 1 -q 100 -t 2 -n 1 -D > /dev/null 2>&1
	done
	for ((r = 0; r < SIGNED_PAIRS; r++)); do
		P_SRV=$p_lo PID=$pid_lo QFILE=$q_lo
		read -r ql cl <<< "$(perf "$QPS_SECONDS" -D)"
		P_SRV=$p_hi PID=$pid_hi QFILE=$q_hi
		read -r qh ch <<< "$(perf "$QPS_SECONDS" -D)"
		ratios+="$(awk -v a="$qh" -v b="$ql" 'BEGIN {if (b > 0) printf "%.3f", a / b}') "
		cratios+="$(awk -v a="$ch" -v b="$cl" 'BEGIN {if (b > 0) printf "%.3f", a / b}') "
		log "  pair $((r + 1)): $lo $ql QPS, $hi $qh QPS"
	done
	put "$hi" dnspki spair_ratio "$(median $ratios)"
	put "$hi" dnspki spair_cratio "$(median $cratios)"
	stop_pid "$pid_hi"; PID2=
	PID=$pid_lo; stop
	P_SRV=$PORT_BASE
}

PID= PID2=
trap 'stop_pid "$PID"; stop_pid "$PID2"' EXIT
for n in "${SIZES[@]}"; do
	D=$OUT/data/$n
	mkdir -p "$D"
	ZF=$D/$ZONE_NAME.zone QFILE=$D/queries.txt
	awk -v RECORDS="$n" -v ORIGIN="$ZONE_NAME" -v QUERIES=100000 -v SEED=42 -v ZONE="$ZF" -v QFILE="$QFILE" \
		-f "$BENCH_DIR/scale/genzone.awk" > "$D/gen.txt" || die "zone generator failed"
	log "size $n: $(cat "$D/gen.txt")"
	for srv in "${SERVERS[@]}"; do bench_unsigned "$n" "$srv"; done
	for srv in "${SERVERS[@]}"; do bench_signed "$n" "$srv"; done
done
if [ ${#SIZES[@]} -gt 1 ] && [ "$SIGNED_PAIRS" -gt 0 ] && [[ " ${SERVERS[*]} " == *" dnspki "* ]]; then
	signed_pairs
fi

{
	echo "date: $(date -Is)  host: $(uname -r)  cpus: $(nproc)  load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "servers pinned to CPU $SERVER_CPUS; clients, probes and the Knot secondary on CPU $CLIENT_CPUS"
	echo "dnspki: $DNSPKI_BIN ($(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null))${BEFORE_BIN:+; before: $BEFORE_BIN}"
	echo "knotd $(knotd --version 2>&1 | awk '{print $NF}'), nsd $(nsd -v 2>&1 | awk 'NR==1 {print $NF}')"
	echo
	awk -v sizes="${SIZES[*]}" -v servers="${SERVERS[*]}" -f "$BENCH_DIR/scale/table.awk" "$RAW"
} > "$OUT/summary.txt"
cat "$OUT/summary.txt"
log "details: $OUT"
