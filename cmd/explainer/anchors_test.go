package main

import (
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/explainer-sidecar/explainer/predictor/predictortest"
)

// pngSize decodes the PNG at path and returns its size.
func pngSize(t *testing.T, path string) (w, h int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img.Bounds().Dx(), img.Bounds().Dy()
}

// TestExplainAnchorsTabular runs -method anchors on a breast-cancer row
// against the demo model: the table prints the rule, its precision,
// coverage and examples and the model calls; -png charts precision and
// coverage per predicate (7 × 4 in at 96 dpi); JSON is the Explanation.
func TestExplainAnchorsTabular(t *testing.T) {
	addr, _ := startServe(t)
	png := filepath.Join(t.TempDir(), "anchor.png")
	out, _, err := runCLI(t, "explain", "-server", addr, "-method", "anchors", "-background", breastCancerCSV,
		"-instance-file", breastCancerCSV, "-row", "3", "-seed", "1", "-coverage-samples", "2000", "-png", png)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{" · anchors · ", "model calls", "\n  IF ", " THEN ", "precision ", "coverage ",
		"threshold met: yes", "predicate added", "examples: "} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if w, h := pngSize(t, png); w != 7*96 || h != 4*96 {
		t.Errorf("the chart is %d×%d px, want 672×384", w, h)
	}
	js, _, err := runCLI(t, "explain", "-server", addr, "-method", "anchors", "-background", breastCancerCSV,
		"-instance-file", breastCancerCSV, "-row", "3", "-seed", "1", "-coverage-samples", "2000", "-output", "json")
	if err != nil {
		t.Fatal(err)
	}
	exp := decode(t, js)
	a := exp.Labels[0].Anchor
	if exp.Method != "anchors" || a == nil || !a.ThresholdMet || a.Precision < 0.95 || len(a.Predicates) == 0 || exp.ModelCalls == 0 {
		t.Fatalf("anchors JSON: %+v", exp)
	}
	if !strings.Contains(out, a.Predicates[0].Description) {
		t.Errorf("the table lacks the first predicate %q", a.Predicates[0].Description)
	}
}

// greatScore is a text model that reads one word: class 1 (0.9) when
// the text holds "great", else 0.2.
func greatScore(texts []string) [][]float64 {
	out := make([][]float64, len(texts))
	for i, s := range texts {
		p := 0.2
		if strings.Contains(s, "great") {
			p = 0.9
		}
		out[i] = []float64{1 - p, p}
	}
	return out
}

// TestExplainAnchorsText: the rule of a text model that only reads
// "great" is that word.
func TestExplainAnchorsText(t *testing.T) {
	fake := predictortest.NewPredictServer(nil)
	fake.TextScore = greatScore
	addr := serveFake(t, fake)
	png := filepath.Join(t.TempDir(), "anchor.png")
	out, _, err := runCLI(t, "explain", "-server", addr, "-method", "anchors", "-text", "a great film with a dull plot",
		"-seed", "2", "-class-names", "neg,pos", "-png", png)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "IF great THEN pos") || !strings.Contains(out, "precision 1.0000") {
		t.Errorf("table:\n%s", out)
	}
	if w, h := pngSize(t, png); w != 7*96 || h != 4*96 {
		t.Errorf("the chart is %d×%d px, want 672×384", w, h)
	}
	page, _, err := runCLI(t, "explain", "-server", addr, "-method", "anchors", "-text", "a great film with a dull plot",
		"-seed", "2", "-class-names", "neg,pos", "-output", "html")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page, "IF great THEN pos") || !strings.Contains(page, "data:image/png;base64,") {
		t.Errorf("the HTML page lacks the rule or the chart:\n%.2000s", page)
	}
}

// TestExplainAnchorsImage: the rule of a model that reads the top-left
// quarter is that segment; -png draws the image and the anchor, each
// scaled to 256 px.
func TestExplainAnchorsImage(t *testing.T) {
	fake := predictortest.NewPredictServer(func(rows [][]float64) [][]float64 {
		out := make([][]float64, len(rows))
		for i, r := range rows {
			s := 0.0
			for y := range 4 {
				for x := range 4 {
					s += r[y*8+x]
				}
			}
			out[i] = []float64{0.8, 0.2}
			if s > 8*255 {
				out[i] = []float64{0.1, 0.9}
			}
		}
		return out
	})
	addr := serveFake(t, fake)
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for y := range 8 {
		for x := range 8 {
			c := color.RGBA{20, 20, 20, 255}
			if x < 4 && y < 4 {
				c = color.RGBA{250, 250, 250, 255}
			}
			img.Set(x, y, c)
		}
	}
	dir := t.TempDir()
	in, outPNG := filepath.Join(dir, "in.png"), filepath.Join(dir, "out.png")
	f, err := os.Create(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	f.Close()
	js, _, err := runCLI(t, "explain", "-server", addr, "-method", "anchors", "-image", in, "-segmentation", "grid:2",
		"-fill", "constant:0", "-seed", "1", "-png", outPNG, "-output", "json")
	if err != nil {
		t.Fatal(err)
	}
	exp := decode(t, js)
	a := exp.Labels[0].Anchor
	if exp.Method != "anchors_image" || len(a.Predicates) != 1 || a.Predicates[0].Index != 0 || exp.Labels[0].Label != 1 {
		t.Fatalf("anchors_image: %+v", exp.Labels[0])
	}
	// Two 256-px panels with margins and a title row.
	if w, h := pngSize(t, outPNG); w != figMargin+2*(256+figMargin) || h != figMargin+figTitle+256+figMargin {
		t.Errorf("the image PNG is %d×%d", w, h)
	}
	// The image's dark bottom-right quarter is dimmed towards white in the
	// anchor's panel; its bright top-left quarter, the anchor, is not.
	f, err = os.Open(outPNG)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pic, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	top, left, right := figMargin+figTitle, figMargin, figMargin+256+figMargin
	for _, c := range []struct {
		x, y     int
		min, max int
	}{
		{left + 200, top + 200, 0, 40},     // the image, dark
		{right + 200, top + 200, 150, 255}, // dimmed
		{right + 60, top + 60, 240, 255},   // the anchor, bright as in the image
	} {
		if r, _, _, _ := pic.At(c.x, c.y).RGBA(); int(r>>8) < c.min || int(r>>8) > c.max {
			t.Errorf("pixel (%d, %d) has red %d, want %d to %d", c.x, c.y, r>>8, c.min, c.max)
		}
	}
}
