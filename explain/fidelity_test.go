package explain

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// additive scores a mask as c + Σ_{j present} w_j.
func additive(c float64, w []float64) MaskScorer {
	return func(_ context.Context, present [][]bool) ([]float64, error) {
		out := make([]float64, len(present))
		for r, row := range present {
			s := c
			for j, in := range row {
				if in {
					s += w[j]
				}
			}
			out[r] = s
		}
		return out, nil
	}
}

func assertClose(t *testing.T, name string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d points, want %d", name, len(got), len(want))
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > tol {
			t.Errorf("%s[%d] = %v, want %v", name, i, got[i], want[i])
		}
	}
}

func TestFidelityCurvesAdditiveExact(t *testing.T) {
	// Weights 5, 4, 3, 2, 1 scattered over the players; the explanation
	// is the model itself. Deletion: 15 10 6 3 1 0, insertion: 0 5 9 12
	// 14 15, each step 1/5.
	w := []float64{3, 1, 5, 2, 4}
	c, err := FidelityCurves(context.Background(), additive(0, w), w, CurveOptions{Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "fractions", c.Fractions, []float64{0, 0.2, 0.4, 0.6, 0.8, 1}, 1e-15)
	assertClose(t, "deletion", c.Deletion, []float64{15, 10, 6, 3, 1, 0}, 1e-12)
	assertClose(t, "insertion", c.Insertion, []float64{0, 5, 9, 12, 14, 15}, 1e-12)
	// Areas: 0.2·(12.5 + 8 + 4.5 + 2 + 0.5) and 0.2·(2.5 + 7 + 10.5 + 13 + 14.5).
	if math.Abs(c.DeletionArea-5.5) > 1e-12 || math.Abs(c.InsertionArea-9.5) > 1e-12 {
		t.Errorf("areas %v, %v, want 5.5, 9.5", c.DeletionArea, c.InsertionArea)
	}
	if !reflect.DeepEqual(c.Order, []int{2, 4, 0, 3, 1}) {
		t.Errorf("order %v", c.Order)
	}
	if c.Steps != 5 || c.RandomOrders != DefaultRandomOrders || c.Seed != 7 {
		t.Errorf("steps %d, orders %d, seed %d", c.Steps, c.RandomOrders, c.Seed)
	}
	// Every order's curves meet at both ends: all present and none.
	if c.RandomDeletion[0] != 15 || c.RandomDeletion[5] != 0 || c.RandomInsertion[0] != 0 || c.RandomInsertion[5] != 15 {
		t.Errorf("random ends: %v %v", c.RandomDeletion, c.RandomInsertion)
	}
	if !(c.DeletionArea < c.RandomDeletionArea) || !(c.InsertionArea > c.RandomInsertionArea) {
		t.Errorf("faithful explanation: deletion %v vs random %v, insertion %v vs random %v",
			c.DeletionArea, c.RandomDeletionArea, c.InsertionArea, c.RandomInsertionArea)
	}
}

// For an additive model the true weights give the lowest deletion and the
// highest insertion curve of any order, point by point: compare with the
// averaged random baselines and with the curves of random explanations.
func TestFidelityCurvesAdditiveOptimal(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const p = 12
	w := make([]float64, p)
	for j := range w {
		w[j] = rng.NormFloat64() // signed: some features oppose the label
	}
	score := additive(0.3, w)
	truth, err := FidelityCurves(context.Background(), score, w, CurveOptions{RandomOrders: 20, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	const eps = 1e-12
	check := func(name string, del, ins []float64) {
		t.Helper()
		for i := range del {
			if truth.Deletion[i] > del[i]+eps {
				t.Errorf("%s: deletion[%d] = %v above %v", name, i, truth.Deletion[i], del[i])
			}
			if truth.Insertion[i] < ins[i]-eps {
				t.Errorf("%s: insertion[%d] = %v below %v", name, i, truth.Insertion[i], ins[i])
			}
		}
	}
	check("random baseline", truth.RandomDeletion, truth.RandomInsertion)
	for k := range 50 {
		guess := make([]float64, p)
		for j := range guess {
			guess[j] = rng.Float64()
		}
		c, err := FidelityCurves(context.Background(), score, guess, CurveOptions{Seed: uint64(k)})
		if err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("random explanation %d", k), c.Deletion, c.Insertion)
	}

	// A wrong explanation (the weights reversed) is worse than random.
	rev := make([]float64, p)
	for j := range w {
		rev[j] = -w[j]
	}
	wrong, err := FidelityCurves(context.Background(), score, rev, CurveOptions{RandomOrders: 20, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if !(wrong.DeletionArea > wrong.RandomDeletionArea) || !(wrong.InsertionArea < wrong.RandomInsertionArea) {
		t.Errorf("reversed explanation: deletion %v vs random %v, insertion %v vs random %v",
			wrong.DeletionArea, wrong.RandomDeletionArea, wrong.InsertionArea, wrong.RandomInsertionArea)
	}
	// The random baselines do not depend on the explanation.
	assertClose(t, "random deletion", wrong.RandomDeletion, truth.RandomDeletion, 0)
	assertClose(t, "random insertion", wrong.RandomInsertion, truth.RandomInsertion, 0)
}

// A model that needs features 2 and 7 together: f = 1 when both are
// present, else 0.
func TestFidelityCurvesTwoOfTen(t *testing.T) {
	score := func(_ context.Context, present [][]bool) ([]float64, error) {
		out := make([]float64, len(present))
		for r, row := range present {
			if row[2] && row[7] {
				out[r] = 1
			}
		}
		return out, nil
	}
	w := make([]float64, 10)
	w[2], w[7] = 0.6, 0.4
	c, err := FidelityCurves(context.Background(), score, w, CurveOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "deletion", c.Deletion, []float64{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 0)
	assertClose(t, "insertion", c.Insertion, []float64{0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1}, 0)
	// 0.1·0.5 and 0.1·(0.5 + 8).
	if math.Abs(c.DeletionArea-0.05) > 1e-12 || math.Abs(c.InsertionArea-0.85) > 1e-12 {
		t.Errorf("areas %v, %v, want 0.05, 0.85", c.DeletionArea, c.InsertionArea)
	}
	if !(c.DeletionArea < c.RandomDeletionArea) || !(c.InsertionArea > c.RandomInsertionArea) {
		t.Errorf("deletion %v vs random %v, insertion %v vs random %v",
			c.DeletionArea, c.RandomDeletionArea, c.InsertionArea, c.RandomInsertionArea)
	}
}

func TestFidelityCurvesDeterministic(t *testing.T) {
	w := []float64{0.1, -0.4, 0.9, 0.3, 0, 0.2, -0.1, 0.5}
	score := additive(1, []float64{1, 2, 3, 4, 5, 6, 7, 8})
	run := func(seed uint64) *Curves {
		c, err := FidelityCurves(context.Background(), score, w, CurveOptions{Seed: seed, RandomOrders: 3})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a, b := run(42), run(42)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("same seed, different curves:\n%+v\n%+v", a, b)
	}
	if c := run(43); reflect.DeepEqual(a.RandomDeletion, c.RandomDeletion) {
		t.Errorf("seeds 42 and 43 gave the same random curves")
	}
	if d := run(43); !reflect.DeepEqual(a.Deletion, d.Deletion) || !reflect.DeepEqual(a.Insertion, d.Insertion) {
		t.Errorf("the explanation's curves depend on the seed")
	}
}

// countingScorer wraps an additive model, records the calls and rows and
// fails the test on a repeated mask.
type countingScorer struct {
	t     *testing.T
	calls int
	rows  int
	seen  map[string]bool
}

func (s *countingScorer) score(ctx context.Context, present [][]bool) ([]float64, error) {
	s.calls++
	s.rows += len(present)
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	for _, row := range present {
		var b strings.Builder
		for _, in := range row {
			if in {
				b.WriteByte('1')
			} else {
				b.WriteByte('0')
			}
		}
		if s.seen[b.String()] {
			s.t.Errorf("mask %s scored twice", b.String())
		}
		s.seen[b.String()] = true
	}
	w := make([]float64, len(present[0]))
	for j := range w {
		w[j] = float64(j + 1)
	}
	return additive(0, w)(ctx, present)
}

func TestFidelityCurvesDedup(t *testing.T) {
	t.Run("p=2", func(t *testing.T) {
		// 11, 10, 01 and 00 are the only masks, whatever the orders.
		s := &countingScorer{t: t}
		c, err := FidelityCurves(context.Background(), s.score, []float64{1, 2}, CurveOptions{RandomOrders: 50})
		if err != nil {
			t.Fatal(err)
		}
		if s.calls != 1 || s.rows != 4 || c.NumSamples != 4 || c.ScorerCalls != 1 {
			t.Errorf("calls %d (%d), rows %d (%d), want 1 and 4", s.calls, c.ScorerCalls, s.rows, c.NumSamples)
		}
	})
	t.Run("p=9", func(t *testing.T) {
		const p, steps, orders = 9, 9, 4
		s := &countingScorer{t: t}
		c, err := FidelityCurves(context.Background(), s.score, make([]float64, p), CurveOptions{Steps: steps, RandomOrders: orders})
		if err != nil {
			t.Fatal(err)
		}
		// Each of the 1+orders orders has steps−1 inner masks per curve;
		// the full and the empty mask are shared.
		if bound := 2*(1+orders)*(steps-1) + 2; s.rows > bound {
			t.Errorf("%d rows, more than %d", s.rows, bound)
		}
		if s.calls != 1 || c.ScorerCalls != 1 || c.NumSamples != s.rows {
			t.Errorf("calls %d (%d), rows %d (%d)", s.calls, c.ScorerCalls, s.rows, c.NumSamples)
		}
		if !s.seen["111111111"] || !s.seen["000000000"] {
			t.Errorf("full or empty mask missing")
		}
		// In batches of 4.
		s2 := &countingScorer{t: t}
		c2, err := FidelityCurves(context.Background(), s2.score, make([]float64, p), CurveOptions{Steps: steps, RandomOrders: orders, BatchSize: 4})
		if err != nil {
			t.Fatal(err)
		}
		if want := (s.rows + 3) / 4; s2.calls != want || c2.ScorerCalls != want || s2.rows != s.rows {
			t.Errorf("batch 4: %d calls, %d rows, want %d and %d", s2.calls, s2.rows, want, s.rows)
		}
		c.ScorerCalls = c2.ScorerCalls
		if !reflect.DeepEqual(c, c2) {
			t.Errorf("batching changed the curves")
		}
	})
}

func TestFidelityCurvesSteps(t *testing.T) {
	w := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10} // order 9, 8, ..., 0
	score := additive(0, w)
	tests := []struct {
		name      string
		steps     int
		fractions []float64
		deletion  []float64
	}{
		// ⌊i·10/3⌋ = 0, 3, 6, 10: removes 10+9+8, then 7+6+5, then the rest.
		{"3 steps", 3, []float64{0, 0.3, 0.6, 1}, []float64{55, 28, 10, 0}},
		// ⌊i·10/4⌋ = 0, 2, 5, 7, 10.
		{"4 steps", 4, []float64{0, 0.2, 0.5, 0.7, 1}, []float64{55, 36, 15, 6, 0}},
		{"more steps than features", 30, []float64{0, .1, .2, .3, .4, .5, .6, .7, .8, .9, 1}, []float64{55, 45, 36, 28, 21, 15, 10, 6, 3, 1, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := FidelityCurves(context.Background(), score, w, CurveOptions{Steps: tt.steps})
			if err != nil {
				t.Fatal(err)
			}
			assertClose(t, "fractions", c.Fractions, tt.fractions, 1e-15)
			assertClose(t, "deletion", c.Deletion, tt.deletion, 1e-12)
			// Insertion of the same prefix: 55 − deletion at that point.
			for i := range c.Insertion {
				if got, want := c.Insertion[i], 55-c.Deletion[i]; math.Abs(got-want) > 1e-12 {
					t.Errorf("insertion[%d] = %v, want %v", i, got, want)
				}
			}
			if c.Steps != len(tt.fractions)-1 {
				t.Errorf("steps %d", c.Steps)
			}
		})
	}
	// The default: min(p, 20).
	c, err := FidelityCurves(context.Background(), additive(0, make([]float64, 50)), make([]float64, 50), CurveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Steps != DefaultCurveSteps || len(c.Fractions) != DefaultCurveSteps+1 || c.Fractions[1] != 0.04 {
		t.Errorf("default steps %d, fractions %v", c.Steps, c.Fractions)
	}
}

func TestFidelityCurvesOnePlayer(t *testing.T) {
	s := &countingScorer{t: t}
	c, err := FidelityCurves(context.Background(), s.score, []float64{-3}, CurveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "fractions", c.Fractions, []float64{0, 1}, 0)
	assertClose(t, "deletion", c.Deletion, []float64{1, 0}, 0)
	assertClose(t, "insertion", c.Insertion, []float64{0, 1}, 0)
	assertClose(t, "random deletion", c.RandomDeletion, []float64{1, 0}, 0)
	if c.DeletionArea != 0.5 || c.RandomInsertionArea != 0.5 || s.rows != 2 || s.calls != 1 {
		t.Errorf("areas %v %v, rows %d, calls %d", c.DeletionArea, c.RandomInsertionArea, s.rows, s.calls)
	}
}

func TestFidelityCurvesErrors(t *testing.T) {
	boom := errors.New("boom")
	ok := additive(0, []float64{1, 2, 3})
	w := []float64{1, 2, 3}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		score   MaskScorer
		weights []float64
		opts    CurveOptions
		field   string // a *RequestError naming it
		is      error
		msg     string
	}{
		{name: "no weights", score: ok, field: "weights"},
		{name: "nan weight", score: ok, weights: []float64{1, math.NaN(), 3}, field: "weights[1]"},
		{name: "inf weight", score: ok, weights: []float64{math.Inf(-1), 2, 3}, field: "weights[0]"},
		{name: "negative steps", score: ok, weights: w, opts: CurveOptions{Steps: -1}, field: "curve_steps"},
		{name: "too many steps", score: ok, weights: w, opts: CurveOptions{Steps: MaxCurveSteps + 1}, field: "curve_steps"},
		{name: "too many orders", score: ok, weights: w, opts: CurveOptions{RandomOrders: MaxRandomOrders + 1}, field: "random_orders"},
		{name: "negative orders", score: ok, weights: w, opts: CurveOptions{RandomOrders: -2}, field: "random_orders"},
		{name: "negative batch", score: ok, weights: w, opts: CurveOptions{BatchSize: -1}, field: "batch_size"},
		{name: "nil scorer", weights: w, field: "score"},
		{name: "scorer error", weights: w, is: boom,
			score: func(context.Context, [][]bool) ([]float64, error) { return nil, boom }},
		{name: "short answer", weights: w, msg: "scores for",
			score: func(_ context.Context, m [][]bool) ([]float64, error) { return make([]float64, len(m)-1), nil }},
		{name: "nan score", weights: w, msg: "non-finite score",
			score: func(ctx context.Context, m [][]bool) ([]float64, error) {
				s, _ := ok(ctx, m)
				s[len(s)-1] = math.NaN()
				return s, nil
			}},
		{name: "cancelled", ctx: cancelled, weights: w, is: context.Canceled,
			score: func(context.Context, [][]bool) ([]float64, error) {
				t.Error("scorer called after cancel")
				return nil, nil
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := tt.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			c, err := FidelityCurves(ctx, tt.score, tt.weights, tt.opts)
			if err == nil {
				t.Fatalf("no error, curves %+v", c)
			}
			var re *RequestError
			isRequest := errors.As(err, &re)
			switch {
			case tt.field != "":
				if !isRequest || re.Field != tt.field {
					t.Errorf("error %v, want a RequestError for %s", err, tt.field)
				}
			case isRequest:
				t.Errorf("error %v is a RequestError", err)
			case tt.is != nil && !errors.Is(err, tt.is):
				t.Errorf("error %v, want %v", err, tt.is)
			case tt.msg != "" && !strings.Contains(err.Error(), tt.msg):
				t.Errorf("error %v, want %q", err, tt.msg)
			}
			if !strings.HasPrefix(err.Error(), "explain: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func BenchmarkFidelityCurves(b *testing.B) {
	for _, p := range []int{30, 1000} {
		b.Run(fmt.Sprintf("p=%d", p), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			w := make([]float64, p)
			for j := range w {
				w[j] = rng.Float64()
			}
			// The model costs nothing: only FidelityCurves' own work counts.
			out := make([]float64, 2*(1+MaxRandomOrders)*(MaxCurveSteps+1))
			score := func(_ context.Context, present [][]bool) ([]float64, error) { return out[:len(present)], nil }
			b.ReportAllocs()
			for b.Loop() {
				if _, err := FidelityCurves(context.Background(), score, w, CurveOptions{Seed: 1}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// An explanation that ranks the features as the model uses them: its
// deletion area is below the random baseline's and its insertion area
// above.
func ExampleFidelityCurves() {
	// The model: the label's score with the features present is
	// 0.5·x0 + 0.3·x1 + 0.2·x2 for the instance x = (1, 1, 1).
	score := func(_ context.Context, present [][]bool) ([]float64, error) {
		coef := []float64{0.5, 0.3, 0.2}
		out := make([]float64, len(present))
		for r, row := range present {
			for j, in := range row {
				if in {
					out[r] += coef[j]
				}
			}
		}
		return out, nil
	}
	c, err := FidelityCurves(context.Background(), score, []float64{0.48, 0.31, 0.19}, CurveOptions{Seed: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("deletion  %.2f, area %.3f (random %.3f)\n", c.Deletion, c.DeletionArea, c.RandomDeletionArea)
	fmt.Printf("insertion %.2f, area %.3f (random %.3f)\n", c.Insertion, c.InsertionArea, c.RandomInsertionArea)
	fmt.Println("faithful:", c.DeletionArea < c.RandomDeletionArea && c.InsertionArea > c.RandomInsertionArea)
	fmt.Println(c.NumSamples, "masks in", c.ScorerCalls, "call")
	// Output:
	// deletion  [1.00 0.50 0.20 0.00], area 0.400 (random 0.540)
	// insertion [0.00 0.50 0.80 1.00], area 0.600 (random 0.460)
	// faithful: true
	// 8 masks in 1 call
}
