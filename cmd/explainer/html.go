package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strings"

	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// htmlPage shows an explanation as lime's notebook view does, in one
// self-contained file: the chart (the PNG of -png, inline as a data URI),
// then per label what the model says, a text with each explained word
// highlighted (green for the label, red against it, stronger for larger
// weights) and the table.
var htmlPage = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>explainer: {{.Model}} · {{.Method}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;max-width:72em}
.meta{color:#555}
.chart{max-width:100%;border:1px solid #ddd;border-radius:6px}
.text{font-size:1.2em;line-height:1.8;white-space:pre-wrap;border:1px solid #ddd;padding:1em;border-radius:6px}
mark{border-radius:3px;padding:0 2px}
table{border-collapse:collapse;margin-top:1em}td,th{padding:2px 10px;text-align:left}
th{border-bottom:1px solid #999}.num{text-align:right;font-variant-numeric:tabular-nums}
.pos{color:#080}.neg{color:#b00}
</style></head><body>
<h1>{{.Model}} · {{.Method}}</h1>
<p class="meta">{{.Meta}}</p>
{{range .Notes}}<p>{{.}}</p>
{{end}}{{if .Chart}}<img class="chart" src="{{.Chart}}" alt="{{.Method}} chart">
{{end}}{{range $l := .Labels}}<h2>{{$l.Title}}</h2>
{{if $l.Summary}}<p>{{$l.Summary}}</p>
{{end}}{{if $l.Pieces}}<div class="text">{{range $l.Pieces}}{{if .Word}}<mark style="background:{{.Color}}" title="{{printf "%+.4f" .Weight}}">{{.Text}}</mark>{{else}}{{.Text}}{{end}}{{end}}</div>
{{end}}{{if $l.Rows}}<table><tr><th>{{$.Feature}}</th><th class="num">{{$.Value}}</th>{{if $l.HasSE}}<th class="num">± s.e.</th>{{end}}{{if $l.HasMean}}<th class="num">mean |∂f/∂x|</th>{{end}}</tr>
{{range $l.Rows}}<tr><td>{{.Feature}}</td><td class="num {{.Class}}">{{.Value}}</td>{{if $l.HasSE}}<td class="num">{{.SE}}</td>{{end}}{{if $l.HasMean}}<td class="num">{{.Mean}}</td>{{end}}</tr>
{{end}}</table>
{{end}}{{if $l.More}}<p class="meta">… and {{$l.More}} more (--num-features 0 lists every one)</p>
{{end}}{{end}}</body></html>
`))

type htmlPiece struct {
	Text   string
	Word   bool
	Weight float64
	Color  template.CSS
}

type htmlRow struct {
	Feature, Value, SE, Mean, Class string
}

type htmlLabel struct {
	Title, Summary string
	Pieces         []htmlPiece
	Rows           []htmlRow
	HasSE, HasMean bool
	More           int
}

// writeHTML renders exp as a self-contained HTML page: see htmlPage.
func writeHTML(w io.Writer, exp *explainerv1.Explanation, v view) error {
	var chart bytes.Buffer
	if err := writeExplanationPNG(&chart, exp, v); err != nil {
		return fmt.Errorf("-output html: %w", err)
	}
	page := struct {
		Model, Method, Meta string
		Notes               []string
		Chart               template.URL
		Feature, Value      string
		Labels              []htmlLabel
	}{
		Model: exp.GetModel(), Method: exp.GetMethod(),
		Meta: runLine(exp),
		// The PNG is the file's own bytes, base64: a safe data URL.
		Chart:   template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(chart.Bytes())),
		Feature: "feature", Value: valueHeader(exp.GetMethod()),
	}
	if exp.GetMethod() == "permutation" {
		page.Notes = append(page.Notes, fmt.Sprintf("score %s: %.4f on the data; importance = drop when a feature is permuted (mean ± standard error over repeats)",
			strings.ToLower(strings.TrimPrefix(exp.GetScoring().String(), "SCORING_")), exp.GetBaselineScore()))
	}
	page.Notes = append(page.Notes, counterfactualNotes(exp)...)
	for _, l := range exp.GetLabels() {
		hl := htmlLabel{Title: fmt.Sprintf("label %d (%s)", l.GetLabel(), className(exp, l.GetLabel(), l.GetClassName())), Summary: labelSummary(exp, l)}
		if exp.GetMethod() == "permutation" {
			hl.Title = "importance"
		}
		hl.Pieces = highlight(v.text, l.GetAttributions())
		set := labelRows(exp, l, v.top)
		hl.HasSE, hl.HasMean, hl.More = set.hasSE, set.hasMean, set.more
		for _, r := range set.rows {
			row := htmlRow{Feature: r.feature, Value: r.value, Mean: r.mean, Class: "pos"}
			if r.weight < 0 {
				row.Class = "neg"
			}
			if r.se != "" {
				row.SE = "± " + r.se
			}
			hl.Rows = append(hl.Rows, row)
		}
		page.Labels = append(page.Labels, hl)
	}
	return htmlPage.Execute(w, page)
}

// highlight cuts text into pieces, the words the attributions' spans
// cover marked with their weight's shade; nil when nothing is marked.
func highlight(text string, attrs []*explainerv1.Attribution) []htmlPiece {
	type span struct {
		start, end int
		weight     float64
	}
	var spans []span
	maxAbs := 0.0
	for _, a := range attrs {
		maxAbs = math.Max(maxAbs, math.Abs(a.GetWeight()))
		for _, sp := range a.GetSpans() {
			if int(sp.GetEnd()) <= len(text) && sp.GetStart() < sp.GetEnd() {
				spans = append(spans, span{int(sp.GetStart()), int(sp.GetEnd()), a.GetWeight()})
			}
		}
	}
	if len(spans) == 0 {
		return nil
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].start < spans[j].start })
	var pieces []htmlPiece
	at := 0
	for _, sp := range spans {
		if sp.start < at {
			continue // overlapping spans cannot come from one tokenization; be safe
		}
		pieces = append(pieces, htmlPiece{Text: text[at:sp.start]},
			htmlPiece{Text: text[sp.start:sp.end], Word: true, Weight: sp.weight, Color: shade(sp.weight, maxAbs)})
		at = sp.end
	}
	return append(pieces, htmlPiece{Text: text[at:]})
}

// shade is green for positive weights and red for negative ones, with an
// opacity proportional to |weight| / maxAbs.
func shade(weight, maxAbs float64) template.CSS {
	alpha := 0.0
	if maxAbs > 0 {
		alpha = 0.15 + 0.6*math.Abs(weight)/maxAbs
	}
	if weight >= 0 {
		return template.CSS(fmt.Sprintf("rgba(0,160,0,%.2f)", alpha))
	}
	return template.CSS(fmt.Sprintf("rgba(200,0,0,%.2f)", alpha))
}
