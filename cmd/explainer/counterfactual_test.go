package main

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExplainCounterfactual runs -method counterfactual against the demo
// model through a served sidecar: the JSON's counterfactuals are valid,
// keep the immutable features (named and by index) and the range; the
// table prints each with its class, proximity, sparsity and changes; the
// PNG has a panel per counterfactual, a bar row per change.
func TestExplainCounterfactual(t *testing.T) {
	addr, _ := startServe(t)
	args := []string{"explain", "-server", addr, "-method", "counterfactual", "-background", breastCancerCSV,
		"-instance-file", breastCancerCSV, "-row", "3", "-min-probability", "0.6", "-count", "3",
		"-immutable", "mean radius,3", "-ranges", "mean perimeter=70:90", "-population", "64", "-seed", "1"}
	out, _, err := runCLI(t, append(args, "-output", "json")...)
	if err != nil {
		t.Fatal(err)
	}
	exp := decode(t, out)
	cfs := exp.GetCounterfactuals()
	if exp.GetMethod() != "counterfactual" || len(cfs) == 0 {
		t.Fatalf("method %q, %d counterfactuals", exp.GetMethod(), len(cfs))
	}
	predicted := uint32(argmaxOf(exp.GetInstanceScores()))
	for i, cf := range cfs {
		if !cf.GetValid() || cf.GetLabel() == predicted || scoreOf(cf) < 0.6 {
			t.Errorf("cf %d: valid %v label %d (instance %d) score %v", i, cf.GetValid(), cf.GetLabel(), predicted, scoreOf(cf))
		}
		for _, ch := range cf.GetChanges() {
			if j := ch.GetIndex(); j == 0 || j == 3 {
				t.Errorf("cf %d changed immutable feature %d (%s)", i, j, ch.GetFeature())
			}
		}
		if v := cf.GetValues()[2]; v < 70 || v > 90 {
			t.Errorf("cf %d: mean perimeter %v outside -ranges 70:90", i, v)
		}
	}

	pngPath := filepath.Join(t.TempDir(), "cf.png")
	out, _, err = runCLI(t, append(args, "-png", pngPath)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("table:\n%s", out)
	for _, want := range []string{"counterfactual · ", "\ninstance: ", "\ncounterfactual 1: ", "proximity ", "sparsity ", " → "} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if got := strings.Count(out, "\ncounterfactual "); got != len(cfs) {
		t.Errorf("%d counterfactuals in the table, %d in the JSON:\n%s", got, len(cfs), out)
	}
	out, _, err = runCLI(t, append(args, "-output", "html")...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "data:image/png;base64,") || strings.Count(out, "counterfactual ") < len(cfs) || !strings.Contains(out, " → ") {
		t.Errorf("the HTML page lacks the chart or a line per counterfactual:\n%s", out)
	}
	raw, err := os.ReadFile(pngPath)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	rows := 0
	for _, cf := range cfs {
		rows = max(rows, len(cf.GetChanges()))
	}
	wantW := int(panelWidth.Dots(chartDPI) + 0.5)
	wantH := int(counterfactualPNGHeight(len(cfs), rows).Dots(chartDPI) + 0.5)
	if b := img.Bounds(); b.Dx() != wantW || b.Dy() != wantH {
		t.Errorf("PNG %dx%d, want %dx%d (%d panels of %d rows)", b.Dx(), b.Dy(), wantW, wantH, len(cfs), rows)
	}
}

func TestCounterfactualFlags(t *testing.T) {
	names := []string{"age", "income", "a=b"}
	got, err := featureList("-immutable", "income, 0", names)
	if err != nil || len(got) != 2 || got[0] != 1 || got[1] != 0 {
		t.Errorf("featureList = %v, %v; want [1 0]", got, err)
	}
	rs, err := parseRanges("age=-1:5.5,a=b=0:1", names)
	if err != nil || len(rs) != 2 || rs[0].GetFeature() != 0 || rs[0].GetMin() != -1 || rs[0].GetMax() != 5.5 || rs[1].GetFeature() != 2 {
		t.Errorf("parseRanges = %v, %v", rs, err)
	}
	for _, bad := range []string{"age", "age=1", "height=0:1", "7=0:1", "age=x:1"} {
		if _, err := parseRanges(bad, names); err == nil || !strings.HasPrefix(err.Error(), "-ranges: ") {
			t.Errorf("parseRanges(%q) = %v, want an error naming -ranges", bad, err)
		}
	}
	if _, err := featureList("-immutable", "3", names); err == nil {
		t.Error("featureList accepted index 3 of 3 features")
	}
	f := explainFlags{method: "counterfactual", text: "a text"}
	if _, _, err := f.build(); err == nil || !strings.Contains(err.Error(), "not -text") {
		t.Errorf("-text: %v", err)
	}
	f = explainFlags{method: "counterfactual", instance: "[1,2]"}
	if _, _, err := f.build(); err == nil || !strings.Contains(err.Error(), "-background is required") {
		t.Errorf("no -background: %v", err)
	}
}
