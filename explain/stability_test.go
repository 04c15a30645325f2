package explain

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestStability(t *testing.T) {
	s3, s13 := math.Sqrt(3), math.Sqrt(1.0/3)
	tests := []struct {
		name               string
		runs               [][]float64
		topK               int
		mean, minimum, top float64
		k                  int
		std                []float64 // nil: not checked
	}{
		{name: "identical", runs: [][]float64{{0.3, -0.1, 0.7, 0}, {0.3, -0.1, 0.7, 0}, {0.3, -0.1, 0.7, 0}}, topK: 2,
			mean: 1, minimum: 1, top: 1, k: 2, std: []float64{0, 0, 0, 0}},
		{name: "reversed", runs: [][]float64{{1, 2, 3, 4, 5}, {5, 4, 3, 2, 1}}, topK: 1,
			mean: -1, minimum: -1, top: 0, k: 1},
		// Ranks 1234, 1324, 4321: ρ = 1 − 6Σd²/60 = 0.8, −1, −0.8. Top 2
		// by |w|: {3,2}, {3,1}, {0,1}: overlaps ½, 0, ½. Feature 0 takes
		// 1, 1, 4: variance 6/2.
		{name: "three runs", runs: [][]float64{{1, 2, 3, 4}, {1, 3, 2, 4}, {4, 3, 2, 1}}, topK: 2,
			mean: -1.0 / 3, minimum: -1, top: 1.0 / 3, k: 2, std: []float64{s3, s13, s13, s3}},
		// Average ranks (1.5, 1.5, 3) and (1, 2.5, 2.5): ρ = 0.75/1.5.
		// Top 2 by |w|, ties by index: {2, 0} and {1, 2}.
		{name: "ties", runs: [][]float64{{1, 1, 2}, {1, 2, 2}}, topK: 2,
			mean: 0.5, minimum: 0.5, top: 0.5, k: 2},
		// |w| ties broken by index: both tops are {0, 1}.
		{name: "top-k ties by index", runs: [][]float64{{0.5, -0.5, 0.5}, {-0.5, 0.5, 0.5}}, topK: 2,
			mean: -0.5, minimum: -0.5, top: 1, k: 2},
		{name: "k above p", runs: [][]float64{{1, 2, 3}, {3, 1, 2}}, topK: 10,
			mean: -0.5, minimum: -0.5, top: 1, k: 3},
		{name: "default k", runs: [][]float64{{1, 2, 3, 4, 5, 6, 7}, {1, 2, 3, 4, 5, 6, 7}}, topK: 0,
			mean: 1, minimum: 1, top: 1, k: DefaultTopK},
		{name: "both constant", runs: [][]float64{{0, 0, 0}, {2, 2, 2}}, topK: 1,
			mean: 1, minimum: 1, top: 1, k: 1, std: []float64{math.Sqrt2, math.Sqrt2, math.Sqrt2}},
		{name: "one constant", runs: [][]float64{{0, 0, 0}, {1, 2, 3}, {1, 2, 3}}, topK: 1,
			mean: 1.0 / 3, minimum: 0, top: 1.0 / 3, k: 1},
		{name: "one feature", runs: [][]float64{{1}, {-2}}, topK: 3,
			mean: 1, minimum: 1, top: 1, k: 1},
		{name: "no features", runs: [][]float64{{}, {}}, topK: 3,
			mean: 1, minimum: 1, top: 1, k: 0, std: []float64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := make([][]float64, len(tt.runs))
			for r := range in {
				in[r] = slices.Clone(tt.runs[r])
			}
			rep := Stability(tt.runs, tt.topK)
			const eps = 1e-12
			if math.Abs(rep.MeanRankCorrelation-tt.mean) > eps || math.Abs(rep.MinRankCorrelation-tt.minimum) > eps ||
				math.Abs(rep.MeanTopKOverlap-tt.top) > eps || rep.TopK != tt.k || rep.Runs != len(tt.runs) {
				t.Errorf("got %+v, want mean %v, min %v, overlap %v, k %d", rep, tt.mean, tt.minimum, tt.top, tt.k)
			}
			if tt.std != nil {
				assertClose(t, "std", rep.WeightStd, tt.std, eps)
			}
			if !reflect.DeepEqual(in, tt.runs) {
				t.Errorf("runs modified")
			}
		})
	}
}

func TestStabilityFewRuns(t *testing.T) {
	for _, runs := range [][][]float64{nil, {{1, 2}}} {
		rep := Stability(runs, 2)
		if !math.IsNaN(rep.MeanRankCorrelation) || !math.IsNaN(rep.MinRankCorrelation) || !math.IsNaN(rep.MeanTopKOverlap) {
			t.Errorf("%d runs: %+v, want NaN", len(runs), rep)
		}
		for _, s := range rep.WeightStd {
			if !math.IsNaN(s) {
				t.Errorf("%d runs: std %v, want NaN", len(runs), rep.WeightStd)
			}
		}
	}
}

func TestStabilityRaggedPanics(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "lengths") {
			t.Errorf("recovered %v", r)
		}
	}()
	Stability([][]float64{{1, 2}, {1}}, 1)
}

func TestLabelWeights(t *testing.T) {
	results := []*Result{
		{Labels: []LabelResult{
			{Label: 1, Attributions: []Attribution{{Index: 2, Weight: 0.5}, {Index: 0, Weight: -0.25}}},
			{Label: 4, Attributions: []Attribution{{Index: 1, Weight: 1}}},
		}},
		{Labels: []LabelResult{
			{Label: 4, Attributions: []Attribution{{Index: 3, Weight: 2}}},
			{Label: 1, Attributions: []Attribution{{Index: 0, Weight: 0.125}}},
		}},
	}
	got, err := LabelWeights(results, 1, 4)
	if err != nil {
		t.Fatal(err)
	}
	if want := [][]float64{{-0.25, 0, 0.5, 0}, {0.125, 0, 0, 0}}; !reflect.DeepEqual(got, want) {
		t.Errorf("label 1: %v, want %v", got, want)
	}
	got, err = LabelWeights(results, 4, 0) // p inferred: 4
	if err != nil {
		t.Fatal(err)
	}
	if want := [][]float64{{0, 1, 0, 0}, {0, 0, 0, 2}}; !reflect.DeepEqual(got, want) {
		t.Errorf("label 4: %v, want %v", got, want)
	}

	for name, call := range map[string]func() error{
		"missing label": func() error { _, err := LabelWeights(results, 2, 4); return err },
		"index above p": func() error { _, err := LabelWeights(results, 1, 2); return err },
		"nil result":    func() error { _, err := LabelWeights([]*Result{nil}, 1, 2); return err },
		"negative p":    func() error { _, err := LabelWeights(results, 1, -1); return err },
		"repeated index": func() error {
			_, err := LabelWeights([]*Result{{Labels: []LabelResult{{Attributions: []Attribution{{Index: 0}, {Index: 0}}}}}}, 0, 1)
			return err
		},
		"result stability missing label": func() error {
			_, err := ResultStability([]*Result{results[0], {Labels: results[0].Labels[1:]}}, 4, 1)
			return err
		},
	} {
		if err := call(); err == nil || !strings.HasPrefix(err.Error(), "explain: stability: ") {
			t.Errorf("%s: error %v", name, err)
		}
	}
}

func TestResultStability(t *testing.T) {
	// Label 0 agrees perfectly; label 1 is reversed in the second run.
	res := func(w0, w1 []float64) *Result {
		r := &Result{Labels: []LabelResult{{Label: 0}, {Label: 1}}}
		for j := range w0 {
			r.Labels[0].Attributions = append(r.Labels[0].Attributions, Attribution{Index: j, Weight: w0[j]})
			r.Labels[1].Attributions = append(r.Labels[1].Attributions, Attribution{Index: j, Weight: w1[j]})
		}
		return r
	}
	results := []*Result{
		res([]float64{3, 2, 1}, []float64{1, 2, 3}),
		res([]float64{3, 2, 1}, []float64{3, 2, 1}),
	}
	rep, err := ResultStability(results, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	// ρ: 1 and −1; overlaps (k = 1): 1 and 0; std of label 0: zeros.
	if rep.Runs != 2 || rep.TopK != 1 || rep.MeanRankCorrelation != 0 || rep.MinRankCorrelation != -1 || rep.MeanTopKOverlap != 0.5 {
		t.Errorf("got %+v", rep)
	}
	if !reflect.DeepEqual(rep.WeightStd, []float64{0, 0, 0}) {
		t.Errorf("std %v, want the first label's", rep.WeightStd)
	}
}

// Three seeds of an explanation of four features: the first two agree,
// the third swaps the two smallest weights.
func ExampleStability() {
	rep := Stability([][]float64{
		{0.9, -0.5, 0.1, 0.05},
		{0.8, -0.6, 0.1, 0.04},
		{0.85, -0.55, 0.02, 0.06},
	}, 2)
	fmt.Printf("rank correlation: mean %.3f, min %.1f\n", rep.MeanRankCorrelation, rep.MinRankCorrelation)
	fmt.Printf("top-%d overlap %.1f\n", rep.TopK, rep.MeanTopKOverlap)
	fmt.Printf("weight std %.3f\n", rep.WeightStd)
	// Output:
	// rank correlation: mean 0.867, min 0.8
	// top-2 overlap 1.0
	// weight std [0.050 0.050 0.046 0.010]
}
