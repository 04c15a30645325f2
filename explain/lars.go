package explain

import (
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// LassoPath is scikit-learn's lars_path(X, y, method='lasso') (version
// 1.2): the LARS-lasso path of
//
//	minimise (1/(2n)) ‖y − Xg‖² + α‖g‖₁
//
// over α, with no intercept and no centring (centre X and y yourself if you
// want one, as lime does). x holds the n rows of X. alphas[k] is the
// regularisation at step k (the largest absolute correlation |Xᵀr| divided
// by n) and coefs[k] the p coefficients there; step 0 is g = 0. The path
// stops when every feature is active, when α falls to float32 ε or below,
// or when α grows between steps (scikit-learn's numerical bail-out).
//
// It follows scikit-learn step by step: the same entering order (first
// maximum of |correlation| in scikit-learn's working order), the same
// Cholesky updates and degeneracy handling (a candidate whose Cholesky pivot
// falls below 1e-7 is skipped for good), the same drops of variables that
// cross zero, and correlations of the equiangular direction rounded to 15
// decimals. The dot products come from the Gram matrix XᵀX rather than from
// X, so values agree with scikit-learn to rounding. Where scikit-learn
// fails (several variables crossing zero at exactly the same step), this
// drops all of them.
func LassoPath(x [][]float64, y []float64) (alphas []float64, coefs [][]float64, err error) {
	n := len(x)
	if n == 0 {
		return nil, nil, inputErr("need at least 1 row")
	}
	if len(y) != n {
		return nil, nil, inputErr("y has %d rows, x has %d", len(y), n)
	}
	p := len(x[0])
	if p == 0 {
		return nil, nil, inputErr("rows have no features")
	}
	cols := make([]float64, n*p) // X by column
	for i, row := range x {
		if len(row) != p {
			return nil, nil, inputErr("row %d has %d features, row 0 has %d", i, len(row), p)
		}
		if math.IsNaN(y[i]) || math.IsInf(y[i], 0) {
			return nil, nil, inputErr("y row %d is not finite", i)
		}
		for j, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, nil, inputErr("row %d has a non-finite value", i)
			}
			cols[j*n+i] = v
		}
	}
	gram := make([]float64, p*p)
	impl := blas64.Implementation()
	impl.Dsyrk(blas.Upper, blas.NoTrans, p, n, 1, cols, n, 0, gram, p)
	for j := range p {
		for k := j + 1; k < p; k++ {
			gram[k*p+j] = gram[j*p+k]
		}
	}
	xty := make([]float64, p)
	impl.Dgemv(blas.NoTrans, p, n, 1, cols, n, y, 1, 0, xty, 1)
	return larsLasso(&gramView{p: p, gram: gram, n: n}, xty, p, n, nil)
}

// LassoPath is LassoPath on lime's lasso_path input for target: the
// kernel-weighted, weighted-mean-centred rows √π_i (z_i − z̄) and labels
// √π_i (f_i − f̄). It is the path that lime's "lasso_path" selection walks.
func (nb *Neighborhood) LassoPath(target []float64) (alphas []float64, coefs [][]float64, err error) {
	ls, err := nb.label(target)
	if err != nil {
		return nil, nil, err
	}
	return larsLasso(nb.gramView(), ls.xty, nb.p, nb.n, nil)
}

const (
	larsMaxIter = 500            // lars_path's max_iter default
	eps64       = 0x1p-52        // np.finfo(float).eps, lars_path's eps
	tiny32      = 0x1p-126       // np.finfo(np.float32).tiny
	eps32       = 0x1p-23        // np.finfo(np.float32).eps, the equality tolerance
	maxFloat32  = 0x1.fffffep127 // min_pos's "no positive value" answer
)

// larsLasso runs scikit-learn's _lars_path_solver (method='lasso',
// alpha_min=0, Gram=None) given G = XᵀX (read through gv), c = Xᵀy and n.
// In the dual form each column of G is computed when its feature enters
// the active set: the steps read G only between the active features and
// the others.
//
// Variable names follow scikit-learn so the two can be read side by side.
// Positions: scikit-learn permutes the columns of X as variables enter and
// leave; indices[k] is the original feature in working column k, and the
// first nActive columns are the active set. cov[k] holds the correlation
// of working column nActive+k with the residual.
//
// It calls stop (nil: never) before each step and returns its error.
func larsLasso(gv *gramView, xty []float64, p, n int, stop func() error) (alphas []float64, coefs [][]float64, err error) {
	maxFeatures := min(larsMaxIter, p)
	L := make([]float64, maxFeatures*maxFeatures) // lower triangle, row-major, stride maxFeatures
	ld := maxFeatures
	indices := make([]int, p)
	for j := range indices {
		indices[j] = j
	}
	cov := append([]float64(nil), xty...)
	signActive := make([]float64, 0, maxFeatures)
	var active []int
	nActive, nIter := 0, 0
	drop := false
	var dropIdx []int // positions in active of the variables to drop

	alphas = make([]float64, 1, maxFeatures+1)
	coefs = make([][]float64, 1, maxFeatures+1)
	coefs[0] = make([]float64, p)

	leastSquares := make([]float64, 0, maxFeatures)
	var corrEqDir []float64
	g := func(a, b int) float64 { return gv.at(indices[a], indices[b]) }

	for {
		if err := stopped(stop); err != nil {
			return nil, nil, err
		}
		var C, Cs float64 // |C_| and C_
		cIdx := 0
		if len(cov) > 0 {
			for k, v := range cov {
				if math.Abs(v) > math.Abs(cov[cIdx]) {
					cIdx = k
				}
			}
			Cs = cov[cIdx]
			C = math.Abs(Cs)
		}
		alpha := C / float64(n)
		alphas[nIter] = alpha
		coef := coefs[nIter]
		if alpha <= eps32 { // early stopping (alpha_min = 0: no interpolation)
			break
		}
		if nIter >= larsMaxIter || nActive >= p {
			break
		}
		if !drop {
			sign := 0.0
			switch {
			case Cs > 0:
				sign = 1
			case Cs < 0:
				sign = -1
			}
			m, nn := nActive, cIdx+nActive
			cov[cIdx], cov[0] = cov[0], cov[cIdx]
			indices[nn], indices[m] = indices[m], indices[nn]
			covFull := cov
			cov = cov[1:]

			// Append x_j to the Cholesky factor of X_AᵀX_A:
			// L w = X_Aᵀx_j, diag = sqrt(|x_jᵀx_j − wᵀw|).
			c := g(nActive, nActive)
			row := L[nActive*ld : nActive*ld+nActive+1]
			for k := range nActive {
				row[k] = g(nActive, k)
			}
			for i := range nActive { // forward substitution, in place
				v := row[i]
				for k := range i {
					v -= L[i*ld+k] * row[k]
				}
				row[i] = v / L[i*ld+i]
			}
			var v float64
			for _, w := range row[:nActive] {
				v += w * w
			}
			diag := math.Max(math.Sqrt(math.Abs(c-v)), eps64)
			row[nActive] = diag
			if diag < 1e-7 {
				// Degenerate regressor: scikit-learn zeroes its correlation
				// and tries again (its column stays swapped, as there).
				cov = covFull
				cov[0] = 0
				cov[cIdx], cov[0] = cov[0], cov[cIdx]
				continue
			}
			signActive = append(signActive, sign)
			active = append(active, indices[nActive])
			gv.cache(indices[nActive]) // every later step reads its column
			nActive++
		}

		if nIter > 0 && alphas[nIter-1] < alpha {
			// alpha grows: rounding dominates what is left; stop.
			break
		}

		// Equiangular direction: solve X_AᵀX_A ls = sign, ls *= AA.
		leastSquares = append(leastSquares[:0], signActive...)
		cholSolveLower(L, ld, nActive, leastSquares)
		var AA float64
		if nActive == 1 && leastSquares[0] == 0 {
			leastSquares[0] = 1
			AA = 1
		} else {
			AA = 1 / math.Sqrt(dotf(leastSquares, signActive))
			if math.IsNaN(AA) || math.IsInf(AA, 0) {
				// L too ill-conditioned: regularise its diagonal.
				Lr := make([]float64, len(L))
				copy(Lr, L)
				for i := 0; math.IsNaN(AA) || math.IsInf(AA, 0); i++ {
					for k := range nActive {
						Lr[k*ld+k] += math.Ldexp(1, i) * eps64
					}
					leastSquares = append(leastSquares[:0], signActive...)
					cholSolveLower(Lr, ld, nActive, leastSquares)
					AA = 1 / math.Sqrt(math.Max(dotf(leastSquares, signActive), eps64))
				}
			}
			for k := range leastSquares {
				leastSquares[k] *= AA
			}
		}

		// Correlation of each inactive column with the equiangular vector.
		corrEqDir = corrEqDir[:0]
		for k := nActive; k < p; k++ {
			var v float64
			for a, l := range leastSquares {
				v += g(k, a) * l
			}
			corrEqDir = append(corrEqDir, roundDecimals15(v))
		}

		g1, g2 := maxFloat32, maxFloat32
		for k, cv := range cov {
			if v := (C - cv) / (AA - corrEqDir[k] + tiny32); v > 0 && v < g1 {
				g1 = v
			}
			if v := (C + cv) / (AA + corrEqDir[k] + tiny32); v > 0 && v < g2 {
				g2 = v
			}
		}
		gamma := math.Min(math.Min(g1, g2), C/AA)

		// Does an active coefficient cross zero before gamma?
		drop = false
		zPos := maxFloat32
		z := make([]float64, nActive)
		for a, j := range active {
			z[a] = -coef[j] / (leastSquares[a] + tiny32)
			if z[a] > 0 && z[a] < zPos {
				zPos = z[a]
			}
		}
		if zPos < gamma {
			dropIdx = dropIdx[:0]
			for a := nActive - 1; a >= 0; a-- {
				if z[a] == zPos {
					dropIdx = append(dropIdx, a)
				}
			}
			gamma = zPos
			drop = true
		}

		nIter++
		next := make([]float64, p)
		for a, j := range active {
			next[j] = coef[j] + gamma*leastSquares[a]
		}
		coefs = append(coefs, next)
		alphas = append(alphas, 0)
		for k := range cov {
			cov[k] -= gamma * corrEqDir[k]
		}

		if drop {
			// dropIdx is in decreasing order: each variable moves to the end
			// of the active block, leaves it and becomes the first inactive
			// column, whose correlation x_jᵀ(y − X_A g_A) is recomputed.
			for _, ii := range dropIdx {
				choleskyDelete(L, ld, nActive, ii)
				nActive--
				active = append(active[:ii], active[ii+1:]...)
				signActive = append(signActive[:ii], signActive[ii+1:]...)
				for i := ii; i < nActive; i++ {
					indices[i], indices[i+1] = indices[i+1], indices[i]
				}
				j := indices[nActive]
				temp := xty[j]
				for _, a := range active {
					temp -= gv.at(j, a) * next[a]
				}
				cov = append([]float64{temp}, cov...)
			}
		}
	}
	return alphas[:nIter+1], coefs[:nIter+1], nil
}

// cholSolveLower overwrites b with the solution of L Lᵀ x = b, L the k×k
// lower triangle stored row-major with stride ld (LAPACK potrs).
func cholSolveLower(L []float64, ld, k int, b []float64) {
	for i := range k {
		v := b[i]
		for q := range i {
			v -= L[i*ld+q] * b[q]
		}
		b[i] = v / L[i*ld+i]
	}
	for i := k - 1; i >= 0; i-- {
		v := b[i]
		for q := i + 1; q < k; q++ {
			v -= L[q*ld+i] * b[q]
		}
		b[i] = v / L[i*ld+i]
	}
}

// choleskyDelete removes row and column del from the k×k lower Cholesky
// factor L (stride ld): the rows below move up and Givens rotations restore
// the triangle with a positive diagonal (scikit-learn's cholesky_delete).
func choleskyDelete(L []float64, ld, k, del int) {
	for i := del; i < k-1; i++ {
		copy(L[i*ld:i*ld+i+2], L[(i+1)*ld:(i+1)*ld+i+2])
	}
	for i := del; i < k-1; i++ {
		a, b := L[i*ld+i], L[i*ld+i+1]
		r := math.Hypot(a, b)
		c, s := 1.0, 0.0
		if r != 0 {
			c, s = a/r, b/r
		}
		L[i*ld+i] = r
		L[i*ld+i+1] = 0
		for q := i + 1; q < k-1; q++ {
			x, y := L[q*ld+i], L[q*ld+i+1]
			L[q*ld+i] = c*x + s*y
			L[q*ld+i+1] = c*y - s*x
		}
	}
}

// roundDecimals15 is numpy's around(v, 15): scale by 1e15, round half to
// even, scale back.
func roundDecimals15(v float64) float64 {
	return math.RoundToEven(v*1e15) / 1e15
}

func dotf(a, b []float64) float64 {
	var s float64
	for i, v := range a {
		s += v * b[i]
	}
	return s
}
