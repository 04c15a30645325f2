package explain

// LIME's surrogate: lime's LimeBase.explain_instance_with_data (feature
// selection, then a weighted ridge fit) in pure Go.
//
// Notation. The neighbourhood has n rows z_i ∈ ℝᵖ (row 0 is the instance),
// model outputs f_i for one label and kernel weights π_i ≥ 0. Weighted means
// are z̄ = Σπ_i z_i / Σπ_i and f̄ likewise. Every fit below works on the
// rescaled, centred design (what scikit-learn builds for Ridge with
// sample_weight):
//
//	X_ij = √π_i (z_ij − z̄_j),   y_i = √π_i (f_i − f̄),   G = XᵀX,   c = Xᵀy.
//
// With an unpenalised intercept b the weighted problem
// min Σ π_i (f_i − b − gᵀz_i)² + pen(g) reduces to min ‖y − Xg‖² + pen(g)
// with b = f̄ − z̄ᵀg, so every fit only needs G, c and ‖y‖². G is computed
// once per neighbourhood (see Neighborhood) and shared by the labels; with
// more features than rows the neighbourhood holds K = XXᵀ instead, and
// the fits on more features than rows solve in the rows' dimension (see
// ridgeSolver.dualSolve).

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"gonum.org/v1/gonum/blas/blas64"
)

// ErrSurrogateInput is wrapped by every error that FitSurrogate,
// NewNeighborhood, Neighborhood.Fit and LassoPath return for inputs they
// cannot fit: mismatched lengths, too few rows, non-finite values, negative
// weights, an unknown selection or a feature count below 1.
var ErrSurrogateInput = errors.New("explain: invalid surrogate input")

// ErrL1NotConverged is returned when the L1 coordinate descent
// (SurrogateConfig.L1) does not reach its tolerance within its sweep limit.
var ErrL1NotConverged = errors.New("explain: L1 coordinate descent did not converge")

func inputErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrSurrogateInput}, args...)...)
}

// errNonFiniteFit is the error of a fit whose sums overflow: finite
// targets too large (about 1e150 and beyond) for the weighted sums of
// squares, which would give NaN, ±Inf or zero coefficients.
func errNonFiniteFit() error {
	return &RequestError{Field: "target", Reason: "the fit is not finite: the values are too large for its weighted sums", Precondition: true}
}

// FeatureSelection is lime's feature_selection: how the features of a
// surrogate are chosen before the final fit.
type FeatureSelection int

const (
	// SelectAuto is lime's "auto": SelectForward when numFeatures ≤ 6,
	// SelectHighestWeights otherwise.
	SelectAuto FeatureSelection = iota
	// SelectNone is lime's "none": all features, numFeatures ignored.
	SelectNone
	// SelectHighestWeights is lime's "highest_weights": fit Ridge(α = 0.01)
	// on all features and keep the numFeatures largest |g_j·z_0j| (z_0 is
	// the instance), largest first, ties in feature order.
	SelectHighestWeights
	// SelectForward is lime's "forward_selection": greedily add, up to
	// numFeatures times, the feature whose unpenalised weighted least-squares
	// fit (with the features chosen so far) has the highest weighted R²;
	// ties keep the lower feature index.
	SelectForward
	// SelectLassoPath is lime's "lasso_path": the LARS lasso path of (X, y)
	// (see LassoPath), walked from its last step back to step 1; the first
	// step with at most numFeatures non-zero coefficients gives the
	// features, in increasing index order.
	SelectLassoPath
)

var selectionNames = [...]string{
	SelectAuto:           "auto",
	SelectNone:           "none",
	SelectHighestWeights: "highest_weights",
	SelectForward:        "forward_selection",
	SelectLassoPath:      "lasso_path",
}

// ParseFeatureSelection returns the selection lime names s: "auto", "none",
// "highest_weights", "forward_selection" or "lasso_path".
func ParseFeatureSelection(s string) (FeatureSelection, error) {
	for f, name := range selectionNames {
		if s == name {
			return FeatureSelection(f), nil
		}
	}
	return 0, inputErr("unknown feature selection (want auto, none, highest_weights, forward_selection or lasso_path)")
}

// String returns lime's name of f.
func (f FeatureSelection) String() string {
	if f >= 0 && int(f) < len(selectionNames) {
		return selectionNames[f]
	}
	return fmt.Sprintf("FeatureSelection(%d)", int(f))
}

// resolve applies lime's rule for SelectAuto.
func (f FeatureSelection) resolve(numFeatures int) FeatureSelection {
	if f != SelectAuto {
		return f
	}
	if numFeatures <= 6 {
		return SelectForward
	}
	return SelectHighestWeights
}

// DefaultRidgeAlpha is lime's ridge penalty for the final fit, used when
// SurrogateConfig.Alpha is zero.
const DefaultRidgeAlpha = 1.0

// SurrogateConfig configures the final fit of a surrogate. Its zero value is
// lime's default: Ridge(alpha=1, fit_intercept=True) with the kernel weights
// as sample weights. Feature selection is not affected by it (lime's
// selections use their own fixed penalties).
type SurrogateConfig struct {
	// Alpha is the ridge penalty α of the final fit,
	//
	//	minimise Σ_i π_i (f_i − b − gᵀz_i)² + α‖g‖²   (b unpenalised).
	//
	// Zero means DefaultRidgeAlpha (lime's 1). A negative value requests
	// α = 0, ordinary weighted least squares; a singular system then gets
	// the minimum-norm solution, as scikit-learn's SVD fallback does.
	Alpha float64
	// L1, when positive, replaces the ridge by the lasso
	//
	//	minimise Σ_i π_i (f_i − b − gᵀz_i)² + λ‖g‖₁   (b unpenalised, λ = L1),
	//
	// solved by cyclic coordinate descent. Note the scale: there is no
	// 1/(2n) factor, so on an orthonormal weighted design g_j is the
	// least-squares coefficient soft-thresholded at λ/2. Alpha is then
	// ignored.
	L1 float64
}

func (c SurrogateConfig) ridgeAlpha() float64 {
	switch {
	case c.Alpha == 0:
		return DefaultRidgeAlpha
	case c.Alpha < 0:
		return 0
	}
	return c.Alpha
}

func (c SurrogateConfig) validate() error {
	if math.IsNaN(c.Alpha) || math.IsInf(c.Alpha, 0) {
		return inputErr("ridge alpha must be finite")
	}
	if math.IsNaN(c.L1) || math.IsInf(c.L1, 0) || c.L1 < 0 {
		return inputErr("L1 penalty must be finite and not negative")
	}
	return nil
}

// Surrogate is a fitted local linear model, lime's (intercept, exp, score,
// local_pred) for one label.
type Surrogate struct {
	// Features are the used features, in the order lime's feature selection
	// returns them.
	Features []int
	// Coef[i] is the coefficient of Features[i].
	Coef []float64
	// StdErr[i] is Coef[i]'s heteroskedasticity-robust (HC1 sandwich)
	// standard error, conditional on the feature selection; see
	// Neighborhood.Fit for the estimator and when it is 0.
	StdErr    []float64
	Intercept float64
	// Score is the weighted R² of the fit on the neighbourhood,
	// 1 − Σπ_i(f_i − f̂_i)² / Σπ_i(f_i − f̄)² (scikit-learn's Ridge.score with
	// sample_weight: 1 when both sums are 0, 0 when only the denominator is).
	Score float64
	// LocalPred is the surrogate's prediction for row 0, the instance.
	LocalPred float64
	// Selection is the feature selection that ran (SelectAuto resolved).
	Selection FeatureSelection
}

// FeatureWeight is one feature's coefficient in a surrogate.
type FeatureWeight struct {
	Feature int
	Weight  float64
}

// Ranked returns the (feature, coefficient) pairs sorted by decreasing
// |coefficient|; equal magnitudes keep the order of s.Features. This is
// lime's exp list.
func (s Surrogate) Ranked() []FeatureWeight {
	out := make([]FeatureWeight, len(s.Features))
	for i, f := range s.Features {
		out[i] = FeatureWeight{Feature: f, Weight: s.Coef[i]}
	}
	sort.SliceStable(out, func(a, b int) bool { return math.Abs(out[a].Weight) > math.Abs(out[b].Weight) })
	return out
}

// FitSurrogate fits lime's surrogate for one label: data holds the n×p
// interpretable rows (row 0 is the instance), target the model's output for
// the label on each row, weights the kernel weights π (nil means uniform).
// It selects features with sel (numFeatures of them; SelectNone ignores
// numFeatures) and fits the final model configured by cfg on them; see
// SurrogateConfig for the objective. Inputs are not modified.
//
// FitSurrogate equals lime's LimeBase.explain_instance_with_data on the same
// inputs (to rounding). To fit several labels on the same rows, build a
// Neighborhood once and call its Fit per label: the weighted Gram matrix,
// which dominates the cost, is then computed once.
func FitSurrogate(data [][]float64, target, weights []float64, numFeatures int, sel FeatureSelection, cfg SurrogateConfig) (Surrogate, error) {
	// Check the cheap arguments before building the neighbourhood.
	if len(target) != len(data) {
		return Surrogate{}, inputErr("target has %d rows, data has %d", len(target), len(data))
	}
	if err := checkFitArgs(numFeatures, sel, cfg); err != nil {
		return Surrogate{}, err
	}
	nb, err := NewNeighborhood(data, weights)
	if err != nil {
		return Surrogate{}, err
	}
	return nb.Fit(target, numFeatures, sel, cfg)
}

func checkFitArgs(numFeatures int, sel FeatureSelection, cfg SurrogateConfig) error {
	if sel < SelectAuto || sel > SelectLassoPath {
		return inputErr("unknown feature selection %d", int(sel))
	}
	if sel != SelectNone && numFeatures < 1 {
		return inputErr("feature selection %s needs at least 1 feature, got %d", sel, numFeatures)
	}
	return cfg.validate()
}

// Fit fits lime's surrogate for one label on the neighbourhood: target holds
// the model's output for the label on each row. See FitSurrogate.
//
// Standard errors. Surrogate.StdErr holds the heteroskedasticity-robust
// sandwich (HC1) standard errors of the final fit, computed from the fit's
// own residuals (no further model calls). With S the fitted features, X_S
// the rescaled, centred design, r_i = f_i − b − gᵀz_i the residuals and
// A = X_SᵀX_S + αI (A = G_SS + αI),
//
//	Cov(g) = A⁻¹ (Σ_i π_i² r_i² (z_i − z̄)(z_i − z̄)ᵀ) A⁻¹ · n₊/(n₊ − k − 1),
//
// n₊ the rows with π_i > 0 and k = |S|; StdErr is the square root of its
// diagonal. It is the covariance of g as a linear function of the f_i,
// treating the rows as independent with unknown variances, the −1 for the
// intercept (removed by the centring). It is conditional on the feature
// selection: S is taken as fixed, although it was chosen from the same
// data, so it understates the uncertainty of a selected feature's
// coefficient. With a ridge penalty it is the variance of the penalised
// estimate around its (biased) mean, not its error around the unpenalised
// coefficient. For the L1 fit the same sandwich is applied to the active
// set (the non-zero coefficients) with A = G_AA and k = |A|: on a fixed
// active set and signs the lasso solution is affine in the f_i with that
// matrix; coefficients at zero get 0. StdErr is 0 throughout when
// n₊ ≤ k + 1 or when A is numerically singular (an α = 0 fit on collinear
// features, whose coefficients are not identified).
//
// A fit whose sums overflow (finite targets too large for the weighted
// sums of squares, beyond about 1e150) would be NaN, ±Inf or zero: it is
// refused with a *RequestError on "target" with Precondition set.
func (nb *Neighborhood) Fit(target []float64, numFeatures int, sel FeatureSelection, cfg SurrogateConfig) (Surrogate, error) {
	return nb.fitLabel(nil, target, numFeatures, sel, cfg)
}

// fitLabel is Fit calling stop (nil: never) before it starts and between
// the steps of its long loops (the factorisations, the rounds of forward
// selection, the LARS steps, the coordinate-descent sweeps, the standard
// errors' sums), returning stop's error as is: the estimators pass
// ctx.Err.
func (nb *Neighborhood) fitLabel(stop func() error, target []float64, numFeatures int, sel FeatureSelection, cfg SurrogateConfig) (Surrogate, error) {
	if err := checkFitArgs(numFeatures, sel, cfg); err != nil {
		return Surrogate{}, err
	}
	if err := stopped(stop); err != nil {
		return Surrogate{}, err
	}
	ls, err := nb.label(target)
	if err != nil {
		return Surrogate{}, err
	}
	var s ridgeSolver
	gv := nb.gramView()
	sel = sel.resolve(numFeatures)
	var used []int
	switch sel {
	case SelectNone:
		used = make([]int, nb.p)
		for j := range used {
			used[j] = j
		}
	case SelectHighestWeights:
		used, err = nb.highestWeights(&s, gv, ls, numFeatures, stop)
	case SelectForward:
		used, err = nb.forwardSelection(&s, gv, ls, numFeatures, stop)
	case SelectLassoPath:
		used, err = nb.lassoSelection(gv, ls, numFeatures, stop)
	}
	if err != nil {
		return Surrogate{}, err
	}

	var coef []float64
	if cfg.L1 > 0 {
		coef, err = nb.lasso(ls, used, cfg.L1, stop)
	} else {
		coef, err = s.solve(nil, gv, ls, used, cfg.ridgeAlpha(), stop)
	}
	if err != nil {
		return Surrogate{}, err
	}
	out := Surrogate{Features: used, Coef: coef, Selection: sel}
	out.Intercept = ls.mean
	out.LocalPred = 0
	for i, j := range used {
		out.Intercept -= nb.mean[j] * coef[i]
		out.LocalPred += nb.row0[j] * coef[i]
	}
	out.LocalPred += out.Intercept
	resid := nb.residuals(ls, used, coef)
	out.Score = r2(blas64.Implementation().Ddot(nb.n, resid, 1, resid, 1), ls.tss)
	if out.StdErr, err = nb.stdErrs(gv, resid, used, coef, cfg, stop); err != nil {
		return Surrogate{}, err
	}
	if !finite(out.Intercept, out.LocalPred, out.Score) || !finite(out.Coef...) || !finite(out.StdErr...) {
		return Surrogate{}, errNonFiniteFit()
	}
	return out, nil
}

// highestWeights is lime's "highest_weights": Ridge(α = 0.01) on all
// features, then the numFeatures largest |g_j·z_0j|, stable.
func (nb *Neighborhood) highestWeights(s *ridgeSolver, gv *gramView, ls *labelStats, numFeatures int, stop func() error) ([]int, error) {
	all := make([]int, nb.p)
	for j := range all {
		all[j] = j
	}
	g, err := s.solve(nil, gv, ls, all, 0.01, stop)
	if err != nil {
		return nil, err
	}
	for j := range g {
		g[j] = math.Abs(g[j] * nb.row0[j])
	}
	sort.SliceStable(all, func(a, b int) bool { return g[all[a]] > g[all[b]] })
	return all[:min(numFeatures, nb.p)], nil
}

// forwardSelection is lime's "forward_selection": min(numFeatures, p)
// rounds; each adds the unused feature whose α = 0 fit together with the
// features chosen so far has the highest weighted R², starting from a best
// score of −1e8 and replacing it only when strictly greater (so ties keep
// the lower index, and a round where nothing beats −1e8 adds feature 0, as
// lime does). It calls stop every forwardStopEvery candidates.
func (nb *Neighborhood) forwardSelection(s *ridgeSolver, gv *gramView, ls *labelStats, numFeatures int, stop func() error) ([]int, error) {
	rounds := min(numFeatures, nb.p)
	used := make([]int, 0, rounds)
	inUse := make([]bool, nb.p)
	cand := make([]int, 0, rounds)
	g := make([]float64, rounds)
	for range rounds {
		best, bestScore := 0, -100000000.0
		for f := range nb.p {
			if inUse[f] {
				continue
			}
			if f%forwardStopEvery == 0 {
				if err := stopped(stop); err != nil {
					return nil, err
				}
			}
			cand = append(cand[:0], used...)
			cand = append(cand, f)
			var err error
			if g, err = s.solve(g, gv, ls, cand, 0, stop); err != nil {
				return nil, err
			}
			// For the exact least-squares solution, ‖y − Xg‖² = ‖y‖² − gᵀc.
			explained := 0.0
			for i, j := range cand {
				explained += g[i] * ls.xty[j]
			}
			if score := r2(ls.tss-explained, ls.tss); score > bestScore {
				best, bestScore = f, score
			}
		}
		used = append(used, best)
		inUse[best] = true
		gv.cache(best) // the next rounds' fits all include it
	}
	return used, nil
}

// forwardStopEvery is how many candidate fits forward selection makes
// between calls of its stop function: a few thousand of |S|³/3 for the
// handful of features forward selection is used for.
const forwardStopEvery = 1024

// lassoSelection is lime's "lasso_path" selection.
func (nb *Neighborhood) lassoSelection(gv *gramView, ls *labelStats, numFeatures int, stop func() error) ([]int, error) {
	_, coefs, err := larsLasso(gv, ls.xty, nb.p, nb.n, stop)
	if err != nil {
		return nil, err
	}
	// lime: nonzero starts as all features and the walk covers steps
	// len−1 down to 1, breaking at the first with few enough non-zeros.
	var nonzero []int
	if len(coefs) < 2 {
		nonzero = make([]int, nb.p)
		for j := range nonzero {
			nonzero[j] = j
		}
		return nonzero, nil
	}
	for i := len(coefs) - 1; i >= 1; i-- {
		nonzero = nonzero[:0]
		for j, v := range coefs[i] {
			if v != 0 {
				nonzero = append(nonzero, j)
			}
		}
		if len(nonzero) <= numFeatures {
			break
		}
	}
	return nonzero, nil
}

// r2 is scikit-learn's r2_score from its two sums: 1 − rss/tss, with 1 when
// both are zero and 0 when only tss is.
func r2(rss, tss float64) float64 {
	if tss == 0 {
		if rss == 0 {
			return 1
		}
		return 0
	}
	return 1 - rss/tss
}
