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
start_dnspki_signed() { exec "$S/coredns.sh" "$1" "$2" "$CF/dnspki-signed.Corefile" "$DNSPKI_BIN"; }
register dnspki-signed online start_dnspki_signed
