package status

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browser is one headless Chromium (chromedp starts it in a temporary
// profile and, when the test ends, kills it and every process still using
// that profile, by PID) and everything its page wrote to the console.
type browser struct {
	ctx  context.Context
	mu   sync.Mutex
	msgs []chromedp.ConsoleMessage
}

// probe is what checkConsole writes to the console itself: seeing it is the
// positive signal that every message before it has been collected.
const probe = "dnspki-status-test-probe"

func newBrowser(t *testing.T, bin string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.WindowSize(1280, 900))
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); acancel() })
	b := &browser{ctx: ctx}
	// The first call starts the browser and its tab (without a timeout:
	// the browser lives as long as the context of that call).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.msgs = append(b.msgs, m)
			b.mu.Unlock()
		}
	}()
	return b
}

// pageFacts is what the page shows in its visible timeline, as laid out by
// the browser.
type pageFacts struct {
	Error       string      `json:"error"`
	Events      []pageEvent `json:"events"`
	Labels      []label     `json:"labels"`
	NowLine     bool        `json:"nowLine"`
	ScrollWidth int         `json:"scrollWidth"`
	BodyFontPx  float64     `json:"bodyFontPx"`
	LoadTime    time.Duration
}

type pageEvent struct {
	ID   string `json:"id"`
	Fill string `json:"fill"`
}

// label is an event's label where the browser drew it (CSS px) and its
// font size on the screen.
type label struct {
	Text   string  `json:"text"`
	Left   float64 `json:"left"`
	Right  float64 `json:"right"`
	Top    float64 `json:"top"`
	Bottom float64 `json:"bottom"`
	FontPx float64 `json:"fontPx"`
}

// factsJS reads the visible timeline (the page shows one of its two, by
// width) and the page's width.
const factsJS = `(() => {
  const svgs = [...document.querySelectorAll('svg.timeline')].filter(s => getComputedStyle(s).display !== 'none');
  if (svgs.length !== 1) return {error: 'visible timelines: ' + svgs.length};
  const svg = svgs[0];
  const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
  return {
    events: [...svg.querySelectorAll('g.ev')].map(g => ({id: g.dataset.event, fill: g.querySelector('circle').getAttribute('fill')})),
    labels: [...svg.querySelectorAll('text.ev-label')].map(t => {
      const r = t.getBoundingClientRect();
      return {text: t.textContent, left: r.left, right: r.right, top: r.top, bottom: r.bottom, fontPx: parseFloat(getComputedStyle(t).fontSize) * scale};
    }),
    nowLine: svg.querySelector('line.now') !== null,
    scrollWidth: document.documentElement.scrollWidth,
    bodyFontPx: parseFloat(getComputedStyle(document.body).fontSize),
  };
})()`

// load opens url in a viewport of the width (a phone's, with the mobile
// viewport meta tag honoured, below 700 px) and reads the facts. With
// DNSPKI_SCREENSHOTS=DIR in the environment it saves a screenshot there.
func (b *browser) load(t *testing.T, url string, width int64) pageFacts {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	var vp chromedp.Action[chromedp.Void]
	if width < 700 {
		vp = chromedp.EmulateViewport(width, 812, chromedp.EmulateMobile, chromedp.EmulatePortrait)
	} else {
		vp = chromedp.EmulateViewport(width, 900)
	}
	if err := chromedp.Do(ctx, vp); err != nil {
		t.Fatalf("viewport %d: %v", width, err)
	}
	start := time.Now()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("loading %s: %v", url, err)
	}
	loaded := time.Since(start)
	f, err := chromedp.Run(ctx, chromedp.Evaluate[pageFacts](factsJS))
	if err != nil {
		t.Fatalf("reading the page: %v", err)
	}
	if f.Error != "" {
		t.Fatalf("the page at %d px: %s", width, f.Error)
	}
	f.LoadTime = loaded
	if dir := os.Getenv("DNSPKI_SCREENSHOTS"); dir != "" {
		// For a person to look at: the whole page as the browser drew it.
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("status-%d.png", width)), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// checkConsole fails the test for any console message of the page that is
// an error, an exception or a warning (a refused resource, a CSP violation,
// a failed request): it writes the probe and, once the probe arrived, reads
// everything before it.
func (b *browser) checkConsole(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](`console.error("`+probe+`")`)); err != nil {
		t.Fatalf("writing the probe: %v", err)
	}
	var msgs []chromedp.ConsoleMessage
	deadline := time.Now().Add(30 * time.Second)
	for {
		b.mu.Lock()
		msgs = append(msgs[:0], b.msgs...)
		b.mu.Unlock()
		found := false
		for _, m := range msgs {
			if strings.Contains(m.Text, probe) {
				found = true
			}
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the probe never reached the console listener (%d messages)", len(msgs))
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, m := range msgs {
		if strings.Contains(m.Text, probe) {
			continue
		}
		switch m.Type {
		case chromedp.ConsoleError, chromedp.ConsoleException, chromedp.ConsoleWarning:
			t.Errorf("console %s: %s (%s:%d)", m.Type, m.Text, m.URL, m.Line)
		default:
			t.Logf("console %s: %s", m.Type, m.Text)
		}
	}
}
