package server

import (
	"context"
	"math/rand/v2"

	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"

	"github.com/explainer-sidecar/explainer/engine"
	"github.com/explainer-sidecar/explainer/explain"
	"github.com/explainer-sidecar/explainer/predictor"
	"github.com/explainer-sidecar/explainer/sampler"
)

// kernel_shap: KernelSHAP (shap's KernelExplainer) on a tabular instance
// against a background, on a text's words, or on an image's segments.

func init() { register("kernel_shap", method{parse: parseKernelSHAPJob, batch: parseKernelSHAPBatch}) }

func parseKernelSHAPJob(_ context.Context, in *parseInput) (*jobSpec, error) {
	switch inst := in.req.GetInstance(); {
	case inst.GetText() != nil:
		r, err := parseKernelSHAPText(in.req, in.info, in.seed)
		if err != nil {
			return nil, err
		}
		return wordSpec(in.req, r.Positional, r.MaskString, r.Seed, r.NumSamples,
			func(ctx context.Context, m explain.TextModel, run engine.Run) (*explain.Result, *explain.TextFeatures, error) {
				r := r
				applyRun(run, &r.Sampling, &r.Targets)
				return explain.KernelSHAPText(ctx, m, r)
			})
	case inst.GetImage() != nil:
		img, layout, err := checkedImage(in.req, in.info)
		if err != nil {
			return nil, err
		}
		r, err := parseKernelSHAPImage(in.req, img, in.info, in.seed)
		if err != nil {
			return nil, err
		}
		return segmentSpec(img, layout, r.Segments, r.NumSegments, r.Fill, r.Seed, r.NumSamples, "kernel_shap.fill",
			func(ctx context.Context, m explain.Model, run engine.Run) (*explain.Result, error) {
				r := r
				applyRun(run, &r.Sampling, &r.Targets)
				return explain.KernelSHAPImage(ctx, m, r)
			})
	}
	r, names, err := parseKernelSHAP(in.req, in.info, in.seed)
	if err != nil {
		return nil, err
	}
	return kernelSHAPSpec(r, names), nil
}

// kernelSHAPSpec is the job of one tabular KernelSHAP request; names are
// the groups' names.
func kernelSHAPSpec(r explain.KernelSHAPRequest, names []string) *jobSpec {
	return &jobSpec{Spec: engine.Spec{
		Seed: r.Seed, Rows: r.NumSamples, Sampled: true, Seeded: true, Players: playerCount(len(r.Instance), r.Groups),
		Run: func(ctx context.Context, m engine.Scorer, run engine.Run) (*explain.Result, error) {
			r := r
			applyRun(run, &r.Sampling, &r.Targets)
			res, err := explain.KernelSHAP(ctx, m, r)
			if err == nil {
				nameGroups(res, names)
			}
			return res, err
		},
		Curves: tabularCurves(r.Instance, r.Groups, weightedMean(r.Background, r.BackgroundWeights)),
	}, values: r.MaxRows() * len(r.Instance)}
}

// shapCommon validates the KernelSHAP options every instance kind shares;
// explain checks the sampling and the targets.
func shapCommon(o *explainerv1.KernelShapOptions, info predictor.ModelInfo, seed uint64) (explain.Sampling, explain.Targets, explain.Link, error) {
	sampling := explain.Sampling{NumSamples: int(o.GetNumSamples()), Seed: seed}
	targets := explain.Targets{Labels: labelInts(o.GetLabels()), TopLabels: int(o.GetTopLabels())}
	var link explain.Link
	switch o.GetLink() {
	case explainerv1.Link_LINK_UNSPECIFIED, explainerv1.Link_LINK_IDENTITY:
		link = explain.LinkIdentity
	case explainerv1.Link_LINK_LOGIT:
		link = explain.LinkLogit
	default:
		return sampling, targets, link, invalidArgument("kernel_shap.link: unknown value %d", int32(o.GetLink()))
	}
	if err := sampling.Validate(1); err != nil {
		return sampling, targets, link, err
	}
	return sampling, targets, link, targets.Validate(info.NumClasses)
}

// parseKernelSHAP validates a KernelSHAP request.
func parseKernelSHAP(req *explainerv1.ExplainRequest, info predictor.ModelInfo, seed uint64) (explain.KernelSHAPRequest, []string, error) {
	inst, names, err := tabularInstance(req, info)
	if err != nil {
		return explain.KernelSHAPRequest{}, nil, err
	}
	r, groupNames, err := parseKernelSHAPShared(req.GetKernelShap(), info, seed, len(inst), names)
	r.Instance = inst
	return r, groupNames, err
}

// parseKernelSHAPShared validates the options of tabular KernelSHAP for
// instances of p features named names: the request without its instance,
// which the instances of a batch share (the background summarised once,
// with seed), and the groups' names.
func parseKernelSHAPShared(o *explainerv1.KernelShapOptions, info predictor.ModelInfo, seed uint64, p int, names []string) (explain.KernelSHAPRequest, []string, error) {
	const field = "kernel_shap"
	var r explain.KernelSHAPRequest
	bg := o.GetBackground()
	n := int(bg.GetNumRows())
	summary := o.GetBackgroundSummary().GetKind()
	switch {
	case summary == nil && (n < 1 || n > explain.MaxBackgroundRows):
		return r, nil, invalidArgument("%s.background.num_rows: %d is outside [1, %d]; summarise a larger background with background_summary (kmeans or sample)", field, n, explain.MaxBackgroundRows)
	case n < 1 || n > MaxSummarizedBackgroundRows:
		return r, nil, invalidArgument("%s.background.num_rows: %d is outside [1, %d] with background_summary", field, n, MaxSummarizedBackgroundRows)
	}
	if len(bg.GetValues()) != n*p {
		return r, nil, invalidArgument("%s.background.values: %d values, want num_rows × features = %d × %d", field, len(bg.GetValues()), n, p)
	}
	d := &dataset{}
	if err := d.add(field+".background", bg.GetValues(), nil, bg.GetWeights(), p, false); err != nil {
		return r, nil, err
	}
	var err error
	if summary != nil {
		if d.rows, d.weights, err = summarizeBackground(field+".background_summary", o.GetBackgroundSummary(), d, seed); err != nil {
			return r, nil, err
		}
	}
	sampling, targets, link, err := shapCommon(o, info, seed)
	if err != nil {
		return r, nil, err
	}
	gs, groupNames, err := groups(field, o.GetGroups(), p)
	if err != nil {
		return r, nil, err
	}
	return explain.KernelSHAPRequest{
		Background:        d.rows,
		BackgroundWeights: d.weights,
		Groups:            gs,
		FeatureNames:      names,
		Sampling:          sampling,
		Targets:           targets,
		Link:              link,
	}, groupNames, nil
}

// Limits of kernel_shap.background_summary.
const (
	// MaxSummarizedBackgroundRows caps the background rows when
	// background_summary is set: only K ≤ explain.MaxBackgroundRows of them
	// reach the model, but they are all held and summarised.
	MaxSummarizedBackgroundRows = 100_000
	// MaxKMeansWork caps rows × K × features of a k-means summary: the
	// multiply-adds of one plain Lloyd iteration, and about those of one
	// k-means++ start per log K. k-means runs 10 starts, each of up to 300
	// iterations (Hamerly's bounds skip most distances once the centres
	// settle). At the cap, 10 000 rows × 30 features, K = 33: 1.3 s with
	// clear clusters, 10 s on Gaussian noise (sampler's k-means, one core
	// of a loaded 2-core machine). The computation does not stop when the
	// job's context ends.
	MaxKMeansWork = 10_000_000
)

// backgroundSummaryStream is the PCG stream of the summary's draws, apart
// from the coalition sampler's stream of the same seed.
const backgroundSummaryStream = 0x6b6d65616e73 // "kmeans"

// summarizeBackground validates s (field names it) for the background d and
// returns the summary's rows and weights.
func summarizeBackground(field string, s *explainerv1.BackgroundSummary, d *dataset, seed uint64) ([][]float64, []float64, error) {
	n, p := len(d.rows), len(d.rows[0])
	var k int
	var name string
	switch kind := s.GetKind().(type) {
	case *explainerv1.BackgroundSummary_Kmeans:
		k, name = int(kind.Kmeans), "kmeans"
	case *explainerv1.BackgroundSummary_Sample:
		k, name = int(kind.Sample), "sample"
	}
	switch {
	case k < 1 || k > explain.MaxBackgroundRows:
		return nil, nil, invalidArgument("%s.%s: %d is outside [1, %d]", field, name, k, explain.MaxBackgroundRows)
	case k > n:
		return nil, nil, invalidArgument("%s.%s: %d is more than the background's %d rows", field, name, k, n)
	case d.weights != nil:
		return nil, nil, invalidArgument("kernel_shap.background.weights: must be empty with background_summary: the summary weighs its rows itself")
	case name == "kmeans" && n*k*p > MaxKMeansWork:
		return nil, nil, invalidArgument("%s.kmeans: rows × K × features = %d × %d × %d exceeds %d; use a smaller K or background, or sample", field, n, k, p, MaxKMeansWork)
	}
	rng := rand.New(rand.NewPCG(seed, backgroundSummaryStream))
	if name == "kmeans" {
		return sampler.SummarizeKMeans(d.rows, k, rng)
	}
	return sampler.SummarizeSample(d.rows, k, rng)
}

// parseKernelSHAPText validates KernelSHAP on a text: the words are the
// players, an absent word is dropped or masked.
func parseKernelSHAPText(req *explainerv1.ExplainRequest, info predictor.ModelInfo, seed uint64) (explain.KernelSHAPTextRequest, error) {
	o := req.GetKernelShap()
	txt := req.GetInstance().GetText()
	var r explain.KernelSHAPTextRequest
	if len(txt.GetSplitExpression()) > explain.MaxSplitExpressionLen {
		return r, invalidArgument("instance.text.split_expression: longer than %d bytes", explain.MaxSplitExpressionLen)
	}
	if len(o.GetMaskString()) > MaxNameLength {
		return r, invalidArgument("kernel_shap.mask_string: longer than %d bytes", MaxNameLength)
	}
	if o.GetBackgroundSummary() != nil {
		return r, invalidArgument("kernel_shap.background_summary: only for tabular instances (a text has no background)")
	}
	sampling, targets, link, err := shapCommon(o, info, seed)
	if err != nil {
		return r, err
	}
	return explain.KernelSHAPTextRequest{
		Text: txt.GetText(), SplitExpression: txt.GetSplitExpression(),
		Positional: o.GetPositional(), MaskString: o.GetMaskString(),
		Sampling: sampling, Targets: targets, Link: link,
	}, nil
}

// parseKernelSHAPImage validates KernelSHAP on an image: the segments are
// the players, an absent segment shows the fill.
func parseKernelSHAPImage(req *explainerv1.ExplainRequest, img sampler.Image, info predictor.ModelInfo, seed uint64) (explain.KernelSHAPImageRequest, error) {
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
	if o.GetBackgroundSummary() != nil {
		return r, invalidArgument("%s.background_summary: only for tabular instances (an image's background is its fill)", field)
	}
	sampling, targets, link, err := shapCommon(o, info, seed)
	if err != nil {
		return r, err
	}
	return explain.KernelSHAPImageRequest{
		Image: img, Segments: seg, NumSegments: nseg, Fill: fill,
		Sampling: sampling, Targets: targets, Link: link,
	}, nil
}

// parseKernelSHAPBatch builds a KernelSHAP batch. For rows, the options
// and the background (summarised once, with the batch's seed) are parsed
// once, and, when every feature is in a player, the model scores the
// background once for every row (explain.KernelSHAPRequest.BackgroundScores).
// Texts and images are parsed one by one.
func parseKernelSHAPBatch(ctx context.Context, in *parseInput, b *batchInstances) (*batchJob, error) {
	if b.rows == nil {
		return batchOf(parseKernelSHAPJob)(ctx, in, b)
	}
	base, groupNames, err := parseKernelSHAPShared(in.req.GetKernelShap(), in.info, in.seed, len(b.rows[0]), b.names)
	if err != nil {
		return nil, err
	}
	base.Instance = b.rows[0]
	bj := &batchJob{first: kernelSHAPSpec(base, groupNames)}
	var bgScores [][]float64 // written by Prepare, before any instance starts
	if base.SharesBackground() {
		bj.Prepare = func(ctx context.Context, m engine.Scorer) error {
			s, err := m.Predict(ctx, base.Background)
			bgScores = s
			return err
		}
	}
	bj.Instance = func(_ context.Context, i int, labels []int) (*engine.Spec, error) {
		r := base
		r.Instance, r.Seed, r.BackgroundScores = b.rows[i], in.seed+uint64(i), bgScores
		if labels != nil {
			r.Targets = explain.Targets{Labels: labels}
		}
		return &kernelSHAPSpec(r, groupNames).Spec, nil
	}
	if len(base.Groups) == 0 {
		bj.Names = b.names // with groups, the attributions are the groups', named by nameGroups
	}
	return bj, nil
}
