package status

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// printReport writes the text form of a report (`dnspki status`): the
// errors, the events (overdue ones marked), then each part.
func printReport(w io.Writer, r *Report, now time.Time) {
	for _, e := range r.Errors {
		fmt.Fprintf(w, "ERROR: %s\n", e)
	}
	ts := func(t time.Time) string { return stamp(t, now) }
	for _, part := range []func(io.Writer, *Report, func(time.Time) string, time.Time){
		printEvents, printZones, printDNSSEC, printCertificates, printTLSA, printChallenges,
	} {
		part(w, r, ts, now)
	}
}

// heading starts a part; none says it is empty.
func heading(w io.Writer, title string, n int, none string) {
	fmt.Fprintf(w, "%s:\n", title)
	if n == 0 {
		fmt.Fprintf(w, "  %s\n", none)
	}
}

func printEvents(w io.Writer, r *Report, ts func(time.Time) string, _ time.Time) {
	heading(w, "Events to "+r.HorizonEnd.Format("2006-01-02"), len(r.Events), "none")
	for _, e := range r.Events {
		mark, over := "  ", ""
		if e.Overdue {
			mark, over = "! ", " OVERDUE"
		}
		fmt.Fprintf(w, "%s%s%s  %-11s %s: %s\n", mark, ts(e.At), over, e.Kind, e.Subject, e.What)
	}
}

func printZones(w io.Writer, r *Report, ts func(time.Time) string, _ time.Time) {
	fmt.Fprintln(w)
	heading(w, "Zones", len(r.Zones), "none")
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
			primary := "unknown"
			if s.SerialKnown {
				primary = fmt.Sprint(s.PrimarySerial)
			}
			fmt.Fprintf(w, "    secondary of %s: primary serial %s, last refresh %s, next %s, %s\n", strings.Join(s.Primaries, ", "), primary, ts(s.LastRefresh), ts(s.NextRefresh), state)
		}
		for _, d := range z.Downstream {
			held := "not seen since start"
			if d.SerialKnown {
				held = fmt.Sprintf("serial %d (%s), lag %d", d.Serial, d.SerialFrom, d.Lag)
			}
			fmt.Fprintf(w, "    secondary %s (view %s): %s, last seen %s\n", d.Peer, d.View, held, ts(d.SeenAt))
		}
	}
}

func printDNSSEC(w io.Writer, r *Report, ts func(time.Time) string, _ time.Time) {
	fmt.Fprintln(w)
	heading(w, "DNSSEC", len(r.DNSSEC), "none")
	for _, z := range r.DNSSEC {
		fmt.Fprintf(w, "  %s (%s, %s)\n", z.Zone, z.Algorithm, z.Scheme)
		for _, k := range z.Keys {
			var does []string
			for _, f := range []struct {
				on   bool
				what string
			}{{k.Published, "published"}, {k.SignsZone, "signs zone"}, {k.SignsKeys, "signs keys"}, {k.CDS, "in CDS"}} {
				if f.on {
					does = append(does, f.what)
				}
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
}

func printCertificates(w io.Writer, r *Report, ts func(time.Time) string, _ time.Time) {
	fmt.Fprintln(w)
	heading(w, "Certificates", len(r.Certificates), "none")
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
}

func printTLSA(w io.Writer, r *Report, ts func(time.Time) string, now time.Time) {
	fmt.Fprintln(w)
	heading(w, "TLSA", len(r.TLSA), "none")
	v := view{Now: now}
	for _, c := range r.TLSA {
		fmt.Fprintf(w, "  %s (zone %s)\n", c.Cert, c.Zone)
		for _, rec := range c.Records {
			ready := ""
			if rec.ReadyAt.After(now) {
				ready = ", ready " + ts(rec.ReadyAt)
			}
			fmt.Fprintf(w, "    %s view %s: %s: %s since %s%s\n", rec.Name, rec.View, abbrev(rec.Record), v.Role(rec), ts(rec.Since), ready)
		}
	}
}

func printChallenges(w io.Writer, r *Report, ts func(time.Time) string, _ time.Time) {
	fmt.Fprintln(w)
	n := 0
	for _, z := range r.Challenges {
		n += len(z.Challenges)
	}
	heading(w, "Challenges", n, "none pending")
	for _, z := range r.Challenges {
		for _, c := range z.Challenges {
			fmt.Fprintf(w, "  %s by %s, added %s, expires %s\n", c.Owner, c.By, ts(c.Added), ts(c.Expires))
		}
	}
}
