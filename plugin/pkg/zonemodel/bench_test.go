package zonemodel

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// Cost of the model against the size of the zone (bench/scale.sh measures
// the server): zones of that many hosts.
var benchSizes = []int{10000, 100000}

// BenchmarkLookup answers existing names, names below an empty non-terminal
// and names that do not exist.
func BenchmarkLookup(b *testing.B) {
	for _, n := range benchSizes {
		z, _, _ := openZone(b, b.TempDir(), bigZone(n))
		s := z.View("").Snapshot()
		rnd := rand.New(rand.NewPCG(1, 2))
		var names []string
		for range 4096 {
			i := 1 + rnd.IntN(n)
			switch {
			case i%8 == 0:
				names = append(names, fmt.Sprintf("h%d.g%d.example.test.", i, i%32))
			case i%5 == 0:
				names = append(names, fmt.Sprintf("nx%d.example.test.", i))
			default:
				names = append(names, fmt.Sprintf("h%d.example.test.", i))
			}
		}
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				s.Lookup(names[i&4095], 1, Options{})
			}
		})
	}
}

// BenchmarkUpdate is one ACME challenge added and removed (two committed,
// fsynced changes) per iteration: flat in the size of the zone.
func BenchmarkUpdate(b *testing.B) {
	for _, n := range benchSizes {
		z, _, acme := openZone(b, b.TempDir(), bigZone(n))
		_ = z
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				r := rr(b, fmt.Sprintf("_acme-challenge.h%d.example.test. 60 IN TXT token%d", i%n, i))
				if err := acme.Update(nil, func(tx *Tx) error { tx.Add(r); return nil }); err != nil {
					b.Fatal(err)
				}
				if err := acme.Update(nil, func(tx *Tx) error { tx.Delete(r); return nil }); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOpen is a first load (parse, build, store) and a restart from
// the store of a zone file.
func BenchmarkOpen(b *testing.B) {
	for _, n := range benchSizes {
		dir := b.TempDir()
		path := filepath.Join(dir, "zone")
		if err := os.WriteFile(path, []byte(bigZone(n)), 0o644); err != nil {
			b.Fatal(err)
		}
		open := func(state string) {
			z := New(Config{Origin: "example.test.", StateDir: state})
			src, _ := z.AddSource("file", SourceOptions{Base: true})
			if _, err := src.SetInitialFile(nil, path, false); err != nil {
				b.Fatal(err)
			}
			if err := z.Open(); err != nil {
				b.Fatal(err)
			}
			z.Close()
		}
		b.Run(fmt.Sprintf("first/%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				open(filepath.Join(dir, fmt.Sprint("s", i)))
			}
		})
		b.Run(fmt.Sprintf("restart/%d", n), func(b *testing.B) {
			state := filepath.Join(dir, "r")
			open(state)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				open(state)
			}
		})
	}
}

// BenchmarkParse reads and checks a zone file (the fast reader).
func BenchmarkParse(b *testing.B) {
	for _, n := range benchSizes {
		data := []byte(bigZone(n))
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for i := 0; i < b.N; i++ {
				if _, err := parseZoneBytes(data, "example.test.", "z", false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
