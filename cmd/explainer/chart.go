package main

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// Size of the attribution charts: panelWidth per panel (two for
// KernelSHAP: the bars and the waterfall), barPitch per bar and
// panelChrome for a panel's title and axis, at chartDPI.
const (
	panelWidth  = 7 * vg.Inch
	barPitch    = 0.3 * vg.Inch
	panelChrome = 1.2 * vg.Inch
	chartDPI    = 96
)

// errorBarZ is the multiple of the standard error the error bars span on
// each side: a 95% normal interval, the bars lime and shap users read.
const errorBarZ = 1.96

// colorRule is the chart's axis at 0 and the waterfall's connectors.
var colorRule = color.RGBA{90, 90, 90, 255}

// chartBar is one bar of a chart: a feature, its value and standard error.
type chartBar struct {
	name      string
	value, se float64
}

// chartBars are one label's bars as the table lists them, top to bottom:
// the first top attributions by |weight| (by importance for
// permutation), then for KernelSHAP the rest summed in one bar, so that
// the bars still add up to f(x) − E[f].
func chartBars(exp *explainerv1.Explanation, l *explainerv1.LabelExplanation, top int) []chartBar {
	attrs := l.GetAttributions()
	if exp.GetMethod() == "lime_image" || exp.GetMethod() == "kernelshap_image" {
		attrs = segmentNames(attrs, exp.GetSegments())
	}
	shown, rest := ranked(exp.GetMethod(), attrs, top)
	bars := make([]chartBar, 0, len(shown)+1)
	for _, a := range shown {
		bars = append(bars, chartBar{a.GetFeature(), a.GetWeight(), a.GetStdError()})
	}
	if isShap(exp.GetMethod()) && len(rest) > 0 {
		sum := 0.0
		for _, a := range rest {
			sum += a.GetWeight()
		}
		bars = append(bars, chartBar{name: fmt.Sprintf("(%d other features)", len(rest)), value: sum})
	}
	return bars
}

// hbar is one horizontal bar in data coordinates: row y (0 at the
// bottom), from x0 to x1, with an error bar from lo to hi when lo < hi.
type hbar struct {
	y, x0, x1, lo, hi float64
	fill              color.Color
	label             string // written past the bar's end, if not empty
}

// hbars draws horizontal bars; it is a plot.Plotter and plot.DataRanger.
type hbars struct {
	bars []hbar
	// rules are vertical lines across every row, dashed, at these x.
	rules []float64
	// connect joins each bar's x1 to the next row's x0 (a waterfall).
	connect bool
}

// barHalfHeight is half a bar's height, in rows.
const barHalfHeight = 0.35

func (h *hbars) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	thin := draw.LineStyle{Color: colorRule, Width: vg.Points(0.75)}
	for _, x := range h.rules {
		sty := thin
		sty.Dashes = []vg.Length{vg.Points(3), vg.Points(3)}
		c.StrokeLines(sty, c.ClipLinesXY([]vg.Point{{X: trX(x), Y: c.Min.Y}, {X: trX(x), Y: c.Max.Y}})...)
	}
	label := text.Style{Color: color.Black, Font: font.From(plot.DefaultFont, vg.Points(8)), Handler: plot.DefaultTextHandler, YAlign: draw.YCenter}
	for i, b := range h.bars {
		y0, y1 := trY(b.y-barHalfHeight), trY(b.y+barHalfHeight)
		x0, x1 := trX(math.Min(b.x0, b.x1)), trX(math.Max(b.x0, b.x1))
		c.FillPolygon(b.fill, c.ClipPolygonXY([]vg.Point{{X: x0, Y: y0}, {X: x0, Y: y1}, {X: x1, Y: y1}, {X: x1, Y: y0}}))
		if b.lo < b.hi {
			ym, cap := trY(b.y), (y1-y0)/4
			lo, hi := trX(b.lo), trX(b.hi)
			whisker := draw.LineStyle{Color: color.Black, Width: vg.Points(1)}
			c.StrokeLines(whisker, c.ClipLinesXY(
				[]vg.Point{{X: lo, Y: ym}, {X: hi, Y: ym}},
				[]vg.Point{{X: lo, Y: ym - cap}, {X: lo, Y: ym + cap}},
				[]vg.Point{{X: hi, Y: ym - cap}, {X: hi, Y: ym + cap}})...)
		}
		if h.connect && i+1 < len(h.bars) {
			next := h.bars[i+1]
			x := trX(b.x1)
			c.StrokeLines(thin, c.ClipLinesXY([]vg.Point{{X: x, Y: y0}, {X: x, Y: trY(next.y + barHalfHeight)}})...)
		}
		if b.label != "" {
			sty, at := label, x1+vg.Points(3)
			if b.x1 < b.x0 {
				sty.XAlign, at = draw.XRight, x0-vg.Points(3)
			}
			c.FillText(sty, vg.Point{X: at, Y: trY(b.y)}, b.label)
		}
	}
}

// DataRange is every bar, error bar and rule, with room for the labels.
func (h *hbars) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, xmax = math.Inf(1), math.Inf(-1)
	ymin, ymax = -0.5, 0.5
	grow := func(xs ...float64) {
		for _, x := range xs {
			xmin, xmax = math.Min(xmin, x), math.Max(xmax, x)
		}
	}
	for _, b := range h.bars {
		grow(b.x0, b.x1)
		if b.lo < b.hi {
			grow(b.lo, b.hi)
		}
		ymin, ymax = math.Min(ymin, b.y-0.5), math.Max(ymax, b.y+0.5)
	}
	grow(h.rules...)
	if math.IsInf(xmin, 0) {
		return -1, 1, ymin, ymax
	}
	if xmin == xmax {
		xmin, xmax = xmin-0.5, xmax+0.5
	}
	if h.connect { // room for the value labels
		pad := (xmax - xmin) * 0.12
		xmin, xmax = xmin-pad, xmax+pad
	}
	return xmin, xmax, ymin, ymax
}

// barColor is green for the label (a positive weight), red against it.
func barColor(v float64) color.Color {
	if v < 0 {
		return colorAgainst
	}
	return colorFor
}

// rowTicks names the rows: bars[0] at the top.
func rowTicks(bars []chartBar) plot.ConstantTicks {
	ticks := make(plot.ConstantTicks, len(bars))
	for i, b := range bars {
		ticks[i] = plot.Tick{Value: float64(len(bars) - 1 - i), Label: b.name}
	}
	return ticks
}

// barPanel is one label's bar chart: each bar from 0 to the weight, the
// largest at the top, with ±errorBarZ standard errors.
func barPanel(title, xLabel string, bars []chartBar) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xLabel
	if hasSE(bars) {
		p.X.Label.Text += fmt.Sprintf(" (bars: ±%.2f s.e.)", errorBarZ)
	}
	p.Y.Tick.Marker = rowTicks(bars)
	p.Add(plotter.NewGrid())
	h := &hbars{rules: []float64{0}}
	for i, b := range bars {
		hb := hbar{y: float64(len(bars) - 1 - i), x1: b.value, fill: barColor(b.value)}
		if b.se > 0 {
			hb.lo, hb.hi = b.value-errorBarZ*b.se, b.value+errorBarZ*b.se
		}
		h.bars = append(h.bars, hb)
	}
	p.Add(h)
	return p
}

func hasSE(bars []chartBar) bool {
	for _, b := range bars {
		if b.se > 0 {
			return true
		}
	}
	return false
}

// waterfallBars lays KernelSHAP's values end to end, as shap's waterfall
// plot: the bottom bar starts at E[f(background)], each bar starts where
// the one below it ends, and the top bar ends at f(x) (the values sum to
// f(x) − E[f]). bars are top to bottom; the result is in the same order.
func waterfallBars(bars []chartBar, base float64) []hbar {
	out := make([]hbar, len(bars))
	x := base
	for i := len(bars) - 1; i >= 0; i-- {
		b := bars[i]
		out[i] = hbar{y: float64(len(bars) - 1 - i), x0: x, x1: x + b.value, fill: barColor(b.value), label: fmt.Sprintf("%+.3g", b.value)}
		x += b.value
	}
	return out
}

// waterfallPanel is KernelSHAP's waterfall for one label.
func waterfallPanel(title string, bars []chartBar, base, model float64) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = fmt.Sprintf("E[f(background)] = %.4g  →  f(x) = %.4g", base, model)
	p.Y.Tick.Marker = rowTicks(bars)
	p.Add(plotter.NewGrid())
	p.Add(&hbars{bars: waterfallBars(bars, base), rules: []float64{base, model}, connect: true})
	return p
}

// writeChartPNG draws an attribution explanation as a PNG: per label, a
// horizontal bar chart of the attributions the table lists, largest at the
// top, green for and red against the label, with ±1.96 standard-error
// bars; for KernelSHAP, a waterfall from E[f(background)] to f(x) beside
// it. top is the table's -num-features (0: every attribution).
func writeChartPNG(w io.Writer, exp *explainerv1.Explanation, top int) error {
	labels := exp.GetLabels()
	rows := 0
	for _, l := range labels {
		rows = max(rows, len(chartBars(exp, l, top)))
	}
	if rows == 0 {
		return fmt.Errorf("the %s explanation has no attributions to chart", exp.GetMethod())
	}
	cols := 1
	if isShap(exp.GetMethod()) {
		cols = 2
	}
	plots := make([][]*plot.Plot, len(labels))
	for i, l := range labels {
		bars := chartBars(exp, l, top)
		title := fmt.Sprintf("%s · %s", exp.GetModel(), exp.GetMethod())
		if exp.GetMethod() != "permutation" {
			title = fmt.Sprintf("label %d (%s) · %s", l.GetLabel(), className(exp, l.GetLabel(), l.GetClassName()), exp.GetMethod())
		}
		plots[i] = make([]*plot.Plot, cols)
		plots[i][0] = barPanel(title, valueHeader(exp.GetMethod()), bars)
		if cols == 2 {
			plots[i][1] = waterfallPanel("waterfall", bars, l.GetBaseValue(), l.GetModelValue())
		}
	}
	height := vg.Length(len(labels)) * (panelChrome + vg.Length(rows)*barPitch)
	img := vgimg.NewWith(vgimg.UseWH(vg.Length(cols)*panelWidth, height), vgimg.UseDPI(chartDPI))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(labels), Cols: cols, PadX: vg.Centimeter, PadY: vg.Centimeter,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 6}
	canvases := plot.Align(plots, tiles, dc)
	for i := range plots {
		for j, p := range plots[i] {
			p.Draw(canvases[i][j])
		}
	}
	_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(w)
	return err
}

// writeExplanationPNG writes the PNG of -png and -output png: the image
// with its map for an image explanation (inst is the image), else the
// attribution chart.
func writeExplanationPNG(w io.Writer, exp *explainerv1.Explanation, v view) error {
	inst, top := v.image, v.top
	if isAnchors(exp.GetMethod()) {
		return writeAnchorPNG(w, exp, inst)
	}
	if inst != nil {
		return writePNG(w, exp, inst)
	}
	if exp.GetMethod() == "counterfactual" {
		return writeCounterfactualPNG(w, exp)
	}
	if exp.GetMethod() == "occlusion" && len(exp.GetMaps()) > 0 || exp.GetMethod() == "lime_image" || exp.GetMethod() == "kernelshap_image" {
		return errors.New("an image explanation is drawn over its image: give -image")
	}
	if isCurveMethod(exp.GetMethod()) {
		return writeEffectsPNG(w, exp, v.data)
	}
	return writeChartPNG(w, exp, top)
}
