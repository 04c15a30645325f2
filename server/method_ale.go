package server

import (
	"context"
	"slices"

	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"

	"github.com/explainer-sidecar/explainer/engine"
	"github.com/explainer-sidecar/explainer/explain"
	"github.com/explainer-sidecar/explainer/predictor"
)

// ale: accumulated local effects over a data set (Apley and Zhu 2016, as
// alibi's ALE), with a partial result per finished feature.

func init() {
	register("ale", method{
		parse:       parseALEJob,
		streamsData: func(req *explainerv1.ExplainRequest) bool { return req.GetAle().GetStreamed() },
	})
}

func parseALEJob(ctx context.Context, in *parseInput) (*jobSpec, error) {
	r, rows, err := parseALE(ctx, in.req.GetAle(), in.info, in.data)
	if err != nil {
		return nil, err
	}
	r.BatchRows = packRows(in.callRows, len(r.Data[0]))
	return featureJob(rows, func(ctx context.Context, m engine.Scorer, partial func(int, int, *explain.Result)) (*explain.Result, error) {
		r := r
		r.Partial = partial
		return explain.ALE(ctx, m, r)
	}), nil
}

// parseALE validates an ALE request, loads its data set and returns the
// rows it will score.
func parseALE(ctx context.Context, o *explainerv1.AleOptions, info predictor.ModelInfo, chunks <-chan *explainerv1.DataChunk) (explain.ALERequest, int, error) {
	const field = "ale"
	var r explain.ALERequest
	if b := o.GetBins(); b > explain.MaxGridResolution {
		return r, 0, invalidArgument("%s.bins: %d exceeds limit %d", field, b, explain.MaxGridResolution)
	}
	labels, err := labelsOf(field, o.GetLabels(), info.NumClasses)
	if err != nil {
		return r, 0, err
	}
	d, err := loadDataset(ctx, field, o.GetData(), o.GetStreamed(), chunks, info, false)
	if err != nil {
		return r, 0, err
	}
	p := len(d.rows[0])
	var features []int
	for i, j := range o.GetFeatures() {
		if int(j) >= p {
			return r, 0, invalidArgument("%s.features[%d]: feature %d is out of range [0,%d)", field, i, j, p)
		}
		features = append(features, int(j))
	}
	var categorical []int
	for i, c := range o.GetCategoricalFeatures() {
		j := int(c.GetIndex())
		if j >= p {
			return r, 0, invalidArgument("%s.categorical_features[%d].index: %d is out of range [0,%d)", field, i, j, p)
		}
		categorical = append(categorical, j)
	}
	if len(features) == 0 && len(categorical) > 0 {
		for j := range p {
			if !slices.Contains(categorical, j) {
				features = append(features, j)
			}
		}
		if len(features) == 0 {
			return r, 0, invalidArgument("%s.categorical_features: every feature is categorical; ALE is defined for numeric features only", field)
		}
	}
	r = explain.ALERequest{
		Data: d.rows, FeatureNames: d.names, Features: features, Categorical: categorical,
		Bins: int(o.GetBins()), MinBinPoints: int(o.GetMinBinPoints()), Labels: labels,
	}
	rows, err := explain.ALERows(r)
	if err != nil {
		return r, 0, requestError(field, err)
	}
	return r, rows, nil
}
