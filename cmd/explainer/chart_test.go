package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// drawnBar is a bar found in a chart's pixels.
type drawnBar struct {
	fill  color.RGBA
	width int // pixels of its colour on its widest row
}

// drawnBars finds the bars of a chart, top to bottom: runs of pixel rows
// holding the bar colours, each measured on its widest row. The error
// bars are black and the grid grey, so they do not count.
func drawnBars(img image.Image) []drawnBar {
	var bars []drawnBar
	inBar := false
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y++ {
		counts := map[color.RGBA]int{}
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x++ {
			c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
			if c == colorFor || c == colorAgainst {
				counts[c]++
			}
		}
		if len(counts) == 0 {
			inBar = false
			continue
		}
		fill, n := colorFor, counts[colorFor]
		if counts[colorAgainst] > n {
			fill, n = colorAgainst, counts[colorAgainst]
		}
		if !inBar {
			bars = append(bars, drawnBar{fill: fill})
			inBar = true
		}
		b := &bars[len(bars)-1]
		b.width = max(b.width, n)
	}
	return bars
}

func decodePNG(t *testing.T, raw []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	return img
}

func tabularExplanation(method string, weights []float64, ses []float64) *explainerv1.Explanation {
	l := &explainerv1.LabelExplanation{Label: 1, ClassName: "yes", BaseValue: 0.5}
	sum := 0.0
	for i, w := range weights {
		l.Attributions = append(l.Attributions, &explainerv1.Attribution{Index: uint32(i), Feature: fmt.Sprintf("feature %d", i), Weight: w, StdError: ses[i]})
		sum += w
	}
	l.ModelValue = l.BaseValue + sum
	return &explainerv1.Explanation{Method: method, Model: "m", Labels: []*explainerv1.LabelExplanation{l}}
}

// TestBarChartOrder draws a chart and measures its bars: largest |weight|
// at the top, each as long as its weight, green for and red against.
func TestBarChartOrder(t *testing.T) {
	weights := []float64{0.1, -0.5, 0.3, 0.05}
	for _, ses := range [][]float64{{0, 0, 0, 0}, {0.01, 0.05, 0, 0.02}} {
		var buf bytes.Buffer
		if err := writeChartPNG(&buf, tabularExplanation("lime", weights, ses), 10); err != nil {
			t.Fatal(err)
		}
		img := decodePNG(t, buf.Bytes())
		if b := img.Bounds(); b.Dx() != 672 || b.Dy() != 230 {
			t.Errorf("size %v, want 672 × 230: 7 in by 1.2 in + 4 bars × 0.3 in, at 96 dpi", b)
		}
		bars := drawnBars(img)
		want := []float64{-0.5, 0.3, 0.1, 0.05} // by |weight|, top to bottom
		if len(bars) != len(want) {
			t.Fatalf("%d bars, want %d", len(bars), len(want))
		}
		for i, b := range bars {
			if b.fill != barColor(want[i]) {
				t.Errorf("bar %d is %v, want the colour of %v", i, b.fill, want[i])
			}
			if i > 0 && b.width >= bars[i-1].width {
				t.Errorf("bar %d (%d px) is not shorter than bar %d (%d px)", i, b.width, i-1, bars[i-1].width)
			}
			if wantPx := float64(bars[0].width) * math.Abs(want[i]) / 0.5; math.Abs(float64(b.width)-wantPx) > 3 {
				t.Errorf("bar %d is %d px, want %.0f (in proportion to %v)", i, b.width, wantPx, want[i])
			}
		}
	}
	// -num-features 2: two bars.
	var buf bytes.Buffer
	if err := writeChartPNG(&buf, tabularExplanation("sensitivity", weights, make([]float64, 4)), 2); err != nil {
		t.Fatal(err)
	}
	if bars := drawnBars(decodePNG(t, buf.Bytes())); len(bars) != 2 {
		t.Errorf("%d bars with -num-features 2", len(bars))
	}
	// Permutation: by importance, so the negative one comes last.
	buf.Reset()
	if err := writeChartPNG(&buf, tabularExplanation("permutation", weights, make([]float64, 4)), 0); err != nil {
		t.Fatal(err)
	}
	bars := drawnBars(decodePNG(t, buf.Bytes()))
	if len(bars) != 4 || bars[3].fill != colorAgainst || bars[0].width <= bars[1].width {
		t.Errorf("permutation bars %+v, want 0.3, 0.1, 0.05, then -0.5", bars)
	}
}

// TestWaterfall: KernelSHAP's bars, end to end from E[f] at the bottom
// to f(x) at the top, and a chart of two panels per label.
func TestWaterfall(t *testing.T) {
	exp := tabularExplanation("kernelshap", []float64{0.1, -0.2, 0.3, 0.02, -0.01}, make([]float64, 5))
	l := exp.Labels[0]
	bars := chartBars(exp, l, 3)
	if len(bars) != 4 || bars[3].name != "(2 other features)" || math.Abs(bars[3].value-0.01) > 1e-12 {
		t.Fatalf("bars %+v, want the top 3 and the other 2 summed", bars)
	}
	wf := waterfallBars(bars, l.BaseValue)
	bottom, topBar := wf[len(wf)-1], wf[0]
	if bottom.x0 != l.BaseValue || math.Abs(topBar.x1-l.ModelValue) > 1e-12 {
		t.Errorf("waterfall from %v to %v, want E[f] %v to f(x) %v", bottom.x0, topBar.x1, l.BaseValue, l.ModelValue)
	}
	for i := range wf {
		if i+1 < len(wf) && wf[i].x0 != wf[i+1].x1 {
			t.Errorf("bar %d starts at %v, the bar below ends at %v", i, wf[i].x0, wf[i+1].x1)
		}
		if wf[i].y != float64(len(wf)-1-i) || math.Abs(wf[i].x1-wf[i].x0-bars[i].value) > 1e-12 {
			t.Errorf("bar %d: %+v for %+v", i, wf[i], bars[i])
		}
	}
	var buf bytes.Buffer
	if err := writeChartPNG(&buf, exp, 3); err != nil {
		t.Fatal(err)
	}
	if b := decodePNG(t, buf.Bytes()).Bounds(); b.Dx() != 2*672 {
		t.Errorf("size %v, want two panels of 672 px", b)
	}
	if err := writeChartPNG(&buf, &explainerv1.Explanation{Method: "lime"}, 10); err == nil {
		t.Error("a chart of nothing")
	}
}

// TestPNGAndHTMLForEveryMethod: -png and -output html through a sidecar
// in front of the demo model, for each tabular method.
func TestPNGAndHTMLForEveryMethod(t *testing.T) {
	addr, _ := startServe(t)
	bg := backgroundCSV(t, 10)
	for _, tt := range []struct {
		method string
		args   []string
		panels int
		labels int
	}{
		{"lime", []string{"-instance-file", breastCancerCSV, "-row", "3", "-background", breastCancerCSV, "-num-samples", "500"}, 1, 1},
		{"kernelshap", []string{"-instance-file", breastCancerCSV, "-row", "3", "-background", bg, "-num-samples", "300"}, 2, 1},
		{"permutation", []string{"-data", breastCancerCSV, "-repeats", "1"}, 1, 1},
		{"sensitivity", []string{"-data", breastCancerCSV}, 1, 2},
	} {
		t.Run(tt.method, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "chart.png")
			args := append([]string{"explain", "-server", addr, "-method", tt.method, "-seed", "1", "-num-features", "5", "-png", path}, tt.args...)
			if _, _, err := runCLI(t, args...); err != nil {
				t.Fatal(err)
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			img := decodePNG(t, raw)
			if b := img.Bounds(); b.Dx() != tt.panels*672 {
				t.Errorf("%v: want %d panels", b, tt.panels)
			}
			bars := drawnBars(img)
			if want := 5 * tt.labels; tt.panels == 1 && len(bars) != want {
				t.Errorf("%d bars, want %d", len(bars), want)
			}
			// The HTML page has the same chart inline and the table.
			page, _, err := runCLI(t, append(args, "-output", "html")...)
			if err != nil {
				t.Fatal(err)
			}
			m := regexp.MustCompile(`<img class="chart" src="data:image/png;base64,([^"]+)"`).FindStringSubmatch(page)
			if m == nil {
				t.Fatalf("no inline chart:\n%.500s", page)
			}
			b64, err := base64.StdEncoding.DecodeString(html.UnescapeString(m[1])) // "+" is written &#43;
			if err != nil {
				t.Fatal(err)
			}
			decodePNG(t, b64)
			if n := strings.Count(page, "<tr><td>"); n != 5*tt.labels+map[bool]int{true: 1}[tt.method == "kernelshap"] {
				t.Errorf("%d table rows:\n%s", n, regexp.MustCompile(`base64,[^"]+`).ReplaceAllString(page, "base64,…"))
			}
		})
	}
}
