package main

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"path/filepath"
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

func renderTestPNG(t *testing.T, exp *explainerv1.Explanation, inst *explainerv1.ImageInstance) image.Image {
	t.Helper()
	var buf bytes.Buffer
	if err := writePNG(&buf, exp, inst); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatalf("output is not a PNG: %v", err)
	}
	return img
}

func rgb(img image.Image, x, y int) (r, g, b int) {
	c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
	return int(c.R), int(c.G), int(c.B)
}

func TestLimeImagePNG(t *testing.T) {
	img := renderTestPNG(t, limeImageExplanation(), grayInstance(4, 4, 100))
	if b := img.Bounds(); b.Dx() != 4 || b.Dy() != 4 {
		t.Fatalf("bounds %v", b)
	}
	// (0,0) is inside segment 0 (positive): greener than the grey original.
	if r, g, b := rgb(img, 0, 0); g <= 100 || g <= r || g <= b {
		t.Errorf("positive segment pixel = (%d,%d,%d), want greener than (100,100,100)", r, g, b)
	}
	// (3,2) is inside segment 1 (negative): redder.
	if r, g, b := rgb(img, 3, 2); r <= 100 || r <= g || r <= b {
		t.Errorf("negative segment pixel = (%d,%d,%d), want redder than grey", r, g, b)
	}
	// Column 1 borders segment 1: the boundary is drawn.
	for y := range 4 {
		if r, g, b := rgb(img, 1, y); r != 255 || g != 255 || b != 0 {
			t.Errorf("boundary pixel (1,%d) = (%d,%d,%d), want yellow", y, r, g, b)
		}
	}
	// The stronger weight tints more.
	_, g0, _ := rgb(img, 0, 0)
	r1, _, _ := rgb(img, 3, 0)
	if g0-100 <= r1-100 {
		t.Errorf("tint of +1 (%d) not stronger than of −0.5 (%d)", g0-100, r1-100)
	}
}

func TestOcclusionPNG(t *testing.T) {
	img := renderTestPNG(t, occlusionExplanation(), grayInstance(5, 5, 128))
	best, bestX, bestY := -1000, -1, -1
	for y := range 5 {
		for x := range 5 {
			r, g, b := rgb(img, x, y)
			if s := g - (r+b)/2; s > best {
				best, bestX, bestY = s, x, y
			}
		}
	}
	if bestX != 2 || bestY != 3 {
		t.Errorf("strongest heat at (%d,%d), want the map's max at col 2, row 3", bestX, bestY)
	}
	if r, g, b := rgb(img, 4, 0); r <= g || r <= b {
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
	img := renderTestPNG(t, exp, inst)
	if r, g, b := rgb(img, 3, 3); r != 255 || g != 0 || b != 0 {
		t.Errorf("untinted pixel = (%d,%d,%d), want red (255,0,0)", r, g, b)
	}
	var buf bytes.Buffer
	if err := writePNG(&buf, limeImageExplanation(), grayInstance(3, 4, 0)); err == nil {
		t.Error("a segment map of another size was accepted")
	}
	if err := writePNG(&buf, &explainerv1.Explanation{Method: "lime"}, grayInstance(3, 4, 0)); err == nil {
		t.Error("a tabular explanation was drawn")
	}
	if err := writePNG(&buf, &explainerv1.Explanation{Method: "occlusion"}, grayInstance(3, 4, 0)); err == nil {
		t.Error("an occlusion without maps was drawn")
	}
	path := filepath.Join(t.TempDir(), "out.png")
	if err := writePNGFile(path, occlusionExplanation(), grayInstance(5, 5, 10)); err != nil {
		t.Fatal(err)
	}
}
