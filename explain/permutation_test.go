package explain

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rowModel scores each row with f. It can record a copy of every call's
// rows, and sleep a random moment per call so that concurrent evaluations
// finish out of order.
type rowModel struct {
	f      func(row []float64) []float64
	record bool
	jitter bool
	calls  atomic.Int64
	mu     sync.Mutex
	seen   [][][]float64
}

func (m *rowModel) Predict(ctx context.Context, rows [][]float64) ([][]float64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.calls.Add(1)
	if m.jitter {
		time.Sleep(time.Duration(rand.IntN(400)) * time.Microsecond)
	}
	out := make([][]float64, len(rows))
	for i, r := range rows {
		out[i] = m.f(r)
	}
	if m.record {
		m.mu.Lock()
		m.seen = append(m.seen, permCopyRows(rows))
		m.mu.Unlock()
	}
	return out, nil
}

// logit2 returns two-class probabilities [1 − σ(z), σ(z)] of
// z = b + Σ w_j x_j, summed left to right, each product rounded (no fused
// multiply-add), as numpy evaluates x0*w0 + x1*w1 + ... + b.
func logit2(w []float64, b float64) func([]float64) []float64 {
	return func(x []float64) []float64 {
		z := float64(x[0] * w[0])
		for j := 1; j < len(w); j++ {
			z += float64(x[j] * w[j])
		}
		z += b
		p := 1 / (1 + math.Exp(-z))
		return []float64{1 - p, p}
	}
}

// linear1 returns the one-output regression b + Σ w_j x_j.
func linear1(w []float64, b float64) func([]float64) []float64 {
	return func(x []float64) []float64 {
		s := b
		for j, v := range w {
			s += float64(v * x[j])
		}
		return []float64{s}
	}
}

// permFixture is testdata/metrics_permutation_importance.json.
type permFixture struct {
	Model struct {
		W []float64 `json:"w"`
		B float64   `json:"b"`
	} `json:"model"`
	Repeats int `json:"n_repeats"`
	Inputs  struct {
		X [][]float64 `json:"X"`
		Y []float64   `json:"y"`
		W []float64   `json:"sample_weight"`
	} `json:"inputs"`
	Sets map[string]struct {
		Perm    [][][]int `json:"perm"`
		Results map[string]struct {
			Baseline float64     `json:"baseline_score"`
			Permuted [][]float64 `json:"permuted_scores"`
			Imp      [][]float64 `json:"importances"`
			Mean     []float64   `json:"importances_mean"`
			Std      []float64   `json:"importances_std"`
		} `json:"results"`
	} `json:"permutation_sets"`
}

// TestPermutationFixture feeds scikit-learn's permutations (both sets) to
// Permutation, for both scorers, unweighted and weighted, and checks every
// number scikit-learn 1.2.1 reported to relative 1e-9 (abs 1e-12): Go's
// and numpy's exp may differ in the last bit and the sums run in another
// order; accuracies are exact multiples, and feature 2 (weight 0) exactly 0.
func TestPermutationFixture(t *testing.T) {
	var fx permFixture
	loadMetricsFixture(t, "testdata/metrics_permutation_importance.json", &fx)
	model := &rowModel{f: logit2(fx.Model.W, fx.Model.B)}
	tol := &tolerance{rel: 1e-9, abs: 1e-12}
	cases := 0
	for _, set := range []string{"sklearn_random_state_0", "independent"} {
		s, ok := fx.Sets[set]
		if !ok {
			t.Fatalf("no permutation set %s", set)
		}
		for _, scoring := range []Scoring{ScoreAccuracy, ScoreNegLogLoss} {
			for _, weighted := range []bool{false, true} {
				key := scoring.String() + "_unweighted"
				var weights []float64
				if weighted {
					key, weights = scoring.String()+"_weighted", fx.Inputs.W
				}
				want, ok := s.Results[key]
				if !ok {
					t.Fatalf("%s: no results %s", set, key)
				}
				cases++
				name := set + "/" + key
				res, err := Permutation(context.Background(), model, PermutationRequest{
					Data: fx.Inputs.X, Target: fx.Inputs.Y, Weights: weights,
					Scoring: scoring, Repeats: fx.Repeats, Permutations: s.Perm,
				})
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				tol.check(t, name+" baseline", res.BaselineScore, want.Baseline)
				attrs := res.Labels[0].Attributions
				for j, a := range attrs {
					for r, v := range a.Values {
						tol.check(t, fmt.Sprintf("%s importance[%d][%d]", name, j, r), v, want.Imp[j][r])
						// The permuted score itself: the permuted copy built
						// here, scored by Score.
						x := permCopyRows(fx.Inputs.X)
						for i, k := range s.Perm[j][r] {
							x[i][j] = fx.Inputs.X[k][j]
						}
						out, _ := model.Predict(context.Background(), x)
						got, err := Score(scoring, out, fx.Inputs.Y, weights, 0)
						if err != nil {
							t.Fatal(err)
						}
						tol.check(t, fmt.Sprintf("%s permuted_scores[%d][%d]", name, j, r), got, want.Permuted[j][r])
						if v != res.BaselineScore-got {
							t.Errorf("%s: importance[%d][%d] = %v is not baseline − permuted score = %v", name, j, r, v, res.BaselineScore-got)
						}
					}
					tol.check(t, fmt.Sprintf("%s mean[%d]", name, j), a.Weight, want.Mean[j])
					tol.check(t, fmt.Sprintf("%s std[%d]", name, j), a.Std, want.Std[j])
				}
				if a := attrs[2]; a.Weight != 0 || a.Std != 0 || slices.ContainsFunc(a.Values, func(v float64) bool { return v != 0 }) {
					t.Errorf("%s: feature 2 (weight 0) has importance %v ± %v, values %v; want exactly 0", name, a.Weight, a.Std, a.Values)
				}
			}
		}
	}
	if cases != 8 {
		t.Errorf("checked %d cases, want 8", cases)
	}
	t.Logf("%d values checked: worst relative error %.3g", tol.checked, tol.worstRel)
}

// TestPermutationIgnoredFeature: permuting a feature the model never reads
// leaves every output, hence the score, exactly as it was, for any seed
// and any scoring.
func TestPermutationIgnoredFeature(t *testing.T) {
	data, target := permProblem(1, 60, 4)
	w := []float64{1.2, 0, -0.8, 0} // features 1 and 3 are ignored
	// Regression targets: the logistic score plus noise.
	regTarget := make([]float64, len(data))
	for i, x := range data {
		regTarget[i] = linear1(w, 0.1)(x)[0] + math.Sin(float64(i))
	}
	for _, scoring := range []Scoring{ScoreAccuracy, ScoreBalancedAccuracy, ScoreNegLogLoss, ScoreROCAUC, ScoreNegMSE, ScoreR2} {
		f, y := logit2(w, 0.1), target
		if !scoring.classification() {
			f, y = linear1(w, 0.1), regTarget
		}
		for seed := range uint64(5) {
			res, err := Permutation(context.Background(), &rowModel{f: f}, PermutationRequest{
				Data: data, Target: y, Scoring: scoring, Repeats: 3, Seed: seed,
				Groups: [][]int{{0}, {1}, {2}, {3}, {1, 3}},
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range []int{1, 3, 4} {
				a := res.Labels[0].Attributions[g]
				if a.Weight != 0 || a.Std != 0 || slices.ContainsFunc(a.Values, func(v float64) bool { return v != 0 }) {
					t.Errorf("%v seed %d: group %d (ignored) has values %v", scoring, seed, g, a.Values)
				}
			}
			if res.Labels[0].Attributions[0].Weight <= 0 {
				t.Errorf("%v seed %d: feature 0 (weight 1.2) has importance %v, want > 0", scoring, seed, res.Labels[0].Attributions[0].Weight)
			}
		}
	}
}

// permProblem returns n rows of p standard normal features and binary
// targets drawn from a logistic model on features 0 and 2.
func permProblem(seed uint64, n, p int) (data [][]float64, target []float64) {
	rng := rand.New(rand.NewPCG(seed, 99))
	for range n {
		row := make([]float64, p)
		for j := range row {
			row[j] = rng.NormFloat64()
		}
		data = append(data, row)
		y := 0.0
		if rng.Float64() < 1/(1+math.Exp(-(1.2*row[0]-0.8*row[2]))) {
			y = 1
		}
		target = append(target, y)
	}
	target[0], target[1] = 0, 1 // both classes, for roc_auc
	return data, target
}

// TestPermutationByHand checks tiny problems worked out on paper, with the
// permutations given.
func TestPermutationByHand(t *testing.T) {
	// Regression f(x) = x0 on x0 = 0, 1, 2, 3 with targets x0: the
	// baseline error is 0. Permutation (1,0,3,2) moves every row by 1,
	// (3,2,1,0) by 3, 1, 1, 3.
	reg := [][]float64{{0, 5}, {1, 5}, {2, 5}, {3, 5}}
	perms := [][][]int{{{1, 0, 3, 2}, {3, 2, 1, 0}}, {{1, 0, 3, 2}, {3, 2, 1, 0}}}
	// Classification: class 1 iff x0 > 0 on x0 = −1, −1, 1, 1 with targets
	// 0, 0, 1, 1. (2,3,0,1) makes every row wrong, (1,0,3,2) none.
	cls := [][]float64{{-1, 0}, {-1, 0}, {1, 0}, {1, 0}}
	step := func(x []float64) []float64 {
		if x[0] > 0 {
			return []float64{0, 1}
		}
		return []float64{1, 0}
	}
	for _, c := range []struct {
		name     string
		data     [][]float64
		target   []float64
		f        func([]float64) []float64
		scoring  Scoring
		perms    [][][]int
		baseline float64
		values   []float64 // feature 0's
	}{
		// MSE 1 and (9+1+1+9)/4 = 5.
		{"neg_mse", reg, []float64{0, 1, 2, 3}, linear1([]float64{1, 0}, 0), ScoreNegMSE, perms, 0, []float64{1, 5}},
		// Σ(y − ȳ)² = 5: R² = 1 − 4/5 and 1 − 20/5.
		{"r2", reg, []float64{0, 1, 2, 3}, linear1([]float64{1, 0}, 0), ScoreR2, perms, 1, []float64{1 - 0.2, 1 - -3.0}},
		{"accuracy", cls, []float64{0, 0, 1, 1}, step, ScoreAccuracy, [][][]int{{{2, 3, 0, 1}, {1, 0, 3, 2}}, {{0, 1, 2, 3}, {1, 0, 3, 2}}}, 1, []float64{1, 0}},
	} {
		res, err := Permutation(context.Background(), &rowModel{f: c.f}, PermutationRequest{
			Data: c.data, Target: c.target, Scoring: c.scoring, Permutations: c.perms,
		})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		a := res.Labels[0].Attributions[0]
		mean := (c.values[0] + c.values[1]) / 2
		std := math.Abs(c.values[0]-c.values[1]) / 2
		if res.BaselineScore != c.baseline || !slices.Equal(a.Values, c.values) || !near(a.Weight, mean, 1e-15, 0) || !near(a.Std, std, 1e-15, 0) {
			t.Errorf("%s: baseline %v, values %v, mean %v, std %v; want %v, %v, %v, %v",
				c.name, res.BaselineScore, a.Values, a.Weight, a.Std, c.baseline, c.values, mean, std)
		}
		if b := res.Labels[0].Attributions[1]; b.Weight != 0 {
			t.Errorf("%s: feature 1 (ignored) has importance %v", c.name, b.Weight)
		}
		if res.Method != "permutation" || res.Scoring != c.scoring.String() || res.NumSamples != 4+2*2*4 {
			t.Errorf("%s: method %q, scoring %q, samples %d", c.name, res.Method, res.Scoring, res.NumSamples)
		}
	}
}

// TestPermutationRegressionClosedForm: for a linear model scored against
// its own outputs, permuting feature j gives squared errors
// w_j²(x_ij − x_π(i)j)², so the importance under neg MSE is
// w_j² Σ_i v_i (x_ij − x_π(i)j)² / Σ v_i and under R² that sum over
// Σ v_i (y_i − ȳ)². The two sides sum the same terms in another order:
// relative 1e-12.
func TestPermutationRegressionClosedForm(t *testing.T) {
	const n, p, repeats = 80, 3, 4
	rng := rand.New(rand.NewPCG(7, 7))
	data, _ := permProblem(3, n, p)
	w := []float64{2, -0.5, 0.25}
	f := linear1(w, 1)
	target := make([]float64, n)
	weights := make([]float64, n)
	for i, row := range data {
		target[i] = f(row)[0]
		weights[i] = 0.5 + rng.Float64()
	}
	perms := make([][][]int, p)
	for j := range perms {
		for range repeats {
			perms[j] = append(perms[j], rng.Perm(n))
		}
	}
	var wsum, mean, tss float64
	for i, y := range target {
		wsum += weights[i]
		mean += weights[i] * y
	}
	mean /= wsum
	for i, y := range target {
		tss += weights[i] * (y - mean) * (y - mean)
	}
	for _, scoring := range []Scoring{ScoreNegMSE, ScoreR2} {
		res, err := Permutation(context.Background(), &rowModel{f: f}, PermutationRequest{
			Data: data, Target: target, Weights: weights, Scoring: scoring, Permutations: perms,
		})
		if err != nil {
			t.Fatal(err)
		}
		for j, a := range res.Labels[0].Attributions {
			for r, v := range a.Values {
				var sse float64
				for i, k := range perms[j][r] {
					d := w[j] * (data[i][j] - data[k][j])
					sse += weights[i] * d * d
				}
				want := sse / wsum
				if scoring == ScoreR2 {
					want = sse / tss
				}
				if !near(v, want, 1e-12, 1e-15) {
					t.Errorf("%v: feature %d repeat %d: importance %.17g, closed form %.17g", scoring, j, r, v, want)
				}
			}
		}
	}
}

// distinctData returns n rows whose value in column j is i + j/100: the
// row a value came from is its integer part.
func distinctData(n, p int) [][]float64 {
	data := make([][]float64, n)
	for i := range data {
		data[i] = make([]float64, p)
		for j := range data[i] {
			data[i][j] = float64(i) + float64(j)/100
		}
	}
	return data
}

// sources returns, for each row of a recorded call, the data row each
// column's value came from.
func sources(rows [][]float64) [][]int {
	src := make([][]int, len(rows))
	for i, r := range rows {
		for _, v := range r {
			src[i] = append(src[i], int(math.Floor(v)))
		}
	}
	return src
}

// TestPermutationGroups: permuting a group moves all its columns with the
// same row order and leaves the other columns alone; every group is
// permuted once per repeat, each time with a new order.
func TestPermutationGroups(t *testing.T) {
	const n, p, repeats = 50, 5, 3
	data := distinctData(n, p)
	groups := [][]int{{0, 2}, {1}, {4, 0, 3}}
	m := &rowModel{f: func([]float64) []float64 { return []float64{0.5, 0.5} }, record: true}
	res, err := Permutation(context.Background(), m, PermutationRequest{
		Data: data, Target: make([]float64, n), Groups: groups, Repeats: repeats, Seed: 3,
		FeatureNames: []string{"a", "b", "c", "d", "e"},
	})
	if err != nil {
		t.Fatal(err)
	}
	orders := map[string][][]int{} // group (as its permuted columns) → row orders seen
	for _, call := range m.seen {
		src := sources(call)
		var cols []int
		for j := range p {
			for i := range n {
				if src[i][j] != i {
					cols = append(cols, j)
					break
				}
			}
		}
		order := make([]int, n)
		for i := range n {
			order[i] = i
			if len(cols) > 0 {
				order[i] = src[i][cols[0]]
			}
			for _, j := range cols {
				if src[i][j] != order[i] {
					t.Fatalf("row %d: columns %v come from different rows %v", i, cols, src[i])
				}
			}
		}
		key := fmt.Sprint(cols)
		orders[key] = append(orders[key], order)
	}
	if len(orders["[]"]) != 1 {
		t.Errorf("%d unpermuted calls, want 1 (the baseline)", len(orders["[]"]))
	}
	for _, g := range groups {
		key := fmt.Sprint(slices.Sorted(slices.Values(g)))
		got := orders[key]
		if len(got) != repeats {
			t.Errorf("group %v permuted %d times, want %d (calls by permuted columns: %d kinds)", g, len(got), repeats, len(orders))
			continue
		}
		for r := range got {
			if !isPermutation(got[r]) {
				t.Errorf("group %v: row order %v is not a permutation", g, got[r])
			}
			for q := range r {
				if slices.Equal(got[q], got[r]) {
					t.Errorf("group %v: two repeats used the same row order", g)
				}
			}
		}
	}
	for g, a := range res.Labels[0].Attributions {
		if a.Index != g || !slices.Equal(a.Features, groups[g]) {
			t.Errorf("attribution %d: index %d, features %v; want %d, %v", g, a.Index, a.Features, g, groups[g])
		}
	}
	if d := res.Labels[0].Attributions[2].Description; d != "e+a+d" {
		t.Errorf("group 2 description %q, want e+a+d", d)
	}
}

func isPermutation(order []int) bool {
	return slices.Equal(slices.Sorted(slices.Values(order)), func() []int {
		s := make([]int, len(order))
		for i := range s {
			s[i] = i
		}
		return s
	}())
}

// TestPermutationMaxSamples: the permuted copies are drawn from one sample
// of max_samples rows (without replacement, the same for every group and
// repeat), scored with their targets and weights, while the baseline is
// scored on all rows, as scikit-learn does. So a feature the model ignores
// has importance baseline(all) − score(sample) on every repeat.
func TestPermutationMaxSamples(t *testing.T) {
	const N, p = 40, 3
	data := distinctData(N, p)
	target := make([]float64, N)
	weights := make([]float64, N)
	for i := range target {
		target[i] = float64(i % 2)
		weights[i] = float64(1 + i%3)
	}
	// Class 1 iff x0 ≥ 20: right on half the rows, so the sample's score
	// differs from the baseline.
	f := func(x []float64) []float64 {
		if x[0] >= 20 {
			return []float64{0.2, 0.8}
		}
		return []float64{0.7, 0.3}
	}
	for _, c := range []struct {
		maxSamples float64
		n          int
	}{{0, N}, {1, N}, {0.25, 10}, {0.26, 10}, {10, 10}, {N, N}, {2, 2}} {
		m := &rowModel{f: f, record: true}
		res, err := Permutation(context.Background(), m, PermutationRequest{
			Data: data, Target: target, Weights: weights, MaxSamples: c.maxSamples, Repeats: 2, Seed: 5,
		})
		if err != nil {
			t.Fatalf("max_samples %v: %v", c.maxSamples, err)
		}
		if res.NumSamples != N+p*2*c.n {
			t.Errorf("max_samples %v: NumSamples %d, want %d", c.maxSamples, res.NumSamples, N+p*2*c.n)
		}
		var sample []int
		for _, call := range m.seen {
			if len(call) == N && c.n < N {
				continue // the baseline
			}
			if len(call) != c.n {
				t.Fatalf("max_samples %v: a call scored %d rows, want %d", c.maxSamples, len(call), c.n)
			}
			// Column 2 (or 1) is unpermuted: it names the sampled rows.
			src := sources(call)
			rows := make([]int, c.n)
			for i := range rows {
				rows[i] = src[i][2]
				if src[i][2] != src[i][1] && src[i][2] != src[i][0] {
					rows[i] = src[i][1]
				}
			}
			if sample == nil {
				sample = rows
				if !slices.IsSorted(sample) || len(slices.Compact(slices.Clone(sample))) != c.n {
					t.Errorf("max_samples %v: sample %v is not distinct rows in order", c.maxSamples, sample)
				}
			} else if !slices.Equal(rows, sample) {
				t.Errorf("max_samples %v: calls scored different samples", c.maxSamples)
			}
		}
		subX := make([][]float64, c.n)
		subY := make([]float64, c.n)
		subW := make([]float64, c.n)
		for i, k := range sample {
			subX[i], subY[i], subW[i] = data[k], target[k], weights[k]
		}
		out, _ := m.Predict(context.Background(), subX)
		want, err := Score(ScoreAccuracy, out, subY, subW, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range []int{1, 2} {
			for r, v := range res.Labels[0].Attributions[j].Values {
				if v != res.BaselineScore-want {
					t.Errorf("max_samples %v: ignored feature %d repeat %d: importance %v, want baseline − sample score %v",
						c.maxSamples, j, r, v, res.BaselineScore-want)
				}
			}
		}
	}
}

// TestPermutationDeterministic: the same seed gives the same result, bit
// for bit, whatever GOMAXPROCS and whichever evaluation finishes first;
// another seed gives other permutations; and the first repeats do not
// depend on how many follow.
func TestPermutationDeterministic(t *testing.T) {
	data, target := permProblem(11, 120, 5)
	w := []float64{1, -1, 0.5, 0, 2}
	req := PermutationRequest{Data: data, Target: target, Scoring: ScoreNegLogLoss, Repeats: 4, Seed: 42, MaxSamples: 0.75}
	run := func(procs int, req PermutationRequest) *Result {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		res, err := Permutation(context.Background(), &rowModel{f: logit2(w, 0), jitter: true}, req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	want := run(1, req)
	for _, procs := range []int{2, 4, 8} {
		for range 3 {
			if got := run(procs, req); !reflect.DeepEqual(got, want) {
				t.Fatalf("GOMAXPROCS=%d: result differs from GOMAXPROCS=1", procs)
			}
		}
	}
	other := req
	other.Seed = 43
	if got := run(2, other); reflect.DeepEqual(got.Labels, want.Labels) {
		t.Error("seeds 42 and 43 gave the same importances")
	}
	shorter := req
	shorter.Repeats = 2
	got := run(2, shorter)
	for j, a := range got.Labels[0].Attributions {
		if !slices.Equal(a.Values, want.Labels[0].Attributions[j].Values[:2]) {
			t.Errorf("feature %d: 2 repeats gave %v, the first 2 of 4 are %v", j, a.Values, want.Labels[0].Attributions[j].Values[:2])
		}
	}
}

// TestPermutationPartial: Partial is called once per repeat, in order,
// never concurrently, with Values growing by one each time and agreeing
// with the final result; each call's Result is the caller's to keep.
func TestPermutationPartial(t *testing.T) {
	data, target := permProblem(2, 50, 3)
	const repeats = 4
	var (
		got    []*Result
		dones  []int
		active atomic.Int32
	)
	res, err := Permutation(context.Background(), &rowModel{f: logit2([]float64{1, 1, 0}, 0), jitter: true}, PermutationRequest{
		Data: data, Target: target, Repeats: repeats, Seed: 1,
		Partial: func(done int, r *Result) {
			if active.Add(1) != 1 {
				t.Error("Partial called concurrently")
			}
			dones = append(dones, done)
			got = append(got, r)
			r.Labels[0].Attributions[0].Values = append(r.Labels[0].Attributions[0].Values, 99) // the caller's to keep
			time.Sleep(time.Millisecond)
			active.Add(-1)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(dones, []int{1, 2, 3, 4}) {
		t.Fatalf("Partial called with repeats done %v, want 1, 2, 3, 4", dones)
	}
	for k, r := range got {
		done := k + 1
		if r.BaselineScore != res.BaselineScore || r.NumSamples != 50+3*done*50 || r.Method != "permutation" {
			t.Errorf("partial %d: baseline %v, samples %d", done, r.BaselineScore, r.NumSamples)
		}
		for j, a := range r.Labels[0].Attributions {
			final := res.Labels[0].Attributions[j].Values
			vals := a.Values
			if j == 0 {
				vals = vals[:len(vals)-1] // the 99 the callback appended
			}
			if !slices.Equal(vals, final[:done]) {
				t.Errorf("partial %d feature %d: values %v, the final result's first %d are %v", done, j, vals, done, final[:done])
			}
			if mean, std := meanStd(final[:done]); a.Weight != mean || a.Std != std {
				t.Errorf("partial %d feature %d: mean %v ± %v, want %v ± %v", done, j, a.Weight, a.Std, mean, std)
			}
		}
	}
	if v := res.Labels[0].Attributions[0].Values; len(v) != repeats {
		t.Errorf("final values %v changed by the callback", v)
	}
}

// TestPermutationRejectsBadRequests: each mistake is a RequestError naming
// the field, found before the model is called, and the message holds no
// data value.
func TestPermutationRejectsBadRequests(t *testing.T) {
	data, target := permProblem(4, 10, 3)
	const secret = 123.456 // a data value no message may show
	data[3][1] = secret
	perms := func(groups, repeats, n int) [][][]int {
		out := make([][][]int, groups)
		for g := range out {
			for range repeats {
				out[g] = append(out[g], rand.Perm(n))
			}
		}
		return out
	}
	for _, c := range []struct {
		name  string
		edit  func(r *PermutationRequest)
		field string
	}{
		{"one row", func(r *PermutationRequest) { r.Data, r.Target = r.Data[:1], r.Target[:1] }, "data"},
		{"no features", func(r *PermutationRequest) { r.Data = [][]float64{{}, {}} }, "data"},
		{"ragged", func(r *PermutationRequest) { r.Data = append(permCopyRows(r.Data[:9]), []float64{secret}) }, "data[9]"},
		{"NaN", func(r *PermutationRequest) { r.Data = permCopyRows(r.Data); r.Data[2][1] = math.NaN() }, "data[2][1]"},
		{"Inf", func(r *PermutationRequest) { r.Data = permCopyRows(r.Data); r.Data[2][0] = math.Inf(-1) }, "data[2][0]"},
		{"names", func(r *PermutationRequest) { r.FeatureNames = []string{"a"} }, "feature_names"},
		{"no groups", func(r *PermutationRequest) { r.Groups = [][]int{} }, "groups"},
		{"empty group", func(r *PermutationRequest) { r.Groups = [][]int{{0}, {}} }, "groups[1]"},
		{"group out of range", func(r *PermutationRequest) { r.Groups = [][]int{{0}, {3}} }, "groups[1]"},
		{"negative group member", func(r *PermutationRequest) { r.Groups = [][]int{{-1}} }, "groups[0]"},
		{"duplicate member", func(r *PermutationRequest) { r.Groups = [][]int{{1, 2, 1}} }, "groups[0]"},
		{"target length", func(r *PermutationRequest) { r.Target = r.Target[:9] }, "target"},
		{"target not a class", func(r *PermutationRequest) { r.Target = slices.Clone(r.Target); r.Target[4] = 0.5 }, "target[4]"},
		{"roc_auc target 2", func(r *PermutationRequest) {
			r.Scoring, r.Target = ScoreROCAUC, slices.Clone(r.Target)
			r.Target[4] = 2
		}, "target[4]"},
		{"weights length", func(r *PermutationRequest) { r.Weights = []float64{1} }, "weights"},
		{"negative weight", func(r *PermutationRequest) { r.Weights = make([]float64, 10); r.Weights[7] = -1 }, "weights[7]"},
		{"zero weights", func(r *PermutationRequest) { r.Weights = make([]float64, 10) }, "weights"},
		{"scoring", func(r *PermutationRequest) { r.Scoring = 6 }, "scoring"},
		{"negative output", func(r *PermutationRequest) { r.Scoring, r.Output = ScoreR2, -1 }, "output"},
		{"repeats too many", func(r *PermutationRequest) { r.Repeats = MaxRepeats + 1 }, "repeats"},
		{"repeats negative", func(r *PermutationRequest) { r.Repeats = -1 }, "repeats"},
		{"max_samples negative", func(r *PermutationRequest) { r.MaxSamples = -0.5 }, "max_samples"},
		{"max_samples NaN", func(r *PermutationRequest) { r.MaxSamples = math.NaN() }, "max_samples"},
		{"max_samples Inf", func(r *PermutationRequest) { r.MaxSamples = math.Inf(1) }, "max_samples"},
		{"max_samples fractional count", func(r *PermutationRequest) { r.MaxSamples = 2.5 }, "max_samples"},
		{"max_samples above rows", func(r *PermutationRequest) { r.MaxSamples = 11 }, "max_samples"},
		{"max_samples one row", func(r *PermutationRequest) { r.MaxSamples = 0.1 }, "max_samples"},
		{"max_samples no rows", func(r *PermutationRequest) { r.MaxSamples = 0.01 }, "max_samples"},
		{"permutations groups", func(r *PermutationRequest) { r.Permutations = perms(2, 5, 10) }, "permutations"},
		{"permutations repeats", func(r *PermutationRequest) { r.Permutations, r.Repeats = perms(3, 2, 10), 3 }, "permutations[0]"},
		{"permutations length", func(r *PermutationRequest) { r.Permutations = perms(3, 5, 9) }, "permutations[0][0]"},
		{"permutations sample length", func(r *PermutationRequest) { r.Permutations, r.MaxSamples = perms(3, 5, 10), 5 }, "permutations[0][0]"},
		{"not a permutation", func(r *PermutationRequest) {
			r.Permutations = perms(3, 5, 10)
			r.Permutations[2][4][3] = r.Permutations[2][4][4]
		}, "permutations[2][4]"},
		{"permutation index out of range", func(r *PermutationRequest) {
			r.Permutations = perms(3, 5, 10)
			r.Permutations[1][0][0] = 10
		}, "permutations[1][0]"},
	} {
		req := PermutationRequest{Data: data, Target: target}
		c.edit(&req)
		m := &rowModel{f: logit2([]float64{1, 1, 1}, 0)}
		_, err := Permutation(context.Background(), m, req)
		var re *RequestError
		if !errors.As(err, &re) || re.Field != c.field {
			t.Errorf("%s: %v, want a RequestError on %s", c.name, err, c.field)
			continue
		}
		if m.calls.Load() != 0 {
			t.Errorf("%s: the model was called", c.name)
		}
		if strings.Contains(err.Error(), "123.4") {
			t.Errorf("%s: message %q shows a data value", c.name, err)
		}
	}
	// A sample of 2 rows out of 10 lacks the one row of class 0 with
	// probability 0.8: roc_auc cannot score it, and that is max_samples's
	// doing.
	lacking := 0
	for seed := range uint64(20) {
		m := &rowModel{f: logit2([]float64{1, 1, 1}, 0)}
		_, err := Permutation(context.Background(), m, PermutationRequest{
			Data: data, Target: []float64{1, 1, 1, 1, 1, 1, 1, 1, 1, 0}, Scoring: ScoreROCAUC, MaxSamples: 2, Seed: seed,
		})
		var re *RequestError
		switch {
		case err == nil:
		case errors.As(err, &re) && re.Field == "max_samples" && m.calls.Load() == 0:
			lacking++
			if want := "explain: max_samples: the 2 sampled rows cannot be scored: target roc_auc needs both classes"; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("seed %d: %q does not start %q", seed, err, want)
			}
		default:
			t.Errorf("seed %d: %v after %d model calls, want nil or a RequestError on max_samples before any", seed, err, m.calls.Load())
		}
	}
	if lacking == 0 || lacking == 20 {
		t.Errorf("%d of 20 samples of 2 rows lacked class 0, want about 16", lacking)
	}

	// Permutations fix the repeats when Repeats is 0.
	res, err := Permutation(context.Background(), &rowModel{f: logit2([]float64{1, 1, 1}, 0)}, PermutationRequest{
		Data: data, Target: target, Permutations: perms(3, 2, 10),
	})
	if err != nil || len(res.Labels[0].Attributions[0].Values) != 2 {
		t.Errorf("Permutations of 2 repeats, Repeats 0: %v", err)
	}
}

// TestPermutationModelFaults: outputs the score cannot read are errors,
// not RequestErrors; a model's own error comes back as it is. (Too few
// classes for valid targets is a RequestError with Precondition: see
// TestRequestErrorPrecondition.)
func TestPermutationModelFaults(t *testing.T) {
	data, target := permProblem(4, 10, 3)
	target[5] = 2 // a third class
	sentinel := errors.New("model server unavailable")
	three := func([]float64) []float64 { return []float64{0.2, 0.3, 0.5} }
	for _, c := range []struct {
		name  string
		model Model
		want  string
	}{
		{"NaN", &rowModel{f: func([]float64) []float64 { return []float64{math.NaN(), 0, 1} }}, "non-finite"},
		{"ragged", &rowModel{f: func(x []float64) []float64 {
			if x[0] > 0 {
				return []float64{0.2, 0.3, 0.5}
			}
			return []float64{0.2, 0.8}
		}}, "scores in row"},
		{"rows", modelFunc(func(ctx context.Context, rows [][]float64) ([][]float64, error) {
			out, _ := (&rowModel{f: three}).Predict(ctx, rows)
			return out[1:], nil
		}), "model returned 9 rows for 10"},
		{"width changes", modelFunc(func(_ context.Context, rows [][]float64) ([][]float64, error) {
			out := make([][]float64, len(rows))
			width := 3
			if rows[0][0] != data[0][0] || rows[1][0] != data[1][0] { // a permuted copy
				width = 4
			}
			for i := range out {
				out[i] = make([]float64, width)
			}
			return out, nil
		}), "scores per row in one evaluation"},
		{"model error", modelFunc(func(context.Context, [][]float64) ([][]float64, error) { return nil, sentinel }), sentinel.Error()},
	} {
		_, err := Permutation(context.Background(), c.model, PermutationRequest{
			Data: data, Target: target, Groups: [][]int{{0}}, Repeats: 1, Permutations: [][][]int{{{1, 0, 2, 3, 4, 5, 6, 7, 8, 9}}},
		})
		var re *RequestError
		switch {
		case err == nil:
			t.Errorf("%s: no error", c.name)
		case errors.As(err, &re):
			t.Errorf("%s: %v is a RequestError", c.name, err)
		case !strings.Contains(err.Error(), c.want):
			t.Errorf("%s: %q does not say %q", c.name, err, c.want)
		}
		if c.name == "model error" && !errors.Is(err, sentinel) {
			t.Errorf("model error: %v does not wrap it", err)
		}
	}
}

type modelFunc func(ctx context.Context, rows [][]float64) ([][]float64, error)

func (f modelFunc) Predict(ctx context.Context, rows [][]float64) ([][]float64, error) {
	return f(ctx, rows)
}

// blockingModel answers like m until it has answered after calls, then
// blocks every call until its ctx is done, counting the calls that begin
// after ctx is done.
type blockingModel struct {
	m       Model
	after   int64
	calls   atomic.Int64
	late    atomic.Int64
	blocked chan struct{} // closed when the first call blocks
	once    sync.Once
}

func (b *blockingModel) Predict(ctx context.Context, rows [][]float64) ([][]float64, error) {
	if ctx.Err() != nil {
		b.late.Add(1)
		return nil, ctx.Err()
	}
	if b.calls.Add(1) <= b.after {
		return b.m.Predict(ctx, rows)
	}
	b.once.Do(func() { close(b.blocked) })
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestPermutationCancel: cancelling stops the run at once with ctx's
// error; no evaluation starts afterwards, and no goroutine is left (the
// package's TestMain checks).
func TestPermutationCancel(t *testing.T) {
	data, target := permProblem(4, 30, 4)
	inner := &rowModel{f: logit2([]float64{1, 1, 1, 1}, 0)}
	for _, after := range []int64{0, 1, 5} {
		m := &blockingModel{m: inner, after: after, blocked: make(chan struct{})}
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			<-m.blocked
			cancel()
		}()
		start := time.Now()
		_, err := Permutation(ctx, m, PermutationRequest{Data: data, Target: target, Repeats: 10, Seed: 1})
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("after %d calls: %v, want context.Canceled", after, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("after %d calls: took %v to stop", after, d)
		}
		// At most the other evaluation in flight may have begun as the
		// cancellation landed.
		if total := m.calls.Load() + m.late.Load(); total > after+evalsInFlight {
			t.Errorf("after %d calls: %d calls in all, want at most %d", after, total, after+evalsInFlight)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m := &rowModel{f: inner.f}
	if _, err := Permutation(ctx, m, PermutationRequest{Data: data, Target: target}); !errors.Is(err, context.Canceled) || m.calls.Load() != 0 {
		t.Errorf("cancelled before the call: %v after %d model calls", err, m.calls.Load())
	}

	dctx, dcancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer dcancel()
	bm := &blockingModel{m: inner, after: 2, blocked: make(chan struct{})}
	if _, err := Permutation(dctx, bm, PermutationRequest{Data: data, Target: target}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("deadline: %v, want context.DeadlineExceeded", err)
	}
}

// TestShuffleUniform: every order of 4 values, and every choice of 2 of 5
// (as a set), comes out equally often. With 48,000 draws each of the 24
// orders expects 2000 (sd ≈ 44) and each of the 10 pairs 4800 (sd ≈ 66):
// the 6-sd bounds fail a correct shuffle with probability below 1e-7.
func TestShuffleUniform(t *testing.T) {
	src := rand.NewPCG(1, 2)
	orders := map[[4]int]int{}
	pairs := map[[2]int]int{}
	for range 48000 {
		x := []int{0, 1, 2, 3}
		shuffle(src, x, 4)
		orders[[4]int(x)]++
		y := []int{0, 1, 2, 3, 4}
		shuffle(src, y, 2)
		pairs[[2]int{min(y[0], y[1]), max(y[0], y[1])}]++
	}
	if len(orders) != 24 || len(pairs) != 10 {
		t.Fatalf("%d orders, %d pairs seen", len(orders), len(pairs))
	}
	for o, c := range orders {
		if math.Abs(float64(c)-2000) > 6*44 {
			t.Errorf("order %v drawn %d times, want about 2000", o, c)
		}
	}
	for p, c := range pairs {
		if math.Abs(float64(c)-4800) > 6*66 {
			t.Errorf("pair %v drawn %d times, want about 4800", p, c)
		}
	}
}

// callCounter counts Predict calls and the largest call; safe for
// concurrent use.
type callCounter struct {
	m       Model
	calls   atomic.Int64
	maxRows atomic.Int64
}

func (c *callCounter) Predict(ctx context.Context, rows [][]float64) ([][]float64, error) {
	c.calls.Add(1)
	for {
		cur := c.maxRows.Load()
		if int64(len(rows)) <= cur || c.maxRows.CompareAndSwap(cur, int64(len(rows))) {
			break
		}
	}
	return c.m.Predict(ctx, rows)
}

// TestPermutationPacksEvaluations: with BatchRows, evaluations share
// Predict calls (issue 11: 143 rows × 30 features × 10 repeats took 301
// calls), the baseline shares the first one when an evaluation fits beside
// it, and the result is bit-identical to one evaluation per call, with
// and without max_samples.
func TestPermutationPacksEvaluations(t *testing.T) {
	data, target := permProblem(5, 143, 6)
	w := []float64{1, -1, 0.5, 0, 2, 0.3}
	tests := []struct {
		name       string
		maxSamples float64 // n sampled rows of the N = 143
		batchRows  int
		calls      int64 // 1 + ⌈(60 evaluations − f) / per call⌉, f = ⌊(BatchRows − N) / n⌋ beside the baseline
	}{
		{"one per call", 0, 0, 61},
		{"below one evaluation", 0, 100, 61},
		{"baseline alone", 0, 143 + 100, 61},
		{"one beside the baseline", 0, 2 * 143, 1 + 30},
		{"seven per call", 0, 7*143 + 50, 1 + 8},
		{"all in one call", 0, 1 << 20, 1},
		{"sampled, one per call", 71, 0, 61},
		{"sampled, seven per call", 71, 7 * 71, 1 + 8},
		{"sampled, all in one call", 71, 1 << 20, 1},
	}
	want := map[float64]*Result{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &callCounter{m: &rowModel{f: logit2(w, 0)}}
			r := PermutationRequest{Data: data, Target: target, Scoring: ScoreNegLogLoss, Repeats: 10, Seed: 7, MaxSamples: tt.maxSamples}
			r.BatchRows = tt.batchRows
			res, err := Permutation(context.Background(), m, r)
			if err != nil {
				t.Fatal(err)
			}
			if got := m.calls.Load(); got != tt.calls {
				t.Errorf("%d calls, want %d", got, tt.calls)
			}
			if tt.batchRows > 143 && m.maxRows.Load() > int64(tt.batchRows) {
				t.Errorf("a call of %d rows, above BatchRows %d", m.maxRows.Load(), tt.batchRows)
			}
			if want[tt.maxSamples] == nil {
				want[tt.maxSamples] = res
			} else if !reflect.DeepEqual(res, want[tt.maxSamples]) {
				t.Error("packed result differs from one evaluation per call")
			}
		})
	}
}
