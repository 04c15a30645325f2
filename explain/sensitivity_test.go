package explain

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// sensitivityData returns n rows of p features on different scales (feature
// j has standard deviation about j+1 and mean j).
func sensitivityData(seed uint64, n, p int) [][]float64 {
	rng := rand.New(rand.NewPCG(seed, 17))
	data := make([][]float64, n)
	for i := range data {
		data[i] = make([]float64, p)
		for j := range data[i] {
			data[i][j] = float64(j) + float64(j+1)*rng.NormFloat64()
		}
	}
	return data
}

// TestSensitivityLinear: for a linear score every difference quotient is
// the coefficient, up to rounding: the two outputs, sums of terms up to
// |w||x| ≈ 20, carry errors near 1e-14 that the division by 2h ≈ 0.02σ
// raises to about 1e-12, and x ± h rounds to a step 2h(1 + ε|x|/h), a
// relative 1e-13. So Weight and MeanAbs equal w_j, |w_j| to relative 1e-9
// (abs 1e-10), and Std is 0 to 1e-10.
func TestSensitivityLinear(t *testing.T) {
	data := sensitivityData(1, 200, 4)
	w0 := []float64{3, -2, 0.5, 0}
	w1 := []float64{-1, 0.25, 4, 1.5}
	m := &rowModel{f: func(x []float64) []float64 {
		return []float64{linear1(w0, 0.7)(x)[0], linear1(w1, -3)(x)[0]}
	}}
	res, err := Sensitivity(context.Background(), m, SensitivityRequest{Data: data, FeatureNames: []string{"a", "b", "c", "d"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Method != "sensitivity" || res.NumSamples != 2*200*4 || len(res.Labels) != 2 {
		t.Fatalf("method %q, samples %d, %d labels", res.Method, res.NumSamples, len(res.Labels))
	}
	tol := &tolerance{rel: 1e-9, abs: 1e-10}
	for l, w := range [][]float64{w0, w1} {
		lr := res.Labels[l]
		if lr.Label != l {
			t.Errorf("label %d reported as %d", l, lr.Label)
		}
		for j, a := range lr.Attributions {
			if a.Index != j || a.Description != "abcd"[j:j+1] {
				t.Errorf("label %d attribution %d: index %d, description %q", l, j, a.Index, a.Description)
			}
			tol.check(t, "weight", a.Weight, w[j])
			tol.check(t, "mean abs", a.MeanAbs, math.Abs(w[j]))
			if a.Std > 1e-10 {
				t.Errorf("label %d feature %d: std %v, want 0 for a linear model", l, j, a.Std)
			}
		}
	}
	t.Logf("worst relative error %.3g", tol.worstRel)
}

// TestSensitivityQuadratic: central differences are exact for quadratics,
// (a(x+h)² − a(x−h)²)/(2h) = 2ax, so the result is the analytic mean
// derivative, its mean absolute value and its standard deviation, up to
// rounding (the squares, near 100a, cancel to 4axh: relative 1e-12 after
// the division, asserted to 1e-9). For a cubic the quotient is 3x² + h²:
// the O(h²) error, exactly.
func TestSensitivityQuadratic(t *testing.T) {
	const n = 300
	data := sensitivityData(2, n, 3)
	const a, b, c = 0.5, -1.5, 2.0
	f := func(x []float64) []float64 {
		return []float64{a*x[0]*x[0] + b*x[0]*x[1] + c*x[1], x[2] * x[2] * x[2]}
	}
	const step = 0.05
	res, err := Sensitivity(context.Background(), &rowModel{f: f}, SensitivityRequest{Data: data, Step: step})
	if err != nil {
		t.Fatal(err)
	}
	h2 := step * popStd(data, 2)
	derivs := [][]func(x []float64) float64{
		{func(x []float64) float64 { return 2*a*x[0] + b*x[1] }, func(x []float64) float64 { return b*x[0] + c }, func([]float64) float64 { return 0 }},
		{func([]float64) float64 { return 0 }, func([]float64) float64 { return 0 }, func(x []float64) float64 { return 3*x[2]*x[2] + h2*h2 }},
	}
	tol := &tolerance{rel: 1e-9, abs: 1e-10}
	for l, byFeature := range derivs {
		for j, d := range byFeature {
			var vals []float64
			var abs float64
			for _, x := range data {
				vals = append(vals, d(x))
				abs += math.Abs(d(x))
			}
			mean, std := meanStd(vals)
			got := res.Labels[l].Attributions[j]
			tol.check(t, "mean derivative", got.Weight, mean)
			tol.check(t, "mean |derivative|", got.MeanAbs, abs/n)
			tol.check(t, "std of derivative", got.Std, std)
			if got.MeanAbs < math.Abs(got.Weight) {
				t.Errorf("label %d feature %d: MeanAbs %v < |Weight| %v", l, j, got.MeanAbs, got.Weight)
			}
		}
	}
	t.Logf("worst relative error %.3g", tol.worstRel)
}

func popStd(data [][]float64, j int) float64 {
	col := make([]float64, len(data))
	for i, r := range data {
		col[i] = r[j]
	}
	_, s := meanStd(col)
	return s
}

// TestSensitivitySteps: each evaluation shifts exactly one column by
// ±Step·σ_j (σ_j the population standard deviation; 1 for a constant
// feature), both signs for every feature.
func TestSensitivitySteps(t *testing.T) {
	data := sensitivityData(3, 20, 3)
	for _, r := range data {
		r[1] = 7 // constant
	}
	m := &rowModel{f: func(x []float64) []float64 { return []float64{x[0]} }, record: true}
	if _, err := Sensitivity(context.Background(), m, SensitivityRequest{Data: data, Step: 0.5}); err != nil {
		t.Fatal(err)
	}
	if len(m.seen) != 6 {
		t.Fatalf("%d evaluations, want 2 per feature", len(m.seen))
	}
	shifts := map[[2]int]int{} // (feature, sign) → evaluations
	for _, call := range m.seen {
		var moved []int
		for j := range 3 {
			if call[0][j] != data[0][j] {
				moved = append(moved, j)
			}
		}
		if len(moved) != 1 {
			t.Fatalf("an evaluation moved columns %v, want one", moved)
		}
		j := moved[0]
		h := 0.5 * popStd(data, j)
		if j == 1 {
			h = 0.5
		}
		sign := 1
		if call[0][j] < data[0][j] {
			sign, h = -1, -h
		}
		for i, row := range call {
			for k, v := range row {
				want := data[i][k]
				if k == j {
					want += h
				}
				if v != want {
					t.Fatalf("feature %d sign %d: row %d column %d = %v, want %v", j, sign, i, k, v, want)
				}
			}
		}
		shifts[[2]int{j, sign}]++
	}
	if len(shifts) != 6 {
		t.Errorf("evaluations by (feature, sign): %v", shifts)
	}
}

// TestSensitivityLabels: Labels picks and orders the classes reported,
// each computed exactly as in the full report.
func TestSensitivityLabels(t *testing.T) {
	data := sensitivityData(4, 50, 3)
	f := func(x []float64) []float64 {
		return []float64{math.Sin(x[0]), x[1] * x[2], math.Exp(-x[0] * x[0] / 10)}
	}
	all, err := Sensitivity(context.Background(), &rowModel{f: f}, SensitivityRequest{Data: data})
	if err != nil {
		t.Fatal(err)
	}
	some, err := Sensitivity(context.Background(), &rowModel{f: f}, SensitivityRequest{Data: data, Labels: []int{2, 0}})
	if err != nil {
		t.Fatal(err)
	}
	if len(some.Labels) != 2 || !reflect.DeepEqual(some.Labels[0], all.Labels[2]) || !reflect.DeepEqual(some.Labels[1], all.Labels[0]) {
		t.Errorf("labels [2 0] gave %+v", some.Labels)
	}
	for _, lr := range all.Labels {
		for _, a := range lr.Attributions {
			if a.MeanAbs < math.Abs(a.Weight) || a.Std < 0 {
				t.Errorf("label %d feature %d: MeanAbs %v, Weight %v, Std %v", lr.Label, a.Index, a.MeanAbs, a.Weight, a.Std)
			}
		}
	}
}

// TestSensitivityDeterministic: bit for bit the same whatever GOMAXPROCS
// and whichever evaluation finishes first.
func TestSensitivityDeterministic(t *testing.T) {
	data := sensitivityData(5, 80, 6)
	f := func(x []float64) []float64 {
		return []float64{math.Tanh(x[0] - x[3]), x[1] * x[5], math.Cos(x[2] + x[4])}
	}
	var want *Result
	for _, procs := range []int{1, 2, 4, 8} {
		prev := runtime.GOMAXPROCS(procs)
		got, err := Sensitivity(context.Background(), &rowModel{f: f, jitter: true}, SensitivityRequest{Data: data})
		runtime.GOMAXPROCS(prev)
		if err != nil {
			t.Fatal(err)
		}
		if want == nil {
			want = got
		} else if !reflect.DeepEqual(got, want) {
			t.Fatalf("GOMAXPROCS=%d: result differs", procs)
		}
	}
}

// TestSensitivityPacksEvaluations: with BatchRows, evaluations share
// Predict calls (issue 11: 2 × 143 rows × 30 features took 60 calls
// without a row cap), no call carries more than BatchRows rows, and the
// result is bit-identical to one evaluation per call.
func TestSensitivityPacksEvaluations(t *testing.T) {
	data := sensitivityData(8, 143, 6)
	f := func(x []float64) []float64 {
		return []float64{math.Tanh(x[0] - x[3]), x[1] * x[5], math.Cos(x[2] + x[4])}
	}
	tests := []struct {
		name      string
		batchRows int
		calls     int64 // ⌈12 evaluations / per call⌉
	}{
		{"one per call", 0, 12},
		{"below one evaluation", 100, 12},
		{"five per call", 5*143 + 50, 3},
		{"all in one call", 1 << 20, 1},
	}
	var want *Result
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &callCounter{m: &rowModel{f: f, jitter: true}}
			res, err := Sensitivity(context.Background(), m, SensitivityRequest{Data: data, BatchRows: tt.batchRows})
			if err != nil {
				t.Fatal(err)
			}
			if got := m.calls.Load(); got != tt.calls {
				t.Errorf("%d calls, want %d", got, tt.calls)
			}
			if tt.batchRows > 143 && m.maxRows.Load() > int64(tt.batchRows) {
				t.Errorf("a call of %d rows, above BatchRows %d", m.maxRows.Load(), tt.batchRows)
			}
			if want == nil {
				want = res
			} else if !reflect.DeepEqual(res, want) {
				t.Error("packed result differs from one evaluation per call")
			}
		})
	}
}

// TestSensitivityErrors: mistakes in the request are RequestErrors naming
// the field, with no data value in the message; outputs that cannot be
// read are other errors; cancellation returns ctx's error.
func TestSensitivityErrors(t *testing.T) {
	data := sensitivityData(6, 10, 3)
	const secret = 123.456
	data[2][2] = secret
	two := func(x []float64) []float64 { return []float64{x[0], x[1]} }
	for _, c := range []struct {
		name  string
		edit  func(r *SensitivityRequest)
		field string
	}{
		{"no rows", func(r *SensitivityRequest) { r.Data = nil }, "data"},
		{"no features", func(r *SensitivityRequest) { r.Data = [][]float64{{}} }, "data"},
		{"ragged", func(r *SensitivityRequest) { r.Data = append(permCopyRows(r.Data[:3]), []float64{secret}) }, "data[3]"},
		{"NaN", func(r *SensitivityRequest) { r.Data = permCopyRows(r.Data); r.Data[1][2] = math.NaN() }, "data[1][2]"},
		{"names", func(r *SensitivityRequest) { r.FeatureNames = []string{"a", "b"} }, "feature_names"},
		{"negative step", func(r *SensitivityRequest) { r.Step = -0.1 }, "step"},
		{"step above 1", func(r *SensitivityRequest) { r.Step = 1.5 }, "step"},
		{"NaN step", func(r *SensitivityRequest) { r.Step = math.NaN() }, "step"},
		{"empty labels", func(r *SensitivityRequest) { r.Labels = []int{} }, "labels"},
		{"negative label", func(r *SensitivityRequest) { r.Labels = []int{0, -1} }, "labels[1]"},
		{"repeated label", func(r *SensitivityRequest) { r.Labels = []int{1, 0, 1} }, "labels[2]"},
		// Known only once the model says how many classes it has.
		{"label out of range", func(r *SensitivityRequest) { r.Labels = []int{0, 2} }, "labels[1]"},
	} {
		req := SensitivityRequest{Data: data}
		c.edit(&req)
		_, err := Sensitivity(context.Background(), &rowModel{f: two}, req)
		var re *RequestError
		if !errors.As(err, &re) || re.Field != c.field {
			t.Errorf("%s: %v, want a RequestError on %s", c.name, err, c.field)
		} else if strings.Contains(err.Error(), "123.4") {
			t.Errorf("%s: message %q shows a data value", c.name, err)
		}
	}
	for _, c := range []struct {
		name  string
		model Model
		want  string
	}{
		{"NaN", &rowModel{f: func(x []float64) []float64 { return []float64{math.NaN()} }}, "non-finite"},
		{"rows", modelFunc(func(_ context.Context, rows [][]float64) ([][]float64, error) {
			return make([][]float64, len(rows)+1), nil
		}), "11 rows for 10"},
		{"no scores", &rowModel{f: func([]float64) []float64 { return nil }}, "no scores"},
		{"width changes", modelFunc(func(_ context.Context, rows [][]float64) ([][]float64, error) {
			width := 2
			if rows[0][1] > data[0][1] { // feature 1 shifted up
				width = 3
			}
			out := make([][]float64, len(rows))
			for i := range out {
				out[i] = make([]float64, width)
			}
			return out, nil
		}), "scores per row in one evaluation"},
	} {
		_, err := Sensitivity(context.Background(), c.model, SensitivityRequest{Data: data})
		var re *RequestError
		switch {
		case err == nil:
			t.Errorf("%s: no error", c.name)
		case errors.As(err, &re):
			t.Errorf("%s: %v is a RequestError", c.name, err)
		case !strings.Contains(err.Error(), c.want):
			t.Errorf("%s: %q does not say %q", c.name, err, c.want)
		}
	}

	m := &blockingModel{m: &rowModel{f: two}, after: 3, blocked: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-m.blocked
		cancel()
	}()
	start := time.Now()
	if _, err := Sensitivity(ctx, m, SensitivityRequest{Data: data}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v, want context.Canceled", err)
	}
	cancel()
	if total := m.calls.Load() + m.late.Load(); total > 3+evalsInFlight || time.Since(start) > 5*time.Second {
		t.Errorf("cancelled: %d calls in all, took %v", total, time.Since(start))
	}
}

func TestSensitivityDoesNotModifyData(t *testing.T) {
	data := sensitivityData(7, 30, 3)
	orig := permCopyRows(data)
	if _, err := Sensitivity(context.Background(), &rowModel{f: func(x []float64) []float64 { return []float64{x[0] * x[1]} }}, SensitivityRequest{Data: data}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(data, orig) {
		t.Error("Sensitivity modified its data")
	}
	pdata, target := permProblem(8, 30, 3)
	porig, torig := permCopyRows(pdata), slices.Clone(target)
	if _, err := Permutation(context.Background(), &rowModel{f: logit2([]float64{1, 2, 3}, 0)}, PermutationRequest{Data: pdata, Target: target, MaxSamples: 0.5}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(pdata, porig) || !slices.Equal(target, torig) {
		t.Error("Permutation modified its data or targets")
	}
}
