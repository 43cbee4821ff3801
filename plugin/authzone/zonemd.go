package authzone

import (
	"fmt"

	"github.com/dnspki/dnspki/plugin/pkg/zonemd"
)

// Zone digests (RFC 8976): a zone with 'zone-digest' gets a ZONEMD the
// model computes (plugin/pkg/zonemodel, digest.go); a secondary verifies
// the ZONEMD of every transfer that carries one (plugin/pkg/secondary).

// parseZoneDigest reads 'zone-digest [sha384|sha512]' (sha384 without an
// argument).
func parseZoneDigest(args []string) (uint8, error) {
	switch len(args) {
	case 0:
		return zonemd.HashSHA384, nil
	case 1:
		return zonemd.ParseHash(args[0])
	}
	return 0, fmt.Errorf("want 'zone-digest [sha384|sha512]', got %d arguments", len(args))
}
