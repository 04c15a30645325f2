package server

import (
	"context"

	"github.com/explainer-sidecar/explainer/engine"
	"github.com/explainer-sidecar/explainer/explain"
	"github.com/explainer-sidecar/explainer/predictor"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// lime_text: LIME on a text's words (lime's LimeTextExplainer).

func init() { register("lime_text", method{parse: parseLIMETextJob, batch: batchOf(parseLIMETextJob)}) }

func parseLIMETextJob(_ context.Context, in *parseInput) (*jobSpec, error) {
	r, err := parseLIMEText(in.req, in.info, in.seed)
	if err != nil {
		return nil, err
	}
	return wordSpec(in.req, r.Positional, r.MaskString, r.Seed, r.NumSamples,
		func(ctx context.Context, m explain.TextModel, run engine.Run) (*explain.Result, *explain.TextFeatures, error) {
			r := r
			applyRun(run, &r.Sampling, &r.Targets)
			return explain.LIMEText(ctx, m, r)
		})
}

// MaxTextSampleBytes caps num_samples × the text's length: every perturbed
// text is held at once (a 2000-byte review at 5000 samples is 10 MB).
const MaxTextSampleBytes = 256 << 20

// parseLIMEText validates a text LIME request. It tokenizes the text once
// to bound the job's memory: the masks are samples × features values and
// the texts samples × length bytes.
func parseLIMEText(req *explainerv1.ExplainRequest, info predictor.ModelInfo, seed uint64) (explain.LIMETextRequest, error) {
	const field = "lime_text"
	o := req.GetLimeText()
	var r explain.LIMETextRequest
	txt := req.GetInstance().GetText()
	dom, err := textDomain(txt, o.GetPositional())
	if err != nil {
		return r, err
	}
	sampling, fit, targets, err := limeCommon(o, info, seed, explain.DefaultNumSamples)
	if err != nil {
		return r, err
	}
	switch n, d := sampling.NumSamples, len(dom.Features); {
	case d == 0:
		return r, invalidArgument("instance.text: has no words")
	case n*d > MaxSampleValues:
		return r, invalidArgument("%s.num_samples: %d samples × %d features exceeds limit %d values; lower num_samples", field, n, d, MaxSampleValues)
	case n*len(txt.GetText()) > MaxTextSampleBytes:
		return r, invalidArgument("%s.num_samples: %d samples of a %d-byte text exceed limit %d bytes; lower num_samples", field, n, len(txt.GetText()), MaxTextSampleBytes)
	}
	if err := checkFitMemory(field, sampling.NumSamples, len(dom.Features)); err != nil {
		return r, err
	}
	if len(o.GetMaskString()) > MaxNameLength {
		return r, invalidArgument("%s.mask_string: longer than %d bytes", field, MaxNameLength)
	}
	return explain.LIMETextRequest{
		Text:            txt.GetText(),
		SplitExpression: txt.GetSplitExpression(),
		Positional:      o.GetPositional(),
		MaskString:      o.GetMaskString(),
		Sampling:        sampling,
		SurrogateFit:    fit,
		Targets:         targets,
	}, nil
}
