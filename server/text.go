package server

import (
	"context"

	"github.com/explainer-sidecar/explainer/engine"
	"github.com/explainer-sidecar/explainer/explain"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
	"github.com/explainer-sidecar/explainer/sampler"
)

// wordSpec is the job of a method that explains a text by its words
// (lime_text, kernel_shap): the result carries each word's spans, and the
// fidelity curves hide a word as the method does (mask, or dropped;
// UNKWORDZ in positional mode).
func wordSpec(req *explainerv1.ExplainRequest, positional bool, mask string, seed uint64, samples int,
	explainText func(context.Context, explain.TextModel, engine.Run) (*explain.Result, *explain.TextFeatures, error)) (*jobSpec, error) {
	dom, err := textDomain(req.GetInstance().GetText(), positional)
	if err != nil {
		return nil, err
	}
	return &jobSpec{Spec: engine.Spec{
		Seed: seed, Rows: samples, Sampled: true, Seeded: true, Players: len(dom.Features),
		Run: func(ctx context.Context, m engine.Scorer, run engine.Run) (*explain.Result, error) {
			res, tf, err := explainText(ctx, m, run)
			if err != nil {
				return nil, err
			}
			res.Spans = make([][][2]int, len(tf.Features))
			for i, f := range tf.Features {
				res.Spans[i] = f.Offsets
			}
			return res, nil
		},
		Curves: textCurves(dom, textMask(mask, positional)),
	}}, nil
}

// segmentSpec is the job of a method that explains an image by its
// segments (lime_image, kernel_shap): explainImage runs it on the image
// model, the result carries the segment map, and the fidelity curves hide
// a segment as the method does, with fill (or, when fill is unset, each
// segment's mean colour). fillField names the fill in errors.
func segmentSpec(img sampler.Image, layout explainerv1.ImageLayout, segments []int, n int, fill sampler.Image,
	seed uint64, samples int, fillField string, explainImage func(context.Context, explain.Model, engine.Run) (*explain.Result, error)) (*jobSpec, error) {
	if fill.Pix == nil {
		var err error
		if fill, err = sampler.SegmentMeanFill(img, segments, n); err != nil {
			return nil, invalidArgument("%s: %v", fillField, err)
		}
	}
	sm := &explain.SegmentMap{Height: img.H, Width: img.W, Labels: segments}
	return &jobSpec{shape: imageShape(img, layout), Spec: engine.Spec{
		Seed: seed, Rows: samples, Sampled: true, Seeded: true, Players: n,
		Run: func(ctx context.Context, m engine.Scorer, run engine.Run) (*explain.Result, error) {
			res, err := explainImage(ctx, imageModel(m, img, layout), run)
			if err == nil {
				res.Segments = sm
			}
			return res, err
		},
		Curves:     imageCurves(img, layout, segments, n, fill),
		CurveBatch: masksPerCall(len(img.Pix)),
	}}, nil
}
