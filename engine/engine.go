package engine

import (
	"context"
	"fmt"

	"github.com/explainer-sidecar/explainer/explain"
	"github.com/explainer-sidecar/explainer/internal/group"
)

// Scorer is what an estimator scores with: rows (tabular, images) or texts.
type Scorer interface {
	explain.Model
	explain.TextModel
}

// RunFunc explains once over m with r's settings.
type RunFunc func(ctx context.Context, m Scorer, r Run) (*explain.Result, error)

// CurveFunc returns, for one explained label of res, the players' weights
// and the scorer of masks over the players (a player is absent the way the
// method hides it); nil weights when res does not explain label.
type CurveFunc func(m Scorer, res *explain.Result, label int) ([]float64, explain.MaskScorer)

// Run is the setting of one run of a job.
type Run struct {
	// Seed is the run's seed: the spec's, plus the run's index for
	// stability's extra runs.
	Seed uint64
	// Samples overrides the request's sample count when > 0 (auto
	// sampling's rounds).
	Samples int
	// Labels, when not nil, are the labels to explain, overriding the
	// request's labels and top labels: stability's extra runs explain the
	// labels the first run resolved, so that a model whose top label moves
	// between calls still gives comparable runs.
	Labels []int
	// Partial receives interim results; nil when no one listens (every run
	// but the first, and unary calls).
	Partial func(Partial)
}

// Partial is an interim result of a job and how far the job has come.
type Partial struct {
	Result *explain.Result
	// RepeatsDone counts permutation importance's finished repeats.
	RepeatsDone int
	// BandsDone and BandsTotal count occlusion's finished rows of windows.
	BandsDone, BandsTotal int
	// Round and Precision describe auto sampling's finished round; Round
	// also counts anchors' beam rounds and counterfactuals' generations.
	Round     int
	Precision float64
	// FeaturesDone and FeaturesTotal count the finished features of
	// partial dependence and ALE.
	FeaturesDone, FeaturesTotal int
}

// Spec is a validated job: how to run it and what the checks need. The
// method registry builds one per request.
type Spec struct {
	// Method names the method as the API does ("lime", "kernel_shap", ...).
	Method string
	// Seed is the request's seed (random when it set none).
	Seed uint64
	// Rows is how many rows one run scores, when known (progress).
	Rows int
	// Sampled jobs draw samples: auto sampling applies.
	Sampled bool
	// Seeded jobs depend on their seed: stability applies.
	Seeded bool
	// Players is the number of features (groups, words, segments, pixels)
	// a job attributes; stability compares them all.
	Players int
	// Run explains once.
	Run RunFunc
	// Curves gives the fidelity curves' weights and scorer; nil when the
	// method has no players to remove.
	Curves CurveFunc
	// CurveBatch caps the masks per call of the curves' scorer; 0 leaves
	// explain.FidelityCurves' default.
	CurveBatch int
	// CurveLabels, when not empty, are the only labels the curves are
	// computed for (the request's labels); otherwise every explained label
	// up to MaxCurveLabels.
	CurveLabels []int
}

// MaxCurveLabels caps the labels that get fidelity curves when the request
// names none: a global method on a 1,000-class model explains every class,
// and each label's curves cost as much as the explanation.
const MaxCurveLabels = 16

// Options are the job-level settings around the method.
type Options struct {
	// Auto runs the job in rounds of growing samples (Spec.Sampled only);
	// nil runs it once with the request's samples.
	Auto *explain.AutoSampling
	// StabilityRuns > 1 runs the job with that many consecutive seeds and
	// compares them (Spec.Seeded only).
	StabilityRuns int
	// TopK is the k of stability's top-k overlap; 0 is explain's default.
	TopK int
	// Curves, when not nil, asks for deletion and insertion curves; Seed
	// and BatchSize are filled from the spec.
	Curves *explain.CurveOptions
	// Partial receives the primary run's interim results and auto
	// sampling's rounds; nil when no one listens.
	Partial func(Partial)
}

// Models are the models a job scores with.
type Models struct {
	// Primary is the job's own model.
	Primary Scorer
	// Extra returns another model for the checks (stability's extra runs,
	// the curves), whose calls the caller counts apart; nil means Primary.
	Extra func() Scorer
}

func (m Models) extra() Scorer {
	if m.Extra == nil {
		return m.Primary
	}
	return m.Extra()
}

// Outcome is a finished job.
type Outcome struct {
	// Result is the primary run's explanation.
	Result *explain.Result
	// Convergence says how auto sampling ended; nil without it.
	Convergence *explain.Convergence
	// Stability compares the runs; nil without stability runs. Seeds are
	// the runs' seeds.
	Stability *explain.StabilityReport
	Seeds     []uint64
	// Curves are the fidelity curves, one per label; nil unless asked for.
	Curves []LabelCurves
}

// LabelCurves are one label's deletion and insertion curves.
type LabelCurves struct {
	Label int
	*explain.Curves
}

// Explain runs spec as opts asks over models. A cancelled auto-sampled job
// whose first round finished returns that round (StopCancelled) without
// the checks, which would only fail.
func Explain(ctx context.Context, spec *Spec, models Models, opts Options) (*Outcome, error) {
	if opts.Auto != nil && !spec.Sampled {
		return nil, fmt.Errorf("engine: %s draws no samples: auto sampling does not apply", spec.Method)
	}
	if opts.StabilityRuns > 1 && !spec.Seeded {
		return nil, fmt.Errorf("engine: %s is deterministic: stability runs do not apply", spec.Method)
	}
	out := &Outcome{}
	first, conv, err := runOnce(ctx, spec, models.Primary, opts, Run{Seed: spec.Seed, Partial: opts.Partial})
	if err != nil {
		return nil, err
	}
	out.Result = first
	if opts.Auto != nil {
		out.Convergence = &conv
	}
	if ctx.Err() != nil {
		return out, nil
	}
	if opts.StabilityRuns > 1 {
		if err := stability(ctx, spec, models, opts, out); err != nil {
			return nil, err
		}
	}
	if opts.Curves != nil && spec.Curves != nil {
		if err := curves(ctx, spec, models.extra(), *opts.Curves, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// runOnce runs spec once or, with auto sampling, in rounds over a cache
// (the samplers are prefix-stable for a seed, so each round scores only
// its new samples).
func runOnce(ctx context.Context, spec *Spec, m Scorer, opts Options, r Run) (*explain.Result, explain.Convergence, error) {
	if opts.Auto == nil {
		res, err := spec.Run(ctx, m, r)
		return res, explain.Convergence{}, err
	}
	cached := cachedScorer{explain.NewCachedModel(m), explain.NewCachedTextModel(m)}
	var onRound func(explain.Round)
	if r.Partial != nil {
		partial := r.Partial
		onRound = func(round explain.Round) {
			partial(Partial{Result: round.Result, Round: round.Round, Precision: round.Precision})
		}
	}
	r.Partial = nil // rounds report whole results; a round's own partials would go backwards
	return explain.AutoExplain(ctx, *opts.Auto, func(ctx context.Context, n int) (*explain.Result, error) {
		r := r
		r.Samples = n
		return spec.Run(ctx, cached, r)
	}, onRound)
}

// cachedScorer is a model behind caches, for auto sampling.
type cachedScorer struct {
	*explain.CachedModel
	*explain.CachedTextModel
}

// stability runs the job with the next StabilityRuns − 1 seeds in parallel,
// each on its own model, explaining the labels the first run resolved, and
// compares every run.
func stability(ctx context.Context, spec *Spec, models Models, opts Options, out *Outcome) error {
	runs := make([]*explain.Result, opts.StabilityRuns)
	runs[0] = out.Result
	labels := make([]int, len(out.Result.Labels))
	for i, l := range out.Result.Labels {
		labels[i] = l.Label
	}
	g, gctx := group.WithContext(ctx)
	for i := 1; i < len(runs); i++ {
		m := models.extra()
		g.Go(func() error {
			res, _, err := runOnce(gctx, spec, m, opts, Run{Seed: spec.Seed + uint64(i), Labels: labels})
			runs[i] = res
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	st, err := explain.ResultStability(runs, spec.Players, opts.TopK)
	if err != nil {
		return err
	}
	out.Stability = &st
	out.Seeds = make([]uint64, len(runs))
	for i := range out.Seeds {
		out.Seeds[i] = spec.Seed + uint64(i)
	}
	return nil
}

// curves computes the deletion and insertion curves of the labels asked
// for.
func curves(ctx context.Context, spec *Spec, m Scorer, o explain.CurveOptions, out *Outcome) error {
	o.Seed, o.BatchSize = spec.Seed, spec.CurveBatch
	for _, label := range curveLabels(spec, out.Result) {
		weights, score := spec.Curves(m, out.Result, label)
		if weights == nil {
			continue
		}
		c, err := explain.FidelityCurves(ctx, score, weights, o)
		if err != nil {
			return err
		}
		out.Curves = append(out.Curves, LabelCurves{Label: label, Curves: c})
	}
	return nil
}

// curveLabels are the labels that get curves: the spec's, else the
// result's first MaxCurveLabels.
func curveLabels(spec *Spec, res *explain.Result) []int {
	if len(spec.CurveLabels) > 0 {
		return spec.CurveLabels
	}
	var out []int
	for _, l := range res.Labels[:min(len(res.Labels), MaxCurveLabels)] {
		out = append(out, l.Label)
	}
	return out
}
