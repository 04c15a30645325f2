package explain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/explainer-sidecar/explainer/sampler"
)

// cueModel scores P(positive) = σ(Σ_w weight[w]·[w present]) over the
// text's words, as [1 − p, p]. It records the texts of its calls.
type cueModel struct {
	weight map[string]float64
	calls  atomic.Int32
	texts  []string
}

var wordsRE = regexp.MustCompile(`[\p{L}\p{N}_]+`)

func (m *cueModel) PredictText(_ context.Context, texts []string) ([][]float64, error) {
	m.calls.Add(1)
	m.texts = texts
	out := make([][]float64, len(texts))
	for i, s := range texts {
		seen := map[string]bool{}
		z := 0.0
		for _, w := range wordsRE.FindAllString(s, -1) {
			if !seen[w] {
				seen[w] = true
				z += m.weight[w]
			}
		}
		p := 1 / (1 + math.Exp(-z))
		out[i] = []float64{1 - p, p}
	}
	return out, nil
}

type textModelFunc func(ctx context.Context, texts []string) ([][]float64, error)

func (f textModelFunc) PredictText(ctx context.Context, texts []string) ([][]float64, error) {
	return f(ctx, texts)
}

// TestTextDistancesFixture checks 100 × cosine distance against lime's on
// the fixture's masks (lime computes them through scipy/sklearn; the fixture
// states they differ from the closed form by at most 4.44e-14) and the
// closed form 100·(1 − k/√(d·k)), both to abs 1e-9, and the kernel weights
// to abs 1e-12.
func TestTextDistancesFixture(t *testing.T) {
	var fx struct {
		Document      string    `json:"document"`
		Words         []string  `json:"words"`
		KernelWidth   float64   `json:"kernel_width"`
		KernelWeights []float64 `json:"kernel_weights"`
		Inputs        struct {
			Data      [][]float64 `json:"neighborhood_data"`
			Distances []float64   `json:"distances"`
		} `json:"inputs"`
	}
	raw, err := os.ReadFile("testdata/fit_text.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatal(err)
	}
	// Our tokenization gives lime's features for the document.
	dom, err := sampler.NewTextDomain(fx.Document, nil, false, -1)
	if err != nil {
		t.Fatal(err)
	}
	var words []string
	for _, f := range dom.Features {
		words = append(words, f.Word)
	}
	if !reflect.DeepEqual(words, fx.Words) {
		t.Fatalf("words %q, want lime's %q", words, fx.Words)
	}

	got := TextDistances(nil, fx.Inputs.Data)
	d := float64(len(fx.Words))
	sawZero := false
	for i, row := range fx.Inputs.Data {
		k := 0.0
		for _, v := range row {
			k += v
		}
		closed := 100.0
		if k > 0 {
			closed = 100 * (1 - k/math.Sqrt(d*k))
		} else {
			sawZero = true
		}
		if math.Abs(got[i]-fx.Inputs.Distances[i]) > 1e-9 || math.Abs(got[i]-closed) > 1e-9 {
			t.Fatalf("row %d (k=%v): distance %v, lime %v, closed form %v", i, k, got[i], fx.Inputs.Distances[i], closed)
		}
	}
	if !sawZero {
		t.Fatal("fixture has no all-removed row; the k=0 case is untested")
	}
	w := KernelWeights(nil, got, fx.KernelWidth)
	for i := range w {
		if math.Abs(w[i]-fx.KernelWeights[i]) > 1e-12 {
			t.Fatalf("row %d: weight %v, lime %v", i, w[i], fx.KernelWeights[i])
		}
	}
}

func TestLIMETextCueWords(t *testing.T) {
	const text = "The plot was good, the acting was bad, and the music was good."
	m := &cueModel{weight: map[string]float64{"good": 2, "bad": -2}}
	req := LIMETextRequest{Text: text, Targets: Targets{Labels: []int{1}}, Sampling: Sampling{Seed: 7}}
	res, feats, err := LIMEText(context.Background(), m, req)
	if err != nil {
		t.Fatal(err)
	}
	if n := m.calls.Load(); n != 1 {
		t.Fatalf("%d PredictText calls, want 1", n)
	}
	if len(m.texts) != DefaultNumSamples || m.texts[0] != text {
		t.Fatalf("model got %d texts, first %q", len(m.texts), m.texts[0])
	}
	if res.Method != "lime_text" || res.NumSamples != DefaultNumSamples || res.KernelWidth != 25 || res.Seed != 7 {
		t.Fatalf("result header %+v", res)
	}
	if res.Selection != SelectHighestWeights {
		t.Fatalf("selection %v, want highest_weights (auto, 10 features)", res.Selection)
	}
	attr := res.Labels[0].Attributions
	if len(attr) != 9 {
		t.Fatalf("%d attributions, want 9 (NumFeatures 10 capped at the 9 words)", len(attr))
	}
	// The model is symmetric in the cues, so their order is a coin toss;
	// the top two must be the cues with the right signs.
	top := map[string]float64{attr[0].Description: attr[0].Weight, attr[1].Description: attr[1].Weight}
	if len(top) != 2 || top["good"] <= 0 || top["bad"] >= 0 {
		t.Fatalf("top attributions %+v, want good (+) and bad (−)", attr[:2])
	}
	// The other words do not move the model: their weights are noise, far
	// below the cues' (here below a tenth).
	for _, a := range attr[2:] {
		if math.Abs(a.Weight) > 0.1*math.Abs(attr[1].Weight) {
			t.Errorf("%q has weight %v", a.Description, a.Weight)
		}
	}
	// Features: "good" occurs twice, and every offset points at its word.
	good := feats.Features[3]
	if good.Word != "good" || len(good.Offsets) != 2 {
		t.Fatalf("good feature %+v", good)
	}
	for _, f := range feats.Features {
		for _, o := range f.Offsets {
			if text[o[0]:o[1]] != f.Word {
				t.Fatalf("offset %v of %q holds %q", o, f.Word, text[o[0]:o[1]])
			}
		}
	}
	if feats.Positional || feats.NumTokens != 13 || len(feats.Features) != 9 {
		t.Fatalf("features: positional %v, %d tokens, %d features", feats.Positional, feats.NumTokens, len(feats.Features))
	}

	// Same request, same result, bit for bit.
	res2, feats2, err := LIMEText(context.Background(), &cueModel{weight: m.weight}, req)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res, res2) || !reflect.DeepEqual(feats, feats2) {
		t.Fatal("same seed gave a different result")
	}
}

// TestLIMETextPositional uses a model that only reads the first word: in
// positional mode the first "good" carries the explanation and the second,
// a different feature, does not; removed positions reach the model as the
// mask string.
func TestLIMETextPositional(t *testing.T) {
	const text = "good start, good grief"
	var got []string
	model := textModelFunc(func(_ context.Context, texts []string) ([][]float64, error) {
		got = texts
		out := make([][]float64, len(texts))
		for i, s := range texts {
			v := 0.0
			if strings.HasPrefix(s, "good") {
				v = 1
			}
			out[i] = []float64{v}
		}
		return out, nil
	})
	for _, tt := range []struct{ mask, want string }{{"", "UNKWORDZ"}, {"[MASK]", "[MASK]"}} {
		res, feats, err := LIMEText(context.Background(), model, LIMETextRequest{
			Text: text, Positional: true, MaskString: tt.mask, Sampling: Sampling{NumSamples: 2000}, SurrogateFit: SurrogateFit{Selection: SelectNone},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(feats.Features) != 4 || !feats.Positional {
			t.Fatalf("%d features, want 4 positions", len(feats.Features))
		}
		w := map[int]float64{}
		for _, a := range res.Labels[0].Attributions {
			w[a.Index] = a.Weight
		}
		// Ridge(α=1) shrinks the true weight 1 a little; the other positions
		// get ≈ 0 (abs 0.05 over 2000 samples).
		if w[0] < 0.8 || math.Abs(w[2]) > 0.05 || math.Abs(w[1]) > 0.05 || math.Abs(w[3]) > 0.05 {
			t.Fatalf("mask %q: weights %v, want position 0 ≈ 1, others ≈ 0", tt.mask, w)
		}
		// Every sample has 4 tokens: the kept words plus one mask per removed.
		for _, s := range got[1:] {
			if c := strings.Count(s, tt.want); c < 1 || len(strings.Fields(strings.ReplaceAll(s, ",", " "))) != 4 {
				t.Fatalf("sample %q: %d masks", s, c)
			}
		}
	}
}

func TestLIMETextErrors(t *testing.T) {
	ok := &cueModel{}
	tests := []struct {
		name  string
		req   LIMETextRequest
		field string
	}{
		{"empty text", LIMETextRequest{}, "text"},
		{"no tokens", LIMETextRequest{Text: "?! …"}, "text"},
		{"too many tokens", LIMETextRequest{Text: strings.Repeat("w ", MaxTextTokens+1)}, "text"},
		{"bad regexp", LIMETextRequest{Text: "a b", SplitExpression: "("}, "split_expression"},
		{"regexp matches empty", LIMETextRequest{Text: "a b", SplitExpression: `\s*`}, "split_expression"},
		{"regexp too long", LIMETextRequest{Text: "a b", SplitExpression: strings.Repeat("a", MaxSplitExpressionLen+1)}, "split_expression"},
		{"one sample", LIMETextRequest{Text: "a b", Sampling: Sampling{NumSamples: 1}}, "num_samples"},
		{"too many samples", LIMETextRequest{Text: "a b", Sampling: Sampling{NumSamples: MaxNumSamples + 1}}, "num_samples"},
		{"negative features", LIMETextRequest{Text: "a b", SurrogateFit: SurrogateFit{NumFeatures: -1}}, "num_features"},
		{"unknown selection", LIMETextRequest{Text: "a b", SurrogateFit: SurrogateFit{Selection: 99}}, "feature_selection"},
		{"NaN width", LIMETextRequest{Text: "a b", SurrogateFit: SurrogateFit{KernelWidth: math.NaN()}}, "kernel_width"},
		{"negative width", LIMETextRequest{Text: "a b", SurrogateFit: SurrogateFit{KernelWidth: -1}}, "kernel_width"},
		{"negative top labels", LIMETextRequest{Text: "a b", Targets: Targets{TopLabels: -1}}, "top_labels"},
		{"negative L1", LIMETextRequest{Text: "a b", SurrogateFit: SurrogateFit{Surrogate: SurrogateConfig{L1: -1}}}, "l1_penalty"},
		{"label out of range", LIMETextRequest{Text: "a b", Sampling: Sampling{NumSamples: 10}, Targets: Targets{Labels: []int{2}}}, "labels[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := LIMEText(context.Background(), ok, tt.req)
			var re *RequestError
			if !errors.As(err, &re) || re.Field != tt.field {
				t.Fatalf("err %v, want a RequestError on %q", err, tt.field)
			}
		})
	}
	// Exactly MaxTextTokens tokens is accepted.
	if _, _, err := LIMEText(context.Background(), ok, LIMETextRequest{Text: strings.Repeat("w ", MaxTextTokens), Sampling: Sampling{NumSamples: 2}}); err != nil {
		t.Fatalf("MaxTextTokens tokens: %v", err)
	}
}

func TestLIMETextModelErrors(t *testing.T) {
	down := errors.New("model down")
	tests := []struct {
		name string
		f    func(texts []string) ([][]float64, error)
		want error
	}{
		{"error", func([]string) ([][]float64, error) { return nil, down }, down},
		{"too few rows", func(texts []string) ([][]float64, error) { return make([][]float64, len(texts)-1), nil }, nil},
		{"no classes", func(texts []string) ([][]float64, error) { return make([][]float64, len(texts)), nil }, nil},
		{"ragged rows", func(texts []string) ([][]float64, error) {
			out := make([][]float64, len(texts))
			for i := range out {
				out[i] = make([]float64, 1+i%2)
			}
			return out, nil
		}, nil},
		{"NaN score", func(texts []string) ([][]float64, error) {
			out := make([][]float64, len(texts))
			for i := range out {
				out[i] = []float64{float64(i)}
			}
			out[3][0] = math.NaN()
			return out, nil
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := textModelFunc(func(_ context.Context, texts []string) ([][]float64, error) { return tt.f(texts) })
			_, _, err := LIMEText(context.Background(), m, LIMETextRequest{Text: "a b c", Sampling: Sampling{NumSamples: 20}})
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
		})
	}
}

func TestLIMETextCancel(t *testing.T) {
	t.Run("before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		m := &cueModel{}
		if _, _, err := LIMEText(ctx, m, LIMETextRequest{Text: "a b"}); !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v, want context.Canceled", err)
		}
		if m.calls.Load() != 0 {
			t.Fatal("model called after cancellation")
		}
	})
	t.Run("during", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		m := textModelFunc(func(ctx context.Context, _ []string) ([][]float64, error) {
			cancel()
			<-ctx.Done()
			return nil, ctx.Err()
		})
		if _, _, err := LIMEText(ctx, m, LIMETextRequest{Text: "a b"}); !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v, want context.Canceled", err)
		}
	})
}

func ExampleLIMEText() {
	// A sentiment model that only knows two words.
	m := &cueModel{weight: map[string]float64{"good": 2, "bad": -2}}
	res, feats, err := LIMEText(context.Background(), m, LIMETextRequest{
		Text:         "A good film with a bad ending.",
		Targets:      Targets{Labels: []int{1}},
		SurrogateFit: SurrogateFit{NumFeatures: 2},
		Sampling:     Sampling{Seed: 1},
	})
	if err != nil {
		panic(err)
	}
	for _, a := range res.Labels[0].Attributions {
		fmt.Printf("%s at %v: positive=%v\n", a.Description, feats.Features[a.Index].Offsets, a.Weight > 0)
	}
	// Output:
	// bad at [[19 22]]: positive=false
	// good at [[2 6]]: positive=true
}

// benchText is a 200-word text over a 60-word vocabulary.
func benchText() string {
	var b strings.Builder
	for i := range 200 {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "word%d", (i*37)%60)
	}
	return b.String()
}

// BenchmarkLIMEText is the sidecar's cost of one text explanation: 200
// words, 5000 samples, a model that returns a constant at once.
func BenchmarkLIMEText(b *testing.B) {
	for _, positional := range []bool{false, true} {
		b.Run(fmt.Sprintf("positional=%v", positional), func(b *testing.B) {
			scores := make([][]float64, DefaultNumSamples)
			for i := range scores {
				scores[i] = []float64{0.5 + float64(i%7)/20, 0.5 - float64(i%7)/20}
			}
			m := textModelFunc(func(_ context.Context, texts []string) ([][]float64, error) { return scores[:len(texts)], nil })
			req := LIMETextRequest{Text: benchText(), Positional: positional, Sampling: Sampling{Seed: 1}}
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := LIMEText(context.Background(), m, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
