package explain

import (
	"context"
	"math/rand/v2"

	"github.com/explainer-sidecar/explainer/sampler"
)

// DefaultAnchorMaskString is alibi's AnchorText mask for a hidden word.
const DefaultAnchorMaskString = "UNK"

// AnchorTextRequest is an anchor search over a text's words (alibi's
// AnchorText with sampling_strategy='unknown').
type AnchorTextRequest struct {
	// Text is the document. Required.
	Text string
	// SplitExpression is as in LIMETextRequest: the separators between
	// words; empty means runs of letters, digits and underscores.
	SplitExpression string
	// MaskString replaces a hidden word; empty means
	// DefaultAnchorMaskString ("UNK").
	MaskString string
	// SampleProbability is the probability that a sample hides each word
	// outside the rule, in (0, 1); 0 means DefaultAnchorSampleProb.
	SampleProbability float64
	AnchorConfig
}

// AnchorsText searches for an anchor of m's prediction for req.Text. A
// predicate is a distinct word being present (every occurrence kept); a
// sample satisfying a rule keeps the rule's words and hides each other
// distinct word (every occurrence, replaced by the mask) with probability
// SampleProbability, independently. alibi hides each position on its own;
// here a word's occurrences go together, so that "the word is present" is
// one predicate, as the word's spans report. Coverage samples hide every
// word so. The returned TextFeatures maps each predicate's feature to its
// spans; AnchorPredicate.Index is the token index of the word's first
// occurrence. The result's method is "anchors_text".
func AnchorsText(ctx context.Context, m TextModel, req AnchorTextRequest) (*Result, *TextFeatures, error) {
	switch {
	case req.Text == "":
		return nil, nil, invalid("text", "must not be empty")
	case len(req.SplitExpression) > MaxSplitExpressionLen:
		return nil, nil, invalid("split_expression", "is longer than %d bytes", MaxSplitExpressionLen)
	case req.SampleProbability != 0 && !(req.SampleProbability > 0 && req.SampleProbability < 1):
		return nil, nil, invalid("sample_probability", "must be in (0, 1)")
	}
	dom, err := textDomain(req.Text, req.SplitExpression, false)
	if err != nil {
		return nil, nil, err
	}
	d := &anchorText{m: m, dom: dom, mask: req.MaskString, prob: req.SampleProbability, tf: textFeatures(dom)}
	if d.mask == "" {
		d.mask = DefaultAnchorMaskString
	}
	if d.prob == 0 {
		d.prob = DefaultAnchorSampleProb
	}
	res, err := runAnchors[anchorTextSample](ctx, d, req.AnchorConfig, "anchors_text")
	if err != nil {
		return nil, nil, err
	}
	return res, d.tf, nil
}

// anchorTextSample is a text sample: the words kept and the text.
type anchorTextSample struct {
	keep []float64
	text string
}

type anchorText struct {
	m    TextModel
	dom  *sampler.TextDomain
	mask string
	prob float64
	tf   *TextFeatures
}

func (d *anchorText) predicates() int { return len(d.dom.Features) }

func (d *anchorText) instance() anchorTextSample {
	keep := make([]float64, len(d.dom.Features))
	for i := range keep {
		keep[i] = 1
	}
	return anchorTextSample{keep: keep, text: d.dom.Text}
}

func (d *anchorText) sample(rng *rand.Rand, anchor []int, n int) []anchorTextSample {
	p := len(d.dom.Features)
	flat := make([]float64, n*p)
	masks := make([][]float64, n)
	for i := range masks {
		row := flat[i*p : (i+1)*p : (i+1)*p]
		for j := range row {
			if rng.Float64() >= d.prob {
				row[j] = 1
			}
		}
		for _, j := range anchor {
			row[j] = 1
		}
		masks[i] = row
	}
	texts := d.dom.RenderAll(masks, d.mask)
	out := make([]anchorTextSample, n)
	for i := range out {
		out[i] = anchorTextSample{keep: masks[i], text: texts[i]}
	}
	return out
}

func (d *anchorText) bits(dst []uint64, s anchorTextSample) {
	for j, v := range s.keep {
		if v != 0 {
			dst[j/64] |= 1 << (j % 64)
		}
	}
}

func (d *anchorText) predict(ctx context.Context, samples []anchorTextSample) ([][]float64, error) {
	texts := make([]string, len(samples))
	for i, s := range samples {
		texts[i] = s.text
	}
	return d.m.PredictText(ctx, texts)
}

func (d *anchorText) example(s anchorTextSample) AnchorExample { return AnchorExample{Text: s.text} }

func (d *anchorText) describe(j int) AnchorPredicate {
	f := d.dom.Features[j]
	return AnchorPredicate{Index: f.Tokens[0], Description: f.Word, Spans: d.tf.Features[j].Offsets}
}

func (d *anchorText) inherits() bool { return true }

func (d *anchorText) size() int { return len(d.dom.Text) + len(d.dom.Features) }
