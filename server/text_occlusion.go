package server

import (
	"context"

	"github.com/explainer-sidecar/explainer/explain"
	"github.com/explainer-sidecar/explainer/predictor"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
	"github.com/explainer-sidecar/explainer/sampler"
)

// textOcclusion is occlusion over a text's tokens: a window of k tokens
// slides with stride s and is dropped (or replaced by mask_string); a
// token's attribution is the mean over the windows covering it of
// f(text) − f(text without the window). It runs explain.Occlusion over the
// tokens' presence vector (all ones; the baseline 0 is "absent"), which
// renderedText turns into texts for the model.
func textOcclusionJob(req *explainerv1.ExplainRequest, j *job, info predictor.ModelInfo) (*job, error) {
	const field = "occlusion"
	o := req.GetOcclusion()
	dom, err := textDomain(req.GetInstance().GetText(), true)
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
	labels, err := labelsOf(field, o.GetLabels(), info.NumClasses)
	if err != nil {
		return nil, err
	}
	ones := make([]float64, n)
	for i := range ones {
		ones[i] = 1
	}
	windows := (n-window)/stride + 1
	j.rows = windows + 1
	j.run = func(ctx context.Context, m jobScorer, _ uint64, _ int, _ bool) (*explain.Result, error) {
		ores, err := explain.Occlusion(ctx, renderedText{dom: dom, mask: o.GetMaskString(), m: m}, explain.OcclusionRequest{
			Input: ones, Shape: []int{n}, Window: []int{window}, Strides: []int{stride}, Targets: labels,
		})
		if err != nil {
			return nil, err
		}
		res := &explain.Result{Method: "occlusion", InstanceScores: ores.InstanceScores, NumSamples: ores.NumWindows + 1}
		for ti, t := range ores.Targets {
			lr := explain.LabelResult{Label: t, Prediction: ores.InstanceScores[t]}
			for tok, w := range ores.Attributions[ti] {
				lr.Attributions = append(lr.Attributions, explain.Attribution{Index: tok, Description: dom.Features[tok].Word, Weight: w, StdErr: ores.StdErrs[ti][tok]})
			}
			res.Labels = append(res.Labels, lr)
		}
		return res, nil
	}
	j.finish = func(exp *explainerv1.Explanation, _ *explain.Result) { tokenSpans(exp, dom) }
	j.curves = textCurves(dom, o.GetMaskString())
	return j, nil
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

// tokenSpans puts each token's byte offsets on its attributions.
func tokenSpans(exp *explainerv1.Explanation, dom *sampler.TextDomain) {
	for _, l := range exp.GetLabels() {
		for _, a := range l.GetAttributions() {
			if i := int(a.GetIndex()); i < len(dom.Features) {
				for _, t := range dom.Features[i].Tokens {
					tok := dom.Tokens[t]
					a.Spans = append(a.Spans, &explainerv1.TextSpan{Start: uint32(tok.Start), End: uint32(tok.End)})
				}
			}
		}
	}
}
