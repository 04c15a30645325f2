package explain

import (
	"math"
	"runtime"

	"github.com/explainer-sidecar/explainer/internal/parallel"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// Neighborhood is a neighbourhood prepared for surrogate fits: the kernel
// weights, the weighted column means z̄ and the Gram matrix G = XᵀX of the
// rescaled, centred design X_ij = √π_i (z_ij − z̄_j). Building it costs
// O(n·p²); each Fit then costs O(n·p) plus work on p×p matrices, so the
// labels of one neighbourhood share the expensive part.
//
// With more features than rows (p > n: the words of a long text) it holds
// the rows' Gram matrix K = XXᵀ instead, built in O(n²·p), and the fits
// on more than n features solve their ridge in the rows' dimension (an
// n×n system, the same coefficients); the fits on fewer features read the
// entries of G they need from X. Nothing p×p is then allocated: see
// FitBytes for the memory of a fit.
//
// A Neighborhood is immutable once built and safe for concurrent use.
type Neighborhood struct {
	n, p int
	npos int       // rows with π_i > 0
	sw   []float64 // √π_i
	mean []float64 // z̄_j
	row0 []float64 // z_0, the instance
	xs   []float64 // X stored by column: xs[j*n+i] = X_ij
	gram []float64 // G, p×p, row-major, both triangles; nil when p > n
	kern []float64 // K, n×n, row-major, both triangles, when p > n
	diag []float64 // G_jj, when p > n
}

// gramBlock is the number of rows per pass of the Gram accumulation, so
// that a block of all p columns stays in cache.
const gramBlock = 256

// xsBlock is the most rows of X one task of NewNeighborhood builds.
const xsBlock = 1024

// gramRows computes rows [r0, r1) of the upper triangle of G = XᵀX, G_jk
// for r0 ≤ j < r1 and k ≥ j, as
//
//	G_jk = Σ_b X_bjᵀ X_bk,
//
// summed over the blocks b of gramBlock rows in block order, each term a
// dot product by gonum's Ddot: the arithmetic of gonum's Dsyrk called block
// after block with β = 1 (TestGramMatchesDsyrk), so that an entry has the
// same bits whichever goroutine computes it and however the rows are
// grouped. It calls stop (nil: never) before each block and returns its
// error, leaving the rows unfinished.
func (nb *Neighborhood) gramRows(r0, r1 int, stop func() error) error {
	n, p := nb.n, nb.p
	impl := blas64.Implementation()
	for c0 := 0; c0 < n; c0 += gramBlock {
		if err := stopped(stop); err != nil {
			return err
		}
		b := min(gramBlock, n-c0)
		for j := r0; j < r1; j++ {
			xj := nb.xs[j*n+c0 : j*n+c0+b]
			g := nb.gram[j*p : (j+1)*p]
			for k := j; k < p; k++ {
				d := impl.Ddot(b, xj, 1, nb.xs[k*n+c0:k*n+c0+b], 1)
				if c0 == 0 {
					g[k] = d
				} else {
					g[k] += d
				}
			}
		}
	}
	return nil
}

// stopped returns stop's error, nil when stop is nil: the long loops of
// the fits call it between steps, so that a caller (an estimator, with
// ctx.Err) can end them.
func stopped(stop func() error) error {
	if stop == nil {
		return nil
	}
	return stop()
}

// triangleSplit returns the first row of group t when the rows of the
// upper triangle of a p×p matrix are cut into groups of consecutive rows
// with about equal numbers of entries (row j has p−j); t = groups gives p.
func triangleSplit(p, groups, t int) int {
	if t >= groups {
		return p
	}
	// Rows r… hold (p−r)(p−r+1)/2 entries; solve for the share of group t
	// onwards: p−r = √(2·rest + 1/4) − 1/2.
	rest := float64(p) * float64(p+1) / 2 * float64(groups-t) / float64(groups)
	r := p - int(math.Round(math.Sqrt(2*rest+0.25)-0.5))
	return max(0, min(p, r))
}

// minParallelWork is about the fewest multiply-adds worth spreading over
// goroutines: starting and waking one costs microseconds.
const minParallelWork = 1 << 17

// NewNeighborhood prepares data (n×p interpretable rows, row 0 the instance)
// with kernel weights (nil means uniform) for Fit. It copies what it needs;
// the inputs are not modified. It needs n ≥ 2 rows of equal length p ≥ 1,
// finite values, finite non-negative weights and a positive weight sum.
//
// For a large neighbourhood it builds X and G on up to runtime.GOMAXPROCS(0)
// goroutines, which it waits for before returning; every entry is computed
// by the same operations in the same order on any of them, so the result is
// the same, bit for bit, whatever GOMAXPROCS.
func NewNeighborhood(data [][]float64, weights []float64) (*Neighborhood, error) {
	return newNeighborhood(data, weights, nil)
}

// newNeighborhood is NewNeighborhood calling stop (nil: never) between the
// blocks of its long accumulation, and returning its error as is.
func newNeighborhood(data [][]float64, weights []float64, stop func() error) (*Neighborhood, error) {
	n := len(data)
	if n < 2 {
		return nil, inputErr("need at least 2 rows, got %d", n)
	}
	p := len(data[0])
	if p == 0 {
		return nil, inputErr("rows have no features")
	}
	if weights != nil && len(weights) != n {
		return nil, inputErr("weights has %d rows, data has %d", len(weights), n)
	}
	nb := &Neighborhood{
		n:    n,
		p:    p,
		sw:   make([]float64, n),
		mean: make([]float64, p),
		row0: append([]float64(nil), data[0]...),
		xs:   make([]float64, n*p),
	}
	var wsum float64
	for i, row := range data {
		if len(row) != p {
			return nil, inputErr("row %d has %d features, row 0 has %d", i, len(row), p)
		}
		w := 1.0
		if weights != nil {
			w = weights[i]
			if !(w >= 0) || math.IsInf(w, 1) {
				return nil, inputErr("weight %d is negative or not finite", i)
			}
		}
		nb.sw[i] = math.Sqrt(w)
		if w > 0 {
			nb.npos++
		}
		wsum += w
		for j, v := range row {
			if v-v != 0 { // NaN or ±Inf
				return nil, inputErr("row %d has a non-finite value", i)
			}
			nb.mean[j] += w * v
		}
	}
	if !(wsum > 0) || math.IsInf(wsum, 1) {
		return nil, inputErr("weights must have a positive, finite sum")
	}
	for j := range nb.mean {
		nb.mean[j] /= wsum
	}
	// X by blocks of rows, then the upper triangle of G (or of K) by
	// groups of its rows, each block and group a task for parallel when the
	// work is worth goroutines. Every value is computed the same way
	// whatever the task, so the result does not depend on GOMAXPROCS.
	xsTasks := 1
	if n*p >= minParallelWork {
		xsTasks = (n + xsBlock - 1) / xsBlock
	}
	parallel.For(xsTasks, func(t int) {
		lo, hi := n*t/xsTasks, n*(t+1)/xsTasks
		for i, row := range data[lo:hi] {
			i += lo
			sw := nb.sw[i]
			for j, v := range row {
				nb.xs[j*n+i] = (v - nb.mean[j]) * sw
			}
		}
	})
	if dual(n, p) {
		nb.kern = make([]float64, n*n)
		if err := buildKernel(nb.kern, nb.xs, n, nil, stop); err != nil {
			return nil, err
		}
		nb.diag = make([]float64, p)
		impl := blas64.Implementation()
		for j := range nb.diag {
			xj := nb.xs[j*n : (j+1)*n]
			nb.diag[j] = impl.Ddot(n, xj, 1, xj, 1)
		}
		return nb, nil
	}
	if err := nb.buildGram(stop); err != nil {
		return nil, err
	}
	return nb, nil
}

// buildGram computes G = XᵀX into nb.gram: the upper triangle by groups
// of its rows (gramRows), then the lower one by symmetry. It calls stop
// (nil: never) between blocks and returns its error.
func (nb *Neighborhood) buildGram(stop func() error) error {
	n, p := nb.n, nb.p
	nb.gram = make([]float64, p*p)
	groups := 1
	if n*p*(p+1)/2 >= minParallelWork {
		// More groups than goroutines, for balance when a core is busy.
		groups = min(p, 2*runtime.GOMAXPROCS(0))
	}
	errs := make([]error, groups)
	parallel.For(groups, func(t int) {
		errs[t] = nb.gramRows(triangleSplit(p, groups, t), triangleSplit(p, groups, t+1), stop)
	})
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	for j := range p {
		for k := j + 1; k < p; k++ {
			nb.gram[k*p+j] = nb.gram[j*p+k]
		}
	}
	return nil
}

// Rows returns the number of rows n.
func (nb *Neighborhood) Rows() int { return nb.n }

// Features returns the number of features p.
func (nb *Neighborhood) Features() int { return nb.p }

// labelStats holds what a fit needs of one label's target f:
// y_i = √π_i (f_i − f̄), ‖y‖² and c = Xᵀy.
type labelStats struct {
	mean float64   // f̄, the weighted mean of f
	y    []float64 // y
	tss  float64   // ‖y‖² = Σπ_i (f_i − f̄)²
	xty  []float64 // c = Xᵀy
}

func (nb *Neighborhood) label(target []float64) (*labelStats, error) {
	if len(target) != nb.n {
		return nil, inputErr("target has %d rows, data has %d", len(target), nb.n)
	}
	var sum, wsum float64
	for i, f := range target {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, inputErr("target row %d is not finite", i)
		}
		w := nb.sw[i] * nb.sw[i]
		sum += w * f
		wsum += w
	}
	ls := &labelStats{mean: sum / wsum, y: make([]float64, nb.n), xty: make([]float64, nb.p)}
	for i, f := range target {
		ls.y[i] = (f - ls.mean) * nb.sw[i]
	}
	impl := blas64.Implementation()
	ls.tss = impl.Ddot(nb.n, ls.y, 1, ls.y, 1)
	impl.Dgemv(blas.NoTrans, nb.p, nb.n, 1, nb.xs, nb.n, ls.y, 1, 0, ls.xty, 1)
	if !finite(ls.mean, ls.tss) || !finite(ls.xty...) {
		return nil, errNonFiniteFit()
	}
	return ls, nil
}

// residuals returns the rescaled residuals e = y − X_S g of the fit g on
// the features S = used, e_i = √π_i (f_i − b − gᵀz_i), computed from the
// rows (not from G) for accuracy: ‖e‖² is the weighted residual sum of
// squares Σπ_i (f_i − b − gᵀz_i)².
func (nb *Neighborhood) residuals(ls *labelStats, used []int, g []float64) []float64 {
	r := append([]float64(nil), ls.y...)
	impl := blas64.Implementation()
	for i, j := range used {
		impl.Daxpy(nb.n, -g[i], nb.xs[j*nb.n:(j+1)*nb.n], 1, r, 1)
	}
	return r
}

// ridgeSolver solves the small penalised normal equations
//
//	(G_SS + αI) g = c_S
//
// of the weighted ridge min Σπ_i (f_i − b − gᵀz_i)² + α‖g‖² on the features
// S, reusing its scratch space between calls (not safe for concurrent use).
//
// It factorises by Cholesky, as scikit-learn's Ridge(solver="auto") does for
// dense data. scikit-learn falls back to an SVD pseudo-inverse when LAPACK's
// Cholesky fails; this solver falls back to the equivalent eigenvalue
// pseudo-inverse of G_SS (eigenvalues λ of G_SS at or below
// max(1e-30, |S|·ε·λ_max) are dropped, the others give 1/(λ+α)) when a
// pivot is not above |S|·ε times its diagonal entry, i.e. when a feature is
// a linear combination of the others to working precision. A singular α = 0
// system thus gets the minimum-norm least-squares solution, and nothing
// panics. (LAPACK only fails on pivots ≤ 0, so on exactly collinear data
// scikit-learn may instead return a huge rounding-driven solution.)
//
// In the dual form (see Neighborhood) a fit on more features than rows is
// solved in the rows' dimension instead: see dualSolve.
type ridgeSolver struct {
	a    []float64
	kern []float64 // dual: K_S for a subset S
	u    []float64 // dual: the solution in the rows' dimension
}

// solve writes the ridge coefficients for the features sel into dst
// (reallocated when too small) and returns it. It calls stop (nil: never)
// during a long factorisation and returns its error.
func (s *ridgeSolver) solve(dst []float64, v *gramView, ls *labelStats, sel []int, alpha float64, stop func() error) ([]float64, error) {
	k := len(sel)
	if v.gram == nil && k > v.n {
		return s.dualSolve(dst, v, ls, sel, alpha, stop)
	}
	if cap(dst) < k {
		dst = make([]float64, k)
	}
	dst = dst[:k]
	if cap(s.a) < k*k {
		s.a = make([]float64, k*k)
	}
	a := s.a[:k*k]
	c := ls.xty
	for r, jr := range sel {
		if v.gram == nil && r%cholStopEvery == 0 {
			// G_SS from X: n·r multiply-adds a row.
			if err := stopped(stop); err != nil {
				return nil, err
			}
		}
		for q, jq := range sel[:r+1] {
			a[r*k+q] = v.at(jr, jq)
		}
		a[r*k+r] += alpha
		dst[r] = c[jr]
	}
	ok, err := cholFactor(a, k, stop)
	if err != nil {
		return nil, err
	}
	if ok {
		cholSubst(a, k, dst)
		return dst, nil
	}
	// The eigen-decomposition cannot be interrupted: check once more.
	if err := stopped(stop); err != nil {
		return nil, err
	}
	for r, jr := range sel {
		dst[r] = c[jr]
	}
	return pinvSolve(dst, v, sel, alpha), nil
}

// cholSolve factorises the symmetric k×k matrix whose lower triangle is in
// a (row-major) as LLᵀ in place and overwrites b with the solution of
// LLᵀx = b. It reports false, leaving a and b unusable, when a pivot is not
// above k·ε times its diagonal entry (numerically singular).
func cholSolve(a []float64, k int, b []float64) bool {
	if ok, _ := cholFactor(a, k, nil); !ok {
		return false
	}
	cholSubst(a, k, b)
	return true
}

// cholStopEvery is how many columns cholFactor factorises between calls
// of its stop function. Column j costs about j·(k − j) multiply-adds, at
// most k²/4: 16 columns of a 2,000×2,000 factorisation are 1.6e7 (some
// milliseconds), of a 10,000×10,000 one 4e8 (a fraction of a second).
const cholStopEvery = 16

// cholFactor factorises the symmetric k×k matrix whose lower triangle is in
// a (row-major) as LLᵀ in place, L in the lower triangle. It reports false,
// leaving a unusable, when a pivot is not above k·ε times its diagonal
// entry (numerically singular). See cholSolve. It calls stop (nil: never)
// every cholStopEvery columns and returns its error, leaving a unusable.
func cholFactor(a []float64, k int, stop func() error) (bool, error) {
	tol := float64(k) * 0x1p-52
	for j := range k {
		if j%cholStopEvery == 0 {
			if err := stopped(stop); err != nil {
				return false, err
			}
		}
		rj := a[j*k : j*k+j+1]
		d := rj[j]
		for _, v := range rj[:j] {
			d -= v * v
		}
		if !(d > tol*rj[j]) || !(d > 0) {
			return false, nil
		}
		d = math.Sqrt(d)
		rj[j] = d
		for i := j + 1; i < k; i++ {
			ri := a[i*k : i*k+j+1]
			v := ri[j]
			for q, lq := range rj[:j] {
				v -= ri[q] * lq
			}
			ri[j] = v / d
		}
	}
	return true, nil
}

// cholSubst overwrites b with the solution of LLᵀx = b, L the factor
// cholFactor left in the lower triangle of a.
func cholSubst(a []float64, k int, b []float64) {
	// Forward: L u = b.
	for i := range k {
		ri := a[i*k : i*k+i+1]
		v := b[i]
		for q, l := range ri[:i] {
			v -= l * b[q]
		}
		b[i] = v / ri[i]
	}
	// Backward: Lᵀ x = u.
	for i := k - 1; i >= 0; i-- {
		v := b[i]
		for q := i + 1; q < k; q++ {
			v -= a[q*k+i] * b[q]
		}
		b[i] = v / a[i*k+i]
	}
}

// pinvSolve overwrites rhs (= c_S) with Σ_{λ kept} v vᵀ c_S / (λ + α) over
// the eigenpairs (λ, v) of G_SS and returns it. See ridgeSolver.
func pinvSolve(rhs []float64, v *gramView, sel []int, alpha float64) []float64 {
	k := len(sel)
	sym := mat.NewSymDense(k, nil)
	for r, jr := range sel {
		for q := r; q < k; q++ {
			sym.SetSym(r, q, v.at(jr, sel[q]))
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(sym, true) {
		// Dsyev did not converge; it does on any finite symmetric input,
		// so this is not expected. Return the zero fit rather than panic.
		for i := range rhs {
			rhs[i] = 0
		}
		return rhs
	}
	vals := eig.Values(nil)
	var vecs mat.Dense
	eig.VectorsTo(&vecs)
	lmax := 0.0
	for _, l := range vals {
		lmax = math.Max(lmax, math.Abs(l))
	}
	cut := math.Max(1e-30, float64(k)*0x1p-52*lmax)
	c := append([]float64(nil), rhs...)
	for i := range rhs {
		rhs[i] = 0
	}
	for e, l := range vals {
		if l <= cut {
			continue
		}
		var proj float64
		for i := range k {
			proj += vecs.At(i, e) * c[i]
		}
		proj /= l + alpha
		for i := range k {
			rhs[i] += proj * vecs.At(i, e)
		}
	}
	return rhs
}
