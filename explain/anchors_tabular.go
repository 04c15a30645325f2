package explain

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/explainer-sidecar/explainer/sampler"
)

// MaxAnchorTrainingRows caps AnchorTabularRequest.Training: the sampler
// keeps every row's bins and, per feature, the rows in the instance's bin.
const MaxAnchorTrainingRows = 100_000

// AnchorTabularRequest is an anchor search over a tabular row (alibi's
// AnchorTabular with its quartile discretizer).
type AnchorTabularRequest struct {
	// Instance is the row to explain, in the model's feature order.
	Instance []float64
	// FeatureNames name the features in descriptions; nil gives "x0", ...
	FeatureNames []string
	// Categorical lists the categorical features: their predicate is
	// "name=value"; every other feature is cut into lime's quartile bins
	// (sampler.NewQuartileDiscretizer over Training) and its predicate is
	// the instance's bin ("mean radius <= 11.70").
	Categorical []int
	// CategoryNames names the categories in descriptions, as in
	// LIMERequest.
	CategoryNames map[int][]string
	// Training are the rows samples are drawn from: 2 to
	// MaxAnchorTrainingRows rows of len(Instance) finite values.
	Training [][]float64
	// Discretizer, when set, is Training's quartile discretizer made
	// before (sampler.NewQuartileDiscretizer over Training, FeatureNames
	// and Categorical), so that the instances of a batch, or requests with
	// the same training rows, sort the rows once. Nil: made here.
	Discretizer *sampler.Discretizer
	AnchorConfig
}

// AnchorsTabular searches for an anchor of m's prediction for
// req.Instance (see the search's description in anchors.go). A predicate
// is one feature in the instance's bin (quartile bin, or category). A
// sample satisfying a rule is a training row drawn uniformly with the
// rule's features replaced by those of another training row drawn
// uniformly among the rows in which every feature of the rule is in the
// instance's bin (conditional sampling, as alibi's TabularSampler). When
// no row matches the whole rule, the longest prefix of the rule (in the
// order its predicates were added) that some row matches is copied from
// such a row, and each remaining feature takes the value of a row drawn
// among those in the instance's bin of that feature alone (or the
// instance's value when no row is). Coverage samples are training rows
// drawn uniformly. The result's method is "anchors".
func AnchorsTabular(ctx context.Context, m Model, req AnchorTabularRequest) (*Result, error) {
	dom, err := newAnchorTabular(m, req)
	if err != nil {
		return nil, err
	}
	return runAnchors[[]float64](ctx, dom, req.AnchorConfig, "anchors")
}

// anchorTabular is the tabular domain.
type anchorTabular struct {
	m      Model
	inst   []float64
	train  [][]float64
	inBin  [][]bool  // inBin[i][f]: row i's feature f is in the instance's bin
	match  [][]int32 // rows with feature f in the instance's bin
	disc   *sampler.Discretizer
	isCat  []bool
	desc   []string
	rowsOf map[string][]int32
	// lo[f] < v ≤ hi[f] is the instance's bin of a discretized feature f
	// (the discretizer's Bin, without its search on the hot path).
	lo, hi []float64
}

func newAnchorTabular(m Model, req AnchorTabularRequest) (*anchorTabular, error) {
	p := len(req.Instance)
	switch {
	case p == 0:
		return nil, invalid("instance", "must have at least 1 feature")
	case req.FeatureNames != nil && len(req.FeatureNames) != p:
		return nil, invalid("feature_names", "has %d names for %d features", len(req.FeatureNames), p)
	case len(req.Training) < 2 || len(req.Training) > MaxAnchorTrainingRows:
		return nil, invalid("training", "has %d rows, want 2 to %d", len(req.Training), MaxAnchorTrainingRows)
	}
	for i, v := range req.Instance {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, invalid(fmt.Sprintf("instance[%d]", i), "non-finite value")
		}
	}
	for i, r := range req.Training {
		if len(r) != p {
			return nil, invalid(fmt.Sprintf("training[%d]", i), "has %d values, the instance %d", len(r), p)
		}
		for _, v := range r {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, invalid(fmt.Sprintf("training[%d]", i), "non-finite value")
			}
		}
	}
	isCat := make([]bool, p)
	for _, f := range req.Categorical {
		if f < 0 || f >= p {
			return nil, invalid("categorical", "feature %d is out of range [0,%d)", f, p)
		}
		isCat[f] = true
	}
	names := FeatureNames(req.FeatureNames, p)
	disc := req.Discretizer
	if disc == nil {
		var err error
		if disc, err = sampler.NewQuartileDiscretizer(req.Training, names, req.Categorical); err != nil {
			return nil, &RequestError{Field: "training", Reason: err.Error()}
		}
	} else if len(disc.Boundaries) != p {
		return nil, invalid("discretizer", "has %d features, the instance %d", len(disc.Boundaries), p)
	}
	stats := &sampler.Stats{Discretizer: disc, Categorical: map[int]sampler.Frequencies{}}
	for _, f := range req.Categorical {
		stats.Categorical[f] = sampler.Frequencies{}
	}
	d := &anchorTabular{
		m: m, inst: req.Instance, train: req.Training, disc: disc, isCat: isCat,
		desc:   (&sampler.Tabular{Stats: stats}).Describe(req.Instance, names, req.CategoryNames),
		inBin:  make([][]bool, len(req.Training)),
		match:  make([][]int32, p),
		rowsOf: map[string][]int32{},
	}
	d.lo, d.hi = make([]float64, p), make([]float64, p)
	for f := range p {
		if isCat[f] || !disc.Discretized(f) {
			continue
		}
		q, b := disc.Boundaries[f], disc.Bin(f, req.Instance[f])
		d.lo[f], d.hi[f] = math.Inf(-1), math.Inf(1)
		if b > 0 {
			d.lo[f] = q[b-1]
		}
		if b < len(q) {
			d.hi[f] = q[b]
		}
	}
	flat := make([]bool, len(req.Training)*p)
	for i, r := range req.Training {
		d.inBin[i] = flat[i*p : (i+1)*p : (i+1)*p]
		for f, v := range r {
			if d.same(f, v) {
				d.inBin[i][f] = true
				d.match[f] = append(d.match[f], int32(i))
			}
		}
	}
	return d, nil
}

// same reports whether value v of feature f is in the instance's bin.
func (d *anchorTabular) same(f int, v float64) bool {
	if d.isCat[f] || !d.disc.Discretized(f) {
		return v == d.inst[f]
	}
	return d.lo[f] < v && v <= d.hi[f]
}

func (d *anchorTabular) predicates() int     { return len(d.inst) }
func (d *anchorTabular) instance() []float64 { return d.inst }

func (d *anchorTabular) bits(dst []uint64, s []float64) {
	for f, v := range s {
		if d.same(f, v) {
			dst[f/64] |= 1 << (f % 64)
		}
	}
}

func (d *anchorTabular) predict(ctx context.Context, rows [][]float64) ([][]float64, error) {
	return d.m.Predict(ctx, rows)
}

func (d *anchorTabular) example(s []float64) AnchorExample {
	return AnchorExample{Values: slices.Clone(s)}
}

func (d *anchorTabular) describe(j int) AnchorPredicate {
	return AnchorPredicate{Index: j, Description: d.desc[j]}
}

// rows returns the training rows in which every feature of preds is in
// the instance's bin, cached by rule.
func (d *anchorTabular) rows(preds []int) []int32 {
	key := anchorKey(preds)
	if r, ok := d.rowsOf[key]; ok {
		return r
	}
	var out []int32
	if len(preds) == 1 {
		out = d.match[preds[0]]
	} else {
		parent := d.rows(preds[:len(preds)-1])
		f := preds[len(preds)-1]
		for _, i := range parent {
			if d.inBin[i][f] {
				out = append(out, i)
			}
		}
	}
	d.rowsOf[key] = out
	return out
}

func (d *anchorTabular) sample(rng *rand.Rand, anchor []int, n int) [][]float64 {
	p := len(d.inst)
	flat := make([]float64, n*p)
	out := make([][]float64, n)
	// The longest prefix of the rule some row matches, and its rows.
	k := len(anchor)
	for k > 0 && len(d.rows(anchor[:k])) == 0 {
		k--
	}
	var full []int32
	if k > 0 {
		full = d.rows(anchor[:k])
	}
	for i := range out {
		row := flat[i*p : (i+1)*p : (i+1)*p]
		copy(row, d.train[rng.IntN(len(d.train))])
		if k > 0 {
			src := d.train[full[rng.IntN(len(full))]]
			for _, f := range anchor[:k] {
				row[f] = src[f]
			}
		}
		for _, f := range anchor[k:] {
			if m := d.match[f]; len(m) > 0 {
				row[f] = d.train[m[rng.IntN(len(m))]][f]
			} else {
				row[f] = d.inst[f]
			}
		}
		out[i] = row
	}
	return out
}

func (d *anchorTabular) inherits() bool { return false }

func (d *anchorTabular) size() int { return len(d.inst) }
