package explain

import (
	"context"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestSummarize checks the mean |attribution| and its standard error
// against a hand computation, with a feature one explanation leaves out.
func TestSummarize(t *testing.T) {
	res := func(ws map[int]float64) *Result {
		lr := LabelResult{Label: 1}
		for i := range 3 {
			if w, ok := ws[i]; ok {
				lr.Attributions = append(lr.Attributions, Attribution{Index: i, Description: "bin of f" + string(rune('0'+i)), Weight: w})
			}
		}
		return &Result{Labels: []LabelResult{{Label: 0}, lr}}
	}
	results := []*Result{
		res(map[int]float64{0: 1, 1: -2}),
		res(map[int]float64{0: -3, 1: 2, 2: 0.5}),
		res(map[int]float64{0: 2, 1: -2}),
	}
	got, err := Summarize(results, 1, KeyIndex, []string{"a", "b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	// Feature 0: |w| = 1, 3, 2: mean 2, s² = (1+1+0)/2 = 1, SE 1/√3;
	// mean w = 0.
	// Feature 1: |w| = 2, 2, 2: mean 2, SE 0; mean w = −2/3.
	// Feature 2: |w| = 0, 0.5, 0: mean 1/6, s² = ((1/6)²·2 + (1/3)²)/2 =
	// 1/12, SE √(1/12)/√3 = 1/6.
	want := []FeatureSummary{
		{Index: 0, Name: "a", MeanAbs: 2, StdErr: 1 / math.Sqrt(3), Mean: 0, Count: 3},
		{Index: 1, Name: "b", MeanAbs: 2, StdErr: 0, Mean: -2.0 / 3, Count: 3},
		{Index: 2, Name: "c", MeanAbs: 1.0 / 6, StdErr: 1.0 / 6, Mean: 0.5 / 3, Count: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d features, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Index != w.Index || g.Name != w.Name || g.Count != w.Count ||
			math.Abs(g.MeanAbs-w.MeanAbs) > 1e-15 || math.Abs(g.StdErr-w.StdErr) > 1e-15 || math.Abs(g.Mean-w.Mean) > 1e-15 {
			t.Errorf("feature %d = %+v, want %+v", i, g, w)
		}
	}

	// By description, without names: the words of different texts.
	got, err = Summarize(results, 1, KeyDescription, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Name != "bin of f0" {
		t.Errorf("by description: %+v", got)
	}
	if _, err := Summarize(results, 2, KeyIndex, nil); err == nil {
		t.Error("a label no result explains: no error")
	}
}

// TestSubmodularPick: a hand-checked case, the same as lime's loop gives
// (lime/submodular_pick.py, run on W below: [2, 3, 1], importance
// [2, 2, 1], coverage 5).
func TestSubmodularPick(t *testing.T) {
	w := [][]float64{
		{1, 0, 0},
		{0, 3, 0},
		{0, 1, 1},
		{3, 0, 0},
	}
	// I = √(Σ|W|) = [√4, √4, √1] = [2, 2, 1].
	// Step 1: c({0}) = 2, c({1}) = 2, c({2}) = 3, c({3}) = 2: pick 2.
	// Step 2: {b, c} covered: c(+0) = 5, c(+1) = 3, c(+3) = 5; the tie
	// goes to the later explanation, 3.
	// Step 3: everything covered: 0 and 1 tie at 5; 1 wins.
	picked, imp, cov := SubmodularPick(w, 3)
	if !slices.Equal(picked, []int{2, 3, 1}) || !slices.Equal(imp, []float64{2, 2, 1}) || cov != 5 {
		t.Errorf("pick = %v, importance %v, coverage %g; want [2 3 1], [2 2 1], 5", picked, imp, cov)
	}
	if picked, _, _ := SubmodularPick(w, 10); len(picked) != 4 {
		t.Errorf("b over the explanations: picked %v, want all 4", picked)
	}
	if picked, _, _ := SubmodularPick(nil, 3); picked != nil {
		t.Errorf("no explanations: picked %v", picked)
	}
}

// TestExplanationMatrix keys features by description, as lime's as_list.
func TestExplanationMatrix(t *testing.T) {
	r := func(attrs ...Attribution) *Result {
		return &Result{Labels: []LabelResult{{Label: 0, Attributions: attrs}}}
	}
	w, features, err := ExplanationMatrix([]*Result{
		r(Attribution{Index: 3, Description: "x3 > 1", Weight: 2}, Attribution{Index: 0, Description: "x0 <= 0", Weight: -1}),
		r(Attribution{Index: 3, Description: "x3 <= 1", Weight: 0.5}),
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"x3 > 1", "x0 <= 0", "x3 <= 1"}; !slices.Equal(features, want) {
		t.Errorf("features %v, want %v", features, want)
	}
	if want := [][]float64{{2, -1, 0}, {0, 0, 0.5}}; !reflect.DeepEqual(w, want) {
		t.Errorf("W = %v, want %v", w, want)
	}
}

// TestKernelSHAPBackgroundScores: the background's scores given once give
// the same result, bit for bit, and the model is not sent the background.
func TestKernelSHAPBackgroundScores(t *testing.T) {
	f := func(x []float64) []float64 {
		z := 0.3*x[0] - 0.7*x[1]*x[2] + 0.2*x[3]
		p := 1 / (1 + math.Exp(-z))
		return []float64{1 - p, p}
	}
	bg := shapTestBackground(5, 12, 4)
	req := KernelSHAPRequest{Instance: []float64{1, -1, 0.5, 2}, Background: bg, Sampling: Sampling{NumSamples: 10, Seed: 7}}
	plain := &shapMultiModel{f: f}
	want, err := KernelSHAP(context.Background(), plain, req)
	if err != nil {
		t.Fatal(err)
	}
	shared := &shapMultiModel{f: f}
	req.BackgroundScores, _ = shared.Predict(context.Background(), bg)
	shared.seen = nil
	got, err := KernelSHAP(context.Background(), shared, req)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("with background scores:\n%+v\nwant\n%+v", got, want)
	}
	if sent, all := len(shared.seen), len(plain.seen); sent != all-len(bg) {
		t.Errorf("sent %d rows, want %d (all %d less the background)", sent, all-len(bg), all)
	}

	// Groups that leave a feature out: the background's rows take the
	// instance's value of it, and cannot be shared.
	req.Groups = [][]int{{0, 1}, {2}}
	if req.SharesBackground() {
		t.Error("groups leaving feature 3 out share the background")
	}
	if _, err := KernelSHAP(context.Background(), shared, req); err == nil || !strings.Contains(err.Error(), "background_scores") {
		t.Errorf("background scores with uncovered features: err = %v", err)
	}
	req.Groups = [][]int{{0, 1}, {2, 3}}
	if !req.SharesBackground() {
		t.Error("groups covering every feature do not share the background")
	}
	req.BackgroundScores = req.BackgroundScores[1:]
	if _, err := KernelSHAP(context.Background(), shared, req); err == nil || !strings.Contains(err.Error(), "background_scores") {
		t.Errorf("too few background scores: err = %v", err)
	}
}
