package explain

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// fitFixture is a lime/fit_*.json file: lime's LimeBase fit on a captured
// neighbourhood, for a grid of labels, feature counts and selections.
type fitFixture struct {
	N           int     `json:"n"`
	P           int     `json:"p"`
	KernelWidth float64 `json:"kernel_width"`
	Inputs      struct {
		NeighborhoodData   [][]float64 `json:"neighborhood_data"`
		NeighborhoodLabels [][]float64 `json:"neighborhood_labels"`
		Distances          []float64   `json:"distances"`
	} `json:"inputs"`
	KernelWeights []float64 `json:"kernel_weights"`
	Cases         []struct {
		Label            int    `json:"label"`
		NumFeatures      int    `json:"num_features"`
		FeatureSelection string `json:"feature_selection"`
		Resolved         string `json:"resolved_feature_selection"`
		Expected         struct {
			UsedFeatures []int       `json:"used_features"`
			Intercept    float64     `json:"intercept"`
			Exp          [][]float64 `json:"exp"` // [feature, coefficient]
			Score        float64     `json:"score"`
			LocalPred    float64     `json:"local_pred"`
			LarsPath     *struct {
				Alphas      []float64   `json:"alphas"`
				CoefsByStep [][]float64 `json:"coefs_by_step"`
			} `json:"lars_path"`
		} `json:"expected"`
	} `json:"cases"`
}

var fitFixtureNames = []string{"tabular_continuous", "tabular_quartile", "text", "image"}

var (
	fixtureOnce  sync.Once
	fixtureCache map[string]*fitFixture
	fixtureErr   error
)

func loadFitFixtures(t testing.TB) map[string]*fitFixture {
	t.Helper()
	fixtureOnce.Do(func() {
		fixtureCache = map[string]*fitFixture{}
		for _, name := range fitFixtureNames {
			b, err := os.ReadFile(filepath.Join("testdata", "fit_"+name+".json"))
			if err != nil {
				fixtureErr = err
				return
			}
			var f fitFixture
			if err := json.Unmarshal(b, &f); err != nil {
				fixtureErr = fmt.Errorf("%s: %w", name, err)
				return
			}
			fixtureCache[name] = &f
		}
	})
	if fixtureErr != nil {
		t.Fatal(fixtureErr)
	}
	return fixtureCache
}

func column(rows [][]float64, j int) []float64 {
	out := make([]float64, len(rows))
	for i, r := range rows {
		out[i] = r[j]
	}
	return out
}

// tolerance tracks |got − want| ≤ rel·|want| + abs and the worst case seen.
type tolerance struct {
	rel, abs float64
	worstRel float64 // worst |got−want|/|want| over |want| > 1e-6
	worstUse float64 // worst |got−want| / (rel·|want| + abs)
	checked  int
}

func (tol *tolerance) check(t *testing.T, what string, got, want float64) {
	t.Helper()
	tol.checked++
	d := math.Abs(got - want)
	bound := tol.rel*math.Abs(want) + tol.abs
	tol.worstUse = math.Max(tol.worstUse, d/bound)
	if math.Abs(want) > 1e-6 {
		tol.worstRel = math.Max(tol.worstRel, d/math.Abs(want))
	}
	if !(d <= bound) {
		t.Errorf("%s = %.17g, want %.17g (diff %.3g, bound %.3g)", what, got, want, d, bound)
	}
}

// TestFitSurrogateFixtures checks every case of every lime fit fixture:
// used features and the exp order exactly, the numbers to relative 1e-9
// (absolute 1e-12), and for lasso_path the LARS path.
func TestFitSurrogateFixtures(t *testing.T) {
	fx := loadFitFixtures(t)
	tol := &tolerance{rel: 1e-9, abs: 1e-12}
	pathTol := &tolerance{rel: 1e-9, abs: 1e-12}
	cases := 0
	for _, name := range fitFixtureNames {
		f := fx[name]
		data := f.Inputs.NeighborhoodData
		if len(data) != f.N || len(data[0]) != f.P {
			t.Fatalf("%s: data is %d×%d, fixture says %d×%d", name, len(data), len(data[0]), f.N, f.P)
		}
		weights := KernelWeights(nil, f.Inputs.Distances, f.KernelWidth)
		nb, err := NewNeighborhood(data, weights)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range f.Cases {
			cname := fmt.Sprintf("%s/label%d_k%d_%s", name, c.Label, c.NumFeatures, c.FeatureSelection)
			t.Run(cname, func(t *testing.T) {
				cases++
				sel, err := ParseFeatureSelection(c.FeatureSelection)
				if err != nil {
					t.Fatal(err)
				}
				target := column(f.Inputs.NeighborhoodLabels, c.Label)
				s, err := FitSurrogate(data, target, weights, c.NumFeatures, sel, SurrogateConfig{})
				if err != nil {
					t.Fatal(err)
				}
				want := c.Expected
				if !slices.Equal(s.Features, want.UsedFeatures) {
					t.Fatalf("used features %v, want %v", s.Features, want.UsedFeatures)
				}
				if s.Selection.String() != c.Resolved {
					t.Errorf("selection %s, want %s", s.Selection, c.Resolved)
				}
				ranked := s.Ranked()
				if len(ranked) != len(want.Exp) {
					t.Fatalf("%d ranked features, want %d", len(ranked), len(want.Exp))
				}
				for i, fw := range ranked {
					if fw.Feature != int(want.Exp[i][0]) {
						t.Fatalf("ranked[%d] is feature %d, want %v", i, fw.Feature, want.Exp[i][0])
					}
					tol.check(t, fmt.Sprintf("coef of feature %d", fw.Feature), fw.Weight, want.Exp[i][1])
				}
				tol.check(t, "intercept", s.Intercept, want.Intercept)
				tol.check(t, "score", s.Score, want.Score)
				tol.check(t, "local_pred", s.LocalPred, want.LocalPred)

				// The shared-neighbourhood path gives the same fit.
				s2, err := nb.Fit(target, c.NumFeatures, sel, SurrogateConfig{})
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(s2.Features, s.Features) || !slices.Equal(s2.Coef, s.Coef) || s2.Score != s.Score {
					t.Errorf("Neighborhood.Fit differs from FitSurrogate")
				}

				if lp := want.LarsPath; lp != nil {
					checkPath := func(how string, alphas []float64, coefs [][]float64) {
						t.Helper()
						if len(alphas) != len(lp.Alphas) || len(coefs) != len(lp.CoefsByStep) {
							t.Fatalf("%s: %d alphas, %d steps; want %d, %d", how, len(alphas), len(coefs), len(lp.Alphas), len(lp.CoefsByStep))
						}
						for k := range alphas {
							pathTol.check(t, fmt.Sprintf("%s: alpha[%d]", how, k), alphas[k], lp.Alphas[k])
							for j := range coefs[k] {
								pathTol.check(t, fmt.Sprintf("%s: coef[%d][%d]", how, k, j), coefs[k][j], lp.CoefsByStep[k][j])
							}
						}
					}
					x, y := limeLassoInput(data, target, weights)
					alphas, coefs, err := LassoPath(x, y)
					if err != nil {
						t.Fatal(err)
					}
					checkPath("LassoPath", alphas, coefs)
					alphas, coefs, err = nb.LassoPath(target)
					if err != nil {
						t.Fatal(err)
					}
					checkPath("Neighborhood.LassoPath", alphas, coefs)
				}
			})
		}
	}
	t.Logf("%d fixture cases; fit values: %d checked, worst relative error %.3g, worst share of tolerance %.3g",
		cases, tol.checked, tol.worstRel, tol.worstUse)
	t.Logf("lars paths: %d values checked, worst relative error %.3g, worst share of tolerance %.3g",
		pathTol.checked, pathTol.worstRel, pathTol.worstUse)
}

// limeLassoInput builds lime's lasso_path input the way lime does:
// (data − average(data, weights)) · sqrt(weights), and the same for labels.
func limeLassoInput(data [][]float64, target, weights []float64) ([][]float64, []float64) {
	p := len(data[0])
	mean := make([]float64, p)
	var ym, wsum float64
	for i, row := range data {
		for j, v := range row {
			mean[j] += weights[i] * v
		}
		ym += weights[i] * target[i]
		wsum += weights[i]
	}
	for j := range mean {
		mean[j] /= wsum
	}
	ym /= wsum
	x := make([][]float64, len(data))
	y := make([]float64, len(data))
	for i, row := range data {
		sw := math.Sqrt(weights[i])
		x[i] = make([]float64, p)
		for j, v := range row {
			x[i][j] = (v - mean[j]) * sw
		}
		y[i] = (target[i] - ym) * sw
	}
	return x, y
}

func TestParseFeatureSelection(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want FeatureSelection
	}{
		{"auto", SelectAuto},
		{"none", SelectNone},
		{"highest_weights", SelectHighestWeights},
		{"forward_selection", SelectForward},
		{"lasso_path", SelectLassoPath},
	} {
		got, err := ParseFeatureSelection(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseFeatureSelection(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if got.String() != tc.in {
			t.Errorf("%v.String() = %q, want %q", got, got.String(), tc.in)
		}
	}
	for _, bad := range []string{"", "Auto", "forward", "lasso"} {
		if _, err := ParseFeatureSelection(bad); !errors.Is(err, ErrSurrogateInput) {
			t.Errorf("ParseFeatureSelection(%q) error = %v, want ErrSurrogateInput", bad, err)
		}
	}
	if s := FeatureSelection(42).String(); s != "FeatureSelection(42)" {
		t.Errorf("String() = %q", s)
	}
}

func TestRanked(t *testing.T) {
	s := Surrogate{Features: []int{7, 3, 5, 1}, Coef: []float64{0.5, -2, -0.5, 1}}
	got := s.Ranked()
	want := []FeatureWeight{{3, -2}, {1, 1}, {7, 0.5}, {5, -0.5}} // ties keep Features order
	if !slices.Equal(got, want) {
		t.Errorf("Ranked() = %v, want %v", got, want)
	}
}

// randomProblem returns n×p data with row 0 the instance, a target linear
// in the data plus noise, and kernel-like weights.
func randomProblem(seed uint64, n, p int, binary bool) (data [][]float64, target, weights []float64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	data = make([][]float64, n)
	target = make([]float64, n)
	weights = make([]float64, n)
	beta := make([]float64, p)
	for j := range beta {
		beta[j] = rng.NormFloat64() / float64(j+1)
	}
	for i := range data {
		row := make([]float64, p)
		var f float64
		for j := range row {
			switch {
			case i == 0 && binary:
				row[j] = 1
			case binary:
				row[j] = float64(rng.IntN(2))
			default:
				row[j] = rng.NormFloat64()
			}
			f += beta[j] * row[j]
		}
		data[i] = row
		var d2 float64
		for j, v := range row {
			d2 += (v - data[0][j]) * (v - data[0][j])
		}
		target[i] = 1 / (1 + math.Exp(-f-0.1*rng.NormFloat64()))
		weights[i] = math.Sqrt(math.Exp(-d2 / (0.75 * 0.75 * float64(p))))
	}
	return data, target, weights
}

func TestFitSurrogateDoesNotModifyInputs(t *testing.T) {
	data, target, weights := randomProblem(2, 50, 6, true)
	d0 := make([][]float64, len(data))
	for i := range data {
		d0[i] = slices.Clone(data[i])
	}
	t0, w0 := slices.Clone(target), slices.Clone(weights)
	for sel := SelectAuto; sel <= SelectLassoPath; sel++ {
		if _, err := FitSurrogate(data, target, weights, 3, sel, SurrogateConfig{}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range data {
		if !slices.Equal(data[i], d0[i]) {
			t.Fatal("data modified")
		}
	}
	if !slices.Equal(target, t0) || !slices.Equal(weights, w0) {
		t.Fatal("target or weights modified")
	}
}

// Degenerate neighbourhoods must not panic: duplicated and constant
// columns, a constant target, more features than rows.
func TestFitSurrogateDegenerate(t *testing.T) {
	data, target, weights := randomProblem(3, 12, 5, true)
	dup := make([][]float64, len(data))
	for i, r := range data {
		dup[i] = append(slices.Clone(r), r[0], 1) // a copy of feature 0, a constant
	}
	constant := make([]float64, len(target))
	for i := range constant {
		constant[i] = 0.25
	}
	wide, wideT, wideW := randomProblem(4, 6, 10, false)
	for _, tc := range []struct {
		name    string
		data    [][]float64
		target  []float64
		weights []float64
	}{
		{"collinear", dup, target, weights},
		{"constant target", data, constant, weights},
		{"p > n", wide, wideT, wideW},
	} {
		for sel := SelectAuto; sel <= SelectLassoPath; sel++ {
			for _, cfg := range []SurrogateConfig{{}, {Alpha: -1}, {L1: 0.01}} {
				s, err := FitSurrogate(tc.data, tc.target, tc.weights, 4, sel, cfg)
				if err != nil {
					t.Errorf("%s %s %+v: %v", tc.name, sel, cfg, err)
					continue
				}
				for _, v := range append(slices.Clone(s.Coef), s.Intercept, s.Score, s.LocalPred) {
					if math.IsNaN(v) || math.IsInf(v, 0) {
						t.Errorf("%s %s %+v: non-finite result %+v", tc.name, sel, cfg, s)
						break
					}
				}
			}
		}
	}
}

func TestNeighborhoodConcurrentFits(t *testing.T) {
	data, target, weights := randomProblem(5, 300, 8, false)
	nb, err := NewNeighborhood(data, weights)
	if err != nil {
		t.Fatal(err)
	}
	want, err := nb.Fit(target, 3, SelectForward, SurrogateConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := nb.Fit(target, 3, SelectForward, SurrogateConfig{})
			if err != nil || !slices.Equal(got.Coef, want.Coef) {
				t.Errorf("concurrent fit differs: %v", err)
			}
		}()
	}
	wg.Wait()
}

func ExampleFitSurrogate() {
	// Four binary features; the model's output depends on features 0 and 2.
	rng := rand.New(rand.NewPCG(7, 7))
	var data [][]float64
	var target, distances []float64
	for i := range 200 {
		row := []float64{1, 1, 1, 1} // row 0 is the instance
		if i > 0 {
			for j := range row {
				row[j] = float64(rng.IntN(2))
			}
		}
		kept := row[0] + row[1] + row[2] + row[3]
		data = append(data, row)
		target = append(target, 0.1+0.5*row[0]+0.3*row[2])
		distances = append(distances, 100*(1-kept/math.Sqrt(4*kept+1e-300)))
	}
	weights := KernelWeights(nil, distances, 25)

	s, err := FitSurrogate(data, target, weights, 2, SelectForward, SurrogateConfig{})
	if err != nil {
		fmt.Println(err)
		return
	}
	// The ridge penalty (lime's α = 1) shrinks the weights a little.
	fmt.Printf("selection %s, R² %.3f\n", s.Selection, s.Score)
	for _, fw := range s.Ranked() {
		fmt.Printf("feature %d: %+.2f\n", fw.Feature, fw.Weight)
	}

	// Output:
	// selection forward_selection, R² 0.998
	// feature 0: +0.48
	// feature 2: +0.28
}

func benchmarkProblem(b *testing.B) ([][]float64, []float64, []float64) {
	b.Helper()
	data, target, weights := randomProblem(11, 5000, 30, false)
	return data, target, weights
}

// BenchmarkFitSurrogate fits lime's surrogate on a 5000×30 neighbourhood.
func BenchmarkFitSurrogate(b *testing.B) {
	data, target, weights := benchmarkProblem(b)
	for _, bc := range []struct {
		name string
		k    int
		sel  FeatureSelection
	}{
		{"auto_k10", 10, SelectAuto},
		{"none", 10, SelectNone},
		{"forward_k5", 5, SelectForward},
		{"lasso_path_k10", 10, SelectLassoPath},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := FitSurrogate(data, target, weights, bc.k, bc.sel, SurrogateConfig{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkNeighborhoodFit is the per-label cost once the neighbourhood is
// prepared, and the preparation itself.
func BenchmarkNeighborhoodFit(b *testing.B) {
	data, target, weights := benchmarkProblem(b)
	b.Run("prepare", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := NewNeighborhood(data, weights); err != nil {
				b.Fatal(err)
			}
		}
	})
	nb, err := NewNeighborhood(data, weights)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("fit_auto_k10", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := nb.Fit(target, 10, SelectAuto, SurrogateConfig{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
