package explain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"strconv"
	"testing"
)

// pdFixture is testdata/partial_dependence.json, made by
// testdata/gen_partial_dependence.py.
type pdFixture struct {
	Models struct {
		Logistic struct {
			Mean, Scale, Coef []float64
			Intercept         float64
		}
		TreeCls treeModel `json:"tree_cls"`
		TreeReg treeModel `json:"tree_reg"`
	}
	Datasets map[string][][]float64
	Cases    []struct {
		Name           string
		Model, Data    string
		Features       []int
		Label          int
		GridResolution int `json:"grid_resolution"`
		Percentiles    []float64
		Categorical    []int
		Kind           string
		Centered       bool
		CustomGrids    map[string][]float64 `json:"custom_grids"`
		Grids          [][]float64
		Average        []float64
		StdErr         []float64 `json:"std_err"`
		Individual     [][]float64
	}
	ALE []struct {
		Feature, Bins int
		Edges         []float64
		Effects       [][]float64 // [label][edge]
		StdErrs       [][]float64 `json:"std_errs"`
		BinCounts     []int       `json:"bin_counts"`
		Constant      []float64
	}
}

// treeModel is a scikit-learn tree's node arrays; Value holds a leaf's
// class probabilities (classifier) or its mean (regressor).
type treeModel struct {
	Left, Right, Feature []int
	Threshold            []float64
	Value                [][]float64
}

// predict walks the tree as scikit-learn does: the row's values are cast
// to float32 and compared with the (float64) thresholds.
func (tm treeModel) predict(x []float64) []float64 {
	n := 0
	for tm.Left[n] != -1 {
		if float64(float32(x[tm.Feature[n]])) <= tm.Threshold[n] {
			n = tm.Left[n]
		} else {
			n = tm.Right[n]
		}
	}
	return tm.Value[n]
}

func loadPDFixture(t *testing.T) *pdFixture {
	t.Helper()
	b, err := os.ReadFile("testdata/partial_dependence.json")
	if err != nil {
		t.Fatal(err)
	}
	var f pdFixture
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return &f
}

// model returns the fixture's model by name as a row scorer: the
// standardised logistic regression's [1 − p, p], or a tree's leaf values.
func (f *pdFixture) model(name string) func([]float64) []float64 {
	switch name {
	case "logistic":
		lr := f.Models.Logistic
		return func(x []float64) []float64 {
			z := lr.Intercept
			for j, v := range x {
				z += (v - lr.Mean[j]) / lr.Scale[j] * lr.Coef[j]
			}
			p := 1 / (1 + math.Exp(-z))
			return []float64{1 - p, p}
		}
	case "tree_cls":
		return f.Models.TreeCls.predict
	case "tree_reg":
		return f.Models.TreeReg.predict
	}
	panic("unknown model " + name)
}

// TestPartialDependenceAgreesWithScikitLearn: grids, averages, standard
// errors and ICE curves equal scikit-learn's partial_dependence(method=
// "brute") on the same models and data, to 1e-6 (float32 tolerance: the
// trees compare float32 values, the logistic regression's sums differ from
// numpy's in the last bits) for 1-D and 2-D features, custom percentiles, a
// feature with fewer distinct values than grid points, a categorical
// feature, a custom grid and centred curves. BatchRows packs several grid
// points per call.
func TestPartialDependenceAgreesWithScikitLearn(t *testing.T) {
	fx := loadPDFixture(t)
	kinds := map[string]PDKind{"average": PDAverage, "individual": PDIndividual, "both": PDBoth}
	for _, c := range fx.Cases {
		t.Run(c.Name, func(t *testing.T) {
			req := PartialDependenceRequest{
				Data:           fx.Datasets[c.Data],
				Features:       [][]int{c.Features},
				GridResolution: c.GridResolution,
				Percentiles:    [2]float64{c.Percentiles[0], c.Percentiles[1]},
				Kind:           kinds[c.Kind],
				Centered:       c.Centered,
				Labels:         []int{c.Label},
				BatchRows:      3 * len(fx.Datasets[c.Data]),
			}
			for _, j := range c.Categorical {
				req.Categorical = map[int][]string{j: {"female", "male"}}
			}
			for k, g := range c.CustomGrids {
				j, _ := strconv.Atoi(k)
				req.Grids = map[int][]float64{j: g}
			}
			m := &rowModel{f: fx.model(c.Model)}
			res, err := PartialDependence(context.Background(), m, req)
			if err != nil {
				t.Fatal(err)
			}
			N := len(req.Data)
			points := len(c.Average)
			if res.Method != "partial_dependence" || res.NumSamples != N*points {
				t.Errorf("method %q, %d samples, want %d", res.Method, res.NumSamples, N*points)
			}
			if len(res.Labels) != 1 || res.Labels[0].Label != c.Label || len(res.Labels[0].PartialDependence) != 1 {
				t.Fatalf("labels %+v", res.Labels)
			}
			pd := res.Labels[0].PartialDependence[0]
			if !reflect.DeepEqual(pd.Features, c.Features) || pd.Centered != c.Centered {
				t.Errorf("features %v centred %v", pd.Features, pd.Centered)
			}
			tol := &tolerance{abs: 1e-6}
			if len(pd.Grids) != len(c.Grids) {
				t.Fatalf("%d grids, want %d", len(pd.Grids), len(c.Grids))
			}
			for a, g := range c.Grids {
				if len(pd.Grids[a]) != len(g) {
					t.Fatalf("grid %d has %d values, want %d", a, len(pd.Grids[a]), len(g))
				}
				for i, v := range g {
					(&tolerance{rel: 1e-12, abs: 1e-15}).check(t, fmt.Sprintf("grid %d[%d]", a, i), pd.Grids[a][i], v)
				}
			}
			if len(c.Categorical) > 0 && (len(pd.GridLabels) != 2 || pd.GridLabels[0] != strconv.FormatFloat(c.Grids[0][0], 'g', -1, 64)) {
				// The codes are not 0 and 1, so they are written out.
				t.Errorf("grid labels %q", pd.GridLabels)
			}
			if c.Kind == "individual" {
				if pd.Average != nil {
					t.Error("kind individual returned an average")
				}
			} else {
				for g := range points {
					tol.check(t, fmt.Sprintf("average[%d]", g), pd.Average[g], c.Average[g])
					tol.check(t, fmt.Sprintf("std error[%d]", g), pd.AverageStdErr[g], c.StdErr[g])
				}
			}
			defer func() {
				t.Logf("worst |Δ| %.3g (%.3g of the 1e-6 bound) over %d values", tol.worstUse*1e-6, tol.worstUse, tol.checked)
			}()
			if c.Kind == "average" {
				if pd.Individual != nil {
					t.Error("kind average returned ICE curves")
				}
				return
			}
			if len(pd.Individual) != N {
				t.Fatalf("%d ICE curves for %d rows", len(pd.Individual), N)
			}
			for i, curve := range c.Individual {
				for g, v := range curve {
					tol.check(t, fmt.Sprintf("ICE %d[%d]", i, g), pd.Individual[i][g], v)
				}
			}
		})
	}
}

// TestPartialDependencePackingAndPartials: the result is the same, bit for
// bit, however many grid points a call packs (one per call, several, all);
// the calls are as few as the packing allows; Partial reports each
// finished feature but the last, with the finished ones in request order.
func TestPartialDependencePackingAndPartials(t *testing.T) {
	data := confData(13, 4)
	features := [][]int{{0}, {1, 2}, {3}}
	var first *Result
	for _, batch := range []int{0, 13, 5 * 13, 1000 * 13} {
		m := &rowModel{f: confLogistic}
		var partials [][2]int
		var partialFeatures [][]int
		req := PartialDependenceRequest{
			Data: data, Features: features, GridResolution: 5, Kind: PDBoth, Centered: true, BatchRows: batch,
			Partial: func(done, total int, res *Result) {
				partials = append(partials, [2]int{done, total})
				var fs []int
				for _, pd := range res.Labels[0].PartialDependence {
					fs = append(fs, pd.Features[0])
				}
				partialFeatures = append(partialFeatures, fs)
			},
		}
		res, err := PartialDependence(context.Background(), m, req)
		if err != nil {
			t.Fatal(err)
		}
		// 13 rows have 13 distinct values: grids of 5, 5 × 5 and 5 points.
		points := 5 + 25 + 5
		if res.NumSamples != 13*points {
			t.Errorf("batch %d: %d samples, want %d", batch, res.NumSamples, 13*points)
		}
		per := max(1, batch/13)
		if want := int64((points + per - 1) / per); m.calls.Load() != want {
			t.Errorf("batch %d: %d calls, want %d", batch, m.calls.Load(), want)
		}
		if first == nil {
			first = res
		} else if !reflect.DeepEqual(res, first) {
			t.Errorf("batch %d gives another result than batch 0", batch)
		}
		if len(partials) != 2 || partials[0] != [2]int{1, 3} || partials[1] != [2]int{2, 3} {
			t.Errorf("batch %d: partials %v, want [1 3] and [2 3]", batch, partials)
		}
		for _, fs := range partialFeatures {
			for i := 1; i < len(fs); i++ {
				if fs[i] <= fs[i-1] {
					t.Errorf("batch %d: partial features %v out of request order", batch, fs)
				}
			}
		}
		for _, l := range res.Labels {
			for _, pd := range l.PartialDependence {
				for i, curve := range pd.Individual {
					if curve[0] != 0 {
						t.Fatalf("centred ICE curve %d starts at %v", i, curve[0])
					}
				}
				if pd.Average[0] != 0 || pd.AverageStdErr[0] != 0 {
					t.Errorf("centred average starts at %v ± %v", pd.Average[0], pd.AverageStdErr[0])
				}
			}
		}
	}
}

// TestPartialDependenceRejects: each invalid request is a *RequestError
// naming the field, before any call.
func TestPartialDependenceRejects(t *testing.T) {
	data := confData(10, 3)
	constant := [][]float64{{1, 0}, {1, 1}, {1, 2}}
	cases := []struct {
		name  string
		req   PartialDependenceRequest
		field string
	}{
		{"no rows", PartialDependenceRequest{}, "data"},
		{"grid resolution 1", PartialDependenceRequest{Data: data, GridResolution: 1}, "grid_resolution"},
		{"grid resolution too large", PartialDependenceRequest{Data: data, GridResolution: MaxGridResolution + 1}, "grid_resolution"},
		{"percentiles reversed", PartialDependenceRequest{Data: data, Percentiles: [2]float64{0.9, 0.1}}, "percentiles"},
		{"percentile above 1", PartialDependenceRequest{Data: data, Percentiles: [2]float64{0.1, 1.5}}, "percentiles"},
		{"percentiles too close", PartialDependenceRequest{Data: [][]float64{{0}, {0}, {0}, {1}}, GridResolution: 2, Percentiles: [2]float64{0.1, 0.2}}, "percentiles"},
		{"feature out of range", PartialDependenceRequest{Data: data, Features: [][]int{{3}}}, "features[0]"},
		{"three features", PartialDependenceRequest{Data: data, Features: [][]int{{0}, {0, 1, 2}}}, "features[1]"},
		{"pair with itself", PartialDependenceRequest{Data: data, Features: [][]int{{1, 1}}}, "features[0]"},
		{"no features", PartialDependenceRequest{Data: data, Features: [][]int{}}, "features"},
		{"too many features", PartialDependenceRequest{Data: [][]float64{make([]float64, MaxCurveFeatures+1)}, GridResolution: 2}, "features"},
		{"empty grid", PartialDependenceRequest{Data: data, Grids: map[int][]float64{0: {}}}, "grids[feature 0]"},
		{"non-finite grid", PartialDependenceRequest{Data: data, Grids: map[int][]float64{2: {math.NaN()}}}, "grids[feature 2]"},
		{"grid of a missing feature", PartialDependenceRequest{Data: data, Grids: map[int][]float64{5: {1}}}, "grids[feature 5]"},
		{"categorical out of range", PartialDependenceRequest{Data: data, Categorical: map[int][]string{-1: nil}}, "categorical_features"},
		{"labels repeated", PartialDependenceRequest{Data: data, Labels: []int{1, 1}}, "labels[1]"},
		{"kind", PartialDependenceRequest{Data: data, Kind: 7}, "kind"},
		{"names", PartialDependenceRequest{Data: data, FeatureNames: []string{"a"}}, "feature_names"},
		{"too many rows to score", PartialDependenceRequest{Data: make2(20001, 1), Grids: map[int][]float64{0: make([]float64, 1000)}}, "features"},
		{"constant column is fine, ragged data is not", PartialDependenceRequest{Data: [][]float64{constant[0], {1}}}, "data[1]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := &rowModel{f: confLogistic}
			_, err := PartialDependence(context.Background(), m, c.req)
			var re *RequestError
			if !errors.As(err, &re) || re.Field != c.field || re.Precondition {
				t.Fatalf("err = %v, want a RequestError on %s", err, c.field)
			}
			if m.calls.Load() != 0 {
				t.Errorf("%d calls for a refused request", m.calls.Load())
			}
		})
	}
	t.Run("label beyond the model's classes", func(t *testing.T) {
		_, err := PartialDependence(context.Background(), &rowModel{f: confLogistic}, PartialDependenceRequest{Data: data, Labels: []int{2}})
		var re *RequestError
		if !errors.As(err, &re) || re.Field != "labels[0]" || !re.Precondition {
			t.Fatalf("err = %v, want a precondition on labels[0]", err)
		}
	})
}

// make2 returns n rows of p zeros.
func make2(n, p int) [][]float64 {
	rows := make([][]float64, n)
	for i := range rows {
		rows[i] = make([]float64, p)
	}
	return rows
}

// TestMQuantile: scipy.stats.mstats.mquantiles(x, prob) with its defaults,
// by hand for x = 1..10 (n = 10): prob 0.05 gives aleph = 0.5 + 0.42 =
// 0.92, k = 1, γ = 0 → 1; prob 0.95: aleph = 9.5 + 0.58 = 10.08, k = 9,
// γ = 1 → 10; prob 0.5: aleph = 5.5, k = 5, γ = 0.5 → 5.5; prob 0.3:
// aleph = 3 + 0.46 = 3.46 → 3.46.
func TestMQuantile(t *testing.T) {
	x := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, c := range []struct{ p, want float64 }{{0.05, 1}, {0.95, 10}, {0.5, 5.5}, {0.3, 3.46}, {0, 1}, {1, 10}} {
		if got := mquantile(x, c.p); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("mquantile(%v) = %v, want %v", c.p, got, c.want)
		}
	}
}
