package main

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/explainer-sidecar/explainer/internal/table"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// cfFlags are -method counterfactual's own flags.
type cfFlags struct {
	desiredClass   int
	minProbability float64
	count          uint
	immutable      string
	ranges         string
	population     uint
	maxGenerations uint
}

func (f *cfFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&f.desiredClass, "desired-class", -1, "counterfactual: the class the counterfactuals must be in; -1 = any class but the predicted one")
	fs.Float64Var(&f.minProbability, "min-probability", 0, "counterfactual: the least score of that class, in [0, 1); 0 = it is the top class")
	fs.UintVar(&f.count, "count", 0, "counterfactual: counterfactuals wanted, 1 to 100; 0 = the sidecar's default, 3")
	fs.StringVar(&f.immutable, "immutable", "", `counterfactual: features that never change, comma-separated names or indices ("age,3")`)
	fs.StringVar(&f.ranges, "ranges", "", `counterfactual: bounds of features, FEATURE=MIN:MAX comma-separated, by name or index ("2=0:10,mean area=100:900"); default the range -background takes`)
	fs.UintVar(&f.population, "population", 0, "counterfactual: rows scored per generation, 8 to 100000; 0 = the sidecar's default, 256")
	fs.UintVar(&f.maxGenerations, "max-generations", 0, "counterfactual: generations at most, 1 to 10000; 0 = the sidecar's default, 100")
}

// buildCounterfactual searches counterfactuals of a row (-instance or
// -instance-file) with -background as the data set that scales the
// features and bounds them.
func (f *explainFlags) buildCounterfactual() (*explainerv1.ExplainRequest, *table.Table, error) {
	if f.text != "" || f.image != "" {
		return nil, nil, errors.New("-method counterfactual explains a row (-instance), not -text or -image")
	}
	if f.background == "" {
		return nil, nil, errors.New("-background is required for -method counterfactual: a CSV with a header row, whose rows give each feature's scale (MAD), range and categories")
	}
	bg, instance, err := f.backgroundAndInstance()
	if err != nil {
		return nil, nil, err
	}
	o := &explainerv1.CounterfactualOptions{
		Data:           rowsDataset(bg, false),
		MinProbability: f.cf.minProbability,
		Count:          uint32(f.cf.count),
		Population:     uint32(f.cf.population),
		MaxGenerations: uint32(f.cf.maxGenerations),
		Seed:           f.seedOption(),
	}
	if f.cf.desiredClass >= 0 {
		c := uint32(f.cf.desiredClass)
		o.DesiredClass = &c
	}
	if o.ImmutableFeatures, err = featureList("-immutable", f.cf.immutable, bg.Names); err != nil {
		return nil, nil, err
	}
	if o.Ranges, err = parseRanges(f.cf.ranges, bg.Names); err != nil {
		return nil, nil, err
	}
	tab, err := f.tabularInstance(instance, bg.Names)
	if err != nil {
		return nil, nil, err
	}
	return &explainerv1.ExplainRequest{
		Model:    f.model,
		Instance: &explainerv1.Instance{Kind: &explainerv1.Instance_Tabular{Tabular: tab}},
		Method:   &explainerv1.ExplainRequest_Counterfactual{Counterfactual: o},
	}, nil, nil
}

// featureIndex reads a feature by name, or else by index.
func featureIndex(flagName, s string, names []string) (uint32, error) {
	s = strings.TrimSpace(s)
	if i := slices.Index(names, s); i >= 0 {
		return uint32(i), nil
	}
	i, err := strconv.ParseUint(s, 10, 32)
	if err != nil || int(i) >= len(names) {
		return 0, fmt.Errorf("%s: %q is neither a feature name nor an index below %d", flagName, s, len(names))
	}
	return uint32(i), nil
}

// featureList reads comma-separated feature names or indices.
func featureList(flagName, s string, names []string) ([]uint32, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []uint32
	for _, part := range strings.Split(s, ",") {
		i, err := featureIndex(flagName, part, names)
		if err != nil {
			return nil, err
		}
		out = append(out, i)
	}
	return out, nil
}

// parseRanges reads -ranges: FEATURE=MIN:MAX, comma-separated.
func parseRanges(s string, names []string) ([]*explainerv1.FeatureRange, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []*explainerv1.FeatureRange
	for _, part := range strings.Split(s, ",") {
		eq := strings.LastIndex(part, "=")
		lo, hi, ok := strings.Cut(part[eq+1:], ":")
		if eq < 0 || !ok {
			return nil, fmt.Errorf("-ranges: %q: want FEATURE=MIN:MAX", part)
		}
		j, err := featureIndex("-ranges", part[:eq], names)
		if err != nil {
			return nil, err
		}
		min, err1 := strconv.ParseFloat(strings.TrimSpace(lo), 64)
		max, err2 := strconv.ParseFloat(strings.TrimSpace(hi), 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("-ranges: %q: MIN and MAX must be numbers", part)
		}
		out = append(out, &explainerv1.FeatureRange{Feature: j, Min: min, Max: max})
	}
	return out, nil
}

// writeCounterfactuals prints the instance's class and, per
// counterfactual, its class and score, proximity, sparsity and changes.
func writeCounterfactuals(w io.Writer, exp *explainerv1.Explanation) {
	if s := exp.GetInstanceScores(); len(s) > 0 {
		c := uint32(argmaxOf(s))
		fmt.Fprintf(w, "\ninstance: %s %.4f · %d generations\n", className(exp, c, ""), s[c], exp.GetRounds())
	}
	cfs := exp.GetCounterfactuals()
	if len(cfs) == 0 {
		fmt.Fprintln(w, "no valid counterfactual found: widen -ranges, free -immutable features, lower -min-probability or raise -max-generations")
		return
	}
	for i, cf := range cfs {
		fmt.Fprintf(w, "\ncounterfactual %d: %s %.4f · proximity %.3f (MAD units) · sparsity %d\n",
			i+1, className(exp, cf.GetLabel(), ""), scoreOf(cf), cf.GetProximity(), cf.GetSparsity())
		for _, ch := range cf.GetChanges() {
			fmt.Fprintf(w, "  %s: %.4g → %.4g\n", ch.GetFeature(), ch.GetFrom(), ch.GetTo())
		}
	}
}

func scoreOf(cf *explainerv1.Counterfactual) float64 {
	if l := int(cf.GetLabel()); l < len(cf.GetScores()) {
		return cf.GetScores()[l]
	}
	return 0
}

// argmaxOf is the index of the largest value, the first on ties.
func argmaxOf(v []float64) int { return slices.Index(v, slices.Max(v)) }

// counterfactualNotes are the HTML page's lines: one per counterfactual.
func counterfactualNotes(exp *explainerv1.Explanation) []string {
	var notes []string
	for i, cf := range exp.GetCounterfactuals() {
		changes := make([]string, len(cf.GetChanges()))
		for k, ch := range cf.GetChanges() {
			changes[k] = fmt.Sprintf("%s: %.4g → %.4g", ch.GetFeature(), ch.GetFrom(), ch.GetTo())
		}
		notes = append(notes, fmt.Sprintf("counterfactual %d: %s %.4f · proximity %.3f · sparsity %d · %s",
			i+1, className(exp, cf.GetLabel(), ""), scoreOf(cf), cf.GetProximity(), cf.GetSparsity(), strings.Join(changes, ", ")))
	}
	return notes
}

// writeCounterfactualPNG draws one panel per counterfactual: a bar per
// changed feature, its change in MAD units (FeatureChange.scaled), green
// up and red down, the largest at the top.
func writeCounterfactualPNG(w io.Writer, exp *explainerv1.Explanation) error {
	cfs := exp.GetCounterfactuals()
	if len(cfs) == 0 {
		return errors.New("the counterfactual search found no valid counterfactual to chart")
	}
	rows := 1
	plots := make([][]*plot.Plot, len(cfs))
	for i, cf := range cfs {
		bars := make([]chartBar, len(cf.GetChanges()))
		for k, ch := range cf.GetChanges() {
			bars[k] = chartBar{name: fmt.Sprintf("%s: %.4g → %.4g", ch.GetFeature(), ch.GetFrom(), ch.GetTo()), value: ch.GetScaled()}
		}
		slices.SortStableFunc(bars, func(a, b chartBar) int { return cmp.Compare(math.Abs(b.value), math.Abs(a.value)) })
		rows = max(rows, len(bars))
		title := fmt.Sprintf("counterfactual %d: %s %.3f · proximity %.3f · sparsity %d",
			i+1, className(exp, cf.GetLabel(), ""), scoreOf(cf), cf.GetProximity(), cf.GetSparsity())
		plots[i] = []*plot.Plot{barPanel(title, "change in MAD units", bars)}
	}
	img := vgimg.NewWith(vgimg.UseWH(panelWidth, counterfactualPNGHeight(len(cfs), rows)), vgimg.UseDPI(chartDPI))
	tiles := draw.Tiles{Rows: len(cfs), Cols: 1, PadX: vg.Centimeter, PadY: vg.Centimeter,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 6}
	canvases := plot.Align(plots, tiles, draw.New(img))
	for i := range plots {
		plots[i][0].Draw(canvases[i][0])
	}
	_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(w)
	return err
}

// counterfactualPNGHeight is the chart's height: a panel per
// counterfactual, each as tall as the one with the most changes.
func counterfactualPNGHeight(panels, rows int) vg.Length {
	return vg.Length(panels) * (panelChrome + vg.Length(rows)*barPitch)
}
