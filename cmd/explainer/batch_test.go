package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/explainer-sidecar/explainer/predictor/predictortest"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// batchLine is one instance of -output jsonl or json: its row and its
// explanation, the API's protojson.
type batchLine struct {
	Row int
	*explainerv1.Explanation
}

// decodeInstance decodes one instance's JSON.
func decodeInstance(t *testing.T, raw []byte) batchLine {
	t.Helper()
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, raw)
	}
	var l batchLine
	if err := json.Unmarshal(fields["row"], &l.Row); err != nil {
		t.Fatalf("no row: %v\n%s", err, raw)
	}
	delete(fields, "row")
	rest, _ := json.Marshal(fields)
	l.Explanation = &explainerv1.Explanation{}
	if err := protojson.Unmarshal(rest, l.Explanation); err != nil {
		t.Fatalf("not the protojson of an Explanation besides its row: %v\n%s", err, raw)
	}
	return l
}

// decodeLines decodes -output jsonl.
func decodeLines(t *testing.T, s string) []batchLine {
	t.Helper()
	var out []batchLine
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		out = append(out, decodeInstance(t, sc.Bytes()))
	}
	return out
}

// TestExplainBatchRows: -rows explains rows of -instance-file in one
// job; jsonl prints each with its row, in order, equal to the single
// explanation of that row with seed + its place and the batch's label;
// json adds the summary; table prints it.
func TestExplainBatchRows(t *testing.T) {
	addr, _ := startServe(t)
	base := []string{"explain", "-server", addr, "-background", breastCancerCSV, "-instance-file", breastCancerCSV,
		"-num-samples", "300", "-seed", "5"}
	out, _, err := runCLI(t, append(base, "-rows", "10:30", "-output", "jsonl")...)
	if err != nil {
		t.Fatal(err)
	}
	lines := decodeLines(t, out)
	if len(lines) != 20 {
		t.Fatalf("%d lines, want 20", len(lines))
	}
	label := lines[0].GetLabels()[0].GetLabel()
	for i, l := range lines {
		if l.Row != 10+i || l.GetMethod() != "lime" || l.GetSeed() != uint64(5+i) || len(l.GetLabels()) != 1 || l.GetLabels()[0].GetLabel() != label {
			t.Fatalf("line %d: row %d, method %q, seed %d, labels %d: want row %d, seed %d, one label %d", i, l.Row, l.GetMethod(), l.GetSeed(), len(l.GetLabels()), 10+i, 5+i, label)
		}
	}
	single, _, err := runCLI(t, "explain", "-server", addr, "-background", breastCancerCSV, "-instance-file", breastCancerCSV,
		"-num-samples", "300", "-row", "13", "-seed", "8", "-labels", fmt.Sprint(label), "-output", "json")
	if err != nil {
		t.Fatal(err)
	}
	want := decode(t, single)
	sameLabels := len(lines[3].GetLabels()) == len(want.GetLabels())
	for i := range want.GetLabels() {
		sameLabels = sameLabels && proto.Equal(lines[3].GetLabels()[i], want.GetLabels()[i])
	}
	if !sameLabels || !reflect.DeepEqual(lines[3].GetInstanceScores(), want.GetInstanceScores()) {
		t.Errorf("row 13 in the batch:\n%+v\nalone with seed 8:\n%+v", lines[3].GetLabels(), want.GetLabels())
	}

	out, _, err = runCLI(t, append(base, "-rows", "10:30", "-submodular-pick", "2", "-output", "json")...)
	if err != nil {
		t.Fatal(err)
	}
	var b jsonBatch
	if err := json.Unmarshal([]byte(out), &b); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	s := b.Summary
	if len(b.Instances) != 20 || !s.LabelPicked || s.Label == nil || *s.Label != label || s.Instances != 20 || len(s.Labels) != 1 {
		t.Fatalf("summary %+v of %d instances", s, len(b.Instances))
	}
	if f := s.Labels[0].Features; len(f) == 0 || f[0].MeanAbs <= 0 || f[0].Feature == "" {
		t.Errorf("summary features %+v", f)
	}
	if p := s.Labels[0].PickedRows; len(p) != 2 || p[0] < 10 || p[0] >= 30 {
		t.Errorf("picked rows %v, want 2 of rows 10 to 29", p)
	}

	out, _, err = runCLI(t, append(base, "-rows", "0:5")...)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"5 instances", "every instance explains label", "row 4  ", "mean |weight| ± standard error"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

// TestExplainBatchTexts: -texts explains each non-empty line; row is the
// line's number.
func TestExplainBatchTexts(t *testing.T) {
	fake := predictortest.NewPredictServer(nil)
	fake.TextScore = greatScore
	addr := serveFake(t, fake)
	path := filepath.Join(t.TempDir(), "texts.txt")
	if err := os.WriteFile(path, []byte("a great place\n\ngreat staff, great food\nnothing great here, great\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCLI(t, "explain", "-server", addr, "-texts", path, "-num-samples", "200", "-seed", "3", "-output", "jsonl")
	if err != nil {
		t.Fatal(err)
	}
	lines := decodeLines(t, out)
	if len(lines) != 3 || lines[0].Row != 0 || lines[1].Row != 2 || lines[2].Row != 3 {
		t.Fatalf("rows %+v, want lines 0, 2 and 3", lines)
	}
	for _, l := range lines {
		if l.GetMethod() != "lime_text" || l.GetLabels()[0].GetLabel() != 1 || l.GetLabels()[0].GetAttributions()[0].GetFeature() != "great" {
			t.Errorf("row %d: %+v, want lime_text of label 1 led by great", l.Row, l.GetLabels())
		}
	}
}

// TestExplainBatchSkipFailed: with -skip-failed a line without words is
// left out: jsonl writes its row and error in its place, the table says
// so, and the other lines are explained; without it the batch fails.
func TestExplainBatchSkipFailed(t *testing.T) {
	fake := predictortest.NewPredictServer(nil)
	fake.TextScore = greatScore
	addr := serveFake(t, fake)
	path := filepath.Join(t.TempDir(), "texts.txt")
	if err := os.WriteFile(path, []byte("a great place\n?!\ngreat staff, great food\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"explain", "-server", addr, "-texts", path, "-num-samples", "200", "-seed", "3"}
	if _, _, err := runCLI(t, args...); err == nil || !strings.Contains(err.Error(), "batch instance 1: instance.text: has no words") {
		t.Fatalf("without -skip-failed: %v, want the batch refused naming instance 1", err)
	}
	out, _, err := runCLI(t, append(args, "-skip-failed", "-output", "jsonl")...)
	if err != nil {
		t.Fatal(err)
	}
	var lines []map[string]json.RawMessage
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, l)
		}
		lines = append(lines, m)
	}
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(lines), out)
	}
	var failure struct{ Code, Message string }
	if err := json.Unmarshal(lines[1]["error"], &failure); err != nil || string(lines[1]["row"]) != "1" ||
		failure.Code != "INVALID_ARGUMENT" || !strings.Contains(failure.Message, "has no words") || lines[1]["labels"] != nil {
		t.Errorf("line 1: %s, want row 1 with its error alone", out)
	}
	for _, i := range []int{0, 2} {
		if lines[i]["error"] != nil || lines[i]["labels"] == nil {
			t.Errorf("line %d: want an explanation: %s", i, out)
		}
	}
	table, _, err := runCLI(t, append(args, "-skip-failed")...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table, "row 1  left out: INVALID_ARGUMENT: instance.text: has no words") || !strings.Contains(table, "over 2 instances") {
		t.Errorf("table:\n%s\nwant row 1 left out and the summary over the 2 others", table)
	}
}

// TestExplainBatchImages: several -image files make one batch job.
func TestExplainBatchImages(t *testing.T) {
	fake := predictortest.NewPredictServer(func(rows [][]float64) [][]float64 {
		out := make([][]float64, len(rows))
		for i, r := range rows {
			p := r[0] / 10
			out[i] = []float64{1 - p, p}
		}
		return out
	})
	addr := serveFake(t, fake)
	dir := t.TempDir()
	var args []string
	for k := range 3 {
		path := filepath.Join(dir, fmt.Sprintf("%d.json", k))
		// 2×2, one channel: the model looks at the top-left pixel.
		if err := os.WriteFile(path, fmt.Appendf(nil, "[[[%d],[1]],[[1],[1]]]", k+2), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-image", path)
	}
	out, _, err := runCLI(t, append([]string{"explain", "-server", addr, "-segmentation", "grid:2", "-fill", "0",
		"-num-samples", "100", "-labels", "1", "-seed", "1", "-output", "json"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	var b jsonBatch
	if err := json.Unmarshal([]byte(out), &b); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if len(b.Instances) != 3 || b.Summary.LabelPicked || b.Summary.Labels[0].Features[0].Feature != "segment 0" {
		t.Fatalf("%d instances, summary %+v", len(b.Instances), b.Summary)
	}
	for i, raw := range b.Instances {
		if in := decodeInstance(t, raw); in.Row != i || in.GetMethod() != "lime_image" {
			t.Errorf("instance %d: row %d, method %q", i, in.Row, in.GetMethod())
		}
	}
}

func TestExplainBatchErrors(t *testing.T) {
	dir := t.TempDir()
	jsonRow := filepath.Join(dir, "row.json")
	if err := os.WriteFile(jsonRow, []byte("[1, 2, 3]"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-background", breastCancerCSV, "-instance-file", breastCancerCSV, "-rows", "5:3"}, "want a non-empty range"},
		{[]string{"-background", breastCancerCSV, "-instance-file", breastCancerCSV, "-rows", "0:100000"}, "data rows"},
		{[]string{"-background", breastCancerCSV, "-instance-file", breastCancerCSV, "-rows", "x"}, "want A:B, A: or all"},
		{[]string{"-background", breastCancerCSV, "-instance-file", jsonRow, "-rows", "all"}, "is a JSON array"},
		{[]string{"-background", breastCancerCSV, "-rows", "all"}, "-rows needs a CSV -instance-file"},
		{[]string{"-background", breastCancerCSV, "-instance-file", breastCancerCSV, "-rows", "all", "-output", "html"}, "want table, json or jsonl"},
		{[]string{"-texts", filepath.Join(dir, "missing.txt")}, "-texts"},
	} {
		_, _, err := runCLI(t, append([]string{"explain", "-server", "127.0.0.1:1"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.args, err, tc.want)
		}
	}
}

// TestExplainBatchRules: -rows with anchors and counterfactuals: the
// table gives each row's rule or closest valid counterfactual and the
// batch's summary; json's summary carries the API's anchors or
// counterfactuals summary, its counts agreeing with the instances.
func TestExplainBatchRules(t *testing.T) {
	addr, _ := startServe(t)
	base := []string{"explain", "-server", addr, "-background", breastCancerCSV, "-instance-file", breastCancerCSV, "-rows", "0:4", "-seed", "2"}
	for _, tc := range []struct {
		method string
		args   []string
		table  []string
	}{
		{"anchors", []string{"-coverage-samples", "1000"}, []string{"row 3  IF ", " THEN ", "anchors over 4 instances: ", "features the rules use"}},
		{"counterfactual", []string{"-population", "64", "-count", "1"}, []string{"row 3  → ", "proximity ", "counterfactuals over 4 instances: ", "mean sparsity"}},
	} {
		t.Run(tc.method, func(t *testing.T) {
			args := append(append(append([]string{}, base...), "-method", tc.method), tc.args...)
			out, _, err := runCLI(t, args...)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range tc.table {
				if !strings.Contains(out, want) {
					t.Errorf("table lacks %q:\n%s", want, out)
				}
			}
			js, _, err := runCLI(t, append(args, "-output", "json")...)
			if err != nil {
				t.Fatal(err)
			}
			var b jsonBatch
			if err := json.Unmarshal([]byte(js), &b); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, js)
			}
			fields := map[string]json.RawMessage{}
			for name, v := range map[string]json.RawMessage{"anchors": b.Summary.Anchors, "counterfactuals": b.Summary.Counterfactuals} {
				if v != nil {
					fields[name] = v
				}
			}
			raw, _ := json.Marshal(fields)
			sum := &explainerv1.BatchExplanation{}
			if err := protojson.Unmarshal(raw, sum); err != nil {
				t.Fatalf("summary is not the API's: %v\n%s", err, raw)
			}
			var met, found uint32
			for _, inst := range b.Instances {
				e := decodeInstance(t, inst).Explanation
				if len(e.GetLabels()) > 0 && e.GetLabels()[0].GetAnchor().GetThresholdMet() {
					met++
				}
				if slices.ContainsFunc(e.GetCounterfactuals(), (*explainerv1.Counterfactual).GetValid) {
					found++
				}
			}
			a, c := sum.GetAnchors(), sum.GetCounterfactuals()
			switch {
			case len(b.Instances) != 4 || b.Summary.LabelPicked:
				t.Errorf("%d instances, label picked %v", len(b.Instances), b.Summary.LabelPicked)
			case tc.method == "anchors" && (a.GetAnchors() != 4 || a.GetThresholdMet() != met || len(a.GetFeatures()) == 0):
				t.Errorf("anchors summary %v, %d met", a, met)
			case tc.method == "counterfactual" && (c.GetSearched() != 4 || c.GetFound() != found || found == 0 || len(c.GetFeatures()) == 0):
				t.Errorf("counterfactuals summary %v, %d found", c, found)
			}
		})
	}
}
