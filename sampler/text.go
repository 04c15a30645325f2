package sampler

// Text perturbations: lime's LimeTextExplainer (IndexedString and
// __data_labels_distances). A document is cut into tokens; a feature is a
// distinct word (bag of words, every occurrence removed together) or one
// token position; a sample removes a uniformly drawn number of features.
//
// Maths. For d features and n samples, row 0 keeps every feature and each
// row i ≥ 1 draws
//
//	s_i ~ U{1, …, d}                      (lime: randint(1, d+1))
//	R_i ⊂ {0, …, d−1}, |R_i| = s_i, uniform without replacement
//	z_ij = 0 for j ∈ R_i, 1 otherwise
//
// so a row may remove every feature (s_i = d), as lime's does.

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
)

// ErrTextInput is wrapped by the errors SampleTextMasks and NewTextDomain
// return for arguments they cannot use.
var ErrTextInput = errors.New("sampler: invalid text input")

// DefaultMaskString is lime's replacement for a removed token in positional
// mode ("UNKWORDZ").
const DefaultMaskString = "UNKWORDZ"

// wordRE matches a word the way lime's default split_expression r'\W+'
// leaves it: a run of Unicode letters, digits and underscores (Python's \w
// on str; combining marks are not word characters there either).
var wordRE = regexp.MustCompile(`[\p{L}\p{N}_]+`)

// Token is one token of a document: Text is doc[Start:End], byte offsets.
type Token struct {
	Text       string
	Start, End int
}

// Tokenize cuts text into tokens and returns at most limit of them (all of
// them when limit < 0), in text order.
//
// With a nil split, tokens are the runs of Unicode letters, digits and
// underscores: lime's default split_expression r'\W+'. Otherwise split
// matches the separators, as lime's split_expression does: the tokens are
// the non-empty pieces of text between its matches. split must not match
// the empty string (Tokenize does not check; NewTextDomain does).
func Tokenize(text string, split *regexp.Regexp, limit int) []Token {
	if limit == 0 {
		return nil
	}
	if split == nil {
		locs := wordRE.FindAllStringIndex(text, limit)
		out := make([]Token, len(locs))
		for i, l := range locs {
			out[i] = Token{Text: text[l[0]:l[1]], Start: l[0], End: l[1]}
		}
		return out
	}
	// k separators leave at most k+1 tokens: ask for no more than the
	// limit needs.
	n := -1
	if limit > 0 {
		n = limit
	}
	var out []Token
	prev := 0
	add := func(start, end int) {
		if end > start && (limit < 0 || len(out) < limit) {
			out = append(out, Token{Text: text[start:end], Start: start, End: end})
		}
	}
	for _, l := range split.FindAllStringIndex(text, n) {
		add(prev, l[0])
		prev = l[1]
	}
	add(prev, len(text))
	return out
}

// TextFeature is one interpretable feature of a document: a distinct word
// (bag of words) or one token position.
type TextFeature struct {
	// Word is the token's text.
	Word string
	// Tokens are the indices in TextDomain.Tokens of the feature's
	// occurrences, increasing (exactly one in positional mode).
	Tokens []int
}

// TextDomain is a tokenized document and its features, lime's
// IndexedString. It is read-only once built and safe for concurrent use.
type TextDomain struct {
	// Text is the document.
	Text string
	// Tokens are its tokens, in text order.
	Tokens []Token
	// Features are the interpretable features in order of first
	// occurrence: feature j is column j of the masks.
	Features []TextFeature
	// Positional reports positional mode (each token a feature) rather
	// than bag of words (each distinct word a feature; words are compared
	// byte for byte, case included, as lime does).
	Positional bool
	// featureOf[t] is the feature of token t.
	featureOf []int
}

// NewTextDomain tokenizes text (see Tokenize for split) and builds its
// features. It fails when split matches the empty string or text has more
// than maxTokens tokens (maxTokens < 0: no limit). A text without tokens
// gives a domain with no features.
func NewTextDomain(text string, split *regexp.Regexp, positional bool, maxTokens int) (*TextDomain, error) {
	if split != nil && split.MatchString("") {
		return nil, fmt.Errorf("%w: split expression matches the empty string", ErrTextInput)
	}
	limit := -1
	if maxTokens >= 0 {
		limit = maxTokens + 1
	}
	toks := Tokenize(text, split, limit)
	if maxTokens >= 0 && len(toks) > maxTokens {
		return nil, fmt.Errorf("%w: more than %d tokens", ErrTextInput, maxTokens)
	}
	d := &TextDomain{Text: text, Tokens: toks, Positional: positional, featureOf: make([]int, len(toks))}
	if positional {
		d.Features = make([]TextFeature, len(toks))
		idx := make([]int, len(toks))
		for t, tok := range toks {
			idx[t] = t
			d.Features[t] = TextFeature{Word: tok.Text, Tokens: idx[t : t+1 : t+1]}
			d.featureOf[t] = t
		}
		return d, nil
	}
	vocab := make(map[string]int)
	for t, tok := range toks {
		f, ok := vocab[tok.Text]
		if !ok {
			f = len(d.Features)
			vocab[tok.Text] = f
			d.Features = append(d.Features, TextFeature{Word: tok.Text})
		}
		d.Features[f].Tokens = append(d.Features[f].Tokens, t)
		d.featureOf[t] = f
	}
	return d, nil
}

// Render writes the document with the features whose keep value is 0
// removed: each of their tokens is dropped (replacement "") or replaced by
// replacement; everything else, separators included, is kept byte for byte.
// keep has one value per feature (a mask row of SampleTextMasks); any
// non-zero value keeps the feature. lime drops removed words in bag-of-words
// mode and writes DefaultMaskString in positional mode.
func (d *TextDomain) Render(keep []float64, replacement string) string {
	var b strings.Builder
	b.Grow(len(d.Text))
	d.render(&b, keep, replacement)
	return b.String()
}

// RenderAll renders every mask row (see Render). The strings share one
// allocation.
func (d *TextDomain) RenderAll(masks [][]float64, replacement string) []string {
	size := 0
	for _, keep := range masks {
		size += d.renderedLen(keep, replacement)
	}
	var b strings.Builder
	b.Grow(size)
	ends := make([]int, len(masks))
	for i, keep := range masks {
		d.render(&b, keep, replacement)
		ends[i] = b.Len()
	}
	all := b.String()
	out := make([]string, len(masks))
	start := 0
	for i, end := range ends {
		out[i] = all[start:end]
		start = end
	}
	return out
}

func (d *TextDomain) renderedLen(keep []float64, replacement string) int {
	n := len(d.Text)
	for t, tok := range d.Tokens {
		if keep[d.featureOf[t]] == 0 {
			n += len(replacement) - (tok.End - tok.Start)
		}
	}
	return n
}

func (d *TextDomain) render(b *strings.Builder, keep []float64, replacement string) {
	prev := 0
	for t, tok := range d.Tokens {
		if keep[d.featureOf[t]] != 0 {
			continue
		}
		b.WriteString(d.Text[prev:tok.Start])
		b.WriteString(replacement)
		prev = tok.End
	}
	b.WriteString(d.Text[prev:])
}

// SampleTextMasks draws n mask rows over nFeatures features with lime's
// LimeTextExplainer scheme (see the package's text maths): row 0 is all
// ones; each other row removes (sets to 0) a number of features drawn
// uniformly from 1 to nFeatures, chosen uniformly without replacement; a
// row can therefore remove every feature. The rows share one backing array,
// each with its capacity clipped to the row. The same rng state gives the
// same rows (numpy's stream is not reproduced).
func SampleTextMasks(nFeatures, n int, rng *rand.Rand) ([][]float64, error) {
	switch {
	case nFeatures < 1:
		return nil, fmt.Errorf("%w: need at least 1 feature, got %d", ErrTextInput, nFeatures)
	case n < 1:
		return nil, fmt.Errorf("%w: need at least 1 sample, got %d", ErrTextInput, n)
	}
	backing := make([]float64, n*nFeatures)
	for i := range backing {
		backing[i] = 1
	}
	rows := make([][]float64, n)
	for i := range rows {
		rows[i] = backing[i*nFeatures : (i+1)*nFeatures : (i+1)*nFeatures]
	}
	// A partial Fisher–Yates shuffle of a persistent permutation: whatever
	// order earlier rows left it in, the first s entries after the swaps
	// are a uniform s-subset.
	perm := make([]int, nFeatures)
	for j := range perm {
		perm[j] = j
	}
	for i := 1; i < n; i++ {
		s := 1 + rng.IntN(nFeatures)
		row := rows[i]
		for k := range s {
			r := k + rng.IntN(nFeatures-k)
			perm[k], perm[r] = perm[r], perm[k]
			row[perm[k]] = 0
		}
	}
	return rows, nil
}
