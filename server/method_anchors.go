package server

import (
	"context"
	"math"

	"github.com/explainer-sidecar/explainer/engine"
	"github.com/explainer-sidecar/explainer/explain"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
	"github.com/explainer-sidecar/explainer/sampler"
)

// anchors: a rule under which the model keeps the instance's prediction
// (Ribeiro et al. 2018, as alibi's AnchorTabular, AnchorText and
// AnchorImage). The instance's kind picks the sampler; each beam round
// streams as a partial result.

func init() {
	register("anchors", method{parse: parseAnchorsJob, batch: withoutPick(batchOf(parseAnchorsJob), "anchors gives rules, not attributions")})
}

// defaultAnchorSegments is AnchorOptions.segmentation's default: SLIC with
// 25 segments.
const defaultAnchorSegments = 25

func parseAnchorsJob(_ context.Context, in *parseInput) (*jobSpec, error) {
	const field = "anchors"
	o := in.req.GetAnchors()
	if in.req.GetEvaluation().GetStabilityRuns() > 0 {
		return nil, invalidArgument("evaluation.stability_runs: anchors gives a rule, not attributions to compare across seeds")
	}
	if in.req.GetEvaluation().GetFidelityCurves() {
		return nil, invalidArgument("evaluation.fidelity_curves: anchors gives a rule, not attributions to remove in order")
	}
	cfg, err := anchorConfig(o, in.seed)
	if err != nil {
		return nil, err
	}
	inst := in.req.GetInstance()
	switch {
	case inst.GetText() != nil:
		return anchorsTextSpec(in, cfg)
	case inst.GetImage() != nil:
		return anchorsImageSpec(in, cfg)
	}
	values, names, err := tabularInstance(in.req, in.info)
	if err != nil {
		return nil, err
	}
	categorical, categoryNames, err := categoricalFeatures("instance.tabular", inst.GetTabular().GetCategoricalFeatures(), len(values))
	if err != nil {
		return nil, err
	}
	for _, idx := range categorical {
		if v := values[idx]; v != math.Trunc(v) || v < 0 {
			return nil, invalidArgument("instance.tabular.values[%d]: a categorical feature's value must be a non-negative integer code", idx)
		}
	}
	training, err := anchorTraining(o.GetTraining(), len(values))
	if err != nil {
		return nil, err
	}
	if o.GetMaskString() != "" || o.GetSampleProbability() != 0 || o.GetSegmentation() != nil || o.GetFill() != nil {
		return nil, invalidArgument("%s: mask_string, sample_probability, segmentation and fill apply to texts and images, not rows", field)
	}
	disc, err := anchorDiscretizer(o.GetTraining().GetValues(), training, names, categorical)
	if err != nil {
		return nil, err
	}
	r := explain.AnchorTabularRequest{
		Instance: values, FeatureNames: names, Categorical: categorical, CategoryNames: categoryNames,
		Training: training, Discretizer: disc, AnchorConfig: cfg,
	}
	return anchorSpec(cfg, len(values), func(ctx context.Context, m engine.Scorer, c explain.AnchorConfig) (*explain.Result, error) {
		r := r
		r.AnchorConfig = c
		return explain.AnchorsTabular(ctx, m, r)
	}), nil
}

// anchorDiscretizer is the quartile discretizer of the training rows
// (values, flat), remembered by content as LIME's statistics are: the
// instances of a batch, and :explain's requests with serve's
// --training-data, sort the rows once.
func anchorDiscretizer(values []float64, training [][]float64, names []string, categorical []int) (*sampler.Discretizer, error) {
	names = explain.FeatureNames(names, len(training[0]))
	stats, err := trainingStatsMemo.get(values, len(training[0]), names, categorical, "anchors", func() (*sampler.Stats, error) {
		disc, err := sampler.NewQuartileDiscretizer(training, names, categorical)
		if err != nil {
			return nil, invalidArgument("anchors.training: %v", err)
		}
		return &sampler.Stats{Discretizer: disc}, nil
	})
	if err != nil {
		return nil, err
	}
	return stats.Discretizer, nil
}

// anchorSpec is the job of an anchor search: run explains with the run's
// seed and reports each beam round.
func anchorSpec(cfg explain.AnchorConfig, players int, run func(context.Context, engine.Scorer, explain.AnchorConfig) (*explain.Result, error)) *jobSpec {
	return &jobSpec{Spec: engine.Spec{
		Seed: cfg.Seed, Seeded: true, Players: players,
		Run: func(ctx context.Context, m engine.Scorer, r engine.Run) (*explain.Result, error) {
			c := cfg
			c.Seed = r.Seed
			if r.Partial != nil {
				c.Partial = func(round int, res *explain.Result) {
					r.Partial(engine.Partial{Result: res, Round: round})
				}
			}
			return run(ctx, m, c)
		},
	}}
}

// anchorConfig reads the search's options (explain checks their ranges
// again; the server names the API's fields).
func anchorConfig(o *explainerv1.AnchorOptions, seed uint64) (explain.AnchorConfig, error) {
	const field = "anchors"
	c := explain.AnchorConfig{
		Threshold: o.GetThreshold(), Delta: o.GetDelta(), Epsilon: o.GetEpsilon(),
		BeamSize: int(o.GetBeamSize()), BatchSize: int(o.GetBatchSize()), CoverageSamples: int(o.GetCoverageSamples()),
		MaxAnchorSize: int(o.GetMaxAnchorSize()), MinSamplesStart: int(o.GetMinSamplesStart()), Examples: int(o.GetExamples()),
		Seed: seed,
	}
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case !finite(c.Threshold) || c.Threshold < 0 || c.Threshold > 1:
		return c, invalidArgument("%s.threshold: %g is outside (0, 1]", field, c.Threshold)
	case !finite(c.Delta) || c.Delta < 0 || c.Delta >= 1:
		return c, invalidArgument("%s.delta: %g is outside (0, 1)", field, c.Delta)
	case !finite(c.Epsilon) || c.Epsilon < 0 || c.Epsilon >= 1:
		return c, invalidArgument("%s.epsilon: %g is outside (0, 1)", field, c.Epsilon)
	}
	for _, l := range []struct {
		name       string
		got, limit uint32
	}{
		{"beam_size", o.GetBeamSize(), explain.MaxAnchorBeamSize},
		{"batch_size", o.GetBatchSize(), explain.MaxAnchorBatchSize},
		{"min_samples_start", o.GetMinSamplesStart(), explain.MaxAnchorBatchSize},
		{"coverage_samples", o.GetCoverageSamples(), explain.MaxAnchorCoverageSamples},
		{"examples", o.GetExamples(), explain.MaxAnchorExamples},
		{"max_anchor_size", o.GetMaxAnchorSize(), explain.MaxAnchorPredicates},
	} {
		if l.got > l.limit {
			return c, invalidArgument("%s.%s: %d exceeds limit %d", field, l.name, l.got, l.limit)
		}
	}
	if p := o.GetSampleProbability(); !finite(p) || p < 0 || p >= 1 {
		return c, invalidArgument("%s.sample_probability: %g is outside (0, 1)", field, p)
	}
	if len(o.GetMaskString()) > MaxNameLength {
		return c, invalidArgument("%s.mask_string: longer than %d bytes", field, MaxNameLength)
	}
	return c, nil
}

// anchorTraining checks AnchorOptions.training: 2 to MaxDatasetRows rows
// of p finite values.
func anchorTraining(ds *explainerv1.Dataset, p int) ([][]float64, error) {
	const field = "anchors.training"
	if ds == nil {
		return nil, invalidArgument("%s: required for a tabular instance: the rows samples are drawn from", field)
	}
	rows := int(ds.GetNumRows())
	if rows < 2 || rows > MaxDatasetRows {
		return nil, invalidArgument("%s.num_rows: %d is outside [2, %d]", field, rows, MaxDatasetRows)
	}
	if len(ds.GetValues()) != rows*p {
		return nil, invalidArgument("%s.values: %d values, want num_rows × features = %d × %d", field, len(ds.GetValues()), rows, p)
	}
	data := make([][]float64, rows)
	for i := range data {
		data[i] = ds.GetValues()[i*p : (i+1)*p : (i+1)*p]
		for j, v := range data[i] {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, invalidArgument("%s.values[%d]: non-finite value", field, i*p+j)
			}
		}
	}
	return data, nil
}

// anchorsTextSpec is an anchor search over a text's words.
func anchorsTextSpec(in *parseInput, cfg explain.AnchorConfig) (*jobSpec, error) {
	const field = "anchors"
	o := in.req.GetAnchors()
	txt := in.req.GetInstance().GetText()
	dom, err := textDomain(txt, false)
	if err != nil {
		return nil, err
	}
	switch d := len(dom.Features); {
	case d == 0:
		return nil, invalidArgument("instance.text: has no words")
	case d > explain.MaxAnchorPredicates:
		return nil, invalidArgument("instance.text: %d distinct words exceed the anchors limit of %d", d, explain.MaxAnchorPredicates)
	}
	if o.GetTraining() != nil || o.GetSegmentation() != nil || o.GetFill() != nil {
		return nil, invalidArgument("%s: training, segmentation and fill do not apply to a text", field)
	}
	r := explain.AnchorTextRequest{
		Text: txt.GetText(), SplitExpression: txt.GetSplitExpression(),
		MaskString: o.GetMaskString(), SampleProbability: o.GetSampleProbability(), AnchorConfig: cfg,
	}
	return anchorSpec(cfg, len(dom.Features), func(ctx context.Context, m engine.Scorer, c explain.AnchorConfig) (*explain.Result, error) {
		r := r
		r.AnchorConfig = c
		res, _, err := explain.AnchorsText(ctx, m, r)
		return res, err
	}), nil
}

// anchorsImageSpec is an anchor search over an image's superpixels.
func anchorsImageSpec(in *parseInput, cfg explain.AnchorConfig) (*jobSpec, error) {
	const field = "anchors"
	o := in.req.GetAnchors()
	img, layout, err := checkedImage(in.req, in.info)
	if err != nil {
		return nil, err
	}
	if o.GetTraining() != nil || o.GetMaskString() != "" {
		return nil, invalidArgument("%s: training and mask_string do not apply to an image", field)
	}
	seg := o.GetSegmentation()
	if seg == nil {
		seg = &explainerv1.Segmentation{Kind: &explainerv1.Segmentation_Slic{Slic: &explainerv1.SlicSegmentation{NumSegments: defaultAnchorSegments}}}
	}
	segments, n, err := segment(field, seg, img)
	if err != nil {
		return nil, err
	}
	if n > explain.MaxAnchorPredicates {
		return nil, invalidArgument("%s.segmentation: %d segments exceed the anchors limit of %d", field, n, explain.MaxAnchorPredicates)
	}
	fill, err := imageFill(field, o.GetFill(), img)
	if err != nil {
		return nil, err
	}
	if fill.Pix == nil {
		if fill, err = sampler.SegmentMeanFill(img, segments, n); err != nil {
			return nil, invalidArgument("%s.fill: %v", field, err)
		}
	}
	r := explain.AnchorImageRequest{
		Image: img, Segments: segments, NumSegments: n, Fill: fill,
		SampleProbability: o.GetSampleProbability(), AnchorConfig: cfg,
	}
	sm := &explain.SegmentMap{Height: img.H, Width: img.W, Labels: segments}
	spec := anchorSpec(cfg, n, func(ctx context.Context, m engine.Scorer, c explain.AnchorConfig) (*explain.Result, error) {
		r := r
		r.AnchorConfig = c
		if c.Partial != nil {
			partial := c.Partial
			r.Partial = func(round int, res *explain.Result) {
				res.Segments = sm
				partial(round, res)
			}
		}
		res, err := explain.AnchorsImage(ctx, imageModel(m, img, layout), r)
		if err == nil {
			res.Segments = sm
		}
		return res, err
	})
	spec.shape = imageShape(img, layout)
	return spec, nil
}
