package server

import (
	"context"
	"math"

	"github.com/explainer-sidecar/explainer/engine"
	"github.com/explainer-sidecar/explainer/explain"
	"github.com/explainer-sidecar/explainer/predictor"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
	"github.com/explainer-sidecar/explainer/sampler"
)

// occlusion: Captum's Occlusion over an image (a window of pixels, every
// channel) or a text (a window of tokens), with partial results per row
// of windows.

func init() {
	register("occlusion", method{parse: parseOcclusionJob, batch: batchOf(parseOcclusionJob)})
}

func parseOcclusionJob(_ context.Context, in *parseInput) (*jobSpec, error) {
	if in.req.GetInstance().GetText() != nil {
		return textOcclusionSpec(in)
	}
	return imageOcclusionSpec(in)
}

// imageOcclusionSpec builds an occlusion job over an image.
func imageOcclusionSpec(in *parseInput) (*jobSpec, error) {
	img, layout, err := checkedImage(in.req, in.info)
	if err != nil {
		return nil, err
	}
	oj, err := parseOcclusion(in.req, img, in.info)
	if err != nil {
		return nil, err
	}
	perBand := max(1, oj.windows/oj.bands)
	spec := &jobSpec{shape: imageShape(img, layout), bands: oj.bands, Spec: engine.Spec{
		Rows:       oj.windows + 1, // the image, then every window
		Players:    img.H * img.W,
		CurveBatch: masksPerCall(len(img.Pix)),
	}}
	spec.Run = func(ctx context.Context, m engine.Scorer, run engine.Run) (*explain.Result, error) {
		r := oj.req
		rec := &instanceRecorder{m: imageModel(m, img, layout), input: img.Pix}
		if run.Partial != nil {
			// Score about a band per call, so that partial results come as
			// the bands finish, and at least half the batches in flight:
			// occlusion keeps two calls going, which keeps the model busy.
			// Two calls' images stay within MaxBatchValues values.
			half := (in.callRows + 1) / 2
			r.BatchRows = min(max(perBand, half), max(1, explain.MaxBatchValues/(2*len(img.Pix))), explain.MaxOcclusionWindows)
			r.Partial = func(done, _ int, attributions [][]float64) {
				res := &explain.Result{Method: "occlusion", Maps: pixelMaps(attributions, nil, rec.targets(r.Targets), img)}
				run.Partial(engine.Partial{Result: res, BandsDone: done / perBand, BandsTotal: oj.bands})
			}
		}
		ores, err := explain.Occlusion(ctx, rec, r)
		if err != nil {
			return nil, err
		}
		res := &explain.Result{
			Method: "occlusion", InstanceScores: ores.InstanceScores, NumSamples: ores.NumWindows + 1,
			Maps: pixelMaps(ores.Attributions, ores.StdErrs, ores.Targets, img),
		}
		for _, t := range ores.Targets {
			res.Labels = append(res.Labels, explain.LabelResult{Label: t, Prediction: ores.InstanceScores[t]})
		}
		return res, nil
	}
	fill := sampler.ConstantFill(img, oj.req.Baseline)
	pixels := make([]int, img.H*img.W)
	for i := range pixels {
		pixels[i] = i
	}
	spec.Curves = func(m engine.Scorer, res *explain.Result, label int) ([]float64, explain.MaskScorer) {
		for _, mp := range res.Maps {
			if mp.Label == label {
				return mp.Values, imageScorer(m, img, layout, pixels, fill, label)
			}
		}
		return nil, nil
	}
	return spec, nil
}

// pixelMaps turns HWC occlusion attributions into per-pixel maps, one per
// target. The window covers every channel, so a pixel's channels all hold
// the same value, the pixel's attribution (the mean over the windows
// covering it of the score's drop): the map holds it once, averaged over
// the channels, rather than C times over.
func pixelMaps(attr, stdErrs [][]float64, targets []int, img sampler.Image) []explain.AttributionMap {
	maps := make([]explain.AttributionMap, len(attr))
	for t, a := range attr {
		m := explain.AttributionMap{Height: img.H, Width: img.W, Values: channelMean(a, img.C)}
		if t < len(stdErrs) {
			m.StdErrs = channelMean(stdErrs[t], img.C)
		}
		if t < len(targets) {
			m.Label = targets[t]
		}
		maps[t] = m
	}
	return maps
}

// textOcclusionSpec builds occlusion over a text's tokens: a window of k
// tokens slides with stride s and is dropped (or replaced by
// mask_string); a token's attribution is the mean over the windows
// covering it of f(text) − f(text without the window). It runs
// explain.Occlusion over the tokens' presence vector (all ones; the
// baseline 0 is "absent"), which renderedText turns into texts for the
// model, a call's worth at a time.
func textOcclusionSpec(in *parseInput) (*jobSpec, error) {
	const field = "occlusion"
	o := in.req.GetOcclusion()
	text := in.req.GetInstance().GetText()
	dom, err := textDomain(text, true)
	if err != nil {
		return nil, err
	}
	n := len(dom.Features)
	if n == 0 {
		return nil, invalidArgument("instance.text: has no words")
	}
	window, stride := 1, 0
	switch len(o.GetWindow()) {
	case 0:
	case 1:
		window = int(o.GetWindow()[0])
	default:
		return nil, invalidArgument("%s.window: a text takes one value, the window in tokens", field)
	}
	switch len(o.GetStrides()) {
	case 0:
		stride = window
	case 1:
		stride = int(o.GetStrides()[0])
	default:
		return nil, invalidArgument("%s.strides: a text takes one value, in tokens", field)
	}
	if window < 1 || window > n {
		return nil, invalidArgument("%s.window: %d is outside [1, %d tokens]", field, window, n)
	}
	if stride < 1 || stride > n {
		return nil, invalidArgument("%s.strides: %d is outside [1, %d tokens]", field, stride, n)
	}
	if len(o.GetMaskString()) > MaxNameLength {
		return nil, invalidArgument("%s.mask_string: longer than %d bytes", field, MaxNameLength)
	}
	windows := explain.OcclusionWindowCount(n, window, stride)
	if bytes := (windows + 1) * len(text.GetText()); bytes > MaxTextSampleBytes {
		return nil, invalidArgument("%s.window: %d windows of a %d-byte text are %d bytes to score, over the limit of %d bytes; widen the window or the stride, or send a shorter text", field, windows, len(text.GetText()), bytes, MaxTextSampleBytes)
	}
	labels, err := labelsOf(field, o.GetLabels(), in.info.NumClasses)
	if err != nil {
		return nil, err
	}
	ones := make([]float64, n)
	for i := range ones {
		ones[i] = 1
	}
	// Render a call's worth of texts at a time, and no more than
	// maxRenderBytes of them: the texts of a long document add up fast.
	// (A model without a row cap makes callRows huge.)
	batchRows := max(1, min(in.callRows, maxRenderBytes/max(1, len(text.GetText())), explain.MaxOcclusionWindows))
	spans := tokenSpans(dom)
	return &jobSpec{Spec: engine.Spec{
		Rows: windows + 1, Players: n,
		Run: func(ctx context.Context, m engine.Scorer, _ engine.Run) (*explain.Result, error) {
			ores, err := explain.Occlusion(ctx, renderedText{dom: dom, mask: o.GetMaskString(), m: m}, explain.OcclusionRequest{
				Input: ones, Shape: []int{n}, Window: []int{window}, Strides: []int{stride}, Targets: labels, BatchRows: batchRows,
			})
			if err != nil {
				return nil, err
			}
			res := &explain.Result{Method: "occlusion", InstanceScores: ores.InstanceScores, NumSamples: ores.NumWindows + 1, Spans: spans}
			for ti, t := range ores.Targets {
				lr := explain.LabelResult{Label: t, Prediction: ores.InstanceScores[t]}
				for tok, w := range ores.Attributions[ti] {
					lr.Attributions = append(lr.Attributions, explain.Attribution{Index: tok, Description: dom.Features[tok].Word, Weight: w, StdErr: ores.StdErrs[ti][tok]})
				}
				res.Labels = append(res.Labels, lr)
			}
			return res, nil
		},
		Curves: textCurves(dom, o.GetMaskString()),
	}}, nil
}

// maxRenderBytes caps the bytes of the texts text occlusion renders for
// one Predict call (it keeps two in flight), whatever the batch size.
const maxRenderBytes = 16 << 20

// tokenSpans are each token position's byte ranges.
func tokenSpans(dom *sampler.TextDomain) [][][2]int {
	spans := make([][][2]int, len(dom.Features))
	for i, f := range dom.Features {
		for _, t := range f.Tokens {
			tok := dom.Tokens[t]
			spans[i] = append(spans[i], [2]int{tok.Start, tok.End})
		}
	}
	return spans
}

// occlusionJob is a validated occlusion request.
type occlusionJob struct {
	req     explain.OcclusionRequest
	bands   int // window rows: the bands Partial reports
	windows int
}

// parseOcclusion validates an occlusion request. The image is HWC.
func parseOcclusion(req *explainerv1.ExplainRequest, img sampler.Image, info predictor.ModelInfo) (occlusionJob, error) {
	const field = "occlusion"
	o := req.GetOcclusion()
	var j occlusionJob
	dims := [2]int{img.H, img.W}
	window := [2]int{min(defaultOcclusionWindow, img.H), min(defaultOcclusionWindow, img.W)}
	switch ws := o.GetWindow(); len(ws) {
	case 0:
	case 2:
		window = [2]int{int(ws[0]), int(ws[1])}
	default:
		return j, invalidArgument("%s.window: has %d values, want 2 (height, width)", field, len(ws))
	}
	strides := window
	switch ss := o.GetStrides(); len(ss) {
	case 0:
	case 2:
		strides = [2]int{int(ss[0]), int(ss[1])}
	default:
		return j, invalidArgument("%s.strides: has %d values, want 2 (height, width)", field, len(ss))
	}
	windows := 1
	counts := [2]int{}
	for d := range 2 {
		if window[d] < 1 || window[d] > dims[d] {
			return j, invalidArgument("%s.window[%d]: %d is outside [1, %d]", field, d, window[d], dims[d])
		}
		if strides[d] < 1 || strides[d] > dims[d] {
			return j, invalidArgument("%s.strides[%d]: %d is outside [1, %d]", field, d, strides[d], dims[d])
		}
		counts[d] = explain.OcclusionWindowCount(dims[d], window[d], strides[d])
		windows *= counts[d]
	}
	if windows > explain.MaxOcclusionWindows {
		return j, invalidArgument("%s.strides: %d windows exceed limit %d; enlarge the strides", field, windows, explain.MaxOcclusionWindows)
	}
	b := o.GetBaseline()
	if math.IsNaN(b) || math.IsInf(b, 0) {
		return j, invalidArgument("%s.baseline: must be finite", field)
	}
	labels, err := labelsOf(field, o.GetLabels(), info.NumClasses)
	if err != nil {
		return j, err
	}
	return occlusionJob{
		req: explain.OcclusionRequest{
			Input:    img.Pix,
			Shape:    []int{img.H, img.W, img.C},
			Window:   []int{window[0], window[1], img.C},
			Strides:  []int{strides[0], strides[1], img.C},
			Baseline: b,
			Targets:  labels,
		},
		bands:   counts[0],
		windows: windows,
	}, nil
}

// renderedText scores presence vectors of a text's tokens as the texts
// they render to.
type renderedText struct {
	dom  *sampler.TextDomain
	mask string
	m    explain.TextModel
}

// Predict implements explain.Model.
func (r renderedText) Predict(ctx context.Context, rows [][]float64) ([][]float64, error) {
	return r.m.PredictText(ctx, r.dom.RenderAll(rows, r.mask))
}
