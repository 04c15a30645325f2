package explain

import (
	"cmp"
	"context"
	"math"
	"slices"
)

// Defaults of AutoSampling.
const (
	DefaultAutoInitial = 1000
	DefaultAutoMax     = 50000
	DefaultAutoTopK    = 5
)

// AutoSampling samples in rounds until an explanation is precise enough:
// round r explains with Initial·2^r samples (the last round with Max), and
// sampling stops after the first round that meets the target.
//
// Rounds re-draw their samples from the same seed, so round r's samples
// start with round r−1's (the samplers draw a prefix-stable sequence);
// wrapped in a CachedModel, the model scores each sample once and the whole
// run costs about as many model rows as its last round alone.
type AutoSampling struct {
	// Initial is the first round's samples. Default DefaultAutoInitial.
	Initial int
	// Max is the budget: no round has more samples. Default DefaultAutoMax.
	Max int
	// Tolerance is met when, for every explained label, the largest
	// standard error among the TopK attributions is at most Tolerance.
	// 0 turns it off.
	Tolerance float64
	// TopK is how many attributions, by decreasing |weight|, must be
	// precise or stable. Default DefaultAutoTopK.
	TopK int
	// StableRanking is met when every label's TopK features, in order, are
	// the same as in the previous round. With Tolerance, both must hold.
	StableRanking bool
}

// StopReason says why AutoExplain stopped.
type StopReason int

const (
	// StopTargetMet: the round met the target.
	StopTargetMet StopReason = iota + 1
	// StopBudgetSpent: the round had Max samples and missed the target.
	StopBudgetSpent
	// StopCancelled: the context ended after at least one round; the result
	// is the last finished round's.
	StopCancelled
	// StopExhausted: the round scored no more samples than the one before
	// (KernelSHAP with every coalition enumerated), so more rounds could
	// not change the result; the target was not met.
	StopExhausted
)

func (r StopReason) String() string {
	switch r {
	case StopTargetMet:
		return "target met"
	case StopBudgetSpent:
		return "budget spent"
	case StopCancelled:
		return "cancelled"
	case StopExhausted:
		return "exhausted"
	}
	return "unknown"
}

// Round describes one finished round of AutoExplain.
type Round struct {
	// Round counts from 1.
	Round int
	// Samples is the round's sample count.
	Samples int
	// Precision is the largest standard error among the TopK attributions
	// over the explained labels.
	Precision float64
	// RankingStable reports the TopK ranking equal to the previous round's
	// (false in round 1).
	RankingStable bool
	// Result is the round's explanation.
	Result *Result
}

// Convergence is how an AutoExplain run ended.
type Convergence struct {
	Reason StopReason
	// Last is the final round, the one whose Result AutoExplain returns.
	Last Round
}

// ExplainFunc explains with the given number of samples. AutoExplain calls
// it once per round with a growing count.
type ExplainFunc func(ctx context.Context, samples int) (*Result, error)

// AutoExplain runs explain in rounds as a describes, calling onRound (when
// not nil) after each round, and returns the last round's result. When ctx
// ends during a round after an earlier round finished, it returns that
// earlier round with StopCancelled and no error; when it ends in the first
// round, it returns ctx's error.
func AutoExplain(ctx context.Context, a AutoSampling, explain ExplainFunc, onRound func(Round)) (*Result, Convergence, error) {
	a, err := a.Resolve()
	if err != nil {
		return nil, Convergence{}, err
	}
	var (
		last    Round
		ranking [][]int
	)
	for n := a.Initial; ; n = min(2*n, a.Max) {
		res, err := explain(ctx, n)
		if err != nil {
			if last.Result != nil && ctx.Err() != nil {
				return last.Result, Convergence{Reason: StopCancelled, Last: last}, nil
			}
			return nil, Convergence{}, err
		}
		top := topRanking(res, a.TopK)
		exhausted := last.Result != nil && res.NumSamples <= last.Result.NumSamples
		last = Round{
			Round:         last.Round + 1,
			Samples:       n,
			Precision:     topPrecision(res, a.TopK),
			RankingStable: ranking != nil && slices.EqualFunc(ranking, top, slices.Equal),
			Result:        res,
		}
		ranking = top
		if onRound != nil {
			onRound(last)
		}
		met := (a.Tolerance == 0 || last.Precision <= a.Tolerance) && (!a.StableRanking || last.RankingStable)
		switch {
		case met:
			return res, Convergence{Reason: StopTargetMet, Last: last}, nil
		case exhausted:
			return res, Convergence{Reason: StopExhausted, Last: last}, nil
		case n >= a.Max:
			return res, Convergence{Reason: StopBudgetSpent, Last: last}, nil
		}
	}
}

// Resolve returns a with the defaults filled in, or a *RequestError naming
// the field that is out of range.
func (a AutoSampling) Resolve() (AutoSampling, error) {
	if a.Initial == 0 {
		a.Initial = DefaultAutoInitial
	}
	if a.Max == 0 {
		a.Max = max(DefaultAutoMax, a.Initial)
	}
	if a.TopK == 0 {
		a.TopK = DefaultAutoTopK
	}
	switch {
	case a.Initial < 2:
		return a, invalid("initial_samples", "must be at least 2")
	case a.Max < a.Initial:
		return a, invalid("max_samples", "must be at least initial_samples (%d)", a.Initial)
	case a.Tolerance < 0 || math.IsNaN(a.Tolerance) || math.IsInf(a.Tolerance, 0):
		return a, invalid("tolerance", "must be a finite number ≥ 0")
	case a.Tolerance == 0 && !a.StableRanking:
		return a, invalid("tolerance", "set a tolerance or stable_ranking: without a target every job would spend the whole budget")
	case a.TopK < 0:
		return a, invalid("top_k", "must be ≥ 0")
	}
	return a, nil
}

// byMagnitude returns l's attributions ordered by decreasing |Weight|, ties
// by index.
func byMagnitude(l LabelResult) []Attribution {
	as := slices.Clone(l.Attributions)
	slices.SortStableFunc(as, func(x, y Attribution) int {
		if c := cmp.Compare(math.Abs(y.Weight), math.Abs(x.Weight)); c != 0 {
			return c
		}
		return cmp.Compare(x.Index, y.Index)
	})
	return as
}

// topPrecision is the largest StdErr among each label's k attributions of
// largest |Weight|.
func topPrecision(res *Result, k int) float64 {
	worst := 0.0
	for _, l := range res.Labels {
		as := byMagnitude(l)
		for _, a := range as[:min(k, len(as))] {
			worst = max(worst, a.StdErr)
		}
	}
	return worst
}

// topRanking is, per label, the indices of the k attributions of largest
// |Weight|, largest first.
func topRanking(res *Result, k int) [][]int {
	out := make([][]int, len(res.Labels))
	for i, l := range res.Labels {
		as := byMagnitude(l)
		for _, a := range as[:min(k, len(as))] {
			out[i] = append(out[i], a.Index)
		}
	}
	return out
}
