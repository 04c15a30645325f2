package sampler

import (
	"math"
	"slices"
	"strings"
	"testing"
)

// limeHead is testdata/lime_neighborhood_head.json, an excerpt of the lime
// tabular fixtures (see its description).
type limeHead struct {
	Instance             []float64   `json:"instance"`
	ScalerMean           []float64   `json:"lime_scaler_mean"`
	ScalerScale          []float64   `json:"lime_scaler_scale"`
	ContinuousInverse    [][]float64 `json:"continuous_inverse_first_20_rows"`
	ContinuousScaled     [][]float64 `json:"continuous_scaled_first_20_rows"`
	QuartileInverse      [][]float64 `json:"quartile_inverse_first_20_rows"`
	QuartileBinary       [][]int     `json:"quartile_binary_first_20_rows"`
	InstanceQuartileBins []int       `json:"instance_quartile_bins"`
}

func TestStatsFromDataMatchesLimeScaler(t *testing.T) {
	data, names := breastCancer(t)
	var fx limeHead
	readJSON(t, "testdata/lime_neighborhood_head.json", &fx)
	if !slices.Equal(data[0], fx.Instance) {
		t.Fatalf("CSV row 0 differs from the fixture's instance")
	}
	s, err := StatsFromData(data, names, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	// Relative 1e-12, the fixture tolerance. The sums also run in numpy's
	// order (row by row for an axis-0 reduction) with no fused
	// multiply-adds, so the values are in fact identical: that is checked
	// too, to catch a change of summation order.
	assertClose(t, "means", s.Means, fx.ScalerMean, 1e-12)
	assertClose(t, "stds", s.Stds, fx.ScalerScale, 1e-12)
	if !slices.Equal(s.Means, fx.ScalerMean) || !slices.Equal(s.Stds, fx.ScalerScale) {
		t.Errorf("scaler statistics agree to 1e-12 but not bit for bit")
	}
	if s.Discretizer != nil || s.BinFrequencies != nil || len(s.Categorical) != 0 {
		t.Errorf("continuous stats carry discretizer or categorical data: %+v", s)
	}
	// lime's scaled rows are (inverse − mean)/scale, the formula Sample uses
	// for its Interpretable matrix (TestSampleContinuous checks Sample
	// applies it bit for bit).
	for i, row := range fx.ContinuousInverse {
		for f, x := range row {
			if got, want := (x-s.Means[f])/s.Stds[f], fx.ContinuousScaled[i][f]; !closeTo(got, want, 1e-12) {
				t.Errorf("scaled[%d][%d] = %v, want %v", i, f, got, want)
			}
		}
	}
}

// TestLimeQuartileNeighbourhood checks the binary semantics on lime's own
// samples: a raw value's bin equals the instance's bin exactly where lime
// wrote 1, and lime's raw values lie in their bin's [min, max].
func TestLimeQuartileNeighbourhood(t *testing.T) {
	data, names := breastCancer(t)
	var fx limeHead
	readJSON(t, "testdata/lime_neighborhood_head.json", &fx)
	s, err := StatsFromData(data, names, nil, "quartile")
	if err != nil {
		t.Fatal(err)
	}
	d := s.Discretizer
	for f, want := range fx.InstanceQuartileBins {
		if got := d.Bin(f, fx.Instance[f]); got != want {
			t.Errorf("instance bin of feature %d = %d, want %d", f, got, want)
		}
	}
	for i, row := range fx.QuartileInverse {
		for f, x := range row {
			b := d.Bin(f, x)
			same := 0
			if b == fx.InstanceQuartileBins[f] {
				same = 1
			}
			if same != fx.QuartileBinary[i][f] {
				t.Errorf("row %d feature %d: bin %d gives %d, lime wrote %d", i, f, b, same, fx.QuartileBinary[i][f])
			}
			if x < d.Mins[f][b] || x > d.Maxs[f][b] {
				t.Errorf("row %d feature %d: lime's value is outside its bin", i, f)
			}
		}
	}
}

func TestStatsFromDataCategorical(t *testing.T) {
	// Feature 1 takes 2 (×5), 0 (×3) and 7 (×2); feature 2 is constant.
	data := [][]float64{
		{1.5, 2, 4}, {2.5, 0, 4}, {0.5, 2, 4}, {3, 7, 4}, {1, 2, 4},
		{2, 0, 4}, {4, 2, 4}, {3.5, 7, 4}, {0, 2, 4}, {1, 0, 4},
	}
	for _, disc := range []string{"", "quartile", "decile"} {
		t.Run("discretizer="+disc, func(t *testing.T) {
			s, err := StatsFromData(data, nil, []int{1}, disc)
			if err != nil {
				t.Fatal(err)
			}
			fr, ok := s.Categorical[1]
			if !ok || len(s.Categorical) != 1 {
				t.Fatalf("categorical = %+v, want feature 1 only", s.Categorical)
			}
			if want := []float64{0, 2, 7}; !slices.Equal(fr.Values, want) {
				t.Errorf("values = %v, want %v", fr.Values, want)
			}
			if want := []float64{0.3, 0.5, 0.2}; !slices.Equal(fr.Freqs, want) {
				t.Errorf("freqs = %v, want %v", fr.Freqs, want)
			}
			// lime: categorical features get scaler mean 0 and scale 1; a
			// constant column gets scale 1 (scikit-learn's zero-variance rule).
			if s.Means[1] != 0 || s.Stds[1] != 1 {
				t.Errorf("categorical scaler = %v, %v, want 0, 1", s.Means[1], s.Stds[1])
			}
			if s.Means[2] != 4 || s.Stds[2] != 1 {
				t.Errorf("constant scaler = %v, %v, want 4, 1", s.Means[2], s.Stds[2])
			}
			if m, sd := meanStd(column(data, 0)); !closeTo(s.Means[0], m, 1e-15) || !closeTo(s.Stds[0], sd, 1e-15) {
				t.Errorf("scaler of feature 0 = %v, %v, want %v, %v", s.Means[0], s.Stds[0], m, sd)
			}
			if err := s.Validate(3); err != nil {
				t.Errorf("Validate: %v", err)
			}
			if disc == "" {
				return
			}
			if s.Discretizer.Discretized(1) || s.BinFrequencies[1] != nil {
				t.Errorf("categorical feature 1 was discretized")
			}
			for _, f := range []int{0, 2} {
				want := make([]float64, len(s.Discretizer.Boundaries[f])+1)
				for _, row := range data {
					want[s.Discretizer.Bin(f, row[f])] += 0.1
				}
				assertClose(t, "bin frequencies", s.BinFrequencies[f], want, 1e-15)
			}
		})
	}
}

// TestScalerCorrectedTwoPass uses a column whose mean rounds (1e12 + 7/3
// is not representable): the plain Σ(x − mean)²/n is then biased by the
// rounding error δ (n·δ², relative ~1e-9 here), which scikit-learn's
// correction term (Σ(x − mean))²/n removes.
func TestScalerCorrectedTwoPass(t *testing.T) {
	data := [][]float64{{1e12 + 1, 0.1}, {1e12 + 2, 0.1}, {1e12 + 4, 0.1}}
	s, err := StatsFromData(data, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	// Population variance of {1, 2, 4} is 14/9. Relative 1e-12: the
	// corrected result is good to a few ulps of the 4.67 sum of squares.
	if want := math.Sqrt(14.0 / 9); !closeTo(s.Stds[0], want, 1e-12) {
		t.Errorf("std = %v, want %v", s.Stds[0], want)
	}
	// A constant column has variance 0 (or rounding noise below
	// scikit-learn's bound): scale 1.
	if s.Stds[1] != 1 {
		t.Errorf("constant column std = %v, want 1", s.Stds[1])
	}
}

func TestStatsFromDataErrors(t *testing.T) {
	good := [][]float64{{1, 2}, {3, 4}}
	for _, tc := range []struct {
		name        string
		data        [][]float64
		names       []string
		categorical []int
		disc        string
		want        string
	}{
		{"no rows", nil, nil, nil, "", "sampler: data has no rows"},
		{"no features", [][]float64{{}}, nil, nil, "", "sampler: data row 0 has no features"},
		{"ragged", [][]float64{{1, 2}, {3}}, nil, nil, "", "sampler: data row 1 has 1 features, row 0 has 2"},
		{"nan", [][]float64{{1, 2}, {3, math.NaN()}}, nil, nil, "quartile", "sampler: data row 1 feature 1 is not finite"},
		{"inf", [][]float64{{math.Inf(1), 2}}, nil, nil, "", "sampler: data row 0 feature 0 is not finite"},
		{"names", good, []string{"a"}, nil, "", "sampler: feature names has 1 entries, want 2"},
		{"categorical range", good, nil, []int{2}, "", "sampler: categorical[0] is feature 2, want 0 to 1"},
		{"categorical negative", good, nil, []int{0, -1}, "decile", "sampler: categorical[1] is feature -1, want 0 to 1"},
		{"categorical repeat", good, nil, []int{1, 1}, "", "sampler: categorical[1] repeats feature 1"},
		{"discretizer", good, nil, nil, "entropy", `sampler: unknown discretizer "entropy", want "", "quartile" or "decile"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := StatsFromData(tc.data, tc.names, tc.categorical, tc.disc)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error = %v, want %q", err, tc.want)
			}
			if s != nil {
				t.Errorf("stats returned with an error")
			}
		})
	}
	if _, err := NewQuartileDiscretizer(nil, nil, nil); err == nil {
		t.Errorf("NewQuartileDiscretizer(nil) did not fail")
	}
}

// validStats returns discretized stats with one categorical feature (0) and
// two quartile-binned features, and continuous stats for the same data.
func validStats(t *testing.T) (disc, cont *Stats) {
	t.Helper()
	data := make([][]float64, 40)
	for i := range data {
		data[i] = []float64{float64(i % 3), float64(i), float64(i*i%11) + 0.5}
	}
	var err error
	if disc, err = StatsFromData(data, []string{"k", "x", "y"}, []int{0}, "quartile"); err != nil {
		t.Fatal(err)
	}
	if cont, err = StatsFromData(data, []string{"k", "x", "y"}, []int{0}, ""); err != nil {
		t.Fatal(err)
	}
	return disc, cont
}

func TestValidate(t *testing.T) {
	const secret = -123.456 // a "data value" that must never reach a message
	for _, tc := range []struct {
		name   string
		disc   bool // start from the discretized stats
		p      int
		mutate func(s *Stats)
		want   string // "" means valid
	}{
		{"continuous ok", false, 3, func(*Stats) {}, ""},
		{"discretized ok", true, 3, func(*Stats) {}, ""},
		{"discretized without scaler", true, 3, func(s *Stats) { s.Means, s.Stds = nil, nil }, ""},
		{"discretized without names", true, 3, func(s *Stats) { s.Discretizer.Names = nil }, ""},
		{"zero features", false, 0, func(*Stats) {}, "sampler: number of features is 0, want at least 1"},
		{"short stds", false, 3, func(s *Stats) { s.Stds = s.Stds[:2] }, "sampler: stds has 2 values, want 3"},
		{"wrong p", false, 4, func(*Stats) {}, "sampler: means has 3 values, want 4"},
		{"no scaler", false, 3, func(s *Stats) { s.Means = nil }, "sampler: means has 0 values, want 3"},
		{"negative std", false, 3, func(s *Stats) { s.Stds[2] = secret }, "sampler: stds[2] is negative"},
		{"zero std", false, 3, func(s *Stats) { s.Stds[1] = 0 }, "sampler: stds[1] is zero"},
		{"nan mean", false, 3, func(s *Stats) { s.Means[1] = math.NaN() }, "sampler: means[1] is not finite"},
		{"inf std", true, 3, func(s *Stats) { s.Stds[1] = math.Inf(1) }, "sampler: stds[1] is not finite"},
		{"categorical range", false, 3, func(s *Stats) { s.Categorical[3] = s.Categorical[0] }, "sampler: categorical feature 3 is out of range [0, 3)"},
		{"categorical empty", false, 3, func(s *Stats) { s.Categorical[0] = Frequencies{} }, "sampler: categorical[0] has no values"},
		{"categorical lengths", false, 3, func(s *Stats) {
			s.Categorical[0] = Frequencies{Values: []float64{0, 1}, Freqs: []float64{1}}
		}, "sampler: categorical[0] has 1 frequencies for 2 values"},
		{"categorical unsorted", false, 3, func(s *Stats) {
			s.Categorical[0] = Frequencies{Values: []float64{1, secret}, Freqs: []float64{0.5, 0.5}}
		}, "sampler: categorical[0].values[1] is not above values[0]; values must be sorted and distinct"},
		{"categorical nan value", false, 3, func(s *Stats) {
			s.Categorical[0] = Frequencies{Values: []float64{math.NaN()}, Freqs: []float64{1}}
		}, "sampler: categorical[0].values[0] is not finite"},
		{"categorical negative freq", false, 3, func(s *Stats) {
			s.Categorical[0] = Frequencies{Values: []float64{0, 1}, Freqs: []float64{1.5, -0.5}}
		}, "sampler: categorical[0].freqs[1] is negative"},
		{"categorical sum", false, 3, func(s *Stats) {
			s.Categorical[0] = Frequencies{Values: []float64{0, 1}, Freqs: []float64{0.5, 0.4}}
		}, "sampler: categorical[0].freqs do not sum to 1"},
		{"categorical counts", false, 3, func(s *Stats) {
			s.Categorical[0] = Frequencies{Values: []float64{0, 1}, Freqs: []float64{3, 7}}
		}, "sampler: categorical[0].freqs do not sum to 1"},
		{"categorical and discretized", true, 3, func(s *Stats) { s.Categorical[1] = s.Categorical[0] }, "sampler: feature 1 is both categorical and discretized"},
		{"bin frequencies without discretizer", false, 3, func(s *Stats) { s.BinFrequencies = [][]float64{nil, {1}, nil} }, "sampler: bin frequencies are set without a discretizer"},
		{"boundaries length", true, 3, func(s *Stats) { s.Discretizer.Boundaries = s.Discretizer.Boundaries[:2] }, "sampler: discretizer boundaries has 2 features, want 3"},
		{"bin stds length", true, 3, func(s *Stats) { s.Discretizer.Stds = s.Discretizer.Stds[:1] }, "sampler: discretizer stds has 1 features, want 3"},
		{"bin frequencies length", true, 3, func(s *Stats) { s.BinFrequencies = nil }, "sampler: discretizer bin frequencies has 0 features, want 3"},
		{"names length", true, 3, func(s *Stats) { s.Discretizer.Names = s.Discretizer.Names[:1] }, "sampler: discretizer names has 1 features, want 3"},
		{"neither", true, 3, func(s *Stats) { delete(s.Categorical, 0) }, "sampler: feature 0 is neither discretized nor categorical"},
		{"stats without boundaries", true, 3, func(s *Stats) { s.BinFrequencies[0] = []float64{1} }, "sampler: feature 0 has bin statistics but no boundaries"},
		{"boundary nan", true, 3, func(s *Stats) { s.Discretizer.Boundaries[1][0] = math.NaN() }, "sampler: boundaries[1][0] is not finite"},
		{"boundaries unsorted", true, 3, func(s *Stats) { s.Discretizer.Boundaries[2][1] = s.Discretizer.Boundaries[2][0] }, "sampler: boundaries[2][1] is not above boundaries[2][0]; boundaries must be sorted and distinct"},
		{"bin means length", true, 3, func(s *Stats) { s.Discretizer.Means[1] = s.Discretizer.Means[1][:2] }, "sampler: bin means[1] has 2 values, want 4"},
		{"bin std negative", true, 3, func(s *Stats) { s.Discretizer.Stds[2][3] = secret }, "sampler: bin stds[2][3] is negative"},
		{"bin std zero", true, 3, func(s *Stats) { s.Discretizer.Stds[2][0] = 0 }, "sampler: bin stds[2][0] is zero"},
		{"bin max inf", true, 3, func(s *Stats) { s.Discretizer.Maxs[1][3] = math.Inf(1) }, "sampler: bin maxs[1][3] is not finite"},
		{"bin min above max", true, 3, func(s *Stats) { s.Discretizer.Mins[1][2] = s.Discretizer.Maxs[1][2] + 1 }, "sampler: bin mins[1][2] is above bin maxs[1][2]"},
		{"bin names length", true, 3, func(s *Stats) { s.Discretizer.Names[1] = s.Discretizer.Names[1][:3] }, "sampler: discretizer names[1] has 3 values, want 4"},
		{"bin freqs length", true, 3, func(s *Stats) { s.BinFrequencies[2] = s.BinFrequencies[2][:3] }, "sampler: bin frequencies[2] has 3 values, want 4"},
		{"bin freqs sum", true, 3, func(s *Stats) { s.BinFrequencies[2][0] += 0.01 }, "sampler: bin frequencies[2] do not sum to 1"},
		{"bin freqs negative", true, 3, func(s *Stats) { s.BinFrequencies[1][1] = secret }, "sampler: bin frequencies[1][1] is negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			disc, cont := validStats(t)
			s := cont
			if tc.disc {
				s = disc
			}
			tc.mutate(s)
			err := s.Validate(tc.p)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tc.want == "":
				return
			case err == nil:
				t.Fatalf("Validate succeeded, want %q", tc.want)
			case err.Error() != tc.want:
				t.Fatalf("Validate error = %q, want %q", err, tc.want)
			case strings.Contains(err.Error(), "123"):
				t.Fatalf("error %q echoes a value", err)
			}
		})
	}
	var nilStats *Stats
	if err := nilStats.Validate(3); err == nil || err.Error() != "sampler: stats are nil" {
		t.Errorf("nil stats: %v", err)
	}
}
