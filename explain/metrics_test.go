package explain

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// metricFixture is one of testdata/metrics_{binary,multiclass}_
// classification.json and metrics_regression.json: scikit-learn 1.2.1's
// value of each case's call on the named inputs.
type metricFixture struct {
	Inputs map[string]json.RawMessage `json:"inputs"`
	Cases  []struct {
		Metric string   `json:"metric"`
		Call   string   `json:"sklearn_call"`
		Uses   []string `json:"uses"`
		Value  float64  `json:"value"`
	} `json:"cases"`
}

func loadMetricsFixture(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// probaRows returns rows [1 − p_i, p_i], the form a binary classifier's
// predict_proba has.
func probaRows(p []float64) [][]float64 {
	out := make([][]float64, len(p))
	for i, v := range p {
		out[i] = []float64{1 - v, v}
	}
	return out
}

// oneHotRows returns rows whose argmax is the given class.
func oneHotRows(classes []float64, width int) [][]float64 {
	out := make([][]float64, len(classes))
	for i, c := range classes {
		out[i] = make([]float64, width)
		out[i][int(c)] = 1
	}
	return out
}

// TestScoreFixtures checks Score against every case of the scikit-learn
// metric fixtures to relative 1e-9 (abs 1e-12): the sums run in a
// different order from numpy's pairwise ones, so the last bits may differ,
// and nothing else may.
func TestScoreFixtures(t *testing.T) {
	tol := &tolerance{rel: 1e-9, abs: 1e-12}
	for _, file := range []string{"binary_classification", "multiclass_classification", "regression"} {
		var fx metricFixture
		loadMetricsFixture(t, "testdata/metrics_"+file+".json", &fx)
		floats := func(name string) []float64 {
			var v []float64
			if err := json.Unmarshal(fx.Inputs[name], &v); err != nil {
				t.Fatalf("%s: input %s: %v", file, name, err)
			}
			return v
		}
		yTrue := floats("y_true")
		width := 2
		if file == "multiclass_classification" {
			width = 3
		}
		for _, c := range fx.Cases {
			var weights []float64
			if slices.Contains(c.Uses, "sample_weight") {
				weights = floats("sample_weight")
			}
			pred := c.Uses[1] // the prediction the call scores
			var (
				scoring Scoring
				scores  [][]float64
				want    = c.Value
			)
			switch c.Metric {
			case "accuracy_score", "balanced_accuracy_score":
				scoring = ScoreAccuracy
				if c.Metric == "balanced_accuracy_score" {
					scoring = ScoreBalancedAccuracy
				}
				scores = oneHotRows(floats(pred), width)
			case "log_loss":
				scoring, want = ScoreNegLogLoss, -c.Value
				if pred == "proba" {
					if err := json.Unmarshal(fx.Inputs["proba"], &scores); err != nil {
						t.Fatal(err)
					}
				} else {
					scores = probaRows(floats(pred))
				}
			case "roc_auc_score":
				scoring, scores = ScoreROCAUC, probaRows(floats(pred))
			case "mean_squared_error", "r2_score":
				scoring, want = ScoreNegMSE, -c.Value
				if c.Metric == "r2_score" {
					scoring, want = ScoreR2, c.Value
				}
				for _, v := range floats(pred) {
					scores = append(scores, []float64{v})
				}
			default:
				t.Fatalf("%s: unknown metric %s", file, c.Metric)
			}
			got, err := Score(scoring, scores, yTrue, weights, 0)
			if err != nil {
				t.Errorf("%s: %s: %v", file, c.Call, err)
				continue
			}
			tol.check(t, file+": "+c.Call, got, want)
		}
	}
	if tol.checked != 24 {
		t.Errorf("checked %d cases, the fixtures hold 24", tol.checked)
	}
	t.Logf("%d metric cases: worst relative error %.3g", tol.checked, tol.worstRel)
}

// TestScoreClosedForms checks each score on inputs small enough to work
// out by hand.
func TestScoreClosedForms(t *testing.T) {
	const eps = 0x1p-52
	for _, c := range []struct {
		name    string
		scoring Scoring
		scores  [][]float64
		target  []float64
		weights []float64
		output  int
		want    float64
		rel     float64 // 0: exact
	}{
		{"accuracy", ScoreAccuracy, [][]float64{{0.9, 0.1}, {0.2, 0.8}, {0.6, 0.4}, {0.3, 0.7}}, []float64{0, 1, 1, 1}, nil, 0, 0.75, 0},
		{"accuracy weighted", ScoreAccuracy, [][]float64{{0.9, 0.1}, {0.2, 0.8}, {0.6, 0.4}, {0.3, 0.7}}, []float64{0, 1, 1, 1}, []float64{1, 1, 2, 0}, 0, 0.5, 0},
		// numpy's argmax takes the first of tied scores: class 0 here.
		{"accuracy ties go to the lower class", ScoreAccuracy, [][]float64{{0.5, 0.5}, {0.5, 0.5}}, []float64{0, 1}, nil, 0, 0.5, 0},
		{"accuracy zero weight ignored", ScoreAccuracy, [][]float64{{1, 0}, {1, 0}}, []float64{0, 1}, []float64{3, 0}, 0, 1, 0},
		// Recalls 1/2 (class 0) and 1 (class 1); class 2 is predicted but
		// never a target, so it does not count.
		{"balanced accuracy", ScoreBalancedAccuracy, [][]float64{{1, 0, 0}, {0, 0, 1}, {0, 1, 0}}, []float64{0, 0, 1}, nil, 0, 0.75, 0},
		// A class whose targets all weigh 0 does not count either.
		{"balanced accuracy zero-weight class", ScoreBalancedAccuracy, [][]float64{{1, 0, 0}, {0, 1, 0}, {1, 0, 0}}, []float64{0, 1, 2}, []float64{1, 2, 0}, 0, 1, 0},
		{"log loss binary", ScoreNegLogLoss, [][]float64{{0.25, 0.75}, {0.5, 0.5}}, []float64{1, 0}, nil, 0, (math.Log(0.75) + math.Log(0.5)) / 2, 1e-15},
		// Two columns: only column 1 is read, as the neg_log_loss scorer
		// passes it, so column 0 does not matter.
		{"log loss reads column 1", ScoreNegLogLoss, [][]float64{{7, 0.75}}, []float64{0}, nil, 0, math.Log(0.25), 1e-15},
		// Three columns: every score clipped to [eps, 1 − eps], the row
		// renormalised.
		{"log loss renormalises", ScoreNegLogLoss, [][]float64{{0.4, 0.2, 0.2}}, []float64{0}, nil, 0, math.Log(0.5), 1e-15},
		{"log loss clips", ScoreNegLogLoss, [][]float64{{0, 1, 0}}, []float64{0}, nil, 0, math.Log(eps / (1 - eps + 2*eps)), 1e-15},
		{"log loss weighted", ScoreNegLogLoss, [][]float64{{0.25, 0.75}, {0.5, 0.5}}, []float64{1, 0}, []float64{3, 1}, 0, (3*math.Log(0.75) + math.Log(0.5)) / 4, 1e-15},
		{"roc auc perfect", ScoreROCAUC, probaRows([]float64{0.1, 0.2, 0.8, 0.9}), []float64{0, 0, 1, 1}, nil, 0, 1, 0},
		{"roc auc reversed", ScoreROCAUC, probaRows([]float64{0.9, 0.8, 0.2, 0.1}), []float64{0, 0, 1, 1}, nil, 0, 0, 0},
		{"roc auc all tied", ScoreROCAUC, probaRows([]float64{0.5, 0.5, 0.5, 0.5}), []float64{0, 1, 0, 1}, nil, 0, 0.5, 0},
		// Pairs (pos, neg): (0.6, 0.4) wins, (0.6, 0.6) ties, (0.3, 0.4)
		// and (0.3, 0.6) lose: (1 + ½)/4.
		{"roc auc ties count half", ScoreROCAUC, probaRows([]float64{0.6, 0.3, 0.4, 0.6}), []float64{1, 1, 0, 0}, nil, 0, 0.375, 0},
		{"roc auc weighted", ScoreROCAUC, probaRows([]float64{0.6, 0.3, 0.4, 0.6}), []float64{1, 1, 0, 0}, []float64{3, 1, 1, 1}, 0, (3*1 + 3*0.5) / 8, 0},
		{"neg mse", ScoreNegMSE, [][]float64{{9, 1}, {9, 4}, {9, 2}}, []float64{1, 2, 3}, nil, 1, -(0 + 4 + 1) / 3.0, 1e-15},
		{"neg mse weighted", ScoreNegMSE, [][]float64{{1}, {4}, {2}}, []float64{1, 2, 3}, []float64{1, 1, 2}, 0, -(0 + 4 + 2) / 4.0, 1e-15},
		// ȳ = 2, Σ(y − ȳ)² = 2, Σ(y − ŷ)² = 5.
		{"r2", ScoreR2, [][]float64{{1}, {4}, {2}}, []float64{1, 2, 3}, nil, 0, 1 - 5/2.0, 1e-15},
		// ȳ = 9/4, Σw(y − ȳ)² = 25/16 + 1/16 + 2·9/16 = 44/16, Σw(y − ŷ)² = 6.
		{"r2 weighted", ScoreR2, [][]float64{{1}, {4}, {2}}, []float64{1, 2, 3}, []float64{1, 1, 2}, 0, 1 - 6/(44/16.0), 1e-15},
		{"r2 constant target, perfect", ScoreR2, [][]float64{{2}, {2}}, []float64{2, 2}, nil, 0, 1, 0},
		{"r2 constant target, not perfect", ScoreR2, [][]float64{{2}, {3}}, []float64{2, 2}, nil, 0, 0, 0},
	} {
		scores := permCopyRows(c.scores)
		target := slices.Clone(c.target)
		weights := slices.Clone(c.weights)
		got, err := Score(c.scoring, c.scores, c.target, c.weights, c.output)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !near(got, c.want, c.rel, 0) {
			t.Errorf("%s: got %.17g, want %.17g", c.name, got, c.want)
		}
		if !reflect.DeepEqual(scores, c.scores) || !reflect.DeepEqual(target, c.target) || !reflect.DeepEqual(weights, c.weights) {
			t.Errorf("%s: Score modified its inputs", c.name)
		}
	}
}

func permCopyRows(rows [][]float64) [][]float64 {
	out := make([][]float64, len(rows))
	for i, r := range rows {
		out[i] = slices.Clone(r)
	}
	return out
}

// TestROCAUCMatchesPairCount compares the sorted walk with the definition,
// a weighted count over all (positive, negative) pairs, on random data
// with many ties. Both sum the same products in different orders, hence
// relative 1e-12.
func TestROCAUCMatchesPairCount(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for trial := range 50 {
		n := 2 + rng.IntN(60)
		p1 := make([]float64, n)
		y := make([]float64, n)
		w := make([]float64, n)
		for i := range p1 {
			p1[i] = float64(rng.IntN(5)) / 4 // many ties
			y[i] = float64(rng.IntN(2))
			w[i] = rng.Float64() * 2
		}
		y[0], y[1] = 0, 1
		var num, pos, neg float64
		for i := range n {
			if y[i] == 1 {
				pos += w[i]
			} else {
				neg += w[i]
			}
			for k := range n {
				if y[i] != 1 || y[k] != 0 {
					continue
				}
				switch {
				case p1[i] > p1[k]:
					num += w[i] * w[k]
				case p1[i] == p1[k]:
					num += w[i] * w[k] / 2
				}
			}
		}
		got, err := Score(ScoreROCAUC, probaRows(p1), y, w, 0)
		if err != nil {
			t.Fatal(err)
		}
		if want := num / (pos * neg); !near(got, want, 1e-12, 0) {
			t.Errorf("trial %d: AUC %.17g, pair count %.17g", trial, got, want)
		}
	}
}

func TestParseScoring(t *testing.T) {
	for s := range Scoring(len(scoringNames)) {
		got, err := ParseScoring(s.String())
		if err != nil || got != s {
			t.Errorf("ParseScoring(%q) = %v, %v; want %v", s.String(), got, err, s)
		}
	}
	var re *RequestError
	if _, err := ParseScoring("f1"); !errors.As(err, &re) || re.Field != "scoring" {
		t.Errorf("ParseScoring(f1): %v, want a RequestError on scoring", err)
	}
	if got := Scoring(17).String(); got != "Scoring(17)" {
		t.Errorf("String of an unknown Scoring = %q", got)
	}
}

// TestScoreErrors: what the caller got wrong is a RequestError naming the
// argument (and no value); what valid arguments cannot get from the
// outputs (too few columns) is a RequestError with Precondition; outputs
// that are broken (ragged, non-finite) give another error.
func TestScoreErrors(t *testing.T) {
	ok := [][]float64{{0.3, 0.7}, {0.6, 0.4}}
	for _, c := range []struct {
		name    string
		scoring Scoring
		scores  [][]float64
		target  []float64
		weights []float64
		output  int
		field   string // RequestError's field; "" for a model-output error
		msg     string // in the message
		pre     bool   // RequestError.Precondition
	}{
		{"unknown scoring", Scoring(9), ok, []float64{0, 1}, nil, 0, "scoring", "unknown", false},
		{"no targets", ScoreAccuracy, nil, nil, nil, 0, "target", "empty", false},
		{"rows and targets differ", ScoreAccuracy, ok, []float64{0, 1, 1}, nil, 0, "scores", "2 rows for 3 targets", false},
		{"weights length", ScoreAccuracy, ok, []float64{0, 1}, []float64{1}, 0, "weights", "1 weights for 2", false},
		{"negative weight", ScoreAccuracy, ok, []float64{0, 1}, []float64{1, -1}, 0, "weights[1]", "not negative", false},
		{"NaN weight", ScoreAccuracy, ok, []float64{0, 1}, []float64{math.NaN(), 1}, 0, "weights[0]", "finite", false},
		{"zero weight sum", ScoreAccuracy, ok, []float64{0, 1}, []float64{0, 0}, 0, "weights", "positive", false},
		{"NaN target", ScoreNegMSE, ok, []float64{0, math.NaN()}, nil, 0, "target[1]", "non-finite", false},
		{"fractional class", ScoreAccuracy, ok, []float64{0, 0.5}, nil, 0, "target[1]", "class index", false},
		{"negative class", ScoreNegLogLoss, ok, []float64{-1, 0}, nil, 0, "target[0]", "class index", false},
		{"roc auc class 2", ScoreROCAUC, ok, []float64{0, 2}, nil, 0, "target[1]", "binary", false},
		{"roc auc one class", ScoreROCAUC, ok, []float64{1, 1}, nil, 0, "target", "both classes", false},
		{"roc auc weightless class", ScoreROCAUC, ok, []float64{0, 1}, []float64{0, 1}, 0, "target", "both classes", false},
		{"negative output", ScoreR2, ok, []float64{0, 1}, nil, -1, "output", "negative", false},
		{"ragged scores", ScoreAccuracy, [][]float64{{1, 0}, {1}}, []float64{0, 1}, nil, 0, "", "1 scores in row 1", false},
		{"NaN score", ScoreAccuracy, [][]float64{{1, 0}, {math.NaN(), 0}}, []float64{0, 1}, nil, 0, "", "non-finite score in row 1", false},
		{"no scores", ScoreAccuracy, [][]float64{{}, {}}, []float64{0, 1}, nil, 0, "", "no scores", false},
		{"too few classes", ScoreAccuracy, ok, []float64{0, 2}, nil, 0, "target", "3 classes, more than the 2 class scores", true},
		{"log loss one column", ScoreNegLogLoss, [][]float64{{1}, {1}}, []float64{0, 0}, nil, 0, "scoring", "at least 2", true},
		{"accuracy one column", ScoreAccuracy, [][]float64{{1}, {1}}, []float64{0, 0}, nil, 0, "scoring", "at least 2", true},
		{"output out of range", ScoreNegMSE, ok, []float64{0, 1}, nil, 2, "output", "2 is out of range", true},
	} {
		_, err := Score(c.scoring, c.scores, c.target, c.weights, c.output)
		var re *RequestError
		switch {
		case err == nil:
			t.Errorf("%s: no error", c.name)
		case c.field != "" && (!errors.As(err, &re) || re.Field != c.field):
			t.Errorf("%s: %v, want a RequestError on %s", c.name, err, c.field)
		case c.field == "" && errors.As(err, &re):
			t.Errorf("%s: %v is a RequestError; the model's output is at fault", c.name, err)
		case c.field != "" && re.Precondition != c.pre:
			t.Errorf("%s: Precondition %v, want %v", c.name, re.Precondition, c.pre)
		case !strings.Contains(err.Error(), c.msg):
			t.Errorf("%s: %q does not say %q", c.name, err, c.msg)
		}
	}
}

// TestSortDescending checks the radix sort against a comparison sort on
// scores with ties, signed zeros, negatives, tiny and huge values.
func TestSortDescending(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	special := []float64{0, math.Copysign(0, -1), 1, -1, 0.5, 1e-310, -1e-310, math.MaxFloat64, -math.MaxFloat64, 1e300}
	for _, n := range []int{0, 1, 2, 7, 300, 5000} {
		pts := make([]rocPoint, n)
		for i := range pts {
			switch rng.IntN(3) {
			case 0:
				pts[i].s = special[rng.IntN(len(special))]
			case 1:
				pts[i].s = float64(rng.IntN(10)) / 8
			default:
				pts[i].s = rng.NormFloat64() * math.Pow(10, float64(rng.IntN(20)-10))
			}
			pts[i].w = float64(i)
		}
		want := slices.Clone(pts)
		slices.SortStableFunc(want, func(a, b rocPoint) int {
			switch {
			case a.s > b.s:
				return -1
			case a.s < b.s:
				return 1
			}
			return 0
		})
		got := sortDescending(pts, make([]rocPoint, n))
		for i := range want {
			// Equal scores may come in another order only when they are
			// the two zeros.
			if got[i].s != want[i].s || (got[i].w != want[i].w && got[i].s != 0) {
				t.Fatalf("n=%d: position %d holds %v (row %v), want %v (row %v)", n, i, got[i].s, got[i].w, want[i].s, want[i].w)
			}
		}
	}
}
