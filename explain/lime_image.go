package explain

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/explainer-sidecar/explainer/internal/group"
	"github.com/explainer-sidecar/explainer/sampler"
)

// Defaults of a LIMEImage request (lime's LimeImageExplainer).
const (
	DefaultImageNumSamples   = 1000
	DefaultImageKernelWidth  = 0.25
	imageSeedStream          = 0x696d6167655f6c6d // "image_lm"
	maxImageSegmentsPerModel = 1 << 16
)

// LIMEImageRequest is one LIME explanation of an image over a segmentation.
// Zero values are lime's defaults where lime has one.
type LIMEImageRequest struct {
	// Image is the image to explain; the model gets it, and each masked
	// copy, as one row of H·W·C values in HWC order.
	Image sampler.Image
	// Segments is the label map (H·W labels in [0, NumSegments)), from
	// sampler.GridSegments or sampler.SLIC. Required.
	Segments    []int
	NumSegments int
	// Fill supplies the values of hidden segments (same shape as Image):
	// sampler.ConstantFill (lime's hide_color), MeanFill or BlurFill. Zero
	// means lime's default, each segment's own mean colour
	// (sampler.SegmentMeanFill).
	Fill sampler.Image
	// Sampling is the neighbourhood: NumSamples masks, the image itself
	// included (default DefaultImageNumSamples, lime's 1000; 2 to
	// MaxNumSamples), drawn from Seed.
	Sampling
	// SurrogateFit configures the local model: NumFeatures defaults to
	// (and is capped at) all the segments (lime's 100000); KernelWidth is
	// w on the cosine distance to the all-on row, default
	// DefaultImageKernelWidth (lime's 0.25).
	SurrogateFit
	// Targets chooses the classes as in LIMERequest (lime's image default
	// is top_labels=5; here the default is the top class).
	Targets
	// BatchRows is the most masked images sent in one Predict call; two
	// calls are in flight, so twice that is held. Default max(1,
	// MaxBatchValues / (2·H·W·C)): a 224×224×3 image sends 1000 samples in
	// 18 calls of at most 55 images, 128 MiB held.
	BatchRows int
}

// LIMEImage explains m's prediction for req.Image with lime's
// LimeImageExplainer semantics over the segmentation req.Segments. It
// draws n binary rows z_i ∈ {0,1}^p over the p segments, z_0 = 1 (all on)
// and every other z_ij 0 or 1 with probability ½ each (lime's
// randint(0, 2)), scores the images where the segments with z_ij = 0 take
// req.Fill's pixels, and fits one surrogate per label on (z, f) with the
// kernel weights π_i = sqrt(exp(−d_i²/w²)) of the cosine distance to z_0,
//
//	d_i = 1 − z_i·1 / (‖z_i‖·‖1‖) = 1 − √(k_i/p),   k_i = Σ_j z_ij,
//
// and d_i = 1 for the all-off row (scikit-learn's cosine distance). The
// attributions are per segment: Index is the segment label. The masked
// images are built into reused buffers, req.BatchRows at a time, the next
// call's while the model answers the one before (two calls in flight), so
// m must not retain its rows and must be safe for two concurrent calls. Each attribution's StdErr is the surrogate's HC1
// sandwich standard error, conditional on the feature selection (see
// Neighborhood.Fit).
func LIMEImage(ctx context.Context, m Model, req LIMEImageRequest) (*Result, error) {
	if err := req.validate(); err != nil {
		return nil, err
	}
	p := req.NumSegments
	n := req.Sampling.orDefault(DefaultImageNumSamples)
	k, width, sel := req.SurrogateFit.resolve(p, p, DefaultImageKernelWidth)
	fill := req.Fill
	if fill.Pix == nil {
		var err error
		if fill, err = sampler.SegmentMeanFill(req.Image, req.Segments, p); err != nil {
			return nil, &RequestError{Field: "segments", Reason: err.Error()}
		}
	}

	keep := make([]bool, p)
	data := ImageMasks(n, p, req.Seed)
	scores, err := scoreMasked(ctx, m, n, len(req.Image.Pix), req.BatchRows, func(row []float64, i int) ([]float64, error) {
		for j, v := range data[i] {
			keep[j] = v == 1
		}
		return sampler.MaskImage(row, req.Image, req.Segments, keep, fill)
	})
	if err != nil {
		return nil, fmt.Errorf("explain: lime image: %w", err)
	}
	classes := len(scores[0])
	labels, err := req.Targets.pick(scores[0])
	if err != nil {
		return nil, err
	}
	weights := KernelWeights(nil, CosineDistancesToOnes(nil, data), width)
	fit, err := newNeighborhood(data, weights, ctx.Err)
	if err != nil {
		return nil, fmt.Errorf("explain: lime image: %w", err)
	}
	res := &Result{
		Method:         "lime_image",
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
			if len(row) != classes {
				return nil, fmt.Errorf("explain: model returned %d scores in row %d, %d in row 0", len(row), i, classes)
			}
			target[i] = row[label]
		}
		s, err := fit.fitLabel(ctx.Err, target, k, sel, req.Surrogate)
		if err != nil {
			return nil, limeFitErr("lime image", label, err)
		}
		lr := LabelResult{
			Label: label, Prediction: scores[0][label],
			Intercept: s.Intercept, Score: s.Score, LocalPrediction: s.LocalPred,
		}
		lr.Attributions = rankedAttributions(s, func(f int) string { return fmt.Sprintf("segment %d", f) })
		res.Labels = append(res.Labels, lr)
	}
	return res, nil
}

// ImageMasks returns lime's image neighbourhood: n binary rows of p segment
// switches, row 0 all ones, every other value 0 or 1 with probability ½,
// drawn from a PCG generator seeded with seed (the same seed gives the same
// rows).
func ImageMasks(n, p int, seed uint64) [][]float64 {
	rng := rand.New(rand.NewPCG(seed, imageSeedStream))
	flat := make([]float64, n*p)
	data := make([][]float64, n)
	for i := range data {
		data[i] = flat[i*p : (i+1)*p : (i+1)*p]
	}
	for j := range data[0] {
		data[0][j] = 1
	}
	for i := 1; i < n; i++ {
		row := data[i]
		for j := 0; j < p; j += 64 {
			bits := rng.Uint64()
			for b := j; b < min(j+64, p); b++ {
				row[b] = float64(bits & 1)
				bits >>= 1
			}
		}
	}
	return data
}

// CosineDistancesToOnes writes into dst the cosine distance of each binary
// row to the all-ones row, 1 − √(k/p) for a row with k ones of p (1 for an
// all-zero row, as scikit-learn's cosine distance), and returns it; dst is
// reused when its capacity holds len(rows) values.
func CosineDistancesToOnes(dst []float64, rows [][]float64) []float64 {
	if cap(dst) < len(rows) {
		dst = make([]float64, len(rows))
	}
	dst = dst[:len(rows)]
	for i, row := range rows {
		var ones float64
		for _, v := range row {
			ones += v
		}
		dst[i] = 1
		if ones > 0 {
			dst[i] = 1 - math.Sqrt(ones/float64(len(row)))
		}
	}
	return dst
}

func (req *LIMEImageRequest) validate() error {
	img := req.Image
	if err := img.Validate(); err != nil {
		return &RequestError{Field: "image", Reason: err.Error()}
	}
	switch {
	case req.NumSegments < 1 || req.NumSegments > maxImageSegmentsPerModel:
		return invalid("num_segments", "%d is outside [1, %d]", req.NumSegments, maxImageSegmentsPerModel)
	case len(req.Segments) != img.H*img.W:
		return invalid("segments", "has %d labels for %d pixels", len(req.Segments), img.H*img.W)
	case req.BatchRows < 0:
		return invalid("batch_rows", "must not be negative")
	}
	for _, s := range req.Segments {
		if s < 0 || s >= req.NumSegments {
			return invalid("segments", "label outside [0, %d)", req.NumSegments)
		}
	}
	if req.Fill.Pix != nil {
		f := req.Fill
		if f.H != img.H || f.W != img.W || f.C != img.C {
			return invalid("fill", "shape %dx%dx%d differs from the image's %dx%dx%d", f.H, f.W, f.C, img.H, img.W, img.C)
		}
		if err := f.Validate(); err != nil {
			return &RequestError{Field: "fill", Reason: err.Error()}
		}
	}
	if err := req.Sampling.Validate(limeMinSamples); err != nil {
		return err
	}
	if err := req.SurrogateFit.Validate(); err != nil {
		return err
	}
	return req.Targets.Validate(0)
}

// scoreMasked scores n inputs of size values, built by build(row, i) into
// reused rows, batch inputs a call (0: MaxBatchValues / (2·size)), and
// returns their scores in order. Two calls are in flight: the next call's
// inputs are built while the model answers the one before, so that neither
// the model (with its own batching) nor the building waits for the other.
// A failed call cancels the other; scoreMasked returns only once no call of
// its own is running, so the caller's buffers are free again.
func scoreMasked(ctx context.Context, m Model, n, size, batch int, build func(row []float64, i int) ([]float64, error)) ([][]float64, error) {
	if batch <= 0 {
		batch = max(1, MaxBatchValues/(2*size))
	}
	batch = min(batch, n)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type call struct {
		start  int
		scores [][]float64
		err    error
		done   chan struct{}
	}
	take := func(c *call, into [][]float64) ([][]float64, error) {
		<-c.done
		if c.err != nil {
			return nil, c.err
		}
		return append(into, c.scores...), nil
	}
	var (
		bufs     [2][][]float64
		inFlight *call
		err      error
	)
	scores := make([][]float64, 0, n)
	defer func() {
		if inFlight != nil { // an error ended the loop: wait out the call
			cancel()
			<-inFlight.done
		}
	}()
	for k, start := 0, 0; start < n; k, start = k+1, start+batch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		end := min(start+batch, n)
		rows := bufs[k%2]
		if rows == nil {
			rows = make([][]float64, batch)
			bufs[k%2] = rows
		}
		rows = rows[:end-start]
		for i := range rows {
			if rows[i], err = build(rows[i], start+i); err != nil {
				return nil, err
			}
		}
		c := &call{start: start, done: make(chan struct{})}
		go func() {
			defer close(c.done)
			c.err = group.Do(func() error {
				got, err := m.Predict(ctx, rows)
				if err == nil && len(got) != len(rows) {
					err = fmt.Errorf("model returned %d rows for %d samples", len(got), len(rows))
				}
				c.scores = got
				return err
			})
		}()
		if inFlight != nil {
			prev := inFlight
			inFlight = c
			if scores, err = take(prev, scores); err != nil {
				return nil, err
			}
			continue
		}
		inFlight = c
	}
	last := inFlight
	inFlight = nil
	return take(last, scores)
}
