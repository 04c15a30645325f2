package main

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// Size of the fidelity curves' PNG: two panels side by side, 10 × 4
// inches at curvesDPI dots per inch (960 × 384 pixels).
const (
	curvesWidth  = 10 * vg.Inch
	curvesHeight = 4 * vg.Inch
	curvesDPI    = 96
)

// Colours of the curves: the attributions' order solid blue, the random
// orders dashed grey.
var (
	colorCurve  = color.RGBA{31, 119, 180, 255}
	colorRandom = color.RGBA{127, 127, 127, 255}
)

// writeCurvesPNG draws one label's fidelity curves as a PNG: the deletion
// curve beside its random baseline on the left, the insertion curve beside
// its random baseline on the right, on the same score axis, with the areas
// in the legends. A faithful explanation's deletion curve lies below the
// random one and its insertion curve above. title heads both panels.
func writeCurvesPNG(w io.Writer, c *explainerv1.FidelityCurves, title string) error {
	if err := checkCurves(c); err != nil {
		return err
	}
	del, err := curvesPanel(title, "deletion", "fraction of features removed",
		c.GetFractions(), c.GetDeletion(), c.GetRandomDeletion(), c.GetDeletionArea(), c.GetRandomDeletionArea())
	if err != nil {
		return err
	}
	del.Legend.Top = true // the deletion curves start high on the left
	ins, err := curvesPanel(title, "insertion", "fraction of features inserted",
		c.GetFractions(), c.GetInsertion(), c.GetRandomInsertion(), c.GetInsertionArea(), c.GetRandomInsertionArea())
	if err != nil {
		return err
	}
	// One score axis for both panels, so that they compare.
	lo := math.Min(del.Y.Min, ins.Y.Min)
	hi := math.Max(del.Y.Max, ins.Y.Max)
	if lo == hi {
		lo, hi = lo-0.5, hi+0.5
	}
	for _, p := range []*plot.Plot{del, ins} {
		p.Y.Min, p.Y.Max = lo, hi
		p.X.Min, p.X.Max = 0, 1
	}

	img := vgimg.NewWith(vgimg.UseWH(curvesWidth, curvesHeight), vgimg.UseDPI(curvesDPI))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Centimeter, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2,
		PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 4}
	canvases := plot.Align([][]*plot.Plot{{del, ins}}, tiles, dc)
	del.Draw(canvases[0][0])
	ins.Draw(canvases[0][1])
	_, err = vgimg.PngCanvas{Canvas: img}.WriteTo(w)
	return err
}

// checkCurves rejects curves that cannot be drawn: missing, fewer than two
// points, curves of different lengths or non-finite values.
func checkCurves(c *explainerv1.FidelityCurves) error {
	if c == nil {
		return errors.New("no fidelity curves to draw")
	}
	n := len(c.GetFractions())
	if n < 2 {
		return fmt.Errorf("fidelity curves of label %d have %d points, need at least 2", c.GetLabel(), n)
	}
	for _, f := range []struct {
		name string
		ys   []float64
	}{
		{"fractions", c.GetFractions()}, {"deletion", c.GetDeletion()}, {"random_deletion", c.GetRandomDeletion()},
		{"insertion", c.GetInsertion()}, {"random_insertion", c.GetRandomInsertion()},
	} {
		if len(f.ys) != n {
			return fmt.Errorf("fidelity curves of label %d: %s has %d points for %d fractions", c.GetLabel(), f.name, len(f.ys), n)
		}
		for _, v := range f.ys {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("fidelity curves of label %d: %s has a non-finite value", c.GetLabel(), f.name)
			}
		}
	}
	return nil
}

// curvesPanel plots one curve and its random baseline.
func curvesPanel(title, kind, xLabel string, x, y, random []float64, area, randomArea float64) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = kind
	if title != "" {
		p.Title.Text = title + ": " + kind
	}
	p.X.Label.Text = xLabel
	p.Y.Label.Text = "score"
	p.Add(plotter.NewGrid())

	line := func(ys []float64, clr color.Color, dashed bool) (*plotter.Line, error) {
		xys := make(plotter.XYs, len(x))
		for i := range xys {
			xys[i].X, xys[i].Y = x[i], ys[i]
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return nil, err
		}
		l.Color = clr
		l.Width = vg.Points(2)
		if dashed {
			l.Dashes = []vg.Length{vg.Points(6), vg.Points(4)}
		}
		return l, nil
	}
	attr, err := line(y, colorCurve, false)
	if err != nil {
		return nil, err
	}
	rnd, err := line(random, colorRandom, true)
	if err != nil {
		return nil, err
	}
	p.Add(rnd, attr)
	p.Legend.Add(fmt.Sprintf("attributions (area %.3g)", area), attr)
	p.Legend.Add(fmt.Sprintf("random (area %.3g)", randomArea), rnd)
	return p, nil
}
