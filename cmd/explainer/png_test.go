package main

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"path/filepath"
	"strings"
	"testing"

	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// grayInstance is an h×w RGB image of value v in CHW, as sent to models.
func grayInstance(h, w int, v float32) *explainerv1.ImageInstance {
	im := &hwcImage{h: h, w: w, c: 3, values: make([]float32, h*w*3)}
	for i := range im.values {
		im.values[i] = v
	}
	inst, _ := im.instance("chw")
	return inst
}

// limeImageExplanation: a 4×4 image, segment 0 the left half (weight +1),
// segment 1 the right half (−0.5).
func limeImageExplanation() *explainerv1.Explanation {
	seg := &explainerv1.SegmentMap{Height: 4, Width: 4}
	for range 4 {
		seg.Labels = append(seg.Labels, 0, 0, 1, 1)
	}
	return &explainerv1.Explanation{
		Method: "lime_image", Model: "resnet", Segments: seg,
		Labels: []*explainerv1.LabelExplanation{{Label: 2, Prediction: 0.9, Attributions: []*explainerv1.Attribution{
			{Index: 0, Weight: 1, StdError: 0.25}, {Index: 1, Weight: -0.5},
		}}},
	}
}

// occlusionExplanation: a 5×5 map for label 4, max +3 at row 3 col 2,
// min −2 at row 0 col 4, small values elsewhere.
func occlusionExplanation() *explainerv1.Explanation {
	m := &explainerv1.AttributionMap{Label: 4, Height: 5, Width: 5, Values: make([]float64, 25)}
	for i := range m.Values {
		m.Values[i] = 0.1 * float64(i%3)
	}
	m.Values[3*5+2] = 3
	m.Values[0*5+4] = -2
	return &explainerv1.Explanation{
		Method: "occlusion", Model: "resnet", Maps: []*explainerv1.AttributionMap{m},
		Labels: []*explainerv1.LabelExplanation{{Label: 4, ClassName: "cat"}},
	}
}

func renderTestPNG(t *testing.T, exp *explainerv1.Explanation, inst *explainerv1.ImageInstance) (image.Image, figureLayout) {
	t.Helper()
	var buf bytes.Buffer
	if err := writePNG(&buf, exp, inst); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatalf("output is not a PNG: %v", err)
	}
	_, lay, err := imageFigure(exp, inst)
	if err != nil {
		t.Fatal(err)
	}
	return img, lay
}

func rgb(img image.Image, x, y int) (r, g, b int) {
	c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
	return int(c.R), int(c.G), int(c.B)
}

// at is the centre of the image's pixel (x, y) in panel p of the figure.
func at(lay figureLayout, p, x, y int) image.Point {
	r := lay.panels[p]
	return image.Pt(r.Min.X+x*lay.scale+lay.scale/2, r.Min.Y+y*lay.scale+lay.scale/2)
}

func rgbAt(img image.Image, p image.Point) (r, g, b int) { return rgb(img, p.X, p.Y) }

func TestLimeImagePNG(t *testing.T) {
	img, lay := renderTestPNG(t, limeImageExplanation(), grayInstance(4, 4, 100))
	if len(lay.panels) != 2 || lay.scale != 64 {
		t.Fatalf("%d panels at scale %d, want the image and one label, 4 px × 64 = 256", len(lay.panels), lay.scale)
	}
	for _, p := range lay.panels {
		if p.Dx() != 256 || p.Dy() != 256 || !p.In(img.Bounds()) {
			t.Errorf("panel %v in %v, want 256×256 inside", p, img.Bounds())
		}
	}
	// The image alone, untinted.
	if r, g, b := rgbAt(img, at(lay, 0, 3, 3)); r != 100 || g != 100 || b != 100 {
		t.Errorf("the image panel's pixel = (%d,%d,%d), want the grey (100,100,100)", r, g, b)
	}
	// (0,0) is inside segment 0 (positive): greener than the grey original.
	if r, g, b := rgbAt(img, at(lay, 1, 0, 0)); g <= 100 || g <= r || g <= b {
		t.Errorf("positive segment pixel = (%d,%d,%d), want greener than (100,100,100)", r, g, b)
	}
	// (3,2) is inside segment 1 (negative): redder.
	if r, g, b := rgbAt(img, at(lay, 1, 3, 2)); r <= 100 || r <= g || r <= b {
		t.Errorf("negative segment pixel = (%d,%d,%d), want redder than grey", r, g, b)
	}
	// The boundary is the last scaled-up pixel column of image column 1,
	// one pixel wide: the rest of that column is tinted.
	bx := lay.panels[1].Min.X + 2*lay.scale - 1
	for y := lay.panels[1].Min.Y; y < lay.panels[1].Max.Y; y++ {
		if r, g, b := rgb(img, bx, y); r != 255 || g != 255 || b != 0 {
			t.Fatalf("boundary pixel (%d,%d) = (%d,%d,%d), want yellow", bx, y, r, g, b)
		}
	}
	if r, g, b := rgb(img, bx-1, lay.panels[1].Min.Y+5); r == 255 && g == 255 {
		t.Errorf("the boundary is wider than a pixel: (%d,%d,%d)", r, g, b)
	}
	// The stronger weight tints more.
	_, g0, _ := rgbAt(img, at(lay, 1, 0, 0))
	r1, _, _ := rgbAt(img, at(lay, 1, 3, 0))
	if g0-100 <= r1-100 {
		t.Errorf("tint of +1 (%d) not stronger than of −0.5 (%d)", g0-100, r1-100)
	}
	// The legend runs from the colour of +1 at the top to that of −1 at the
	// bottom, through the untinted grey.
	l := lay.legend
	if lay.maxAbs != 1 || l.Dy() < 256 || !l.In(img.Bounds()) {
		t.Fatalf("legend %v for ±%v", l, lay.maxAbs)
	}
	if r, g, b := rgb(img, l.Min.X+4, l.Min.Y); g <= r || g <= b {
		t.Errorf("the legend's top (%d,%d,%d) is not green", r, g, b)
	}
	if r, g, b := rgb(img, l.Min.X+4, l.Max.Y-1); r <= g || r <= b {
		t.Errorf("the legend's bottom (%d,%d,%d) is not red", r, g, b)
	}
	if r, g, b := rgb(img, l.Min.X+4, (l.Min.Y+l.Max.Y)/2); r != g || g != b {
		t.Errorf("the legend's middle (%d,%d,%d) is not grey", r, g, b)
	}
}

// TestDigitPNGIsScaledUp: an 8×8 digit makes a figure whose image panels
// are at least 256 pixels on a side, with a legend.
func TestDigitPNGIsScaledUp(t *testing.T) {
	seg := &explainerv1.SegmentMap{Height: 8, Width: 8, Labels: make([]uint32, 64)}
	for i := range seg.Labels {
		seg.Labels[i] = uint32(i / 32)
	}
	exp := &explainerv1.Explanation{Method: "kernelshap_image", Model: "digits_cnn", Segments: seg, ClassNames: []string{"zero", "one"},
		Labels: []*explainerv1.LabelExplanation{
			{Label: 0, Attributions: []*explainerv1.Attribution{{Index: 0, Weight: 0.2}, {Index: 1, Weight: -0.1}}},
			{Label: 1, Attributions: []*explainerv1.Attribution{{Index: 0, Weight: -0.3}}},
		}}
	inst := &explainerv1.ImageInstance{Height: 8, Width: 8, Channels: 1, Layout: explainerv1.ImageLayout_IMAGE_LAYOUT_CHW, Values: make([]float32, 64)}
	var buf bytes.Buffer
	if err := writePNG(&buf, exp, inst); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() < 3*256 || b.Dy() < 256 {
		t.Errorf("an 8×8 digit with two labels drew %v, want three panels of at least 256×256", b)
	}
	_, lay, _ := imageFigure(exp, inst)
	if len(lay.panels) != 3 || lay.panels[1].Dx() < 256 || lay.panels[1].Dy() < 256 || lay.maxAbs != 0.3 {
		t.Errorf("layout %+v", lay)
	}
}

func TestOcclusionPNG(t *testing.T) {
	img, lay := renderTestPNG(t, occlusionExplanation(), grayInstance(5, 5, 128))
	if lay.scale != 52 {
		t.Errorf("scale %d, want 52 (5 × 52 ≥ 256)", lay.scale)
	}
	best, bestX, bestY := -1000, -1, -1
	for y := range 5 {
		for x := range 5 {
			r, g, b := rgbAt(img, at(lay, 1, x, y))
			if s := g - (r+b)/2; s > best {
				best, bestX, bestY = s, x, y
			}
		}
	}
	if bestX != 2 || bestY != 3 {
		t.Errorf("strongest heat at (%d,%d), want the map's max at col 2, row 3", bestX, bestY)
	}
	if r, g, b := rgbAt(img, at(lay, 1, 4, 0)); r <= g || r <= b {
		t.Errorf("the negative pixel is (%d,%d,%d), want red", r, g, b)
	}
}

func TestPNGKeepsColoursAndChecksShapes(t *testing.T) {
	// A pure red 0..1 image in CHW: untinted pixels stay red.
	inst := &explainerv1.ImageInstance{Height: 4, Width: 4, Channels: 3, Layout: explainerv1.ImageLayout_IMAGE_LAYOUT_CHW, Values: make([]float32, 48)}
	for i := range 16 {
		inst.Values[i] = 1 // channel 0
	}
	exp := limeImageExplanation()
	exp.Labels[0].Attributions = exp.Labels[0].Attributions[:1] // segment 1 unweighted
	img, lay := renderTestPNG(t, exp, inst)
	if r, g, b := rgbAt(img, at(lay, 1, 3, 3)); r != 255 || g != 0 || b != 0 {
		t.Errorf("untinted pixel = (%d,%d,%d), want red (255,0,0)", r, g, b)
	}
	var buf bytes.Buffer
	if err := writePNG(&buf, limeImageExplanation(), grayInstance(3, 4, 0)); err == nil {
		t.Error("a segment map of another size was accepted")
	}
	if err := writePNG(&buf, &explainerv1.Explanation{Method: "lime"}, grayInstance(3, 4, 0)); err == nil {
		t.Error("a tabular explanation was drawn over an image")
	}
	if err := writePNG(&buf, &explainerv1.Explanation{Method: "occlusion"}, grayInstance(3, 4, 0)); err == nil {
		t.Error("an occlusion without maps was drawn")
	}
	if err := writeExplanationPNG(&buf, occlusionExplanation(), view{top: 10}); err == nil || !strings.Contains(err.Error(), "give -image") {
		t.Errorf("an occlusion map without its image: %v", err)
	}
	path := filepath.Join(t.TempDir(), "out.png")
	if err := writePNGFile(path, occlusionExplanation(), view{image: grayInstance(5, 5, 10), top: 10}); err != nil {
		t.Fatal(err)
	}
}
