package explain

import (
	"math"
	"runtime"
	"sort"

	"github.com/explainer-sidecar/explainer/internal/parallel"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// Standard errors of the attributions, computed from what the estimators
// already scored. See Neighborhood.Fit (LIME), KernelSHAP, Permutation,
// Sensitivity and OcclusionResult.StdErrs for the estimators.

// stdErrs returns the HC1 sandwich standard errors of the final surrogate
// fit coef on the features used (see Neighborhood.Fit), from its rescaled
// residuals e = y − X_S g. It costs O(n·k²) for k fitted features, and
// calls stop (nil: never) between blocks of that work, returning its error.
//
// Nothing larger than k×k is allocated, and k < n₊ − 1 (otherwise the
// standard errors are 0 and nothing is computed), so that a fit on more
// features than rows in the dual form (see Neighborhood) needs nothing
// p×p here either: G's entries are read through gv.
func (nb *Neighborhood) stdErrs(gv *gramView, e []float64, used []int, coef []float64, cfg SurrogateConfig, stop func() error) ([]float64, error) {
	se := make([]float64, len(used))
	alpha := cfg.ridgeAlpha()
	par := make([]int, 0, len(used)) // positions in used of the parameters
	for a := range used {
		if cfg.L1 > 0 && coef[a] == 0 {
			continue
		}
		par = append(par, a)
	}
	if cfg.L1 > 0 {
		alpha = 0 // the lasso on a fixed active set: G_AA g_A = c_A − (λ/2)·sign(g_A)
	}
	k := len(par)
	if k == 0 || nb.npos <= k+1 {
		return se, nil
	}
	n := nb.n
	// The bread A = G_PP + αI, inverted through its Cholesky factor.
	fac := make([]float64, k*k)
	for r, ar := range par {
		jr := used[ar]
		for q, aq := range par[:r+1] {
			fac[r*k+q] = gv.at(jr, used[aq])
		}
		fac[r*k+r] += alpha
	}
	if ok, err := cholFactor(fac, k, stop); err != nil || !ok {
		return se, err
	}
	ainv := make([]float64, k*k)
	col := make([]float64, k)
	for j := range k {
		if j%cholStopEvery == 0 {
			if err := stopped(stop); err != nil {
				return nil, err
			}
		}
		clear(col)
		col[j] = 1
		cholSubst(fac, k, col)
		for i, v := range col {
			ainv[i*k+j] = v
		}
	}
	// The meat M = Σ_i e_i² X_i X_iᵀ = Σ_i π_i² r_i² (z_i − z̄)(z_i − z̄)ᵀ.
	// Row r of its upper triangle, M_rq for q ≥ r, is summed by blocks of
	// gramBlock rows of X (a block of every fitted column stays in cache),
	// M_rq = Σ_blocks Σ_{i in block} (e_i² X_ir) X_iq, each term a Ddot; the
	// rows are split between goroutines as NewNeighborhood splits G's, and
	// every entry is computed the same way whatever the split.
	impl := blas64.Implementation()
	meat := make([]float64, k*k)
	groups := 1
	if n*k*(k+1)/2 >= minParallelWork {
		groups = min(k, 2*runtime.GOMAXPROCS(0))
	}
	errs := make([]error, groups)
	parallel.For(groups, func(g int) {
		r0, r1 := triangleSplit(k, groups, g), triangleSplit(k, groups, g+1)
		t := make([]float64, gramBlock)
		for c0 := 0; c0 < n; c0 += gramBlock {
			if errs[g] = stopped(stop); errs[g] != nil {
				return
			}
			b := min(gramBlock, n-c0)
			tr := t[:b]
			for r := r0; r < r1; r++ {
				xr := nb.xs[used[par[r]]*n+c0 : used[par[r]]*n+c0+b]
				for i, v := range e[c0 : c0+b] {
					tr[i] = v * v * xr[i]
				}
				for q := r; q < k; q++ {
					meat[r*k+q] += impl.Ddot(b, tr, 1, nb.xs[used[par[q]]*n+c0:used[par[q]]*n+c0+b], 1)
				}
			}
		}
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	for r := range k {
		for q := r + 1; q < k; q++ {
			meat[q*k+r] = meat[r*k+q]
		}
	}
	hc1 := float64(nb.npos) / float64(nb.npos-k-1)
	for r, ar := range par {
		// (A⁻¹ M A⁻¹)_rr = a_rᵀ M a_r, a_r row r of the symmetric A⁻¹.
		row := ainv[r*k : (r+1)*k]
		v := 0.0
		for a, ra := range row {
			v += ra * impl.Ddot(k, meat[a*k:(a+1)*k], 1, row, 1)
		}
		se[ar] = math.Sqrt(math.Max(0, v*hc1))
	}
	return se, nil
}

// rankedAttributions returns s's attributions in Ranked's order (by
// decreasing |coefficient|, ties in s.Features order), each with its
// standard error and describe's description.
func rankedAttributions(s Surrogate, describe func(feature int) string) []Attribution {
	if len(s.Features) == 0 {
		return nil
	}
	order := make([]int, len(s.Features))
	for i := range order {
		order[i] = i
	}
	// Ranked's comparison on the same initial order: the same order.
	sort.SliceStable(order, func(a, b int) bool { return math.Abs(s.Coef[order[a]]) > math.Abs(s.Coef[order[b]]) })
	out := make([]Attribution, len(order))
	for r, i := range order {
		f := s.Features[i]
		out[r] = Attribution{Index: f, Description: describe(f), Weight: s.Coef[i]}
		if s.StdErr != nil {
			out[r].StdErr = s.StdErr[i]
		}
	}
	return out
}

// stdErrs writes the HC1 sandwich standard errors of the attributions the
// last solve wrote into dst (length M) and returns it; see KernelSHAP for
// the estimator. With Cholesky's factor of G = AᵀA from that solve, it
// computes H = A G⁻¹ (n×k, shared by every label) once, so that each label
// costs O(n·k): Var(φ_j) = c Σ_z e_z² H_zj² and, for the eliminated
// player, Var(φ_M) = 1ᵀCov 1 = c Σ_z e_z² (Σ_j H_zj)², with the residuals
// e = b − Aφ and c = n/(n − k). When every coalition was enumerated the
// attributions are exact, with nothing sampled to be uncertain about: 0.
// It calls stop (nil: never) between blocks of shapBlock rows of H and
// returns its error.
func (s *shapleySolver) stdErrs(dst, phi []float64, stop func() error) ([]float64, error) {
	n, k := s.n, s.k
	dst = dst[:k+1]
	clear(dst)
	if !s.cholOK || n <= k || s.complete {
		return dst, nil
	}
	impl := blas64.Implementation()
	if s.h == nil {
		// H Lᵀ L = A … solved as H = A L⁻ᵀ, then H ← H L⁻¹, by blocks of
		// rows (each row of H is solved on its own, so the blocks do not
		// change it).
		h := append([]float64(nil), s.a...)
		for z0 := 0; z0 < n; z0 += shapBlock {
			if err := stopped(stop); err != nil {
				return nil, err
			}
			rows := min(shapBlock, n-z0)
			impl.Dtrsm(blas.Right, blas.Lower, blas.Trans, blas.NonUnit, rows, k, 1, s.chol, k, h[z0*k:], k)
			impl.Dtrsm(blas.Right, blas.Lower, blas.NoTrans, blas.NonUnit, rows, k, 1, s.chol, k, h[z0*k:], k)
		}
		s.h = h
	}
	if len(s.e) < n {
		s.e = make([]float64, n)
	}
	e := s.e[:n]
	copy(e, s.b)
	impl.Dgemv(blas.NoTrans, n, k, -1, s.a, k, phi[:k], 1, 1, e, 1)
	var last float64
	for z, ez := range e {
		e2 := ez * ez
		if e2 == 0 {
			continue
		}
		sum := 0.0
		for j, v := range s.h[z*k : (z+1)*k] {
			dst[j] += e2 * v * v
			sum += v
		}
		last += e2 * sum * sum
	}
	dst[k] = last
	c := float64(n) / float64(n-k)
	for j, v := range dst {
		dst[j] = math.Sqrt(v * c)
	}
	return dst, nil
}

// stdErrOfMean returns the standard error of the mean of x (whose mean is
// mean): the sample standard deviation (ddof 1) over √len(x),
// sqrt(Σ(x − mean)² / ((n − 1)·n)); 0 for fewer than 2 values.
func stdErrOfMean(x []float64, mean float64) float64 {
	n := len(x)
	if n < 2 {
		return 0
	}
	var ss float64
	for _, v := range x {
		d := v - mean
		ss += d * d
	}
	return math.Sqrt(ss / float64(n-1) / float64(n))
}
