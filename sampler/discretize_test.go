package sampler

import (
	"math"
	"slices"
	"testing"
)

// discretizerFixture is lime/discretizer_{quartile,decile}.json (see
// /work/shared/fixtures/README.md).
type discretizerFixture struct {
	FeatureNames      []string    `json:"feature_names"`
	Percentiles       []float64   `json:"percentiles"`
	Boundaries        [][]float64 `json:"boundaries"`
	BinsFirst50Rows   [][]int     `json:"bins_first_50_rows"`
	Means             [][]float64 `json:"means"`
	Stds              [][]float64 `json:"stds"`
	Mins              [][]float64 `json:"mins"`
	Maxs              [][]float64 `json:"maxs"`
	Names             [][]string  `json:"names"`
	Instance0Bins     []int       `json:"instance0_bins"`
	Instance0Names    []string    `json:"instance0_names"`
	FeatureValues     [][]int     `json:"explainer_feature_values"`
	FeatureFrequences [][]float64 `json:"explainer_feature_frequencies"`
	BinCounts         [][]int     `json:"bin_counts"`
}

func TestDiscretizerMatchesLime(t *testing.T) {
	data, names := breastCancer(t)
	for _, tc := range []struct {
		name, file, kind string
		newDisc          func([][]float64, []string, []int) (*Discretizer, error)
	}{
		{"quartile", "testdata/discretizer_quartile.json", "quartile", NewQuartileDiscretizer},
		{"decile", "testdata/discretizer_decile.json", "decile", NewDecileDiscretizer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var fx discretizerFixture
			readJSON(t, tc.file, &fx)
			if !slices.Equal(fx.FeatureNames, names) {
				t.Fatalf("fixture feature names differ from the CSV header")
			}
			d, err := tc.newDisc(data, names, nil)
			if err != nil {
				t.Fatal(err)
			}
			// Relative 1e-12: the Go code repeats numpy's arithmetic
			// (percentile lerp, pairwise sums), so it is expected to agree
			// to the last bit; 1e-12 is the fixture's stated tolerance.
			const rel = 1e-12
			for f := range 30 {
				assertClose(t, "boundaries["+names[f]+"]", d.Boundaries[f], fx.Boundaries[f], rel)
				assertClose(t, "means["+names[f]+"]", d.Means[f], fx.Means[f], rel)
				assertClose(t, "stds["+names[f]+"]", d.Stds[f], fx.Stds[f], rel)
				assertClose(t, "mins["+names[f]+"]", d.Mins[f], fx.Mins[f], rel)
				assertClose(t, "maxs["+names[f]+"]", d.Maxs[f], fx.Maxs[f], rel)
				if !slices.Equal(d.Names[f], fx.Names[f]) {
					t.Errorf("names[%d] = %q, want %q", f, d.Names[f], fx.Names[f])
				}
			}
			for i, want := range fx.BinsFirst50Rows {
				for f, w := range want {
					if got := d.Bin(f, data[i][f]); got != w {
						t.Errorf("bin of row %d feature %d = %d, want %d", i, f, got, w)
					}
				}
			}
			for f, want := range fx.BinCounts {
				got := make([]int, len(d.Boundaries[f])+1)
				for _, row := range data {
					got[d.Bin(f, row[f])]++
				}
				if !slices.Equal(got, want) {
					t.Errorf("bin counts of feature %d = %v, want %v", f, got, want)
				}
			}
			for f, want := range fx.Instance0Bins {
				if got := d.Bin(f, data[0][f]); got != want {
					t.Errorf("instance 0 bin of feature %d = %d, want %d", f, got, want)
				}
			}

			s, err := StatsFromData(data, names, nil, tc.kind)
			if err != nil {
				t.Fatal(err)
			}
			for f := range 30 {
				// lime keeps only the bins it saw; every other bin must be 0.
				want := make([]float64, len(d.Boundaries[f])+1)
				for j, v := range fx.FeatureValues[f] {
					want[v] = fx.FeatureFrequences[f][j]
				}
				assertClose(t, "bin frequencies", s.BinFrequencies[f], want, rel)
			}
			tab := Tabular{Stats: s}
			if got := tab.Describe(data[0], names, nil); !slices.Equal(got, fx.Instance0Names) {
				t.Errorf("Describe(row 0) =\n%q\nwant\n%q", got, fx.Instance0Names)
			}
			// Without Names (a client's statistics) Describe formats the same labels.
			s.Discretizer.Names = nil
			if got := tab.Describe(data[0], names, nil); !slices.Equal(got, fx.Instance0Names) {
				t.Errorf("Describe(row 0) without Names =\n%q\nwant\n%q", got, fx.Instance0Names)
			}
		})
	}
}

// TestDiscretizerExactness goes beyond the fixture's 1e-12: replicating
// numpy's percentile arithmetic and pairwise summation (without fused
// multiply-adds) makes the statistics bit-identical, and a change of
// summation order would show here first.
// Quartile bins hold ~142 values (numpy's recursive split), decile bins ~57
// (one 8-lane block).
func TestDiscretizerExactness(t *testing.T) {
	data, names := breastCancer(t)
	for _, tc := range []struct {
		file    string
		newDisc func([][]float64, []string, []int) (*Discretizer, error)
	}{
		{"testdata/discretizer_quartile.json", NewQuartileDiscretizer},
		{"testdata/discretizer_decile.json", NewDecileDiscretizer},
	} {
		var fx discretizerFixture
		readJSON(t, tc.file, &fx)
		d, err := tc.newDisc(data, names, nil)
		if err != nil {
			t.Fatal(err)
		}
		inexact := 0
		for f := range 30 {
			for b := range fx.Means[f] {
				if d.Means[f][b] != fx.Means[f][b] || d.Stds[f][b] != fx.Stds[f][b] {
					inexact++
				}
			}
			for b := range fx.Boundaries[f] {
				if d.Boundaries[f][b] != fx.Boundaries[f][b] {
					inexact++
				}
			}
		}
		if inexact > 0 {
			t.Errorf("%s: %d statistics differ from numpy's in the last bits", tc.file, inexact)
		}
	}
}

func TestDiscretizerCategoricalAndConstant(t *testing.T) {
	// Column 0 is constant, column 1 categorical, column 2 has a mass at its
	// minimum so the 25th percentile equals the minimum.
	data := [][]float64{
		{5, 0, 0}, {5, 1, 0}, {5, 2, 0}, {5, 1, 0}, {5, 0, 1}, {5, 1, 2}, {5, 2, 3}, {5, 1, 4},
	}
	d, err := NewQuartileDiscretizer(data, []string{"c", "k", "z"}, []int{1})
	if err != nil {
		t.Fatal(err)
	}
	if d.Discretized(1) || d.Bin(1, 1) != -1 || d.Boundaries[1] != nil || d.Names[1] != nil {
		t.Errorf("categorical feature 1 was discretized: %+v", d)
	}
	if d.Bin(-1, 0) != -1 || d.Bin(3, 0) != -1 {
		t.Errorf("out-of-range feature did not give -1")
	}
	// A constant column has one boundary, two bins, the upper one empty
	// (lime: mean 0, std 1e-11).
	if want := []float64{5}; !slices.Equal(d.Boundaries[0], want) {
		t.Errorf("constant boundaries = %v, want %v", d.Boundaries[0], want)
	}
	if want := []float64{5, 0}; !slices.Equal(d.Means[0], want) {
		t.Errorf("constant means = %v, want %v", d.Means[0], want)
	}
	if want := []float64{stdFloor, stdFloor}; !slices.Equal(d.Stds[0], want) {
		t.Errorf("constant stds = %v, want %v", d.Stds[0], want)
	}
	if want := []string{"c <= 5.00", "c > 5.00"}; !slices.Equal(d.Names[0], want) {
		t.Errorf("constant names = %q, want %q", d.Names[0], want)
	}
	// Column 2 sorted: 0 0 0 0 1 2 3 4; percentiles at 1.75, 3.5, 5.25:
	// 0, 0.5, 2.25 → bins {0,0,0,0}, {}, {1, 2}, {3, 4}.
	if want := []float64{0, 0.5, 2.25}; !slices.Equal(d.Boundaries[2], want) {
		t.Errorf("boundaries = %v, want %v", d.Boundaries[2], want)
	}
	if want := []float64{0, 0, 0.5, 2.25}; !slices.Equal(d.Mins[2], want) {
		t.Errorf("mins = %v, want %v", d.Mins[2], want)
	}
	if want := []float64{0, 0.5, 2.25, 4}; !slices.Equal(d.Maxs[2], want) {
		t.Errorf("maxs = %v, want %v", d.Maxs[2], want)
	}
	if want := []float64{0, 0, 1.5, 3.5}; !slices.Equal(d.Means[2], want) {
		t.Errorf("means = %v, want %v", d.Means[2], want)
	}
	if want := []float64{stdFloor, stdFloor, 0.5 + stdFloor, 0.5 + stdFloor}; !slices.Equal(d.Stds[2], want) {
		t.Errorf("stds = %v, want %v", d.Stds[2], want)
	}
}

func TestBinSearchSortedLeft(t *testing.T) {
	d := &Discretizer{Boundaries: [][]float64{{1, 2, 3}}}
	many := make([]float64, 40) // longer than the linear-scan cut-off
	for i := range many {
		many[i] = float64(i)
	}
	d.Boundaries = append(d.Boundaries, many)
	for _, tc := range []struct {
		f    int
		v    float64
		want int
	}{
		{0, 0.5, 0}, {0, 1, 0}, {0, 1.5, 1}, {0, 2, 1}, {0, 3, 2}, {0, 3.5, 3}, {0, math.Inf(-1), 0},
		{0, math.Inf(1), 3}, {0, math.NaN(), 3},
		{1, -1, 0}, {1, 0, 0}, {1, 0.5, 1}, {1, 39, 39}, {1, 39.5, 40}, {1, 17, 17},
	} {
		if got := d.Bin(tc.f, tc.v); got != tc.want {
			t.Errorf("Bin(%d, %v) = %d, want %d", tc.f, tc.v, got, tc.want)
		}
	}
}

func TestPercentileSorted(t *testing.T) {
	x := []float64{1, 2, 3, 4, 10}
	for _, tc := range []struct{ pc, want float64 }{
		// np.percentile([1, 2, 3, 4, 10], q)
		{0, 1}, {25, 2}, {50, 3}, {75, 4}, {90, 7.6000000000000005}, {100, 10}, {10, 1.4},
	} {
		if got := percentileSorted(x, tc.pc); got != tc.want {
			t.Errorf("percentile %v = %v, want %v", tc.pc, got, tc.want)
		}
	}
	// numpy's _lerp interpolates from the nearer end, b − (b−a)(1−t) when
	// t ≥ 0.5: np.percentile([0, 4.5], 60) is 4.5 − 4.5·0.4 = 2.7, where
	// a + (b−a)·t would give 4.5·0.6 = 2.6999999999999997.
	if got, want := percentileSorted([]float64{0, 4.5}, 60), 2.7; got != want {
		t.Errorf("percentile 60 = %v, want %v", got, want)
	}
	if got := percentileSorted([]float64{7}, 50); got != 7 {
		t.Errorf("single value percentile = %v", got)
	}
}

func TestPairwiseSum(t *testing.T) {
	// Small integers sum exactly in any order, for every code path
	// (n < 8, one block of ≤ 128, recursive halves).
	for _, n := range []int{0, 1, 7, 8, 9, 127, 128, 129, 300, 1000} {
		x := make([]float64, n)
		want := 0.0
		for i := range x {
			x[i] = float64(i % 17)
			want += x[i]
		}
		if got := pairwiseSum(x); got != want {
			t.Errorf("n=%d: pairwiseSum = %v, want %v", n, got, want)
		}
	}
	// Order matters: with 2^53 < 1e16 < 2^54 the spacing is 2, so 1e16+1
	// rounds back to 1e16 (ties to even). Below 8 values numpy adds in
	// sequence and loses every 1; from 8 values the ones meet in separate
	// lanes first: ((1e16+1)+(1+1)) + ((1+1)+(1+1)) = 1e16+6, then + 1 ties
	// to even at 1e16+8.
	for _, tc := range []struct {
		n    int
		want float64
	}{{7, 1e16}, {9, 1e16 + 8}} {
		x := make([]float64, tc.n)
		x[0] = 1e16
		for i := 1; i < tc.n; i++ {
			x[i] = 1
		}
		if got := pairwiseSum(x); got != tc.want {
			t.Errorf("n=%d: pairwiseSum = %v, want %v", tc.n, got, tc.want)
		}
	}
}
