package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// writeTestPNG writes a 2×3 (H×W) NRGBA PNG, one pixel translucent, and
// returns its path and the expected HWC RGB values.
func writeTestPNG(t *testing.T) (string, []float32) {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 3, 2))
	var want []float32
	for y := range 2 {
		for x := range 3 {
			c := color.NRGBA{R: uint8(10*x + y), G: uint8(100 + x), B: uint8(200 + y), A: 255}
			if x == 1 && y == 1 {
				c.A = 128 // alpha is dropped, the colour kept
			}
			img.SetNRGBA(x, y, c)
			want = append(want, float32(c.R), float32(c.G), float32(c.B))
		}
	}
	path := filepath.Join(t.TempDir(), "in.png")
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, want
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadPNGImage(t *testing.T) {
	path, want := writeTestPNG(t)
	im, err := readImage(path, "hwc")
	if err != nil {
		t.Fatal(err)
	}
	if im.h != 2 || im.w != 3 || im.c != 3 {
		t.Fatalf("shape %d×%d×%d, want 2×3×3", im.h, im.w, im.c)
	}
	if !slices.Equal(im.values, want) {
		t.Fatalf("values\n got %v\nwant %v", im.values, want)
	}
}

func TestReadJSONImageBothLayouts(t *testing.T) {
	// A 2×3 image with 2 channels: value = 100·y + 10·x + c.
	hwc := make([][][]float64, 2)
	chw := make([][][]float64, 2)
	var want []float32
	for y := range 2 {
		hwc[y] = make([][]float64, 3)
		for x := range 3 {
			for c := range 2 {
				v := float64(100*y + 10*x + c)
				hwc[y][x] = append(hwc[y][x], v)
				want = append(want, float32(v))
			}
		}
	}
	for c := range 2 {
		chw[c] = make([][]float64, 2)
		for y := range 2 {
			for x := range 3 {
				chw[c][y] = append(chw[c][y], float64(100*y+10*x+c))
			}
		}
	}
	for layout, nested := range map[string][][][]float64{"hwc": hwc, "chw": chw} {
		raw, _ := json.Marshal(nested)
		im, err := readImage(writeFile(t, "in.json", string(raw)), layout)
		if err != nil {
			t.Fatalf("%s: %v", layout, err)
		}
		if im.h != 2 || im.w != 3 || im.c != 2 || !slices.Equal(im.values, want) {
			t.Fatalf("%s: %d×%d×%d %v, want 2×3×2 %v", layout, im.h, im.w, im.c, im.values, want)
		}
	}
}

// TestReadImageJSON reads the image JSON the CLI shares with the Go and
// Python clients: an ImageInstance in protojson, in either layout.
func TestReadImageJSON(t *testing.T) {
	// A 2×3 image with 2 channels: value = 100·y + 10·x + c.
	var hwc []float32
	for y := range 2 {
		for x := range 3 {
			for c := range 2 {
				hwc = append(hwc, float32(100*y+10*x+c))
			}
		}
	}
	for _, inst := range []*explainerv1.ImageInstance{
		{Height: 2, Width: 3, Channels: 2, Layout: explainerv1.ImageLayout_IMAGE_LAYOUT_CHW, Values: toCHW(hwc, 2, 3, 2)},
		{Height: 2, Width: 3, Channels: 2, Layout: explainerv1.ImageLayout_IMAGE_LAYOUT_HWC, Values: hwc},
		{Height: 2, Width: 3, Channels: 2, Values: hwc}, // the default layout is HWC
	} {
		raw, err := protojson.Marshal(inst)
		if err != nil {
			t.Fatal(err)
		}
		im, err := readImage(writeFile(t, "in.json", "\n  "+string(raw)), "hwc")
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if im.h != 2 || im.w != 3 || im.c != 2 || !slices.Equal(im.values, hwc) {
			t.Errorf("%s: %d×%d×%d %v, want 2×3×2 %v", raw, im.h, im.w, im.c, im.values, hwc)
		}
	}
	// The shape the README writes from Python.
	im, err := readImage(writeFile(t, "in.json", `{"height": 1, "width": 2, "channels": 1, "layout": "IMAGE_LAYOUT_CHW", "values": [0.5, 1]}`), "hwc")
	if err != nil || !slices.Equal(im.values, []float32{0.5, 1}) {
		t.Errorf("README shape: %v, %v", im, err)
	}
	for content, want := range map[string]string{
		`{"height": 1, "width": 2, "channels": 1, "layout": "CHW", "values": [0, 1]}`: `"layout": "IMAGE_LAYOUT_CHW" or "IMAGE_LAYOUT_HWC"`,
		`{"height": 2, "width": 2, "channels": 1, "values": [0, 1]}`:                  "the image is 2×2×1 but has 2 values",
		`{"height": 100000, "width": 100000, "channels": 1, "values": [0]}`:           "more than 4194304",
		`{"height": 1, "width": 1, "channels": 1, "values": [1], "pixels": [1]}`:      "unknown field",
	} {
		if _, err := readImage(writeFile(t, "in.json", content), "hwc"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", content, err, want)
		}
	}
}

func TestReadImageErrors(t *testing.T) {
	tests := []struct{ content, layout, want string }{
		{`[[[1,2],[3]]]`, "hwc", "ragged"},
		{`[[1,2]]`, "hwc", "want a PNG or a JSON array"},
		{`[[[1,2,3,4,5]]]`, "hwc", "5 channels in hwc order: want 1 to 4"},
		{`[[[1]]]`, "whc", `-image-layout "whc": want hwc or chw`},
		{`[]`, "hwc", "empty"},
	}
	for _, tt := range tests {
		_, err := readImage(writeFile(t, "in.json", tt.content), tt.layout)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s (%s): err = %v, want %q", tt.content, tt.layout, err, tt.want)
		}
	}
}

func TestLayoutConversion(t *testing.T) {
	im := &hwcImage{h: 2, w: 3, c: 2}
	for y := range 2 {
		for x := range 3 {
			for c := range 2 {
				im.values = append(im.values, float32(100*y+10*x+c))
			}
		}
	}
	chw := toCHW(im.values, 2, 3, 2)
	for c := range 2 {
		for y := range 2 {
			for x := range 3 {
				if got, want := chw[(c*2+y)*3+x], float32(100*y+10*x+c); got != want {
					t.Fatalf("chw[c=%d,y=%d,x=%d] = %v, want %v", c, y, x, got, want)
				}
			}
		}
	}
	if back := toHWC(chw, 2, 3, 2); !slices.Equal(back, im.values) {
		t.Fatalf("round trip %v, want %v", back, im.values)
	}
	inst, err := im.instance("chw")
	if err != nil {
		t.Fatal(err)
	}
	if inst.GetLayout() != explainerv1.ImageLayout_IMAGE_LAYOUT_CHW || !slices.Equal(inst.GetValues(), chw) ||
		inst.GetHeight() != 2 || inst.GetWidth() != 3 || inst.GetChannels() != 2 {
		t.Fatalf("chw instance %v", inst)
	}
	if inst, _ = im.instance("hwc"); inst.GetLayout() != explainerv1.ImageLayout_IMAGE_LAYOUT_HWC || !slices.Equal(inst.GetValues(), im.values) {
		t.Fatalf("hwc instance %v", inst)
	}
	back, err := instanceHWC(&explainerv1.ImageInstance{Height: 2, Width: 3, Channels: 2, Layout: explainerv1.ImageLayout_IMAGE_LAYOUT_CHW, Values: chw})
	if err != nil || !slices.Equal(back.values, im.values) {
		t.Fatalf("instanceHWC = %v, %v", back, err)
	}
}

func TestImageFlagErrors(t *testing.T) {
	path, _ := writeTestPNG(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-segmentation", "grid:0"}, `-segmentation "grid:0": the grid's rows and columns must be positive integers; want grid:R,C, grid:N (N×N) or slic:N[,compactness]`},
		{[]string{"-segmentation", "grid:2,3,4"}, `-segmentation "grid:2,3,4"`},
		{[]string{"-segmentation", "voronoi:4"}, `-segmentation "voronoi:4": unknown kind`},
		{[]string{"-segmentation", "slic:x"}, "the number of segments must be a positive integer"},
		{[]string{"-segmentation", "slic:50,-1"}, "the compactness must be a positive number"},
		{[]string{"-fill", "zero"}, `-fill "zero": unknown kind; want segment-mean, mean, a number V (constant:V), or blur:SIGMA`},
		{[]string{"-fill", "constant"}, "constant needs a value"},
		{[]string{"-fill", "blur:-2"}, "the blur's sigma must be positive"},
		{[]string{"-layout", "nhwc"}, `-layout "nhwc": want chw or hwc`},
		{[]string{"-method", "occlusion", "-window", "8y8"}, `-window "8y8": want the window as H,W, HxW or N (N×N), positive integers`},
		{[]string{"-method", "occlusion", "-window", "0,4"}, `-window "0,4"`},
		{[]string{"-method", "occlusion", "-stride", "1,2,3"}, `-stride "1,2,3": want the strides`},
		{[]string{"-method", "occlusion", "-top-labels", "2"}, "-top-labels does not apply to occlusion"},
		{[]string{"-method", "sensitivity"}, "-image works with -method lime, kernelshap or occlusion, not sensitivity"},
		{[]string{"-text", "hello"}, "give -text or -image, not both"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, _, err := runCLI(t, append([]string{"explain", "-server", "127.0.0.1:1", "-image", path}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
	for _, args := range [][]string{
		{"explain", "-method", "occlusion"},
	} {
		if _, _, err := runCLI(t, args...); err == nil || !strings.Contains(err.Error(), "-image") {
			t.Errorf("%v: err = %v, want it to mention -image", args, err)
		}
	}
}

func parseExplainFlags(t *testing.T, args ...string) *explainerv1.ExplainRequest {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	var f explainFlags
	f.limeFlags(fs)
	f.imageFlags.register(fs)
	fs.StringVar(&f.method, "method", "lime", "")
	fs.StringVar(&f.model, "model", "", "")
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	fs.Visit(func(fl *flag.Flag) { f.numFeaturesSet = f.numFeaturesSet || fl.Name == "num-features" })
	req, data, err := f.build()
	if err != nil || data != nil {
		t.Fatalf("build: %v (data %v)", err, data)
	}
	return req
}

func TestLimeImageRequest(t *testing.T) {
	path, want := writeTestPNG(t)
	req := parseExplainFlags(t, "-image", path, "-model", "resnet", "-segmentation", "slic:50,20", "-fill", "blur:3",
		"-num-samples", "300", "-labels", "1,7", "-seed", "42", "-feature-selection", "none")
	inst := req.GetInstance().GetImage()
	if inst.GetLayout() != explainerv1.ImageLayout_IMAGE_LAYOUT_CHW || inst.GetHeight() != 2 || inst.GetWidth() != 3 || inst.GetChannels() != 3 ||
		!slices.Equal(inst.GetValues(), toCHW(want, 2, 3, 3)) {
		t.Fatalf("instance %v", inst)
	}
	o := req.GetLimeImage()
	if o == nil || req.GetModel() != "resnet" {
		t.Fatalf("request %v", req)
	}
	if s := o.GetSegmentation().GetSlic(); s.GetNumSegments() != 50 || s.GetCompactness() != 20 {
		t.Errorf("segmentation %v", o.GetSegmentation())
	}
	if o.GetFill().GetKind() != explainerv1.FillKind_FILL_KIND_BLUR || o.GetFill().GetValue() != 3 {
		t.Errorf("fill %v", o.GetFill())
	}
	if o.GetNumSamples() != 300 || o.GetNumFeatures() != 0 || !slices.Equal(o.GetLabels(), []uint32{1, 7}) || o.Seed == nil || *o.Seed != 42 ||
		o.GetFeatureSelection() != explainerv1.FeatureSelection_FEATURE_SELECTION_NONE {
		t.Errorf("options %v", o)
	}

	req = parseExplainFlags(t, "-image", path, "-layout", "hwc", "-num-features", "5")
	o = req.GetLimeImage()
	if g := o.GetSegmentation().GetGrid(); g.GetRows() != 4 || g.GetCols() != 4 {
		t.Errorf("default segmentation %v, want a 4×4 grid", o.GetSegmentation())
	}
	if o.GetFill().GetKind() != explainerv1.FillKind_FILL_KIND_SEGMENT_MEAN || o.GetNumFeatures() != 5 || o.Seed != nil {
		t.Errorf("options %v", o)
	}
	if inst := req.GetInstance().GetImage(); inst.GetLayout() != explainerv1.ImageLayout_IMAGE_LAYOUT_HWC || !slices.Equal(inst.GetValues(), want) {
		t.Errorf("hwc instance %v", inst)
	}

	o = parseExplainFlags(t, "-image", path, "-segmentation", "grid:2,3", "-fill", "constant:-1.5").GetLimeImage()
	if g := o.GetSegmentation().GetGrid(); g.GetRows() != 2 || g.GetCols() != 3 {
		t.Errorf("segmentation %v", o.GetSegmentation())
	}
	if o.GetFill().GetKind() != explainerv1.FillKind_FILL_KIND_CONSTANT || o.GetFill().GetValue() != -1.5 {
		t.Errorf("fill %v", o.GetFill())
	}
	if f := parseExplainFlags(t, "-image", path, "-fill", "mean").GetLimeImage().GetFill(); f.GetKind() != explainerv1.FillKind_FILL_KIND_MEAN {
		t.Errorf("fill %v", f)
	}
}

func TestOcclusionRequest(t *testing.T) {
	path, _ := writeTestPNG(t)
	req := parseExplainFlags(t, "-method", "occlusion", "-image", path, "-window", "8,4", "-stride", "2", "-baseline", "0.5", "-labels", "3")
	o := req.GetOcclusion()
	if o == nil || !slices.Equal(o.GetWindow(), []uint32{8, 4}) || !slices.Equal(o.GetStrides(), []uint32{2, 2}) ||
		o.GetBaseline() != 0.5 || !slices.Equal(o.GetLabels(), []uint32{3}) {
		t.Fatalf("occlusion %v", o)
	}
	if req.GetInstance().GetImage().GetLayout() != explainerv1.ImageLayout_IMAGE_LAYOUT_CHW {
		t.Fatalf("layout %v", req.GetInstance().GetImage().GetLayout())
	}
	o = parseExplainFlags(t, "-method", "occlusion", "-image", path).GetOcclusion()
	if o.GetWindow() != nil || o.GetStrides() != nil {
		t.Fatalf("defaults %v: want the sidecar's", o)
	}
}

func TestImageTableAndJSON(t *testing.T) {
	lime := limeImageExplanation()
	var buf bytes.Buffer
	if err := render(&buf, "table", lime, view{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"lime_image", "segment 0 (8 px)", "segment 1 (8 px)", "+1.000  ± 0.250", "-0.500", "model says 0.9000"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, buf.String())
		}
	}
	occ := occlusionExplanation()
	occ.BandsDone, occ.BandsTotal = 1, 2
	buf.Reset()
	if err := render(&buf, "table", occ, view{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"partial: 1 of 2 bands", "label 4 (cat)", "max +3 at row 3, col 2", "min -2 at row 0, col 4", "mean per region (5×5 regions"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, buf.String())
		}
	}
	buf.Reset()
	if err := render(&buf, "json", occ, view{}); err != nil {
		t.Fatal(err)
	}
	js := decode(t, buf.String())
	if len(js.Maps) != 1 || js.Maps[0].Label != 4 || len(js.Maps[0].Values) != 25 || js.BandsTotal != 2 {
		t.Errorf("json maps %+v", js.Maps)
	}
	buf.Reset()
	if err := render(&buf, "json", lime, view{}); err != nil {
		t.Fatal(err)
	}
	if js = decode(t, buf.String()); js.Segments == nil || len(js.Segments.Labels) != 16 || js.Labels[0].Prediction != 0.9 {
		t.Errorf("json segments %+v", js)
	}
	if err := render(&buf, "png", lime, view{}); err == nil || !strings.Contains(err.Error(), "-image") {
		t.Errorf("render png: %v", err)
	}
}

func TestImageFlagShorthands(t *testing.T) {
	// The spellings: -fill 0 (a constant) and -window 8x8.
	path, _ := writeTestPNG(t)
	fill := parseExplainFlags(t, "-image", path, "-fill", "0").GetLimeImage().GetFill()
	if fill.GetKind() != explainerv1.FillKind_FILL_KIND_CONSTANT || fill.GetValue() != 0 {
		t.Errorf("-fill 0 gave %v, want the constant 0", fill)
	}
	o := parseExplainFlags(t, "-method", "occlusion", "-image", path, "-window", "8x8", "-stride", "4x4").GetOcclusion()
	if !reflect.DeepEqual(o.GetWindow(), []uint32{8, 8}) || !reflect.DeepEqual(o.GetStrides(), []uint32{4, 4}) {
		t.Errorf("window %v strides %v, want [8 8] and [4 4]", o.GetWindow(), o.GetStrides())
	}
}
