package explain

import (
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// shapleySolver solves KernelSHAP's constrained weighted least squares (see
// KernelSHAP) for one set of coalitions, label after label. With M players,
// the last one eliminated by the constraint Σφ = Δ, it holds the rescaled
// design
//
//	A_zj = √π_z (z_j − z_M),   j = 1…k, k = M − 1,
//
// and its Gram matrix AᵀA, shared by every label. Not safe for concurrent
// use.
type shapleySolver struct {
	n, k int
	sw   []float64 // √π_z
	last []float64 // z_M
	a    []float64 // A, n×k row-major
	gram []float64 // AᵀA, k×k row-major, lower triangle
	// scratch
	chol, b, c []float64
	svd        *mat.SVD // A's, when the normal equations are singular
	rank       int
	// cholOK reports that the last solve factorised AᵀA, leaving L in chol.
	cholOK bool
	// h = A(AᵀA)⁻¹ (n×k) and the residuals e, for stdErrs.
	h, e []float64
	// complete reports that the coalitions are every proper coalition:
	// the values are then the exact Shapley values and stdErrs gives 0.
	complete bool
}

// shapBlock is the most coalitions (rows of A) the solver's long products
// take between calls of the stop function: shap's default budget,
// 2M + 2048 coalitions, is one block, so that only larger budgets change
// the order of the Gram matrix's sums.
const shapBlock = 4096

// newShapleySolver prepares the coalitions masks (n × M, M ≥ 2) with their
// weights (positive). It calls stop (nil: never) between blocks of
// shapBlock rows of the Gram matrix's accumulation and returns its error.
func newShapleySolver(masks [][]bool, weights []float64, stop func() error) (*shapleySolver, error) {
	n, k := len(masks), len(masks[0])-1
	s := &shapleySolver{
		n: n, k: k,
		sw:   make([]float64, n),
		last: make([]float64, n),
		a:    make([]float64, n*k),
		gram: make([]float64, k*k),
		chol: make([]float64, k*k),
		b:    make([]float64, n),
		c:    make([]float64, k),
	}
	for z, mask := range masks {
		sw := math.Sqrt(weights[z])
		s.sw[z] = sw
		zm := shapBit(mask[k])
		s.last[z] = zm
		row := s.a[z*k : (z+1)*k]
		for j, in := range mask[:k] {
			row[j] = sw * (shapBit(in) - zm)
		}
	}
	impl := blas64.Implementation()
	for z0 := 0; z0 < n; z0 += shapBlock {
		if err := stopped(stop); err != nil {
			return nil, err
		}
		beta := 1.0
		if z0 == 0 {
			beta = 0
		}
		impl.Dsyrk(blas.Lower, blas.Trans, k, min(shapBlock, n-z0), 1, s.a[z0*k:], k, beta, s.gram, k)
	}
	return s, nil
}

func shapBit(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// solve writes the M attributions for the coalition values y_z = v(z) − v(0)
// and the total Δ = v(1) − v(0) into dst (length M) and returns it. The
// factorisation of the k×k normal equations (k < MaxKernelSHAPPlayers)
// takes at most a fraction of a second; the singular case's SVD of the
// n×k design cannot be interrupted, so the caller checks its ctx before.
func (s *shapleySolver) solve(dst, y []float64, delta float64) []float64 {
	n, k := s.n, s.k
	// b = √π (y − z_M Δ), c = Aᵀb.
	for z := range n {
		s.b[z] = s.sw[z] * (y[z] - s.last[z]*delta)
	}
	impl := blas64.Implementation()
	impl.Dgemv(blas.Trans, n, k, 1, s.a, k, s.b, 1, 0, s.c, 1)
	phi := dst[:k]
	copy(phi, s.c)
	copy(s.chol, s.gram)
	s.cholOK = cholSolve(s.chol, k, phi)
	if !s.cholOK {
		s.leastSquares(phi)
	}
	sum := 0.0
	for _, v := range phi {
		sum += v
	}
	dst[k] = delta - sum
	return dst
}

// leastSquares writes the minimum-norm minimiser of ‖Aφ − b‖ into phi:
// numpy's lstsq with its default cutoff, singular values at or below
// ε·max(n, k) times the largest dropped.
func (s *shapleySolver) leastSquares(phi []float64) {
	if s.svd == nil {
		s.svd = new(mat.SVD)
		if !s.svd.Factorize(mat.NewDense(s.n, s.k, s.a), mat.SVDThin) {
			// Dgesvd did not converge; it does on finite input, so this is
			// not expected. Return the zero fit rather than panic.
			s.rank = 0
		} else {
			s.rank = s.svd.Rank(0x1p-52 * float64(max(s.n, s.k)))
		}
	}
	if s.rank == 0 {
		clear(phi)
		return
	}
	dst := mat.NewVecDense(s.k, phi)
	s.svd.SolveVecTo(dst, mat.NewVecDense(s.n, s.b), s.rank)
}
