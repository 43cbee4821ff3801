package authzone

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/dnspki/dnspki/plugin/pkg/atomicfile"
)

// The member list of a consumed catalog, as the consumer last served it:
// state/catalogs/<catalog>.members, one "zone id" line per member. After a
// restart it tells which unique ID a member was served under (a duplicate
// listing keeps it, RFC 9432 §4.1) and which members the catalog dropped
// while dnspki was down, whose stored state is then removed. The members'
// data are in their own zones' stores; this file holds no records.

func membersFile(stateDir, catalog string) string {
	return filepath.Join(stateDir, "catalogs", strings.TrimSuffix(catalog, ".")+".members")
}

// loadMembers reads the member list (zone -> ID); a missing file is an empty list.
func loadMembers(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		fields := strings.Fields(sc.Text())
		if len(fields) != 2 {
			return nil, fmt.Errorf("%s:%d: want 'ZONE ID'", path, n)
		}
		out[fields[0]] = fields[1]
	}
	return out, sc.Err()
}

// saveMembers writes the member list whole (a new file renamed over the old).
func saveMembers(path string, members map[string]string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	zones := make([]string, 0, len(members))
	for z := range members {
		zones = append(zones, z)
	}
	sort.Strings(zones)
	var b strings.Builder
	for _, z := range zones {
		fmt.Fprintf(&b, "%s %s\n", z, members[z])
	}
	return atomicfile.Write(path, []byte(b.String()), 0o600)
}
