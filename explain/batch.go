package explain

import (
	"fmt"
	"math"
	"slices"
)

// Global summaries of a batch: many instances explained for one label.

// SummaryKey says which attributions of different instances are the same
// feature.
type SummaryKey int

const (
	// KeyIndex: attributions with the same Index (a tabular feature or
	// group, an image segment of a shared segmentation).
	KeyIndex SummaryKey = iota
	// KeyDescription: attributions with the same Description (a word of
	// different texts).
	KeyDescription
)

// FeatureSummary is one feature's attributions for one label over a batch
// of n explanations. An explanation that leaves the feature out (LIME's
// feature selection) counts as a weight of 0.
type FeatureSummary struct {
	// Index is the feature's index (KeyIndex); with KeyDescription, the
	// index it has in the first explanation that has it.
	Index int
	// Name is the feature's name: names[Index] when given, else the
	// description it has in the first explanation that has it.
	Name string
	// MeanAbs is (1/n) Σ_i |w_i|, the global importance.
	MeanAbs float64
	// StdErr is MeanAbs's standard error, s/√n with s the sample standard
	// deviation (ddof 1) of |w_i| over the n explanations; 0 when n < 2.
	StdErr float64
	// Mean is (1/n) Σ_i w_i: the direction, when the signs agree.
	Mean float64
	// Count is the number of explanations that have the feature.
	Count int
}

// Summarize returns, for label, one FeatureSummary per feature present in
// any result's explanation of label, by decreasing MeanAbs (then by first
// appearance). names, optional, name the features by index. Every result
// must explain label; results and names are not modified.
func Summarize(results []*Result, label int, key SummaryKey, names []string) ([]FeatureSummary, error) {
	n := len(results)
	if n == 0 {
		return nil, nil
	}
	type acc struct {
		FeatureSummary
		abs []float64 // |w_i| of the explanations that have it
	}
	var feats []*acc
	byKey := map[any]*acc{}
	for i, res := range results {
		lr := res.label(label)
		if lr == nil {
			return nil, fmt.Errorf("explain: summarize: result %d does not explain label %d", i, label)
		}
		for _, a := range lr.Attributions {
			var k any = a.Index
			if key == KeyDescription {
				k = a.Description
			}
			f := byKey[k]
			if f == nil {
				name := a.Description
				if a.Index < len(names) && key == KeyIndex {
					name = names[a.Index]
				}
				f = &acc{FeatureSummary: FeatureSummary{Index: a.Index, Name: name}}
				byKey[k] = f
				feats = append(feats, f)
			}
			f.abs = append(f.abs, math.Abs(a.Weight))
			f.Mean += a.Weight
			f.Count++
		}
	}
	out := make([]FeatureSummary, len(feats))
	for j, f := range feats {
		s := 0.0
		for _, v := range f.abs {
			s += v
		}
		mean := s / float64(n)
		if n > 1 {
			// The explanations without the feature contribute (0 − mean)².
			ss := float64(n-len(f.abs)) * mean * mean
			for _, v := range f.abs {
				ss += (v - mean) * (v - mean)
			}
			f.StdErr = math.Sqrt(ss/float64(n-1)) / math.Sqrt(float64(n))
		}
		f.MeanAbs, f.Mean = mean, f.Mean/float64(n)
		out[j] = f.FeatureSummary
	}
	slices.SortStableFunc(out, func(a, b FeatureSummary) int {
		switch {
		case a.MeanAbs > b.MeanAbs:
			return -1
		case a.MeanAbs < b.MeanAbs:
			return 1
		}
		return 0
	})
	return out, nil
}

// label returns the explanation of label, nil when res has none.
func (res *Result) label(label int) *LabelResult {
	for i := range res.Labels {
		if res.Labels[i].Label == label {
			return &res.Labels[i]
		}
	}
	return nil
}

// ExplanationMatrix returns lime's explanation matrix W of the results for
// label (lime/submodular_pick.py): one column per feature, features told
// apart by their description as lime's Explanation.as_list names them
// ("x3 > 0.50" and "x3 <= 0.50" are two), in order of first appearance,
// and W[i][j] the weight of feature j in result i's explanation (0 when it
// leaves the feature out). Unlike lime, which adds up every explained
// label's weights, W holds one label's. Every result must explain label.
func ExplanationMatrix(results []*Result, label int) (w [][]float64, features []string, err error) {
	col := map[string]int{}
	for i, res := range results {
		lr := res.label(label)
		if lr == nil {
			return nil, nil, fmt.Errorf("explain: explanation matrix: result %d does not explain label %d", i, label)
		}
		for _, a := range lr.Attributions {
			if _, ok := col[a.Description]; !ok {
				col[a.Description] = len(features)
				features = append(features, a.Description)
			}
		}
	}
	w = make([][]float64, len(results))
	for i, res := range results {
		w[i] = make([]float64, len(features))
		for _, a := range res.label(label).Attributions {
			w[i][col[a.Description]] += a.Weight
		}
	}
	return w, features, nil
}

// SubmodularPick chooses b of the explanations (rows of the explanation
// matrix w) that together cover the important features: lime's
// SubmodularPick with method "full" (Ribeiro et al. 2016, algorithm 2).
// Feature j's global importance is
//
//	I_j = √(Σ_i |W_ij|),
//
// the coverage of a set V of explanations is
//
//	c(V) = Σ_j 1[∃ i ∈ V: W_ij ≠ 0] · I_j,
//
// and the pick is greedy: b times, add the explanation i not yet picked
// that maximises c(V ∪ {i}); on a tie the later explanation wins, as in
// lime, whose loop over the remaining indices keeps the last maximum
// (current >= best). b is capped at len(w). It returns the picked indices
// in pick order, the importances and the coverage of the pick; w is not
// modified.
func SubmodularPick(w [][]float64, b int) (picked []int, importance []float64, coverage float64) {
	n := len(w)
	if n == 0 || b <= 0 {
		return nil, nil, 0
	}
	d := len(w[0])
	importance = make([]float64, d)
	for _, row := range w {
		for j, v := range row {
			importance[j] += math.Abs(v)
		}
	}
	for j := range importance {
		importance[j] = math.Sqrt(importance[j])
	}
	covered := make([]bool, d)
	taken := make([]bool, n)
	for range min(b, n) {
		best, bestI := 0.0, -1
		for i, row := range w {
			if taken[i] {
				continue
			}
			c := 0.0
			for j, v := range row {
				if covered[j] || v != 0 {
					c += importance[j]
				}
			}
			if c >= best {
				best, bestI = c, i
			}
		}
		taken[bestI] = true
		picked = append(picked, bestI)
		coverage = best
		for j, v := range w[bestI] {
			covered[j] = covered[j] || v != 0
		}
	}
	return picked, importance, coverage
}
