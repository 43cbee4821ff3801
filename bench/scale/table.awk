# Table of bench/scale.sh: reads "SIZE SERVER METRIC VALUE" lines; prints a
# row per measurement and size, a column per server, and dnspki's ratio to
# Knot (x: dnspki's figure divided by Knot's).
#   awk -v sizes="10000 100000" -v servers="dnspki knot nsd" -f table.awk results.raw
function label(n) {
	if (n % 1000000 == 0) return (n / 1000000) "M"
	if (n % 1000 == 0) return (n / 1000) "k"
	return n
}
function get(n, s, m) { return ((n, s, m) in v) ? v[n, s, m] : "" }
# A cell shows one or more metrics (names separated by spaces), " / " between.
function cell(n, s, ms,   k, m, i, x, out, any) {
	k = split(ms, m, " ")
	for (i = 1; i <= k; i++) {
		x = get(n, s, m[i])
		if (x != "") any = 1
		out = out (i > 1 ? " / " : "") (x == "" ? "-" : x)
	}
	return any ? out : "-"
}
function num(x) { return (x ~ /^[0-9.]+$/) ? x + 0 : -1 }
function ratio(n, ms,   k, m, i, x, y, out) {
	k = split(ms, m, " ")
	for (i = 1; i <= k; i++) {
		x = num(get(n, "dnspki", m[i])); y = num(get(n, "knot", m[i]))
		out = out (i > 1 ? " / " : "") ((x >= 0 && y > 0) ? sprintf("%.2fx", x / y) : "-")
	}
	return out
}
function row(title, n, ms, knotref,   i, line) {
	line = sprintf("%-40s", title " " label(n))
	for (i = 1; i <= ns; i++) line = line sprintf(" %-24s", cell(n, srv[i], ms))
	line = line sprintf(" %-22s", knotref ? ratio(n, ms) : "-")
	print line
}
BEGIN { nz = split(sizes, sz, " "); ns = split(servers, srv, " ") }
{ v[$1, $2, $3] = $4 }
END {
	head = sprintf("%-40s", "")
	for (i = 1; i <= ns; i++) head = head sprintf(" %-24s", srv[i])
	print head sprintf(" %-22s", "dnspki/knot")
	for (z = 1; z <= nz; z++) {
		n = sz[z]
		row("first start s / CPU s / peak RSS MiB", n, "start_s start_cpu start_hwm_mb", 1)
		row("restart s / CPU s / peak RSS MiB", n, "restart_s restart_cpu restart_hwm_mb", 0)
		row("RSS settled after start MiB", n, "rss_mb", 1)
		row("UPDATE p50 / p99 ms", n, "upd_p50_ms upd_p99_ms", 1)
		row("QPS idle / during UPDATEs", n, "qps_idle qps_upd", 1)
		row("  per CPU-second of the server", n, "qpc_idle qpc_upd", 1)
		row("AXFR after UPDATE: 1st msg / last ms", n, "xfr_first_ms xfr_all_ms", 1)
		row("IXFR at a Knot secondary ms", n, "ixfr_lag_ms", 1)
		row("IXFR at a dnspki secondary ms", n, "dixfr_lag_ms", 1)
		row("signed QPS / per CPU-s / peak RSS MiB", n, "sqps sqpc s_hwm_mb", 1)
		if (get(n, "dnspki", "flood_max_mb") != "")
			row("NXDOMAIN flood: RSS before / max MiB, QPS", n, "flood_before_mb flood_max_mb flood_qps", 0)
		print ""
	}
	# Ratios within a server: queries during UPDATEs vs idle; signed QPS
	# at the largest size vs the smallest; restart vs Knot's first start.
	lo = sz[1]; hi = sz[nz]
	for (i = 1; i <= ns; i++) {
		s = srv[i]; line = sprintf("%-8s", s)
		for (z = 1; z <= nz; z++) {
			x = num(get(sz[z], s, "upd_ratio")); y = num(get(sz[z], s, "upd_cratio"))
			if (x >= 0) line = line sprintf("  QPS during UPDATEs / idle %s: %.2f (per CPU-s %.2f; median of pairs)", label(sz[z]), x, y)
		}
		x = num(get(hi, s, "sqps")); y = num(get(lo, s, "sqps"))
		if (x >= 0 && y > 0 && nz > 1) line = line sprintf("  signed QPS %s / %s: %.2f", label(hi), label(lo), x / y)
		x = num(get(hi, s, "sqpc")); y = num(get(lo, s, "sqpc"))
		if (x >= 0 && y > 0 && nz > 1) line = line sprintf(" (per CPU-s %.2f)", x / y)
		x = num(get(hi, s, "spair_ratio")); y = num(get(hi, s, "spair_cratio"))
		if (x >= 0) line = line sprintf("; side by side %.2f (per CPU-s %.2f; median of pairs)", x, y)
		x = num(get(hi, s, "restart_cpu")); y = num(get(hi, "knot", "start_cpu"))
		if (x >= 0 && y > 0) line = line sprintf("  restart %s / Knot's first start, CPU: %.2f", label(hi), x / y)
		print line
	}
}
