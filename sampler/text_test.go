package sampler

import (
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

func tokenTexts(toks []Token) []string {
	out := make([]string, len(toks))
	for i, t := range toks {
		out[i] = t.Text
	}
	return out
}

// checkOffsets asserts that every token is text[Start:End], non-empty, and
// that tokens are in order without overlap.
func checkOffsets(t *testing.T, text string, toks []Token) {
	t.Helper()
	prev := 0
	for i, tok := range toks {
		if tok.Start < prev || tok.End <= tok.Start || tok.End > len(text) {
			t.Fatalf("token %d: bad offsets [%d,%d) after %d", i, tok.Start, tok.End, prev)
		}
		if text[tok.Start:tok.End] != tok.Text {
			t.Fatalf("token %d: text[%d:%d] = %q, token %q", i, tok.Start, tok.End, text[tok.Start:tok.End], tok.Text)
		}
		prev = tok.End
	}
}

func TestTokenize(t *testing.T) {
	tests := []struct {
		name  string
		text  string
		split string
		want  []string
	}{
		{"words", "The film, surprisingly, was good!", "", []string{"The", "film", "surprisingly", "was", "good"}},
		{"apostrophe and underscore", "don't snake_case 42x", "", []string{"don", "t", "snake_case", "42x"}},
		{"unicode", "Café naïve — 日本語 テキスト, ünïcödé 🙂 Ελληνικά", "", []string{"Café", "naïve", "日本語", "テキスト", "ünïcödé", "Ελληνικά"}},
		{"leading and trailing separators", "  ...hello   world!!  ", "", []string{"hello", "world"}},
		{"no words", "?! … 🙂", "", []string{}},
		{"custom whitespace split", "don't stop, now", `\s+`, []string{"don't", "stop,", "now"}},
		{"custom comma split", "a b,, c ;d", `[,;]\s*`, []string{"a b", "c ", "d"}},
		{"custom split unicode", "日本語・テキスト・🙂", `・`, []string{"日本語", "テキスト", "🙂"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var split *regexp.Regexp
			if tt.split != "" {
				split = regexp.MustCompile(tt.split)
			}
			toks := Tokenize(tt.text, split, -1)
			checkOffsets(t, tt.text, toks)
			if got := tokenTexts(toks); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("tokens %q, want %q", got, tt.want)
			}
			if split == nil {
				// The gaps hold no word character (lime's \W+ separators).
				prev := 0
				for _, tok := range append(toks, Token{Start: len(tt.text)}) {
					for _, r := range tt.text[prev:tok.Start] {
						if unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' {
							t.Fatalf("separator %q holds a word character", tt.text[prev:tok.Start])
						}
					}
					prev = tok.End
				}
			}
			// A limit keeps the first tokens.
			if len(tt.want) > 1 {
				if got := tokenTexts(Tokenize(tt.text, split, 1)); !reflect.DeepEqual(got, tt.want[:1]) {
					t.Fatalf("limit 1: %q", got)
				}
			}
		})
	}
}

func FuzzTokenize(f *testing.F) {
	f.Add("The film, surprisingly, was good!", false)
	f.Add("Café — 日本語 🙂", true)
	f.Add("\xff\xfe bad utf8", false)
	split := regexp.MustCompile(`\s+`)
	f.Fuzz(func(t *testing.T, text string, custom bool) {
		var re *regexp.Regexp
		if custom {
			re = split
		}
		toks := Tokenize(text, re, -1)
		checkOffsets(t, text, toks)
		for _, positional := range []bool{false, true} {
			d, err := NewTextDomain(text, re, positional, -1)
			if err != nil {
				t.Fatal(err)
			}
			keep := make([]float64, len(d.Features))
			for j := range keep {
				keep[j] = 1
			}
			if got := d.Render(keep, "[MASK]"); got != text {
				t.Fatalf("all kept renders %q", got)
			}
		}
	})
}

func TestTextDomainFeatures(t *testing.T) {
	const text = "the cat and the hat, the end"
	tests := []struct {
		positional bool
		words      []string
		tokens     [][]int
	}{
		{false, []string{"the", "cat", "and", "hat", "end"}, [][]int{{0, 3, 5}, {1}, {2}, {4}, {6}}},
		{true, []string{"the", "cat", "and", "the", "hat", "the", "end"}, [][]int{{0}, {1}, {2}, {3}, {4}, {5}, {6}}},
	}
	for _, tt := range tests {
		d, err := NewTextDomain(text, nil, tt.positional, -1)
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Tokens) != 7 {
			t.Fatalf("positional=%v: %d tokens, want 7", tt.positional, len(d.Tokens))
		}
		var words []string
		var tokens [][]int
		for _, f := range d.Features {
			words = append(words, f.Word)
			tokens = append(tokens, f.Tokens)
		}
		if !reflect.DeepEqual(words, tt.words) || !reflect.DeepEqual(tokens, tt.tokens) {
			t.Fatalf("positional=%v: features %q %v, want %q %v", tt.positional, words, tokens, tt.words, tt.tokens)
		}
	}
}

func TestNewTextDomainErrors(t *testing.T) {
	tests := []struct {
		name  string
		text  string
		split *regexp.Regexp
		max   int
	}{
		{"split matches empty", "a b", regexp.MustCompile(`\s*`), -1},
		{"too many tokens", strings.Repeat("a ", 11), nil, 10},
	}
	for _, tt := range tests {
		if _, err := NewTextDomain(tt.text, tt.split, false, tt.max); !errors.Is(err, ErrTextInput) {
			t.Errorf("%s: err %v, want ErrTextInput", tt.name, err)
		}
	}
	// Exactly at the limit is fine.
	if _, err := NewTextDomain(strings.Repeat("a ", 10), nil, true, 10); err != nil {
		t.Fatal(err)
	}
}

func TestRender(t *testing.T) {
	const text = "the cat and the hat, the end."
	tests := []struct {
		name        string
		positional  bool
		remove      []int
		replacement string
		want        string
	}{
		{"bow drops every occurrence", false, []int{0}, "", " cat and  hat,  end."},
		{"bow mask string", false, []int{0, 4}, "[MASK]", "[MASK] cat and [MASK] hat, [MASK] [MASK]."},
		{"positional one position", true, []int{3}, "UNKWORDZ", "the cat and UNKWORDZ hat, the end."},
		{"positional dropped", true, []int{0, 6}, "", " cat and the hat, the ."},
		{"nothing removed", true, nil, "[MASK]", text},
		{"everything removed", false, []int{0, 1, 2, 3, 4}, "", "    ,  ."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := NewTextDomain(text, nil, tt.positional, -1)
			if err != nil {
				t.Fatal(err)
			}
			keep := make([]float64, len(d.Features))
			for j := range keep {
				keep[j] = 1
			}
			for _, j := range tt.remove {
				keep[j] = 0
			}
			if got := d.Render(keep, tt.replacement); got != tt.want {
				t.Fatalf("Render = %q, want %q", got, tt.want)
			}
			all := d.RenderAll([][]float64{keep, keep}, tt.replacement)
			if all[0] != tt.want || all[1] != tt.want {
				t.Fatalf("RenderAll = %q", all)
			}
		})
	}
}

func TestRenderAllMatchesRender(t *testing.T) {
	d, err := NewTextDomain("Ünïcödé words: ça va, ça va bien 🙂 — 日本語", nil, false, -1)
	if err != nil {
		t.Fatal(err)
	}
	masks, err := SampleTextMasks(len(d.Features), 200, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	for _, rep := range []string{"", "[MASK]"} {
		all := d.RenderAll(masks, rep)
		for i, m := range masks {
			if want := d.Render(m, rep); all[i] != want {
				t.Fatalf("row %d: RenderAll %q, Render %q", i, all[i], want)
			}
		}
		if all[0] != d.Text {
			t.Fatalf("row 0 = %q, want the text", all[0])
		}
	}
}

// TestSampleTextMasksDistribution checks lime's scheme: row 0 keeps all;
// each other row removes s ~ U{1..d} features, all d included, each feature
// equally likely. Every frequency must lie within 5 standard errors of its
// expectation (binomial SE √(N·p·(1−p)); a false failure has probability
// below ~1e-5 over the 2d+… checks).
func TestSampleTextMasksDistribution(t *testing.T) {
	const d, n = 7, 140001
	masks, err := SampleTextMasks(d, n, rand.New(rand.NewPCG(42, 7)))
	if err != nil {
		t.Fatal(err)
	}
	if len(masks) != n {
		t.Fatalf("%d rows, want %d", len(masks), n)
	}
	for j, v := range masks[0] {
		if v != 1 {
			t.Fatalf("row 0 feature %d = %v, want 1", j, v)
		}
	}
	sizes := make([]int, d+1)
	removed := make([]int, d)
	for i, row := range masks[1:] {
		if len(row) != d || cap(row) != d {
			t.Fatalf("row %d: len %d cap %d", i+1, len(row), cap(row))
		}
		s := 0
		for j, v := range row {
			switch v {
			case 0:
				s++
				removed[j]++
			case 1:
			default:
				t.Fatalf("row %d holds %v", i+1, v)
			}
		}
		sizes[s]++
	}
	if sizes[0] != 0 {
		t.Fatalf("%d rows removed nothing; lime removes at least 1", sizes[0])
	}
	N := float64(n - 1)
	within := func(what string, got int, p float64) {
		t.Helper()
		want, se := N*p, math.Sqrt(N*p*(1-p))
		if math.Abs(float64(got)-want) > 5*se {
			t.Errorf("%s: %d, want %.0f ± 5·%.1f", what, got, want, se)
		}
	}
	for s := 1; s <= d; s++ {
		within("rows removing "+string(rune('0'+s)), sizes[s], 1.0/d)
	}
	// P(feature removed) = E[s]/d = (d+1)/(2d).
	for j := range removed {
		within("removals of feature "+string(rune('0'+j)), removed[j], float64(d+1)/(2*d))
	}
}

func TestSampleTextMasksDeterministic(t *testing.T) {
	a, _ := SampleTextMasks(30, 500, rand.New(rand.NewPCG(3, 4)))
	b, _ := SampleTextMasks(30, 500, rand.New(rand.NewPCG(3, 4)))
	c, _ := SampleTextMasks(30, 500, rand.New(rand.NewPCG(5, 4)))
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed gave different masks")
	}
	if reflect.DeepEqual(a, c) {
		t.Fatal("different seeds gave the same masks")
	}
}

func TestSampleTextMasksEdges(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	// One feature: every other row removes it (lime: randint(1, 2) = 1).
	m, err := SampleTextMasks(1, 5, rng)
	if err != nil {
		t.Fatal(err)
	}
	if want := [][]float64{{1}, {0}, {0}, {0}, {0}}; !reflect.DeepEqual(m, want) {
		t.Fatalf("got %v, want %v", m, want)
	}
	for _, tt := range []struct{ d, n int }{{0, 5}, {-1, 5}, {3, 0}} {
		if _, err := SampleTextMasks(tt.d, tt.n, rng); !errors.Is(err, ErrTextInput) {
			t.Errorf("d=%d n=%d: err %v, want ErrTextInput", tt.d, tt.n, err)
		}
	}
}
