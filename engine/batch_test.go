package engine

import (
	"context"
	"errors"
	"math/rand/v2"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/explainer-sidecar/explainer/explain"
)

// toySpec is sampledSpec's job around instance, with seed and, when not
// nil, fixed labels (a single request that names its labels).
func toySpec(instance []float64, seed uint64, n int, labels []int) *Spec {
	p := len(instance)
	return &Spec{
		Method: "toy", Seed: seed, Rows: n + 1, Sampled: true, Seeded: true, Players: p,
		Run: func(ctx context.Context, m Scorer, r Run) (*explain.Result, error) {
			rng := rand.New(rand.NewPCG(r.Seed, 0))
			rows := [][]float64{instance}
			for range n {
				row := make([]float64, p)
				for j := range row {
					row[j] = instance[j] + rng.NormFloat64()
				}
				rows = append(rows, row)
			}
			scores, err := m.Predict(ctx, rows)
			if err != nil {
				return nil, err
			}
			ls := labels
			if r.Labels != nil {
				ls = r.Labels
			}
			if ls == nil {
				top := 0
				if scores[0][1] > scores[0][0] {
					top = 1
				}
				ls = []int{top}
			}
			res := &explain.Result{Method: "toy", Seed: r.Seed, NumSamples: len(rows), InstanceScores: scores[0]}
			for _, l := range ls {
				lr := explain.LabelResult{Label: l}
				for j := range p {
					w := 0.0
					for i, row := range rows[1:] {
						w += (row[j] - instance[j]) * scores[i+1][l] / float64(n)
					}
					lr.Attributions = append(lr.Attributions, explain.Attribution{Index: j, Description: "f", Weight: w})
				}
				res.Labels = append(res.Labels, lr)
			}
			return res, nil
		},
	}
}

// toyRows are the batch's instances: row i is (i − 5, 1, −i/3).
func toyRows(n int) [][]float64 {
	rows := make([][]float64, n)
	for i := range rows {
		rows[i] = []float64{float64(i) - 5, 1, -float64(i) / 3}
	}
	return rows
}

// toyBatch is a batch of toy jobs over rows, seed 100.
func toyBatch(rows [][]float64, pick bool) *Batch {
	return &Batch{
		Method: "toy", Seed: 100, Instances: len(rows), PickLabel: pick,
		Instance: func(ctx context.Context, i int, labels []int) (*Spec, error) {
			return toySpec(rows[i], 100+uint64(i), 30, labels), nil
		},
		Score: func(ctx context.Context, m Scorer) ([][]float64, error) { return m.Predict(ctx, rows) },
		Names: []string{"a", "b", "c"},
	}
}

// countingModel is a linear model that counts rows, the calls in flight
// at once, and can hold every call until release is closed.
type countingModel struct {
	linearModel
	rows        atomic.Int64
	mu          sync.Mutex
	inFlight    int
	maxInFlight int
	started     chan struct{} // a value per call, when not nil
	release     chan struct{} // calls wait for it, when not nil
}

func (m *countingModel) Predict(ctx context.Context, rows [][]float64) ([][]float64, error) {
	m.rows.Add(int64(len(rows)))
	m.mu.Lock()
	m.inFlight++
	m.maxInFlight = max(m.maxInFlight, m.inFlight)
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.inFlight--
		m.mu.Unlock()
	}()
	if m.started != nil {
		m.started <- struct{}{}
	}
	if m.release != nil {
		select {
		case <-m.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return m.linearModel.Predict(ctx, rows)
}

// TestExplainBatchSameAsSingleJobs: instance i of a batch with seed s is
// the single job with seed s + i, bit for bit; with its label picked, the
// single job that names that label. Each instance is reported once.
func TestExplainBatchSameAsSingleJobs(t *testing.T) {
	rows := toyRows(12)
	for _, pick := range []bool{false, true} {
		m := &countingModel{linearModel: linearModel{w: []float64{1, -2, 0.5}}}
		var mu sync.Mutex
		done := map[int]int{}
		out, err := ExplainBatch(context.Background(), toyBatch(rows, pick), Models{Primary: m}, Options{}, BatchOptions{
			Concurrency: 3,
			Done: func(i int, _ *Outcome) {
				mu.Lock()
				done[i]++
				mu.Unlock()
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		var labels []int
		if pick {
			// The model's top label: class 1 when x0 − 2 + −x2/2·… > 0.
			if out.Picked < 0 {
				t.Fatal("no label picked")
			}
			labels = []int{out.Picked}
		} else if out.Picked != -1 {
			t.Errorf("picked %d without PickLabel", out.Picked)
		}
		for i, o := range out.Outcomes {
			want, err := Explain(context.Background(), toySpec(rows[i], 100+uint64(i), 30, labels), Models{Primary: &m.linearModel}, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(o.Result, want.Result) {
				t.Errorf("pick %v: instance %d differs from the single job with seed %d", pick, i, 100+i)
			}
			if done[i] != 1 {
				t.Errorf("instance %d reported %d times", i, done[i])
			}
		}
		if m.maxInFlight > 3 {
			t.Errorf("%d calls at once, concurrency 3", m.maxInFlight)
		}
		if pick {
			// The label pass scores every instance once.
			if got, want := m.rows.Load(), int64(len(rows)*31+len(rows)); got != want {
				t.Errorf("rows scored %d, want %d (instances × 31 + the label pass)", got, want)
			}
			for _, s := range out.Summaries {
				if s.Label != out.Picked {
					t.Errorf("summary of label %d, picked %d", s.Label, out.Picked)
				}
			}
		}
		if pick && len(out.Summaries) != 1 {
			t.Errorf("%d summaries, want 1 (the picked label)", len(out.Summaries))
		}
	}
}

func TestMostPredicted(t *testing.T) {
	for _, tc := range []struct {
		scores       [][]float64
		label, count int
	}{
		{[][]float64{{0, 1}, {1, 0}, {0, 1}}, 1, 2},
		{[][]float64{{0, 1}, {1, 0}}, 0, 1}, // a tie: the smaller label
		{[][]float64{{2, 2, 1}, {0, 0, 3}, {5, 5, 5}}, 0, 2},
		{nil, 0, 0},
	} {
		if l, c := mostPredicted(tc.scores); l != tc.label || c != tc.count {
			t.Errorf("mostPredicted(%v) = %d, %d; want %d, %d", tc.scores, l, c, tc.label, tc.count)
		}
	}
}

// TestExplainBatchPrepareOnce: the shared work runs once, before any
// instance.
func TestExplainBatchPrepareOnce(t *testing.T) {
	rows := toyRows(5)
	b := toyBatch(rows, false)
	var prepared atomic.Int32
	b.Prepare = func(context.Context, Scorer) error { prepared.Add(1); return nil }
	inner := b.Instance
	b.Instance = func(ctx context.Context, i int, labels []int) (*Spec, error) {
		if prepared.Load() != 1 {
			t.Errorf("instance %d started before the shared work", i)
		}
		return inner(ctx, i, labels)
	}
	if _, err := ExplainBatch(context.Background(), b, Models{Primary: &linearModel{w: []float64{1, 1, 1}}}, Options{}, BatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if prepared.Load() != 1 {
		t.Errorf("prepared %d times", prepared.Load())
	}
}

// TestExplainBatchCancel: cancelling the batch stops every running
// instance and starts no other.
func TestExplainBatchCancel(t *testing.T) {
	rows := toyRows(20)
	m := &countingModel{linearModel: linearModel{w: []float64{1, 1, 1}}, started: make(chan struct{}, 100), release: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	var started atomic.Int32
	b := toyBatch(rows, false)
	inner := b.Instance
	b.Instance = func(ctx context.Context, i int, labels []int) (*Spec, error) {
		started.Add(1)
		return inner(ctx, i, labels)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := ExplainBatch(ctx, b, Models{Primary: m}, Options{}, BatchOptions{Concurrency: 4})
		errc <- err
	}()
	for range 4 {
		<-m.started
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if n := started.Load(); n != 4 {
		t.Errorf("%d instances started, want the 4 running when cancelled", n)
	}
}

// TestExplainBatchError: an instance's error ends the batch.
func TestExplainBatchError(t *testing.T) {
	b := toyBatch(toyRows(6), false)
	inner := b.Instance
	bad := errors.New("instance 3 is bad")
	b.Instance = func(ctx context.Context, i int, labels []int) (*Spec, error) {
		if i == 3 {
			return nil, bad
		}
		return inner(ctx, i, labels)
	}
	if _, err := ExplainBatch(context.Background(), b, Models{Primary: &linearModel{w: []float64{1, 1, 1}}}, Options{}, BatchOptions{}); !errors.Is(err, bad) {
		t.Fatalf("err = %v, want instance 3's", err)
	}
}

// TestExplainBatchSummaries: the summaries are explain.Summarize's and
// the pick explain.SubmodularPick's over the instances' results.
func TestExplainBatchSummaries(t *testing.T) {
	rows := toyRows(7)
	out, err := ExplainBatch(context.Background(), toyBatch(rows, true), Models{Primary: &linearModel{w: []float64{1, -2, 0.5}}}, Options{}, BatchOptions{Pick: 2})
	if err != nil {
		t.Fatal(err)
	}
	results := make([]*explain.Result, len(out.Outcomes))
	for i, o := range out.Outcomes {
		results[i] = o.Result
	}
	s := out.Summaries[0]
	want, _ := explain.Summarize(results, s.Label, explain.KeyIndex, []string{"a", "b", "c"})
	if !reflect.DeepEqual(s.Features, want) {
		t.Errorf("features %+v, want %+v", s.Features, want)
	}
	w, _, _ := explain.ExplanationMatrix(results, s.Label)
	pick, _, cov := explain.SubmodularPick(w, 2)
	if !reflect.DeepEqual(s.Pick, pick) || s.Coverage != cov || len(pick) != 2 {
		t.Errorf("pick %v (coverage %g), want %v (%g)", s.Pick, s.Coverage, pick, cov)
	}
}

// TestExplainBatchSkip: with Skip, the instances whose errors it skips
// are left out and reported, the others are explained as without them,
// and the summaries and the pick are over the explained ones (the pick's
// indices are the instances'); an error Skip refuses still ends the batch.
func TestExplainBatchSkip(t *testing.T) {
	rows := toyRows(8)
	bad := errors.New("a bad instance")
	worse := errors.New("the model is down")
	batch := func(fail map[int]error) *Batch {
		b := toyBatch(rows, true)
		inner := b.Instance
		b.Instance = func(ctx context.Context, i int, labels []int) (*Spec, error) {
			if err := fail[i]; err != nil {
				return nil, err
			}
			return inner(ctx, i, labels)
		}
		return b
	}
	m := Models{Primary: &linearModel{w: []float64{1, -2, 0.5}}}
	var mu sync.Mutex
	reported := map[int]error{}
	bo := BatchOptions{
		Pick: 2,
		Skip: func(err error) bool { return errors.Is(err, bad) },
		Failed: func(i int, err error) {
			mu.Lock()
			reported[i] = err
			mu.Unlock()
		},
	}
	out, err := ExplainBatch(context.Background(), batch(map[int]error{1: bad, 5: bad}), m, Options{}, bo)
	if err != nil {
		t.Fatal(err)
	}
	all, err := ExplainBatch(context.Background(), batch(nil), m, Options{}, BatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var results []*explain.Result
	var kept []int
	for i, o := range out.Outcomes {
		switch {
		case i == 1 || i == 5:
			if o != nil || !errors.Is(out.Failed[i], bad) || !errors.Is(reported[i], bad) {
				t.Errorf("instance %d: outcome %v, failed %v, reported %v; want it left out", i, o, out.Failed[i], reported[i])
			}
		case o == nil:
			t.Fatalf("instance %d left out", i)
		default:
			if !reflect.DeepEqual(o.Result, all.Outcomes[i].Result) {
				t.Errorf("instance %d differs from the batch without failures", i)
			}
			results = append(results, o.Result)
			kept = append(kept, i)
		}
	}
	if len(out.Failed) != 2 {
		t.Errorf("failed %v, want instances 1 and 5", out.Failed)
	}
	s := out.Summaries[0]
	want, _ := explain.Summarize(results, s.Label, explain.KeyIndex, []string{"a", "b", "c"})
	w, _, _ := explain.ExplanationMatrix(results, s.Label)
	pick, _, _ := explain.SubmodularPick(w, 2)
	for k, j := range pick {
		pick[k] = kept[j]
	}
	if !reflect.DeepEqual(s.Features, want) || !reflect.DeepEqual(s.Pick, pick) {
		t.Errorf("summary %+v pick %v, want %+v pick %v (over the explained instances)", s.Features, s.Pick, want, pick)
	}
	if _, err := ExplainBatch(context.Background(), batch(map[int]error{1: bad, 4: worse}), m, Options{}, bo); !errors.Is(err, worse) {
		t.Errorf("err = %v, want the error Skip refuses", err)
	}
}
