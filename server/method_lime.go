package server

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/explainer-sidecar/explainer/engine"
	"github.com/explainer-sidecar/explainer/explain"
	"github.com/explainer-sidecar/explainer/predictor"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
	"github.com/explainer-sidecar/explainer/sampler"
)

// lime: LIME on a tabular instance, sampled from training statistics
// (lime's LimeTabularExplainer).
func init() { register("lime", method{parse: parseLIMEJob, batch: parseLIMEBatch}) }

func parseLIMEJob(_ context.Context, in *parseInput) (*jobSpec, error) {
	r, err := parseLIME(in.req, in.info, in.seed)
	if err != nil {
		return nil, err
	}
	return limeSpec(r), nil
}

// limeSpec is the job of one LIME request.
func limeSpec(r *explain.LIMERequest) *jobSpec {
	return &jobSpec{Spec: engine.Spec{
		Seed: r.Seed, Rows: r.NumSamples, Sampled: true, Seeded: true, Players: len(r.Instance),
		Run: func(ctx context.Context, m engine.Scorer, run engine.Run) (*explain.Result, error) {
			r := *r
			applyRun(run, &r.Sampling, &r.Targets)
			return explain.LIME(ctx, m, r)
		},
		Curves: tabularCurves(r.Instance, nil, limeBaseline(r.Stats, len(r.Instance))),
	}}
}

// parseLIME validates req and turns it into an estimator request. Every
// error is INVALID_ARGUMENT naming the field; no data value is echoed.
func parseLIME(req *explainerv1.ExplainRequest, info predictor.ModelInfo, seed uint64) (*explain.LIMERequest, error) {
	if req.GetLime() == nil {
		return nil, invalidArgument("method: must be set (lime)")
	}
	values, names, err := tabularInstance(req, info)
	if err != nil {
		return nil, err
	}
	sh, err := parseLIMEShared(req.GetLime(), info, seed, len(values), names, req.GetInstance().GetTabular().GetCategoricalFeatures(), "instance.tabular")
	if err != nil {
		return nil, err
	}
	if err := sh.checkRow(values, "instance.tabular.values"); err != nil {
		return nil, err
	}
	return sh.request(values, seed, nil), nil
}

// limeShared is what every instance of a LIME batch shares: everything of
// the request but the instance, the training statistics included.
type limeShared struct {
	base        explain.LIMERequest // without Instance
	categorical []int
}

// parseLIMEShared validates o for instances of p features named names,
// with the categorical features cats (field names where they are given).
func parseLIMEShared(o *explainerv1.LimeOptions, info predictor.ModelInfo, seed uint64, p int, names []string, cats []*explainerv1.CategoricalFeature, field string) (*limeShared, error) {
	categorical, categoryNames, err := categoricalFeatures(field, cats, p)
	if err != nil {
		return nil, err
	}
	sampling, fit, targets, err := limeCommon(o, info, seed, explain.DefaultNumSamples)
	if err != nil {
		return nil, err
	}
	if n := sampling.NumSamples; n*p > MaxSampleValues {
		return nil, invalidArgument("lime.num_samples: %d samples × %d features exceeds limit %d values; lower num_samples", n, p, MaxSampleValues)
	}
	if err := checkFitMemory("lime", sampling.NumSamples, p); err != nil {
		return nil, err
	}
	if fit.Surrogate, err = surrogateConfig(o); err != nil {
		return nil, err
	}
	discretize := o.DiscretizeContinuous == nil || o.GetDiscretizeContinuous()
	if discretize && o.GetSampleAroundInstance() {
		return nil, invalidArgument("lime.sample_around_instance: only applies without discretization; set discretize_continuous to false")
	}
	stats, err := trainingStats(o.GetTraining(), p, names, categorical, discretize, o.GetDiscretizer())
	if err != nil {
		return nil, err
	}
	return &limeShared{categorical: categorical, base: explain.LIMERequest{
		FeatureNames:         names,
		CategoryNames:        categoryNames,
		Stats:                stats,
		SampleAroundInstance: o.GetSampleAroundInstance(),
		Sampling:             sampling,
		SurrogateFit:         fit,
		Targets:              targets,
	}}, nil
}

// categoricalFeatures checks the categorical features of rows of p
// features (field names where they are given) and returns their sorted
// indices and category names.
func categoricalFeatures(field string, cats []*explainerv1.CategoricalFeature, p int) ([]int, map[int][]string, error) {
	var categorical []int
	var categoryNames map[int][]string
	for i, c := range cats {
		idx := int(c.GetIndex())
		if idx >= p {
			return nil, nil, invalidArgument("%s.categorical_features[%d].index: %d is out of range [0,%d)", field, i, idx, p)
		}
		if slices.Contains(categorical, idx) {
			return nil, nil, invalidArgument("%s.categorical_features[%d].index: feature %d listed twice", field, i, idx)
		}
		if len(c.GetCategoryNames()) > MaxCategories {
			return nil, nil, invalidArgument("%s.categorical_features[%d].category_names: more than %d", field, i, MaxCategories)
		}
		categorical = append(categorical, idx)
		if len(c.GetCategoryNames()) > 0 {
			if categoryNames == nil {
				categoryNames = map[int][]string{}
			}
			categoryNames[idx] = c.GetCategoryNames()
		}
	}
	slices.Sort(categorical)
	return categorical, categoryNames, nil
}

// checkRow checks the categorical features' values of a row (field names
// the row's values).
func (sh *limeShared) checkRow(values []float64, field string) error {
	for _, idx := range sh.categorical {
		if v := values[idx]; v != math.Trunc(v) || v < 0 {
			return invalidArgument("%s[%d]: a categorical feature's value must be a non-negative integer code", field, idx)
		}
	}
	return nil
}

// request is the LIME request of one instance, with seed and, when not
// nil, labels instead of the options' targets. The instances share
// everything but the instance and the seed.
func (sh *limeShared) request(values []float64, seed uint64, labels []int) *explain.LIMERequest {
	r := sh.base
	r.Instance = values
	r.Seed = seed
	if labels != nil {
		r.Targets = explain.Targets{Labels: labels}
	}
	return &r
}

func surrogateConfig(o *explainerv1.LimeOptions) (explain.SurrogateConfig, error) {
	var cfg explain.SurrogateConfig
	switch o.GetRegressor() {
	case explainerv1.Regressor_REGRESSOR_UNSPECIFIED, explainerv1.Regressor_REGRESSOR_RIDGE:
		if o.GetL1Penalty() != 0 {
			return cfg, invalidArgument("lime.l1_penalty: only applies to REGRESSOR_LASSO")
		}
		if o.RidgeAlpha != nil {
			a := o.GetRidgeAlpha()
			if a < 0 || math.IsNaN(a) || math.IsInf(a, 0) {
				return cfg, invalidArgument("lime.ridge_alpha: must be finite and >= 0")
			}
			cfg = ridgeConfig(a)
		}
	case explainerv1.Regressor_REGRESSOR_LASSO:
		if o.RidgeAlpha != nil {
			return cfg, invalidArgument("lime.ridge_alpha: only applies to REGRESSOR_RIDGE")
		}
		l1 := o.GetL1Penalty()
		if l1 == 0 {
			l1 = 0.01
		}
		if l1 < 0 || math.IsNaN(l1) || math.IsInf(l1, 0) {
			return cfg, invalidArgument("lime.l1_penalty: must be positive and finite")
		}
		cfg.L1 = l1
	default:
		return cfg, invalidArgument("lime.regressor: unknown value %d", int32(o.GetRegressor()))
	}
	return cfg, nil
}

func trainingStats(t *explainerv1.TrainingData, p int, names []string, categorical []int, discretize bool, disc explainerv1.Discretizer) (*sampler.Stats, error) {
	kind := ""
	if discretize {
		switch disc {
		case explainerv1.Discretizer_DISCRETIZER_UNSPECIFIED, explainerv1.Discretizer_DISCRETIZER_QUARTILE:
			kind = "quartile"
		case explainerv1.Discretizer_DISCRETIZER_DECILE:
			kind = "decile"
		default:
			return nil, invalidArgument("lime.discretizer: unknown value %d", int32(disc))
		}
	}
	switch {
	case t.GetDataset() != nil:
		ds := t.GetDataset()
		rows := int(ds.GetNumRows())
		if rows < 2 || rows > MaxDatasetRows {
			return nil, invalidArgument("lime.training.dataset.num_rows: %d is outside [2, %d]", rows, MaxDatasetRows)
		}
		if len(ds.GetValues()) != rows*p {
			return nil, invalidArgument("lime.training.dataset.values: %d values, want num_rows × features = %d × %d", len(ds.GetValues()), rows, p)
		}
		data := make([][]float64, rows)
		for i := range data {
			data[i] = ds.GetValues()[i*p : (i+1)*p : (i+1)*p]
			for j, v := range data[i] {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return nil, invalidArgument("lime.training.dataset.values[%d]: non-finite value", i*p+j)
				}
			}
		}
		return trainingStatsMemo.get(ds.GetValues(), p, names, categorical, kind, func() (*sampler.Stats, error) {
			stats, err := sampler.StatsFromData(data, names, categorical, kind)
			if err != nil {
				return nil, invalidArgument("lime.training.dataset: %v", err)
			}
			return stats, nil
		})
	case t.GetStatistics() != nil:
		return statsFromProto(t.GetStatistics(), p, categorical, kind != "")
	}
	return nil, invalidArgument("lime.training: required: give a dataset or statistics")
}

// ridgeConfig maps an explicit ridge penalty to the surrogate's convention,
// where zero means lime's default and a negative value means exactly 0.
func ridgeConfig(alpha float64) explain.SurrogateConfig {
	if alpha == 0 {
		return explain.SurrogateConfig{Alpha: -1}
	}
	return explain.SurrogateConfig{Alpha: alpha}
}

// limeOptions are the options the three LIME methods share.
type limeOptions interface {
	GetNumSamples() uint32
	GetNumFeatures() uint32
	GetFeatureSelection() explainerv1.FeatureSelection
	GetKernelWidth() float64
	GetLabels() []uint32
	GetTopLabels() uint32
}

// limeCommon reads the options every LIME method shares, with the sample
// count's default resolved (the server's size limits need it); explain
// checks them.
func limeCommon(o limeOptions, info predictor.ModelInfo, seed uint64, defaultSamples int) (explain.Sampling, explain.SurrogateFit, explain.Targets, error) {
	sampling := explain.Sampling{NumSamples: int(o.GetNumSamples()), Seed: seed}
	if sampling.NumSamples == 0 {
		sampling.NumSamples = defaultSamples
	}
	targets := explain.Targets{Labels: labelInts(o.GetLabels()), TopLabels: int(o.GetTopLabels())}
	fit := explain.SurrogateFit{NumFeatures: int(o.GetNumFeatures()), KernelWidth: o.GetKernelWidth()}
	var err error
	if fit.Selection, err = featureSelection(o.GetFeatureSelection()); err != nil {
		return sampling, fit, targets, err
	}
	for _, err := range []error{sampling.Validate(2), fit.Validate(), targets.Validate(info.NumClasses)} {
		if err != nil {
			return sampling, fit, targets, err
		}
	}
	return sampling, fit, targets, nil
}

// checkFitMemory refuses a LIME job whose surrogate fit would hold more
// than explain.MaxFitBytes (explain.FitBytes: the neighbourhood's Gram
// matrix grows with the square of the smaller of samples and features).
func checkFitMemory(method string, samples, features int) error {
	if b := explain.FitBytes(samples, features); b > explain.MaxFitBytes {
		return invalidArgument("%s.num_samples: the fit of %d samples × %d features needs %d bytes, over the limit of %d; lower num_samples", method, samples, features, b, explain.MaxFitBytes)
	}
	return nil
}

// parseLIMEBatch builds a LIME batch: the options and the training
// statistics are parsed once, and each row's request shares them.
func parseLIMEBatch(_ context.Context, in *parseInput, b *batchInstances) (*batchJob, error) {
	if b.rows == nil {
		return nil, invalidArgument("batch: lime explains rows: set batch.tabular")
	}
	sh, err := parseLIMEShared(in.req.GetLime(), in.info, in.seed, len(b.rows[0]), b.names, b.cats, "batch.tabular")
	if err != nil {
		return nil, err
	}
	for i, row := range b.rows {
		if err := sh.checkRow(row, fmt.Sprintf("batch.tabular.rows[%d].values", i)); err != nil {
			return nil, err
		}
	}
	return &batchJob{
		first: limeSpec(sh.request(b.rows[0], in.seed, nil)),
		Batch: engine.Batch{
			Instance: func(_ context.Context, i int, labels []int) (*engine.Spec, error) {
				return &limeSpec(sh.request(b.rows[i], in.seed+uint64(i), labels)).Spec, nil
			},
			Names: b.names,
		},
	}, nil
}
