package explain

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"

	"github.com/explainer-sidecar/explainer/sampler"
)

// Defaults and limits of a text LIME request.
const (
	// DefaultTextKernelWidth is lime's LimeTextExplainer kernel width, on
	// distances of 100 × the cosine distance.
	DefaultTextKernelWidth = 25.0
	// MaxTextTokens caps the tokens of a text: each is a column of the n×d
	// mask matrix (bag of words) and is rewritten in every sample.
	MaxTextTokens = 10000
	// MaxSplitExpressionLen caps LIMETextRequest.SplitExpression, in bytes.
	MaxSplitExpressionLen = 1000
)

// TextModel scores texts. Implementations send the strings to a model
// server (package predictor), in as many batches as they like.
type TextModel interface {
	// PredictText returns one row of class scores per text, in order.
	PredictText(ctx context.Context, texts []string) ([][]float64, error)
}

// LIMETextRequest is one text LIME explanation. Zero values are lime's
// LimeTextExplainer defaults where lime has one.
type LIMETextRequest struct {
	// Text is the document to explain. Required.
	Text string
	// SplitExpression is a regular expression (Go RE2 syntax) matching the
	// separators between tokens, lime's split_expression. Empty means
	// words: runs of Unicode letters, digits and underscores (lime's
	// r'\W+'). It must not match the empty string; at most
	// MaxSplitExpressionLen bytes.
	SplitExpression string
	// Positional makes each token position a feature (lime's bow=False).
	// The zero value is bag of words (lime's bow=True): a feature is a
	// distinct word and removing it removes every occurrence.
	Positional bool
	// MaskString replaces each removed token. Empty means lime's choice:
	// removed tokens are dropped in bag-of-words mode and replaced by
	// sampler.DefaultMaskString ("UNKWORDZ") in positional mode. Models with
	// a mask token want "[MASK]" or "[UNK]".
	MaskString string
	// Sampling is the neighbourhood: NumSamples texts scored, the original
	// included (default DefaultNumSamples; 2 to MaxNumSamples), their masks
	// drawn from Seed.
	Sampling
	// SurrogateFit configures the local model: NumFeatures defaults to
	// DefaultNumFeatures; KernelWidth is w on d = 100 × the cosine distance
	// to the original, default DefaultTextKernelWidth (25).
	SurrogateFit
	// Targets chooses the classes (default the text's top class).
	Targets
}

// TextFeatures locates the features of a text explanation in the text:
// Attribution.Index j of a LIMEText result is Features[j].
type TextFeatures struct {
	// Positional reports positional mode (one occurrence per feature).
	Positional bool
	// NumTokens is the number of tokens in the text.
	NumTokens int
	// Features are the interpretable features, in order of first
	// occurrence.
	Features []TextFeature
}

// TextFeature is one word (bag of words) or token position (positional).
type TextFeature struct {
	Word string
	// Offsets are the [start, end) byte offsets in the text of each
	// occurrence, increasing: Text[start:end] == Word.
	Offsets [][2]int
}

// textDomain tokenizes text for the text estimators: split is a regular
// expression matching the separators ("" for words).
func textDomain(text, split string, positional bool) (*sampler.TextDomain, error) {
	var re *regexp.Regexp
	if split != "" {
		var err error
		if re, err = regexp.Compile(split); err != nil {
			return nil, invalid("split_expression", "is not a valid regular expression")
		}
		if re.MatchString("") {
			return nil, invalid("split_expression", "must not match the empty string")
		}
	}
	dom, err := sampler.NewTextDomain(text, re, positional, MaxTextTokens)
	switch {
	case err != nil:
		return nil, invalid("text", "has more than %d tokens", MaxTextTokens)
	case len(dom.Features) == 0:
		return nil, invalid("text", "has no tokens")
	}
	return dom, nil
}

// LIMEText explains the model's prediction for req.Text with lime's
// LimeTextExplainer semantics. It tokenizes the text, draws
// req.NumSamples binary masks over its features (sampler.SampleTextMasks:
// row 0 keeps everything, each other row removes a number of features drawn
// uniformly from 1 to d), renders the masked texts, scores them with m in
// one PredictText call (m batches them), and fits one surrogate per label on
// the masks z_i with the kernel weights
//
//	π_i = sqrt(exp(−D_i²/w²)),   D_i = 100·(1 − k_i/√(d·k_i)) = 100·(1 − √(k_i/d)),
//
// D_i being 100 × the cosine distance of z_i to row 0 (k_i features kept of
// d; D_i = 100 when k_i = 0, as scikit-learn's cosine distance gives). The
// returned TextFeatures maps each attribution's Index to its word and
// offsets. Each attribution's StdErr is the surrogate's HC1 sandwich
// standard error, conditional on the feature selection (see
// Neighborhood.Fit).
func LIMEText(ctx context.Context, m TextModel, req LIMETextRequest) (*Result, *TextFeatures, error) {
	if err := req.validate(); err != nil {
		return nil, nil, err
	}
	dom, err := textDomain(req.Text, req.SplitExpression, req.Positional)
	if err != nil {
		return nil, nil, err
	}
	d := len(dom.Features)

	n := req.Sampling.orDefault(DefaultNumSamples)
	k, width, sel := req.SurrogateFit.resolve(d, DefaultNumFeatures, DefaultTextKernelWidth)
	mask := req.MaskString
	if mask == "" && req.Positional {
		mask = sampler.DefaultMaskString
	}

	rng := rand.New(rand.NewPCG(req.Seed, 0x9e3779b97f4a7c15))
	masks, err := sampler.SampleTextMasks(d, n, rng)
	if err != nil {
		return nil, nil, fmt.Errorf("explain: lime text sampling: %w", err)
	}
	texts := dom.RenderAll(masks, mask)
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	scores, err := m.PredictText(ctx, texts)
	if err != nil {
		return nil, nil, err
	}
	if len(scores) != n {
		return nil, nil, fmt.Errorf("explain: model returned %d rows for %d samples", len(scores), n)
	}
	classes := len(scores[0])
	labels, err := req.Targets.pick(scores[0])
	if err != nil {
		return nil, nil, err
	}
	for i, row := range scores {
		if len(row) != classes {
			return nil, nil, fmt.Errorf("explain: model returned %d scores in row %d, %d in row 0", len(row), i, classes)
		}
	}

	weights := KernelWeights(nil, TextDistances(nil, masks), width)
	fit, err := newNeighborhood(masks, weights, ctx.Err)
	if err != nil {
		return nil, nil, fmt.Errorf("explain: lime text: %w", err)
	}
	res := &Result{
		Method:         "lime_text",
		InstanceScores: append([]float64(nil), scores[0]...),
		NumSamples:     n,
		Seed:           req.Seed,
		KernelWidth:    width,
		Selection:      sel,
		Labels:         make([]LabelResult, 0, len(labels)),
	}
	target := make([]float64, n)
	for _, label := range labels {
		for i, row := range scores {
			target[i] = row[label]
		}
		s, err := fit.fitLabel(ctx.Err, target, k, sel, req.Surrogate)
		if err != nil {
			return nil, nil, limeFitErr("lime text", label, err)
		}
		lr := LabelResult{
			Label:           label,
			Prediction:      scores[0][label],
			Intercept:       s.Intercept,
			Score:           s.Score,
			LocalPrediction: s.LocalPred,
		}
		lr.Attributions = rankedAttributions(s, func(f int) string { return dom.Features[f].Word })
		res.Labels = append(res.Labels, lr)
	}
	return res, textFeatures(dom), nil
}

// TextDistances writes 100 × the cosine distance of each mask row to an
// all-ones row into dst and returns it (nil dst, or one too small,
// allocates): for a row keeping k of its d features,
//
//	D = 100·(1 − k/√(d·k)),
//
// and D = 100 for k = 0 (scikit-learn's cosine distance to a zero row).
// Rows hold 0 (removed) or 1 (kept); masks is not modified.
func TextDistances(dst []float64, masks [][]float64) []float64 {
	if cap(dst) < len(masks) {
		dst = make([]float64, len(masks))
	}
	dst = dst[:len(masks)]
	for i, row := range masks {
		kept := 0
		for _, v := range row {
			if v != 0 {
				kept++
			}
		}
		if kept == 0 {
			dst[i] = 100
			continue
		}
		dst[i] = 100 * (1 - float64(kept)/math.Sqrt(float64(len(row)*kept)))
	}
	return dst
}

func textFeatures(dom *sampler.TextDomain) *TextFeatures {
	out := &TextFeatures{
		Positional: dom.Positional,
		NumTokens:  len(dom.Tokens),
		Features:   make([]TextFeature, len(dom.Features)),
	}
	offsets := make([][2]int, len(dom.Tokens))
	used := 0
	for j, f := range dom.Features {
		offs := offsets[used : used+len(f.Tokens) : used+len(f.Tokens)]
		used += len(f.Tokens)
		for i, t := range f.Tokens {
			offs[i] = [2]int{dom.Tokens[t].Start, dom.Tokens[t].End}
		}
		out.Features[j] = TextFeature{Word: f.Word, Offsets: offs}
	}
	return out
}

func (req *LIMETextRequest) validate() error {
	switch {
	case req.Text == "":
		return invalid("text", "must not be empty")
	case len(req.SplitExpression) > MaxSplitExpressionLen:
		return invalid("split_expression", "is longer than %d bytes", MaxSplitExpressionLen)
	}
	if err := req.Sampling.Validate(limeMinSamples); err != nil {
		return err
	}
	if err := req.SurrogateFit.Validate(); err != nil {
		return err
	}
	return req.Targets.Validate(0)
}
