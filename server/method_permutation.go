package server

import (
	"context"
	"math"

	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"

	"github.com/explainer-sidecar/explainer/engine"
	"github.com/explainer-sidecar/explainer/explain"
	"github.com/explainer-sidecar/explainer/predictor"
)

// permutation: permutation importance of a data set's features
// (scikit-learn's permutation_importance), with partial results after each
// repeat.

func init() {
	register("permutation", method{
		parse:       parsePermutationJob,
		streamsData: func(req *explainerv1.ExplainRequest) bool { return req.GetPermutation().GetStreamed() },
	})
}

func parsePermutationJob(ctx context.Context, in *parseInput) (*jobSpec, error) {
	r, names, err := parsePermutation(ctx, in.req.GetPermutation(), in.info, in.data, in.seed)
	if err != nil {
		return nil, err
	}
	r.BatchRows = packRows(in.callRows, len(r.Data[0]))
	return &jobSpec{Spec: engine.Spec{
		Seed: r.Seed, Rows: permutationRows(r), Seeded: true, Players: playerCount(len(r.Data[0]), r.Groups),
		Run: func(ctx context.Context, m engine.Scorer, run engine.Run) (*explain.Result, error) {
			r := r
			r.Seed = run.Seed
			if run.Partial != nil {
				r.Partial = func(done int, res *explain.Result) {
					nameGroups(res, names)
					run.Partial(engine.Partial{Result: res, RepeatsDone: done})
				}
			}
			res, err := explain.Permutation(ctx, m, r)
			if err == nil {
				nameGroups(res, names)
			}
			return res, err
		},
		CurveBatch: masksPerCall(min(len(r.Data), maxCurveRows) * len(r.Data[0])),
		Curves: datasetCurves(r.Data, r.Groups, func(scores [][]float64, rows []int) (float64, error) {
			return explain.Score(r.Scoring, scores, pick(r.Target, rows), pick(r.Weights, rows), r.Output)
		}),
	}}, nil
}

// maxPackedValues bounds the values packed into one Predict call of
// permutation importance or sensitivity when the model has no row cap (or
// a large one): 2^22 values (32 MB; 64 MB for the two calls in flight) is
// more than two rounds of four calls at the default --max-batch-bytes
// (3 MiB, 393 216 values a call), and an evaluation of more values than
// that is sent alone: packing it with others would only hold more working
// copies (the model takes no more at once).
const maxPackedValues = 1 << 22

// packRows is the BatchRows of permutation importance and sensitivity
// for rows of p values: twice what the model takes at once (perCall,
// batch size × in flight), so that a model with large batches scores many
// evaluations per call and the calls stay full (while the last rows of one
// of the two evaluations in flight are at the model, the other still has a
// round of full calls queued; with one round's worth the calls carrying
// each evaluation's tail went out short: 898 calls of 64 rows for 673 full
// ones, issue 11's 143 rows × 30 features × 10 repeats), and at most
// maxPackedValues values.
func packRows(perCall, p int) int {
	return min(callRows(perCall, 2), max(1, maxPackedValues/max(1, p)))
}

// parsePermutation validates a permutation-importance request and loads
// its data set.
func parsePermutation(ctx context.Context, o *explainerv1.PermutationOptions, info predictor.ModelInfo, chunks <-chan *explainerv1.DataChunk, seed uint64) (explain.PermutationRequest, []string, error) {
	const field = "permutation"
	var r explain.PermutationRequest
	scoring, err := scoringOf(o.GetScoring())
	if err != nil {
		return r, nil, err
	}
	repeats := int(o.GetRepeats())
	if repeats > explain.MaxRepeats {
		return r, nil, invalidArgument("%s.repeats: %d exceeds limit %d", field, repeats, explain.MaxRepeats)
	}
	if ms := o.GetMaxSamples(); ms < 0 || math.IsNaN(ms) || math.IsInf(ms, 0) {
		return r, nil, invalidArgument("%s.max_samples: must be a fraction in (0, 1] or a row count", field)
	}
	d, err := loadDataset(ctx, field, o.GetData(), o.GetStreamed(), chunks, info, true)
	if err != nil {
		return r, nil, err
	}
	gs, groupNames, err := groups(field, o.GetGroups(), len(d.rows[0]))
	if err != nil {
		return r, nil, err
	}
	return explain.PermutationRequest{
		Data:         d.rows,
		Target:       d.targets,
		Weights:      d.weights,
		FeatureNames: d.names,
		Groups:       gs,
		Scoring:      scoring,
		Output:       int(o.GetOutput()),
		Repeats:      repeats,
		MaxSamples:   o.GetMaxSamples(),
		Seed:         seed,
	}, groupNames, nil
}

// permutationRows is the number of rows permutation importance scores:
// the baseline over all rows, then every group on every repeat over the
// (sub)sampled rows, as scikit-learn's max_samples reads.
func permutationRows(r explain.PermutationRequest) int {
	n := len(r.Data)
	sub := n
	switch {
	case r.MaxSamples > 0 && r.MaxSamples <= 1:
		sub = int(r.MaxSamples * float64(n))
	case r.MaxSamples > 1:
		sub = min(n, int(r.MaxSamples))
	}
	g := len(r.Groups)
	if g == 0 {
		g = len(r.Data[0])
	}
	repeats := r.Repeats
	if repeats == 0 {
		repeats = 5
	}
	return n + g*repeats*sub
}

func scoringOf(s explainerv1.Scoring) (explain.Scoring, error) {
	switch s {
	case explainerv1.Scoring_SCORING_UNSPECIFIED, explainerv1.Scoring_SCORING_ACCURACY:
		return explain.ScoreAccuracy, nil
	case explainerv1.Scoring_SCORING_BALANCED_ACCURACY:
		return explain.ScoreBalancedAccuracy, nil
	case explainerv1.Scoring_SCORING_NEG_LOG_LOSS:
		return explain.ScoreNegLogLoss, nil
	case explainerv1.Scoring_SCORING_ROC_AUC:
		return explain.ScoreROCAUC, nil
	case explainerv1.Scoring_SCORING_NEG_MEAN_SQUARED_ERROR:
		return explain.ScoreNegMSE, nil
	case explainerv1.Scoring_SCORING_R2:
		return explain.ScoreR2, nil
	}
	return 0, invalidArgument("permutation.scoring: unknown value %d", int32(s))
}
