package server

import (
	"context"
	"math"
	"slices"
	"sync"

	"github.com/explainer-sidecar/explainer/explain"
	"github.com/explainer-sidecar/explainer/predictor"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
	"github.com/explainer-sidecar/explainer/sampler"
)

// Limits of the image methods, named in the errors that enforce them.
const (
	// MaxImagePixels caps height × width of an image instance.
	MaxImagePixels = 4194304
	// MaxImageChannels caps an image's channels.
	MaxImageChannels = 4
	// MaxSLICSegments caps SLIC's requested segments.
	MaxSLICSegments = 10000
	// MaxSLICIterations caps SLIC's iterations.
	MaxSLICIterations = 100
	// MaxImageSegments caps the segments LIME turns on and off.
	MaxImageSegments = 1 << 16
	// MaxBlurSigma caps the blur fill's sigma, in pixels.
	MaxBlurSigma = 1000
	// Default grid of LIME for images and window of occlusion.
	defaultGridCells       = 4
	defaultOcclusionWindow = 16
	defaultBlurSigma       = 5
)

// parseImage validates the request's image instance and returns it in HWC
// order with its layout (HWC or CHW).
func parseImage(req *explainerv1.ExplainRequest) (sampler.Image, explainerv1.ImageLayout, error) {
	im := req.GetInstance().GetImage()
	if im == nil {
		return sampler.Image{}, 0, invalidArgument("instance.image: required")
	}
	h, w, c := uint64(im.GetHeight()), uint64(im.GetWidth()), uint64(im.GetChannels())
	switch {
	case h == 0:
		return sampler.Image{}, 0, invalidArgument("instance.image.height: must be at least 1")
	case w == 0:
		return sampler.Image{}, 0, invalidArgument("instance.image.width: must be at least 1")
	case c < 1 || c > MaxImageChannels:
		return sampler.Image{}, 0, invalidArgument("instance.image.channels: %d is outside [1, %d]", c, MaxImageChannels)
	case h*w > MaxImagePixels:
		return sampler.Image{}, 0, invalidArgument("instance.image: height × width = %d exceeds limit %d pixels", h*w, MaxImagePixels)
	case uint64(len(im.GetValues())) != h*w*c:
		return sampler.Image{}, 0, invalidArgument("instance.image.values: has %d values, want height × width × channels = %d", len(im.GetValues()), h*w*c)
	}
	layout := im.GetLayout()
	switch layout {
	case explainerv1.ImageLayout_IMAGE_LAYOUT_UNSPECIFIED:
		layout = explainerv1.ImageLayout_IMAGE_LAYOUT_HWC
	case explainerv1.ImageLayout_IMAGE_LAYOUT_HWC, explainerv1.ImageLayout_IMAGE_LAYOUT_CHW:
	default:
		return sampler.Image{}, 0, invalidArgument("instance.image.layout: unknown layout %d", layout)
	}
	vals := make([]float64, len(im.GetValues()))
	for i, v := range im.GetValues() {
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return sampler.Image{}, 0, invalidArgument("instance.image.values[%d]: not finite", i)
		}
		vals[i] = f
	}
	img := sampler.Image{H: int(h), W: int(w), C: int(c), Pix: vals}
	if layout == explainerv1.ImageLayout_IMAGE_LAYOUT_CHW {
		var err error
		if img, err = sampler.ImageFromCHW(int(c), int(h), int(w), vals); err != nil {
			return sampler.Image{}, 0, invalidArgument("instance.image: %v", err)
		}
	}
	return img, layout, nil
}

// imageShape is the model's instance shape for img in layout.
func imageShape(img sampler.Image, layout explainerv1.ImageLayout) []int {
	if layout == explainerv1.ImageLayout_IMAGE_LAYOUT_CHW {
		return []int{img.C, img.H, img.W}
	}
	return []int{img.H, img.W, img.C}
}

// checkImageWidth checks the image against the model's reported input size.
func checkImageWidth(img sampler.Image, info predictor.ModelInfo) error {
	if n := img.H * img.W * img.C; info.NumFeatures > 0 && n != info.NumFeatures {
		return invalidArgument("instance.image: has %d values, the model takes %d", n, info.NumFeatures)
	}
	return nil
}

// parseLIMEImage validates a LIME image request. The image is HWC.
func parseLIMEImage(req *explainerv1.ExplainRequest, img sampler.Image, info predictor.ModelInfo, randomSeed func() uint64) (explain.LIMEImageRequest, error) {
	const field = "lime_image"
	o := req.GetLimeImage()
	var r explain.LIMEImageRequest
	n := int(o.GetNumSamples())
	if n == 0 {
		n = explain.DefaultImageNumSamples
	}
	switch {
	case n < 2 || n > explain.MaxNumSamples:
		return r, invalidArgument("%s.num_samples: %d is outside [2, %d]", field, n, explain.MaxNumSamples)
	}
	sel, err := featureSelection(o.GetFeatureSelection())
	if err != nil {
		return r, err
	}
	if w := o.GetKernelWidth(); w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
		return r, invalidArgument("%s.kernel_width: must be positive and finite", field)
	}
	labels, err := labelsOf(field, o.GetLabels(), info.NumClasses)
	if err != nil {
		return r, err
	}
	if info.NumClasses > 0 && int(o.GetTopLabels()) > info.NumClasses {
		return r, invalidArgument("%s.top_labels: %d exceeds the model's %d classes", field, o.GetTopLabels(), info.NumClasses)
	}
	segments, nseg, err := segment(field, o.GetSegmentation(), img)
	if err != nil {
		return r, err
	}
	if n*nseg > MaxSampleValues {
		return r, invalidArgument("%s.num_samples: %d samples × %d segments exceeds limit %d values; lower num_samples", field, n, nseg, MaxSampleValues)
	}
	fill, err := imageFill(field, o.GetFill(), img)
	if err != nil {
		return r, err
	}
	seed := o.GetSeed()
	if o.Seed == nil {
		seed = randomSeed()
	}
	return explain.LIMEImageRequest{
		Image:        img,
		Segments:     segments,
		NumSegments:  nseg,
		Fill:         fill,
		Sampling:     explain.Sampling{NumSamples: n, Seed: seed},
		SurrogateFit: explain.SurrogateFit{NumFeatures: int(o.GetNumFeatures()), Selection: sel, KernelWidth: o.GetKernelWidth()},
		Targets:      explain.Targets{Labels: labels, TopLabels: int(o.GetTopLabels())},
	}, nil
}

// segment segments img as seg asks (default a 4 × 4 grid).
func segment(field string, seg *explainerv1.Segmentation, img sampler.Image) ([]int, int, error) {
	switch k := seg.GetKind().(type) {
	case nil:
		if seg != nil {
			return nil, 0, invalidArgument("%s.segmentation: set grid or slic", field)
		}
		labels, n := sampler.GridSegments(img.H, img.W, min(defaultGridCells, img.H), min(defaultGridCells, img.W))
		return labels, n, nil
	case *explainerv1.Segmentation_Grid:
		rows, cols := int(k.Grid.GetRows()), int(k.Grid.GetCols())
		switch {
		case rows < 1 || rows > img.H:
			return nil, 0, invalidArgument("%s.segmentation.grid.rows: %d is outside [1, %d]", field, rows, img.H)
		case cols < 1 || cols > img.W:
			return nil, 0, invalidArgument("%s.segmentation.grid.cols: %d is outside [1, %d]", field, cols, img.W)
		case rows*cols > MaxImageSegments:
			return nil, 0, invalidArgument("%s.segmentation.grid: %d cells exceed limit %d", field, rows*cols, MaxImageSegments)
		}
		labels, n := sampler.GridSegments(img.H, img.W, rows, cols)
		return labels, n, nil
	case *explainerv1.Segmentation_Slic:
		s := k.Slic
		ns, comp, iter := int(s.GetNumSegments()), s.GetCompactness(), int(s.GetMaxIterations())
		if ns == 0 {
			ns = sampler.DefaultSLICSegments
		}
		if comp == 0 {
			comp = sampler.DefaultSLICCompactness
		}
		if iter == 0 {
			iter = sampler.DefaultSLICIterations
		}
		switch {
		case ns > MaxSLICSegments:
			return nil, 0, invalidArgument("%s.segmentation.slic.num_segments: %d exceeds limit %d", field, ns, MaxSLICSegments)
		case comp < 0 || math.IsNaN(comp) || math.IsInf(comp, 0):
			return nil, 0, invalidArgument("%s.segmentation.slic.compactness: must be positive and finite", field)
		case iter > MaxSLICIterations:
			return nil, 0, invalidArgument("%s.segmentation.slic.max_iterations: %d exceeds limit %d", field, iter, MaxSLICIterations)
		}
		labels, n := sampler.SLIC(img, ns, comp, iter)
		if n < 1 || n > MaxImageSegments {
			return nil, 0, invalidArgument("%s.segmentation.slic: gave %d segments, want 1 to %d", field, n, MaxImageSegments)
		}
		return labels, n, nil
	}
	return nil, 0, invalidArgument("%s.segmentation: unknown kind", field)
}

// imageFill returns the fill of hidden segments; a zero Image means each
// segment's own mean (LIMEImage's default).
func imageFill(field string, f *explainerv1.Fill, img sampler.Image) (sampler.Image, error) {
	v := f.GetValue()
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return sampler.Image{}, invalidArgument("%s.fill.value: must be finite", field)
	}
	switch f.GetKind() {
	case explainerv1.FillKind_FILL_KIND_UNSPECIFIED, explainerv1.FillKind_FILL_KIND_SEGMENT_MEAN:
		return sampler.Image{}, nil
	case explainerv1.FillKind_FILL_KIND_MEAN:
		return sampler.MeanFill(img), nil
	case explainerv1.FillKind_FILL_KIND_CONSTANT:
		return sampler.ConstantFill(img, v), nil
	case explainerv1.FillKind_FILL_KIND_BLUR:
		if v == 0 {
			v = defaultBlurSigma
		}
		if v < 0 || v > MaxBlurSigma {
			return sampler.Image{}, invalidArgument("%s.fill.value: blur sigma %g is outside (0, %d]", field, v, MaxBlurSigma)
		}
		return sampler.BlurFill(img, v), nil
	}
	return sampler.Image{}, invalidArgument("%s.fill.kind: unknown kind %d", field, f.GetKind())
}

// occlusionJob is a validated occlusion request.
type occlusionJob struct {
	req     explain.OcclusionRequest
	bands   int // window rows: the bands Partial reports
	windows int
}

// parseOcclusion validates an occlusion request. The image is HWC.
func parseOcclusion(req *explainerv1.ExplainRequest, img sampler.Image, info predictor.ModelInfo) (occlusionJob, error) {
	const field = "occlusion"
	o := req.GetOcclusion()
	var j occlusionJob
	dims := [2]int{img.H, img.W}
	window := [2]int{min(defaultOcclusionWindow, img.H), min(defaultOcclusionWindow, img.W)}
	switch ws := o.GetWindow(); len(ws) {
	case 0:
	case 2:
		window = [2]int{int(ws[0]), int(ws[1])}
	default:
		return j, invalidArgument("%s.window: has %d values, want 2 (height, width)", field, len(ws))
	}
	strides := window
	switch ss := o.GetStrides(); len(ss) {
	case 0:
	case 2:
		strides = [2]int{int(ss[0]), int(ss[1])}
	default:
		return j, invalidArgument("%s.strides: has %d values, want 2 (height, width)", field, len(ss))
	}
	windows := 1
	counts := [2]int{}
	for d := range 2 {
		if window[d] < 1 || window[d] > dims[d] {
			return j, invalidArgument("%s.window[%d]: %d is outside [1, %d]", field, d, window[d], dims[d])
		}
		if strides[d] < 1 || strides[d] > dims[d] {
			return j, invalidArgument("%s.strides[%d]: %d is outside [1, %d]", field, d, strides[d], dims[d])
		}
		counts[d] = (dims[d]-window[d])/strides[d] + 1
		windows *= counts[d]
	}
	if windows > explain.MaxOcclusionWindows {
		return j, invalidArgument("%s.strides: %d windows exceed limit %d; enlarge the strides", field, windows, explain.MaxOcclusionWindows)
	}
	b := o.GetBaseline()
	if math.IsNaN(b) || math.IsInf(b, 0) {
		return j, invalidArgument("%s.baseline: must be finite", field)
	}
	labels, err := labelsOf(field, o.GetLabels(), info.NumClasses)
	if err != nil {
		return j, err
	}
	return occlusionJob{
		req: explain.OcclusionRequest{
			Input:    img.Pix,
			Shape:    []int{img.H, img.W, img.C},
			Window:   []int{window[0], window[1], img.C},
			Strides:  []int{strides[0], strides[1], img.C},
			Baseline: b,
			Targets:  labels,
		},
		bands:   counts[0],
		windows: windows,
	}, nil
}

// pixelMaps turns HWC occlusion attributions into per-pixel maps, one per
// target. The window covers every channel, so a pixel's channels all hold
// the same value, the pixel's attribution (the mean over the windows
// covering it of the score's drop): the map holds it once, averaged over
// the channels, rather than C times over.
func pixelMaps(attr, stdErrs [][]float64, targets []int, h, w, c int) []*explainerv1.AttributionMap {
	maps := make([]*explainerv1.AttributionMap, len(attr))
	for t, a := range attr {
		m := &explainerv1.AttributionMap{Height: uint32(h), Width: uint32(w), Values: channelMean(a, c)}
		if t < len(stdErrs) {
			m.StdErrors = channelMean(stdErrs[t], c)
		}
		if t < len(targets) {
			m.Label = uint32(targets[t])
		}
		maps[t] = m
	}
	return maps
}

// channelMean averages each pixel's c channels of an HWC image.
func channelMean(hwc []float64, c int) []float64 {
	out := make([]float64, len(hwc)/c)
	for p := range out {
		var s float64
		for _, v := range hwc[p*c : (p+1)*c] {
			s += v
		}
		out[p] = s / float64(c)
	}
	return out
}

// segmentMap is the proto of a label map.
func segmentMap(segments []int, h, w int) *explainerv1.SegmentMap {
	labels := make([]uint32, len(segments))
	for i, s := range segments {
		labels[i] = uint32(s)
	}
	return &explainerv1.SegmentMap{Height: uint32(h), Width: uint32(w), Labels: labels}
}

// chwModel is the job's model for a CHW image: the estimators build HWC
// rows, the model takes CHW.
type chwModel struct {
	m       explain.Model
	h, w, c int
}

// Predict implements explain.Model, converting each row to CHW.
func (cm chwModel) Predict(ctx context.Context, rows [][]float64) ([][]float64, error) {
	out := make([][]float64, len(rows))
	size := cm.h * cm.w * cm.c
	flat := make([]float64, len(rows)*size)
	for i, r := range rows {
		out[i] = sampler.Image{H: cm.h, W: cm.w, C: cm.c, Pix: r}.CHW(flat[i*size : (i+1)*size : (i+1)*size])
	}
	return cm.m.Predict(ctx, out)
}

// imageModel returns the estimator's view of the job model m for an image
// in layout.
func imageModel(m explain.Model, img sampler.Image, layout explainerv1.ImageLayout) explain.Model {
	if layout == explainerv1.ImageLayout_IMAGE_LAYOUT_CHW {
		return chwModel{m: m, h: img.H, w: img.W, c: img.C}
	}
	return m
}

// instanceRecorder keeps the model's scores for the image itself, so that
// a partial result can name the top label before occlusion returns its
// targets. Occlusion sends the image first, but keeps two calls in flight,
// so the recorder recognises the image by its values (an occluded copy
// equal to it scores the same).
type instanceRecorder struct {
	m     explain.Model
	input []float64
	mu    sync.Mutex
	first []float64
}

// Predict implements explain.Model.
func (r *instanceRecorder) Predict(ctx context.Context, rows [][]float64) ([][]float64, error) {
	out, err := r.m.Predict(ctx, rows)
	if err != nil || len(out) == 0 || !slices.Equal(rows[0], r.input) {
		return out, err
	}
	r.mu.Lock()
	if r.first == nil {
		r.first = append([]float64(nil), out[0]...)
	}
	r.mu.Unlock()
	return out, err
}

// targets resolves occlusion's targets as it does: the labels asked for,
// else the top-scoring class of the image (the first on a tie).
func (r *instanceRecorder) targets(labels []int) []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(labels) > 0 || len(r.first) == 0 {
		return labels
	}
	best := 0
	for i, v := range r.first {
		if v > r.first[best] {
			best = i
		}
	}
	return []int{best}
}
