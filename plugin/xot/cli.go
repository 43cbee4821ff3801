package xot

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"os"

	"github.com/dnspki/dnspki/plugin/pkg/cli"
	"github.com/dnspki/dnspki/plugin/pkg/xotls"
)

func init() {
	cli.Register(cli.Command{
		Name:    "spki",
		Summary: "spki CERT.pem: print the SPKI pin of a certificate (for 'tls-spki' and 'client-spki')",
		Run:     runSPKI,
	})
}

// runSPKI prints the SPKI pin of the first certificate of each PEM file.
func runSPKI(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: dnspki spki CERT.pem...")
		return 2
	}
	status := 0
	for _, path := range args {
		pin, err := filePin(path)
		if err != nil {
			fmt.Fprintf(stderr, "dnspki spki: %s: %v\n", path, err)
			status = 1
			continue
		}
		fmt.Fprintln(stdout, pin)
	}
	return status
}

func filePin(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return "", fmt.Errorf("no PEM certificate")
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return "", err
		}
		return xotls.Pin(c), nil
	}
}
