package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/explainer-sidecar/explainer/internal/table"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// maxImagePixels is the sidecar's limit on height × width.
const maxImagePixels = 4194304

// imageFlags are explain's image flags (-method lime with -image, and
// -method occlusion).
type imageFlags struct {
	image        string   // PNG or JSON file
	images       []string // every -image given (several: a batch job)
	imageLayout  string   // layout of a JSON file's nested arrays
	layout       string   // layout the model takes
	segmentation string
	fill         string
	window       string
	stride       string
	baseline     float64
}

func (f *imageFlags) register(fs *flag.FlagSet) {
	fs.Var(imageList{&f.image, &f.images}, "image", `lime, kernelshap, occlusion: explain this image (several -image of one size: every one in one batch job), a PNG (RGB values 0..255, alpha dropped) or the image JSON, {"height": H, "width": W, "channels": C, "layout": "IMAGE_LAYOUT_CHW", "values": [...]} (the API's ImageInstance; JSON nested arrays are read too, see -image-layout)`)
	fs.StringVar(&f.imageLayout, "image-layout", "hwc", "with a -image of JSON nested arrays: their order, hwc ([H][W][C]) or chw ([C][H][W])")
	fs.StringVar(&f.layout, "layout", "chw", "with -image: the layout the model takes, chw (PyTorch models on Triton) or hwc; the values are sent in it")
	fs.StringVar(&f.segmentation, "segmentation", "grid:4", "lime, kernelshap with -image: grid:R,C (R×C cells), grid:N (N×N) or slic:N[,compactness] (about N superpixels)")
	fs.StringVar(&f.fill, "fill", "segment-mean", "lime, kernelshap with -image: what hidden segments show: segment-mean, mean, a number (or constant:V), or blur[:SIGMA]")
	fs.StringVar(&f.window, "window", "", "occlusion: window H,W (or N for N×N) in pixels (default: the sidecar's, 16,16)")
	fs.StringVar(&f.stride, "stride", "", "occlusion: strides H,W (or N) in pixels (default: the window, no overlap)")
	fs.Float64Var(&f.baseline, "baseline", 0, "occlusion: the value occluded pixels take")
}

// hwcImage is an image's values in HWC order.
type hwcImage struct {
	h, w, c int
	values  []float32 // values[(y·w + x)·c + ch]
}

func (im *hwcImage) check() error {
	switch {
	case im.h < 1 || im.w < 1:
		return errors.New("the image is empty")
	case im.h*im.w > maxImagePixels:
		return fmt.Errorf("the image has %d×%d pixels, more than %d", im.h, im.w, maxImagePixels)
	case im.c < 1 || im.c > 4:
		return fmt.Errorf("the image has %d channels: want 1 to 4", im.c)
	}
	for _, v := range im.values {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return errors.New("the image has a value that is not finite")
		}
	}
	return nil
}

// readImage reads -image: a PNG (by its signature), the image JSON (an
// object: the API's ImageInstance in protojson), or JSON nested arrays.
func readImage(path, layout string) (*hwcImage, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("-image: %w", err)
	}
	var im *hwcImage
	switch {
	case bytes.HasPrefix(raw, []byte("\x89PNG\r\n\x1a\n")):
		im, err = decodePNGImage(raw)
	case bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")):
		im, err = parseImageInstance(raw)
	default:
		im, err = parseJSONImage(raw, layout)
	}
	if err == nil {
		err = im.check()
	}
	if err != nil {
		return nil, fmt.Errorf("-image %s: %w", path, err)
	}
	return im, nil
}

// decodePNGImage gives a PNG's RGB values, 0..255, alpha dropped.
func decodePNGImage(raw []byte) (*hwcImage, error) {
	src, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	b := src.Bounds()
	if b.Dx()*b.Dy() > maxImagePixels {
		return nil, fmt.Errorf("%d×%d pixels, more than %d", b.Dy(), b.Dx(), maxImagePixels)
	}
	im := &hwcImage{h: b.Dy(), w: b.Dx(), c: 3, values: make([]float32, 0, b.Dx()*b.Dy()*3)}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			// Non-premultiplied, so a translucent pixel keeps its colour.
			c := nrgbaAt(src, x, y)
			im.values = append(im.values, float32(c.R), float32(c.G), float32(c.B))
		}
	}
	return im, nil
}

func nrgbaAt(src image.Image, x, y int) struct{ R, G, B uint8 } {
	r, g, b, a := src.At(x, y).RGBA()
	if a == 0 {
		return struct{ R, G, B uint8 }{}
	}
	if a != 0xffff {
		r, g, b = r*0xffff/a, g*0xffff/a, b*0xffff/a
	}
	return struct{ R, G, B uint8 }{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8)}
}

// parseImageInstance reads the image JSON that the CLI, the Go client
// (examples/go/client) and the Python client (examples/python/client.py)
// share: an explainer.v1.ImageInstance in protojson,
//
//	{"height": 8, "width": 8, "channels": 1, "layout": "IMAGE_LAYOUT_CHW", "values": [0, 0.3125, ...]}
//
// with height × width × channels values in the layout's order (HWC when
// the layout is left out).
func parseImageInstance(raw []byte) (*hwcImage, error) {
	inst := &explainerv1.ImageInstance{}
	if err := protojson.Unmarshal(raw, inst); err != nil {
		return nil, fmt.Errorf(`want an ImageInstance as JSON, {"height": H, "width": W, "channels": C, "layout": "IMAGE_LAYOUT_CHW" or "IMAGE_LAYOUT_HWC", "values": [...]}: %w`, err)
	}
	if uint64(inst.GetHeight())*uint64(inst.GetWidth()) > maxImagePixels {
		return nil, fmt.Errorf("%d×%d pixels, more than %d", inst.GetHeight(), inst.GetWidth(), maxImagePixels)
	}
	return instanceHWC(inst)
}

// parseJSONImage reads nested arrays [H][W][C] (hwc) or [C][H][W] (chw).
func parseJSONImage(raw []byte, layout string) (*hwcImage, error) {
	if layout != "hwc" && layout != "chw" {
		return nil, fmt.Errorf("-image-layout %q: want hwc or chw", layout)
	}
	var a [][][]float64
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, fmt.Errorf("want a PNG or a JSON array of arrays of arrays of numbers (%s): %w", layout, err)
	}
	d0 := len(a)
	if d0 == 0 || len(a[0]) == 0 || len(a[0][0]) == 0 {
		return nil, errors.New("the JSON image is empty")
	}
	d1, d2 := len(a[0]), len(a[0][0])
	for i := range a {
		if len(a[i]) != d1 {
			return nil, fmt.Errorf("the JSON image is ragged: [%d] has %d entries, [0] has %d", i, len(a[i]), d1)
		}
		for j := range a[i] {
			if len(a[i][j]) != d2 {
				return nil, fmt.Errorf("the JSON image is ragged: [%d][%d] has %d entries, [0][0] has %d", i, j, len(a[i][j]), d2)
			}
		}
	}
	im := &hwcImage{h: d0, w: d1, c: d2}
	if layout == "chw" {
		im.c, im.h, im.w = d0, d1, d2
	}
	if im.c < 1 || im.c > 4 {
		return nil, fmt.Errorf("%d channels in %s order: want 1 to 4 (is -image-layout right?)", im.c, layout)
	}
	if im.h*im.w > maxImagePixels {
		return nil, fmt.Errorf("%d×%d pixels, more than %d", im.h, im.w, maxImagePixels)
	}
	im.values = make([]float32, im.h*im.w*im.c)
	for i := range a {
		for j := range a[i] {
			for k, v := range a[i][j] {
				if layout == "hwc" {
					im.values[(i*im.w+j)*im.c+k] = float32(v)
				} else {
					im.values[(j*im.w+k)*im.c+i] = float32(v)
				}
			}
		}
	}
	return im, nil
}

// toCHW returns HWC values in CHW order.
func toCHW(values []float32, h, w, c int) []float32 {
	out := make([]float32, len(values))
	for y := range h {
		for x := range w {
			for ch := range c {
				out[(ch*h+y)*w+x] = values[(y*w+x)*c+ch]
			}
		}
	}
	return out
}

// toHWC returns CHW values in HWC order.
func toHWC(values []float32, h, w, c int) []float32 {
	out := make([]float32, len(values))
	for ch := range c {
		for y := range h {
			for x := range w {
				out[(y*w+x)*c+ch] = values[(ch*h+y)*w+x]
			}
		}
	}
	return out
}

// instance builds the ImageInstance in the model's layout (-layout).
func (im *hwcImage) instance(layout string) (*explainerv1.ImageInstance, error) {
	inst := &explainerv1.ImageInstance{Height: uint32(im.h), Width: uint32(im.w), Channels: uint32(im.c)}
	switch layout {
	case "hwc":
		inst.Layout = explainerv1.ImageLayout_IMAGE_LAYOUT_HWC
		inst.Values = im.values
	case "chw":
		inst.Layout = explainerv1.ImageLayout_IMAGE_LAYOUT_CHW
		inst.Values = toCHW(im.values, im.h, im.w, im.c)
	default:
		return nil, fmt.Errorf("-layout %q: want chw or hwc", layout)
	}
	return inst, nil
}

// instanceHWC gives an ImageInstance's values back in HWC order.
func instanceHWC(inst *explainerv1.ImageInstance) (*hwcImage, error) {
	im := &hwcImage{h: int(inst.GetHeight()), w: int(inst.GetWidth()), c: int(inst.GetChannels())}
	if im.h*im.w*im.c != len(inst.GetValues()) || im.h < 1 || im.w < 1 || im.c < 1 {
		return nil, fmt.Errorf("the image is %d×%d×%d but has %d values", im.h, im.w, im.c, len(inst.GetValues()))
	}
	im.values = inst.GetValues()
	if inst.GetLayout() == explainerv1.ImageLayout_IMAGE_LAYOUT_CHW {
		im.values = toHWC(im.values, im.h, im.w, im.c)
	}
	return im, nil
}

// parsePair parses "A,B", "AxB" or "N" (N,N) as two positive integers.
func parsePair(flagName, s, what string) ([]uint32, error) {
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == 'x' || r == '×' })
	bad := fmt.Errorf("%s %q: want %s as H,W, HxW or N (N×N), positive integers", flagName, s, what)
	if len(parts) > 2 {
		return nil, bad
	}
	out := make([]uint32, 0, 2)
	for _, p := range parts {
		n, err := strconv.ParseUint(strings.TrimSpace(p), 10, 32)
		if err != nil || n == 0 {
			return nil, bad
		}
		out = append(out, uint32(n))
	}
	if len(out) == 1 {
		out = append(out, out[0])
	}
	return out, nil
}

// parseSegmentation parses -segmentation.
func parseSegmentation(s string) (*explainerv1.Segmentation, error) {
	kind, arg, _ := strings.Cut(strings.TrimSpace(s), ":")
	bad := func(why string) error {
		return fmt.Errorf("-segmentation %q: %s; want grid:R,C, grid:N (N×N) or slic:N[,compactness]", s, why)
	}
	switch kind {
	case "grid":
		rc, err := parsePair("-segmentation", arg, "the grid")
		if err != nil {
			return nil, bad("the grid's rows and columns must be positive integers")
		}
		return &explainerv1.Segmentation{Kind: &explainerv1.Segmentation_Grid{Grid: &explainerv1.GridSegmentation{Rows: rc[0], Cols: rc[1]}}}, nil
	case "slic":
		nStr, cStr, hasC := strings.Cut(arg, ",")
		n, err := strconv.ParseUint(strings.TrimSpace(nStr), 10, 32)
		if err != nil || n == 0 {
			return nil, bad("the number of segments must be a positive integer")
		}
		slic := &explainerv1.SlicSegmentation{NumSegments: uint32(n)}
		if hasC {
			c, err := strconv.ParseFloat(strings.TrimSpace(cStr), 64)
			if err != nil || !(c > 0) || math.IsInf(c, 0) {
				return nil, bad("the compactness must be a positive number")
			}
			slic.Compactness = c
		}
		return &explainerv1.Segmentation{Kind: &explainerv1.Segmentation_Slic{Slic: slic}}, nil
	}
	return nil, bad("unknown kind")
}

// parseFill parses -fill.
func parseFill(s string) (*explainerv1.Fill, error) {
	if v, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil && !math.IsNaN(v) && !math.IsInf(v, 0) {
		return &explainerv1.Fill{Kind: explainerv1.FillKind_FILL_KIND_CONSTANT, Value: v}, nil // "-fill 0"
	}
	kind, arg, hasArg := strings.Cut(strings.TrimSpace(s), ":")
	bad := func(why string) error {
		return fmt.Errorf("-fill %q: %s; want segment-mean, mean, a number V (constant:V), or blur:SIGMA", s, why)
	}
	number := func() (float64, error) {
		v, err := strconv.ParseFloat(strings.TrimSpace(arg), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, bad("the value must be a finite number")
		}
		return v, nil
	}
	switch kind {
	case "segment-mean", "mean":
		if hasArg {
			return nil, bad(kind + " takes no value")
		}
		k := explainerv1.FillKind_FILL_KIND_SEGMENT_MEAN
		if kind == "mean" {
			k = explainerv1.FillKind_FILL_KIND_MEAN
		}
		return &explainerv1.Fill{Kind: k}, nil
	case "constant":
		if !hasArg {
			return nil, bad("constant needs a value")
		}
		v, err := number()
		if err != nil {
			return nil, err
		}
		return &explainerv1.Fill{Kind: explainerv1.FillKind_FILL_KIND_CONSTANT, Value: v}, nil
	case "blur":
		fill := &explainerv1.Fill{Kind: explainerv1.FillKind_FILL_KIND_BLUR}
		if hasArg {
			v, err := number()
			if err != nil {
				return nil, err
			}
			if v <= 0 {
				return nil, bad("the blur's sigma must be positive")
			}
			fill.Value = v
		}
		return fill, nil
	}
	return nil, bad("unknown kind")
}

// imageRequest builds a lime_image (-method lime) or occlusion request.
func (f *explainFlags) imageRequest() (*explainerv1.ExplainRequest, error) {
	if f.image == "" {
		return nil, fmt.Errorf("-image is required for -method %s: a PNG or a JSON file", f.method)
	}
	switch {
	case f.text != "":
		return nil, errors.New("give -text or -image, not both")
	case f.instance != "" || f.instanceFile != "":
		return nil, errors.New("give -instance/-instance-file or -image, not both")
	}
	req := &explainerv1.ExplainRequest{Model: f.model}
	labels, err := parseIndices("-labels", f.labels)
	if err != nil {
		return nil, err
	}
	if err := f.imageOptions(req, labels); err != nil {
		return nil, err
	}
	im, err := readImage(f.image, f.imageLayout)
	if err != nil {
		return nil, err
	}
	inst, err := im.instance(f.layout)
	if err != nil {
		return nil, err
	}
	req.Instance = &explainerv1.Instance{Kind: &explainerv1.Instance_Image{Image: inst}}
	return req, nil
}

// imageOptions parses the method's flags into req.Method.
func (f *explainFlags) imageOptions(req *explainerv1.ExplainRequest, labels []uint32) error {
	var err error
	if f.layout != "chw" && f.layout != "hwc" {
		return fmt.Errorf("-layout %q: want chw or hwc", f.layout)
	}
	if f.method == "occlusion" {
		if f.topLabels != 0 {
			return errors.New("-top-labels does not apply to occlusion: give -labels")
		}
		o := &explainerv1.OcclusionOptions{Baseline: f.baseline, Labels: labels}
		if math.IsNaN(f.baseline) || math.IsInf(f.baseline, 0) {
			return fmt.Errorf("-baseline %v: want a finite number", f.baseline)
		}
		if f.window != "" {
			if o.Window, err = parsePair("-window", f.window, "the window"); err != nil {
				return err
			}
		}
		if f.stride != "" {
			if o.Strides, err = parsePair("-stride", f.stride, "the strides"); err != nil {
				return err
			}
		}
		req.Method = &explainerv1.ExplainRequest_Occlusion{Occlusion: o}
		return nil
	}
	if f.method == "kernelshap" {
		o, err := f.kernelSHAPOptions(labels)
		if err != nil {
			return err
		}
		if o.Segmentation, err = parseSegmentation(f.segmentation); err != nil {
			return err
		}
		if o.Fill, err = parseFill(f.fill); err != nil {
			return err
		}
		req.Method = &explainerv1.ExplainRequest_KernelShap{KernelShap: o}
		return nil
	}
	sel, err := f.featureSelection()
	if err != nil {
		return err
	}
	o := &explainerv1.LimeImageOptions{
		NumSamples:       uint32(f.numSamples),
		FeatureSelection: sel,
		KernelWidth:      f.kernelWidth,
		Labels:           labels,
		TopLabels:        uint32(f.topLabels),
		Seed:             f.seedOption(),
	}
	if f.numFeaturesSet { // default: every segment
		o.NumFeatures = uint32(f.numFeatures)
	}
	if o.Segmentation, err = parseSegmentation(f.segmentation); err != nil {
		return err
	}
	if o.Fill, err = parseFill(f.fill); err != nil {
		return err
	}
	req.Method = &explainerv1.ExplainRequest_LimeImage{LimeImage: o}
	return nil
}

// segmentNames names lime_image's attributions "segment i (n px)" where
// the sidecar left the name empty, with each segment's pixel count.
func segmentNames(attrs []*explainerv1.Attribution, seg *explainerv1.SegmentMap) []*explainerv1.Attribution {
	pixels := map[uint32]int{}
	for _, s := range seg.GetLabels() {
		pixels[s]++
	}
	out := make([]*explainerv1.Attribution, len(attrs))
	for i, a := range attrs {
		name := a.GetFeature()
		if name == "" {
			name = fmt.Sprintf("segment %d", a.GetIndex())
		}
		if n, ok := pixels[a.GetIndex()]; ok {
			name += fmt.Sprintf(" (%d px)", n)
		}
		out[i] = &explainerv1.Attribution{Index: a.GetIndex(), Feature: name, Weight: a.GetWeight(), StdError: a.GetStdError()}
	}
	return out
}

// occlusionCells is the most rows (and columns) of the coarse summary.
const occlusionCells = 8

// writeOcclusion summarises each label's attribution map: its extremes
// and where they are, and the mean attribution over a coarse grid.
func writeOcclusion(w io.Writer, exp *explainerv1.Explanation) {
	if total := exp.GetBandsTotal(); total > 0 && exp.GetBandsDone() < total {
		fmt.Fprintf(w, "\npartial: %d of %d bands done; the maps are final above the unfinished bands\n", exp.GetBandsDone(), total)
	}
	names := map[uint32]string{}
	for _, l := range exp.GetLabels() {
		names[l.GetLabel()] = l.GetClassName()
	}
	for _, m := range exp.GetMaps() {
		h, wd, vals := int(m.GetHeight()), int(m.GetWidth()), m.GetValues()
		name := names[m.GetLabel()]
		if name == "" && int(m.GetLabel()) < len(exp.GetClassNames()) {
			name = exp.GetClassNames()[m.GetLabel()]
		}
		if name == "" {
			name = fmt.Sprintf("class %d", m.GetLabel())
		}
		fmt.Fprintf(w, "\nlabel %d (%s): score(image) − score(occluded), per pixel summed over channels\n", m.GetLabel(), name)
		if h < 1 || wd < 1 || len(vals) != h*wd {
			fmt.Fprintf(w, "  (the map is %d×%d with %d values)\n", h, wd, len(vals))
			continue
		}
		hi, lo, sum := 0, 0, 0.0
		for i, v := range vals {
			if v > vals[hi] {
				hi = i
			}
			if v < vals[lo] {
				lo = i
			}
			sum += v
		}
		fmt.Fprintf(w, "  max %+.4g at row %d, col %d · min %+.4g at row %d, col %d · sum %+.4g over %d×%d pixels\n",
			vals[hi], hi/wd, hi%wd, vals[lo], lo/wd, lo%wd, sum, h, wd)
		rows, cols := min(occlusionCells, h), min(occlusionCells, wd)
		fmt.Fprintf(w, "  mean per region (%d×%d regions, rows down, columns across):\n", rows, cols)
		means := make([]float64, 0, rows*cols)
		for r := range rows {
			y0, y1 := r*h/rows, (r+1)*h/rows
			for c := range cols {
				x0, x1 := c*wd/cols, (c+1)*wd/cols
				s := 0.0
				for y := y0; y < y1; y++ {
					for x := x0; x < x1; x++ {
						s += vals[y*wd+x]
					}
				}
				means = append(means, s/float64((y1-y0)*(x1-x0)))
			}
		}
		format := table.NumberFormat(means, true)
		right := make([]bool, cols+1)
		for i := range right {
			right[i] = i > 0
		}
		tab := table.Text{Indent: "  ", Right: right}
		header := []string{"rows\\cols"}
		for c := range cols {
			header = append(header, fmt.Sprintf("%d–%d", c*wd/cols, (c+1)*wd/cols-1))
		}
		tab.Row(header...)
		for r := range rows {
			cells := []string{fmt.Sprintf("%d–%d", r*h/rows, (r+1)*h/rows-1)}
			for _, m := range means[r*cols : (r+1)*cols] {
				cells = append(cells, format(m))
			}
			tab.Row(cells...)
		}
		_, _ = tab.WriteTo(w)
	}
}
