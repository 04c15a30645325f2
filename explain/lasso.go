package explain

import (
	"fmt"
	"math"
)

const (
	// l1MaxSweeps caps the coordinate-descent sweeps of an L1 fit.
	l1MaxSweeps = 100000
	// l1Tol stops the sweeps when no coordinate moved the fitted values
	// ‖X_j Δg_j‖ by more than l1Tol·‖y‖.
	l1Tol = 1e-13
	// l1StopEvery is how many sweeps run between calls of the stop
	// function: a sweep costs |used|² multiply-adds.
	l1StopEvery = 16
)

// lasso fits the L1 surrogate on the features used:
//
//	minimise Σ_i π_i (f_i − b − gᵀz_i)² + λ‖g‖₁,   b unpenalised,
//
// which, with b = f̄ − z̄ᵀg, is min ‖y − Xg‖² + λ‖g‖₁ on the rescaled,
// centred design. Cyclic coordinate descent on the Gram matrix: with
// ρ_j = c_j − Σ_{k≠j} G_jk g_k the update is
//
//	g_j ← S(ρ_j, λ/2) / G_jj,   S(x, t) = sign(x)·max(|x| − t, 0),
//
// (g_j = 0 when G_jj = 0). The residual correlations r = c − Gg are
// updated in O(|used|) per coordinate (in the dual form, which holds no G,
// lassoDual updates the residuals y − Xg instead). Sweeps stop when every
// step is below l1Tol·‖y‖ in fitted-value norm, or fail with
// ErrL1NotConverged after l1MaxSweeps. It calls stop (nil: never) every
// l1StopEvery sweeps and returns its error.
func (nb *Neighborhood) lasso(ls *labelStats, used []int, lambda float64, stop func() error) ([]float64, error) {
	if nb.gram == nil {
		return nb.lassoDual(ls, used, lambda, stop)
	}
	k := len(used)
	p := nb.p
	g := make([]float64, k)
	r := make([]float64, k) // r = c_S − G_SS g
	for a, j := range used {
		r[a] = ls.xty[j]
	}
	half := lambda / 2
	tol := l1Tol * math.Sqrt(ls.tss)
	for sweep := range l1MaxSweeps {
		if sweep%l1StopEvery == 0 {
			if err := stopped(stop); err != nil {
				return nil, err
			}
		}
		maxStep := 0.0
		for a, j := range used {
			gjj := nb.gram[j*p+j]
			if gjj <= 0 {
				continue // a constant column: g_j stays 0
			}
			rho := r[a] + gjj*g[a]
			var next float64
			switch {
			case rho > half:
				next = (rho - half) / gjj
			case rho < -half:
				next = (rho + half) / gjj
			}
			delta := next - g[a]
			if delta == 0 {
				continue
			}
			g[a] = next
			for b, jb := range used {
				r[b] -= delta * nb.gram[jb*p+j]
			}
			maxStep = math.Max(maxStep, math.Abs(delta)*math.Sqrt(gjj))
		}
		if maxStep <= tol {
			return g, nil
		}
	}
	return nil, fmt.Errorf("%w after %d sweeps", ErrL1NotConverged, l1MaxSweeps)
}
