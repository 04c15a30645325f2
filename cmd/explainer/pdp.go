package main

import (
	"flag"
	"fmt"
	"image/color"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/explainer-sidecar/explainer/internal/table"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// The -method pdp and -method ale flags, their requests and how their
// curves are shown.

// curveFlags are the flags of -method pdp and -method ale.
type curveFlags struct {
	features       string // -features: "0,27", "mean radius,worst area", "0:27" for a pair
	gridResolution uint
	kind           string
	centered       bool
	bins           uint
	minBinPoints   uint
}

func (f *curveFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.features, "features", "", `pdp, ale: comma-separated feature indices or column names of -data ("0,27" or "mean radius,worst area"); pdp: "a:b" is a pair (a surface); default every feature`)
	fs.UintVar(&f.gridResolution, "grid-resolution", 0, "pdp: grid points per feature (fewer for a feature with fewer distinct values); 0 = 100")
	fs.StringVar(&f.kind, "kind", "average", "pdp: average (partial dependence), individual (ICE curves) or both")
	fs.BoolVar(&f.centered, "centered", false, "pdp: centre every curve at its first grid point (scikit-learn's centered=True)")
	fs.UintVar(&f.bins, "bins", 0, "ale: quantile bins per feature (1 to 1000); 0 = rows / -min-bin-points")
	fs.UintVar(&f.minBinPoints, "min-bin-points", 0, "ale: with -bins 0, rows per bin of the default rule; 0 = 4")
}

// isCurveMethod tells the methods whose results are curves, not
// attributions.
func isCurveMethod(method string) bool { return method == "partial_dependence" || method == "ale" }

// buildCurves builds -method pdp or ale over -data, streamed in chunks.
func (f *explainFlags) buildCurves() (*explainerv1.ExplainRequest, *table.Table, error) {
	if f.text != "" {
		return nil, nil, fmt.Errorf("-method %s explains a data set (-data), not -text", f.method)
	}
	data, err := f.readData()
	if err != nil {
		return nil, nil, err
	}
	data.Target = nil
	features, err := parseCurveFeatures(f.curveFlags.features, data.Names)
	if err != nil {
		return nil, nil, err
	}
	labels, err := parseIndices("-labels", f.labels)
	if err != nil {
		return nil, nil, err
	}
	cats, err := parseIndices("-categorical", f.categorical)
	if err != nil {
		return nil, nil, err
	}
	var categorical []*explainerv1.CategoricalFeature
	for _, c := range cats {
		categorical = append(categorical, &explainerv1.CategoricalFeature{Index: c})
	}
	names := &explainerv1.Dataset{FeatureNames: data.Names}
	req := &explainerv1.ExplainRequest{Model: f.model}
	if f.method == "ale" {
		o := &explainerv1.AleOptions{Data: names, Streamed: true, Bins: uint32(f.bins), MinBinPoints: uint32(f.minBinPoints), Labels: labels,
			CategoricalFeatures: categorical}
		for _, fs := range features {
			if len(fs) != 1 {
				return nil, nil, fmt.Errorf("-features %q: ALE takes single features, not pairs", f.curveFlags.features)
			}
			o.Features = append(o.Features, fs[0])
		}
		req.Method = &explainerv1.ExplainRequest_Ale{Ale: o}
		return req, data, nil
	}
	kind, ok := explainerv1.PdpKind_value["PDP_KIND_"+strings.ToUpper(f.kind)]
	if !ok || kind == 0 {
		return nil, nil, fmt.Errorf("-kind %q: want average, individual or both", f.kind)
	}
	o := &explainerv1.PartialDependenceOptions{
		Data: names, Streamed: true, GridResolution: uint32(f.gridResolution),
		Kind: explainerv1.PdpKind(kind), Centered: f.centered, Labels: labels, CategoricalFeatures: categorical,
	}
	for _, fs := range features {
		o.Features = append(o.Features, &explainerv1.PdpFeatures{Features: fs})
	}
	req.Method = &explainerv1.ExplainRequest_PartialDependence{PartialDependence: o}
	return req, data, nil
}

// parseCurveFeatures parses -features: comma-separated items, each a
// feature (an index or a column name) or a pair "a:b".
func parseCurveFeatures(s string, names []string) ([][]uint32, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out [][]uint32
	for item := range strings.SplitSeq(s, ",") {
		var fs []uint32
		for part := range strings.SplitSeq(item, ":") {
			part = strings.TrimSpace(part)
			if i := slices.Index(names, part); i >= 0 {
				fs = append(fs, uint32(i))
				continue
			}
			n, err := strconv.ParseUint(part, 10, 32)
			if err != nil || int(n) >= len(names) {
				return nil, fmt.Errorf("-features %q: %q is neither a column of -data nor an index below %d", s, part, len(names))
			}
			fs = append(fs, uint32(n))
		}
		if len(fs) > 2 {
			return nil, fmt.Errorf("-features %q: %q: a pair has two features", s, item)
		}
		out = append(out, fs)
	}
	return out, nil
}

// curveProgress describes a partial result of partial dependence or ALE
// for the progress bar; "" for other methods.
func curveProgress(p *explainerv1.Explanation) string {
	if p.GetFeaturesTotal() == 0 {
		return ""
	}
	return fmt.Sprintf("feature %d/%d done", p.GetFeaturesDone(), p.GetFeaturesTotal())
}

// writeCurveTables prints partial dependence and ALE results and reports
// whether exp was one: per label and feature, each grid point (or bin
// edge) with its value ± standard error and a bar from the curve's
// minimum; ICE curves summarised by the spread of their changes.
func writeCurveTables(w io.Writer, exp *explainerv1.Explanation) bool {
	if !isCurveMethod(exp.GetMethod()) {
		return false
	}
	for _, l := range exp.GetLabels() {
		name := className(exp, l.GetLabel(), l.GetClassName())
		for _, pd := range l.GetPartialDependence() {
			writePDTable(w, l.GetLabel(), name, pd)
		}
		for _, a := range l.GetAccumulatedLocalEffects() {
			fmt.Fprintf(w, "\nlabel %d (%s) · ALE of %s · %d bins · constant (mean score) %.4f\n",
				l.GetLabel(), name, a.GetFeature(), len(a.GetBinCounts()), a.GetConstant())
			tab := table.Text{Indent: "  ", Right: []bool{true, true, true, true, false}}
			tab.Row("edge", "effect", "± s.e.", "rows in bin below", fmt.Sprintf("%*s│ %s", barWidth, "− ", "+"))
			maxAbs := 0.0
			for _, e := range a.GetEffects() {
				maxAbs = math.Max(maxAbs, math.Abs(e))
			}
			for k, z := range a.GetEdges() {
				rows := ""
				if k > 0 {
					rows = strconv.Itoa(int(a.GetBinCounts()[k-1]))
				}
				tab.Row(fmt.Sprintf("%.4g", z), fmt.Sprintf("%+.4f", a.GetEffects()[k]), fmt.Sprintf("± %.4f", a.GetStdErrors()[k]), rows, bar(a.GetEffects()[k], maxAbs))
			}
			_, _ = tab.WriteTo(w)
		}
	}
	return true
}

func writePDTable(w io.Writer, label uint32, name string, pd *explainerv1.PartialDependence) {
	what := pd.GetFeature()
	if pd.SecondFeatureIndex != nil {
		what += " × " + pd.GetSecondFeature()
	}
	centred := ""
	if pd.GetCentered() {
		centred = ", centred at the first grid point"
	}
	fmt.Fprintf(w, "\nlabel %d (%s) · partial dependence on %s · %d grid points%s\n", label, name, what, len(pd.GetGrid())*max(1, len(pd.GetSecondGrid())), centred)
	n2 := max(1, len(pd.GetSecondGrid()))
	gridName := func(g int) []string {
		v := fmt.Sprintf("%.4g", pd.GetGrid()[g/n2])
		if labels := pd.GetGridLabels(); g/n2 < len(labels) {
			v = labels[g/n2]
		}
		if pd.SecondFeatureIndex == nil {
			return []string{v}
		}
		return []string{v, fmt.Sprintf("%.4g", pd.GetSecondGrid()[g%n2])}
	}
	header := []string{pd.GetFeature()}
	right := []bool{true}
	if pd.SecondFeatureIndex != nil {
		header, right = append(header, pd.GetSecondFeature()), append(right, true)
	}
	if avg := pd.GetAverage(); len(avg) > 0 {
		lo, hi := slices.Min(avg), slices.Max(avg)
		tab := table.Text{Indent: "  ", Right: append(right, true, true, false)}
		tab.Row(append(header, "average", "± s.e.", "")...)
		for g, v := range avg {
			cells := 0
			if hi > lo {
				cells = int(math.Round((v - lo) / (hi - lo) * barWidth))
			}
			tab.Row(append(gridName(g), fmt.Sprintf("%.4f", v), fmt.Sprintf("± %.4f", pd.GetAverageStdError()[g]), "│"+strings.Repeat("█", cells))...)
		}
		_, _ = tab.WriteTo(w)
	}
	if ice := pd.GetIndividual(); len(ice) > 0 {
		changes := make([]float64, len(ice))
		for i, c := range ice {
			v := c.GetValues()
			changes[i] = v[len(v)-1] - v[0]
		}
		slices.Sort(changes)
		fmt.Fprintf(w, "  ICE: %d curves · change from the first to the last grid point: min %+.4f · median %+.4f · max %+.4f\n",
			len(ice), changes[0], changes[len(changes)/2], changes[len(changes)-1])
	}
}

// Colours of the curve charts.
var (
	colorICE     = color.NRGBA{120, 150, 200, 70}
	colorAverage = color.RGBA{20, 60, 140, 255}
	colorRug     = color.RGBA{60, 60, 60, 255}
)

// writeEffectsPNG draws partial dependence and ALE results as a PNG, one
// panel per label and feature: thin ICE lines with the average in bold
// over them (a pair: one line per value of the second feature), or the
// ALE curve with a marker at each bin edge; under each, a rug of the
// data's deciles of the feature (the grid's points when data is nil), as
// scikit-learn draws them, or of the bin edges.
func writeEffectsPNG(w io.Writer, exp *explainerv1.Explanation, data *table.Table) error {
	var plots []*plot.Plot
	for _, l := range exp.GetLabels() {
		name := className(exp, l.GetLabel(), l.GetClassName())
		for _, pd := range l.GetPartialDependence() {
			p, err := pdPanel(fmt.Sprintf("label %d (%s)", l.GetLabel(), name), pd, deciles(data, int(pd.GetFeatureIndex())))
			if err != nil {
				return err
			}
			plots = append(plots, p)
		}
		for _, a := range l.GetAccumulatedLocalEffects() {
			p, err := alePanel(fmt.Sprintf("label %d (%s)", l.GetLabel(), name), a)
			if err != nil {
				return err
			}
			plots = append(plots, p)
		}
	}
	if len(plots) == 0 {
		return fmt.Errorf("the %s explanation has no curves to chart", exp.GetMethod())
	}
	cols := min(2, len(plots))
	rows := (len(plots) + cols - 1) / cols
	const panel = 4 * vg.Inch
	img := vgimg.NewWith(vgimg.UseWH(vg.Length(cols)*1.4*panel, vg.Length(rows)*panel), vgimg.UseDPI(chartDPI))
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Centimeter, PadY: vg.Centimeter,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 6}
	grid := make([][]*plot.Plot, rows)
	for i := range grid {
		grid[i] = make([]*plot.Plot, cols)
		for j := range cols {
			if k := i*cols + j; k < len(plots) {
				grid[i][j] = plots[k]
			}
		}
	}
	canvases := plot.Align(grid, tiles, draw.New(img))
	for i := range grid {
		for j, p := range grid[i] {
			if p != nil {
				p.Draw(canvases[i][j])
			}
		}
	}
	_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(w)
	return err
}

// deciles returns the 10th to 90th percentiles of feature j in data
// (linear between order statistics, as numpy's percentile), or nil: the
// marks of scikit-learn's PartialDependenceDisplay.
func deciles(data *table.Table, j int) []float64 {
	if data == nil || j >= len(data.Names) || len(data.Rows) == 0 {
		return nil
	}
	col := make([]float64, len(data.Rows))
	for i, r := range data.Rows {
		col[i] = r[j]
	}
	slices.Sort(col)
	out := make([]float64, 9)
	for k := range out {
		pos := float64(k+1) / 10 * float64(len(col)-1)
		lo := int(pos)
		hi := min(lo+1, len(col)-1)
		out[k] = col[lo] + (pos-float64(lo))*(col[hi]-col[lo])
	}
	return out
}

// pdPanel draws one partial dependence; its rug marks values, the data's
// deciles of the feature, or the grid's points when values is nil.
func pdPanel(title string, pd *explainerv1.PartialDependence, values []float64) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title + " · partial dependence"
	p.X.Label.Text = pd.GetFeature()
	p.Y.Label.Text = "score"
	if pd.GetCentered() {
		p.Y.Label.Text = "score − score at the first grid point"
	}
	p.Add(plotter.NewGrid())
	grid := pd.GetGrid()
	n2 := max(1, len(pd.GetSecondGrid()))
	// series returns the values of a curve (or of one row of a surface)
	// at the first feature's grid points.
	series := func(values []float64, col int) plotter.XYs {
		xy := make(plotter.XYs, len(grid))
		for g := range grid {
			xy[g] = plotter.XY{X: grid[g], Y: values[g*n2+col]}
		}
		return xy
	}
	if pd.SecondFeatureIndex == nil {
		for _, c := range pd.GetIndividual() {
			line, err := plotter.NewLine(series(c.GetValues(), 0))
			if err != nil {
				return nil, err
			}
			line.Color, line.Width = colorICE, vg.Points(0.5)
			p.Add(line)
		}
	}
	// One bold line per value of the second feature of a pair, from light
	// to the average's colour; a single feature's average in that colour.
	// A pair's ICE curves are not drawn (a surface per row): without the
	// average, their mean stands in for it.
	avg := pd.GetAverage()
	if ice := pd.GetIndividual(); len(avg) == 0 && pd.SecondFeatureIndex != nil && len(ice) > 0 {
		avg = make([]float64, len(ice[0].GetValues()))
		for _, c := range ice {
			for g, v := range c.GetValues() {
				avg[g] += v / float64(len(ice))
			}
		}
	}
	if len(avg) > 0 {
		p.Legend.Top = true
		for col := range n2 {
			line, err := plotter.NewLine(series(avg, col))
			if err != nil {
				return nil, err
			}
			line.Color, line.Width = shadeTo(colorAverage, float64(n2-1-col)/float64(max(1, n2-1))), vg.Points(2.5)
			p.Add(line)
			if pd.SecondFeatureIndex != nil && (n2 <= 5 || col == 0 || col == n2-1) {
				p.Legend.Add(fmt.Sprintf("%s = %.3g", pd.GetSecondFeature(), pd.GetSecondGrid()[col]), line)
			}
		}
	}
	if values == nil {
		values = grid
	}
	p.Add(rug(values))
	return p, nil
}

// shadeTo mixes c with white: t = 0 is c, t = 1 a light tint of it.
func shadeTo(c color.RGBA, t float64) color.RGBA {
	mix := func(v uint8) uint8 { return uint8(math.Round(float64(v) + 0.7*t*(255-float64(v)))) }
	return color.RGBA{mix(c.R), mix(c.G), mix(c.B), 255}
}

func alePanel(title string, a *explainerv1.AccumulatedLocalEffects) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title + " · ALE"
	p.X.Label.Text = a.GetFeature()
	p.Y.Label.Text = "accumulated local effect"
	p.Add(plotter.NewGrid())
	xy := make(plotter.XYs, len(a.GetEdges()))
	for k, z := range a.GetEdges() {
		xy[k] = plotter.XY{X: z, Y: a.GetEffects()[k]}
	}
	line, points, err := plotter.NewLinePoints(xy)
	if err != nil {
		return nil, err
	}
	line.Color, line.Width = colorAverage, vg.Points(2)
	points.Color = colorAverage
	p.Add(line, points, rug(a.GetEdges()))
	return p, nil
}

// rugPlot marks each x at the bottom of the panel.
type rugPlot struct{ xs []float64 }

func rug(xs []float64) *rugPlot { return &rugPlot{xs} }

func (r *rugPlot) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	sty := draw.LineStyle{Color: colorRug, Width: vg.Points(0.8)}
	for _, x := range r.xs {
		px := trX(x)
		c.StrokeLine2(sty, px, c.Min.Y, px, c.Min.Y+vg.Points(6))
	}
}

// DataRange spans the marks' x; it adds nothing to y.
func (r *rugPlot) DataRange() (xmin, xmax, ymin, ymax float64) {
	if len(r.xs) == 0 {
		return 0, 0, math.Inf(1), math.Inf(-1)
	}
	return slices.Min(r.xs), slices.Max(r.xs), math.Inf(1), math.Inf(-1)
}
