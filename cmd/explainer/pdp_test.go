package main

import (
	"image/color"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/explainer-sidecar/explainer/internal/table"
)

// TestExplainPDPAndALE runs -method pdp and -method ale against the demo
// model over the breast-cancer CSV: the JSON carries the curves asked for
// (a feature by index, a pair by names; ICE curves for every row, centred),
// the table lists grid points and summarises ICE, and -png writes a chart
// whose size follows its panels and on which the bold average (or ALE)
// curve is drawn.
func TestExplainPDPAndALE(t *testing.T) {
	addr, _ := startServe(t)
	dir := t.TempDir()

	pngPath := filepath.Join(dir, "pdp.png")
	out, _, err := runCLI(t, "explain", "-server", addr, "-method", "pdp", "-data", breastCancerCSV,
		"-features", "0,mean texture:worst area", "-grid-resolution", "5", "-kind", "both", "-centered", "-labels", "1",
		"-output", "json", "-png", pngPath)
	if err != nil {
		t.Fatal(err)
	}
	exp := decode(t, out)
	if exp.GetMethod() != "partial_dependence" || len(exp.GetLabels()) != 1 || exp.GetLabels()[0].GetLabel() != 1 {
		t.Fatalf("method %q, labels %v", exp.GetMethod(), exp.GetLabels())
	}
	pds := exp.GetLabels()[0].GetPartialDependence()
	if len(pds) != 2 || pds[0].GetFeature() != "mean radius" || pds[1].GetFeature() != "mean texture" ||
		pds[1].GetSecondFeature() != "worst area" || pds[1].GetSecondFeatureIndex() != 23 {
		t.Fatalf("curves %v", pds)
	}
	for _, pd := range pds {
		if !pd.GetCentered() || len(pd.GetIndividual()) != 569 || pd.GetAverage()[0] != 0 {
			t.Errorf("%s: centred %v, %d ICE curves, average starts at %v", pd.GetFeature(), pd.GetCentered(), len(pd.GetIndividual()), pd.GetAverage()[0])
		}
	}
	if want := uint64(569 * (5 + 25)); exp.GetNumSamples() != want {
		t.Errorf("%d rows scored, want %d", exp.GetNumSamples(), want)
	}
	checkCurveChart(t, pngPath, 2)

	table, _, err := runCLI(t, "explain", "-server", addr, "-method", "pdp", "-data", breastCancerCSV,
		"-features", "worst radius", "-grid-resolution", "4", "-kind", "both", "-labels", "0")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"partial dependence on worst radius · 4 grid points", "average", "± s.e.", "ICE: 569 curves"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	// Partial dependence has no seed: its header names none.
	if header, _, _ := strings.Cut(table, "\n"); !strings.Contains(header, " model calls · ") || strings.Contains(header, "seed") {
		t.Errorf("header %q: want the model calls and no seed", header)
	}

	pngPath = filepath.Join(dir, "ale.png")
	out, _, err = runCLI(t, "explain", "-server", addr, "-method", "ale", "-data", breastCancerCSV,
		"-features", "0,7", "-bins", "10", "-output", "json", "-png", pngPath)
	if err != nil {
		t.Fatal(err)
	}
	exp = decode(t, out)
	ales := exp.GetLabels()[1].GetAccumulatedLocalEffects()
	if exp.GetMethod() != "ale" || len(ales) != 2 || ales[1].GetFeature() != "mean concave points" {
		t.Fatalf("method %q, curves %v", exp.GetMethod(), ales)
	}
	for _, a := range ales {
		total := uint32(0)
		for _, n := range a.GetBinCounts() {
			total += n
		}
		if len(a.GetEdges()) != 11 || total != 569 {
			t.Errorf("%s: %d edges, %d rows in the bins", a.GetFeature(), len(a.GetEdges()), total)
		}
	}
	checkCurveChart(t, pngPath, 4)

	table, _, err = runCLI(t, "explain", "-server", addr, "-method", "ale", "-data", breastCancerCSV, "-features", "mean radius", "-bins", "3")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table, "ALE of mean radius · 3 bins · constant (mean score)") || !strings.Contains(table, "rows in bin below") {
		t.Errorf("ALE table:\n%s", table)
	}

	page, _, err := runCLI(t, "explain", "-server", addr, "-method", "ale", "-data", breastCancerCSV, "-features", "0", "-bins", "3", "-output", "html")
	if err != nil || !strings.Contains(page, `<img class="chart" src="data:image/png;base64,`) || !strings.Contains(page, "label 1 (benign)") {
		t.Errorf("-output html: %v\n%.500s", err, page)
	}
}

// checkCurveChart checks a curve chart's size (two panels a row, 4 inches
// high at 96 dpi each row) and that the bold curve colour is drawn.
func checkCurveChart(t *testing.T, path string, panels int) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img := decodePNG(t, raw)
	rows, cols := (panels+1)/2, min(panels, 2)
	if b := img.Bounds(); b.Dy() != rows*4*chartDPI || math.Abs(float64(b.Dx())-float64(cols)*1.4*4*chartDPI) > 1 {
		t.Errorf("chart is %v for %d panels", b, panels)
	}
	bold := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA); c == colorAverage {
				bold++
			}
		}
	}
	// A curve 2 points wide over hundreds of pixels: far more than a few.
	if bold < 200*panels {
		t.Errorf("%d pixels of the curve colour for %d panels: is the curve drawn?", bold, panels)
	}
}

func TestParseCurveFeatures(t *testing.T) {
	names := []string{"a", "b c", "d"}
	tests := []struct {
		in   string
		want [][]uint32
		err  string
	}{
		{"", nil, ""},
		{"0,2", [][]uint32{{0}, {2}}, ""},
		{"b c, d", [][]uint32{{1}, {2}}, ""},
		{"a:b c,1", [][]uint32{{0, 1}, {1}}, ""},
		{"3", nil, `"3" is neither a column of -data nor an index below 3`},
		{"x", nil, "is neither a column"},
		{"0:1:2", nil, "a pair has two features"},
	}
	for _, tt := range tests {
		got, err := parseCurveFeatures(tt.in, names)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: err %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q: %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

// The rug marks the data's deciles as numpy's percentile computes them
// (np.percentile(x, [10, ..., 90])), so that the chart shows where the
// data lies as scikit-learn's PartialDependenceDisplay does.
func TestPDPRugDeciles(t *testing.T) {
	tests := []struct {
		col  []float64
		want []float64
	}{
		{[]float64{10, 0, 9, 1, 8, 2, 7, 3, 6, 4, 5}, []float64{1, 2, 3, 4, 5, 6, 7, 8, 9}},
		// np.percentile(np.arange(10), np.arange(10, 100, 10))
		{[]float64{9, 8, 7, 6, 5, 4, 3, 2, 1, 0}, []float64{0.9, 1.8, 2.7, 3.6, 4.5, 5.4, 6.3, 7.2, 8.1}},
		{[]float64{3}, []float64{3, 3, 3, 3, 3, 3, 3, 3, 3}},
	}
	for _, tt := range tests {
		data := &table.Table{Names: []string{"a", "b"}}
		for _, v := range tt.col {
			data.Rows = append(data.Rows, []float64{-v, v})
		}
		got := deciles(data, 1)
		if len(got) != len(tt.want) {
			t.Fatalf("deciles(%v) = %v, want %v", tt.col, got, tt.want)
		}
		for k := range got {
			if math.Abs(got[k]-tt.want[k]) > 1e-12 {
				t.Errorf("deciles(%v) = %v, want %v", tt.col, got, tt.want)
				break
			}
		}
	}
	if deciles(nil, 0) != nil {
		t.Error("deciles of no data set should be nil (the rug then marks the grid)")
	}
}
