package explain

// Result is what an estimator found: per explained label (class), one
// attribution per feature or feature group. Fields an estimator does not
// produce stay zero; each says which estimators set it.
type Result struct {
	// Method names the estimator: "lime", "lime_text", "lime_image",
	// "kernelshap", "permutation", "sensitivity", "partial_dependence",
	// "ale".
	Method string
	// Labels holds one explanation per explained class. Permutation
	// importance has one entry (Label 0): the importances of the score.
	Labels []LabelResult
	// InstanceScores are the model's scores for the instance itself (local
	// methods).
	InstanceScores []float64
	// NumSamples is the number of rows the model scored.
	NumSamples int
	// Seed is the seed used (random methods).
	Seed uint64
	// KernelWidth is the kernel width used (LIME).
	KernelWidth float64
	// Selection is the feature selection used, with auto resolved (LIME).
	Selection FeatureSelection
	// Scoring names the score (permutation importance): "accuracy", ...
	Scoring string
	// BaselineScore is the score on the unpermuted data (permutation
	// importance).
	BaselineScore float64
	// Spans[j] are the [start, end) byte ranges in the text of feature j,
	// Attribution.Index j (text methods).
	Spans [][][2]int
	// Segments is the image's segment map; Attribution.Index j is segment
	// j (image methods that attribute segments).
	Segments *SegmentMap
	// Maps are per-pixel attribution maps, one per explained label (image
	// occlusion).
	Maps []AttributionMap
	// Counterfactuals are the rows a counterfactual search found.
	Counterfactuals *CounterfactualResult
}

// SegmentMap labels each pixel of an image, row-major, with its segment.
type SegmentMap struct {
	Height, Width int
	Labels        []int
}

// AttributionMap is one label's attribution per pixel, row-major.
type AttributionMap struct {
	Label         int
	Height, Width int
	Values        []float64
	// StdErrs are parallel to Values; nil when not estimated.
	StdErrs []float64
}

// LabelResult explains one class.
type LabelResult struct {
	Label int
	// Prediction is the model's score for this class on the instance
	// (local methods).
	Prediction float64
	// Intercept, Score (weighted R²) and LocalPrediction describe LIME's
	// surrogate.
	Intercept       float64
	Score           float64
	LocalPrediction float64
	// BaseValue is E[f(background)] and ModelValue is f(x), both in the
	// link's space (KernelSHAP): the attributions sum to ModelValue −
	// BaseValue.
	BaseValue  float64
	ModelValue float64
	// Attributions are ordered by decreasing |Weight| (LIME) or by feature
	// (the other methods).
	Attributions []Attribution
	// PartialDependence holds one curve (or surface) per feature (or pair)
	// asked (partial dependence).
	PartialDependence []PDCurve
	// ALE holds one accumulated local effects curve per feature asked
	// (ALE).
	ALE []ALECurve
	// Anchor is the rule found (anchors); nil for the other methods.
	Anchor *Anchor
}

// Attribution is one feature's (or feature group's) weight.
type Attribution struct {
	// Index is the feature's index, or the group's when features are
	// grouped.
	Index int
	// Features are the group's features, nil for a single feature.
	Features []int
	// Description is readable: "mean radius <= 11.70", "color=red", "age".
	Description string
	// Weight is the attribution: LIME's coefficient, the Shapley value, the
	// mean importance, the mean partial derivative.
	Weight float64
	// Std is the standard deviation of Values (permutation importance, ddof
	// 0) or of the partial derivative over the data (sensitivity).
	Std float64
	// Values are the importance on each repeat (permutation importance).
	Values []float64
	// MeanAbs is the mean absolute partial derivative (sensitivity).
	MeanAbs float64
	// StdErr is Weight's standard error; 0 when it cannot be estimated.
	// Each estimator's doc comment says how it is computed.
	StdErr float64
}

// finite reports whether every value of vs is finite (not NaN or ±Inf).
func finite(vs ...float64) bool {
	for _, v := range vs {
		if v-v != 0 {
			return false
		}
	}
	return true
}

// nonFinite returns nil when every value r computed from the model's
// scores is finite, and otherwise the error that refuses the result: the
// request was valid, but the scores were too large for the estimator's
// sums (they overflow, and the result would be NaN, ±Inf or 0 in their
// stead), a RequestError with Precondition set. The model's own scores
// (Prediction, InstanceScores) are the predictor's to check.
func (r *Result) nonFinite() error {
	if err := r.Counterfactuals.nonFinite(); err != nil {
		return err
	}
	if !finite(r.BaselineScore) {
		return precondition("scores", "the %s baseline score is not finite: the model's scores are too large for its sums", r.Method)
	}
	for _, l := range r.Labels {
		ok := finite(l.Intercept, l.Score, l.LocalPrediction, l.BaseValue, l.ModelValue)
		if a := l.Anchor; a != nil {
			ok = ok && finite(a.Precision, a.Coverage)
		}
		for _, a := range l.Attributions {
			ok = ok && finite(a.Weight, a.Std, a.MeanAbs, a.StdErr) && finite(a.Values...)
		}
		ok = ok && pdFinite(l.PartialDependence) && aleFinite(l.ALE)
		if !ok {
			return precondition("scores", "label %d: the %s attributions are not finite: the model's scores are too large for the estimator's sums", l.Label, r.Method)
		}
	}
	return nil
}
