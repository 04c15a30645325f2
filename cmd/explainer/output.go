package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/explainer-sidecar/explainer/internal/table"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// writeJSON writes exp as the API writes it: protojson, the proto3 JSON
// mapping (lowerCamelCase names, 64-bit integers as strings, enums by
// name, durations as "0.021s", fields at their zero value left out), so
// that any protobuf library reads it back into an Explanation. It is
// indented by encoding/json: protojson's own whitespace varies on purpose
// between builds.
func writeJSON(w io.Writer, exp *explainerv1.Explanation) error {
	raw, err := protojson.Marshal(exp)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		return err
	}
	out.WriteByte('\n')
	_, err = out.WriteTo(w)
	return err
}

// view is what a command knows about how to show an explanation beyond
// the explanation itself.
type view struct {
	// top is the most attributions a table or chart shows per label: the
	// first by |weight| (by importance for permutation); 0 shows all.
	top int
	// text is the explained text (-text), for the HTML view.
	text string
	// image is the explained image (-image), drawn under its map in the
	// PNG and HTML views.
	image *explainerv1.ImageInstance
	// data is the data set of a global method (-data), whose values the
	// partial dependence chart marks in its rug; nil draws the grid's.
	data *table.Table
}

// render writes exp as a table, JSON, an HTML page or a PNG.
func render(w io.Writer, format string, exp *explainerv1.Explanation, v view) error {
	switch format {
	case "json":
		return writeJSON(w, exp)
	case "table", "":
		writeTable(w, exp, v.top)
		writeEvaluation(w, exp)
		return nil
	case "html":
		return writeHTML(w, exp, v)
	case "png":
		return writeExplanationPNG(w, exp, v)
	}
	return checkOutput(format)
}

// checkOutput rejects an -output that render does not write, so that a
// typo fails before the job runs.
func checkOutput(format string) error {
	switch format {
	case "table", "", "json", "html", "png":
		return nil
	}
	return fmt.Errorf("-output %q: want table, json, html or png", format)
}

// barWidth is the width of one side of the weight bars, in cells.
const barWidth = 24

// className is label l's name: its own, the explanation's, or "class N".
func className(exp *explainerv1.Explanation, label uint32, own string) string {
	if own != "" {
		return own
	}
	if names := exp.GetClassNames(); int(label) < len(names) && exp.GetMethod() != "permutation" {
		return names[label]
	}
	return fmt.Sprintf("class %d", label)
}

// ranked orders attributions as tables and charts show them: by
// decreasing importance for permutation (the most important first, those
// that permuting improved last, as scikit-learn's examples sort
// importances_mean), else by decreasing |weight|; ties keep the sidecar's
// order. It returns the first top (all when top is 0) and the rest.
func ranked(method string, attrs []*explainerv1.Attribution, top int) (shown, rest []*explainerv1.Attribution) {
	sorted := slices.Clone(attrs)
	slices.SortStableFunc(sorted, func(a, b *explainerv1.Attribution) int {
		if method == "permutation" {
			return cmp.Compare(b.GetWeight(), a.GetWeight())
		}
		return cmp.Compare(math.Abs(b.GetWeight()), math.Abs(a.GetWeight()))
	})
	if top <= 0 || top >= len(sorted) {
		return sorted, nil
	}
	return sorted[:top], sorted[top:]
}

// runLine is the part of a result's header after its method: samples,
// model calls, the seed (for a method that has one) and the time taken.
func runLine(exp *explainerv1.Explanation) string {
	seed := fmt.Sprintf(" · seed %d", exp.GetSeed())
	fd := (&explainerv1.ExplainRequest{}).ProtoReflect().Descriptor().Fields().ByName(protoreflect.Name(exp.GetMethod()))
	if fd != nil && !hasSeed(fd) {
		seed = "" // deterministic: partial dependence, ALE
	}
	return fmt.Sprintf("%d samples in %d model calls%s · %s", exp.GetNumSamples(), exp.GetModelCalls(), seed,
		exp.GetElapsed().AsDuration().Round(100_000))
}

// writeTable prints each label's attributions, largest first, with bars:
// negative weights grow left of the axis, positive ones right, scaled to
// the largest |weight| shown. At most top rows per label (0: all).
func writeTable(w io.Writer, exp *explainerv1.Explanation, top int) {
	fmt.Fprintf(w, "%s · %s · %s\n", exp.GetModel(), exp.GetMethod(), runLine(exp))
	writeAutoLine(w, exp)
	if writeCurveTables(w, exp) {
		return
	}
	if exp.GetMethod() == "permutation" {
		fmt.Fprintf(w, "\nscore %s: %.4f on the data; importance = drop when a feature is permuted (mean ± standard error over repeats)\n",
			strings.ToLower(strings.TrimPrefix(exp.GetScoring().String(), "SCORING_")), exp.GetBaselineScore())
	}
	if exp.GetMethod() == "occlusion" && len(exp.GetMaps()) > 0 {
		writeOcclusion(w, exp)
		return
	}
	if exp.GetMethod() == "counterfactual" {
		writeCounterfactuals(w, exp)
		return
	}
	if isAnchors(exp.GetMethod()) {
		writeAnchors(w, exp)
		return
	}
	for _, l := range exp.GetLabels() {
		if sum := labelSummary(exp, l); sum != "" {
			fmt.Fprintf(w, "\nlabel %d (%s): %s\n", l.GetLabel(), className(exp, l.GetLabel(), l.GetClassName()), sum)
		} else {
			fmt.Fprintln(w)
		}
		writeRows(w, labelRows(exp, l, top))
	}
}

// labelSummary is what the model and the method say of label l, beside
// its name: the line above its table.
func labelSummary(exp *explainerv1.Explanation, l *explainerv1.LabelExplanation) string {
	switch exp.GetMethod() {
	case "lime", "lime_text", "lime_image":
		return fmt.Sprintf("model says %.4f · surrogate says %.4f (intercept %.4f, weighted R² %.3f)",
			l.GetPrediction(), l.GetLocalPrediction(), l.GetIntercept(), l.GetScore())
	case "kernelshap", "kernelshap_text", "kernelshap_image":
		return fmt.Sprintf("f(x) = %.4f · E[f(background)] = %.4f · Shapley values sum to %+.4f",
			l.GetModelValue(), l.GetBaseValue(), l.GetModelValue()-l.GetBaseValue())
	case "occlusion":
		if len(exp.GetMaps()) > 0 {
			return fmt.Sprintf("model says %.4f", l.GetPrediction())
		}
		return fmt.Sprintf("model says %.4f · weight = score drop when the window over the word is hidden", l.GetPrediction())
	case "sensitivity":
		return "mean ∂f/∂x and mean |∂f/∂x| over the data"
	case "anchors", "anchors_text", "anchors_image":
		return anchorSummary(exp, l)
	}
	return ""
}

// valueHeader is the name of the weight column.
func valueHeader(method string) string {
	switch method {
	case "kernelshap", "kernelshap_text", "kernelshap_image":
		return "φ"
	case "permutation":
		return "importance"
	case "sensitivity":
		return "∂f/∂x"
	case "occlusion":
		return "score drop"
	}
	return "weight"
}

// isShap tells the KernelSHAP methods, whose values add up.
func isShap(method string) bool { return strings.HasPrefix(method, "kernelshap") }

// rowSet is one label's rows as the table and the HTML page show them:
// the first top attributions by |weight| (importance for permutation),
// and for KernelSHAP the rest summed in one row, so that the column still
// adds up to f(x) − E[f]. Each number column has one format.
type rowSet struct {
	method         string
	rows           []tableRow
	hasSE, hasMean bool    // the standard error and mean |∂f/∂x| columns
	more           int     // attributions left out and not summed
	maxAbs         float64 // the largest |weight| shown
}

// tableRow is one formatted row; se is "" where the standard error is 0.
type tableRow struct {
	feature, value, se, mean string
	weight                   float64
}

func labelRows(exp *explainerv1.Explanation, l *explainerv1.LabelExplanation, top int) rowSet {
	method := exp.GetMethod()
	attrs := l.GetAttributions()
	if method == "lime_image" || method == "kernelshap_image" {
		attrs = segmentNames(attrs, exp.GetSegments())
	}
	shown, rest := ranked(method, attrs, top)
	set := rowSet{method: method, hasMean: method == "sensitivity"}
	type row struct {
		feature          string
		weight, se, mean float64
	}
	rows := make([]row, 0, len(shown)+1)
	for _, a := range shown {
		rows = append(rows, row{a.GetFeature(), a.GetWeight(), a.GetStdError(), a.GetMeanAbs()})
	}
	if isShap(method) && len(rest) > 0 {
		sum := 0.0
		for _, a := range rest {
			sum += a.GetWeight()
		}
		rows = append(rows, row{feature: fmt.Sprintf("(%d other features)", len(rest)), weight: sum})
	} else {
		set.more = len(rest)
	}
	var weights, ses, means []float64
	for _, r := range rows {
		weights, ses, means = append(weights, r.weight), append(ses, r.se), append(means, r.mean)
		set.maxAbs = math.Max(set.maxAbs, math.Abs(r.weight))
		set.hasSE = set.hasSE || r.se > 0
	}
	// Derivatives are in each feature's units and span orders of
	// magnitude: every one keeps a significant digit.
	numberFormat := table.NumberFormat
	if method == "sensitivity" {
		numberFormat = table.NumberFormatEvery
	}
	weightF, meanF := numberFormat(weights, true), numberFormat(means, false)
	// Standard errors take the weights' format (0.2506 ± 0.0097), or
	// their own where that would print a nonzero one as 0.
	seF := numberFormat(weights, false)
	for _, se := range ses {
		if v, _ := strconv.ParseFloat(seF(se), 64); se > 0 && v == 0 {
			seF = numberFormat(ses, false)
			break
		}
	}
	for _, r := range rows {
		tr := tableRow{feature: r.feature, value: weightF(r.weight), mean: meanF(r.mean), weight: r.weight}
		if r.se > 0 {
			tr.se = seF(r.se)
		}
		set.rows = append(set.rows, tr)
	}
	return set
}

// writeRows prints a label's rows in aligned columns: feature, weight,
// its standard error (a column of its own, blank where it is 0, left out
// when every one is), mean |∂f/∂x| for sensitivity, and the bar; then how
// many were left out.
func writeRows(w io.Writer, set rowSet) {
	against, forLabel := "against", "for"
	if set.method == "permutation" || set.method == "sensitivity" {
		against, forLabel = "−", "+"
	}
	header := []string{"feature", valueHeader(set.method)}
	right := []bool{false, true}
	if set.hasSE {
		header, right = append(header, "± s.e."), append(right, true)
	}
	if set.hasMean {
		header, right = append(header, "mean |∂f/∂x|"), append(right, true)
	}
	header = append(header, fmt.Sprintf("%*s│ %s", barWidth, against+" ", forLabel))
	tab := table.Text{Indent: "  ", Right: right}
	tab.Row(header...)
	for _, r := range set.rows {
		cells := []string{r.feature, r.value}
		if set.hasSE {
			se := ""
			if r.se != "" {
				se = "± " + r.se
			}
			cells = append(cells, se)
		}
		if set.hasMean {
			cells = append(cells, r.mean)
		}
		tab.Row(append(cells, bar(r.weight, set.maxAbs))...)
	}
	_, _ = tab.WriteTo(w)
	if set.more > 0 {
		fmt.Fprintf(w, "  … and %d more (--num-features 0 lists every one)\n", set.more)
	}
}

func bar(weight, maxAbs float64) string {
	cells := 0
	if maxAbs > 0 {
		cells = int(math.Round(math.Abs(weight) / maxAbs * barWidth))
	}
	if weight < 0 {
		return strings.Repeat(" ", barWidth-cells) + strings.Repeat("█", cells) + "│"
	}
	return strings.Repeat(" ", barWidth) + "│" + strings.Repeat("█", cells)
}

// progressReporter shows a job's progress.
type progressReporter interface {
	Update(done, total uint64)
	Describe(what string)
	Done()
}

type noProgress struct{}

func (noProgress) Update(uint64, uint64) {}
func (noProgress) Describe(string)       {}
func (noProgress) Done()                 {}

type barProgress struct{ bar *progressbar.ProgressBar }

func (p *barProgress) Update(done, total uint64) {
	if p.bar.GetMax64() != int64(total) {
		p.bar.ChangeMax64(int64(total))
	}
	_ = p.bar.Set64(int64(done))
}

func (p *barProgress) Describe(what string) { p.bar.Describe("samples scored, " + what) }

func (p *barProgress) Done() { _ = p.bar.Close() }

// newProgress returns a progress bar on w when mode asks for one.
func newProgress(mode string, w io.Writer) progressReporter {
	show := mode == "always"
	if mode == "auto" {
		f, ok := w.(*os.File)
		show = ok && term.IsTerminal(int(f.Fd()))
	}
	if !show {
		return noProgress{}
	}
	return &barProgress{bar: progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("samples scored"),
		progressbar.OptionShowCount(),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionThrottle(50_000_000),
	)}
}

func codeName(code int32) string { return codes.Code(uint32(code)).String() }
