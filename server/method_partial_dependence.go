package server

import (
	"context"
	"math"

	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"

	"github.com/explainer-sidecar/explainer/engine"
	"github.com/explainer-sidecar/explainer/explain"
	"github.com/explainer-sidecar/explainer/predictor"
)

// partial_dependence: partial dependence and ICE curves over a data set
// (scikit-learn's partial_dependence, method "brute"), with a partial
// result per finished feature.

func init() {
	register("partial_dependence", method{
		parse:       parsePartialDependenceJob,
		streamsData: func(req *explainerv1.ExplainRequest) bool { return req.GetPartialDependence().GetStreamed() },
	})
}

func parsePartialDependenceJob(ctx context.Context, in *parseInput) (*jobSpec, error) {
	r, rows, err := parsePartialDependence(ctx, in.req.GetPartialDependence(), in.info, in.data)
	if err != nil {
		return nil, err
	}
	// Grid points are packed as permutation importance packs repeats: a
	// model without a row cap scores many grid points per call.
	r.BatchRows = packRows(in.callRows, len(r.Data[0]))
	return featureJob(rows, func(ctx context.Context, m engine.Scorer, partial func(int, int, *explain.Result)) (*explain.Result, error) {
		r := r
		r.Partial = partial
		return explain.PartialDependence(ctx, m, r)
	}), nil
}

// featureJob is the job of a method that scores rows rows and reports
// each finished feature (partial dependence, ALE): run gets the callback
// of the finished features, nil when no one listens.
func featureJob(rows int, run func(ctx context.Context, m engine.Scorer, partial func(done, total int, res *explain.Result)) (*explain.Result, error)) *jobSpec {
	return &jobSpec{Spec: engine.Spec{
		Rows: rows,
		Run: func(ctx context.Context, m engine.Scorer, r engine.Run) (*explain.Result, error) {
			var partial func(int, int, *explain.Result)
			if r.Partial != nil {
				partial = func(done, total int, res *explain.Result) {
					r.Partial(engine.Partial{Result: res, FeaturesDone: done, FeaturesTotal: total})
				}
			}
			return run(ctx, m, partial)
		},
	}}
}

// parsePartialDependence validates a partial dependence request, loads its
// data set and returns the rows it will score.
func parsePartialDependence(ctx context.Context, o *explainerv1.PartialDependenceOptions, info predictor.ModelInfo, chunks <-chan *explainerv1.DataChunk) (explain.PartialDependenceRequest, int, error) {
	const field = "partial_dependence"
	var r explain.PartialDependenceRequest
	if g := o.GetGridResolution(); g != 0 && (g < 2 || g > explain.MaxGridResolution) {
		return r, 0, invalidArgument("%s.grid_resolution: %d is outside [2, %d]", field, g, explain.MaxGridResolution)
	}
	lo, hi := 0.05, 0.95
	if o.LowerPercentile != nil {
		lo = o.GetLowerPercentile()
	}
	if o.UpperPercentile != nil {
		hi = o.GetUpperPercentile()
	}
	if !(lo >= 0 && lo < hi && hi <= 1) || math.IsNaN(lo) || math.IsNaN(hi) {
		return r, 0, invalidArgument("%s.lower_percentile, upper_percentile: need 0 <= lower < upper <= 1 (default 0.05 and 0.95)", field)
	}
	var kind explain.PDKind
	switch o.GetKind() {
	case explainerv1.PdpKind_PDP_KIND_UNSPECIFIED, explainerv1.PdpKind_PDP_KIND_AVERAGE:
		kind = explain.PDAverage
	case explainerv1.PdpKind_PDP_KIND_INDIVIDUAL:
		kind = explain.PDIndividual
	case explainerv1.PdpKind_PDP_KIND_BOTH:
		kind = explain.PDBoth
	default:
		return r, 0, invalidArgument("%s.kind: unknown value %d", field, int32(o.GetKind()))
	}
	labels, err := labelsOf(field, o.GetLabels(), info.NumClasses)
	if err != nil {
		return r, 0, err
	}
	for i, g := range o.GetGrids() {
		if n := len(g.GetValues()); n < 1 || n > explain.MaxGridResolution {
			return r, 0, invalidArgument("%s.grids[%d].values: %d values, want 1 to %d", field, i, n, explain.MaxGridResolution)
		}
	}
	d, err := loadDataset(ctx, field, o.GetData(), o.GetStreamed(), chunks, info, false)
	if err != nil {
		return r, 0, err
	}
	p := len(d.rows[0])
	var features [][]int
	for i, f := range o.GetFeatures() {
		fs := make([]int, len(f.GetFeatures()))
		for a, j := range f.GetFeatures() {
			if int(j) >= p {
				return r, 0, invalidArgument("%s.features[%d]: feature %d is out of range [0,%d)", field, i, j, p)
			}
			fs[a] = int(j)
		}
		features = append(features, fs)
	}
	var grids map[int][]float64
	for i, g := range o.GetGrids() {
		j := int(g.GetFeature())
		if j >= p {
			return r, 0, invalidArgument("%s.grids[%d].feature: %d is out of range [0,%d)", field, i, j, p)
		}
		if _, dup := grids[j]; dup {
			return r, 0, invalidArgument("%s.grids[%d].feature: feature %d has a grid already", field, i, j)
		}
		if grids == nil {
			grids = map[int][]float64{}
		}
		grids[j] = g.GetValues()
	}
	var cats map[int][]string
	for i, c := range o.GetCategoricalFeatures() {
		j := int(c.GetIndex())
		if j >= p {
			return r, 0, invalidArgument("%s.categorical_features[%d].index: %d is out of range [0,%d)", field, i, j, p)
		}
		if _, dup := cats[j]; dup {
			return r, 0, invalidArgument("%s.categorical_features[%d].index: feature %d is listed twice", field, i, j)
		}
		if cats == nil {
			cats = map[int][]string{}
		}
		cats[j] = c.GetCategoryNames()
	}
	r = explain.PartialDependenceRequest{
		Data: d.rows, FeatureNames: d.names, Features: features,
		GridResolution: int(o.GetGridResolution()), Percentiles: [2]float64{lo, hi},
		Grids: grids, Categorical: cats, Kind: kind, Centered: o.GetCentered(), Labels: labels,
	}
	rows, err := explain.PartialDependenceRows(r)
	if err != nil {
		return r, 0, requestError(field, err)
	}
	return r, rows, nil
}

// encodeCurves adds l's partial dependence and ALE curves to le.
func encodeCurves(le *explainerv1.LabelExplanation, l explain.LabelResult) {
	for _, c := range l.PartialDependence {
		pd := &explainerv1.PartialDependence{
			FeatureIndex: uint32(c.Features[0]), Feature: c.Names[0], Grid: c.Grids[0], GridLabels: c.GridLabels,
			Average: c.Average, AverageStdError: c.AverageStdErr, Centered: c.Centered,
		}
		if len(c.Features) == 2 {
			second := uint32(c.Features[1])
			pd.SecondFeatureIndex, pd.SecondFeature, pd.SecondGrid = &second, c.Names[1], c.Grids[1]
		}
		for _, curve := range c.Individual {
			pd.Individual = append(pd.Individual, &explainerv1.IceCurve{Values: curve})
		}
		le.PartialDependence = append(le.PartialDependence, pd)
	}
	for _, c := range l.ALE {
		counts := make([]uint32, len(c.BinCounts))
		for k, n := range c.BinCounts {
			counts[k] = uint32(n)
		}
		le.AccumulatedLocalEffects = append(le.AccumulatedLocalEffects, &explainerv1.AccumulatedLocalEffects{
			FeatureIndex: uint32(c.Feature), Feature: c.Name, Edges: c.Edges, Effects: c.Effects,
			StdErrors: c.StdErrs, BinCounts: counts, Constant: c.Constant,
		})
	}
}
