package server

import (
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/explainer-sidecar/explainer/engine"
	"github.com/explainer-sidecar/explainer/explain"
	"github.com/explainer-sidecar/explainer/predictor"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// encoder turns a job's results into protos: the one encoder of
// explanations, final and partial.
type encoder struct {
	model string
	info  predictor.ModelInfo
	start time.Time
	// calls returns the job model's calls so far.
	calls func() int64
}

// explanation encodes res.
func (e encoder) explanation(res *explain.Result) *explainerv1.Explanation {
	return explanationProto(res, e.model, e.info, uint64(e.calls()), time.Since(e.start))
}

// partial encodes an interim result with how far the job has come.
func (e encoder) partial(p engine.Partial) *explainerv1.Explanation {
	exp := e.explanation(p.Result)
	exp.RepeatsDone = uint32(p.RepeatsDone)
	exp.BandsDone, exp.BandsTotal = uint32(p.BandsDone), uint32(p.BandsTotal)
	exp.Rounds, exp.Precision = uint32(p.Round), p.Precision
	exp.FeaturesDone, exp.FeaturesTotal = uint32(p.FeaturesDone), uint32(p.FeaturesTotal)
	return exp
}

func explanationProto(res *explain.Result, model string, info predictor.ModelInfo, calls uint64, elapsed time.Duration) *explainerv1.Explanation {
	exp := &explainerv1.Explanation{
		Method:         res.Method,
		Model:          model,
		InstanceScores: res.InstanceScores,
		ClassNames:     info.ClassNames,
		Seed:           res.Seed,
		NumSamples:     uint64(res.NumSamples),
		ModelCalls:     calls,
		Elapsed:        durationpb.New(elapsed),
		KernelWidth:    res.KernelWidth,
		BaselineScore:  res.BaselineScore,
	}
	if res.Method == "lime" || res.Method == "lime_text" || res.Method == "lime_image" {
		exp.FeatureSelection = featureSelectionProto(res.Selection)
	}
	if res.Scoring != "" {
		exp.Scoring = scoringProto(res.Scoring)
	}
	for _, l := range res.Labels {
		le := &explainerv1.LabelExplanation{
			Label:           uint32(l.Label),
			Prediction:      l.Prediction,
			Intercept:       l.Intercept,
			Score:           l.Score,
			LocalPrediction: l.LocalPrediction,
			BaseValue:       l.BaseValue,
			ModelValue:      l.ModelValue,
			Anchor:          anchorProto(l.Anchor),
		}
		if res.Method != "permutation" && l.Label < len(info.ClassNames) {
			le.ClassName = info.ClassNames[l.Label]
		}
		for _, a := range l.Attributions {
			pa := &explainerv1.Attribution{
				Index: uint32(a.Index), Feature: a.Description, Weight: a.Weight,
				Std: a.Std, Values: a.Values, MeanAbs: a.MeanAbs, StdError: a.StdErr,
			}
			for _, f := range a.Features {
				pa.Features = append(pa.Features, uint32(f))
			}
			if a.Index < len(res.Spans) {
				for _, sp := range res.Spans[a.Index] {
					pa.Spans = append(pa.Spans, &explainerv1.TextSpan{Start: uint32(sp[0]), End: uint32(sp[1])})
				}
			}
			le.Attributions = append(le.Attributions, pa)
		}
		encodeCurves(le, l)
		exp.Labels = append(exp.Labels, le)
	}
	if sm := res.Segments; sm != nil {
		labels := make([]uint32, len(sm.Labels))
		for i, s := range sm.Labels {
			labels[i] = uint32(s)
		}
		exp.Segments = &explainerv1.SegmentMap{Height: uint32(sm.Height), Width: uint32(sm.Width), Labels: labels}
	}
	for _, m := range res.Maps {
		exp.Maps = append(exp.Maps, &explainerv1.AttributionMap{
			Label: uint32(m.Label), Height: uint32(m.Height), Width: uint32(m.Width), Values: m.Values, StdErrors: m.StdErrs,
		})
	}
	counterfactualsProto(exp, res)
	return exp
}

// evaluationProto encodes the checks of out, which cost the checks' models
// calls and rows.
func evaluationProto(out *engine.Outcome, calls, rows uint64) *explainerv1.EvaluationReport {
	rep := &explainerv1.EvaluationReport{ModelCalls: calls, NumSamples: rows}
	if st := out.Stability; st != nil {
		rep.Stability = &explainerv1.Stability{
			Runs:                uint32(st.Runs),
			Seeds:               out.Seeds,
			MeanRankCorrelation: st.MeanRankCorrelation,
			MinRankCorrelation:  st.MinRankCorrelation,
			MeanTopKOverlap:     st.MeanTopKOverlap,
			TopK:                uint32(st.TopK),
			WeightStd:           st.WeightStd,
		}
	}
	for _, c := range out.Curves {
		rep.Curves = append(rep.Curves, &explainerv1.FidelityCurves{
			Label:               uint32(c.Label),
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
	return rep
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

func scoringProto(name string) explainerv1.Scoring {
	v, ok := explainerv1.Scoring_value["SCORING_"+strings.ToUpper(name)]
	if !ok {
		return explainerv1.Scoring_SCORING_UNSPECIFIED
	}
	return explainerv1.Scoring(v)
}
