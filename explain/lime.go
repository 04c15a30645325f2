package explain

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/explainer-sidecar/explainer/sampler"
)

// Defaults and limits of a LIME request.
const (
	DefaultNumSamples  = 5000
	DefaultNumFeatures = 10
	// MaxNumSamples caps a request's samples: n×p interpretable and raw
	// values are held in memory at once (100000 × 1000 features ≈ 1.6 GB
	// would not fit, so the server also caps n×p; see server.MaxSampleValues).
	MaxNumSamples = 100000
)

// LIMERequest is one tabular LIME explanation. Zero values are lime's
// defaults where lime has one.
type LIMERequest struct {
	// Instance is the row to explain, in the model's feature order.
	Instance []float64
	// FeatureNames name the features in descriptions; nil gives "x0", "x1", ...
	FeatureNames []string
	// CategoryNames names the categories of categorical features: code c of
	// feature j is CategoryNames[j][c]. Optional.
	CategoryNames map[int][]string
	// Stats are the training statistics the neighbourhood is drawn from;
	// they also decide discretization (Stats.Discretizer non-nil) and which
	// features are categorical. Required.
	Stats *sampler.Stats
	// SampleAroundInstance draws continuous features around the instance
	// rather than the training mean.
	SampleAroundInstance bool
	// Sampling is the neighbourhood: NumSamples rows, the instance
	// included (default DefaultNumSamples; 2 to MaxNumSamples), drawn from
	// Seed.
	Sampling
	// SurrogateFit configures the local model: NumFeatures defaults to
	// DefaultNumFeatures; KernelWidth is w on euclidean distances in the
	// interpretable space, default 0.75·sqrt(p) for p features.
	SurrogateFit
	// Targets chooses the classes (default the instance's top class).
	Targets
}

// LIME explains the model's prediction for req.Instance with lime's tabular
// semantics: it samples req.NumSamples rows around the instance, scores them
// with m in one Predict call (m batches them), and fits one surrogate per
// label on the same samples. Each attribution's StdErr is the surrogate's
// HC1 sandwich standard error, conditional on the feature selection (see
// Neighborhood.Fit).
func LIME(ctx context.Context, m Model, req LIMERequest) (*Result, error) {
	p := len(req.Instance)
	if err := req.validate(); err != nil {
		return nil, err
	}
	n := req.Sampling.orDefault(DefaultNumSamples)
	k, width, sel := req.SurrogateFit.resolve(p, DefaultNumFeatures, 0.75*math.Sqrt(float64(p)))

	tab := sampler.Tabular{Stats: req.Stats, SampleAroundInstance: req.SampleAroundInstance}
	rng := rand.New(rand.NewPCG(req.Seed, 0x9e3779b97f4a7c15))
	nb, err := tab.Sample(req.Instance, n, rng)
	if err != nil {
		return nil, fmt.Errorf("explain: lime sampling: %w", err)
	}
	// A caller that has gone gets no model call, as with the other
	// estimators.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	scores, err := m.Predict(ctx, nb.Raw)
	if err != nil {
		return nil, err
	}
	if len(scores) != n {
		return nil, fmt.Errorf("explain: model returned %d rows for %d samples", len(scores), n)
	}
	classes := len(scores[0])
	labels, err := req.Targets.pick(scores[0])
	if err != nil {
		return nil, err
	}

	weights := kernelWeightsToFirst(nb.Interpretable, width)
	// The weighted Gram matrix is most of a fit's cost; build it once for
	// every label.
	fit, err := newNeighborhood(nb.Interpretable, weights, ctx.Err)
	if err != nil {
		return nil, fmt.Errorf("explain: lime: %w", err)
	}
	descriptions := tab.Describe(req.Instance, FeatureNames(req.FeatureNames, p), req.CategoryNames)
	target := make([]float64, n)
	res := &Result{
		Method:         "lime",
		InstanceScores: append([]float64(nil), scores[0]...),
		NumSamples:     n,
		Seed:           req.Seed,
		KernelWidth:    width,
		Selection:      sel,
		Labels:         make([]LabelResult, 0, len(labels)),
	}
	for _, label := range labels {
		for i, row := range scores {
			if len(row) != classes {
				return nil, fmt.Errorf("explain: model returned %d scores in row %d, %d in row 0", len(row), i, classes)
			}
			target[i] = row[label]
		}
		s, err := fit.fitLabel(ctx.Err, target, k, sel, req.Surrogate)
		if err != nil {
			return nil, limeFitErr("lime", label, err)
		}
		lr := LabelResult{
			Label:           label,
			Prediction:      scores[0][label],
			Intercept:       s.Intercept,
			Score:           s.Score,
			LocalPrediction: s.LocalPred,
		}
		lr.Attributions = rankedAttributions(s, func(f int) string { return descriptions[f] })
		res.Labels = append(res.Labels, lr)
	}
	return res, nil
}

func (req *LIMERequest) validate() error {
	p := len(req.Instance)
	switch {
	case p == 0:
		return invalid("instance", "must have at least 1 feature")
	case req.Stats == nil:
		return invalid("training", "statistics are required")
	case req.FeatureNames != nil && len(req.FeatureNames) != p:
		return invalid("feature_names", "has %d names for %d features", len(req.FeatureNames), p)
	}
	for i, v := range req.Instance {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return invalid(fmt.Sprintf("instance[%d]", i), "non-finite value")
		}
	}
	if err := req.Stats.Validate(p); err != nil {
		return &RequestError{Field: "training", Reason: err.Error()}
	}
	if err := req.Sampling.Validate(limeMinSamples); err != nil {
		return err
	}
	if err := req.SurrogateFit.Validate(); err != nil {
		return err
	}
	return req.Targets.Validate(0)
}

// limeFitErr wraps the error of label's surrogate fit in method's. A fit
// that is not finite is the model's doing (its scores are too large for
// the fit's sums): a RequestError with Precondition set that names the
// label.
func limeFitErr(method string, label int, err error) error {
	if re, ok := errors.AsType[*RequestError](err); ok && re.Precondition {
		return precondition("scores", "label %d: the %s fit is not finite: the model's scores are too large for its weighted sums", label, method)
	}
	return fmt.Errorf("explain: %s fit for label %d: %w", method, label, err)
}

// kernelWeightsToFirst returns KernelWeights of each row's euclidean
// distance to row 0.
func kernelWeightsToFirst(rows [][]float64, width float64) []float64 {
	w := make([]float64, len(rows))
	distancesToFirst(w, rows, rows[0])
	return KernelWeights(w, w, width)
}

// distancesToFirst writes the euclidean distance of each row to first into
// dst, summing the squared differences in feature order. Rows have
// len(first) values.
func distancesToFirst(dst []float64, rows [][]float64, first []float64) {
	// Two rows at a time: each sum is a chain of dependent additions, and
	// two chains keep the adder busier than one.
	i := 0
	for ; i+1 < len(rows); i += 2 {
		a, b := rows[i][:len(first)], rows[i+1][:len(first)]
		var sa, sb float64
		for j, f := range first {
			da, db := a[j]-f, b[j]-f
			sa += da * da
			sb += db * db
		}
		dst[i], dst[i+1] = math.Sqrt(sa), math.Sqrt(sb)
	}
	for ; i < len(rows); i++ {
		a := rows[i][:len(first)]
		var s float64
		for j, f := range first {
			d := a[j] - f
			s += d * d
		}
		dst[i] = math.Sqrt(s)
	}
}

// FeatureNames is names, or when nil the names the estimators give p
// unnamed features: "x0", "x1", ....
func FeatureNames(names []string, p int) []string {
	if names != nil {
		return names
	}
	out := make([]string, p)
	for i := range out {
		out[i] = fmt.Sprintf("x%d", i)
	}
	return out
}
