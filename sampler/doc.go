// Package sampler draws the perturbed samples that explanation methods score,
// reproducing lime's tabular sampling (LimeTabularExplainer with its
// quartile and decile discretizers), lime's text masks over a tokenization
// that keeps byte offsets (Tokenize, NewTextDomain, SampleTextMasks), image
// segmentations (a grid, SLIC superpixels) and fills, shap's choice of
// coalitions for KernelSHAP (SampleCoalitions), and shap's summaries of a
// large KernelSHAP background into K weighted rows (SummarizeKMeans, as
// shap.kmeans, on FitKMeans, scikit-learn's k-means; SummarizeSample, as
// shap.sample).
//
// # Concurrency
//
// The package is a pure library: no global state. Stats,
// Discretizer and Tabular are read-only once built and safe for concurrent
// use; randomness comes only from the *rand.Rand passed to each call, which
// must not be shared between goroutines.
//
// Tabular.Sample draws large neighbourhoods on several goroutines: it
// starts up to runtime.GOMAXPROCS(0) − 1 of them, each filling chunks of
// 512 rows, and waits for all of them before it returns (none outlives the
// call, none starts for a neighbourhood of one chunk). It reads the
// caller's rng only on the caller's goroutine, before any row is drawn, to
// seed one generator per chunk. The same rng state and n therefore give the
// same samples, bit for bit, whatever GOMAXPROCS and the scheduling.
//
// # Maths
//
// Training statistics (StatsFromData), for n background rows x_i:
//
//	Means[f] = Σ_i x_if / n
//	Stds[f]  = √((Σ_i (x_if − Means[f])² − (Σ_i (x_if − Means[f]))²/n) / n), 1 if (near) 0
//
// (scikit-learn's StandardScaler(with_mean=False)); a categorical feature has
// Means 0, Stds 1 and the relative frequency of each distinct value. A
// discretizer cuts feature f at the sorted distinct percentiles
// q_1 < … < q_k of its column (numpy's linear interpolation: the value at
// virtual index (n−1)·P/100 of the sorted column), so that bin b holds
// q_b < x ≤ q_{b+1} (q_0 = −∞, q_{k+1} = +∞); per bin it keeps the training
// frequency, mean μ_b, population standard deviation σ_b (+1e-11) and range
// [m_b, M_b] = [q_b, q_{b+1}] with the column minimum and maximum at the ends.
//
// Sampling (Tabular.Sample), for an instance x⁰ and each sample i ≥ 1:
//
//	continuous f:   x_if = z·Stds[f] + c_f, z ~ N(0,1), c_f = Means[f] (or x⁰_f)
//	                s_if = (x_if − Means[f]) / Stds[f]
//	categorical f:  x_if = v with probability freq(v);  s_if = [x_if = x⁰_f]
//	discretized f:  b ~ bin frequencies;  x_if ~ N(μ_b, σ_b²) conditioned on [m_b, M_b]
//	                s_if = [b = bin(x⁰_f)]
//
// where x is the Raw matrix sent to the model and s the Interpretable one the
// surrogate is fitted on (SampleInto writes them into recycled storage); row 0 is x⁰ with s_0f = (x⁰_f − Means[f])/Stds[f]
// for continuous features and 1 otherwise. The truncated normal is drawn by
// rejection from N(0,1) when the interval holds at least a quarter of the
// mass, by the inverse CDF (Wichura's AS 241 quantile, on the survival
// function in the upper tail) when it holds less, and by Marsaglia's tail
// method beyond 25 standard deviations, where the CDF is no longer
// representable.
//
// Background summaries: k-means (FitKMeans) minimises Σ_i ‖x_i − c_{l(i)}‖²
// over the centres c_1…c_K and labels l; SummarizeKMeans returns each centre
// with value j replaced by the value of feature j in the data closest to it,
// weighted w_c = |{i : l(i) = c}| / n, so that Σ_c w_c g(c) stands in for
// the mean (1/n) Σ_i g(x_i) of the model's outputs g over the background.
// SummarizeSample returns K rows drawn without replacement, w = 1/K.
package sampler
