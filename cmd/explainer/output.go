package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strings"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
	"google.golang.org/grpc/codes"

	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// jsonExplanation is the CLI's JSON output: part of its interface, so
// field names only ever get added.
type jsonExplanation struct {
	Method       string      `json:"method"`
	Model        string      `json:"model"`
	Seed         uint64      `json:"seed"`
	NumSamples   uint64      `json:"num_samples"`
	ModelCalls   uint64      `json:"model_calls"`
	ElapsedMS    float64     `json:"elapsed_ms"`
	KernelWidth  float64     `json:"kernel_width"`
	Selection    string      `json:"feature_selection"`
	ClassNames   []string    `json:"class_names,omitempty"`
	Scores       []float64   `json:"instance_scores"`
	Explanations []jsonLabel `json:"explanations"`
}

type jsonLabel struct {
	Label           uint32            `json:"label"`
	ClassName       string            `json:"class_name,omitempty"`
	Prediction      float64           `json:"prediction"`
	Intercept       float64           `json:"intercept"`
	Score           float64           `json:"score"`
	LocalPrediction float64           `json:"local_prediction"`
	Attributions    []jsonAttribution `json:"attributions"`
}

type jsonAttribution struct {
	Index   uint32  `json:"index"`
	Feature string  `json:"feature"`
	Weight  float64 `json:"weight"`
}

func toJSON(exp *explainerv1.Explanation) jsonExplanation {
	out := jsonExplanation{
		Method:      exp.GetMethod(),
		Model:       exp.GetModel(),
		Seed:        exp.GetSeed(),
		NumSamples:  exp.GetNumSamples(),
		ModelCalls:  exp.GetModelCalls(),
		ElapsedMS:   float64(exp.GetElapsed().AsDuration().Microseconds()) / 1000,
		KernelWidth: exp.GetKernelWidth(),
		Selection:   strings.ToLower(strings.TrimPrefix(exp.GetFeatureSelection().String(), "FEATURE_SELECTION_")),
		ClassNames:  exp.GetClassNames(),
		Scores:      exp.GetInstanceScores(),
	}
	for _, l := range exp.GetLabels() {
		jl := jsonLabel{
			Label: l.GetLabel(), ClassName: l.GetClassName(), Prediction: l.GetPrediction(),
			Intercept: l.GetIntercept(), Score: l.GetScore(), LocalPrediction: l.GetLocalPrediction(),
			Attributions: []jsonAttribution{},
		}
		for _, a := range l.GetAttributions() {
			jl.Attributions = append(jl.Attributions, jsonAttribution{Index: a.GetIndex(), Feature: a.GetFeature(), Weight: a.GetWeight()})
		}
		out.Explanations = append(out.Explanations, jl)
	}
	return out
}

func render(w io.Writer, format string, exp *explainerv1.Explanation) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false) // descriptions hold < and >
		return enc.Encode(toJSON(exp))
	case "table", "":
		writeTable(w, exp)
		return nil
	}
	return fmt.Errorf("-output %q: want table or json", format)
}

// barWidth is the width of one side of the weight bars, in cells.
const barWidth = 24

// writeTable prints each label's attributions with bars: negative weights
// grow left of the axis, positive ones right, scaled to the largest |weight|.
func writeTable(w io.Writer, exp *explainerv1.Explanation) {
	fmt.Fprintf(w, "%s · %s · %d samples in %d model calls · seed %d · %s\n",
		exp.GetModel(), exp.GetMethod(), exp.GetNumSamples(), exp.GetModelCalls(), exp.GetSeed(),
		exp.GetElapsed().AsDuration().Round(100_000))
	for _, l := range exp.GetLabels() {
		name := l.GetClassName()
		if name == "" {
			name = fmt.Sprintf("class %d", l.GetLabel())
		}
		fmt.Fprintf(w, "\nlabel %d (%s): model says %.4f · surrogate says %.4f (intercept %.4f, weighted R² %.3f)\n",
			l.GetLabel(), name, l.GetPrediction(), l.GetLocalPrediction(), l.GetIntercept(), l.GetScore())
		width := len("feature")
		maxAbs := 0.0
		for _, a := range l.GetAttributions() {
			width = max(width, len([]rune(a.GetFeature())))
			maxAbs = math.Max(maxAbs, math.Abs(a.GetWeight()))
		}
		fmt.Fprintf(w, "  %-*s  %9s  %*s│ for\n", width, "feature", "weight", barWidth, "against ")
		for _, a := range l.GetAttributions() {
			fmt.Fprintf(w, "  %-*s  %+9.4f  %s\n", width, a.GetFeature(), a.GetWeight(), bar(a.GetWeight(), maxAbs))
		}
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
	Done()
}

type noProgress struct{}

func (noProgress) Update(uint64, uint64) {}
func (noProgress) Done()                 {}

type barProgress struct{ bar *progressbar.ProgressBar }

func (p *barProgress) Update(done, total uint64) {
	if p.bar.GetMax64() != int64(total) {
		p.bar.ChangeMax64(int64(total))
	}
	_ = p.bar.Set64(int64(done))
}

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
