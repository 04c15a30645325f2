package server

import (
	"context"
	"slices"

	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"

	"github.com/explainer-sidecar/explainer/engine"
	"github.com/explainer-sidecar/explainer/explain"
	"github.com/explainer-sidecar/explainer/predictor"
)

// counterfactual: the rows closest to a tabular instance (MAD-scaled L1)
// that the model puts in another class, by growing spheres and a genetic
// search (explain.Counterfactuals). Each generation streams as a partial
// result with the best counterfactuals so far.

func init() {
	register("counterfactual", method{parse: parseCounterfactualJob, batch: withoutPick(counterfactualBatch, "counterfactuals have no attributions")})
}

// counterfactualBatch loads the data set once, and each instance is its
// single request over it: the data set (up to MaxDataRows rows) is read,
// never written, so the running instances share one copy instead of
// holding one each.
func counterfactualBatch(ctx context.Context, in *parseInput, b *batchInstances) (*batchJob, error) {
	d, err := loadCounterfactualData(ctx, in.req.GetCounterfactual(), in.info)
	if err != nil {
		return nil, err
	}
	return batchOf(func(ctx context.Context, in *parseInput) (*jobSpec, error) {
		return counterfactualJob(ctx, in, d)
	})(ctx, in, b)
}

func parseCounterfactualJob(ctx context.Context, in *parseInput) (*jobSpec, error) {
	return counterfactualJob(ctx, in, nil)
}

// counterfactualJob is the job of a counterfactual request, over d, or
// over the request's data set when d is nil.
func counterfactualJob(ctx context.Context, in *parseInput, d *dataset) (*jobSpec, error) {
	r, err := parseCounterfactual(ctx, in, d)
	if err != nil {
		return nil, err
	}
	return &jobSpec{Spec: engine.Spec{
		// Rows is the search's bound (population × generations): it
		// usually stops earlier, when it stops improving.
		Seed: r.Seed, Rows: r.Population * r.MaxGenerations, Seeded: true,
		Run: func(ctx context.Context, m engine.Scorer, run engine.Run) (*explain.Result, error) {
			r := r
			r.Seed = run.Seed
			if run.Partial != nil {
				r.Partial = func(gen int, res *explain.Result) {
					run.Partial(engine.Partial{Result: res, Round: gen})
				}
			}
			return explain.Counterfactuals(ctx, m, r)
		},
	}, values: r.Population * len(r.Instance)}, nil
}

// loadCounterfactualData loads and checks the data set of o.
func loadCounterfactualData(ctx context.Context, o *explainerv1.CounterfactualOptions, info predictor.ModelInfo) (*dataset, error) {
	const field = "counterfactual"
	if o.GetData() == nil {
		return nil, invalidArgument("%s.data: required: the data set gives each feature's scale, range and categories", field)
	}
	d, err := loadDataset(ctx, field, o.GetData(), false, nil, info, false)
	if err != nil {
		return nil, err
	}
	if n := len(d.rows); n < explain.MinCounterfactualDataRows {
		return nil, invalidArgument("%s.data.num_rows: %d is outside [%d, %d]", field, n, explain.MinCounterfactualDataRows, MaxDataRows)
	}
	return d, nil
}

// parseCounterfactual validates a counterfactual request: the instance
// and its categorical features, the data set (d, already loaded, or the
// request's), the model's classes, and (through explain's Validate, whose
// errors name the options' fields) the counts, indices and ranges.
func parseCounterfactual(ctx context.Context, in *parseInput, d *dataset) (explain.CounterfactualRequest, error) {
	const field = "counterfactual"
	var r explain.CounterfactualRequest
	o := in.req.GetCounterfactual()
	if ev := in.req.GetEvaluation(); ev.GetStabilityRuns() > 0 || ev.GetFidelityCurves() {
		// Seeded for its seed's default and echo; but the checks compare
		// and remove attributions, which counterfactuals do not have.
		return r, invalidArgument("evaluation: counterfactuals have no attributions: stability and fidelity curves do not apply; compare seeds by rerunning with seed")
	}
	values, names, err := tabularInstance(in.req, in.info)
	if err != nil {
		return r, err
	}
	p := len(values)
	var categorical []int
	for i, c := range in.req.GetInstance().GetTabular().GetCategoricalFeatures() {
		switch idx := int(c.GetIndex()); {
		case idx >= p:
			return r, invalidArgument("instance.tabular.categorical_features[%d].index: %d is out of range [0,%d)", i, idx, p)
		case slices.Contains(categorical, idx):
			return r, invalidArgument("instance.tabular.categorical_features[%d].index: feature %d listed twice", i, idx)
		default:
			categorical = append(categorical, idx)
		}
	}
	if d == nil {
		if d, err = loadCounterfactualData(ctx, o, in.info); err != nil {
			return r, err
		}
	}
	if w := len(d.rows[0]); w != p {
		return r, invalidArgument("%s.data: rows have %d features, the instance %d", field, w, p)
	}
	if len(in.req.GetInstance().GetTabular().GetFeatureNames()) == 0 && len(o.GetData().GetFeatureNames()) == p {
		names = d.names
	}
	desired := explain.OtherClass
	if o.DesiredClass != nil {
		desired = int(o.GetDesiredClass())
		if k := in.info.NumClasses; k > 0 && desired >= k {
			return r, invalidArgument("%s.desired_class: %d is out of range [0,%d): the model has %d classes", field, desired, k, k)
		}
	}
	r = explain.CounterfactualRequest{
		Instance: values, Data: d.rows, FeatureNames: names, Categorical: categorical,
		DesiredClass: desired, MinProbability: o.GetMinProbability(), Count: int(o.GetCount()),
		Population: int(o.GetPopulation()), MaxGenerations: int(o.GetMaxGenerations()), Seed: in.seed,
	}
	for _, j := range o.GetImmutableFeatures() {
		r.Immutable = append(r.Immutable, int(j))
	}
	for _, rg := range o.GetRanges() {
		r.Ranges = append(r.Ranges, explain.FeatureRange{Feature: int(rg.GetFeature()), Min: rg.GetMin(), Max: rg.GetMax()})
	}
	if err := r.Validate(); err != nil {
		return r, err
	}
	if r.Population == 0 {
		r.Population = explain.DefaultPopulation
	}
	if r.MaxGenerations == 0 {
		r.MaxGenerations = explain.DefaultMaxGenerations
	}
	if r.Population*p > MaxSampleValues {
		return r, invalidArgument("%s.population: %d rows × %d features per generation exceeds limit %d values; lower population", field, r.Population, p, MaxSampleValues)
	}
	return r, nil
}

// counterfactualsProto encodes a counterfactual search's rows into exp,
// with the generations it ran as rounds.
func counterfactualsProto(exp *explainerv1.Explanation, res *explain.Result) {
	cr := res.Counterfactuals
	if cr == nil {
		return
	}
	exp.Rounds = uint32(cr.Generations)
	for _, cf := range cr.Rows {
		pc := &explainerv1.Counterfactual{
			Values: cf.Values, Scores: cf.Scores, Label: uint32(cf.Label), Valid: cf.Valid,
			Sparsity: uint32(len(cf.Changes)), Proximity: cf.Proximity,
		}
		for _, ch := range cf.Changes {
			pc.Changes = append(pc.Changes, &explainerv1.FeatureChange{
				Index: uint32(ch.Index), Feature: ch.Feature, From: ch.From, To: ch.To, Scaled: ch.Scaled,
			})
		}
		exp.Counterfactuals = append(exp.Counterfactuals, pc)
	}
}
