package harness

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// StartBind runs BIND 9 (named -f, foreground) on 127.0.0.1:port (0: a free port) with
// the given zones, its configuration and state in a new directory. It logs
// to its output: transfers in at debug level 3 (so IXFR and AXFR can be told
// apart), transfers out, NOTIFY and updates at info. Primaries allow
// updates with the zone's Update key (journaled, so IXFR out works) and
// notify only the listed secondaries, at once (notify-delay 0).
func StartBind(t testing.TB, port int, zones ...PeerZone) *Peer {
	t.Helper()
	bins := Need(t, "named")
	dir := t.TempDir()
	if port == 0 {
		port = FreePort(t)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `options {
	directory "%[1]s";
	pid-file "%[1]s/named.pid";
	session-keyfile "%[1]s/session.key";
	managed-keys-directory "%[1]s";
	listen-on port %[2]d { 127.0.0.1; };
	listen-on-v6 { none; };
	recursion no;
	dnssec-validation no;
	notify explicit;
	notify-delay 0;
	minimal-responses yes;
};
controls { };
logging {
	channel out { stderr; severity debug 3; print-time yes; print-category yes; print-severity yes; };
	channel info { stderr; severity info; print-time yes; print-category yes; print-severity yes; };
	category xfer-in { out; };
	category xfer-out { info; };
	category notify { info; };
	category update { info; };
	category general { info; };
	category default { info; };
};
`, dir, port)
	for _, k := range peerKeys(zones) {
		fmt.Fprintf(&b, "key \"%s\" { algorithm %s; secret \"%s\"; };\n", k.Name, k.Algorithm, k.Secret)
	}
	for _, z := range zones {
		file := zoneFileName(dir, z)
		fmt.Fprintf(&b, "zone \"%s\" {\n\tfile \"%s\";\n", z.Name, file)
		if z.secondary() {
			h, p := splitHostPort(t, z.Primary)
			key := ""
			if z.PrimaryKey != nil {
				key = fmt.Sprintf(" key \"%s\"", z.PrimaryKey.Name)
			}
			via := ""
			if z.PrimaryVia != "" {
				via = fmt.Sprintf("\ttransfer-source %s;\n", z.PrimaryVia)
			}
			fmt.Fprintf(&b, "\ttype secondary;\n\tprimaries { %s port %d%s; };\n%s};\n", h, p, key, via)
			continue
		}
		writeFile(t, file, z.File)
		b.WriteString("\ttype primary;\n")
		if z.Transfer != nil {
			fmt.Fprintf(&b, "\tallow-transfer { key \"%s\"; };\n", z.Transfer.Name)
		} else {
			b.WriteString("\tallow-transfer { any; };\n")
		}
		if z.Update != nil {
			fmt.Fprintf(&b, "\tallow-update { key \"%s\"; };\n", z.Update.Name)
		}
		if len(z.Notify) > 0 {
			key := ""
			if z.NotifyKey != nil {
				key = fmt.Sprintf(" key \"%s\"", z.NotifyKey.Name)
			}
			b.WriteString("\talso-notify { " + fmtAddrs(z.Notify, func(h string, p int) string {
				return fmt.Sprintf("%s port %d%s; ", h, p, key)
			}, t) + "};\n")
		}
		b.WriteString("};\n")
	}
	conf := filepath.Join(dir, "named.conf")
	writeFile(t, conf, b.String())
	p := Start(t, "named", []string{bins[0], "-f", "-c", conf, "-n", "1"}, StartOpts{Dir: dir})
	return &Peer{Proc: p, Kind: "bind", Dir: dir, Port: port, Addr: Addr(port)}
}
