package explain

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/stat"
)

// DefaultTopK is the k of the top-k overlap when Stability's topK is 0 or
// less.
const DefaultTopK = 5

// StabilityReport says how much the explanations of several runs (seeds)
// agree.
type StabilityReport struct {
	// Runs is the number of runs compared.
	Runs int
	// TopK is the k used: the requested k, DefaultTopK for 0, at most p.
	TopK int
	// MeanRankCorrelation and MinRankCorrelation are the mean and the
	// smallest, over pairs of runs, of the Spearman rank correlation of
	// the weights: 1 for the same order, −1 for the reverse.
	MeanRankCorrelation float64
	MinRankCorrelation  float64
	// MeanTopKOverlap is the mean over pairs of runs of
	// |top-k(a) ∩ top-k(b)| / k, top-k by |weight|, ties by index.
	MeanTopKOverlap float64
	// WeightStd[j] is the standard deviation of feature j's weight across
	// the runs (ddof 1: the sum of squares over runs−1).
	WeightStd []float64
}

// Stability compares the attributions of several runs of an explanation
// (the same request with different seeds): runs[r][j] is run r's weight
// for feature (or group) j, and every run has the same length p; runs of
// different lengths panic. runs is not modified.
//
// For runs a and b, the rank correlation is Spearman's ρ: the Pearson
// correlation of their ranks, ties taking their average rank. A constant
// run has no order: ρ is 1 between two constant runs and 0 between a
// constant run and another; so p = 0 or 1 gives 1. The top-k overlap is
// |T_k(a) ∩ T_k(b)| / k where T_k holds the k features of largest |weight|,
// ties by index, with k = topK (0 or less means DefaultTopK) capped at p;
// it is 1 when p is 0. A stable explanation has correlations and overlap
// near 1 and small WeightStd.
//
// With fewer than two runs there is no pair: the correlations and the
// overlap are NaN, and so is WeightStd (one run has no spread with ddof 1).
func Stability(runs [][]float64, topK int) StabilityReport {
	p := 0
	if len(runs) > 0 {
		p = len(runs[0])
	}
	for _, r := range runs {
		if len(r) != p {
			panic(fmt.Sprintf("explain: Stability: runs of lengths %d and %d", p, len(r)))
		}
	}
	if topK <= 0 {
		topK = DefaultTopK
	}
	k := min(topK, p)
	rep := StabilityReport{Runs: len(runs), TopK: k, WeightStd: make([]float64, p)}
	if len(runs) < 2 {
		rep.MeanRankCorrelation, rep.MinRankCorrelation, rep.MeanTopKOverlap = math.NaN(), math.NaN(), math.NaN()
		for j := range rep.WeightStd {
			rep.WeightStd[j] = math.NaN()
		}
		return rep
	}

	ranks := make([][]float64, len(runs))
	tops := make([][]bool, len(runs))
	for r, w := range runs {
		if !constant(w) {
			ranks[r] = averageRanks(nil, w)
		}
		tops[r] = topSet(w, k)
	}
	rep.MinRankCorrelation = math.Inf(1)
	pairs := 0
	for a := range runs {
		for b := a + 1; b < len(runs); b++ {
			var rho float64
			switch {
			case ranks[a] == nil && ranks[b] == nil:
				rho = 1
			case ranks[a] == nil || ranks[b] == nil:
				rho = 0
			default:
				rho = max(-1, min(1, stat.Correlation(ranks[a], ranks[b], nil)))
			}
			rep.MeanRankCorrelation += rho
			rep.MinRankCorrelation = min(rep.MinRankCorrelation, rho)
			overlap := 1.0
			if k > 0 {
				n := 0
				for j, in := range tops[a] {
					if in && tops[b][j] {
						n++
					}
				}
				overlap = float64(n) / float64(k)
			}
			rep.MeanTopKOverlap += overlap
			pairs++
		}
	}
	rep.MeanRankCorrelation /= float64(pairs)
	rep.MeanTopKOverlap /= float64(pairs)

	col := make([]float64, len(runs))
	for j := range rep.WeightStd {
		for r, w := range runs {
			col[r] = w[j]
		}
		rep.WeightStd[j] = stat.StdDev(col, nil)
	}
	return rep
}

// constant tells whether every value of x is the same (true for len ≤ 1).
func constant(x []float64) bool {
	for _, v := range x {
		if v != x[0] {
			return false
		}
	}
	return true
}

// averageRanks stores in dst (nil allocates) the 1-based ranks of x in
// increasing order, tied values sharing the mean of their ranks.
func averageRanks(dst, x []float64) []float64 {
	if dst == nil {
		dst = make([]float64, len(x))
	}
	idx := make([]int, len(x))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(x[a], x[b]) })
	for i := 0; i < len(idx); {
		j := i + 1
		for j < len(idx) && x[idx[j]] == x[idx[i]] {
			j++
		}
		r := float64(i+j+1) / 2 // mean of ranks i+1 .. j
		for _, t := range idx[i:j] {
			dst[t] = r
		}
		i = j
	}
	return dst
}

// topSet marks the k features of largest |w|, ties by index.
func topSet(w []float64, k int) []bool {
	idx := make([]int, len(w))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(math.Abs(w[b]), math.Abs(w[a])) })
	in := make([]bool, len(w))
	for _, j := range idx[:k] {
		in[j] = true
	}
	return in
}

// LabelWeights returns each result's weights for one label by feature:
// out[r][j] is the Weight of the attribution with Index j in results[r]'s
// LabelResult for label, 0 when results[r] has no such attribution (as
// LIME's unselected features). p is the number of features (or groups);
// 0 means one more than the largest Index of any result's label. A result
// without the label, an Index outside [0, p) or repeated, or a negative p
// is an error.
func LabelWeights(results []*Result, label, p int) ([][]float64, error) {
	if p < 0 {
		return nil, fmt.Errorf("explain: stability: %d features", p)
	}
	labels := make([]*LabelResult, len(results))
	for r, res := range results {
		if res == nil {
			return nil, fmt.Errorf("explain: stability: result %d is nil", r)
		}
		for i := range res.Labels {
			if res.Labels[i].Label == label {
				labels[r] = &res.Labels[i]
				break
			}
		}
		if labels[r] == nil {
			return nil, fmt.Errorf("explain: stability: result %d has no label %d", r, label)
		}
	}
	if p == 0 {
		for _, l := range labels {
			for _, a := range l.Attributions {
				p = max(p, a.Index+1)
			}
		}
	}
	out := make([][]float64, len(results))
	for r, l := range labels {
		w := make([]float64, p)
		seen := make([]bool, p)
		for _, a := range l.Attributions {
			if a.Index < 0 || a.Index >= p {
				return nil, fmt.Errorf("explain: stability: result %d label %d: attribution index %d outside [0, %d)", r, label, a.Index, p)
			}
			if seen[a.Index] {
				return nil, fmt.Errorf("explain: stability: result %d label %d: attribution index %d repeated", r, label, a.Index)
			}
			seen[a.Index] = true
			w[a.Index] = a.Weight
		}
		out[r] = w
	}
	return out, nil
}

// ResultStability compares the results of several runs label by label
// (the labels of results[0], in its order) with [LabelWeights] and
// [Stability]: the mean correlation and the mean overlap are averaged over
// the labels, the minimum correlation is the smallest of any label, and
// WeightStd is the first label's. p is the number of features (or groups);
// 0 means one more than the largest Index of any result's attribution. An
// error means a nil result, a run without one of results[0]'s labels, or
// an attribution index outside [0, p) or repeated.
func ResultStability(results []*Result, p, topK int) (StabilityReport, error) {
	for r, res := range results {
		if res == nil {
			return StabilityReport{}, fmt.Errorf("explain: stability: result %d is nil", r)
		}
		if p == 0 {
			for _, l := range res.Labels {
				for _, a := range l.Attributions {
					p = max(p, a.Index+1)
				}
			}
		}
	}
	if len(results) == 0 || len(results[0].Labels) == 0 {
		return Stability(make([][]float64, len(results)), topK), nil
	}
	var rep StabilityReport
	labels := results[0].Labels
	for i, l := range labels {
		runs, err := LabelWeights(results, l.Label, p)
		if err != nil {
			return StabilityReport{}, err
		}
		s := Stability(runs, topK)
		if i == 0 {
			rep = s
			continue
		}
		rep.MeanRankCorrelation += s.MeanRankCorrelation
		rep.MinRankCorrelation = min(rep.MinRankCorrelation, s.MinRankCorrelation)
		rep.MeanTopKOverlap += s.MeanTopKOverlap
	}
	rep.MeanRankCorrelation /= float64(len(labels))
	rep.MeanTopKOverlap /= float64(len(labels))
	return rep, nil
}
