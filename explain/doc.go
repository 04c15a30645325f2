// Package explain fits explanation estimators to a remote model's scores.
//
// It owns no model: every estimator takes a [Model], sends it perturbed
// samples and fits a local surrogate to what comes back. The package is a
// pure library: no gRPC, no global state, no goroutines of its own beyond
// the call; the same request, seed and model give the same result. Large
// neighbourhoods are sampled (package sampler) and prepared for the fit
// (NewNeighborhood) on up to runtime.GOMAXPROCS(0) goroutines, started and
// waited for within the call, in a way that leaves every result the same,
// bit for bit, whatever GOMAXPROCS.
//
// # LIME
//
// [LIME] follows lime's LimeTabularExplainer: it draws a neighbourhood of
// the instance (package sampler), scores it with the model, weights each
// sample by the exponential kernel π(d) = sqrt(exp(−d²/w²)) of its euclidean
// distance d to the instance in the interpretable space (w defaults to
// 0.75·sqrt(p) for p features), selects features as lime's
// feature_selection does, and fits, per explained label,
//
//	minimise Σ_i π_i (f_i − b − gᵀz_i)² + α‖g‖²   (ridge, α = 1 by default)
//
// or the L1 form Σ_i π_i (f_i − b − gᵀz_i)² + λ‖g‖₁ by coordinate descent.
// The attributions are g, ordered by decreasing |g_j|; the result also
// carries the intercept b, the weighted R² of the fit and the surrogate's
// prediction for the instance.
package explain
