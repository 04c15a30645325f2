package server

import (
	"context"
	"errors"
	"sync"

	"github.com/explainer-sidecar/explainer/explain"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// Limits of ExplainRequest.evaluation.
const (
	MaxStabilityRuns = 16
	maxRandomOrders  = explain.MaxRandomOrders
	maxCurveSteps    = explain.MaxCurveSteps
)

// methodSamples is the num_samples the request's method options set, and
// the options' field name.
func methodSamples(req *explainerv1.ExplainRequest) (uint32, string) {
	switch o := req.GetMethod().(type) {
	case *explainerv1.ExplainRequest_Lime:
		return o.Lime.GetNumSamples(), "lime.num_samples"
	case *explainerv1.ExplainRequest_LimeText:
		return o.LimeText.GetNumSamples(), "lime_text.num_samples"
	case *explainerv1.ExplainRequest_LimeImage:
		return o.LimeImage.GetNumSamples(), "lime_image.num_samples"
	case *explainerv1.ExplainRequest_KernelShap:
		return o.KernelShap.GetNumSamples(), "kernel_shap.num_samples"
	}
	return 0, ""
}

// parseAuto validates req.auto_sampling for j; nil when it is unset.
func parseAuto(req *explainerv1.ExplainRequest, j *job) (*explain.AutoSampling, error) {
	a := req.GetAutoSampling()
	if a == nil {
		return nil, nil
	}
	const field = "auto_sampling"
	if !j.sampled {
		return nil, invalidArgument("%s: only lime, lime_text, lime_image and kernel_shap draw samples", field)
	}
	if n, name := methodSamples(req); n != 0 {
		return nil, invalidArgument("%s: must be 0 with auto_sampling (the rounds choose it)", name)
	}
	if a.GetTolerance() == 0 && !a.GetStableRanking() {
		return nil, invalidArgument("%s: set tolerance or stable_ranking; without a target every job spends the whole budget", field)
	}
	auto, err := explain.AutoSampling{
		Initial:       int(a.GetInitialSamples()),
		Max:           int(a.GetMaxSamples()),
		Tolerance:     a.GetTolerance(),
		TopK:          int(a.GetTopK()),
		StableRanking: a.GetStableRanking(),
	}.Resolve()
	var reqErr *explain.RequestError
	switch {
	case errors.As(err, &reqErr):
		return nil, invalidArgument("%s.%s: %s", field, reqErr.Field, reqErr.Reason)
	case err != nil:
		return nil, err
	case auto.Max > explain.MaxNumSamples:
		return nil, invalidArgument("%s.max_samples: at most %d", field, explain.MaxNumSamples)
	}
	return &auto, nil
}

// parseEvaluation validates req.evaluation for j; nil when it is unset.
func parseEvaluation(req *explainerv1.ExplainRequest, j *job) (*explainerv1.Evaluation, error) {
	e := req.GetEvaluation()
	if e == nil {
		return nil, nil
	}
	const field = "evaluation"
	switch runs := e.GetStabilityRuns(); {
	case runs == 1 || runs > MaxStabilityRuns:
		return nil, invalidArgument("%s.stability_runs: 0 (off) or 2 to %d", field, MaxStabilityRuns)
	case runs > 0 && !j.seeded:
		return nil, invalidArgument("%s.stability_runs: the method is deterministic, every seed gives the same result", field)
	}
	if e.GetRandomOrders() > maxRandomOrders {
		return nil, invalidArgument("%s.random_orders: at most %d", field, maxRandomOrders)
	}
	if e.GetCurveSteps() > maxCurveSteps {
		return nil, invalidArgument("%s.curve_steps: at most %d", field, maxCurveSteps)
	}
	if e.GetStabilityRuns() == 0 && !e.GetFidelityCurves() {
		return nil, invalidArgument("%s: ask for stability_runs, fidelity_curves or both", field)
	}
	return e, nil
}

// cachedScorer is a job model behind caches, for auto sampling.
type cachedScorer struct {
	*explain.CachedModel
	*explain.CachedTextModel
}

func newCachedScorer(m jobScorer) cachedScorer {
	return cachedScorer{explain.NewCachedModel(m), explain.NewCachedTextModel(m)}
}

// explainJob runs j once or, with auto sampling, in rounds; with runs > 1,
// that many times with consecutive seeds in parallel, each extra run on
// its own model (so the checks' model calls are counted apart). It returns
// the primary run's result, its convergence, and every run's result.
func (s *Server) explainJob(ctx context.Context, j *job, auto *explain.AutoSampling, runs int, onRound func(explain.Round)) (*explain.Result, explain.Convergence, []*explain.Result, error) {
	one := func(ctx context.Context, i int, base *jobModel) (*explain.Result, explain.Convergence, error) {
		seed := j.seed + uint64(i)
		primary := i == 0
		if auto == nil {
			res, err := j.run(ctx, base, seed, 0, primary)
			return res, explain.Convergence{}, err
		}
		scorer := newCachedScorer(base)
		var report func(explain.Round)
		if primary {
			report = onRound
		}
		return explain.AutoExplain(ctx, *auto, func(ctx context.Context, n int) (*explain.Result, error) {
			return j.run(ctx, scorer, seed, n, primary)
		}, report)
	}
	if runs <= 1 {
		res, conv, err := one(ctx, 0, j.model)
		return res, conv, []*explain.Result{res}, err
	}
	results := make([]*explain.Result, runs)
	var conv explain.Convergence
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for i := range runs {
		base := j.model
		if i > 0 {
			base = j.checkModel()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, c, err := one(ctx, i, base)
			if err != nil {
				cancel(err)
				return
			}
			results[i] = res
			if i == 0 {
				conv = c
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, explain.Convergence{}, nil, err
	}
	return results[0], conv, results, nil
}

// evaluate runs the checks e asks for on res (the primary run) and runs
// (every run, for stability).
func (s *Server) evaluate(ctx context.Context, j *job, e *explainerv1.Evaluation, res *explain.Result, runs []*explain.Result) (*explainerv1.EvaluationReport, error) {
	rep := &explainerv1.EvaluationReport{}
	if e.GetStabilityRuns() > 0 {
		st, err := explain.ResultStability(runs, j.players, int(e.GetTopK()))
		if err != nil {
			return nil, err
		}
		seeds := make([]uint64, len(runs))
		for i := range seeds {
			seeds[i] = j.seed + uint64(i)
		}
		rep.Stability = &explainerv1.Stability{
			Runs:                uint32(st.Runs),
			Seeds:               seeds,
			MeanRankCorrelation: st.MeanRankCorrelation,
			MinRankCorrelation:  st.MinRankCorrelation,
			MeanTopKOverlap:     st.MeanTopKOverlap,
			TopK:                uint32(st.TopK),
			WeightStd:           st.WeightStd,
		}
	}
	if e.GetFidelityCurves() {
		m := j.checkModel()
		for _, l := range res.Labels {
			weights, score := j.curves(m, res, l.Label)
			if weights == nil {
				continue
			}
			c, err := explain.FidelityCurves(ctx, score, weights, explain.CurveOptions{
				Steps: int(e.GetCurveSteps()), RandomOrders: int(e.GetRandomOrders()), Seed: j.seed, BatchSize: j.curveBatch,
			})
			if err != nil {
				return nil, err
			}
			rep.Curves = append(rep.Curves, &explainerv1.FidelityCurves{
				Label:               uint32(l.Label),
				Fractions:           c.Fractions,
				Deletion:            c.Deletion,
				RandomDeletion:      c.RandomDeletion,
				Insertion:           c.Insertion,
				RandomInsertion:     c.RandomInsertion,
				DeletionArea:        c.DeletionArea,
				RandomDeletionArea:  c.RandomDeletionArea,
				InsertionArea:       c.InsertionArea,
				RandomInsertionArea: c.RandomInsertionArea,
			})
		}
	}
	rep.ModelCalls, rep.NumSamples = j.checkCost()
	return rep, nil
}

// stopReasonProto maps a convergence to its proto.
func stopReasonProto(r explain.StopReason) explainerv1.StopReason {
	switch r {
	case explain.StopTargetMet:
		return explainerv1.StopReason_STOP_REASON_TARGET_MET
	case explain.StopBudgetSpent:
		return explainerv1.StopReason_STOP_REASON_BUDGET_SPENT
	case explain.StopCancelled:
		return explainerv1.StopReason_STOP_REASON_CANCELLED
	case explain.StopExhausted:
		return explainerv1.StopReason_STOP_REASON_EXHAUSTED
	}
	return explainerv1.StopReason_STOP_REASON_UNSPECIFIED
}
