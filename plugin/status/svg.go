package status

import (
	"fmt"
	"html"
	"strings"
	"time"
)

// Colours of the lanes; overdue events are red whatever their lane.
var kindColor = map[string]string{
	KindDNSSEC:      "#1565c0",
	KindCertificate: "#2e7d32",
	KindTLSA:        "#6a1b9a",
	KindChallenge:   "#b45309",
	KindZone:        "#00838f",
}

// overdueColor marks every overdue event.
const overdueColor = "#c62828"

// svgBuf writes SVG with every text escaped.
type svgBuf struct{ strings.Builder }

func (b *svgBuf) f(format string, a ...any) { fmt.Fprintf(&b.Builder, format, a...) }

func esc(s string) string { return html.EscapeString(s) }

// truncate shortens s to n runes with an ellipsis.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func label(e Event) string { return e.Subject + ": " + e.What }

func fullText(e Event, now time.Time) string {
	state := when(e.At, now)
	if e.Overdue {
		state = "OVERDUE, due " + state
	}
	return fmt.Sprintf("%s %s (%s): %s", e.At.Format("2006-01-02 15:04 MST"), e.Subject, state, e.What)
}

// eventClass is the class list of an event's group.
func eventClass(e Event) string {
	c := "ev k-" + e.Kind
	if e.Overdue {
		c += " overdue"
	}
	return c
}

func colorOf(e Event) string {
	if e.Overdue {
		return overdueColor
	}
	return kindColor[e.Kind]
}

// Geometry of the wide (horizontal) timeline, in SVG units.
const (
	wWidth   = 1000.0
	wLeft    = 118.0 // lane titles
	wGutter  = 72.0  // overdue events, left of "now"
	wRight   = 16.0
	wAxis    = 34.0 // height of the date axis
	wRow     = 17.0 // a row of labels
	wChar    = 6.1  // estimated width of a label character (11px)
	wLabelN  = 44   // characters of a label
	wMarkerY = 12.0
)

// placed is an event's marker and label in the wide timeline.
type placed struct {
	e      Event
	x      float64 // the marker
	row    int     // the label's row below the marker
	anchor string  // the label's text-anchor
}

// placeLane lays out one lane's events: each marker at its time, its label
// in the first row where it overlaps no other label (labels that would run
// past the right edge end at their marker). It returns the rows used.
func placeLane(evs []Event, xOf func(Event) float64) ([]placed, int) {
	var lane []placed
	var rows [][][2]float64 // per row, the occupied label intervals
	for _, e := range evs {
		x := xOf(e)
		w := float64(len([]rune(truncate(label(e), wLabelN)))) * wChar
		anchor, lo, hi := "start", x-2, x+w+4
		if x+w > wWidth-2 {
			anchor, lo, hi = "end", x-w-4, x+2
		}
		row := 0
		for ; ; row++ {
			if row == len(rows) {
				rows = append(rows, nil)
			}
			free := true
			for _, iv := range rows[row] {
				if lo < iv[1] && iv[0] < hi {
					free = false
					break
				}
			}
			if free {
				rows[row] = append(rows[row], [2]float64{lo, hi})
				break
			}
		}
		lane = append(lane, placed{e: e, x: x, row: row, anchor: anchor})
	}
	return lane, len(rows)
}

// drawLane draws a lane at y and returns its height.
func drawLane(body *svgBuf, title, kind string, lane []placed, rows int, y float64, now time.Time) float64 {
	h := 30.0 + float64(max(rows, 1))*wRow
	body.f(`<g class="lane" data-kind="%s">`, kind)
	body.f(`<rect x="0" y="%.1f" width="%.0f" height="%.1f" class="lane-bg"/>`, y, wWidth, h)
	body.f(`<text x="6" y="%.1f" class="lane-title">%s</text>`, y+wMarkerY+4, esc(title))
	if len(lane) == 0 {
		body.f(`<text x="%.1f" y="%.1f" class="none">nothing scheduled</text>`, wLeft+wGutter+6, y+wMarkerY+4)
	}
	for _, p := range lane {
		my := y + wMarkerY
		ly := y + 26 + float64(p.row)*wRow
		col := colorOf(p.e)
		body.f(`<g class="%s" data-event="%s" data-at="%s">`, eventClass(p.e), esc(p.e.ID), p.e.At.Format(time.RFC3339))
		body.f(`<title>%s</title>`, esc(fullText(p.e, now)))
		body.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1" opacity="0.5"/>`, p.x, my, p.x, ly-4, col)
		body.f(`<circle cx="%.1f" cy="%.1f" r="6" fill="%s"/>`, p.x, my, col)
		body.f(`<text x="%.1f" y="%.1f" text-anchor="%s" fill="%s" class="ev-label">%s</text>`, p.x, ly+4, p.anchor, col, esc(truncate(label(p.e), wLabelN)))
		body.f(`</g>`)
	}
	body.f(`</g>`)
	return h
}

// wideTimeline renders the timeline as lanes (one per kind) along a
// horizontal time axis from now to end, with a tick a week; overdue events
// sit left of "now".
func wideTimeline(evs []Event, now, end time.Time) string {
	x0 := wLeft + wGutter
	x1 := wWidth - wRight
	span := end.Sub(now).Seconds()
	xAt := func(t time.Time) float64 { return x0 + (x1-x0)*t.Sub(now).Seconds()/span }
	xOf := func(e Event) float64 {
		if e.Overdue || !e.At.After(now) {
			return wLeft + wGutter/2
		}
		return xAt(e.At)
	}
	var body svgBuf
	y := wAxis
	for _, k := range kinds {
		var mine []Event
		for _, e := range evs {
			if e.Kind == k.kind {
				mine = append(mine, e)
			}
		}
		lane, rows := placeLane(mine, xOf)
		y += drawLane(&body, k.title, k.kind, lane, rows, y, now)
	}
	height := y + 6
	var b svgBuf
	b.f(`<svg class="timeline tl-wide" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %.0f %.0f" width="100%%" role="img" aria-label="Timeline of the scheduled events from now to %s">`, wWidth, height, end.Format("2006-01-02"))
	b.f(`<rect x="%.1f" y="0" width="%.1f" height="%.1f" class="overdue-zone"/>`, wLeft, wGutter, height)
	b.f(`<text x="%.1f" y="14" text-anchor="middle" class="overdue-title">overdue</text>`, wLeft+wGutter/2)
	for d := 7; ; d += 7 {
		t := now.Add(time.Duration(d) * 24 * time.Hour)
		if t.After(end) {
			break
		}
		x := xAt(t)
		b.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" class="tick"/>`, x, wAxis-6, x, height)
		b.f(`<text x="%.1f" y="%.1f" text-anchor="middle" class="tick-label">%s</text>`, x, wAxis-10, t.Format("Jan 2"))
	}
	b.WriteString(body.String())
	b.f(`<line x1="%.1f" y1="4" x2="%.1f" y2="%.1f" class="now" stroke="#111" stroke-width="2"/>`, x0, x0, height)
	b.f(`<text x="%.1f" y="14" class="now-label">now %s</text>`, x0+4, now.Format("Jan 2 15:04 MST"))
	b.f(`</svg>`)
	return b.String()
}

// Geometry of the narrow (vertical) timeline, for small screens.
const (
	nWidth  = 360.0
	nAxisX  = 58.0
	nLabelX = 74.0
	nTop    = 40.0
	nSpan   = 760.0 // height of the time axis from now to the end
	nLine   = 15.0  // from the first line of a label to the second
	nLabelN = 36    // characters of a line (13px text fits 286 units)
)

// narrowTimeline renders the timeline along a vertical axis (time runs
// down) with one label per event (two short lines, for a phone's width),
// pushed down where they would overlap.
func narrowTimeline(evs []Event, now, end time.Time) string {
	span := end.Sub(now).Seconds()
	var over, ahead []Event
	for _, e := range evs {
		if e.Overdue || !e.At.After(now) {
			over = append(over, e)
		} else {
			ahead = append(ahead, e)
		}
	}
	// A label's first line sits labelTop below the bottom of the one
	// above; bottom is how far its second line reaches below its first's
	// baseline.
	const labelTop, bottom = 16.0, nLine + 4
	nowY := nTop + 10
	if len(over) > 0 {
		nowY = nTop + 14 + float64(len(over))*(labelTop+bottom) + 14
	}
	yOf := func(t time.Time) float64 { return nowY + nSpan*t.Sub(now).Seconds()/span }
	var body svgBuf
	item := func(e Event, dotY, ly float64) {
		col := colorOf(e)
		body.f(`<g class="%s" data-event="%s" data-at="%s">`, eventClass(e), esc(e.ID), e.At.Format(time.RFC3339))
		body.f(`<title>%s</title>`, esc(fullText(e, now)))
		body.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1" opacity="0.5"/>`, nAxisX, dotY, nLabelX-4, ly-4, col)
		body.f(`<circle cx="%.1f" cy="%.1f" r="5" fill="%s"/>`, nAxisX, dotY, col)
		// Two lines: the date and subject, then what happens.
		body.f(`<text x="%.1f" y="%.1f" fill="%s" class="ev-label"><tspan class="ev-head">%s %s</tspan><tspan x="%.1f" dy="%.0f">%s</tspan></text>`,
			nLabelX, ly, col, esc(e.At.Format("Jan 2")), esc(truncate(e.Subject, nLabelN-7)), nLabelX, nLine, esc(truncate(e.What, nLabelN)))
		body.f(`</g>`)
	}
	if len(over) > 0 {
		body.f(`<text x="%.1f" y="%.1f" class="overdue-title">overdue</text>`, nLabelX, nTop+8)
		last := nTop + 14
		for _, e := range over {
			ly := last + labelTop
			item(e, nTop+14, ly)
			last = ly + bottom
		}
	}
	last := nowY + 2
	for _, e := range ahead {
		dy := yOf(e.At)
		ly := max(dy+4, last+labelTop)
		item(e, dy, ly)
		last = ly + bottom
	}
	height := max(nowY+nSpan, last) + 24
	var b svgBuf
	b.f(`<svg class="timeline tl-narrow" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %.0f %.0f" width="100%%" role="img" aria-label="Timeline of the scheduled events from now to %s">`, nWidth, height, end.Format("2006-01-02"))
	if len(over) > 0 {
		b.f(`<rect x="0" y="%.1f" width="%.0f" height="%.1f" class="overdue-zone"/>`, nTop-6, nWidth, nowY-nTop)
	}
	b.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" class="axis"/>`, nAxisX, nowY, nAxisX, nowY+nSpan)
	for d := 14; ; d += 14 {
		t := now.Add(time.Duration(d) * 24 * time.Hour)
		if t.After(end) {
			break
		}
		y := yOf(t)
		b.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" class="tick"/>`, nAxisX-6, y, nAxisX, y)
		b.f(`<text x="%.1f" y="%.1f" text-anchor="end" class="tick-label">%s</text>`, nAxisX-9, y+4, t.Format("Jan 2"))
	}
	b.f(`<text x="%.1f" y="%.1f" text-anchor="end" class="now-label">now</text>`, nAxisX-9, nowY+4)
	b.f(`<line x1="%.1f" y1="%.1f" x2="%.0f" y2="%.1f" class="now" stroke="#111" stroke-width="2"/>`, nAxisX-6, nowY, nWidth, nowY)
	if len(evs) == 0 {
		b.f(`<text x="%.1f" y="%.1f" class="none">nothing scheduled</text>`, nLabelX, nowY+22)
	}
	b.WriteString(body.String())
	b.f(`</svg>`)
	return b.String()
}
