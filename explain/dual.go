package explain

// The dual form of a neighbourhood with more features than rows (p > n,
// LIMEText on a long text): every fit there works in the rows' dimension,
// with K = XXᵀ (n×n) in place of G = XᵀX (p×p), so that neither memory nor
// work grows with p² (a 10,000-word text held 800 MB of G and took minutes
// to factorise it).

import (
	"fmt"
	"math"
	"runtime"

	"github.com/explainer-sidecar/explainer/internal/parallel"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// MaxFitBytes is the memory a server should let one surrogate fit hold,
// as FitBytes counts it: 1 GiB. LIMEText's limits allow more (5,000
// samples of a 10,000-word text need 1.7 GB by FitBytes); a server that
// admits jobs by memory compares FitBytes(samples, features) with it and
// refuses the job (RESOURCE_EXHAUSTED) or lowers the samples.
const MaxFitBytes = 1 << 30

// FitBytes returns an upper bound on the bytes a LIME surrogate fit of
// samples rows over features interpretable features (words, segments,
// columns) allocates, besides the rows themselves and the model's scores:
//
//	8 · (n·p + 6·m² + 2·min(p, 501)·p),   m = min(n, p),
//
// for n samples and p features. n·p is the rescaled design X. m² is the
// Gram matrix of the smaller side, XᵀX or, when p > n, XXᵀ (see
// Neighborhood); a ridge fit on every feature copies it to factorise it,
// the eigen-decomposition that replaces a singular factorisation holds
// three more, and a dual fit on a subset of more than n features one more
// (6 in all). The last term is the LARS path of lasso_path selection: up
// to 501 steps of p coefficients, and in the dual form up to 500 cached
// columns of XᵀX. With p > n it grows like n·p, no longer like p².
// Samples or features below 1 count as 1.
func FitBytes(samples, features int) int64 {
	n, p := int64(max(1, samples)), int64(max(1, features))
	m := min(n, p)
	return 8 * (n*p + 6*m*m + 2*min(p, larsMaxIter+1)*p)
}

// dual reports whether a neighbourhood of n rows and p features is held in
// the dual form: K = XXᵀ costs n²·p/2 multiply-adds and n² values where G
// costs n·p²/2 and p².
func dual(n, p int) bool { return p > n }

// kernBlock is the number of features per pass of K's accumulation: the
// block's values of every row (n·kernBlock) are copied row-major so that
// each entry adds one Ddot of kernBlock contiguous values per pass.
const kernBlock = 256

// kernStopRows is how many rows of K a task computes in a pass between
// calls of the stop function.
const kernStopRows = 64

// buildKernel writes K_S = X_S X_Sᵀ (n×n, row-major, both triangles) into
// dst for the columns sel of X (nil: all of them), X by column in xs. The
// features are taken kernBlock at a time, in order, and each entry K_ik
// (k ≥ i) adds one Ddot over the block per pass, the rows of K split
// between goroutines as NewNeighborhood splits G's: every entry is the
// same sum in the same order whatever the split and GOMAXPROCS. It calls
// stop (nil: never) between passes and every kernStopRows rows within
// one, and returns its error.
func buildKernel(dst, xs []float64, n int, sel []int, stop func() error) error {
	p := len(xs) / n
	if sel != nil {
		p = len(sel)
	}
	col := func(j int) []float64 {
		if sel != nil {
			j = sel[j]
		}
		return xs[j*n : (j+1)*n]
	}
	groups := 1
	if n*(n+1)/2*p >= minParallelWork {
		groups = min(n, 2*runtime.GOMAXPROCS(0))
	}
	t := make([]float64, n*min(kernBlock, p))
	errs := make([]error, groups)
	impl := blas64.Implementation()
	for j0 := 0; j0 < p; j0 += kernBlock {
		if err := stopped(stop); err != nil {
			return err
		}
		b := min(kernBlock, p-j0)
		for j := range b {
			for i, v := range col(j0 + j) {
				t[i*b+j] = v
			}
		}
		parallel.For(groups, func(g int) {
			r0, r1 := triangleSplit(n, groups, g), triangleSplit(n, groups, g+1)
			for i := r0; i < r1; i++ {
				if (i-r0)%kernStopRows == 0 {
					if errs[g] = stopped(stop); errs[g] != nil {
						return
					}
				}
				ti := t[i*b : (i+1)*b]
				row := dst[i*n : (i+1)*n]
				for k := i; k < n; k++ {
					d := impl.Ddot(b, ti, 1, t[k*b:(k+1)*b], 1)
					if j0 == 0 {
						row[k] = d
					} else {
						row[k] += d
					}
				}
			}
		})
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
	}
	for i := range n {
		for k := i + 1; k < n; k++ {
			dst[k*n+i] = dst[i*n+k]
		}
	}
	return nil
}

// gramView reads G = XᵀX for one fit: from the neighbourhood's G in the
// primal form; in the dual form from X's columns, with the columns of G
// that the fit reads again and again (the features forward selection has
// chosen, those LARS has made active) computed once, in n·p operations
// each, by cache. Not safe for concurrent use; a fit makes its own.
type gramView struct {
	p    int
	gram []float64 // G, p×p; nil in the dual form
	n    int
	xs   []float64   // X by column
	sw   []float64   // √π_i
	kern []float64   // K = XXᵀ, n×n (dual form)
	diag []float64   // G_jj (dual form)
	cols [][]float64 // cached columns of G (dual form)
}

func (nb *Neighborhood) gramView() *gramView {
	v := &gramView{p: nb.p, gram: nb.gram, n: nb.n, xs: nb.xs, sw: nb.sw, kern: nb.kern, diag: nb.diag}
	if v.gram == nil {
		v.cols = make([][]float64, nb.p)
	}
	return v
}

// at returns G_jk.
func (v *gramView) at(j, k int) float64 {
	if v.gram != nil {
		return v.gram[j*v.p+k]
	}
	if c := v.cols[k]; c != nil {
		return c[j]
	}
	if c := v.cols[j]; c != nil {
		return c[k]
	}
	if j == k {
		return v.diag[j]
	}
	n := v.n
	return blas64.Implementation().Ddot(n, v.xs[j*n:(j+1)*n], 1, v.xs[k*n:(k+1)*n], 1)
}

// cache computes G's column j once (dual form; a no-op otherwise).
func (v *gramView) cache(j int) {
	if v.gram != nil || v.cols[j] != nil {
		return
	}
	n := v.n
	c := make([]float64, v.p)
	blas64.Implementation().Dgemv(blas.NoTrans, v.p, n, 1, v.xs, n, v.xs[j*n:(j+1)*n], 1, 0, c, 1)
	v.cols[j] = c
}

// dualSolve is ridgeSolver.solve for more features than rows, |S| > n, in
// the dual form: with X_S the n×|S| design of the features S and
// K_S = X_S X_Sᵀ, the identity (X_SᵀX_S + αI)⁻¹X_Sᵀ = X_Sᵀ(K_S + αI)⁻¹
// gives the same coefficients from an n×n system,
//
//	g = X_Sᵀ u,   (K_S + αI) u = y,
//
// y_i = √π_i (f_i − f̄), the intercept following from the centring as in
// the primal form. For α = 0, K_S is singular: the centring makes
// Σ_i √π_i X_ij = 0 for every j, so K_S √π = 0, and rows of weight 0 are
// zero rows of X. y is orthogonal to all of these (Σ √π_i y_i = 0, and
// y_i = 0 where π_i = 0), so adding c·ssᵀ (s = √π/‖√π‖) and c on the
// diagonal of the zero rows, c = tr(K_S)/n, changes nothing on the
// complement, where y lies, and makes the system definite when those are
// its only null directions: u = K_S⁺y, and g is the minimum-norm
// least-squares solution, as the primal pseudo-inverse gives. A system
// still singular (rows collinear in other ways) falls back, as the primal
// one does, to the pseudo-inverse by eigen-decomposition (eigenvalues at
// or below max(1e-30, |S|·ε·λ_max) dropped), which cannot be interrupted:
// stop is called before it.
func (s *ridgeSolver) dualSolve(dst []float64, v *gramView, ls *labelStats, sel []int, alpha float64, stop func() error) ([]float64, error) {
	n, k, sw := v.n, len(sel), v.sw
	kern := v.kern
	if k != v.p || kern == nil {
		if cap(s.kern) < n*n {
			s.kern = make([]float64, n*n)
		}
		kern = s.kern[:n*n]
		if err := buildKernel(kern, v.xs, n, sel, stop); err != nil {
			return nil, err
		}
	}
	if cap(s.a) < n*n {
		s.a = make([]float64, n*n)
	}
	a := s.a[:n*n]
	copy(a, kern)
	for i := range n {
		a[i*n+i] += alpha
	}
	if alpha == 0 {
		var tr, ss float64
		for i := range n {
			tr += kern[i*n+i]
			ss += sw[i] * sw[i]
		}
		c := tr / float64(n)
		for i := range n {
			if sw[i] == 0 {
				a[i*n+i] += c
				continue
			}
			for q := range i + 1 {
				a[i*n+q] += c * sw[i] * sw[q] / ss
			}
		}
	}
	u := append(s.u[:0], ls.y...)
	s.u = u
	ok, err := cholFactor(a, n, stop)
	if err != nil {
		return nil, err
	}
	if ok {
		cholSubst(a, n, u)
	} else {
		if err := stopped(stop); err != nil {
			return nil, err
		}
		dualPinv(u, kern, n, k, alpha)
	}
	if cap(dst) < k {
		dst = make([]float64, k)
	}
	dst = dst[:k]
	impl := blas64.Implementation()
	for r, j := range sel {
		dst[r] = impl.Ddot(n, v.xs[j*n:(j+1)*n], 1, u, 1)
	}
	return dst, nil
}

// dualPinv overwrites y with Σ_{λ kept} w wᵀ y / (λ + α) over the
// eigenpairs (λ, w) of the n×n K_S, keeping the eigenvalues above
// max(1e-30, k·ε·λ_max) for k features, the primal pinvSolve's cut.
func dualPinv(y, kern []float64, n, k int, alpha float64) {
	sym := mat.NewSymDense(n, append([]float64(nil), kern...))
	var eig mat.EigenSym
	if !eig.Factorize(sym, true) {
		clear(y) // not expected on finite input; see pinvSolve
		return
	}
	vals := eig.Values(nil)
	var vecs mat.Dense
	eig.VectorsTo(&vecs)
	lmax := 0.0
	for _, l := range vals {
		lmax = math.Max(lmax, math.Abs(l))
	}
	cut := math.Max(1e-30, float64(k)*0x1p-52*lmax)
	c := append([]float64(nil), y...)
	clear(y)
	for e, l := range vals {
		if l <= cut {
			continue
		}
		var proj float64
		for i := range n {
			proj += vecs.At(i, e) * c[i]
		}
		proj /= l + alpha
		for i := range n {
			y[i] += proj * vecs.At(i, e)
		}
	}
}

// lassoDual is lasso in the dual form, where G is not held: the same
// cyclic coordinate descent with the residual r = y − X_S g kept in the
// rows' dimension, so that ρ_j = X_jᵀr + G_jj g_j costs n operations and
// an update r ← r − Δ X_j another n: O(n·|S|) a sweep, nothing |S|×|S|.
// It stops as lasso does and calls stop every l1StopEvery sweeps.
func (nb *Neighborhood) lassoDual(ls *labelStats, used []int, lambda float64, stop func() error) ([]float64, error) {
	n := nb.n
	g := make([]float64, len(used))
	r := append([]float64(nil), ls.y...)
	half := lambda / 2
	tol := l1Tol * math.Sqrt(ls.tss)
	impl := blas64.Implementation()
	for sweep := range l1MaxSweeps {
		if sweep%l1StopEvery == 0 {
			if err := stopped(stop); err != nil {
				return nil, err
			}
		}
		maxStep := 0.0
		for a, j := range used {
			gjj := nb.diag[j]
			if gjj <= 0 {
				continue // a constant column: g_j stays 0
			}
			xj := nb.xs[j*n : (j+1)*n]
			rho := impl.Ddot(n, xj, 1, r, 1) + gjj*g[a]
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
			impl.Daxpy(n, -delta, xj, 1, r, 1)
			maxStep = math.Max(maxStep, math.Abs(delta)*math.Sqrt(gjj))
		}
		if maxStep <= tol {
			return g, nil
		}
	}
	return nil, fmt.Errorf("%w after %d sweeps", ErrL1NotConverged, l1MaxSweeps)
}
