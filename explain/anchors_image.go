package explain

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/explainer-sidecar/explainer/sampler"
)

// AnchorImageRequest is an anchor search over an image's superpixels
// (alibi's AnchorImage).
type AnchorImageRequest struct {
	// Image is the image to explain; the model gets it, and each sample,
	// as one row of H·W·C values in HWC order.
	Image sampler.Image
	// Segments is the label map (H·W labels in [0, NumSegments)), as in
	// LIMEImageRequest. Required.
	Segments    []int
	NumSegments int
	// Fill supplies the pixels of hidden segments, as in LIMEImageRequest;
	// zero means each segment's mean colour.
	Fill sampler.Image
	// SampleProbability is the probability that a sample hides each
	// segment outside the rule, in (0, 1); 0 means DefaultAnchorSampleProb.
	SampleProbability float64
	// BatchRows is the most images rendered and sent in one Predict call;
	// default max(1, MaxBatchValues / (H·W·C)). A step's samples that do
	// not fit go in several calls.
	BatchRows int
	AnchorConfig
}

// AnchorsImage searches for an anchor of m's prediction for req.Image. A
// predicate is a segment shown; a sample satisfying a rule shows the
// rule's segments and hides each other segment (its pixels taken from
// Fill) with probability SampleProbability, independently, as alibi's
// AnchorImage does with p_sample. The result's method is "anchors_image";
// AnchorPredicate.Index is the segment.
func AnchorsImage(ctx context.Context, m Model, req AnchorImageRequest) (*Result, error) {
	lr := LIMEImageRequest{Image: req.Image, Segments: req.Segments, NumSegments: req.NumSegments, Fill: req.Fill, BatchRows: req.BatchRows}
	if err := lr.validate(); err != nil {
		return nil, err
	}
	if p := req.SampleProbability; p != 0 && !(p > 0 && p < 1) {
		return nil, invalid("sample_probability", "must be in (0, 1)")
	}
	d := &anchorImage{m: m, req: req, fill: req.Fill, prob: req.SampleProbability}
	if d.prob == 0 {
		d.prob = DefaultAnchorSampleProb
	}
	if d.fill.Pix == nil {
		var err error
		if d.fill, err = sampler.SegmentMeanFill(req.Image, req.Segments, req.NumSegments); err != nil {
			return nil, &RequestError{Field: "segments", Reason: err.Error()}
		}
	}
	d.batch = req.BatchRows
	if d.batch == 0 {
		d.batch = max(1, MaxBatchValues/len(req.Image.Pix))
	}
	return runAnchors[[]bool](ctx, d, req.AnchorConfig, "anchors_image")
}

type anchorImage struct {
	m     Model
	req   AnchorImageRequest
	fill  sampler.Image
	prob  float64
	batch int
}

func (d *anchorImage) predicates() int { return d.req.NumSegments }

func (d *anchorImage) instance() []bool {
	keep := make([]bool, d.req.NumSegments)
	for i := range keep {
		keep[i] = true
	}
	return keep
}

func (d *anchorImage) sample(rng *rand.Rand, anchor []int, n int) [][]bool {
	p := d.req.NumSegments
	flat := make([]bool, n*p)
	out := make([][]bool, n)
	for i := range out {
		row := flat[i*p : (i+1)*p : (i+1)*p]
		for j := range row {
			row[j] = rng.Float64() >= d.prob
		}
		for _, j := range anchor {
			row[j] = true
		}
		out[i] = row
	}
	return out
}

func (d *anchorImage) bits(dst []uint64, s []bool) {
	for j, v := range s {
		if v {
			dst[j/64] |= 1 << (j % 64)
		}
	}
}

// predict renders the samples into reused buffers, batch at a time.
func (d *anchorImage) predict(ctx context.Context, samples [][]bool) ([][]float64, error) {
	bufs := make([][]float64, min(d.batch, len(samples)))
	out := make([][]float64, 0, len(samples))
	for start := 0; start < len(samples); start += d.batch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		end := min(start+d.batch, len(samples))
		for i := start; i < end; i++ {
			var err error
			if bufs[i-start], err = sampler.MaskImage(bufs[i-start], d.req.Image, d.req.Segments, samples[i], d.fill); err != nil {
				return nil, fmt.Errorf("explain: anchors image: %w", err)
			}
		}
		got, err := d.m.Predict(ctx, bufs[:end-start])
		if err != nil {
			return nil, err
		}
		if len(got) != end-start {
			return nil, fmt.Errorf("explain: model returned %d rows for %d samples", len(got), end-start)
		}
		out = append(out, got...)
	}
	return out, nil
}

func (d *anchorImage) example(s []bool) AnchorExample {
	var segs []int
	for j, v := range s {
		if v {
			segs = append(segs, j)
		}
	}
	return AnchorExample{Segments: segs}
}

func (d *anchorImage) describe(j int) AnchorPredicate {
	return AnchorPredicate{Index: j, Description: fmt.Sprintf("segment %d", j)}
}

func (d *anchorImage) inherits() bool { return true }

func (d *anchorImage) size() int { return d.req.NumSegments }
