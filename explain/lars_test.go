package explain

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// On an orthonormal design the lasso path is soft-thresholding of c = Xᵀy:
// α steps down through |c_j|/n in decreasing order, then to 0.
func TestLassoPathOrthonormal(t *testing.T) {
	x, y := orthonormalProblem()
	n := float64(len(y))
	c := make([]float64, 3)
	for i, row := range x {
		for j, v := range row {
			c[j] += v * y[i]
		}
	}
	alphas, coefs, err := LassoPath(x, y)
	if err != nil {
		t.Fatal(err)
	}
	abs := []float64{math.Abs(c[0]), math.Abs(c[1]), math.Abs(c[2])}
	slices.Sort(abs)
	slices.Reverse(abs)
	wantAlphas := []float64{abs[0] / n, abs[1] / n, abs[2] / n, 0}
	if len(alphas) != len(wantAlphas) || len(coefs) != len(wantAlphas) {
		t.Fatalf("%d alphas, %d steps; want %d", len(alphas), len(coefs), len(wantAlphas))
	}
	for k, a := range wantAlphas {
		if !near(alphas[k], a, 1e-12, 1e-15) {
			t.Errorf("alpha[%d] = %v, want %v", k, alphas[k], a)
		}
		for j := range c {
			if want := softThreshold(c[j], n*a); !near(coefs[k][j], want, 1e-12, 1e-15) {
				t.Errorf("step %d: coef[%d] = %v, want %v", k, j, coefs[k][j], want)
			}
		}
	}
}

// Every step of the path is a lasso solution at its α (KKT conditions of
// (1/2n)‖y − Xg‖² + α‖g‖₁), including steps where a variable is dropped.
func TestLassoPathKKT(t *testing.T) {
	drops := 0
	for seed := range uint64(60) {
		rng := rand.New(rand.NewPCG(seed, 5))
		n, p := 40, 12
		if seed%5 == 0 {
			n = 8 // more features than rows
		}
		x := make([][]float64, n)
		y := make([]float64, n)
		for i := range x {
			common := rng.NormFloat64()
			x[i] = make([]float64, p)
			for j := range x[i] {
				x[i][j] = 0.8*common + 0.6*rng.NormFloat64()
			}
			y[i] = x[i][0] - x[i][1] + 0.5*x[i][2] + 0.3*rng.NormFloat64()
		}
		alphas, coefs, err := LassoPath(x, y)
		if err != nil {
			t.Fatal(err)
		}
		for k := range coefs {
			if k > 0 {
				for j := range p {
					if coefs[k-1][j] != 0 && math.Abs(coefs[k][j]) < 1e-30 {
						drops++
					}
				}
			}
			// Correlations with the residual.
			for j := range p {
				var corr float64
				for i := range n {
					r := y[i]
					for q := range p {
						r -= x[i][q] * coefs[k][q]
					}
					corr += x[i][j] * r
				}
				bound := float64(n) * alphas[k]
				scale := 1e-9 * (1 + bound)
				if g := coefs[k][j]; math.Abs(g) > 1e-30 {
					if math.Abs(corr-math.Copysign(bound, g)) > scale {
						t.Errorf("seed %d step %d: active %d correlation %v, want %v", seed, k, j, corr, math.Copysign(bound, g))
					}
				} else if math.Abs(corr) > bound+scale {
					t.Errorf("seed %d step %d: inactive %d |correlation| %v > %v", seed, k, j, math.Abs(corr), bound)
				}
			}
		}
	}
	if drops == 0 {
		t.Error("no path dropped a variable; the test does not cover drops")
	}
	t.Logf("%d drops", drops)
}

// lime's walk: a path of one step (nothing correlates with the target)
// selects every feature.
func TestLassoSelectionConstantTarget(t *testing.T) {
	data, _, weights := randomProblem(41, 50, 6, true)
	target := make([]float64, len(data))
	for i := range target {
		target[i] = 0.5
	}
	s, err := FitSurrogate(data, target, weights, 2, SelectLassoPath, SurrogateConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Features, []int{0, 1, 2, 3, 4, 5}) {
		t.Errorf("features %v, want all", s.Features)
	}
}

func TestCholeskyDelete(t *testing.T) {
	// A = LLᵀ for a random 5×5 lower L; deleting row/column d of A must
	// give the Cholesky factor of the reduced matrix.
	rng := rand.New(rand.NewPCG(1, 2))
	const k = 5
	L := make([]float64, k*k)
	for i := range k {
		for j := 0; j <= i; j++ {
			L[i*k+j] = rng.NormFloat64()
		}
		L[i*k+i] = 1 + math.Abs(L[i*k+i])
	}
	A := make([]float64, k*k)
	for i := range k {
		for j := range k {
			for q := range k {
				A[i*k+j] += L[i*k+q] * L[j*k+q]
			}
		}
	}
	for del := range k {
		M := slices.Clone(L)
		choleskyDelete(M, k, k, del)
		keep := slices.DeleteFunc([]int{0, 1, 2, 3, 4}, func(i int) bool { return i == del })
		for a, i := range keep {
			if M[a*k+a] <= 0 {
				t.Errorf("del %d: diagonal %d not positive", del, a)
			}
			for b, j := range keep {
				var v float64
				for q := 0; q <= min(a, b); q++ {
					v += M[a*k+q] * M[b*k+q]
				}
				if !near(v, A[i*k+j], 1e-12, 1e-12) {
					t.Errorf("del %d: (LLᵀ)[%d][%d] = %v, want %v", del, a, b, v, A[i*k+j])
				}
			}
		}
	}
}
