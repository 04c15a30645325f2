package explain

import (
	"math"
	"math/rand/v2"
	"testing"
)

func near(got, want, rel, abs float64) bool {
	return math.Abs(got-want) <= rel*math.Abs(want)+abs
}

// linearProblem returns rows with y = b + βᵀz exactly (up to rounding).
func linearProblem(seed uint64, n int, beta []float64, b float64) (data [][]float64, y, w []float64) {
	rng := rand.New(rand.NewPCG(seed, 3))
	for range n {
		row := make([]float64, len(beta))
		f := b
		for j := range row {
			row[j] = rng.NormFloat64()
			f += beta[j] * row[j]
		}
		data = append(data, row)
		y = append(y, f)
		w = append(w, 0.1+rng.Float64())
	}
	return data, y, w
}

func TestRidgeAlphaZeroRecoversLinearModel(t *testing.T) {
	beta := []float64{1.5, -2, 0, 0.25, 3}
	data, y, w := linearProblem(1, 40, beta, 0.7)
	for _, weights := range [][]float64{w, nil} {
		s, err := FitSurrogate(data, y, weights, 0, SelectNone, SurrogateConfig{Alpha: -1})
		if err != nil {
			t.Fatal(err)
		}
		for j, g := range s.Coef {
			if !near(g, beta[j], 1e-12, 1e-13) {
				t.Errorf("coef[%d] = %v, want %v", j, g, beta[j])
			}
		}
		if !near(s.Intercept, 0.7, 1e-12, 1e-13) {
			t.Errorf("intercept = %v, want 0.7", s.Intercept)
		}
		// A perfect fit has weighted R² 1 and predicts the instance exactly.
		if !near(s.Score, 1, 0, 1e-14) {
			t.Errorf("score = %v, want 1", s.Score)
		}
		if !near(s.LocalPred, y[0], 1e-12, 1e-13) {
			t.Errorf("local prediction = %v, want %v", s.LocalPred, y[0])
		}
	}
}

// With a positive α, the coefficients solve the penalised weighted normal
// equations (Z_cᵀ W Z_c + αI) g = Z_cᵀ W (f − f̄), Z_c centred by the
// weighted means; checked against a direct O(n p²) computation.
func TestRidgeNormalEquations(t *testing.T) {
	data, target, weights := randomProblem(9, 60, 5, false)
	for _, alpha := range []float64{0, 0.01, 1, 50} {
		cfg := SurrogateConfig{Alpha: alpha}
		if alpha == 0 {
			cfg.Alpha = -1
		}
		s, err := FitSurrogate(data, target, weights, 0, SelectNone, cfg)
		if err != nil {
			t.Fatal(err)
		}
		p := len(data[0])
		var wsum, fbar float64
		zbar := make([]float64, p)
		for i, row := range data {
			wsum += weights[i]
			fbar += weights[i] * target[i]
			for j, v := range row {
				zbar[j] += weights[i] * v
			}
		}
		fbar /= wsum
		for j := range zbar {
			zbar[j] /= wsum
		}
		// Residual of the normal equations: Z_cᵀW(f − f̄ − Z_c g) − αg = 0.
		for j := range p {
			res := -alpha * s.Coef[j]
			scale := 0.0
			for i, row := range data {
				r := target[i] - fbar
				for q, v := range row {
					r -= (v - zbar[q]) * s.Coef[q]
				}
				res += weights[i] * (row[j] - zbar[j]) * r
				scale += math.Abs(weights[i] * (row[j] - zbar[j]) * (target[i] - fbar))
			}
			if math.Abs(res) > 1e-12*scale {
				t.Errorf("alpha %v: normal equation %d residual %v (scale %v)", alpha, j, res, scale)
			}
		}
		if want := fbar - dotf(zbar, s.Coef); !near(s.Intercept, want, 1e-12, 1e-14) {
			t.Errorf("alpha %v: intercept %v, want %v", alpha, s.Intercept, want)
		}
	}
}

// A duplicated column makes the α = 0 system singular; the fit falls back
// to the minimum-norm solution: both copies share the coefficient.
func TestRidgeSingularMinimumNorm(t *testing.T) {
	beta := []float64{2, -1}
	data, y, w := linearProblem(2, 30, beta, 0.5)
	for i, row := range data {
		data[i] = []float64{row[0], row[1], row[0]}
	}
	s, err := FitSurrogate(data, y, w, 0, SelectNone, SurrogateConfig{Alpha: -1})
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{1, -1, 1}
	for j := range want {
		if !near(s.Coef[j], want[j], 1e-10, 1e-12) {
			t.Errorf("coef = %v, want %v", s.Coef, want)
			break
		}
	}
	if !near(s.Score, 1, 0, 1e-12) {
		t.Errorf("score = %v, want 1", s.Score)
	}
	// A constant column is singular too; its coefficient is 0.
	for i, row := range data {
		data[i] = []float64{row[0], 4, row[1]}
	}
	s, err = FitSurrogate(data, y, w, 0, SelectNone, SurrogateConfig{Alpha: -1})
	if err != nil {
		t.Fatal(err)
	}
	if s.Coef[1] != 0 || !near(s.Coef[0], 2, 1e-10, 1e-12) || !near(s.Coef[2], -1, 1e-10, 1e-12) {
		t.Errorf("coef = %v, want [2 0 -1]", s.Coef)
	}
}

func TestR2(t *testing.T) {
	for _, tc := range []struct{ rss, tss, want float64 }{
		{0, 0, 1},
		{1, 0, 0},
		{0, 2, 1},
		{1, 4, 0.75},
	} {
		if got := r2(tc.rss, tc.tss); got != tc.want {
			t.Errorf("r2(%v, %v) = %v, want %v", tc.rss, tc.tss, got, tc.want)
		}
	}
}

// Forward selection scores candidates from the Gram matrix; the chosen
// model's score, computed from the rows, must be what the selection saw.
func TestForwardSelectionMatchesDirectScores(t *testing.T) {
	data, target, weights := randomProblem(21, 200, 8, true)
	s, err := FitSurrogate(data, target, weights, 4, SelectForward, SurrogateConfig{Alpha: -1})
	if err != nil {
		t.Fatal(err)
	}
	// Brute force: greedy with scores from full α = 0 fits.
	var used []int
	for range 4 {
		best, bestScore := 0, -1e8
		for f := range 8 {
			if containsInt(used, f) {
				continue
			}
			cand := append(append([]int(nil), used...), f)
			sub := make([][]float64, len(data))
			for i, row := range data {
				for _, j := range cand {
					sub[i] = append(sub[i], row[j])
				}
			}
			fit, err := FitSurrogate(sub, target, weights, 0, SelectNone, SurrogateConfig{Alpha: -1})
			if err != nil {
				t.Fatal(err)
			}
			if fit.Score > bestScore {
				best, bestScore = f, fit.Score
			}
		}
		used = append(used, best)
	}
	for i := range used {
		if s.Features[i] != used[i] {
			t.Fatalf("forward selection chose %v, brute force %v", s.Features, used)
		}
	}
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
