package explain

import (
	"fmt"
	"math"
	"sort"
)

// Options the request structs share. Each is embedded, so its fields read as
// the request's own (req.NumSamples, req.Labels), and each has one Validate
// method, so every estimator applies the same rules with the same messages.

// MaxLabels caps Targets.Labels: every label listed is one more surrogate
// fit or Shapley solve over all the samples.
const MaxLabels = 1000

// Lower bounds on Sampling.NumSamples, passed to Sampling.Validate.
const (
	// LIME's neighbourhood holds the instance and at least one sample.
	limeMinSamples = 2
	// KernelSHAP scores at least one coalition (the budget is capped at
	// the coalitions there are).
	shapMinSamples = 1
)

// Targets chooses the classes (columns of the model's scores) an estimator
// explains. The zero value explains the one class with the highest score
// for the instance.
type Targets struct {
	// Labels are the class indices to explain, in this order; at most
	// MaxLabels. Empty: the top class (unless TopLabels is set).
	Labels []int
	// TopLabels explains the TopLabels highest-scoring classes, highest
	// first (ties: the lower class first), all of them when TopLabels
	// exceeds the class count; it takes precedence over Labels. 0: use
	// Labels. Not negative.
	TopLabels int
}

// minKernelWidthSquared is the smallest w² a LIME kernel divides by: the
// smallest normal float64, so that d²/w² stays finite for any finite
// distance.
const minKernelWidthSquared = 0x1p-1022

// Validate reports the first field of t that no model with classes classes
// could use: a negative TopLabels, more than MaxLabels labels, a negative
// label or, when classes > 0, a label at or above classes (0 means the
// class count is not known yet; the estimators check again once the model
// has answered). The error is a *RequestError naming "top_labels", "labels"
// or "labels[i]".
func (t Targets) Validate(classes int) error {
	switch {
	case t.TopLabels < 0:
		return invalid("top_labels", "must not be negative")
	case len(t.Labels) > MaxLabels:
		return invalid("labels", "has %d labels, more than the maximum of %d", len(t.Labels), MaxLabels)
	}
	for i, l := range t.Labels {
		switch {
		case l < 0 && classes <= 0:
			return invalid(fmt.Sprintf("labels[%d]", i), "must not be negative")
		case l < 0 || (classes > 0 && l >= classes):
			return invalid(fmt.Sprintf("labels[%d]", i), "%d is out of range [0,%d)", l, classes)
		}
	}
	return nil
}

// pick returns the classes to explain, given the model's scores for the
// instance.
func (t Targets) pick(instance []float64) ([]int, error) {
	classes := len(instance)
	if classes == 0 {
		return nil, fmt.Errorf("explain: model returned no scores")
	}
	if err := t.Validate(0); err != nil {
		return nil, err
	}
	for i, l := range t.Labels {
		if l >= classes { // the request may be right, the model's answer is short
			return nil, precondition(fmt.Sprintf("labels[%d]", i), "%d is out of range [0,%d): the model returned %d classes", l, classes, classes)
		}
	}
	if t.TopLabels > 0 {
		idx := make([]int, classes)
		for i := range idx {
			idx[i] = i
		}
		// Highest score first; ties keep the lower class first.
		sort.SliceStable(idx, func(a, b int) bool { return instance[idx[a]] > instance[idx[b]] })
		return idx[:min(t.TopLabels, classes)], nil
	}
	if len(t.Labels) == 0 {
		best := 0
		for i, v := range instance {
			if v > instance[best] {
				best = i
			}
		}
		return []int{best}, nil
	}
	return t.Labels, nil
}

// Sampling is the statistical budget of a sampling estimator and the seed
// of its random draws. The zero value is the estimator's default budget,
// drawn with seed 0.
type Sampling struct {
	// NumSamples is the number of perturbed samples the estimator draws and
	// scores: what a sample is (a neighbour, a coalition), the default and
	// the lower bound are the estimator's, as its request says. 0: the
	// default; at most MaxNumSamples.
	NumSamples int
	// Seed seeds every random draw: the same seed, request and model give
	// the same result, bit for bit. 0 is a seed like any other.
	Seed uint64
}

// Validate reports a NumSamples other than 0 (the default) outside
// [minSamples, MaxNumSamples], minSamples being the estimator's lower bound
// (at least 1), as a *RequestError naming "num_samples".
func (s Sampling) Validate(minSamples int) error {
	minSamples = max(minSamples, 1)
	if s.NumSamples != 0 && (s.NumSamples < minSamples || s.NumSamples > MaxNumSamples) {
		return invalid("num_samples", "%d is outside [%d, %d] (0 means the default)", s.NumSamples, minSamples, MaxNumSamples)
	}
	return nil
}

// orDefault returns NumSamples, or def when it is 0.
func (s Sampling) orDefault(def int) int {
	if s.NumSamples == 0 {
		return def
	}
	return s.NumSamples
}

// SurrogateFit configures LIME's local model: the features it keeps, how
// they are chosen, the kernel that weights the samples and the regression.
// The zero value is lime's default: the estimator's default feature count
// and kernel width, SelectAuto, and Ridge(alpha=1).
type SurrogateFit struct {
	// NumFeatures is the number of features in each explanation, capped at
	// the feature count. 0: the estimator's default; not negative.
	NumFeatures int
	// Selection is lime's feature_selection. Default SelectAuto.
	Selection FeatureSelection
	// KernelWidth is w in the sample weights sqrt(exp(−d²/w²)), d being a
	// sample's distance to the instance (which distance is the
	// estimator's). 0: the estimator's default; otherwise positive and
	// finite.
	KernelWidth float64
	// Surrogate configures the regression (ridge by default).
	Surrogate SurrogateConfig
}

// Validate reports the first field of f no fit could use: a negative
// NumFeatures, an unknown Selection, a KernelWidth negative, NaN or
// infinite, a non-finite Surrogate.Alpha, a Surrogate.L1 negative or not
// finite. The error is a *RequestError naming "num_features",
// "feature_selection", "kernel_width", "ridge_alpha" or "l1_penalty".
func (f SurrogateFit) Validate() error {
	switch {
	case f.NumFeatures < 0:
		return invalid("num_features", "must not be negative")
	case f.Selection < SelectAuto || f.Selection > SelectLassoPath:
		return invalid("feature_selection", "unknown selection %d", int(f.Selection))
	case f.KernelWidth < 0 || math.IsNaN(f.KernelWidth) || math.IsInf(f.KernelWidth, 0):
		return invalid("kernel_width", "must be positive and finite")
	case f.KernelWidth != 0 && f.KernelWidth*f.KernelWidth < minKernelWidthSquared:
		// exp(−d²/w²) divides by w²: below this it underflows or overflows,
		// and every neighbour's weight is 0 or NaN.
		return invalid("kernel_width", "%g is too small: the kernel's w² must be at least %g", f.KernelWidth, minKernelWidthSquared)
	case math.IsNaN(f.Surrogate.Alpha) || math.IsInf(f.Surrogate.Alpha, 0):
		return invalid("ridge_alpha", "must be finite")
	case !(f.Surrogate.L1 >= 0) || math.IsInf(f.Surrogate.L1, 1):
		return invalid("l1_penalty", "must be finite and not negative")
	}
	return nil
}

// resolve returns the fit's feature count (default defFeatures, capped at
// p features), kernel width (default defWidth) and selection (auto
// resolved by lime's rule).
func (f SurrogateFit) resolve(p, defFeatures int, defWidth float64) (k int, width float64, sel FeatureSelection) {
	k = f.NumFeatures
	if k == 0 {
		k = defFeatures
	}
	k = min(k, p)
	width = f.KernelWidth
	if width == 0 {
		width = defWidth
	}
	return k, width, f.Selection.resolve(k)
}
