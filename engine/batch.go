package engine

import (
	"context"
	"fmt"
	"slices"

	"github.com/explainer-sidecar/explainer/explain"
	"github.com/explainer-sidecar/explainer/internal/group"
)

// Batch is a job over many instances of one method with one set of
// options: instance i is explained exactly as the single job
// Instance(i, labels) is, whose seed is Seed + i. The method registry
// builds one per batch request from state parsed once (training
// statistics, a summarised background) and shared by the instances.
type Batch struct {
	// Method names the method as the API does.
	Method string
	// Seed is the batch's seed; instance i's is Seed + i.
	Seed uint64
	// Instances is the number of instances, at least 1.
	Instances int
	// Instance returns instance i's spec. labels, when not nil, are the
	// labels it explains (the batch's picked label), overriding the
	// request's. It is called as the instance starts, from the instance's
	// goroutine, so that only the running instances' own state (samples,
	// segmentations) is held; it may read what Prepare has filled.
	Instance func(ctx context.Context, i int, labels []int) (*Spec, error)
	// Prepare does the work the instances share, once, before any of them
	// starts (KernelSHAP's scores of the background); nil when there is
	// none.
	Prepare func(ctx context.Context, m Scorer) error
	// Score returns the model's scores of every instance itself, in order:
	// the pass that picks the batch's label. Required when PickLabel.
	Score func(ctx context.Context, m Scorer) ([][]float64, error)
	// PickLabel explains one label for every instance, the one the model
	// predicts (top score) for the most instances: the request names no
	// labels, and the summaries must not mix classes.
	PickLabel bool
	// Key tells which attributions of different instances are the same
	// feature in the summaries; Names, optional, name features by index.
	Key   explain.SummaryKey
	Names []string
}

// DefaultBatchConcurrency is the instances of a batch that run at once
// when BatchOptions.Concurrency is 0: enough for the model's scheduler to
// fill its calls with the rows of many instances (100 LIME rows of 1000
// samples against a model taking 13 000 rows a call, 4 in flight: 21
// calls at 32, 67 at 8), few enough that sampling and fitting overlap the
// model's calls. The server runs more when the model takes more rows a
// call (see server.WithBatchConcurrency).
const DefaultBatchConcurrency = 32

// BatchOptions are the batch-level settings; Options apply to every
// instance (their Partial is not called: instances report whole).
type BatchOptions struct {
	// Concurrency caps the instances running at once; 0 means
	// DefaultBatchConcurrency.
	Concurrency int
	// Pick is the B of SP-LIME's submodular pick, per summarised label; 0
	// picks none.
	Pick int
	// Done, when not nil, is called once per instance as it finishes, in
	// any order, on the instance's goroutine (calls may overlap).
	Done func(i int, out *Outcome)
	// Skip, when not nil, is asked about an instance's own error (of its
	// spec or its run; never a cancellation): true leaves the instance out
	// (its Outcome nil, its error in BatchOutcome.Failed, reported to
	// Failed) and the batch goes on; false ends the batch, as every error
	// does without Skip.
	Skip func(err error) bool
	// Failed, when not nil, is called once per instance Skip left out, as
	// Done is.
	Failed func(i int, err error)
}

// BatchOutcome is a finished batch.
type BatchOutcome struct {
	// Outcomes are the instances', in instance order; nil for an instance
	// left out (see BatchOptions.Skip).
	Outcomes []*Outcome
	// Failed are the errors of the instances left out, by instance; empty
	// when none was.
	Failed map[int]error
	// Picked is the label every instance explains when Batch.PickLabel
	// (else -1), and PickedCount the instances the model predicts it for.
	Picked, PickedCount int
	// Summaries are one per label every instance explains, in the first
	// instance's order of labels, for methods with attributions.
	Summaries []Summary
	// Anchors and Counterfactuals are the global views of those methods'
	// batches; nil for the others.
	Anchors         *explain.AnchorSummary
	Counterfactuals *explain.CounterfactualSummary
}

// Summary is a batch's global view of one label.
type Summary struct {
	Label int
	// Features are explain.Summarize's: the mean |attribution| per feature
	// and its standard error over the instances.
	Features []explain.FeatureSummary
	// Pick are the instances SP-LIME picks (explain.SubmodularPick), in
	// pick order; Coverage is their coverage, out of the total importance
	// Σ_j I_j (TotalImportance).
	Pick            []int
	Coverage        float64
	TotalImportance float64
}

// ExplainBatch explains every instance of b with opts, at most
// bo.Concurrency at once, each with models (all instances score on
// models.Primary, so that its scheduler fills the model's calls with the
// rows of many instances), and summarises them. The first error (an
// instance's that bo.Skip does not skip, Prepare's, the label pass's)
// cancels the other instances and is returned; so is ctx's error when it
// ends first, even if some instances finished (they were reported to
// bo.Done). The summaries are over the instances explained.
func ExplainBatch(ctx context.Context, b *Batch, models Models, opts Options, bo BatchOptions) (*BatchOutcome, error) {
	if b.Instances < 1 {
		return nil, fmt.Errorf("engine: batch of %d instances", b.Instances)
	}
	opts.Partial = nil
	if b.Prepare != nil {
		if err := group.Do(func() error { return b.Prepare(ctx, models.Primary) }); err != nil {
			return nil, err
		}
	}
	out := &BatchOutcome{Picked: -1, Outcomes: make([]*Outcome, b.Instances)}
	var labels []int
	if b.PickLabel {
		var scores [][]float64
		err := group.Do(func() (err error) {
			scores, err = b.Score(ctx, models.Primary)
			return err
		})
		if err != nil {
			return nil, err
		}
		out.Picked, out.PickedCount = mostPredicted(scores)
		labels = []int{out.Picked}
	}
	g, gctx := group.WithContext(ctx)
	conc := bo.Concurrency
	if conc <= 0 {
		conc = DefaultBatchConcurrency
	}
	g.SetLimit(conc)
	failed := make([]error, b.Instances) // each goroutine its own element
	skip := func(i int, err error) bool {
		if bo.Skip == nil || gctx.Err() != nil || !bo.Skip(err) {
			return false
		}
		failed[i] = err
		if bo.Failed != nil {
			bo.Failed(i, err)
		}
		return true
	}
	for i := range b.Instances {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			if err := gctx.Err(); err != nil { // cancelled while waiting for a place
				return err
			}
			spec, err := b.Instance(gctx, i, labels)
			if err != nil {
				if skip(i, err) {
					return nil
				}
				return err
			}
			o, err := Explain(gctx, spec, models, opts)
			if err != nil {
				if skip(i, err) {
					return nil
				}
				return err
			}
			if gctx.Err() != nil { // a cancelled auto-sampled instance returns its last round
				return gctx.Err()
			}
			out.Outcomes[i] = o // each goroutine its own element; read after Wait
			if bo.Done != nil {
				bo.Done(i, o)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var results []*explain.Result // of the instances explained
	var kept []int                // their indices
	out.Failed = map[int]error{}
	for i, o := range out.Outcomes {
		if o == nil {
			out.Failed[i] = failed[i]
			continue
		}
		results = append(results, o.Result)
		kept = append(kept, i)
	}
	if len(results) == 0 {
		return out, nil
	}
	sums, err := summarize(b, results, bo.Pick)
	if err != nil {
		return nil, err
	}
	for _, s := range sums {
		for k, j := range s.Pick {
			s.Pick[k] = kept[j] // an index among results is one among the instances
		}
	}
	out.Summaries = sums
	out.Anchors = explain.SummarizeAnchors(results, b.Key, b.Names)
	out.Counterfactuals = explain.SummarizeCounterfactuals(results)
	return out, nil
}

// mostPredicted returns the label with the top score for the most rows
// (the smallest such label on a tie; a row's top is its first maximum) and
// how many rows have it.
func mostPredicted(scores [][]float64) (label, count int) {
	counts := map[int]int{}
	for _, row := range scores {
		if len(row) == 0 {
			continue
		}
		top := 0
		for c, v := range row {
			if v > row[top] {
				top = c
			}
		}
		counts[top]++
	}
	label = -1
	for l, c := range counts {
		if c > count || (c == count && l < label) {
			label, count = l, c
		}
	}
	return max(label, 0), count
}

// summarize builds the summaries of the labels every instance explains.
func summarize(b *Batch, results []*explain.Result, pick int) ([]Summary, error) {
	var sums []Summary
	for _, l := range results[0].Labels {
		everywhere := true
		for _, r := range results[1:] {
			everywhere = everywhere && slices.ContainsFunc(r.Labels, func(lr explain.LabelResult) bool { return lr.Label == l.Label })
		}
		if !everywhere {
			continue
		}
		feats, err := explain.Summarize(results, l.Label, b.Key, b.Names)
		if err != nil {
			return nil, err
		}
		if len(feats) == 0 {
			continue // a method without attributions (anchors)
		}
		s := Summary{Label: l.Label, Features: feats}
		if pick > 0 {
			w, _, err := explain.ExplanationMatrix(results, l.Label)
			if err != nil {
				return nil, err
			}
			var imp []float64
			s.Pick, imp, s.Coverage = explain.SubmodularPick(w, pick)
			for _, v := range imp {
				s.TotalImportance += v
			}
		}
		sums = append(sums, s)
	}
	return sums, nil
}
