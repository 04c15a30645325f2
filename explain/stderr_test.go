package explain

import (
	"context"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/explainer-sidecar/explainer/sampler"
	"gonum.org/v1/gonum/mat"
)

// denseSurrogateSE is the sandwich of Neighborhood.Fit written out with
// dense matrices on the original rows: with the weighted means z̄, f̄, the
// centred columns of the parameters par, r_i = f_i − b − gᵀz_i,
// A = Σπ_i x̃_i x̃_iᵀ + αI and M = Σπ_i² r_i² x̃_i x̃_iᵀ, it returns
// sqrt(diag(A⁻¹MA⁻¹)·n₊/(n₊ − k − 1)).
func denseSurrogateSE(data [][]float64, target, weights []float64, s Surrogate, par []int, alpha float64) []float64 {
	k := len(par)
	var wsum, fbar float64
	zbar := make([]float64, len(data[0]))
	npos := 0
	for i, row := range data {
		wsum += weights[i]
		fbar += weights[i] * target[i]
		for j, v := range row {
			zbar[j] += weights[i] * v
		}
		if weights[i] > 0 {
			npos++
		}
	}
	A := mat.NewSymDense(k, nil)
	M := mat.NewSymDense(k, nil)
	for i, row := range data {
		r := target[i] - s.Intercept
		for q, f := range s.Features {
			r -= s.Coef[q] * row[f]
		}
		x := make([]float64, k)
		for a, q := range par {
			x[a] = row[s.Features[q]] - zbar[s.Features[q]]/wsum
		}
		for a := range k {
			for b := a; b < k; b++ {
				A.SetSym(a, b, A.At(a, b)+weights[i]*x[a]*x[b])
				M.SetSym(a, b, M.At(a, b)+weights[i]*weights[i]*r*r*x[a]*x[b])
			}
		}
	}
	for a := range k {
		A.SetSym(a, a, A.At(a, a)+alpha)
	}
	var ainv mat.Dense
	if err := ainv.Inverse(A); err != nil {
		panic(err)
	}
	var cov mat.Dense
	cov.Product(&ainv, M, &ainv)
	se := make([]float64, k)
	for a := range k {
		se[a] = math.Sqrt(cov.At(a, a) * float64(npos) / float64(npos-k-1))
	}
	return se
}

// TestSurrogateStdErrMatchesDenseSandwich checks Surrogate.StdErr against
// the sandwich written out on the rows, for ridge, OLS after a selection,
// and the lasso (whose zero coefficients get 0). Tolerance 1e-9
// relative: both sides are a few hundred well-conditioned sums in a
// different order (the Gram matrix against the rows, Cholesky against LU).
func TestSurrogateStdErrMatchesDenseSandwich(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const n, p = 60, 4
	data := make([][]float64, n)
	target := make([]float64, n)
	weights := make([]float64, n)
	for i := range data {
		data[i] = make([]float64, p)
		for j := range data[i] {
			data[i][j] = rng.NormFloat64()
		}
		target[i] = 1 + 2*data[i][0] - data[i][1] + 0.3*data[i][2] + 0.5*rng.NormFloat64()*(1+math.Abs(data[i][3]))
		weights[i] = rng.Float64()
		if i%10 == 9 {
			weights[i] = 0 // not counted in n₊
		}
	}
	tests := []struct {
		name string
		k    int
		sel  FeatureSelection
		cfg  SurrogateConfig
	}{
		{"ridge all features", p, SelectNone, SurrogateConfig{Alpha: 0.7}},
		{"default ridge, highest weights", 3, SelectHighestWeights, SurrogateConfig{}},
		{"ols, forward selection", 2, SelectForward, SurrogateConfig{Alpha: -1}},
		{"lasso", p, SelectNone, SurrogateConfig{L1: 40}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := FitSurrogate(data, target, weights, tt.k, tt.sel, tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if len(s.StdErr) != len(s.Coef) {
				t.Fatalf("%d standard errors for %d coefficients", len(s.StdErr), len(s.Coef))
			}
			var par []int
			zeros := 0
			for q, c := range s.Coef {
				if tt.cfg.L1 > 0 && c == 0 {
					zeros++
					if s.StdErr[q] != 0 {
						t.Errorf("zero lasso coefficient %d has standard error %v", s.Features[q], s.StdErr[q])
					}
					continue
				}
				par = append(par, q)
			}
			if tt.cfg.L1 > 0 && (zeros == 0 || len(par) == 0) {
				t.Fatalf("lasso case should zero some coefficients but not all: %v", s.Coef)
			}
			alpha := tt.cfg.ridgeAlpha()
			if tt.cfg.L1 > 0 {
				alpha = 0
			}
			want := denseSurrogateSE(data, target, weights, s, par, alpha)
			for a, q := range par {
				if got := s.StdErr[q]; !(math.Abs(got-want[a]) <= 1e-9*want[a]) {
					t.Errorf("feature %d: standard error %v, want %v", s.Features[q], got, want[a])
				}
			}
		})
	}
}

// denseShapSE is KernelSHAP's sandwich written out: X_zj = z_j − z_M,
// y_z − z_M Δ on X with weights π, Cov = G⁻¹(Σπ_z² r_z² x_z x_zᵀ)G⁻¹·n/(n−k),
// and 1ᵀCov1 for the last player.
func denseShapSE(masks [][]bool, weights, y []float64, delta float64, phi []float64) []float64 {
	n, k := len(masks), len(masks[0])-1
	G := mat.NewSymDense(k, nil)
	M := mat.NewSymDense(k, nil)
	for z, mask := range masks {
		zm := shapBit(mask[k])
		x := make([]float64, k)
		r := y[z] - zm*delta
		for j := range k {
			x[j] = shapBit(mask[j]) - zm
			r -= x[j] * phi[j]
		}
		for a := range k {
			for b := a; b < k; b++ {
				G.SetSym(a, b, G.At(a, b)+weights[z]*x[a]*x[b])
				M.SetSym(a, b, M.At(a, b)+weights[z]*weights[z]*r*r*x[a]*x[b])
			}
		}
	}
	var ginv, cov mat.Dense
	if err := ginv.Inverse(G); err != nil {
		panic(err)
	}
	cov.Product(&ginv, M, &ginv)
	c := float64(n) / float64(n-k)
	se := make([]float64, k+1)
	var total float64
	for a := range k {
		se[a] = math.Sqrt(cov.At(a, a) * c)
		for b := range k {
			total += cov.At(a, b)
		}
	}
	se[k] = math.Sqrt(total * c)
	return se
}

// TestShapleySolverStdErrMatchesDense checks the solver's O(n·k) per label
// standard errors (through H = A G⁻¹) against the sandwich written out,
// for two labels on one solver (H is computed once and reused).
// Tolerance 1e-9 relative, as above.
func TestShapleySolverStdErrMatchesDense(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const n, m = 40, 6
	masks := make([][]bool, n)
	weights := make([]float64, n)
	for z := range masks {
		masks[z] = make([]bool, m)
		for j := range masks[z] {
			masks[z][j] = rng.IntN(2) == 1
		}
		weights[z] = 0.1 + rng.Float64()
	}
	s, _ := newShapleySolver(masks, weights, nil)
	for label := range 2 {
		y := make([]float64, n)
		for z := range y {
			y[z] = rng.NormFloat64()
		}
		delta := rng.NormFloat64()
		phi := s.solve(make([]float64, m), y, delta)
		got, _ := s.stdErrs(make([]float64, m), phi, nil)
		want := denseShapSE(masks, weights, y, delta, phi)
		for j := range want {
			if !(math.Abs(got[j]-want[j]) <= 1e-9*want[j]) {
				t.Errorf("label %d player %d: standard error %v, want %v", label, j, got[j], want[j])
			}
		}
	}
}

// linearImageModel scores Σ_k a_k x_k: additive over segments.
func linearImageModel() Model {
	a := func(i int) float64 { return float64(i%7) - 3 }
	return shapModelFunc(func(rows [][]float64) ([][]float64, error) {
		out := make([][]float64, len(rows))
		for i, r := range rows {
			s := 0.0
			for k, v := range r {
				s += a(k) * v
			}
			out[i] = []float64{s}
		}
		return out, nil
	})
}

// TestStdErrZeroOnExactModels: when the surrogate or the additive game
// fits the scores exactly the residuals, hence the standard errors,
// vanish. Tolerance 1e-9 absolute: the attributions are O(1) and the
// residuals rounding (about 1e-15 per value).
func TestStdErrZeroOnExactModels(t *testing.T) {
	img := testImage(8, 8, 3)
	segs, nseg := sampler.GridSegments(8, 8, 2, 3)
	fx := loadShapFixture(t, "exact_shapley_linear_m8")
	tests := []struct {
		name string
		run  func() (*Result, error)
	}{
		{"lime tabular ols", func() (*Result, error) {
			return LIME(context.Background(), &linearModel{w: []float64{1, -2, 0.5}, b: 3}, LIMERequest{
				Instance: []float64{0.3, 1, -1}, Stats: unitStats(3), Sampling: Sampling{NumSamples: 200, Seed: 1}, SurrogateFit: SurrogateFit{Selection: SelectNone, Surrogate: SurrogateConfig{Alpha: -1}},
			})
		}},
		{"lime image ols", func() (*Result, error) {
			return LIMEImage(context.Background(), linearImageModel(), LIMEImageRequest{
				Image: img, Segments: segs, NumSegments: nseg, Fill: sampler.MeanFill(img), Sampling: Sampling{NumSamples: 100, Seed: 2},
				SurrogateFit: SurrogateFit{Selection: SelectNone, Surrogate: SurrogateConfig{Alpha: -1}},
			})
		}},
		{"kernelshap linear, enumerated", func() (*Result, error) {
			return KernelSHAP(context.Background(), &shapRowModel{f: func(x []float64) float64 {
				s := fx.B
				for j, v := range x {
					s += fx.W[j] * v
				}
				return s
			}}, KernelSHAPRequest{Instance: fx.X, Background: fx.Background, BackgroundWeights: fx.BackgroundWeights})
		}},
		{"kernelshap image linear, sampled", func() (*Result, error) {
			segs, nseg := sampler.GridSegments(8, 8, 4, 4)
			return KernelSHAPImage(context.Background(), linearImageModel(), KernelSHAPImageRequest{
				Image: img, Segments: segs, NumSegments: nseg, Fill: sampler.MeanFill(img), Sampling: Sampling{NumSamples: 200, Seed: 4},
			})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := tt.run()
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range res.Labels[0].Attributions {
				if math.Abs(a.StdErr) > 1e-9 {
					t.Errorf("attribution %d (weight %v): standard error %v, want 0", a.Index, a.Weight, a.StdErr)
				}
			}
		})
	}
}

// TestStdErrNonZeroOnNonlinearModels: where the fit is not exact every
// fitted attribution gets a positive standard error (LIME text, image and
// tabular with default settings, KernelSHAP sampled and on text); with
// every coalition enumerated KernelSHAP's values are exact, and their
// standard errors 0, even for a non-additive model.
func TestStdErrNonZeroOnNonlinearModels(t *testing.T) {
	fx := loadShapFixture(t, "exact_shapley_nonlinear_m11")
	f := shapFixtureModels["exact_shapley_nonlinear_m11"]
	tests := []struct {
		name string
		run  func() (*Result, error)
	}{
		{"lime tabular", func() (*Result, error) {
			return LIME(context.Background(), &linearModel{w: []float64{1, -2, 0.5}, logistic: true}, LIMERequest{
				Instance: []float64{0.3, 1, -1}, Stats: unitStats(3), Sampling: Sampling{NumSamples: 500, Seed: 1},
			})
		}},
		{"lime text", func() (*Result, error) {
			m := &cueModel{weight: map[string]float64{"good": 2, "bad": -2, "fine": 0.5, "awful": -1.5}}
			res, _, err := LIMEText(context.Background(), m, LIMETextRequest{
				Text: "good bad good fine awful", Sampling: Sampling{NumSamples: 300, Seed: 2}, Targets: Targets{Labels: []int{1}},
			})
			return res, err
		}},
		{"kernelshap sampled", func() (*Result, error) {
			return KernelSHAP(context.Background(), &shapRowModel{f: f}, KernelSHAPRequest{
				Instance: fx.X, Background: fx.Background, Sampling: Sampling{NumSamples: 300, Seed: 3},
			})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := tt.run()
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range res.Labels[0].Attributions {
				if !(a.StdErr > 0) || math.IsInf(a.StdErr, 0) {
					t.Errorf("attribution %d (weight %v): standard error %v, want positive", a.Index, a.Weight, a.StdErr)
				}
			}
		})
	}
}

// TestPermutationStdErr: one feature, the model returns it and the target
// is it, so the baseline −MSE is 0 and a permutation π scores
// −(1/4)Σ(x_π(i) − x_i)²: with x = 0, 1, 2, 3 the identity, a swap of rows
// 0 and 1 and the reversal give importances 0, 0.5 and 5, mean 11/6,
// Σ(v − mean)² = 546/36 and standard error sqrt(546/36 / (2·3)) =
// sqrt(546/216). One repeat gives 0. Tolerance 1e-15 relative: a handful
// of exact-ish operations.
func TestPermutationStdErr(t *testing.T) {
	data := [][]float64{{0}, {1}, {2}, {3}}
	target := []float64{0, 1, 2, 3}
	m := &rowModel{f: func(r []float64) []float64 { return []float64{r[0]} }}
	tests := []struct {
		name   string
		perms  [][]int
		values []float64
		want   float64
	}{
		{"three repeats", [][]int{{0, 1, 2, 3}, {1, 0, 2, 3}, {3, 2, 1, 0}}, []float64{0, 0.5, 5}, math.Sqrt(546.0 / 216)},
		{"one repeat", [][]int{{3, 2, 1, 0}}, []float64{5}, 0},
		{"equal repeats", [][]int{{1, 0, 2, 3}, {0, 1, 3, 2}}, []float64{0.5, 0.5}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Permutation(context.Background(), m, PermutationRequest{
				Data: data, Target: target, Scoring: ScoreNegMSE, Permutations: [][][]int{tt.perms},
			})
			if err != nil {
				t.Fatal(err)
			}
			a := res.Labels[0].Attributions[0]
			for r, v := range tt.values {
				if a.Values[r] != v {
					t.Fatalf("importances %v, want %v", a.Values, tt.values)
				}
			}
			if math.Abs(a.StdErr-tt.want) > 1e-15*tt.want {
				t.Errorf("standard error %v, want %v", a.StdErr, tt.want)
			}
			if R := float64(len(tt.values)); R > 1 {
				if want := a.Std / math.Sqrt(R-1); math.Abs(a.StdErr-want) > 1e-14*want {
					t.Errorf("standard error %v, want Std/√(R−1) = %v", a.StdErr, want)
				}
			}
		})
	}
}

// TestSensitivityStdErr: f = x0² + 3·x1 over rows x0 = 0, 1, 2, 3 has
// ∂f/∂x0 = 2·x0 = 0, 2, 4, 6 (central differences are exact for a
// quadratic, to rounding), mean 3, Σ(d − 3)² = 20 and standard error
// sqrt(20/(3·4)) = sqrt(5/3); ∂f/∂x1 = 3 everywhere, standard error 0. One
// row gives 0. Tolerance 1e-9: the differences divide rounding by 2h.
func TestSensitivityStdErr(t *testing.T) {
	m := &rowModel{f: func(r []float64) []float64 { return []float64{r[0]*r[0] + 3*r[1]} }}
	tests := []struct {
		name string
		data [][]float64
		want []float64
	}{
		{"four rows", [][]float64{{0, 5}, {1, -1}, {2, 0}, {3, 2}}, []float64{math.Sqrt(5.0 / 3), 0}},
		{"one row", [][]float64{{2, 1}}, []float64{0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Sensitivity(context.Background(), m, SensitivityRequest{Data: tt.data})
			if err != nil {
				t.Fatal(err)
			}
			for j, a := range res.Labels[0].Attributions {
				if math.Abs(a.StdErr-tt.want[j]) > 1e-9 {
					t.Errorf("feature %d: standard error %v, want %v", j, a.StdErr, tt.want[j])
				}
			}
		})
	}
}

// TestOcclusionStdErr: a 3×3 input of ones, baseline 0, 2×2 windows with
// stride 1 and f = Σ c_i x_i with c = 1…9 row-major: the four windows drop
// the score by 1+2+4+5 = 12, 16, 24 and 28. The centre is covered by all
// four: mean 20, Σ(d − 20)² = 160, standard error sqrt(160/3/4); an edge
// pixel by two (12 and 16 for the top one): |12 − 16|/2 = 2; a corner by
// one: 0. The second target, 3 − 2f, drops by −2d: twice the errors. The
// result is the same for any batch size. Tolerance 1e-12 absolute.
func TestOcclusionStdErr(t *testing.T) {
	c := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9}
	centre, e := math.Sqrt(160.0/12), 2.0
	// Edges: top (12, 16), left (12, 24), right (16, 28), bottom (24, 28).
	want := []float64{0, e, 0, 6, centre, 6, 0, e, 0}
	for _, batch := range []int{0, 1, 2} {
		res, err := Occlusion(context.Background(), &occModel{f: occLinear(c)}, OcclusionRequest{
			Input: []float64{1, 1, 1, 1, 1, 1, 1, 1, 1}, Shape: []int{3, 3}, Window: []int{2, 2},
			Targets: []int{0, 1}, BatchRows: batch,
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.StdErrs) != 2 {
			t.Fatalf("batch %d: %d standard error maps, want 2", batch, len(res.StdErrs))
		}
		for t2, scale := range []float64{1, 2} {
			for i, w := range want {
				if got := res.StdErrs[t2][i]; math.Abs(got-scale*w) > 1e-12 {
					t.Errorf("batch %d target %d position %d: standard error %v, want %v", batch, t2, i, got, scale*w)
				}
			}
		}
	}
}

// TestSurrogateStdErrSameWhateverGOMAXPROCS: the sandwich's meat is split
// between goroutines for a large fit; the standard errors must be the
// same, bit for bit, whatever GOMAXPROCS.
func TestSurrogateStdErrSameWhateverGOMAXPROCS(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	const n, p = 3000, 20
	data := make([][]float64, n)
	target := make([]float64, n)
	for i := range data {
		data[i] = make([]float64, p)
		for j := range data[i] {
			data[i][j] = rng.NormFloat64()
			target[i] += float64(j%5-2) * data[i][j]
		}
		target[i] += math.Sin(3 * data[i][0])
	}
	var want []float64
	for _, procs := range []int{1, 2, 5} {
		prev := runtime.GOMAXPROCS(procs)
		s, err := FitSurrogate(data, target, nil, 0, SelectNone, SurrogateConfig{})
		runtime.GOMAXPROCS(prev)
		if err != nil {
			t.Fatal(err)
		}
		if want == nil {
			want = s.StdErr
		} else if !slices.Equal(s.StdErr, want) {
			t.Fatalf("GOMAXPROCS=%d: standard errors %v, GOMAXPROCS=1 %v", procs, s.StdErr, want)
		}
	}
}

func TestKernelSHAPEnumeratedIsExact(t *testing.T) {
	fx := loadShapFixture(t, "exact_shapley_nonlinear_m11")
	res, err := KernelSHAP(context.Background(), &shapRowModel{f: shapFixtureModels["exact_shapley_nonlinear_m11"]}, KernelSHAPRequest{
		Instance: fx.X, Background: fx.Background, Sampling: Sampling{Seed: 3},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range res.Labels[0].Attributions {
		if a.StdErr != 0 {
			t.Errorf("attribution %d: standard error %v with every coalition enumerated, want 0", a.Index, a.StdErr)
		}
	}
}
