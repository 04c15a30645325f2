package explain

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/explainer-sidecar/explainer/sampler"
)

// TestKLBoundsClosedForms checks the KL bounds against their closed forms:
// KL(0‖q) = −log(1 − q), so the upper bound of p = 0 at level l is
// 1 − e^−l; KL(1‖q) = −log q, so the lower bound of p = 1 is e^−l. p is
// clipped to 1e−7 (and 1 − 2⁻⁵³) as alibi clips it, and 16 bisections of
// an interval of width √(l/2) leave √(l/2)/2¹⁶: the tolerance is 1e−5.
func TestKLBoundsClosedForms(t *testing.T) {
	for _, l := range []float64{0.01, 0.1, 0.5, 1} {
		if got, want := KLUpperBound(0, l), 1-math.Exp(-l); math.Abs(got-want) > 1e-5 {
			t.Errorf("KLUpperBound(0, %g) = %.7f, want %.7f", l, got, want)
		}
		if got, want := KLLowerBound(1, l), math.Exp(-l); math.Abs(got-want) > 1e-5 {
			t.Errorf("KLLowerBound(1, %g) = %.7f, want %.7f", l, got, want)
		}
	}
	// Elsewhere: the bound is where KL(p‖q) crosses the level, to the
	// bisection's width.
	for _, p := range []float64{0.1, 0.5, 0.9, 0.97} {
		for _, l := range []float64{0.001, 0.05, 0.3} {
			ub, lb := KLUpperBound(p, l), KLLowerBound(p, l)
			w := math.Sqrt(l/2) / (1 << 15)
			if !(ub >= p && lb <= p) {
				t.Fatalf("p=%g l=%g: bounds [%g, %g] do not hold p", p, l, lb, ub)
			}
			if ub < 1-w && !(klBernoulli(p, ub-w) <= l && klBernoulli(p, ub+w) > l) {
				t.Errorf("p=%g l=%g: KL at ub±w = %g, %g; level %g", p, l, klBernoulli(p, ub-w), klBernoulli(p, ub+w), l)
			}
			if lb > w && !(klBernoulli(p, lb+w) <= l && klBernoulli(p, lb-w) > l) {
				t.Errorf("p=%g l=%g: KL at lb±w = %g, %g; level %g", p, l, klBernoulli(p, lb+w), klBernoulli(p, lb-w), l)
			}
		}
	}
}

// TestCriticalArmsBeta checks alibi's β(t) through the bound it gives: one
// arm in and one out, each with 100 samples of mean 0.5; the upper bound
// of the out arm is KLUpperBound(0.5, β/100) with β = log(405.5·2·t^1.1/δ)
// + log log(...).
func TestCriticalArmsBeta(t *testing.T) {
	means, n := []float64{0.4, 0.6}, []int{100, 100}
	ut, lt := CriticalArms(means, n, []int{0, 1}, 1, 3, 0.1)
	temp := math.Log(405.5 * 2 * math.Pow(3, 1.1) / 0.1)
	beta := temp + math.Log(temp)
	if ut.arm != 0 || lt.arm != 1 {
		t.Fatalf("critical arms (%d, %d), want (0, 1)", ut.arm, lt.arm)
	}
	if ut.bound != KLUpperBound(0.4, beta/100) || lt.bound != KLLowerBound(0.6, beta/100) {
		t.Errorf("bounds %g, %g; want %g, %g", ut.bound, lt.bound, KLUpperBound(0.4, beta/100), KLLowerBound(0.6, beta/100))
	}
}

// bernoulliArms is a domain whose predicate j alone is an arm: a sample of
// rule {j} is put in the label with probability means[j].
type bernoulliArms struct {
	means []float64
	calls *atomic.Int64 // Predict calls, when not nil
}

type armSample struct {
	arm int
	u   float64
}

func (b bernoulliArms) predicates() int     { return len(b.means) }
func (b bernoulliArms) instance() armSample { return armSample{arm: -1} }
func (b bernoulliArms) sample(rng *rand.Rand, anchor []int, n int) []armSample {
	out := make([]armSample, n)
	for i := range out {
		out[i] = armSample{arm: -2, u: rng.Float64()}
		if len(anchor) > 0 {
			out[i].arm = anchor[len(anchor)-1]
		}
	}
	return out
}
func (b bernoulliArms) bits(dst []uint64, s armSample) {
	if s.arm >= 0 {
		dst[s.arm/64] |= 1 << (s.arm % 64)
	}
}
func (b bernoulliArms) predict(_ context.Context, s []armSample) ([][]float64, error) {
	if b.calls != nil {
		b.calls.Add(1)
	}
	out := make([][]float64, len(s))
	for i, x := range s {
		switch {
		case x.arm == -1 || (x.arm >= 0 && x.u < b.means[x.arm]):
			out[i] = []float64{1, 0}
		default:
			out[i] = []float64{0, 1}
		}
	}
	return out, nil
}
func (b bernoulliArms) example(armSample) AnchorExample { return AnchorExample{} }
func (b bernoulliArms) describe(j int) AnchorPredicate  { return AnchorPredicate{Index: j} }
func (b bernoulliArms) size() int                       { return 1 }
func (b bernoulliArms) inherits() bool                  { return false }
func newArmSearch(b bernoulliArms, cfg AnchorConfig) *anchorSearch[armSample] {
	cfg = cfg.resolve()
	return &anchorSearch[armSample]{dom: b, cfg: cfg, words: 1, rng: rand.New(rand.NewPCG(cfg.Seed, 1)),
		budget: MaxAnchorSamples, callValues: MaxBatchValues, cands: map[string]*anchorCandidate[armSample]{}}
}

// TestAnchorStepCalls: a step's samples for every candidate go to the
// model in one call, or in calls of at most callValues values, in turn;
// the budget caps what is drawn.
func TestAnchorStepCalls(t *testing.T) {
	for _, tc := range []struct {
		name               string
		callValues, budget int
		calls, scored      int
		exhausted          bool
	}{
		{"one call", MaxBatchValues, MaxAnchorSamples, 1, 121, false},
		{"calls of 50", 50, MaxAnchorSamples, 3, 121, false},
		{"budget", MaxBatchValues, 100, 1, 100, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int64
			s := newArmSearch(bernoulliArms{means: []float64{0.5, 0.9, 0.1}, calls: &calls}, AnchorConfig{Seed: 1})
			s.callValues, s.budget = tc.callValues, tc.budget
			a, b, c := &anchorCandidate[armSample]{preds: []int{0}}, &anchorCandidate[armSample]{preds: []int{1}}, &anchorCandidate[armSample]{preds: []int{2}}
			if err := s.drawAndScore(context.Background(), []anchorDraw[armSample]{{a, 40}, {b, 40}, {c, 40}}, true); err != nil {
				t.Fatal(err)
			}
			if int(calls.Load()) != tc.calls || s.scored != tc.scored || s.exhausted != tc.exhausted {
				t.Errorf("%d calls, %d scored, exhausted %v; want %d, %d, %v", calls.Load(), s.scored, s.exhausted, tc.calls, tc.scored, tc.exhausted)
			}
			if tc.budget == MaxAnchorSamples && (a.n() != 40 || b.n() != 40 || c.n() != 40 || s.label != 0) {
				t.Errorf("candidates hold %d, %d, %d samples, label %d", a.n(), b.n(), c.n(), s.label)
			}
		})
	}
}

// TestKLLUCBPicksBestArms: on Bernoulli arms of known means, KL-LUCB keeps
// the top arms, for every seed tried.
func TestKLLUCBPicksBestArms(t *testing.T) {
	tests := []struct {
		name  string
		means []float64
		top   int
		want  []int // the arms kept, by increasing mean
	}{
		{"one of five", []float64{0.5, 0.7, 0.95, 0.6, 0.3}, 1, []int{2}},
		{"two of six", []float64{0.2, 0.9, 0.5, 0.8, 0.45, 0.1}, 2, []int{3, 1}},
		{"close pair", []float64{0.9, 0.6, 0.7}, 1, []int{0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for seed := range uint64(20) {
				s := newArmSearch(bernoulliArms{means: tc.means}, AnchorConfig{Seed: seed, Epsilon: 0.05, BatchSize: 20})
				var cands []*anchorCandidate[armSample]
				for j := range tc.means {
					cands = append(cands, &anchorCandidate[armSample]{preds: []int{j}})
				}
				if err := s.drawAndScore(context.Background(), []anchorDraw[armSample]{{cands[0], 0}}, true); err != nil {
					t.Fatal(err)
				}
				got, err := s.klLUCB(context.Background(), cands, tc.top)
				if err != nil {
					t.Fatal(err)
				}
				var arms []int
				for _, c := range got {
					arms = append(arms, c.preds[0])
				}
				if !slices.Equal(arms, tc.want) {
					t.Errorf("seed %d: kept %v, want %v", seed, arms, tc.want)
				}
			}
		})
	}
}

// anchorModels are the example models exported by
// testdata/anchors_models.py.
type anchorModels struct {
	BreastCancer struct {
		FeatureNames []string    `json:"feature_names"`
		Mean         []float64   `json:"mean"`
		Scale        []float64   `json:"scale"`
		Coef         []float64   `json:"coef"`
		Intercept    float64     `json:"intercept"`
		CheckRows    [][]float64 `json:"check_rows"`
		CheckProba   []float64   `json:"check_proba"`
	} `json:"breast_cancer"`
	Sentiment struct {
		Coef       map[string]float64 `json:"coef"`
		Intercept  float64            `json:"intercept"`
		Texts      []string           `json:"texts"`
		CheckProba []float64          `json:"check_proba"`
	} `json:"sentiment"`
}

func loadAnchorModels(t *testing.T) *anchorModels {
	t.Helper()
	b, err := os.ReadFile("testdata/anchors_models.json")
	if err != nil {
		t.Fatal(err)
	}
	var m anchorModels
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return &m
}

func (m *anchorModels) cancer(row []float64) float64 {
	bc := m.BreastCancer
	s := bc.Intercept
	for j, v := range row {
		s += bc.Coef[j] * (v - bc.Mean[j]) / bc.Scale[j]
	}
	return 1 / (1 + math.Exp(-s))
}

var sentimentWord = regexp.MustCompile(`\p{L}+`)

func (m *anchorModels) sentiment(text string) float64 {
	s := m.Sentiment.Intercept
	for _, w := range sentimentWord.FindAllString(strings.ToLower(text), -1) {
		s += m.Sentiment.Coef[w]
	}
	return 1 / (1 + math.Exp(-s))
}

// countingRows and countingTexts count Predict calls.
type countingRows struct {
	calls *atomic.Int64
	f     func([]float64) float64
}

func (c countingRows) Predict(_ context.Context, rows [][]float64) ([][]float64, error) {
	c.calls.Add(1)
	out := make([][]float64, len(rows))
	for i, r := range rows {
		p := c.f(r)
		out[i] = []float64{1 - p, p}
	}
	return out, nil
}

type countingTexts struct {
	calls *atomic.Int64
	f     func(string) float64
}

func (c countingTexts) PredictText(_ context.Context, texts []string) ([][]float64, error) {
	c.calls.Add(1)
	out := make([][]float64, len(texts))
	for i, s := range texts {
		p := c.f(s)
		out[i] = []float64{1 - p, p}
	}
	return out, nil
}

func readBreastCancer(t *testing.T) [][]float64 {
	t.Helper()
	b, err := os.ReadFile("../testdata/breast_cancer.csv")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")[1:]
	rows := make([][]float64, len(lines))
	for i, l := range lines {
		var row []float64
		for _, f := range strings.Split(l, ",") {
			var v float64
			if err := json.Unmarshal([]byte(f), &v); err != nil {
				t.Fatal(err)
			}
			row = append(row, v)
		}
		rows[i] = row[:len(row)-1] // the last column is the target
	}
	return rows
}

// freshPrecision draws n new samples of the rule preds from dom with
// another seed and returns the share the model puts in label.
func freshPrecision[S any](t *testing.T, dom anchorDomain[S], preds []int, label int, seed uint64, n int) float64 {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 99))
	scores, err := dom.predict(context.Background(), dom.sample(rng, preds, n))
	if err != nil {
		t.Fatal(err)
	}
	hit := 0
	for _, s := range scores {
		if argmax(s) == label {
			hit++
		}
	}
	return float64(hit) / float64(n)
}

// TestAnchorsTabularPrecision is issue 16's check on the breast-cancer
// logistic regression (examples/python/sklearn_server.py's model, exported
// by testdata/anchors_models.py): for 50 instances (every 11th row), the
// anchor's precision on 1000 fresh samples, drawn from the same
// conditional sampler with another seed, reaches the threshold (0.95) for
// at least 95% of them. The test logs the model calls and samples it took.
func TestAnchorsTabularPrecision(t *testing.T) {
	if testing.Short() {
		t.Skip("50 anchor searches")
	}
	m := loadAnchorModels(t)
	for i, row := range m.BreastCancer.CheckRows {
		if got := m.cancer(row); math.Abs(got-m.BreastCancer.CheckProba[i]) > 1e-9 {
			t.Fatalf("exported model gives %.12f for row %d, scikit-learn %.12f", got, i, m.BreastCancer.CheckProba[i])
		}
	}
	data := readBreastCancer(t)
	var calls atomic.Int64
	model := countingRows{&calls, m.cancer}
	checkFreshPrecision(t, "breast cancer", &calls, func(k int) (*Result, float64) {
		req := AnchorTabularRequest{Instance: data[k*11], FeatureNames: m.BreastCancer.FeatureNames, Training: data,
			AnchorConfig: AnchorConfig{Seed: uint64(k)}}
		res, err := AnchorsTabular(context.Background(), model, req)
		if err != nil {
			t.Fatal(err)
		}
		dom, err := newAnchorTabular(model, req)
		if err != nil {
			t.Fatal(err)
		}
		var preds []int
		for _, p := range res.Labels[0].Anchor.Predicates {
			preds = append(preds, p.Index)
		}
		return res, freshPrecision[[]float64](t, dom, preds, res.Labels[0].Label, uint64(k)+1000, 1000)
	})
}

// checkFreshPrecision runs 50 anchor searches (trial k returns the
// result and the anchor's precision on 1000 fresh samples), logs what they
// cost and found, and fails unless at least 48 (95%) reach 0.95.
func checkFreshPrecision(t *testing.T, model string, calls *atomic.Int64, trial func(k int) (*Result, float64)) {
	t.Helper()
	const instances = 50
	ok, met, samples, size := 0, 0, 0, 0
	var covSum float64
	for k := range instances {
		res, fresh := trial(k)
		a := res.Labels[0].Anchor
		if fresh >= 0.95 {
			ok++
		} else {
			t.Logf("instance %d: fresh precision %.3f (search %.3f, met %v) of %d predicates", k, fresh, a.Precision, a.ThresholdMet, len(a.Predicates))
		}
		if a.ThresholdMet {
			met++
		}
		samples += res.NumSamples
		size += len(a.Predicates)
		covSum += a.Coverage
	}
	t.Logf("%s: %d/%d anchors with fresh precision >= 0.95, %d met the threshold; mean %.1f predicates, mean coverage %.3f; %.1f model calls and %.0f samples per instance",
		model, ok, instances, met, float64(size)/instances, covSum/instances, float64(calls.Load())/instances, float64(samples)/instances)
	if ok < 48 {
		t.Errorf("%d of %d anchors reach precision 0.95 on fresh samples, want at least 48 (95%%)", ok, instances)
	}
}

// TestAnchorsTextPrecision is the same check on the example sentiment
// model (examples/python/http_server.py's CountVectorizer and logistic
// regression, exported by testdata/anchors_models.py), over 50 sentences
// of its corpus (every 4th).
func TestAnchorsTextPrecision(t *testing.T) {
	if testing.Short() {
		t.Skip("50 anchor searches")
	}
	m := loadAnchorModels(t)
	for i, s := range m.Sentiment.Texts[:5] {
		if got := m.sentiment(s); math.Abs(got-m.Sentiment.CheckProba[i]) > 1e-9 {
			t.Fatalf("exported model gives %.12f for text %d, scikit-learn %.12f", got, i, m.Sentiment.CheckProba[i])
		}
	}
	var calls atomic.Int64
	model := countingTexts{&calls, m.sentiment}
	checkFreshPrecision(t, "sentiment", &calls, func(k int) (*Result, float64) {
		text := m.Sentiment.Texts[(k*4)%len(m.Sentiment.Texts)]
		res, tf, err := AnchorsText(context.Background(), model, AnchorTextRequest{Text: text, AnchorConfig: AnchorConfig{Seed: uint64(k)}})
		if err != nil {
			t.Fatal(err)
		}
		dom := &anchorText{m: model, mask: DefaultAnchorMaskString, prob: DefaultAnchorSampleProb}
		if dom.dom, err = textDomain(text, "", false); err != nil {
			t.Fatal(err)
		}
		var preds []int
		for _, p := range res.Labels[0].Anchor.Predicates {
			j := slices.IndexFunc(tf.Features, func(f TextFeature) bool { return f.Word == p.Description })
			if j < 0 || tf.Features[j].Offsets[0][0] != p.Spans[0][0] {
				t.Fatalf("predicate %+v is no word of %q", p, text)
			}
			preds = append(preds, j)
		}
		return res, freshPrecision[anchorTextSample](t, dom, preds, res.Labels[0].Label, uint64(k)+1000, 1000)
	})
}

// TestAnchorsTabularDescriptions: the predicates read as lime's quartile
// bins, with the quartiles of the training column (numpy's linear
// percentiles of 1..8 are 2.75, 4.5 and 6.25), and categories by name.
func TestAnchorsTabularDescriptions(t *testing.T) {
	var train [][]float64
	for i := range 8 {
		train = append(train, []float64{float64(i + 1), float64(i % 3), float64(10 - i)})
	}
	d, err := newAnchorTabular(nil, AnchorTabularRequest{
		Instance: []float64{5, 2, 1}, FeatureNames: []string{"size", "colour", "age"}, Training: train,
		Categorical: []int{1}, CategoryNames: map[int][]string{1: {"red", "green", "blue"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"4.50 < size <= 6.25", "colour=blue", "age <= 4.75"}
	for j, w := range want {
		if got := d.describe(j); got.Description != w || got.Index != j {
			t.Errorf("predicate %d = %+v, want %q", j, got, w)
		}
	}
	// same is the discretizer's bin test, boundaries included.
	for _, v := range []float64{-1, 1, 2.75, 3, 4.5, 4.6, 5, 6.25, 6.3, 9} {
		if got, want := d.same(0, v), d.disc.Bin(0, v) == d.disc.Bin(0, 5); got != want {
			t.Errorf("same(size, %v) = %v, the discretizer says %v", v, got, want)
		}
	}
	// Samples of a rule hold it; the bits say which predicates hold.
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range d.sample(rng, []int{0, 1}, 200) {
		b := make([]uint64, 1)
		d.bits(b, s)
		if b[0]&3 != 3 {
			t.Fatalf("sample %v of rule {size, colour} has bits %b", s, b[0])
		}
	}
}

// TestAnchorsTabularFallback: when no training row matches the whole rule,
// the samples still satisfy it (alibi's fallback): here size's bin and
// colour blue never occur together.
func TestAnchorsTabularFallback(t *testing.T) {
	train := [][]float64{{1, 0}, {2, 0}, {3, 1}, {4, 1}, {5, 0}, {6, 2}, {7, 0}, {8, 0}}
	d, err := newAnchorTabular(nil, AnchorTabularRequest{Instance: []float64{3, 2}, Training: train, Categorical: []int{1}})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(d.rows([]int{0, 1})); n != 0 {
		t.Fatalf("%d rows match the whole rule, want 0", n)
	}
	for _, s := range d.sample(rand.New(rand.NewPCG(3, 4)), []int{0, 1}, 100) {
		if !d.same(0, s[0]) || s[1] != 2 {
			t.Fatalf("sample %v does not satisfy the rule", s)
		}
	}
}

// TestAnchorsTextSpans: a word predicate carries every occurrence's byte
// offsets and its first token's index; samples keep the rule's words and
// mask others with "UNK".
func TestAnchorsTextSpans(t *testing.T) {
	var calls atomic.Int64
	// Positive exactly when "good" is present.
	model := countingTexts{&calls, func(s string) float64 {
		if strings.Contains(s, "good") {
			return 0.9
		}
		return 0.2
	}}
	text := "a good film, a good cast and a long plot"
	res, tf, err := AnchorsText(context.Background(), model, AnchorTextRequest{Text: text, AnchorConfig: AnchorConfig{Seed: 3}})
	if err != nil {
		t.Fatal(err)
	}
	a := res.Labels[0].Anchor
	if len(a.Predicates) != 1 || a.Predicates[0].Description != "good" || !a.ThresholdMet || a.Precision != 1 {
		t.Fatalf("anchor %+v, want {good} with precision 1", a)
	}
	p := a.Predicates[0]
	if want := [][2]int{{2, 6}, {15, 19}}; !reflect.DeepEqual(p.Spans, want) || p.Index != 1 {
		t.Errorf("spans %v index %d, want %v and token 1", p.Spans, p.Index, want)
	}
	// About half the samples hide each word: coverage of "good" ≈ 0.5.
	if math.Abs(a.Coverage-0.5) > 0.03 {
		t.Errorf("coverage %.3f, want 0.5 ± 0.03 (10000 samples)", a.Coverage)
	}
	for _, e := range a.CoveredTrue {
		if !strings.Contains(e.Text, "good") || strings.Count(e.Text, "good") != 2 {
			t.Errorf("example %q lost the anchor's word", e.Text)
		}
	}
	if len(tf.Features) != 7 {
		t.Errorf("%d distinct words, want 7", len(tf.Features))
	}
}

// TestAnchorsImageSegments: a model that reads one segment only is
// anchored on that segment, with precision 1 and coverage ≈ 1 −
// sample_probability.
func TestAnchorsImageSegments(t *testing.T) {
	img := sampler.NewImage(8, 8, 1)
	segs, n := sampler.GridSegments(8, 8, 4, 4)
	for px, s := range segs {
		if s == 6 {
			img.Pix[px] = 1
		}
	}
	var calls atomic.Int64
	model := countingRows{&calls, func(row []float64) float64 {
		var sum float64
		for px, s := range segs {
			if s == 6 {
				sum += row[px]
			}
		}
		if sum > 2 {
			return 0.1 // class 0
		}
		return 0.8
	}}
	res, err := AnchorsImage(context.Background(), model, AnchorImageRequest{
		Image: img, Segments: segs, NumSegments: n, Fill: sampler.ConstantFill(img, 0), BatchRows: 64,
		AnchorConfig: AnchorConfig{Seed: 5},
	})
	if err != nil {
		t.Fatal(err)
	}
	a := res.Labels[0].Anchor
	if res.Labels[0].Label != 0 || len(a.Predicates) != 1 || a.Predicates[0].Index != 6 || a.Precision != 1 {
		t.Fatalf("label %d anchor %+v, want label 0 anchored on segment 6", res.Labels[0].Label, a)
	}
	if math.Abs(a.Coverage-0.5) > 0.03 {
		t.Errorf("coverage %.3f, want 0.5 ± 0.03", a.Coverage)
	}
	for _, e := range a.CoveredTrue {
		if !slices.Contains(e.Segments, 6) {
			t.Errorf("example %v lacks segment 6", e.Segments)
		}
	}
	if a.Predicates[0].Description != "segment 6" {
		t.Errorf("description %q", a.Predicates[0].Description)
	}
}

// TestAnchorsPartialRounds: every beam round reports, numbered from 1,
// and the last report is the result's rule.
func TestAnchorsPartialRounds(t *testing.T) {
	m := loadAnchorModels(t)
	data := readBreastCancer(t)
	var calls atomic.Int64
	var rounds []int
	var last *Result
	res, err := AnchorsTabular(context.Background(), countingRows{&calls, m.cancer}, AnchorTabularRequest{
		Instance: data[7], Training: data, AnchorConfig: AnchorConfig{Seed: 1, Partial: func(r int, res *Result) {
			rounds = append(rounds, r)
			last = res
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rounds) == 0 || rounds[0] != 1 || !slices.IsSorted(rounds) {
		t.Fatalf("rounds %v", rounds)
	}
	if !reflect.DeepEqual(last.Labels[0].Anchor.Predicates, res.Labels[0].Anchor.Predicates) {
		t.Errorf("last partial %+v, result %+v", last.Labels[0].Anchor.Predicates, res.Labels[0].Anchor.Predicates)
	}
}

// TestAnchorConfigRejected: each option outside its range is refused,
// naming the option.
func TestAnchorConfigRejected(t *testing.T) {
	tests := []struct {
		field string
		cfg   AnchorConfig
	}{
		{"threshold", AnchorConfig{Threshold: 1.5}},
		{"threshold", AnchorConfig{Threshold: -0.1}},
		{"delta", AnchorConfig{Delta: 1}},
		{"epsilon", AnchorConfig{Epsilon: -1}},
		{"beam_size", AnchorConfig{BeamSize: MaxAnchorBeamSize + 1}},
		{"batch_size", AnchorConfig{BatchSize: MaxAnchorBatchSize + 1}},
		{"coverage_samples", AnchorConfig{CoverageSamples: MaxAnchorCoverageSamples + 1}},
		{"max_anchor_size", AnchorConfig{MaxAnchorSize: -1}},
		{"min_samples_start", AnchorConfig{MinSamplesStart: MaxAnchorBatchSize + 1}},
		{"examples", AnchorConfig{Examples: MaxAnchorExamples + 1}},
	}
	for _, tc := range tests {
		t.Run(tc.field, func(t *testing.T) {
			var calls atomic.Int64
			_, err := AnchorsTabular(context.Background(), countingRows{&calls, func([]float64) float64 { return 1 }},
				AnchorTabularRequest{Instance: []float64{1}, Training: [][]float64{{1}, {2}}, AnchorConfig: tc.cfg})
			var re *RequestError
			if !errors.As(err, &re) || re.Field != tc.field {
				t.Fatalf("err = %v, want a RequestError naming %s", err, tc.field)
			}
			if calls.Load() != 0 {
				t.Errorf("%d model calls", calls.Load())
			}
		})
	}
}

// TestAnchorsMaxSize: with max_anchor_size 1 and a rule that needs two
// predicates, the search returns its best single predicate with
// threshold_met false.
func TestAnchorsMaxSize(t *testing.T) {
	// Class 1 needs both features in the instance's (top) bin.
	var train [][]float64
	for i := range 40 {
		train = append(train, []float64{float64(i % 8), float64((i / 8) % 5)})
	}
	var calls atomic.Int64
	model := countingRows{&calls, func(r []float64) float64 {
		if r[0] >= 6 && r[1] >= 4 {
			return 0.9
		}
		return 0.1
	}}
	req := AnchorTabularRequest{Instance: []float64{7, 4}, Training: train, AnchorConfig: AnchorConfig{Seed: 2, MaxAnchorSize: 1}}
	res, err := AnchorsTabular(context.Background(), model, req)
	if err != nil {
		t.Fatal(err)
	}
	if a := res.Labels[0].Anchor; a.ThresholdMet || len(a.Predicates) != 1 {
		t.Errorf("anchor %+v, want one predicate and threshold not met", a)
	}
	req.MaxAnchorSize = 0
	res, err = AnchorsTabular(context.Background(), model, req)
	if err != nil {
		t.Fatal(err)
	}
	if a := res.Labels[0].Anchor; !a.ThresholdMet || len(a.Predicates) != 2 || a.Precision != 1 {
		t.Errorf("anchor %+v, want both predicates with precision 1", a)
	}
}

// TestAnchorsTabularSharedDiscretizer: a discretizer made before (as the
// server remembers it for a batch or repeated training rows) gives the
// search made with its own, and one of another width is refused.
func TestAnchorsTabularSharedDiscretizer(t *testing.T) {
	var train [][]float64
	for i := range 40 {
		train = append(train, []float64{float64(i % 9), float64(i % 4), math.Sin(float64(i))})
	}
	var calls atomic.Int64
	model := countingRows{&calls, func(r []float64) float64 { return 1 / (1 + math.Exp(-(r[0]-4)-2*r[2])) }}
	req := AnchorTabularRequest{Instance: []float64{6, 1, 0.5}, Training: train, Categorical: []int{1}, AnchorConfig: AnchorConfig{Seed: 3}}
	own, err := AnchorsTabular(context.Background(), model, req)
	if err != nil {
		t.Fatal(err)
	}
	disc, err := sampler.NewQuartileDiscretizer(train, FeatureNames(nil, 3), []int{1})
	if err != nil {
		t.Fatal(err)
	}
	req.Discretizer = disc
	shared, err := AnchorsTabular(context.Background(), model, req)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(own.Labels, shared.Labels) {
		t.Errorf("with a shared discretizer %+v, with its own %+v", shared.Labels[0].Anchor, own.Labels[0].Anchor)
	}
	narrow := *disc
	narrow.Boundaries = narrow.Boundaries[:2]
	req.Discretizer = &narrow
	var re *RequestError
	if _, err := AnchorsTabular(context.Background(), model, req); !errors.As(err, &re) || re.Field != "discretizer" {
		t.Errorf("a discretizer of 2 features for 3: %v, want a RequestError on discretizer", err)
	}
}
