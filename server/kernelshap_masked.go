package server

import (
	"github.com/explainer-sidecar/explainer/explain"
	"github.com/explainer-sidecar/explainer/predictor"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
	"github.com/explainer-sidecar/explainer/sampler"
)

// shapCommon validates the KernelSHAP options every instance kind shares.
func shapCommon(o *explainerv1.KernelShapOptions, info predictor.ModelInfo, randomSeed func() uint64) (n int, link explain.Link, labels []int, seed uint64, err error) {
	const field = "kernel_shap"
	if ns := o.GetNumSamples(); ns > explain.MaxNumSamples {
		return 0, 0, nil, 0, invalidArgument("%s.num_samples: %d exceeds limit %d", field, ns, explain.MaxNumSamples)
	}
	switch o.GetLink() {
	case explainerv1.Link_LINK_UNSPECIFIED, explainerv1.Link_LINK_IDENTITY:
		link = explain.LinkIdentity
	case explainerv1.Link_LINK_LOGIT:
		link = explain.LinkLogit
	default:
		return 0, 0, nil, 0, invalidArgument("%s.link: unknown value %d", field, int32(o.GetLink()))
	}
	if labels, err = labelsOf(field, o.GetLabels(), info.NumClasses); err != nil {
		return 0, 0, nil, 0, err
	}
	seed = o.GetSeed()
	if o.Seed == nil {
		seed = randomSeed()
	}
	return int(o.GetNumSamples()), link, labels, seed, nil
}

// parseKernelSHAPText validates KernelSHAP on a text: the words are the
// players, an absent word is dropped or masked.
func parseKernelSHAPText(req *explainerv1.ExplainRequest, info predictor.ModelInfo, randomSeed func() uint64) (explain.KernelSHAPTextRequest, error) {
	o := req.GetKernelShap()
	txt := req.GetInstance().GetText()
	var r explain.KernelSHAPTextRequest
	if len(txt.GetSplitExpression()) > explain.MaxSplitExpressionLen {
		return r, invalidArgument("instance.text.split_expression: longer than %d bytes", explain.MaxSplitExpressionLen)
	}
	if len(o.GetMaskString()) > MaxNameLength {
		return r, invalidArgument("kernel_shap.mask_string: longer than %d bytes", MaxNameLength)
	}
	n, link, labels, seed, err := shapCommon(o, info, randomSeed)
	if err != nil {
		return r, err
	}
	return explain.KernelSHAPTextRequest{
		Text: txt.GetText(), SplitExpression: txt.GetSplitExpression(),
		Positional: o.GetPositional(), MaskString: o.GetMaskString(),
		Sampling: explain.Sampling{NumSamples: n, Seed: seed}, Link: link, Targets: explain.Targets{Labels: labels, TopLabels: int(o.GetTopLabels())},
	}, nil
}

// parseKernelSHAPImage validates KernelSHAP on an image: the segments are
// the players, an absent segment shows the fill.
func parseKernelSHAPImage(req *explainerv1.ExplainRequest, img sampler.Image, info predictor.ModelInfo, randomSeed func() uint64) (explain.KernelSHAPImageRequest, error) {
	const field = "kernel_shap"
	o := req.GetKernelShap()
	var r explain.KernelSHAPImageRequest
	seg, nseg, err := segment(field, o.GetSegmentation(), img)
	if err != nil {
		return r, err
	}
	fill, err := imageFill(field, o.GetFill(), img)
	if err != nil {
		return r, err
	}
	n, link, labels, seed, err := shapCommon(o, info, randomSeed)
	if err != nil {
		return r, err
	}
	return explain.KernelSHAPImageRequest{
		Image: img, Segments: seg, NumSegments: nseg, Fill: fill,
		Sampling: explain.Sampling{NumSamples: n, Seed: seed}, Link: link, Targets: explain.Targets{Labels: labels, TopLabels: int(o.GetTopLabels())},
	}, nil
}
