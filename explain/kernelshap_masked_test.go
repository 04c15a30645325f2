package explain

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/explainer-sidecar/explainer/sampler"
)

// textFunc is a TextModel from a function of one text, counting its calls.
type textFunc struct {
	f     func(string) []float64
	calls int
}

func (m *textFunc) PredictText(_ context.Context, texts []string) ([][]float64, error) {
	m.calls++
	out := make([][]float64, len(texts))
	for i, t := range texts {
		out[i] = m.f(t)
	}
	return out, nil
}

// nonlinearText scores a text with interactions between words and a
// dependence on its length, as two class probabilities.
func nonlinearText(t string) []float64 {
	words := sampler.Tokenize(t, nil, -1)
	has := func(w string) float64 {
		if strings.Contains(" "+t+" ", " "+w+" ") {
			return 1
		}
		return 0
	}
	s := 0.3*has("good")*has("movie") - 0.7*has("not")*has("good") + 0.05*float64(len(words)) + 0.2*has("great") +
		0.01*float64(len(t)) + 0.4*has("[MASK]")
	p := 1 / (1 + math.Exp(-s))
	return []float64{1 - p, p}
}

// textShapley returns the exact Shapley values of the text game v(S) =
// link(f(text rendered with S kept)) by brute force, and v(∅), v(N).
func textShapley(t *testing.T, text string, positional bool, mask string, link Link, label int) (phi []float64, base, full float64) {
	t.Helper()
	dom, err := sampler.NewTextDomain(text, nil, positional, -1)
	if err != nil {
		t.Fatal(err)
	}
	m := len(dom.Features)
	keep := make([]float64, m)
	v := func(s uint) float64 {
		for j := range keep {
			keep[j] = float64((s >> j) & 1)
		}
		return link.apply(nonlinearText(dom.Render(keep, mask))[label])
	}
	return bruteShapley(m, v), v(0), v(1<<m - 1)
}

func TestKernelSHAPTextExact(t *testing.T) {
	cases := []struct {
		name       string
		text       string
		positional bool
		mask       string
		link       Link
		label      int
	}{
		{"bow drop identity", "not a good movie, a great good movie", false, "", LinkIdentity, 1},
		{"bow mask logit", "not a good movie, a great good movie", false, "[MASK]", LinkLogit, 0},
		{"positional identity", "good movie not good great", true, "", LinkIdentity, 1},
		{"positional mask logit", "good movie not good great movie", true, "[MASK]", LinkLogit, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := &textFunc{f: nonlinearText}
			res, feats, err := KernelSHAPText(context.Background(), m, KernelSHAPTextRequest{
				Text: c.text, Positional: c.positional, MaskString: c.mask, Link: c.link, Targets: Targets{Labels: []int{c.label}},
			})
			if err != nil {
				t.Fatal(err)
			}
			if m.calls != 1 {
				t.Errorf("model called %d times, want 1", m.calls)
			}
			mask := c.mask
			if mask == "" && c.positional {
				mask = sampler.DefaultMaskString
			}
			want, base, full := textShapley(t, c.text, c.positional, mask, c.link, c.label)
			if res.Method != "kernelshap_text" || len(res.Labels) != 1 {
				t.Fatalf("method %q, %d labels", res.Method, len(res.Labels))
			}
			if got := res.NumSamples; got != 1<<len(want) {
				t.Errorf("NumSamples %d, want %d", got, 1<<len(want))
			}
			lr := res.Labels[0]
			if lr.BaseValue != base || lr.ModelValue != full {
				t.Errorf("base %v full %v, want %v %v", lr.BaseValue, lr.ModelValue, base, full)
			}
			if len(lr.Attributions) != len(want) || len(feats.Features) != len(want) {
				t.Fatalf("%d attributions, %d features, want %d", len(lr.Attributions), len(feats.Features), len(want))
			}
			sum := 0.0
			for j, a := range lr.Attributions {
				sum += a.Weight
				if a.Index != j || a.Description != feats.Features[j].Word {
					t.Errorf("attribution %d: index %d description %q", j, a.Index, a.Description)
				}
				for _, off := range feats.Features[j].Offsets {
					if c.text[off[0]:off[1]] != a.Description {
						t.Errorf("offset %v of %q gives %q", off, a.Description, c.text[off[0]:off[1]])
					}
				}
				if math.Abs(a.Weight-want[j]) > 1e-9*math.Max(1, math.Abs(want[j])) {
					t.Errorf("φ[%d] (%s) = %v, exact %v", j, a.Description, a.Weight, want[j])
				}
			}
			if math.Abs(sum-(full-base)) > 1e-12 {
				t.Errorf("Σφ = %v, f(x) − base = %v", sum, full-base)
			}
		})
	}
}

func additiveWords(weights map[string]float64) func(string) []float64 {
	return func(t string) []float64 {
		seen := map[string]bool{}
		s := 0.0
		for _, tok := range sampler.Tokenize(t, nil, -1) {
			if !seen[tok.Text] {
				seen[tok.Text] = true
				s += weights[tok.Text]
			}
		}
		return []float64{s, -s}
	}
}

func TestKernelSHAPTextAdditive(t *testing.T) {
	for _, c := range []struct {
		name  string
		words int
		n     int
	}{{"enumerated", 6, 0}, {"sampled", 14, 300}} {
		t.Run(c.name, func(t *testing.T) {
			w := map[string]float64{}
			var parts []string
			for j := range c.words {
				word := fmt.Sprintf("w%d", j)
				w[word] = float64(j*j%7) - 2.5 + 0.1*float64(j)
				parts = append(parts, word, word) // each word twice
			}
			m := &textFunc{f: additiveWords(w)}
			res, _, err := KernelSHAPText(context.Background(), m, KernelSHAPTextRequest{
				Text: strings.Join(parts, " ") + ".", Sampling: Sampling{NumSamples: c.n, Seed: 3}, Targets: Targets{Labels: []int{0, 1}},
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, lr := range res.Labels {
				sign := 1.0
				if lr.Label == 1 {
					sign = -1
				}
				if lr.BaseValue != 0 {
					t.Errorf("label %d: base %v, want 0", lr.Label, lr.BaseValue)
				}
				for _, a := range lr.Attributions {
					if want := sign * w[a.Description]; math.Abs(a.Weight-want) > 1e-9 {
						t.Errorf("label %d: φ(%s) = %v, want %v", lr.Label, a.Description, a.Weight, want)
					}
				}
			}
		})
	}
}

func TestKernelSHAPTextDeterministic(t *testing.T) {
	text := strings.Repeat("a good movie not great but fine and long enough to sample ", 2) + "x y z"
	run := func(seed uint64) *Result {
		m := &textFunc{f: nonlinearText}
		res, _, err := KernelSHAPText(context.Background(), m, KernelSHAPTextRequest{Text: text, Positional: true, Sampling: Sampling{NumSamples: 200, Seed: seed}, Targets: Targets{TopLabels: 2}})
		if err != nil {
			t.Fatal(err)
		}
		if m.calls != 1 {
			t.Errorf("model called %d times", m.calls)
		}
		if res.NumSamples != 202 {
			t.Errorf("NumSamples %d, want 202", res.NumSamples)
		}
		for _, lr := range res.Labels {
			sum := 0.0
			for _, a := range lr.Attributions {
				sum += a.Weight
			}
			if math.Abs(sum-(lr.ModelValue-lr.BaseValue)) > 1e-12 {
				t.Errorf("label %d: Σφ = %v, want %v", lr.Label, sum, lr.ModelValue-lr.BaseValue)
			}
		}
		return res
	}
	a, b, c := run(7), run(7), run(8)
	if !reflect.DeepEqual(a, b) {
		t.Error("same seed, different results")
	}
	if reflect.DeepEqual(a.Labels, c.Labels) {
		t.Error("different seeds, same attributions")
	}
}

func TestKernelSHAPTextSingleWord(t *testing.T) {
	m := &textFunc{f: nonlinearText}
	res, _, err := KernelSHAPText(context.Background(), m, KernelSHAPTextRequest{Text: "good good", Targets: Targets{Labels: []int{1}}})
	if err != nil {
		t.Fatal(err)
	}
	lr := res.Labels[0]
	if res.NumSamples != 2 || len(lr.Attributions) != 1 || lr.Attributions[0].Weight != lr.ModelValue-lr.BaseValue {
		t.Errorf("got %+v", res)
	}
}

type textErrModel struct {
	f func([]string) ([][]float64, error)
}

func (m textErrModel) PredictText(_ context.Context, texts []string) ([][]float64, error) {
	return m.f(texts)
}

func TestKernelSHAPTextErrors(t *testing.T) {
	ok := textErrModel{func(texts []string) ([][]float64, error) {
		out := make([][]float64, len(texts))
		for i := range out {
			out[i] = []float64{0.5, 0.5}
		}
		return out, nil
	}}
	boom := errors.New("boom")
	many := make([]string, MaxKernelSHAPPlayers+1)
	for i := range many {
		many[i] = fmt.Sprintf("w%d", i)
	}
	cases := []struct {
		name  string
		m     TextModel
		req   KernelSHAPTextRequest
		field string // "" for a non-request error
		err   error
	}{
		{"empty text", ok, KernelSHAPTextRequest{}, "text", nil},
		{"no tokens", ok, KernelSHAPTextRequest{Text: "?! ..."}, "text", nil},
		{"too many players", ok, KernelSHAPTextRequest{Text: strings.Join(many, " ")}, "text", nil},
		{"negative samples", ok, KernelSHAPTextRequest{Text: "a b", Sampling: Sampling{NumSamples: -1}}, "num_samples", nil},
		{"too many samples", ok, KernelSHAPTextRequest{Text: "a b", Sampling: Sampling{NumSamples: MaxNumSamples + 1}}, "num_samples", nil},
		{"bad link", ok, KernelSHAPTextRequest{Text: "a b", Link: 7}, "link", nil},
		{"negative top", ok, KernelSHAPTextRequest{Text: "a b", Targets: Targets{TopLabels: -1}}, "top_labels", nil},
		{"negative label", ok, KernelSHAPTextRequest{Text: "a b", Targets: Targets{Labels: []int{-1}}}, "labels[0]", nil},
		{"bad regexp", ok, KernelSHAPTextRequest{Text: "a b", SplitExpression: "("}, "split_expression", nil},
		{"empty-matching split", ok, KernelSHAPTextRequest{Text: "a b", SplitExpression: "x*"}, "split_expression", nil},
		{"label out of range", ok, KernelSHAPTextRequest{Text: "a b", Targets: Targets{Labels: []int{5}}}, "labels[0]", nil},
		{"model error", textErrModel{func([]string) ([][]float64, error) { return nil, boom }}, KernelSHAPTextRequest{Text: "a b"}, "", boom},
		{"short answer", textErrModel{func(texts []string) ([][]float64, error) { return make([][]float64, len(texts)-1), nil }},
			KernelSHAPTextRequest{Text: "a b"}, "", nil},
		{"nan score", textErrModel{func(texts []string) ([][]float64, error) {
			out, _ := ok.f(texts)
			out[2] = []float64{math.NaN(), 0}
			return out, nil
		}}, KernelSHAPTextRequest{Text: "a b"}, "", nil},
		{"logit at 1", textErrModel{func(texts []string) ([][]float64, error) {
			out, _ := ok.f(texts)
			out[1] = []float64{1, 0}
			return out, nil
		}}, KernelSHAPTextRequest{Text: "a b", Link: LinkLogit, Targets: Targets{Labels: []int{0}}}, "link", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, feats, err := KernelSHAPText(context.Background(), c.m, c.req)
			if err == nil || res != nil || feats != nil {
				t.Fatalf("got %v, %v, %v; want an error", res, feats, err)
			}
			var re *RequestError
			if isReq := errors.As(err, &re); isReq != (c.field != "") || (isReq && re.Field != c.field) {
				t.Errorf("error %v, want field %q", err, c.field)
			}
			if c.err != nil && !errors.Is(err, c.err) {
				t.Errorf("error %v, want %v", err, c.err)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := KernelSHAPText(ctx, ok, KernelSHAPTextRequest{Text: "a b"}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// imageScores is a non-linear two-class model of an image row.
func imageScores(row []float64) []float64 {
	s, q := 0.0, 0.0
	for i, v := range row {
		s += float64(i%5-2) * v
		q += v * v * float64(i%3)
	}
	p := 1 / (1 + math.Exp(-(0.3*s + 0.1*math.Sin(q))))
	return []float64{1 - p, p}
}

func testImage(h, w, c int) sampler.Image {
	img := sampler.NewImage(h, w, c)
	for i := range img.Pix {
		img.Pix[i] = math.Mod(float64(i)*0.37, 1)
	}
	return img
}

func TestKernelSHAPImageExact(t *testing.T) {
	img := testImage(6, 6, 2)
	segs, n := sampler.GridSegments(6, 6, 2, 4) // 8 segments
	fill := sampler.ConstantFill(img, 0.5)
	// Segment 5 equals the fill: a dummy left out of the game.
	for px, s := range segs {
		if s == 5 {
			for k := px * 2; k < px*2+2; k++ {
				img.Pix[k] = 0.5
			}
		}
	}
	for _, link := range []Link{LinkIdentity, LinkLogit} {
		calls := 0
		m := shapModelFunc(func(rows [][]float64) ([][]float64, error) {
			calls++
			out := make([][]float64, len(rows))
			for i, r := range rows {
				out[i] = imageScores(r)
			}
			return out, nil
		})
		res, err := KernelSHAPImage(context.Background(), m, KernelSHAPImageRequest{
			Image: img, Segments: segs, NumSegments: n, Fill: fill, Link: link, Targets: Targets{Labels: []int{1}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if calls != 1 || res.Method != "kernelshap_image" || res.NumSamples != 2+1<<7-2 {
			t.Errorf("%d calls, method %q, %d samples", calls, res.Method, res.NumSamples)
		}
		keep := make([]bool, n)
		v := func(s uint) float64 {
			for j := range keep {
				keep[j] = s&(1<<j) != 0
			}
			row, err := sampler.MaskImage(nil, img, segs, keep, fill)
			if err != nil {
				t.Fatal(err)
			}
			return link.apply(imageScores(row)[1])
		}
		want := bruteShapley(n, v)
		lr := res.Labels[0]
		if lr.BaseValue != v(0) || lr.ModelValue != v(1<<n-1) {
			t.Errorf("base %v model %v, want %v %v", lr.BaseValue, lr.ModelValue, v(0), v(1<<n-1))
		}
		sum := 0.0
		for s, a := range lr.Attributions {
			sum += a.Weight
			if a.Index != s || math.Abs(a.Weight-want[s]) > 1e-9*math.Max(1, math.Abs(want[s])) {
				t.Errorf("%v: segment %d (index %d): φ = %v, exact %v", link, s, a.Index, a.Weight, want[s])
			}
		}
		if lr.Attributions[5].Weight != 0 {
			t.Errorf("dummy segment got %v", lr.Attributions[5].Weight)
		}
		if math.Abs(sum-(lr.ModelValue-lr.BaseValue)) > 1e-12 {
			t.Errorf("Σφ = %v, want %v", sum, lr.ModelValue-lr.BaseValue)
		}
	}
}

func TestKernelSHAPImageLinear(t *testing.T) {
	// f = a·x is additive over segments: φ_s = Σ_{px∈s} a·(x − fill),
	// whether the coalitions are enumerated or sampled.
	img := testImage(8, 8, 3)
	for _, grid := range [][3]int{{2, 3, 0}, {4, 4, 200}} {
		segs, n := sampler.GridSegments(8, 8, grid[0], grid[1])
		fill := sampler.MeanFill(img)
		a := func(i int) float64 { return float64(i%7) - 3 }
		m := shapModelFunc(func(rows [][]float64) ([][]float64, error) {
			out := make([][]float64, len(rows))
			for i, r := range rows {
				s := 0.0
				for k, v := range r {
					s += a(k) * v
				}
				out[i] = []float64{s}
			}
			return out, nil
		})
		res, err := KernelSHAPImage(context.Background(), m, KernelSHAPImageRequest{
			Image: img, Segments: segs, NumSegments: n, Fill: fill, Sampling: Sampling{NumSamples: grid[2], Seed: 4},
		})
		if err != nil {
			t.Fatal(err)
		}
		want := make([]float64, n)
		for px, s := range segs {
			for k := px * 3; k < px*3+3; k++ {
				want[s] += a(k) * (img.Pix[k] - fill.Pix[k])
			}
		}
		for s, at := range res.Labels[0].Attributions {
			if math.Abs(at.Weight-want[s]) > 1e-9 {
				t.Errorf("grid %v: φ[%d] = %v, want %v", grid, s, at.Weight, want[s])
			}
		}
	}
}

func TestKernelSHAPImageDeterministicAndErrors(t *testing.T) {
	img := testImage(8, 8, 1)
	segs, n := sampler.GridSegments(8, 8, 4, 4)
	m := shapModelFunc(func(rows [][]float64) ([][]float64, error) {
		out := make([][]float64, len(rows))
		for i, r := range rows {
			out[i] = imageScores(r)
		}
		return out, nil
	})
	req := KernelSHAPImageRequest{Image: img, Segments: segs, NumSegments: n, Sampling: Sampling{NumSamples: 100, Seed: 9}, Targets: Targets{TopLabels: 2}}
	a, err := KernelSHAPImage(context.Background(), m, req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := KernelSHAPImage(context.Background(), m, req)
	if !reflect.DeepEqual(a, b) {
		t.Error("same seed, different results")
	}
	boom := errors.New("boom")
	bad := func(f func(*KernelSHAPImageRequest)) KernelSHAPImageRequest {
		r := req
		f(&r)
		return r
	}
	cases := []struct {
		name  string
		m     Model
		req   KernelSHAPImageRequest
		field string
		err   error
	}{
		{"no image", m, bad(func(r *KernelSHAPImageRequest) { r.Image = sampler.Image{} }), "image", nil},
		{"no segments", m, bad(func(r *KernelSHAPImageRequest) { r.NumSegments = 0 }), "num_segments", nil},
		{"short segments", m, bad(func(r *KernelSHAPImageRequest) { r.Segments = segs[1:] }), "segments", nil},
		{"label outside", m, bad(func(r *KernelSHAPImageRequest) { r.NumSegments = 3 }), "segments", nil},
		{"fill shape", m, bad(func(r *KernelSHAPImageRequest) { r.Fill = sampler.NewImage(2, 2, 1) }), "fill", nil},
		{"samples", m, bad(func(r *KernelSHAPImageRequest) { r.NumSamples = -1 }), "num_samples", nil},
		{"too many values", m, bad(func(r *KernelSHAPImageRequest) {
			r.Image = testImage(64, 64, 3)
			r.Segments, _ = sampler.GridSegments(64, 64, 4, 4)
			r.NumSamples = 0
		}), "num_samples", nil},
		{"link", m, bad(func(r *KernelSHAPImageRequest) { r.Link = 9 }), "link", nil},
		{"top", m, bad(func(r *KernelSHAPImageRequest) { r.TopLabels = -1 }), "top_labels", nil},
		{"labels", m, bad(func(r *KernelSHAPImageRequest) { r.Labels = []int{-2} }), "labels[0]", nil},
		{"model error", shapModelFunc(func([][]float64) ([][]float64, error) { return nil, boom }), req, "", boom},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := KernelSHAPImage(context.Background(), c.m, c.req)
			if err == nil || res != nil {
				t.Fatalf("got %v, %v; want an error", res, err)
			}
			var re *RequestError
			if c.field != "" && (!errors.As(err, &re) || re.Field != c.field) {
				t.Errorf("error %v, want field %q", err, c.field)
			}
			if c.err != nil && !errors.Is(err, c.err) {
				t.Errorf("error %v, want %v", err, c.err)
			}
		})
	}
}
