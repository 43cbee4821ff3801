package status

import (
	"bytes"
	_ "embed"
	"html/template"
	"strings"
	"time"

	"github.com/dnspki/dnspki/plugin/tlsa"
)

//go:embed page.html
var pageSource string

//go:embed page.css
var pageCSS []byte

// favicon is the page's icon (a browser asks for one; without it the
// console shows a failed request).
const favicon = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="7" fill="#1565c0"/><path d="M4 8h8M8 4v8" stroke="#fff" stroke-width="2"/></svg>`

var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"join":   strings.Join,
	"abbrev": abbrev,
}).Parse(pageSource))

// view is what the page template gets.
type view struct {
	*Report
	Now     time.Time
	Wide    template.HTML
	Narrow  template.HTML
	Kinds   []kindTitle
	Managed map[string]bool
}

type kindTitle struct{ Kind, Title string }

// render writes the page of a report.
func render(r *Report, now time.Time) ([]byte, error) {
	v := view{Report: r, Now: now, Managed: map[string]bool{}}
	v.Wide = template.HTML(wideTimeline(r.Events, now, r.HorizonEnd))
	v.Narrow = template.HTML(narrowTimeline(r.Events, now, r.HorizonEnd))
	for _, k := range kinds {
		v.Kinds = append(v.Kinds, kindTitle{k.kind, k.title})
	}
	var b bytes.Buffer
	if err := pageTmpl.Execute(&b, v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// TS is a time with how far it is from now.
func (v view) TS(t time.Time) string { return stamp(t, v.Now) }

func stamp(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC") + " (" + when(t, now) + ")"
}

// Role says a TLSA record's state in words.
func (v view) Role(r tlsa.RecordStatus) string {
	switch r.Role {
	case tlsa.RoleNext:
		return "published ahead"
	case tlsa.RoleCurrent:
		return "active"
	case tlsa.RolePending:
		return "pending (the files disagree)"
	case tlsa.RoleRetiring:
		return "retiring until " + stamp(r.Until, v.Now)
	}
	return r.Role
}
