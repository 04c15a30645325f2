package main

import (
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	vgdraw "gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/explainer-sidecar/explainer/internal/table"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// anchorFlags are -method anchors' own flags. Zero means the sidecar's
// default (alibi's, see AnchorOptions).
type anchorFlags struct {
	threshold, delta, epsilon, sampleProb float64
	beamSize, anchorBatch, coverage       uint
	maxAnchorSize, minStart, examples     uint
}

// anchorFlagNames are the flags -h lists under anchors.
var anchorFlagNames = []string{"threshold", "delta", "epsilon", "beam-size", "anchor-batch-size", "coverage-samples",
	"max-anchor-size", "min-samples-start", "examples", "sample-probability"}

func (f *anchorFlags) register(fs *flag.FlagSet) {
	fs.Float64Var(&f.threshold, "threshold", 0, "anchors: the precision the rule must reach, in (0, 1]; 0 = 0.95")
	fs.Float64Var(&f.delta, "delta", 0, "anchors: KL-LUCB's confidence, in (0, 1); 0 = 0.1")
	fs.Float64Var(&f.epsilon, "epsilon", 0, "anchors: KL-LUCB's tolerance (alibi's tau), in (0, 1); 0 = 0.15")
	fs.UintVar(&f.beamSize, "beam-size", 0, "anchors: rules kept per round, 1 to 100; 0 = 2")
	fs.UintVar(&f.anchorBatch, "anchor-batch-size", 0, "anchors: samples per rule per step, 1 to 10000; 0 = 100")
	fs.UintVar(&f.coverage, "coverage-samples", 0, "anchors: samples drawn to estimate coverage, 1 to 1000000; 0 = 10000")
	fs.UintVar(&f.maxAnchorSize, "max-anchor-size", 0, "anchors: most predicates in the rule; 0 = no limit")
	fs.UintVar(&f.minStart, "min-samples-start", 0, "anchors: samples every rule starts with; 0 = -anchor-batch-size")
	fs.UintVar(&f.examples, "examples", 0, "anchors: examples kept where the rule holds and fails, at most 100; 0 = 5")
	fs.Float64Var(&f.sampleProb, "sample-probability", 0, "anchors with -text or -image: probability a sample hides each word or segment outside the rule; 0 = 0.5")
}

// anchorOptions are the request's options from the flags.
func (f *explainFlags) anchorOptions() *explainerv1.AnchorOptions {
	a := f.anchorFlags
	return &explainerv1.AnchorOptions{
		Threshold: a.threshold, Delta: a.delta, Epsilon: a.epsilon, BeamSize: uint32(a.beamSize), BatchSize: uint32(a.anchorBatch),
		CoverageSamples: uint32(a.coverage), MaxAnchorSize: uint32(a.maxAnchorSize), MinSamplesStart: uint32(a.minStart),
		Examples: uint32(a.examples), SampleProbability: a.sampleProb, Seed: f.seedOption(),
	}
}

// buildAnchors explains a row (with -background as the training data), a
// -text or an -image with anchors.
func (f *explainFlags) buildAnchors() (*explainerv1.ExplainRequest, *table.Table, error) {
	if f.labels != "" || f.topLabels != 0 {
		return nil, nil, errors.New("anchors explains the predicted class: -labels and -top-labels do not apply")
	}
	o := f.anchorOptions()
	switch {
	case f.image != "":
		req, err := f.imageRequest()
		if err != nil {
			return nil, nil, err
		}
		if o.Segmentation, err = parseSegmentation(f.segmentation); err != nil {
			return nil, nil, err
		}
		if o.Fill, err = parseFill(f.fill); err != nil {
			return nil, nil, err
		}
		req.Method = &explainerv1.ExplainRequest_Anchors{Anchors: o}
		return req, nil, nil
	case f.text != "":
		o.MaskString = f.maskString
		return &explainerv1.ExplainRequest{
			Model: f.model,
			Instance: &explainerv1.Instance{Kind: &explainerv1.Instance_Text{Text: &explainerv1.TextInstance{
				Text: f.text, SplitExpression: f.splitExpression,
			}}},
			Method: &explainerv1.ExplainRequest_Anchors{Anchors: o},
		}, nil, nil
	case f.background == "":
		return nil, nil, errors.New("-background is required for -method anchors on a row: a CSV of the training rows samples are drawn from")
	}
	bg, instance, err := f.backgroundAndInstance()
	if err != nil {
		return nil, nil, err
	}
	o.Training = rowsDataset(bg, false)
	tab, err := f.tabularInstance(instance, bg.Names)
	if err != nil {
		return nil, nil, err
	}
	return &explainerv1.ExplainRequest{
		Model:    f.model,
		Instance: &explainerv1.Instance{Kind: &explainerv1.Instance_Tabular{Tabular: tab}},
		Method:   &explainerv1.ExplainRequest_Anchors{Anchors: o},
	}, nil, nil
}

// isAnchors reports an anchors explanation.
func isAnchors(method string) bool { return strings.HasPrefix(method, "anchors") }

// anchorRule is the rule as a sentence: "IF a AND b THEN benign".
func anchorRule(exp *explainerv1.Explanation, l *explainerv1.LabelExplanation) string {
	a := l.GetAnchor()
	var conds []string
	for _, p := range a.GetPredicates() {
		conds = append(conds, p.GetDescription())
	}
	cond := "(always)"
	if len(conds) > 0 {
		cond = strings.Join(conds, " AND ")
	}
	return fmt.Sprintf("IF %s THEN %s", cond, className(exp, l.GetLabel(), l.GetClassName()))
}

// anchorSummary is the line above an anchor's table (and in HTML).
func anchorSummary(exp *explainerv1.Explanation, l *explainerv1.LabelExplanation) string {
	a := l.GetAnchor()
	met := "threshold met"
	if !a.GetThresholdMet() {
		met = "threshold NOT met: the best rule found"
	}
	return fmt.Sprintf("model says %.4f · %s · precision %.4f · coverage %.4f · %s",
		l.GetPrediction(), anchorRule(exp, l), a.GetPrecision(), a.GetCoverage(), met)
}

// writeAnchors prints each label's rule, then its predicates with the
// precision and coverage once each is added, and its example counts.
func writeAnchors(w io.Writer, exp *explainerv1.Explanation) {
	for _, l := range exp.GetLabels() {
		a := l.GetAnchor()
		fmt.Fprintf(w, "\nlabel %d (%s): model says %.4f\n", l.GetLabel(), className(exp, l.GetLabel(), l.GetClassName()), l.GetPrediction())
		fmt.Fprintf(w, "  %s\n", anchorRule(exp, l))
		met := "yes"
		if !a.GetThresholdMet() {
			met = "no (the best rule found)"
		}
		fmt.Fprintf(w, "  precision %.4f · coverage %.4f · threshold met: %s\n", a.GetPrecision(), a.GetCoverage(), met)
		if len(a.GetPredicates()) > 0 {
			fmt.Fprintf(w, "  %-4s %-40s %9s %9s\n", "#", "predicate added", "precision", "coverage")
			for i, p := range a.GetPredicates() {
				fmt.Fprintf(w, "  %-4d %-40s %9.4f %9.4f\n", i+1, p.GetDescription(), p.GetPrecision(), p.GetCoverage())
			}
		}
		fmt.Fprintf(w, "  examples: %d where the rule holds and the model agrees, %d where it disagrees\n",
			len(a.GetCoveredTrue()), len(a.GetCoveredFalse()))
	}
}

// writeAnchorPNG draws an anchor: for an image, the image beside it with
// the anchor's segments shown and the rest dimmed; otherwise a chart of
// the rule's precision and coverage as each predicate is added.
func writeAnchorPNG(w io.Writer, exp *explainerv1.Explanation, inst *explainerv1.ImageInstance) error {
	if exp.GetMethod() == "anchors_image" {
		img, err := anchorImageFigure(exp, inst)
		if err != nil {
			return err
		}
		return png.Encode(w, img)
	}
	return anchorChart(w, exp)
}

// anchorDim is how far a segment outside the anchor fades to white.
const anchorDim = 0.75

func anchorImageFigure(exp *explainerv1.Explanation, inst *explainerv1.ImageInstance) (*image.RGBA, error) {
	if inst == nil {
		return nil, errors.New("an image explanation is drawn over its image: give -image")
	}
	seg := exp.GetSegments()
	if seg == nil || len(exp.GetLabels()) == 0 {
		return nil, errors.New("the anchors_image explanation has no segment map")
	}
	im, err := instanceHWC(inst)
	if err != nil {
		return nil, err
	}
	base := displayImage(im)
	if len(seg.GetLabels()) != im.h*im.w {
		return nil, fmt.Errorf("the segment map has %d pixels, the image %d", len(seg.GetLabels()), im.h*im.w)
	}
	keep := map[uint32]bool{}
	for _, p := range exp.GetLabels()[0].GetAnchor().GetPredicates() {
		keep[p.GetIndex()] = true
	}
	shown := image.NewRGBA(base.Bounds())
	for y := range im.h {
		for x := range im.w {
			c := base.RGBAAt(x, y)
			if !keep[seg.GetLabels()[y*im.w+x]] {
				c = blend(c, color.RGBA{255, 255, 255, 255}, anchorDim)
			}
			shown.SetRGBA(x, y, c)
		}
	}
	scale := max(1, (minImageSide+max(im.h, im.w)-1)/max(im.h, im.w))
	ph, pw := im.h*scale, im.w*scale
	out := image.NewRGBA(image.Rect(0, 0, figMargin+2*(pw+figMargin), figMargin+figTitle+ph+figMargin))
	draw.Draw(out, out.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	top := figMargin + figTitle
	l := exp.GetLabels()[0]
	for i, p := range []struct {
		src   *image.RGBA
		title string
	}{
		{base, fmt.Sprintf("%s - %s", exp.GetModel(), exp.GetMethod())},
		{shown, fmt.Sprintf("anchor of %s: precision %.2f, coverage %.2f", className(exp, l.GetLabel(), l.GetClassName()),
			l.GetAnchor().GetPrecision(), l.GetAnchor().GetCoverage())},
	} {
		r := image.Rect(figMargin+i*(pw+figMargin), top, figMargin+i*(pw+figMargin)+pw, top+ph)
		upscale(out, r, p.src, scale)
		drawText(out, r.Min.X, top-6, fitText(p.title, pw))
		if i == 1 {
			drawBoundaries(out, r, seg, scale)
		}
	}
	return out, nil
}

// anchorChart plots, per label, the rule's precision and coverage after
// each predicate (the first point is the empty rule's coverage, 1).
func anchorChart(w io.Writer, exp *explainerv1.Explanation) error {
	labels := exp.GetLabels()
	if len(labels) == 0 {
		return errors.New("the anchors explanation has no label")
	}
	l := labels[0]
	preds := l.GetAnchor().GetPredicates()
	// The first point is the empty rule's coverage, 1.
	p := plot.New()
	a := l.GetAnchor()
	p.Title.Text = fmt.Sprintf("label %d (%s) · %s · precision %.3f, coverage %.3f", l.GetLabel(),
		className(exp, l.GetLabel(), l.GetClassName()), exp.GetMethod(), a.GetPrecision(), a.GetCoverage())
	p.X.Label.Text = "predicates added"
	p.Y.Label.Text = "precision, coverage"
	p.Y.Min, p.Y.Max = 0, 1
	prec, cov := make(plotter.XYs, 0, len(preds)), make(plotter.XYs, 0, len(preds)+1)
	cov = append(cov, plotter.XY{X: 0, Y: 1})
	ticks := []plot.Tick{{Value: 0, Label: "(none)"}}
	for i, pr := range preds {
		prec = append(prec, plotter.XY{X: float64(i + 1), Y: pr.GetPrecision()})
		cov = append(cov, plotter.XY{X: float64(i + 1), Y: pr.GetCoverage()})
		ticks = append(ticks, plot.Tick{Value: float64(i + 1), Label: fitText("+ "+pr.GetDescription(), 160)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.X.Tick.Label.Rotation = 0.6
	p.X.Tick.Label.XAlign, p.X.Tick.Label.YAlign = -1, -0.5
	for _, s := range []struct {
		name string
		xys  plotter.XYs
		c    color.RGBA
	}{{"precision", prec, color.RGBA{30, 130, 60, 255}}, {"coverage", cov, color.RGBA{40, 80, 180, 255}}} {
		if len(s.xys) == 0 {
			continue
		}
		line, points, err := plotter.NewLinePoints(s.xys)
		if err != nil {
			return err
		}
		line.Color, points.Color = s.c, s.c
		p.Add(line, points)
		p.Legend.Add(s.name, line, points)
	}
	p.Legend.Top, p.Legend.Left = false, true
	img := vgimg.NewWith(vgimg.UseWH(panelWidth, 4*vg.Inch), vgimg.UseDPI(chartDPI))
	p.Draw(vgdraw.New(img))
	_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(w)
	return err
}
