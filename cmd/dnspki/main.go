// Command dnspki is CoreDNS built with the dnspki plugins and the stock
// plugins an authoritative deployment uses.
//
//	dnspki -conf Corefile      run the server
//	dnspki -plugins            list the plugins in this build
//	dnspki -version            print the dnspki and CoreDNS versions
//	dnspki SUBCOMMAND ...      run a helper subcommand (dnspki help lists them)
package main

import (
	"fmt"
	"os"
	"runtime"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	"github.com/dnspki/dnspki/plugin/pkg/cli"
)

func main() {
	if len(os.Args) > 1 {
		switch arg := os.Args[1]; arg {
		case "-version", "--version", "version":
			fmt.Printf("dnspki %s\nCoreDNS %s\n%s/%s, %s\n", cli.Version, coremain.CoreVersion, runtime.GOOS, runtime.GOARCH, runtime.Version())
			return
		case "help", "-h", "-help", "--help":
			fmt.Fprintf(os.Stderr, "usage: dnspki [-conf Corefile] [-plugins] [-version] [CoreDNS flags]\n       dnspki SUBCOMMAND [ARGS]\n\nsubcommands:\n")
			cli.Usage(os.Stderr)
			fmt.Fprintf(os.Stderr, "\nCoreDNS flags:\n")
			if arg == "help" {
				return
			}
		default:
			if cmd, ok := cli.Lookup(arg); ok {
				os.Exit(cmd.Run(os.Args[2:], os.Stdout, os.Stderr))
			}
		}
	}
	dnsserver.Directives = directives
	caddy.AppName = "dnspki"
	caddy.AppVersion = cli.Version + " (CoreDNS " + coremain.CoreVersion + ")"
	coremain.Run()
}
