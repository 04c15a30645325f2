package server

import (
	"context"
	"math"

	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"

	"github.com/explainer-sidecar/explainer/engine"
	"github.com/explainer-sidecar/explainer/explain"
	"github.com/explainer-sidecar/explainer/predictor"
)

// sensitivity: the mean partial derivative of each class score over a
// data set, by central differences.

func init() {
	register("sensitivity", method{
		parse:       parseSensitivityJob,
		streamsData: func(req *explainerv1.ExplainRequest) bool { return req.GetSensitivity().GetStreamed() },
	})
}

func parseSensitivityJob(ctx context.Context, in *parseInput) (*jobSpec, error) {
	r, err := parseSensitivity(ctx, in.req.GetSensitivity(), in.info, in.data)
	if err != nil {
		return nil, err
	}
	// Pack evaluations as permutation importance does: a model without a
	// row cap scores the 2 × 143 rows × 30 features of issue 11's data set
	// in one call instead of 60.
	r.BatchRows = packRows(in.callRows, len(r.Data[0]))
	return &jobSpec{Spec: engine.Spec{
		Rows: 2 * len(r.Data) * len(r.Data[0]),
		Run: func(ctx context.Context, m engine.Scorer, _ engine.Run) (*explain.Result, error) {
			return explain.Sensitivity(ctx, m, r)
		},
		CurveBatch:  masksPerCall((min(len(r.Data), maxCurveRows) + 1) * len(r.Data[0])),
		Curves:      sensitivityCurves(r.Data),
		CurveLabels: r.Labels,
	}}, nil
}

// parseSensitivity validates a sensitivity request and loads its data set.
func parseSensitivity(ctx context.Context, o *explainerv1.SensitivityOptions, info predictor.ModelInfo, chunks <-chan *explainerv1.DataChunk) (explain.SensitivityRequest, error) {
	const field = "sensitivity"
	var r explain.SensitivityRequest
	if st := o.GetStep(); st < 0 || st > 1 || math.IsNaN(st) {
		return r, invalidArgument("%s.step: must be in (0, 1]", field)
	}
	labels, err := labelsOf(field, o.GetLabels(), info.NumClasses)
	if err != nil {
		return r, err
	}
	d, err := loadDataset(ctx, field, o.GetData(), o.GetStreamed(), chunks, info, false)
	if err != nil {
		return r, err
	}
	if rows := 2 * len(d.rows) * len(d.rows[0]); rows > MaxDataValues {
		return r, invalidArgument("%s.data: 2 × rows × features = %d rows to score exceeds limit %d; send fewer rows", field, rows, MaxDataValues)
	}
	return explain.SensitivityRequest{Data: d.rows, FeatureNames: d.names, Step: o.GetStep(), Labels: labels}, nil
}
