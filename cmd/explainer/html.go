package main

import (
	"errors"
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"

	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// htmlPage shows a text explanation as lime's notebook view does: the
// text with each explained word highlighted, green for the label and red
// against it, stronger for larger weights, and the weights beside it.
var htmlPage = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>explainer: {{.Model}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;max-width:60em}
.text{font-size:1.2em;line-height:1.8;white-space:pre-wrap;border:1px solid #ddd;padding:1em;border-radius:6px}
mark{border-radius:3px;padding:0 2px}
table{border-collapse:collapse;margin-top:1em}td,th{padding:2px 10px;text-align:left}
.pos{color:#080}.neg{color:#b00}
</style></head><body>
{{range .Labels}}<h2>{{.Title}}</h2>
<p>model says {{printf "%.4f" .Prediction}} · surrogate says {{printf "%.4f" .Local}} (weighted R² {{printf "%.3f" .Score}})</p>
<div class="text">{{range .Pieces}}{{if .Word}}<mark style="background:{{.Color}}" title="{{printf "%+.4f" .Weight}}">{{.Text}}</mark>{{else}}{{.Text}}{{end}}{{end}}</div>
<table><tr><th>word</th><th>weight</th></tr>{{range .Rows}}<tr><td>{{.Feature}}</td><td class="{{if ge .Weight 0.0}}pos{{else}}neg{{end}}">{{printf "%+.4f" .Weight}}</td></tr>{{end}}</table>
{{end}}<p><small>{{.Model}} · {{.Method}} · {{.Samples}} samples · seed {{.Seed}}</small></p>
</body></html>
`))

type htmlPiece struct {
	Text   string
	Word   bool
	Weight float64
	Color  template.CSS
}

type htmlRow struct {
	Feature string
	Weight  float64
}

type htmlLabel struct {
	Title                    string
	Prediction, Local, Score float64
	Pieces                   []htmlPiece
	Rows                     []htmlRow
}

// writeHTML renders a text explanation of text as an HTML page.
func writeHTML(w io.Writer, exp *explainerv1.Explanation, text string) error {
	if exp.GetMethod() != "lime_text" && exp.GetMethod() != "kernelshap_text" && (exp.GetMethod() != "occlusion" || len(exp.GetMaps()) > 0) {
		return errors.New("-output html shows text explanations (-text); use table or json")
	}
	page := struct {
		Model, Method string
		Samples       uint64
		Seed          uint64
		Labels        []htmlLabel
	}{exp.GetModel(), exp.GetMethod(), exp.GetNumSamples(), exp.GetSeed(), nil}
	for _, l := range exp.GetLabels() {
		name := l.GetClassName()
		if name == "" {
			name = fmt.Sprintf("class %d", l.GetLabel())
		}
		hl := htmlLabel{Title: fmt.Sprintf("label %d (%s)", l.GetLabel(), name),
			Prediction: l.GetPrediction(), Local: l.GetLocalPrediction(), Score: l.GetScore()}
		type span struct {
			start, end int
			weight     float64
		}
		var spans []span
		maxAbs := 0.0
		for _, a := range l.GetAttributions() {
			hl.Rows = append(hl.Rows, htmlRow{a.GetFeature(), a.GetWeight()})
			maxAbs = math.Max(maxAbs, math.Abs(a.GetWeight()))
			for _, sp := range a.GetSpans() {
				if int(sp.GetEnd()) <= len(text) && sp.GetStart() < sp.GetEnd() {
					spans = append(spans, span{int(sp.GetStart()), int(sp.GetEnd()), a.GetWeight()})
				}
			}
		}
		sort.Slice(spans, func(i, j int) bool { return spans[i].start < spans[j].start })
		at := 0
		for _, sp := range spans {
			if sp.start < at {
				continue // overlapping spans cannot come from one tokenization; be safe
			}
			hl.Pieces = append(hl.Pieces, htmlPiece{Text: text[at:sp.start]},
				htmlPiece{Text: text[sp.start:sp.end], Word: true, Weight: sp.weight, Color: shade(sp.weight, maxAbs)})
			at = sp.end
		}
		hl.Pieces = append(hl.Pieces, htmlPiece{Text: text[at:]})
		page.Labels = append(page.Labels, hl)
	}
	return htmlPage.Execute(w, page)
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
