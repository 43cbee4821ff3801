package status

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// printReport writes the text form of a report (`dnspki status`).
func printReport(w io.Writer, r *Report, now time.Time) {
	ts := func(t time.Time) string { return stamp(t, now) }
	for _, e := range r.Errors {
		fmt.Fprintf(w, "ERROR: %s\n", e)
	}
	fmt.Fprintf(w, "Events to %s:\n", r.HorizonEnd.Format("2006-01-02"))
	if len(r.Events) == 0 {
		fmt.Fprintln(w, "  none")
	}
	for _, e := range r.Events {
		mark := "  "
		if e.Overdue {
			mark = "! "
		}
		over := ""
		if e.Overdue {
			over = " OVERDUE"
		}
		fmt.Fprintf(w, "%s%s%s  %-11s %s: %s\n", mark, ts(e.At), over, e.Kind, e.Subject, e.What)
	}
	fmt.Fprintln(w, "\nZones:")
	if len(r.Zones) == 0 {
		fmt.Fprintln(w, "  none")
	}
	for _, z := range r.Zones {
		signed := ""
		if z.Signed {
			signed = " (signed)"
		}
		for _, v := range z.Views {
			serial := fmt.Sprint(v.Serial)
			if !v.Loaded {
				serial = "not loaded"
			}
			fmt.Fprintf(w, "  %s%s view %s: serial %s, %d records, last change %s\n", z.Zone, signed, v.Name, serial, v.Records, ts(v.LastChange))
		}
		if s := z.Secondary; s != nil {
			state := "expires " + ts(s.ExpiresAt) + " unless refreshed"
			if s.Expired {
				state = "EXPIRED"
			}
			fmt.Fprintf(w, "    secondary of %s: primary serial %d, last refresh %s, next %s, %s\n", strings.Join(s.Primaries, ", "), s.PrimarySerial, ts(s.LastRefresh), ts(s.NextRefresh), state)
		}
		for _, d := range z.Downstream {
			held := "not seen since start"
			if d.SerialKnown {
				held = fmt.Sprintf("serial %d (%s), lag %d", d.Serial, d.SerialFrom, d.Lag)
			}
			fmt.Fprintf(w, "    secondary %s (view %s): %s, last seen %s\n", d.Peer, d.View, held, ts(d.SeenAt))
		}
	}
	fmt.Fprintln(w, "\nDNSSEC:")
	if len(r.DNSSEC) == 0 {
		fmt.Fprintln(w, "  none")
	}
	for _, z := range r.DNSSEC {
		fmt.Fprintf(w, "  %s (%s, %s)\n", z.Zone, z.Algorithm, z.Scheme)
		for _, k := range z.Keys {
			var does []string
			if k.Published {
				does = append(does, "published")
			}
			if k.SignsZone {
				does = append(does, "signs zone")
			}
			if k.SignsKeys {
				does = append(does, "signs keys")
			}
			if k.CDS {
				does = append(does, "in CDS")
			}
			fmt.Fprintf(w, "    %s %s tag %d: %s; current since %s\n", k.Role, k.Key, k.Tag, strings.Join(does, ", "), ts(k.Active))
		}
		for _, s := range z.Steps {
			if s.WaitingDS {
				fmt.Fprintf(w, "    next: %s\n", s.What)
			} else {
				fmt.Fprintf(w, "    %s: %s\n", ts(s.At), s.What)
			}
		}
	}
	fmt.Fprintln(w, "\nCertificates:")
	if len(r.Certificates) == 0 {
		fmt.Fprintln(w, "  none")
	}
	for _, c := range r.Certificates {
		fmt.Fprintf(w, "  %s: %s\n", c.ID, strings.Join(c.Names, " "))
		if c.Serial != "" {
			fmt.Fprintf(w, "    expires %s (issuer %q)\n", ts(c.NotAfter), c.Issuer)
		}
		if c.ARI != nil && !c.ARI.End.IsZero() {
			past := ""
			if c.ARI.Past {
				past = " PAST: the CA asks to replace it"
			}
			fmt.Fprintf(w, "    ARI window %s .. %s%s\n", ts(c.ARI.Start), ts(c.ARI.End), past)
		}
		fmt.Fprintf(w, "    next: %s, %s\n", c.Next, ts(c.NextAt))
	}
	fmt.Fprintln(w, "\nTLSA:")
	if len(r.TLSA) == 0 {
		fmt.Fprintln(w, "  none")
	}
	v := view{Now: now}
	for _, c := range r.TLSA {
		fmt.Fprintf(w, "  %s (zone %s)\n", c.Cert, c.Zone)
		for _, rec := range c.Records {
			ready := ""
			if !rec.ReadyAt.IsZero() && rec.ReadyAt.After(now) {
				ready = ", ready " + ts(rec.ReadyAt)
			}
			fmt.Fprintf(w, "    %s view %s: %s: %s since %s%s\n", rec.Name, rec.View, abbrev(rec.Record), v.Role(rec), ts(rec.Since), ready)
		}
	}
	fmt.Fprintln(w, "\nChallenges:")
	n := 0
	for _, z := range r.Challenges {
		for _, c := range z.Challenges {
			n++
			fmt.Fprintf(w, "  %s by %s, added %s, expires %s\n", c.Owner, c.By, ts(c.Added), ts(c.Expires))
		}
	}
	if n == 0 {
		fmt.Fprintln(w, "  none pending")
	}
}
