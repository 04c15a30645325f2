package explain

import (
	"context"
	"errors"
	"math"
	"math/bits"
	"slices"
	"sync"
	"testing"
)

// precisionAt fakes an estimator whose standard error shrinks as c/√n and
// whose ranking is stable from stableFrom samples on.
func precisionAt(c float64, stableFrom int, calls *[]int) ExplainFunc {
	return func(_ context.Context, n int) (*Result, error) {
		*calls = append(*calls, n)
		se := c / math.Sqrt(float64(n))
		as := []Attribution{{Index: 0, Weight: 3, StdErr: se}, {Index: 1, Weight: -2, StdErr: se / 2}, {Index: 2, Weight: 0.1, StdErr: 10 * se}}
		// Below stableFrom features 0 and 1 swap places every round, the
		// round before stableFrom having them swapped.
		if n < stableFrom && bits.Len(uint(stableFrom/n))%2 == 0 {
			as[1].Weight = -4
		}
		return &Result{Labels: []LabelResult{{Attributions: as}}, NumSamples: n}, nil
	}
}

func TestAutoExplainStops(t *testing.T) {
	tests := []struct {
		name       string
		auto       AutoSampling
		c          float64
		stableFrom int
		wantRounds []int
		wantReason StopReason
		wantPrec   float64
	}{
		// top-2 SEs are c/√n and c/(2√n): with c = 100 the target 1 needs
		// n ≥ 10⁴, met at 16000 after 1000, 2000, 4000, 8000.
		{"tolerance met", AutoSampling{Tolerance: 1, TopK: 2}, 100, 0, []int{1000, 2000, 4000, 8000, 16000}, StopTargetMet, 100 / math.Sqrt(16000)},
		// top-3 includes the imprecise feature (10·c/√n): never met.
		{"budget spent", AutoSampling{Tolerance: 1, TopK: 3, Max: 20000}, 100, 0, []int{1000, 2000, 4000, 8000, 16000, 20000}, StopBudgetSpent, 1000 / math.Sqrt(20000)},
		{"stable ranking", AutoSampling{StableRanking: true, TopK: 2, Initial: 100}, 1, 400, []int{100, 200, 400, 800}, StopTargetMet, 1 / math.Sqrt(800)},
		// Both targets: the tolerance is met at 400 but the ranking is only
		// stable from 3200 on (equal in two rounds: 3200 and 6400).
		{"both targets", AutoSampling{StableRanking: true, Tolerance: 0.1, TopK: 2, Initial: 100}, 1, 3200, []int{100, 200, 400, 800, 1600, 3200, 6400}, StopTargetMet, 1 / math.Sqrt(6400)},
		{"first round enough", AutoSampling{Tolerance: 10, Initial: 50}, 1, 0, []int{50}, StopTargetMet, 10 / math.Sqrt(50)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls []int
			var rounds []Round
			res, conv, err := AutoExplain(context.Background(), tt.auto, precisionAt(tt.c, tt.stableFrom, &calls), func(r Round) { rounds = append(rounds, r) })
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(calls, tt.wantRounds) {
				t.Errorf("rounds sampled %v, want %v", calls, tt.wantRounds)
			}
			if conv.Reason != tt.wantReason {
				t.Errorf("stopped: %v, want %v", conv.Reason, tt.wantReason)
			}
			if len(rounds) != len(calls) || rounds[len(rounds)-1] != conv.Last || conv.Last.Round != len(calls) {
				t.Errorf("onRound saw %d rounds, last %+v; convergence %+v", len(rounds), rounds[len(rounds)-1], conv.Last)
			}
			if res != conv.Last.Result || res.NumSamples != calls[len(calls)-1] {
				t.Errorf("result is not the last round's")
			}
			if math.Abs(conv.Last.Precision-tt.wantPrec) > 1e-12 {
				t.Errorf("precision %v, want %v", conv.Last.Precision, tt.wantPrec)
			}
		})
	}
}

func TestAutoExplainCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var calls []int
	inner := precisionAt(1, 0, &calls)
	explainFn := func(ctx context.Context, n int) (*Result, error) {
		if len(calls) == 2 { // cancelled during the third round
			cancel()
			return nil, ctx.Err()
		}
		return inner(ctx, n)
	}
	res, conv, err := AutoExplain(ctx, AutoSampling{Tolerance: 1e-9}, explainFn, nil)
	if err != nil {
		t.Fatal(err)
	}
	if conv.Reason != StopCancelled || conv.Last.Round != 2 || res.NumSamples != 2000 {
		t.Errorf("got %v after round %d with %d samples, want cancelled with round 2's 2000", conv.Reason, conv.Last.Round, res.NumSamples)
	}

	// Cancelled in the first round there is nothing to return.
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	_, _, err = AutoExplain(ctx2, AutoSampling{Tolerance: 1}, func(ctx context.Context, _ int) (*Result, error) { return nil, ctx.Err() }, nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("first-round cancel: err %v, want context.Canceled", err)
	}
}

func TestAutoExplainRejects(t *testing.T) {
	tests := []struct {
		auto  AutoSampling
		field string
	}{
		{AutoSampling{}, "tolerance"},
		{AutoSampling{Tolerance: -1}, "tolerance"},
		{AutoSampling{Tolerance: math.NaN()}, "tolerance"},
		{AutoSampling{Tolerance: 1, Initial: 1}, "initial_samples"},
		{AutoSampling{Tolerance: 1, Initial: 500, Max: 100}, "max_samples"},
		{AutoSampling{Tolerance: 1, TopK: -1}, "top_k"},
	}
	for _, tt := range tests {
		_, _, err := AutoExplain(context.Background(), tt.auto, func(context.Context, int) (*Result, error) {
			t.Fatal("explain called for an invalid request")
			return nil, nil
		}, nil)
		var re *RequestError
		if !errors.As(err, &re) || re.Field != tt.field {
			t.Errorf("%+v: err %v, want a RequestError on %s", tt.auto, err, tt.field)
		}
	}
}

// countingModel counts the rows it scores; safe for concurrent use.
type countingModel struct {
	mu   sync.Mutex
	m    Model
	rows int
}

func (c *countingModel) Predict(ctx context.Context, rows [][]float64) ([][]float64, error) {
	c.mu.Lock()
	c.rows += len(rows)
	c.mu.Unlock()
	return c.m.Predict(ctx, rows)
}

func TestCachedModel(t *testing.T) {
	inner := &countingModel{m: &linearModel{w: []float64{1, 2}}}
	c := NewCachedModel(inner)
	ctx := context.Background()
	rows := [][]float64{{1, 1}, {2, 0}, {1, 1}, {0, 0}}
	got, err := c.Predict(ctx, rows)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]float64{{3}, {2}, {3}, {0}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("scores %v, want %v", got, want)
	}
	if inner.rows != 3 {
		t.Errorf("model scored %d rows, want 3 (one duplicate in the batch)", inner.rows)
	}
	got[0][0] = 99 // the caller owns what it gets
	got, err = c.Predict(ctx, [][]float64{{0, 0}, {1, 1}, {0, 1}, {math.Copysign(0, -1), 0}})
	if err != nil {
		t.Fatal(err)
	}
	// −0 is another row: the model may tell them apart.
	if want := [][]float64{{0}, {3}, {2}, {0}}; !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("second call: %v, want %v", got, want)
	}
	if inner.rows != 5 {
		t.Errorf("model scored %d rows in all, want 5", inner.rows)
	}
	if model, cached := c.Scored(); model != 5 || cached != 3 {
		t.Errorf("Scored() = %d, %d, want 5, 3", model, cached)
	}
	if _, err := NewCachedModel(failingModel{errors.New("down")}).Predict(ctx, rows); err == nil {
		t.Error("a model error was not returned")
	}
}

type wordCountModel struct {
	mu    sync.Mutex
	texts int
}

func (m *wordCountModel) PredictText(_ context.Context, texts []string) ([][]float64, error) {
	m.mu.Lock()
	m.texts += len(texts)
	m.mu.Unlock()
	out := make([][]float64, len(texts))
	for i, s := range texts {
		out[i] = []float64{float64(len(s))}
	}
	return out, nil
}

func TestCachedTextModelConcurrent(t *testing.T) {
	inner := &wordCountModel{}
	c := NewCachedTextModel(inner)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			texts := []string{"a", "bb", "ccc", string(rune('d' + g))}
			got, err := c.PredictText(context.Background(), texts)
			if err != nil {
				t.Error(err)
				return
			}
			for i, s := range texts {
				if got[i][0] != float64(len(s)) {
					t.Errorf("%q scored %v", s, got[i][0])
				}
			}
		}()
	}
	wg.Wait()
	// 3 shared texts (scored at most once per goroutine racing for them)
	// and 8 distinct ones.
	if inner.texts < 11 || inner.texts > 8*4 {
		t.Errorf("model scored %d texts", inner.texts)
	}
}

// TestAutoLIMEScoresEachSampleOnce checks what makes auto sampling cheap:
// LIME's samples for n rows start with its samples for fewer rows, so over
// a CachedModel the rounds 500, 1000, 2000 and 3000 cost the model 3000
// rows, not 6500.
func TestAutoLIMEScoresEachSampleOnce(t *testing.T) {
	w := []float64{3, -2, 0.5, 0}
	inner := &countingModel{m: &linearModel{w: w}}
	cm := NewCachedModel(inner)
	req := LIMERequest{Instance: []float64{0.3, -0.2, 1, 0.5}, Stats: unitStats(len(w)), SurrogateFit: SurrogateFit{Selection: SelectNone, NumFeatures: len(w)}, Sampling: Sampling{Seed: 3}}
	var rounds []int
	res, conv, err := AutoExplain(context.Background(), AutoSampling{Initial: 500, Max: 3000, StableRanking: true, TopK: 4},
		func(ctx context.Context, n int) (*Result, error) {
			r := req
			r.NumSamples = n
			return LIME(ctx, cm, r)
		}, func(r Round) { rounds = append(rounds, r.Samples) })
	if err != nil {
		t.Fatal(err)
	}
	// The exact linear model ranks its features the same from round 1, so
	// round 2 meets the target.
	if conv.Reason != StopTargetMet || !slices.Equal(rounds, []int{500, 1000}) {
		t.Errorf("rounds %v, %v", rounds, conv.Reason)
	}
	if inner.rows != 1000 {
		t.Errorf("model scored %d rows over rounds of 500 and 1000, want 1000", inner.rows)
	}
	direct, err := LIME(context.Background(), &linearModel{w: w}, func() LIMERequest { r := req; r.NumSamples = 1000; return r }())
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range res.Labels[0].Attributions {
		if a.Weight != direct.Labels[0].Attributions[i].Weight {
			t.Fatalf("cached auto result differs from a direct 1000-sample run: %v vs %v", a, direct.Labels[0].Attributions[i])
		}
	}

	// Budget: rounds 500, 1000, 2000, 3000 with an unreachable target.
	inner.rows = 0
	cm = NewCachedModel(inner)
	_, conv, err = AutoExplain(context.Background(), AutoSampling{Initial: 500, Max: 3000, Tolerance: 1e-300},
		func(ctx context.Context, n int) (*Result, error) {
			r := req
			r.NumSamples = n
			r.Stats = unitStats(len(w))
			return LIME(ctx, cm, r)
		}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if conv.Reason != StopBudgetSpent || conv.Last.Samples != 3000 || conv.Last.Round != 4 {
		t.Errorf("got %v after %d rounds of up to %d, want budget spent after 4 rounds of up to 3000", conv.Reason, conv.Last.Round, conv.Last.Samples)
	}
	if inner.rows != 3000 {
		t.Errorf("model scored %d rows over rounds up to 3000, want 3000", inner.rows)
	}
}

// TestAutoLIMEEasyAndHard: with the same tolerance, a model that depends
// on two features smoothly is explained precisely well before the budget,
// and one that depends on all twenty through a rapidly oscillating term
// spends the budget and says so. Standard errors shrink as 1/√n: measured
// 0.0029 at 500 samples (easy) and 0.0098 at 1000 (hard), so with the
// tolerance 0.002 the easy case stops at 1000 samples (SE 0.0018) and
// the hard one still misses it at the budget of 8000 (SE 0.0033).
func TestAutoLIMEEasyAndHard(t *testing.T) {
	const p = 20
	easy := scoreFunc(func(r []float64) float64 { return 1 / (1 + math.Exp(-(r[0] - 0.5*r[1]))) })
	hard := scoreFunc(func(r []float64) float64 {
		s := 0.0
		for j, v := range r {
			s += float64(j+1) * v
		}
		return 0.5 + 0.4*math.Sin(7*s)
	})
	inst := make([]float64, p)
	tests := []struct {
		name       string
		m          Model
		wantReason StopReason
	}{
		{"easy", easy, StopTargetMet},
		{"hard", hard, StopBudgetSpent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inner := &countingModel{m: tt.m}
			cm := NewCachedModel(inner)
			var rounds int
			_, conv, err := AutoExplain(context.Background(), AutoSampling{Initial: 500, Max: 8000, Tolerance: 0.002, TopK: 2},
				func(ctx context.Context, n int) (*Result, error) {
					return LIME(ctx, cm, LIMERequest{Instance: inst, Stats: unitStats(p), SurrogateFit: SurrogateFit{Selection: SelectNone}, Sampling: Sampling{NumSamples: n, Seed: 1}})
				}, func(Round) { rounds++ })
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %v after %d rounds, %d samples, precision %.4g", tt.name, conv.Reason, rounds, conv.Last.Samples, conv.Last.Precision)
			if conv.Reason != tt.wantReason {
				t.Fatalf("stopped: %v, want %v", conv.Reason, tt.wantReason)
			}
			if tt.wantReason == StopTargetMet && conv.Last.Samples > 8000/4 {
				t.Errorf("easy case used %d of 8000 samples", conv.Last.Samples)
			}
			if inner.rows != conv.Last.Samples {
				t.Errorf("model scored %d rows for a last round of %d", inner.rows, conv.Last.Samples)
			}
		})
	}
}

// scoreFunc is a one-output model from a function of the row.
type scoreFunc func([]float64) float64

func (f scoreFunc) Predict(_ context.Context, rows [][]float64) ([][]float64, error) {
	out := make([][]float64, len(rows))
	for i, r := range rows {
		out[i] = []float64{f(r)}
	}
	return out, nil
}

// TestAutoKernelSHAPExact: with 5 players KernelSHAP enumerates all 30
// coalitions in the first round, its values are exact (standard errors 0),
// and any tolerance is met at once.
func TestAutoKernelSHAPExact(t *testing.T) {
	m := scoreFunc(func(r []float64) float64 { return r[0]*r[1] + r[2] - r[3]*r[4] })
	bg := [][]float64{{0, 0, 0, 0, 0}, {1, -1, 0.5, 2, 1}}
	_, conv, err := AutoExplain(context.Background(), AutoSampling{Initial: 100, Max: 50000, Tolerance: 1e-12},
		func(ctx context.Context, n int) (*Result, error) {
			return KernelSHAP(ctx, m, KernelSHAPRequest{Instance: []float64{1, 2, 3, 4, 5}, Background: bg, Sampling: Sampling{NumSamples: n, Seed: 1}})
		}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if conv.Reason != StopTargetMet || conv.Last.Round != 1 || conv.Last.Precision != 0 {
		t.Errorf("round %d, precision %v, stopped: %v; want the exact values in round 1", conv.Last.Round, conv.Last.Precision, conv.Reason)
	}
}

// TestAutoExplainExhausted: a round that scores no more samples than the
// one before (nothing left to draw) ends sampling short of the target.
func TestAutoExplainExhausted(t *testing.T) {
	var rounds []int
	_, conv, err := AutoExplain(context.Background(), AutoSampling{Initial: 100, Tolerance: 1e-12},
		func(_ context.Context, n int) (*Result, error) {
			rounds = append(rounds, n)
			as := []Attribution{{Index: 0, Weight: 1, StdErr: 0.1}}
			return &Result{Labels: []LabelResult{{Attributions: as}}, NumSamples: min(n, 150)}, nil
		}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if conv.Reason != StopExhausted || !slices.Equal(rounds, []int{100, 200, 400}) {
		t.Errorf("rounds %v, stopped: %v; want 100, 200, 400 and exhausted", rounds, conv.Reason)
	}
}
