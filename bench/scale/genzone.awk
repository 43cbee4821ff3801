# Zone generator of bench/scale.sh: a zone of about RECORDS records of types
# A, AAAA, MX, TXT and CNAME for ORIGIN, and a dnsperf query file of QUERIES
# lines drawn from it (seeded, deterministic).
#
#   awk -v RECORDS=100000 -v ORIGIN=bench.test -v QUERIES=100000 -v SEED=42 \
#       -v ZONE=out.zone -v QFILE=out.queries -f genzone.awk
#
# Host i (1, 2, ...): hI A (always), AAAA (even i), TXT (every 4th), MX
# (every 5th, pointing at another host), and an alias cI CNAME hI (every 6th).
# Every 8th host is one label deeper, under gK (K = i mod 32: empty
# non-terminals). Hosts are written in numeric order, which is not the
# canonical DNS order (h10 sorts before h2).
# Queries: 60% A/AAAA/TXT/MX of existing hosts, 5% CNAME aliases, 20%
# NXDOMAIN (names that do not exist), 15% NODATA (AAAA of odd hosts, CAA).
function host(i) { return (i % 8 == 0) ? "h" i ".g" (i % 32) : "h" i }
BEGIN {
	srand(SEED)
	n = 0
	print "$ORIGIN " ORIGIN "." > ZONE
	print "$TTL 3600" > ZONE
	print "@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300" > ZONE
	print "@ IN NS ns1" > ZONE
	print "@ IN NS ns2" > ZONE
	print "@ IN A 192.0.2.1" > ZONE
	print "@ IN MX 10 h1" > ZONE
	print "ns1 IN A 192.0.2.53" > ZONE
	print "ns2 IN A 192.0.2.54" > ZONE
	n = 8
	for (i = 1; n < RECORDS; i++) {
		h = host(i)
		printf "%s IN A 10.%d.%d.%d\n", h, int(i / 65536) % 256, int(i / 256) % 256, i % 256 > ZONE; n++
		if (i % 2 == 0) { printf "%s IN AAAA 2001:db8::%x:%x\n", h, int(i / 65536), i % 65536 > ZONE; n++ }
		if (i % 4 == 0) { printf "%s IN TXT \"v=spf1 ip4:10.%d.%d.0/24 -all\" \"host %d\"\n", h, int(i / 65536) % 256, int(i / 256) % 256, i > ZONE; n++ }
		if (i % 5 == 0) { printf "%s IN MX 10 %s\n", h, host(i > 1 ? i - 1 : 1) > ZONE; n++ }
		if (i % 6 == 0) { printf "c%d IN CNAME %s\n", i, h > ZONE; n++ }
	}
	hosts = i - 1
	close(ZONE)
	for (q = 0; q < QUERIES; q++) {
		r = rand(); i = 1 + int(rand() * hosts)
		if (r < 0.30) t = "A"
		else if (r < 0.45) { t = "AAAA"; if (i % 2) i++ }
		else if (r < 0.53) { t = "TXT"; i = i - i % 4 + 4 }
		else if (r < 0.60) { t = "MX"; i = i - i % 5 + 5 }
		else if (r < 0.65) { i = i - i % 6 + 6; if (i > hosts) i = 6; printf "c%d.%s. A\n", i, ORIGIN > QFILE; continue }
		else if (r < 0.85) { printf "nx%d-%d.%s. A\n", i, int(rand() * 1000000), ORIGIN > QFILE; continue }
		else if (r < 0.95) { t = "AAAA"; if (i % 2 == 0) i++ }
		else t = "CAA"
		if (i > hosts) i = 1
		printf "%s.%s. %s\n", host(i), ORIGIN, t > QFILE
	}
	close(QFILE)
	printf "%d records, %d hosts\n", n, hosts
}
