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
// A Model that panics on a goroutine an estimator started (Occlusion,
// Permutation and Sensitivity call it off the caller's goroutine, to keep
// two calls in flight) does not end the process: the estimator returns an
// error, "explain: <method>: group: panic: <value>", wrapping a
// *group.PanicError of this module's internal/group that keeps the stack
// for the log. A Model called on the caller's goroutine (the other
// estimators) panics there, as any callee does.
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
//
// With X the centred design rescaled by √π, the fits work on G = XᵀX
// (p×p). With more features than samples (the words of a long text) they
// work in the samples' dimension instead: the ridge on the features S is
// g = X_Sᵀ(X_S X_Sᵀ + αI)⁻¹y, the same coefficients from an n×n system, and
// nothing p×p is held. [FitBytes] bounds a fit's memory for a server's
// admission ([MaxFitBytes]). The fits check the estimator's ctx between
// their long steps (Gram blocks, factorisation columns, selection rounds,
// LARS steps, coordinate-descent sweeps), so a cancelled job stops there.
//
// [LIMEText] and [LIMEImage] are lime's LimeTextExplainer and
// LimeImageExplainer: words (with their byte offsets) or image segments are
// removed at random, the distance is 100 × cosine distance (text, kernel
// width 25) or the cosine distance (images, kernel width 0.25) of the
// binary mask to the all-ones row, and the surrogate is fitted as above.
//
// # Occlusion
//
// [Occlusion] follows Captum's Occlusion: a window slides over the input
// with the given strides and is replaced by a baseline; a position's
// attribution is the mean over the windows covering it of f(x) − f(x with
// the window occluded), per target.
//
// # Anchors
//
// [AnchorsTabular], [AnchorsText] and [AnchorsImage] follow alibi's
// AnchorTabular, AnchorText and AnchorImage (Ribeiro et al. 2018): a beam
// search over rules (sets of predicates on the instance) with KL-LUCB
// choosing the rules of highest precision, precision = P(f(z) = f(x) | z
// satisfies the rule) estimated on samples drawn given the rule, coverage
// = P(z satisfies the rule) on samples drawn with none; a rule is accepted
// when the KL lower bound on its precision exceeds the threshold. See
// anchors.go for the details and where they differ from alibi.
//
// # KernelSHAP
//
// [KernelSHAP] follows shap's KernelExplainer (interventional, tabular): a
// coalition z of players (features or groups) is valued as
// v(z) = link(Σ_b w_b f(h(z, b))), the model's output with absent players
// taken from each background row b, averaged; the attributions solve
//
//	minimise Σ_z π_z (v(z) − v(0) − Σ_i z_i φ_i)²   subject to   Σ_i φ_i = v(1) − v(0)
//
// with the Shapley kernel π(z) = (M−1)/(C(M,|z|)·|z|·(M−|z|)) over the
// coalitions sampler.SampleCoalitions chooses; with every coalition they
// are the exact Shapley values.
//
// # Permutation importance
//
// [Permutation] follows scikit-learn's permutation_importance: the
// importance of a feature group g on repeat r is s₀ − s_gr, the score on
// the data minus the score with g's columns permuted across rows; the
// result holds every repeat, their mean and their standard deviation.
// [Score] computes the scores (accuracy, balanced accuracy, log loss, ROC
// AUC, MSE, R², with sample weights) as scikit-learn's metrics do.
//
// # Sensitivity
//
// [Sensitivity] is the mean partial derivative of each class score over a
// data set, I_cj = (1/N) Σ_i ∂f_c(x_i)/∂x_ij, by central differences with a
// step relative to each feature's standard deviation, with the mean
// absolute derivative beside it (signed effects cancel out otherwise).
//
// # Partial dependence and ALE
//
// [PartialDependence] is scikit-learn's partial_dependence(method="brute"):
// for each grid value v of a feature (or pair), every row of the data with
// the feature set to v is scored; the curve is the mean score (with its
// standard error) and, on request, every row's curve (ICE), optionally
// centred at the first grid point. [ALE] is Apley and Zhu's first-order
// accumulated local effects as alibi computes them: the mean score
// difference across each quantile bin of the feature, accumulated over the
// bins and centred to mean 0 over the rows. Both pack many grid points'
// (or bins') rows into each Predict call and report each finished feature.
//
// # Counterfactuals
//
// [Counterfactuals] searches, without gradients, for the rows x closest
// to the instance x⁰ in d(x) = Σ_j |x_j − x⁰_j| / MAD_j (a changed
// categorical feature costs 1) that the model puts in a desired class with
// a least score: growing spheres (Laugel et al. 2018) until valid rows
// appear, a genetic search whose generations are each one Predict call,
// and a sparsification that moves features back to x⁰ while the row stays
// valid. Immutable features, ranges and the data set's categories bound
// every row it scores.
//
// # Standard errors
//
// Every attribution carries a standard error (Attribution.StdErr;
// OcclusionResult.StdErrs for occlusion maps), computed from what was
// already scored, with no further model calls:
//
//   - LIME (tabular, text, image): the heteroskedasticity-robust sandwich
//     (HC1) of the final weighted fit, A⁻¹(Σ_i π_i² r_i² x̃_i x̃_iᵀ)A⁻¹ ·
//     n₊/(n₊ − k − 1) with A = X̃ᵀΠX̃ + αI on the centred design of the k
//     selected features, conditional on the selection (Neighborhood.Fit).
//   - KernelSHAP (tabular, text, image): the same sandwich of the
//     constrained regression, G⁻¹(Σ_z π_z² r_z² x_z x_zᵀ)G⁻¹ · n/(n − k),
//     and 1ᵀCov 1 for the eliminated player; conservative under shap's
//     sampling scheme (KernelSHAP).
//   - Permutation importance: the standard deviation (ddof 1) of the
//     repeats over √repeats.
//   - Sensitivity: the standard deviation (ddof 1) of the partial
//     derivatives over √rows.
//   - Occlusion: per position, the standard deviation (ddof 1) of the
//     covering windows' score drops over √windows.
//
// # Sampling until precise, stability and fidelity
//
// [AutoExplain] reruns a sampling estimator with 2, 4, 8, … times its first
// round's samples until the top-k standard errors fall below a tolerance or
// the top-k ranking stops changing, or the budget is spent. The samplers
// draw a prefix-stable sequence for a seed, so over a [CachedModel] each
// round scores only its new samples.
//
// [Stability] and [ResultStability] compare the attributions of runs with
// different seeds (Spearman rank correlation, top-k overlap, per-feature
// spread). [FidelityCurves] scores deletion and insertion curves of an
// explanation against random orders, through a [MaskScorer] that hides
// players the way the method does.
package explain
