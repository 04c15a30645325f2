package explain

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"math"
	"os"
	"reflect"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
)

// cfModel is a Model scoring rows with f; it records the calls and the
// largest call, and can cancel a context on a given call.
type cfModel struct {
	f        func(row []float64) []float64
	calls    atomic.Int64
	maxRows  atomic.Int64
	cancelAt int64 // cancel on this call (1-based), 0 never
	cancel   context.CancelFunc
}

func (m *cfModel) Predict(ctx context.Context, rows [][]float64) ([][]float64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n := m.calls.Add(1)
	if n == m.cancelAt {
		m.cancel()
	}
	if int64(len(rows)) > m.maxRows.Load() {
		m.maxRows.Store(int64(len(rows)))
	}
	out := make([][]float64, len(rows))
	for i, r := range rows {
		out[i] = m.f(r)
	}
	return out, nil
}

// linear2 is the closed-form case's model: σ(−5 + 0.04·x0 + 1.0·x1).
func linear2(row []float64) []float64 { return twoClasses(-5 + 0.04*row[0] + row[1]) }

// linear2Data has x0 = i and x1 = 0.1·i for i = 0..100: medians 50 and
// 5, MADs 25 and 2.5 (the 51st of the sorted |i − 50|), ranges [0, 100]
// and [0, 10].
func linear2Data() [][]float64 {
	data := make([][]float64, 101)
	for i := range data {
		data[i] = []float64{float64(i), 0.1 * float64(i)}
	}
	return data
}

func TestCounterfactualMADScale(t *testing.T) {
	s, err := newCFSearch(&cfModel{f: linear2}, CounterfactualRequest{
		Instance: []float64{20, 2}, Data: linear2Data(),
	})
	if err != nil {
		t.Fatal(err)
	}
	for j, want := range []float64{25, 2.5} {
		if math.Abs(s.scale[j]-want) > 1e-12 {
			t.Errorf("scale[%d] = %v, want the MAD %v", j, s.scale[j], want)
		}
	}
	// A constant column: MAD 0 and std 0 → 1; a column mostly at one
	// value: MAD 0 → its population standard deviation.
	for _, c := range []struct {
		col  []float64
		want float64
	}{
		{[]float64{4, 4, 4, 4}, 1},
		{[]float64{0, 0, 0, 0, 0, 0, 0, 8}, math.Sqrt(7.0)},
	} {
		if got := madScale(slices.Clone(c.col)); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("madScale(%v) = %v, want %v", c.col, got, c.want)
		}
	}
}

// TestCounterfactualClosedForm: for a linear logistic model the closest
// valid row in MAD-scaled L1 is a linear programme's vertex: to raise the
// score s = −5 + 0.04·x0 + x1 by Δ at the least cost Σ|Δx_j|/MAD_j, move
// the feature with the largest |w_j|·MAD_j (x1: 1.0·2.5 = 2.5 per MAD unit,
// against x0's 0.04·25 = 1), by Δ/|w_j| until it hits its range, then the
// next. The search must get within 1% of that proximity, with the same
// changed features.
func TestCounterfactualClosedForm(t *testing.T) {
	x := []float64{20, 2} // s = −2.2: class 0
	logit := func(p float64) float64 { return math.Log(p / (1 - p)) }
	cases := []struct {
		name      string
		minProb   float64
		immutable []int
		ranges    []FeatureRange
		want      float64 // proximity of the optimum
		changed   []int
	}{
		{name: "top class", want: 2.2 / 2.5, changed: []int{1}},
		{name: "min probability 0.8", minProb: 0.8, want: (2.2 + logit(0.8)) / 2.5, changed: []int{1}},
		{name: "x1 immutable", immutable: []int{1}, want: 2.2 / 0.04 / 25, changed: []int{0}},
		// x1 ≤ 3 gives Δs = 1 for 0.4 MAD units; the other 1.2 comes
		// from x0: 30 units, 1.2 MAD units.
		{name: "x1 capped", ranges: []FeatureRange{{Feature: 1, Min: 0, Max: 3}}, want: 0.4 + 1.2, changed: []int{0, 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := &cfModel{f: linear2}
			res, err := Counterfactuals(context.Background(), m, CounterfactualRequest{
				Instance: x, Data: linear2Data(), DesiredClass: 1, MinProbability: c.minProb,
				Immutable: c.immutable, Ranges: c.ranges, Count: 1, Seed: 7,
			})
			if err != nil {
				t.Fatal(err)
			}
			rows := res.Counterfactuals.Rows
			if len(rows) != 1 {
				t.Fatalf("%d counterfactuals, want 1", len(rows))
			}
			cf := rows[0]
			t.Logf("proximity %.5f (optimum %.5f), values %v, %d generations, %d rows in %d calls",
				cf.Proximity, c.want, cf.Values, res.Counterfactuals.Generations, res.NumSamples, m.calls.Load())
			if !cf.Valid || cf.Label != 1 || cf.Scores[1] < c.minProb {
				t.Errorf("not valid: label %d, scores %v", cf.Label, cf.Scores)
			}
			if cf.Proximity < c.want-1e-9 || cf.Proximity > c.want*1.01 {
				t.Errorf("proximity %.5f, want within 1%% above the optimum %.5f", cf.Proximity, c.want)
			}
			var changed []int
			sum := 0.0
			for _, ch := range cf.Changes {
				changed = append(changed, ch.Index)
				sum += math.Abs(ch.Scaled)
			}
			if !slices.Equal(changed, c.changed) {
				t.Errorf("changed features %v, want %v", changed, c.changed)
			}
			if math.Abs(sum-cf.Proximity) > 1e-9 {
				t.Errorf("Σ|scaled| = %v, proximity %v", sum, cf.Proximity)
			}
		})
	}
}

// TestCounterfactualDiversity: count 3 on the two-feature model gives the
// three change sets there are ({x1}, {x0}, {x0, x1}), closest first.
func TestCounterfactualDiversity(t *testing.T) {
	res, err := Counterfactuals(context.Background(), &cfModel{f: linear2}, CounterfactualRequest{
		Instance: []float64{20, 2}, Data: linear2Data(), DesiredClass: 1, Count: 3, Seed: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	rows := res.Counterfactuals.Rows
	if len(rows) != 3 {
		t.Fatalf("%d counterfactuals, want 3", len(rows))
	}
	sets := map[string]bool{}
	for i, cf := range rows {
		var key []int
		for _, ch := range cf.Changes {
			key = append(key, ch.Index)
		}
		sets[strconv.Quote(string(mustJSON(t, key)))] = true
		if i > 0 && cf.Proximity < rows[i-1].Proximity {
			t.Errorf("counterfactual %d is closer (%v) than %d (%v)", i, cf.Proximity, i-1, rows[i-1].Proximity)
		}
		t.Logf("%d: changes %v proximity %.4f", i, key, cf.Proximity)
	}
	if len(sets) != 3 {
		t.Errorf("%d distinct change sets among 3 counterfactuals, want 3", len(sets))
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// breastCancer returns the rows and the fitted logistic regression of
// testdata/counterfactual_logreg.json (counterfactual_logreg.py).
func breastCancer(t *testing.T) (train, held [][]float64, names []string, model func([]float64) []float64) {
	t.Helper()
	f, err := os.Open("../testdata/breast_cancer.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	names = recs[0][:len(recs[0])-1]
	var rows [][]float64
	for _, r := range recs[1:] {
		row := make([]float64, len(names))
		for j := range row {
			if row[j], err = strconv.ParseFloat(r[j], 64); err != nil {
				t.Fatal(err)
			}
		}
		rows = append(rows, row)
	}
	raw, err := os.ReadFile("testdata/counterfactual_logreg.json")
	if err != nil {
		t.Fatal(err)
	}
	var lr struct {
		Intercept  float64
		Coef       []float64
		TrainRows  int         `json:"train_rows"`
		CheckRows  []int       `json:"check_rows"`
		CheckProba [][]float64 `json:"check_proba"`
	}
	if err := json.Unmarshal(raw, &lr); err != nil {
		t.Fatal(err)
	}
	model = func(row []float64) []float64 {
		s := lr.Intercept
		for j, v := range row {
			s += lr.Coef[j] * v
		}
		return twoClasses(s)
	}
	for k, i := range lr.CheckRows { // the Go model is sklearn's
		if got := model(rows[i]); math.Abs(got[1]-lr.CheckProba[k][1]) > 1e-9 {
			t.Fatalf("row %d: P(class 1) = %v, sklearn's predict_proba %v", i, got[1], lr.CheckProba[k][1])
		}
	}
	return rows[:lr.TrainRows], rows[lr.TrainRows:], names, model
}

// TestCounterfactualBreastCancer is issue 16's check: on 100 held-out
// rows of the breast-cancer data, with a logistic regression, at least
// 95% get a valid counterfactual (the other class with probability ≥
// 0.6, confirmed by scoring the returned row again); no counterfactual
// changes an immutable feature (mean radius, mean area) or leaves its
// range (mean perimeter within ±10 of the instance; the rest within the
// training data's range); every change is reported with its scaled size.
func TestCounterfactualBreastCancer(t *testing.T) {
	if testing.Short() {
		t.Skip("100 searches")
	}
	train, held, names, model := breastCancer(t)
	immutable := []int{0, 3}
	lo, hi := slices.Clone(train[0]), slices.Clone(train[0])
	for _, r := range train {
		for j, v := range r {
			lo[j], hi[j] = min(lo[j], v), max(hi[j], v)
		}
	}
	var withValid, found, sparsity, firstSparsity int
	var proximity, firstProximity float64
	for i, x := range held {
		ranges := []FeatureRange{{Feature: 2, Min: x[2] - 10, Max: x[2] + 10}}
		res, err := Counterfactuals(context.Background(), &cfModel{f: model}, CounterfactualRequest{
			Instance: x, Data: train, FeatureNames: names, DesiredClass: OtherClass, MinProbability: 0.6,
			Count: 3, Immutable: immutable, Ranges: ranges, Population: 128, Seed: uint64(i),
		})
		if err != nil {
			t.Fatal(err)
		}
		predicted := argmax(model(x))
		ok := false
		for k, cf := range res.Counterfactuals.Rows {
			scores := model(cf.Values)
			label := argmax(scores)
			valid := label != predicted && scores[label] >= 0.6
			if valid != cf.Valid || label != cf.Label {
				t.Errorf("row %d cf %d: reported valid %v label %d, the model says %v %d", i, k, cf.Valid, cf.Label, valid, label)
			}
			ok = ok || valid
			for _, j := range immutable {
				if cf.Values[j] != x[j] {
					t.Errorf("row %d cf %d: immutable feature %d changed", i, k, j)
				}
			}
			for j, v := range cf.Values {
				l, h := min(lo[j], x[j]), max(hi[j], x[j])
				if j == 2 {
					l, h = ranges[0].Min, ranges[0].Max
				}
				if v < l || v > h {
					t.Errorf("row %d cf %d: feature %d = %v outside [%v, %v]", i, k, j, v, l, h)
				}
			}
			changed := 0
			for j := range x {
				if cf.Values[j] != x[j] {
					changed++
				}
			}
			if changed != len(cf.Changes) {
				t.Errorf("row %d cf %d: %d features differ, %d changes reported", i, k, changed, len(cf.Changes))
			}
			found++
			sparsity += len(cf.Changes)
			proximity += cf.Proximity
		}
		if ok {
			withValid++
		}
		if rows := res.Counterfactuals.Rows; len(rows) > 0 {
			firstSparsity += len(rows[0].Changes)
			firstProximity += rows[0].Proximity
		}
	}
	t.Logf("%d/%d held-out rows have a valid counterfactual; %d counterfactuals, mean sparsity %.2f features, mean proximity %.3f MAD units",
		withValid, len(held), found, float64(sparsity)/float64(found), proximity/float64(found))
	t.Logf("the closest of each row: mean sparsity %.2f, mean proximity %.3f", float64(firstSparsity)/float64(len(held)), firstProximity/float64(len(held)))
	if withValid < 95 {
		t.Errorf("%d of %d held-out rows have a valid counterfactual, want ≥ 95", withValid, len(held))
	}
}

// TestCounterfactualCategorical: a categorical feature takes only the
// categories the data set has (and its range allows), and its change
// costs 1.
func TestCounterfactualCategorical(t *testing.T) {
	// Class 1 needs category 5 of x0, or x1 ≥ 4: x1's MAD is 1.5 (its
	// values 0, 0.6, …, 5.4 lie 0.3, 0.9, 1.5, 2.1, 2.7 from the median
	// 2.7), so that is 2.67 MAD units away, a category change 1.
	model := func(r []float64) []float64 {
		s := -1.0 + 0.25*r[1]
		if r[0] == 5 {
			s += 3
		}
		return twoClasses(s)
	}
	data := make([][]float64, 40)
	for i := range data {
		data[i] = []float64{[]float64{0, 1, 2, 5}[i%4], float64(i%10) * 0.6}
	}
	cases := []struct {
		name   string
		ranges []FeatureRange
		want   float64 // the category x0 moves to, NaN: x0 unchanged
	}{
		{name: "category 5", want: 5},
		{name: "5 out of range", ranges: []FeatureRange{{Feature: 0, Min: 0, Max: 2.5}}, want: math.NaN()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := Counterfactuals(context.Background(), &cfModel{f: model}, CounterfactualRequest{
				Instance: []float64{1, 0}, Data: data, Categorical: []int{0}, DesiredClass: 1,
				Ranges: c.ranges, Count: 3, Seed: 1,
			})
			if err != nil {
				t.Fatal(err)
			}
			rows := res.Counterfactuals.Rows
			if len(rows) == 0 {
				t.Fatal("no counterfactual")
			}
			for k, cf := range rows {
				if !slices.Contains([]float64{0, 1, 2, 5}, cf.Values[0]) || c.ranges != nil && cf.Values[0] > 2.5 {
					t.Errorf("cf %d: x0 = %v is not an allowed category", k, cf.Values[0])
				}
				for _, ch := range cf.Changes {
					if ch.Index == 0 && ch.Scaled != 1 {
						t.Errorf("cf %d: a category change scales to %v, want 1", k, ch.Scaled)
					}
				}
			}
			best := rows[0]
			if math.IsNaN(c.want) {
				if best.Values[0] != 1 {
					t.Errorf("closest changes x0 to %v, want it unchanged", best.Values[0])
				}
				return
			}
			if best.Values[0] != c.want || best.Proximity != 1 {
				t.Errorf("closest is %v (proximity %v), want x0 = %v alone, proximity 1", best.Values, best.Proximity, c.want)
			}
		})
	}
}

func TestCounterfactualDeterminism(t *testing.T) {
	run := func(seed uint64) *Result {
		res, err := Counterfactuals(context.Background(), &cfModel{f: confLogistic}, CounterfactualRequest{
			Instance: confInstance, Data: confData(50, len(confInstance)), DesiredClass: OtherClass, Seed: seed, Population: 32,
		})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	a, b, c := run(11), run(11), run(12)
	if !reflect.DeepEqual(a, b) {
		t.Error("the same seed gave different results")
	}
	if reflect.DeepEqual(a.Counterfactuals, c.Counterfactuals) {
		t.Error("another seed gave the same counterfactuals")
	}
}

// TestCounterfactualCalls: every Predict call holds at most Population
// rows, NumSamples counts the rows scored and stays within
// CounterfactualMaxRows (also for rows that change 300 features, whose
// reverts would cost far more), partial results come once per generation
// with only valid rows, and the search stops within MaxGenerations.
func TestCounterfactualCalls(t *testing.T) {
	for _, c := range []struct {
		name         string
		p, pop, gens int
	}{
		{"6 features", 6, 16, 7},
		{"300 features", 300, 8, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := &cfModel{f: confLogistic}
			var gens []int
			var rows atomic.Int64
			req := CounterfactualRequest{
				Instance: confData(1, c.p)[0], Data: confData(50, c.p), DesiredClass: OtherClass, Seed: 1,
				Population: c.pop, MaxGenerations: c.gens, Count: 2,
				Partial: func(g int, r *Result) {
					gens = append(gens, g)
					for _, cf := range r.Counterfactuals.Rows {
						if !cf.Valid {
							t.Errorf("generation %d: an invalid row in the partial result", g)
						}
					}
				},
			}
			res, err := Counterfactuals(context.Background(), &cfCounted{m: m, rows: &rows}, req)
			if err != nil {
				t.Fatal(err)
			}
			if got := m.maxRows.Load(); got > int64(c.pop) {
				t.Errorf("a call of %d rows, Population %d", got, c.pop)
			}
			if int64(res.NumSamples) != rows.Load() || res.NumSamples > CounterfactualMaxRows(req) {
				t.Errorf("NumSamples %d, the model scored %d, the bound is %d", res.NumSamples, rows.Load(), CounterfactualMaxRows(req))
			}
			if g := res.Counterfactuals.Generations; g < 1 || g > c.gens || !slices.Equal(gens, seq(1, g)) {
				t.Errorf("generations %d, partials %v", g, gens)
			}
			t.Logf("%d rows in %d calls, %d counterfactuals", res.NumSamples, m.calls.Load(), len(res.Counterfactuals.Rows))
		})
	}
}

func seq(a, b int) []int {
	var out []int
	for i := a; i <= b; i++ {
		out = append(out, i)
	}
	return out
}

type cfCounted struct {
	m    Model
	rows *atomic.Int64
}

func (c *cfCounted) Predict(ctx context.Context, rows [][]float64) ([][]float64, error) {
	c.rows.Add(int64(len(rows)))
	return c.m.Predict(ctx, rows)
}

// TestCounterfactualCancellation: a context cancelled during a
// generation's call stops the search before its next call.
func TestCounterfactualCancellation(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := &cfModel{f: confLogistic, cancelAt: 3, cancel: cancel}
	_, err := Counterfactuals(ctx, m, CounterfactualRequest{
		Instance: confInstance, Data: confData(50, len(confInstance)), DesiredClass: OtherClass, Seed: 1, Population: 16,
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if n := m.calls.Load(); n != 3 {
		t.Errorf("%d calls, want 3: none after the cancel", n)
	}
}

func TestCounterfactualInstanceValid(t *testing.T) {
	x := []float64{20, 6} // s = 1.8: class 1 already
	res, err := Counterfactuals(context.Background(), &cfModel{f: linear2}, CounterfactualRequest{
		Instance: x, Data: linear2Data(), DesiredClass: 1, Seed: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	rows := res.Counterfactuals.Rows
	if len(rows) != 1 || !slices.Equal(rows[0].Values, x) || len(rows[0].Changes) != 0 || rows[0].Proximity != 0 || !rows[0].Valid {
		t.Errorf("got %+v, want the instance itself, unchanged", rows)
	}
}

func TestCounterfactualRejected(t *testing.T) {
	base := func() CounterfactualRequest {
		return CounterfactualRequest{Instance: []float64{20, 2}, Data: linear2Data(), DesiredClass: 1}
	}
	cases := []struct {
		name   string
		edit   func(r *CounterfactualRequest)
		field  string
		precon bool
	}{
		{"one data row", func(r *CounterfactualRequest) { r.Data = r.Data[:1] }, "data", false},
		{"count", func(r *CounterfactualRequest) { r.Count = MaxCounterfactuals + 1 }, "count", false},
		{"population small", func(r *CounterfactualRequest) { r.Population = MinPopulation - 1 }, "population", false},
		{"population large", func(r *CounterfactualRequest) { r.Population = MaxPopulation + 1 }, "population", false},
		{"generations", func(r *CounterfactualRequest) { r.MaxGenerations = MaxGenerations + 1 }, "max_generations", false},
		{"min probability", func(r *CounterfactualRequest) { r.MinProbability = 1 }, "min_probability", false},
		{"immutable index", func(r *CounterfactualRequest) { r.Immutable = []int{2} }, "immutable_features", false},
		{"all immutable", func(r *CounterfactualRequest) { r.Immutable = []int{0, 1} }, "immutable_features", false},
		{"range index", func(r *CounterfactualRequest) { r.Ranges = []FeatureRange{{Feature: 2}} }, "ranges[0].feature", false},
		{"range min > max", func(r *CounterfactualRequest) { r.Ranges = []FeatureRange{{Feature: 0, Min: 30, Max: 10}} }, "ranges[0]", false},
		{"instance outside range", func(r *CounterfactualRequest) { r.Ranges = []FeatureRange{{Feature: 0, Min: 30, Max: 40}} }, "ranges[0]", false},
		{"ragged data", func(r *CounterfactualRequest) { r.Data = append(r.Data, []float64{1}) }, "data", false},
		{"desired class", func(r *CounterfactualRequest) { r.DesiredClass = 2 }, "desired_class", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := base()
			c.edit(&r)
			_, err := Counterfactuals(context.Background(), &cfModel{f: linear2}, r)
			var re *RequestError
			if !errors.As(err, &re) || re.Field != c.field || re.Precondition != c.precon {
				t.Errorf("err = %v, want a RequestError on %s (precondition %v)", err, c.field, c.precon)
			}
		})
	}
}

// TestCounterfactualNoneFound: a model that never changes its mind gives
// no counterfactual and no error; the shells stop growing before their
// radii overflow (a box of 1e300 in units of 1e-300 has no finite
// diameter), so that every row sent is finite, and the search stops
// early once nothing improves.
func TestCounterfactualNoneFound(t *testing.T) {
	data := make([][]float64, 100)
	for i := range data {
		v := 0.0
		switch {
		case i == 99:
			v = 1e300
		case i >= 40:
			v = float64(i) * 1e-300
		}
		data[i] = []float64{v, float64(i % 7)}
	}
	var nonFinite atomic.Int64
	m := &cfModel{f: func(r []float64) []float64 {
		if !finite(r...) {
			nonFinite.Add(1)
		}
		return []float64{0.9, 0.1}
	}}
	res, err := Counterfactuals(context.Background(), m, CounterfactualRequest{
		Instance: []float64{0, 3}, Data: data, DesiredClass: 1, Population: 8, MaxGenerations: MaxGenerations, Seed: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := nonFinite.Load(); n > 0 {
		t.Errorf("%d non-finite rows reached the model", n)
	}
	if n := len(res.Counterfactuals.Rows); n != 0 {
		t.Errorf("%d counterfactuals from a constant model", n)
	}
	if g := res.Counterfactuals.Generations; g >= MaxGenerations {
		t.Errorf("%d generations: the search did not stop early", g)
	}
	t.Logf("%d generations, %d rows", res.Counterfactuals.Generations, res.NumSamples)
}

// FuzzCounterfactuals: any request, however malformed (non-finite values,
// out-of-range indices, empty ranges, categorical features), is refused
// with a *RequestError or searched without panicking, and every
// counterfactual returned is valid, inside its ranges and keeps the
// immutable features.
func FuzzCounterfactuals(f *testing.F) {
	f.Add([]byte{2, 5, 1, 0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 3, 1, 0, 2})
	f.Add([]byte{3, 3, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 255, 7, 2, 1, 90, 110})
	f.Add([]byte{1, 2, 4, 0, 0, 0, 200, 254, 1, 2, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		next, value := fuzzBytes(data)
		p, n := int(next()%4), int(next()%6)
		req := CounterfactualRequest{Instance: make([]float64, p), Data: make([][]float64, n), Population: 8, MaxGenerations: 4, Seed: 1}
		for j := range req.Instance {
			req.Instance[j] = value()
		}
		for i := range req.Data {
			req.Data[i] = make([]float64, p)
			for j := range req.Data[i] {
				req.Data[i][j] = value()
			}
		}
		flags := next()
		req.DesiredClass = int(next()%4) - 1
		req.Count = int(next() % 4)
		if flags&1 != 0 {
			req.Categorical = []int{int(next()%5) - 1}
		}
		if flags&2 != 0 {
			req.Immutable = []int{int(next()%5) - 1}
		}
		if flags&4 != 0 {
			req.Ranges = []FeatureRange{{Feature: int(next()%5) - 1, Min: value(), Max: value()}}
		}
		if flags&8 != 0 {
			req.MinProbability = value()
		}
		model := func(r []float64) []float64 { return twoClasses(0.3 - r[0]) } // p ≥ 1 once valid
		res, err := Counterfactuals(context.Background(), &cfModel{f: model}, req)
		if err != nil {
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("error %v is not a RequestError", err)
			}
			return
		}
		for k, cf := range res.Counterfactuals.Rows {
			if !cf.Valid || !finite(cf.Values...) {
				t.Errorf("cf %d: valid %v, values %v", k, cf.Valid, cf.Values)
			}
			for _, j := range req.Immutable {
				if cf.Values[j] != req.Instance[j] {
					t.Errorf("cf %d changed immutable feature %d", k, j)
				}
			}
			for _, rg := range req.Ranges {
				if v := cf.Values[rg.Feature]; v < rg.Min || v > rg.Max {
					t.Errorf("cf %d: feature %d = %v outside [%v, %v]", k, rg.Feature, v, rg.Min, rg.Max)
				}
			}
		}
	})
}

// fuzzBytes reads a fuzzer's bytes: next takes the next byte (0 once they
// run out), value the next byte as a number: 255 is NaN, 254 +Inf, any
// other b (b − 100)/16.
func fuzzBytes(data []byte) (next func() byte, value func() float64) {
	next = func() byte {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return b
	}
	value = func() float64 {
		switch b := next(); b {
		case 255:
			return math.NaN()
		case 254:
			return math.Inf(1)
		default:
			return float64(int(b)-100) / 16
		}
	}
	return next, value
}
