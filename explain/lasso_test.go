package explain

import (
	"math"
	"testing"
)

// orthonormalProblem returns 8 rows of 3 features whose columns have mean 0,
// are orthogonal and have unit norm (uniform weights), so XᵀX = I and the
// least-squares coefficients are c = Xᵀy.
func orthonormalProblem() ([][]float64, []float64) {
	// Columns of an 8×8 Hadamard matrix other than the all-ones one.
	h := [][]float64{
		{1, 1, 1}, {-1, 1, 1}, {1, -1, 1}, {-1, -1, 1},
		{1, 1, -1}, {-1, 1, -1}, {1, -1, -1}, {-1, -1, -1},
	}
	s := 1 / math.Sqrt(8)
	var data [][]float64
	y := []float64{0.9, 0.1, 0.5, -0.3, 0.8, 0.2, 0.4, -0.6}
	for _, r := range h {
		data = append(data, []float64{r[0] * s, r[1] * s, r[2] * s})
	}
	return data, y
}

func softThreshold(x, t float64) float64 {
	switch {
	case x > t:
		return x - t
	case x < -t:
		return x + t
	}
	return 0
}

func TestL1OrthonormalIsSoftThresholdedOLS(t *testing.T) {
	data, y := orthonormalProblem()
	ols, err := FitSurrogate(data, y, nil, 0, SelectNone, SurrogateConfig{Alpha: -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, lambda := range []float64{1e-6, 0.1, 0.5, 1, 2, 10} {
		s, err := FitSurrogate(data, y, nil, 0, SelectNone, SurrogateConfig{L1: lambda})
		if err != nil {
			t.Fatal(err)
		}
		for j := range s.Coef {
			// Objective Σ(f − b − gᵀz)² + λ‖g‖₁ with XᵀX = I: threshold λ/2.
			want := softThreshold(ols.Coef[j], lambda/2)
			if !near(s.Coef[j], want, 1e-12, 1e-14) {
				t.Errorf("λ=%v: coef[%d] = %v, want %v", lambda, j, s.Coef[j], want)
			}
		}
	}
}

func TestL1SmallLambdaIsOLS(t *testing.T) {
	data, target, weights := randomProblem(31, 300, 6, false)
	ols, err := FitSurrogate(data, target, weights, 0, SelectNone, SurrogateConfig{Alpha: -1})
	if err != nil {
		t.Fatal(err)
	}
	s, err := FitSurrogate(data, target, weights, 0, SelectNone, SurrogateConfig{L1: 1e-13})
	if err != nil {
		t.Fatal(err)
	}
	for j := range s.Coef {
		if !near(s.Coef[j], ols.Coef[j], 1e-9, 1e-12) {
			t.Errorf("coef[%d] = %v, OLS %v", j, s.Coef[j], ols.Coef[j])
		}
	}
	if !near(s.Intercept, ols.Intercept, 1e-9, 1e-12) || !near(s.Score, ols.Score, 1e-9, 1e-12) {
		t.Errorf("intercept/score %v/%v, OLS %v/%v", s.Intercept, s.Score, ols.Intercept, ols.Score)
	}
}

// At the L1 optimum the subgradient conditions hold:
// 2X_jᵀ(y − Xg) = λ·sign(g_j) where g_j ≠ 0, |2X_jᵀ(y − Xg)| ≤ λ elsewhere.
func TestL1Optimality(t *testing.T) {
	data, target, weights := randomProblem(32, 400, 8, true)
	nb, err := NewNeighborhood(data, weights)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := nb.label(target)
	if err != nil {
		t.Fatal(err)
	}
	used := []int{0, 1, 2, 3, 4, 5, 6, 7}
	// Above λ_max = 2·max|c_j| every coefficient is 0.
	lambdaMax := 0.0
	for _, c := range ls.xty {
		lambdaMax = math.Max(lambdaMax, 2*math.Abs(c))
	}
	for _, frac := range []float64{0.001, 0.05, 0.3, 0.7, 1.01} {
		lambda := frac * lambdaMax
		g, err := nb.lasso(ls, used, lambda, nil)
		if err != nil {
			t.Fatal(err)
		}
		zeros := 0
		for j := range used {
			grad := ls.xty[j]
			for k := range used {
				grad -= nb.gram[j*nb.p+k] * g[k]
			}
			grad *= 2
			switch {
			case g[j] == 0:
				zeros++
				if math.Abs(grad) > lambda*(1+1e-9) {
					t.Errorf("λ=%v: g[%d] = 0 but |gradient| %v > λ", lambda, j, math.Abs(grad))
				}
			case math.Abs(grad-lambda*math.Copysign(1, g[j])) > 1e-9*lambda:
				t.Errorf("λ=%v: g[%d] = %v, gradient %v, want %v", lambda, j, g[j], grad, lambda*math.Copysign(1, g[j]))
			}
		}
		t.Logf("λ=%.3g·λmax: %d of %d coefficients are zero", frac, zeros, len(used))
		if frac > 1 && zeros != len(used) {
			t.Errorf("λ > λmax: %d of %d coefficients are zero, want all", zeros, len(used))
		}
	}
}
