# dnspki entries. Sourced by run.sh. The binary is built from this checkout
# into $BENCH_OUT/bin/dnspki (override with DNSPKI_BIN).
DNSPKI_REPO=$(cd "$BENCH_DIR/.." && pwd)
if [ -z "${DNSPKI_BIN:-}" ]; then
	DNSPKI_BIN=$BENCH_OUT/bin/dnspki
	mkdir -p "$BENCH_OUT/bin"
	(cd "$DNSPKI_REPO" && go build -o "$DNSPKI_BIN" ./cmd/dnspki) >&2 || die "building dnspki failed"
fi
start_dnspki_unsigned() { exec "$S/coredns.sh" "$1" "$2" "$CF/dnspki-unsigned.Corefile" "$DNSPKI_BIN"; }
register dnspki-unsigned unsigned start_dnspki_unsigned
start_dnspki_acme() { exec "$S/coredns.sh" "$1" "$2" "$CF/dnspki-acme.Corefile" "$DNSPKI_BIN"; }
register dnspki-acme unsigned start_dnspki_acme

# dnspki-tlsa: the same zone with the tlsa plugin publishing the TLSA records
# of www1..www50 from a certificate (and a staged next key) made here.
start_dnspki_tlsa() {
	local d=$2/certs/www
	mkdir -p "$d"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/privkey.pem" \
		-out "$d/fullchain.pem" -days 90 -subj /CN=www1.bench.test >/dev/null 2>&1 || die "openssl failed"
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/privkey.next.pem" 2>/dev/null
	exec "$S/coredns.sh" "$1" "$2" "$CF/dnspki-tlsa.Corefile" "$DNSPKI_BIN"
}
register dnspki-tlsa unsigned start_dnspki_tlsa

start_dnspki_signed() { exec "$S/coredns.sh" "$1" "$2" "$CF/dnspki-signed.Corefile" "$DNSPKI_BIN"; }
register dnspki-signed online start_dnspki_signed

# dnspki-views: split horizon (horizon + two views); dnsperf's address falls
# in the second view. The internal view's file is written here.
start_dnspki_views() {
	mkdir -p "$2"
	{
		echo "\$ORIGIN $ZONE_NAME."
		echo "\$TTL 300"
		for i in $(seq 1 50); do
			echo "intra$i IN A 10.0.$((i / 250)).$((i % 250 + 1))"
		done
		echo "www1 IN A 10.9.9.1"
	} > "$2/internal.zone"
	exec "$S/coredns.sh" "$1" "$2" "$CF/dnspki-views.Corefile" "$DNSPKI_BIN"
}
register dnspki-views unsigned start_dnspki_views

# DNS Cookies and response rate limiting on the normal mix (bench/cookie.sh
# runs them with dnsperf sending no cookie, a client cookie, a valid cookie).
start_dnspki_cookie() { exec "$S/coredns.sh" "$1" "$2" "$CF/dnspki-cookie.Corefile" "$DNSPKI_BIN"; }
register dnspki-cookie unsigned start_dnspki_cookie
start_dnspki_rrl() { exec "$S/coredns.sh" "$1" "$2" "$CF/dnspki-rrl.Corefile" "$DNSPKI_BIN"; }
register dnspki-rrl unsigned start_dnspki_rrl
start_dnspki_hardened() { exec "$S/coredns.sh" "$1" "$2" "$CF/dnspki-hardened.Corefile" "$DNSPKI_BIN"; }
register dnspki-hardened unsigned start_dnspki_hardened
