package explain

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"testing"

	"go.uber.org/goleak"
)

// TestALEAgreesWithReference: on the fixture's decision tree classifier
// (non-linear, piecewise constant), edges, centred effects, standard
// errors, bin counts and the constant equal a direct numpy implementation
// of alibi's ale_num (testdata/gen_partial_dependence.py) to 1e-9, for
// given bin counts and the default rule (rows / 4 bins), on features with
// distinct values, ties and few quantiles.
func TestALEAgreesWithReference(t *testing.T) {
	fx := loadPDFixture(t)
	data := fx.Datasets["bc"]
	for _, c := range fx.ALE {
		t.Run(fmt.Sprintf("feature %d bins %d", c.Feature, c.Bins), func(t *testing.T) {
			m := &rowModel{f: fx.model("tree_cls")}
			res, err := ALE(context.Background(), m, ALERequest{Data: data, Features: []int{c.Feature}, Bins: c.Bins, BatchRows: 1000})
			if err != nil {
				t.Fatal(err)
			}
			if res.Method != "ale" || res.NumSamples != 3*len(data) {
				t.Errorf("method %q, %d samples, want %d", res.Method, res.NumSamples, 3*len(data))
			}
			if m.calls.Load() != 1 {
				t.Errorf("%d calls, want 1 (three evaluations packed)", m.calls.Load())
			}
			if len(res.Labels) != 2 {
				t.Fatalf("%d labels", len(res.Labels))
			}
			tol := &tolerance{abs: 1e-9}
			for l, lr := range res.Labels {
				if len(lr.ALE) != 1 {
					t.Fatalf("label %d: %d curves", l, len(lr.ALE))
				}
				cv := lr.ALE[0]
				if cv.Feature != c.Feature || len(cv.Edges) != len(c.Edges) || !slices.Equal(cv.BinCounts, c.BinCounts) {
					t.Fatalf("feature %d, %d edges (want %d), counts %v (want %v)", cv.Feature, len(cv.Edges), len(c.Edges), cv.BinCounts, c.BinCounts)
				}
				for k := range c.Edges {
					(&tolerance{rel: 1e-12}).check(t, fmt.Sprintf("edge %d", k), cv.Edges[k], c.Edges[k])
					tol.check(t, fmt.Sprintf("label %d effect %d", l, k), cv.Effects[k], c.Effects[l][k])
					tol.check(t, fmt.Sprintf("label %d std error %d", l, k), cv.StdErrs[k], c.StdErrs[l][k])
				}
				tol.check(t, "constant", cv.Constant, c.Constant[l])
			}
			t.Logf("worst |Δ| %.3g (%.3g of the 1e-9 bound) over %d values", tol.worstUse*1e-9, tol.worstUse, tol.checked)
		})
	}
}

// TestALELinearClosedForm: for f(x) = b + Σ w_j x_j every difference in
// bin k is w_j (z_k − z_{k−1}), so A_k = w_j Σ_{m≤k, n_m>0} (z_m − z_{m−1})
// (= w_j (z_k − z_0) when no bin is empty) and the centred effect is A_k −
// (1/N) Σ_k n_k (A_{k−1} + A_k)/2; the standard errors are 0 and the
// constant is the mean of f. The data have ties (values rounded to a tenth
// or to integers), so quantiles coincide and are merged, and with 40 bins
// over integers some bins between merged quantiles are empty. Asserted to
// 1e-12 (the values are sums of terms below 10).
func TestALELinearClosedForm(t *testing.T) {
	data := sensitivityData(3, 157, 3)
	for _, row := range data {
		row[1] = math.Round(row[1]*10) / 10
		row[2] = math.Round(row[2])
	}
	w := []float64{0.8, -1.5, 0.3}
	f := linear1(w, 0.25)
	emptyBins := 0
	for _, bins := range []int{0, 1, 7, 40} {
		res, err := ALE(context.Background(), &rowModel{f: f}, ALERequest{Data: data, Bins: bins})
		if err != nil {
			t.Fatal(err)
		}
		var mean float64
		for _, row := range data {
			mean += f(row)[0]
		}
		mean /= float64(len(data))
		tol := &tolerance{abs: 1e-12}
		for _, cv := range res.Labels[0].ALE {
			j := cv.Feature
			K := len(cv.Edges) - 1
			if bins > 0 && K > bins || len(cv.BinCounts) != K {
				t.Fatalf("bins %d feature %d: %d edges, %d counts", bins, j, len(cv.Edges), len(cv.BinCounts))
			}
			total, empty := 0, 0
			A := make([]float64, K+1)
			var mean0 float64
			for k := 1; k <= K; k++ {
				if cv.Edges[k] <= cv.Edges[k-1] {
					t.Fatalf("edges not increasing: %v", cv.Edges)
				}
				n := cv.BinCounts[k-1]
				A[k] = A[k-1]
				if n > 0 {
					A[k] += w[j] * (cv.Edges[k] - cv.Edges[k-1])
				} else {
					empty++
				}
				total += n
				mean0 += float64(n) * (A[k-1] + A[k]) / 2
			}
			if total != len(data) {
				t.Errorf("bin counts sum to %d, want %d", total, len(data))
			}
			emptyBins += empty
			mean0 /= float64(len(data))
			for k := range cv.Edges {
				tol.check(t, fmt.Sprintf("bins %d feature %d effect %d", bins, j, k), cv.Effects[k], A[k]-mean0)
				tol.check(t, fmt.Sprintf("bins %d feature %d std error %d", bins, j, k), cv.StdErrs[k], 0)
			}
			tol.check(t, "constant", cv.Constant, mean)
		}
	}
	if emptyBins == 0 {
		t.Error("no empty bin: the case the test means to cover is gone")
	}
}

// TestALEPartialsAndPacking: the result is the same, bit for bit, however
// evaluations are packed; Partial reports each finished feature but the
// last with the finished ones in request order; a constant feature costs
// no rows and has one edge and a zero effect.
func TestALEPartialsAndPacking(t *testing.T) {
	data := confData(20, 4)
	for _, row := range data {
		row[2] = 1.5
	}
	var first *Result
	for _, batch := range []int{0, 20, 60, 20000} {
		m := &rowModel{f: confLogistic}
		var partials [][2]int
		res, err := ALE(context.Background(), m, ALERequest{
			Data: data, Features: []int{3, 2, 0}, Bins: 5, BatchRows: batch,
			Partial: func(done, total int, res *Result) {
				partials = append(partials, [2]int{done, total})
				if len(res.Labels[0].ALE) != done {
					t.Errorf("partial %d/%d holds %d curves", done, total, len(res.Labels[0].ALE))
				}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.NumSamples != 20*(1+2*2) {
			t.Errorf("%d samples, want %d", res.NumSamples, 20*5)
		}
		// Calls are collected in the order they finish, so features can
		// finish together (all three when the data's own scores, which the
		// constant feature waits for, come last): the counts only grow and
		// the last feature is never a partial. In one call (batch 20000)
		// the order is fixed: the data's scores, then feature 3's, then 0's.
		for i, p := range partials {
			if p[1] != 3 || p[0] < 1 || p[0] > 2 || i > 0 && p[0] <= partials[i-1][0] {
				t.Errorf("batch %d: partials %v: want counts 1 or 2 of 3, increasing", batch, partials)
			}
		}
		if batch == 20000 && !slices.Equal(partials, [][2]int{{1, 3}, {2, 3}}) {
			t.Errorf("batch %d (one call): partials %v, want [1 3] [2 3]", batch, partials)
		}
		var feats []int
		for _, cv := range res.Labels[1].ALE {
			feats = append(feats, cv.Feature)
		}
		if !slices.Equal(feats, []int{3, 2, 0}) {
			t.Errorf("features %v", feats)
		}
		if c := res.Labels[0].ALE[1]; !slices.Equal(c.Edges, []float64{1.5}) || !slices.Equal(c.Effects, []float64{0}) || len(c.BinCounts) != 0 {
			t.Errorf("constant feature: %+v", c)
		}
		if first == nil {
			first = res
		} else if !reflect.DeepEqual(first, res) {
			t.Errorf("batch %d gives another result", batch)
		}
	}
}

// TestALEFewRows: on fewer rows than the default min_bin_points, the
// default rule makes one bin: two edges, the minimum and the maximum.
func TestALEFewRows(t *testing.T) {
	data := confData(3, 2)
	res, err := ALE(context.Background(), &rowModel{f: confLogistic}, ALERequest{Data: data, Features: []int{0}})
	if err != nil {
		t.Fatal(err)
	}
	cv := res.Labels[0].ALE[0]
	lo, hi := min(data[0][0], data[1][0], data[2][0]), max(data[0][0], data[1][0], data[2][0])
	if !slices.Equal(cv.Edges, []float64{lo, hi}) || !slices.Equal(cv.BinCounts, []int{3}) {
		t.Errorf("edges %v, counts %v; want [%v %v], [3]", cv.Edges, cv.BinCounts, lo, hi)
	}
}

// TestALERejects: invalid requests are RequestErrors naming the field,
// before any call.
func TestALERejects(t *testing.T) {
	data := confData(10, 3)
	cases := []struct {
		name  string
		req   ALERequest
		field string
	}{
		{"one row", ALERequest{Data: data[:1]}, "data"},
		{"bins", ALERequest{Data: data, Bins: MaxGridResolution + 1}, "bins"},
		{"negative bins", ALERequest{Data: data, Bins: -1}, "bins"},
		{"min bin points above rows", ALERequest{Data: data, MinBinPoints: 11}, "min_bin_points"},
		{"negative min bin points", ALERequest{Data: data, MinBinPoints: -1}, "min_bin_points"},
		{"categorical", ALERequest{Data: data, Features: []int{0, 2}, Categorical: []int{2}}, "features[1]"},
		{"repeated feature", ALERequest{Data: data, Features: []int{1, 1}}, "features[1]"},
		{"feature out of range", ALERequest{Data: data, Features: []int{3}}, "features[0]"},
		{"no features", ALERequest{Data: data, Features: []int{}}, "features"},
		{"too many features", ALERequest{Data: sameRows(2, MaxCurveFeatures+1)}, "features"},
		{"too many rows to score", ALERequest{Data: sameRows(2000, 5001)}, "features"},
		{"labels", ALERequest{Data: data, Labels: []int{}}, "labels"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := &rowModel{f: confLogistic}
			_, err := ALE(context.Background(), m, c.req)
			var re *RequestError
			if !errors.As(err, &re) || re.Field != c.field {
				t.Fatalf("err = %v, want a RequestError on %s", err, c.field)
			}
			if m.calls.Load() != 0 {
				t.Errorf("%d calls", m.calls.Load())
			}
		})
	}
}

// sameRows returns n rows sharing one row of p zeros: 2 × 2000 × 5001
// rows to score without holding them.
func sameRows(n, p int) [][]float64 {
	row := make([]float64, p)
	rows := make([][]float64, n)
	for i := range rows {
		rows[i] = row
	}
	return rows
}

// TestPartialDependenceAndALEModelPanics: both share Sensitivity's pipeline
// and its handling of a model's panic: an error, no leaked goroutine.
func TestPartialDependenceAndALEModelPanics(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	data := sensitivityData(1, 50, 4)
	m := panickingModel(3, linear1([]float64{3, -2, 0.5, 0}, 0.7))
	_, err := PartialDependence(context.Background(), m, PartialDependenceRequest{Data: data, GridResolution: 5})
	checkPanicError(t, err, "explain: partial_dependence: ")
	goleak.VerifyNone(t, ignore)
	m = panickingModel(2, linear1([]float64{3, -2, 0.5, 0}, 0.7))
	_, err = ALE(context.Background(), m, ALERequest{Data: data, Bins: 5})
	checkPanicError(t, err, "explain: ale: ")
	goleak.VerifyNone(t, ignore)
}
