package engine

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"github.com/explainer-sidecar/explainer/explain"
	"github.com/explainer-sidecar/explainer/internal/group"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// linearModel scores rows as softmax-free two-class scores: class 1 is
// Σ w_j x_j, class 0 its negation. flip, when set, swaps the classes on
// every other call (a model whose top label moves between calls).
type linearModel struct {
	w     []float64
	calls atomic.Int64
	flip  bool
	panic bool
}

func (m *linearModel) Predict(ctx context.Context, rows [][]float64) ([][]float64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n := m.calls.Add(1)
	if m.panic && n > 1 {
		panic("model exploded")
	}
	out := make([][]float64, len(rows))
	for i, r := range rows {
		s := 0.0
		for j, v := range r {
			s += m.w[j] * v
		}
		out[i] = []float64{-s, s}
		if m.flip && n%2 == 0 {
			out[i][0], out[i][1] = out[i][1], out[i][0]
		}
	}
	return out, nil
}

func (m *linearModel) PredictText(context.Context, []string) ([][]float64, error) {
	return nil, errors.New("no texts")
}

// sampledSpec is a job like LIME's: it scores n random rows around an
// instance (n from the run, seeded), and attributes to each feature the
// mean score change when that feature is drawn, on the run's labels or
// else the top label of the instance.
func sampledSpec(p, defaultSamples int) *Spec {
	instance := make([]float64, p)
	for j := range instance {
		instance[j] = 1
	}
	return &Spec{
		Method: "toy", Seed: 1, Rows: defaultSamples, Sampled: true, Seeded: true, Players: p,
		Run: func(ctx context.Context, m Scorer, r Run) (*explain.Result, error) {
			n := defaultSamples
			if r.Samples > 0 {
				n = r.Samples
			}
			rng := rand.New(rand.NewPCG(r.Seed, 0))
			rows := [][]float64{instance}
			for range n {
				row := make([]float64, p)
				for j := range row {
					row[j] = rng.Float64()
				}
				rows = append(rows, row)
			}
			scores, err := m.Predict(ctx, rows)
			if err != nil {
				return nil, err
			}
			labels := r.Labels
			if labels == nil {
				top := 0
				if scores[0][1] > scores[0][0] {
					top = 1
				}
				labels = []int{top}
			}
			res := &explain.Result{Method: "toy", Seed: r.Seed, NumSamples: len(rows), InstanceScores: scores[0]}
			for _, l := range labels {
				lr := explain.LabelResult{Label: l}
				for j := range p {
					w, se := 0.0, 0.0
					for i, row := range rows[1:] {
						w += row[j] * scores[i+1][l] / float64(n)
					}
					se = 1 / float64(n) // shrinks with the samples, for auto sampling's target
					lr.Attributions = append(lr.Attributions, explain.Attribution{Index: j, Weight: w, StdErr: se})
				}
				res.Labels = append(res.Labels, lr)
			}
			return res, nil
		},
	}
}

func TestExplainOnce(t *testing.T) {
	m := &linearModel{w: []float64{3, -2, 1}}
	out, err := Explain(context.Background(), sampledSpec(3, 50), Models{Primary: m}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if out.Result.NumSamples != 51 || out.Convergence != nil || out.Stability != nil || out.Curves != nil {
		t.Fatalf("outcome = %+v, want one run of 51 rows and nothing else", out)
	}
	if got := m.calls.Load(); got != 1 {
		t.Errorf("model calls = %d, want 1", got)
	}
}

// TestAutoSamplingRounds checks that rounds double the samples until the
// standard errors (1/n here) meet the tolerance, and that each round is
// reported as a partial result in order.
func TestAutoSamplingRounds(t *testing.T) {
	m := &linearModel{w: []float64{3, -2, 1}}
	var rounds []int
	auto := &explain.AutoSampling{Initial: 100, Max: 10000, Tolerance: 1.0 / 700}
	out, err := Explain(context.Background(), sampledSpec(3, 0), Models{Primary: m}, Options{
		Auto:    auto,
		Partial: func(p Partial) { rounds = append(rounds, p.Round) },
	})
	if err != nil {
		t.Fatal(err)
	}
	// 100, 200, 400, 800: 1/800 ≤ 1/700.
	if c := out.Convergence; c == nil || c.Reason != explain.StopTargetMet || c.Last.Round != 4 || c.Last.Samples != 800 {
		t.Fatalf("convergence = %+v, want target met in round 4 at 800 samples", out.Convergence)
	}
	if len(rounds) != 4 || rounds[0] != 1 || rounds[3] != 4 {
		t.Errorf("partial rounds = %v, want 1..4", rounds)
	}
}

// TestStabilityPinsLabels: a model whose top label moves between calls
// must not make the runs explain different labels (issue 14, item 6).
func TestStabilityPinsLabels(t *testing.T) {
	m := &linearModel{w: []float64{3, -2, 1}, flip: true}
	extras := 0
	models := Models{Primary: m, Extra: func() Scorer { extras++; return m }}
	out, err := Explain(context.Background(), sampledSpec(3, 200), models, Options{StabilityRuns: 4})
	if err != nil {
		t.Fatalf("stability with a label that moves between calls: %v", err)
	}
	if out.Stability == nil || out.Stability.Runs != 4 {
		t.Fatalf("stability = %+v, want 4 runs", out.Stability)
	}
	if extras != 3 {
		t.Errorf("extra models = %d, want one per extra run (3)", extras)
	}
	for i, s := range out.Seeds {
		if s != 1+uint64(i) {
			t.Errorf("seeds = %v, want 1, 2, 3, 4", out.Seeds)
			break
		}
	}
}

// TestStabilityPanic: a panic in an extra run's model is that job's
// error, not the process's.
func TestStabilityPanic(t *testing.T) {
	good := &linearModel{w: []float64{1, 1}}
	bad := &linearModel{w: []float64{1, 1}, panic: true}
	bad.calls.Store(1) // panic on its first call
	models := Models{Primary: good, Extra: func() Scorer { return bad }}
	_, err := Explain(context.Background(), sampledSpec(2, 20), models, Options{StabilityRuns: 3})
	var pe *group.PanicError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want a *group.PanicError", err)
	}
}

// TestCurveLabels checks which labels get curves: the spec's when set,
// else the result's first MaxCurveLabels.
func TestCurveLabels(t *testing.T) {
	res := &explain.Result{}
	for l := range 40 {
		res.Labels = append(res.Labels, explain.LabelResult{Label: l})
	}
	if got := curveLabels(&Spec{}, res); len(got) != MaxCurveLabels || got[0] != 0 {
		t.Errorf("curve labels without a request = %v, want the first %d", got, MaxCurveLabels)
	}
	if got := curveLabels(&Spec{CurveLabels: []int{7, 3}}, res); len(got) != 2 || got[0] != 7 || got[1] != 3 {
		t.Errorf("curve labels = %v, want [7 3]", got)
	}
}

// TestCurves runs the deletion curve of a spec whose scorer counts the
// present players: the curve falls from p to 0.
func TestCurves(t *testing.T) {
	spec := sampledSpec(4, 30)
	spec.Curves = func(m Scorer, res *explain.Result, label int) ([]float64, explain.MaskScorer) {
		return []float64{4, 3, 2, 1}, func(ctx context.Context, present [][]bool) ([]float64, error) {
			out := make([]float64, len(present))
			for i, keep := range present {
				for _, in := range keep {
					if in {
						out[i]++
					}
				}
			}
			return out, nil
		}
	}
	m := &linearModel{w: []float64{1, 1, 1, 1}}
	out, err := Explain(context.Background(), spec, Models{Primary: m}, Options{Curves: &explain.CurveOptions{}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Curves) != 1 {
		t.Fatalf("curves = %d, want 1 (the explained label)", len(out.Curves))
	}
	d := out.Curves[0].Deletion
	if d[0] != 4 || d[len(d)-1] != 0 {
		t.Errorf("deletion = %v, want 4 … 0", d)
	}
}

func TestCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Explain(ctx, sampledSpec(2, 10), Models{Primary: &linearModel{w: []float64{1, 1}}}, Options{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestOptionsThatDoNotApply(t *testing.T) {
	spec := sampledSpec(2, 10)
	spec.Sampled, spec.Seeded = false, false
	m := Models{Primary: &linearModel{w: []float64{1, 1}}}
	if _, err := Explain(context.Background(), spec, m, Options{Auto: &explain.AutoSampling{Tolerance: 0.1}}); err == nil {
		t.Error("auto sampling of a method that draws no samples: no error")
	}
	if _, err := Explain(context.Background(), spec, m, Options{StabilityRuns: 2}); err == nil {
		t.Error("stability runs of a deterministic method: no error")
	}
}
