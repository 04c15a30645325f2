package server

import (
	"fmt"
	"math"
	"slices"

	"github.com/explainer-sidecar/explainer/explain"
	"github.com/explainer-sidecar/explainer/predictor"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
	"github.com/explainer-sidecar/explainer/sampler"
)

// Limits on request fields, named in the errors that enforce them.
const (
	MaxFeatures     = 10_000
	MaxDatasetRows  = 100_000
	MaxNameLength   = 256
	MaxCategories   = 10_000
	maxLabelsListed = 1_000
)

// limeJob is a validated LIME request.
type limeJob struct {
	model string
	req   explain.LIMERequest
}

// parseLIME validates req and turns it into an estimator request. Every
// error is INVALID_ARGUMENT naming the field; no data value is echoed.
func parseLIME(req *explainerv1.ExplainRequest, opts *limeDefaults) (*limeJob, error) {
	o := req.GetLime()
	if o == nil {
		return nil, invalidArgument("method: must be set (lime)")
	}
	values, names, err := tabularInstance(req, predictor.ModelInfo{NumFeatures: opts.numFeatures})
	if err != nil {
		return nil, err
	}
	p := len(values)
	tab := req.GetInstance().GetTabular()
	var categorical []int
	var categoryNames map[int][]string
	for i, c := range tab.GetCategoricalFeatures() {
		idx := int(c.GetIndex())
		if idx >= p {
			return nil, invalidArgument("instance.tabular.categorical_features[%d].index: %d is out of range [0,%d)", i, idx, p)
		}
		if slices.Contains(categorical, idx) {
			return nil, invalidArgument("instance.tabular.categorical_features[%d].index: feature %d listed twice", i, idx)
		}
		if len(c.GetCategoryNames()) > MaxCategories {
			return nil, invalidArgument("instance.tabular.categorical_features[%d].category_names: more than %d", i, MaxCategories)
		}
		if v := values[idx]; v != math.Trunc(v) || v < 0 {
			return nil, invalidArgument("instance.tabular.values[%d]: a categorical feature's value must be a non-negative integer code", idx)
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

	n := int(o.GetNumSamples())
	if n == 0 {
		n = explain.DefaultNumSamples
	}
	if n < 2 || n > explain.MaxNumSamples {
		return nil, invalidArgument("lime.num_samples: %d is outside [2, %d]", n, explain.MaxNumSamples)
	}
	if n*p > MaxSampleValues {
		return nil, invalidArgument("lime.num_samples: %d samples × %d features exceeds limit %d values; lower num_samples", n, p, MaxSampleValues)
	}
	sel, err := featureSelection(o.GetFeatureSelection())
	if err != nil {
		return nil, err
	}
	if w := o.GetKernelWidth(); w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
		return nil, invalidArgument("lime.kernel_width: must be positive and finite")
	}
	if len(o.GetLabels()) > maxLabelsListed {
		return nil, invalidArgument("lime.labels: more than %d labels", maxLabelsListed)
	}
	labels := make([]int, len(o.GetLabels()))
	for i, l := range o.GetLabels() {
		if opts.classes > 0 && int(l) >= opts.classes {
			return nil, invalidArgument("lime.labels[%d]: %d is out of range [0,%d)", i, l, opts.classes)
		}
		labels[i] = int(l)
	}
	surrogate, err := surrogateConfig(o)
	if err != nil {
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
	seed := o.GetSeed()
	if o.Seed == nil {
		seed = opts.randomSeed()
	}
	return &limeJob{
		model: req.GetModel(),
		req: explain.LIMERequest{
			Instance:             values,
			FeatureNames:         names,
			CategoryNames:        categoryNames,
			Stats:                stats,
			SampleAroundInstance: o.GetSampleAroundInstance(),
			Sampling:             explain.Sampling{NumSamples: n, Seed: seed},
			SurrogateFit:         explain.SurrogateFit{NumFeatures: int(o.GetNumFeatures()), Selection: sel, KernelWidth: o.GetKernelWidth(), Surrogate: surrogate},
			Targets:              explain.Targets{Labels: labels, TopLabels: int(o.GetTopLabels())},
		},
	}, nil
}

// limeDefaults carries what the server knows before parsing: the model's
// shape and a seed source.
type limeDefaults struct {
	numFeatures int // the model's feature count, 0 when unknown
	classes     int // the model's class count, 0 when unknown
	randomSeed  func() uint64
}

func defaultFeatureNames(p int) []string {
	out := make([]string, p)
	for i := range out {
		out[i] = fmt.Sprintf("x%d", i)
	}
	return out
}

func featureSelection(fs explainerv1.FeatureSelection) (explain.FeatureSelection, error) {
	switch fs {
	case explainerv1.FeatureSelection_FEATURE_SELECTION_UNSPECIFIED, explainerv1.FeatureSelection_FEATURE_SELECTION_AUTO:
		return explain.SelectAuto, nil
	case explainerv1.FeatureSelection_FEATURE_SELECTION_NONE:
		return explain.SelectNone, nil
	case explainerv1.FeatureSelection_FEATURE_SELECTION_HIGHEST_WEIGHTS:
		return explain.SelectHighestWeights, nil
	case explainerv1.FeatureSelection_FEATURE_SELECTION_FORWARD_SELECTION:
		return explain.SelectForward, nil
	case explainerv1.FeatureSelection_FEATURE_SELECTION_LASSO_PATH:
		return explain.SelectLassoPath, nil
	}
	return 0, invalidArgument("lime.feature_selection: unknown value %d", int32(fs))
}

func featureSelectionProto(fs explain.FeatureSelection) explainerv1.FeatureSelection {
	switch fs {
	case explain.SelectNone:
		return explainerv1.FeatureSelection_FEATURE_SELECTION_NONE
	case explain.SelectHighestWeights:
		return explainerv1.FeatureSelection_FEATURE_SELECTION_HIGHEST_WEIGHTS
	case explain.SelectForward:
		return explainerv1.FeatureSelection_FEATURE_SELECTION_FORWARD_SELECTION
	case explain.SelectLassoPath:
		return explainerv1.FeatureSelection_FEATURE_SELECTION_LASSO_PATH
	}
	return explainerv1.FeatureSelection_FEATURE_SELECTION_AUTO
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
		stats, err := sampler.StatsFromData(data, names, categorical, kind)
		if err != nil {
			return nil, invalidArgument("lime.training.dataset: %v", err)
		}
		return stats, nil
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
