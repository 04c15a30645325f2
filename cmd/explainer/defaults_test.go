package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// methodsOf lists the templates' methods, the first being the default.
func methodsOf(ts []*explainerv1.ExplainRequest) string {
	var s []string
	for _, t := range ts {
		name := "-"
		if fd := t.ProtoReflect().WhichOneof(t.ProtoReflect().Descriptor().Oneofs().ByName("method")); fd != nil {
			name = string(fd.Name())
		}
		s = append(s, name)
	}
	return strings.Join(s, " ")
}

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestServeDefaults(t *testing.T) {
	csv := writeTrainingCSV(t) // 40 rows
	big := func() string {
		var b strings.Builder
		b.WriteString("a,b\n")
		for i := range 250 {
			fmt.Fprintf(&b, "%d,%d\n", i, -i)
		}
		return writeTemp(t, "big.csv", b.String())
	}()
	for _, tc := range []struct {
		name    string
		d       defaultsConfig
		methods string
		check   func(t *testing.T, ts []*explainerv1.ExplainRequest)
		err     string
	}{
		{name: "nothing", d: defaultsConfig{}, methods: ""},
		{name: "training data: lime by default", d: defaultsConfig{trainingData: csv}, methods: "lime kernel_shap",
			check: func(t *testing.T, ts []*explainerv1.ExplainRequest) {
				ds := ts[0].GetLime().GetTraining().GetDataset()
				bg := ts[1].GetKernelShap().GetBackground()
				if ds.GetNumRows() != 40 || len(ds.GetFeatureNames()) != 5 || ds.GetFeatureNames()[0] != "age" || bg.GetNumRows() != 40 {
					t.Errorf("training %d rows %v, background %d rows", ds.GetNumRows(), ds.GetFeatureNames(), bg.GetNumRows())
				}
			}},
		{name: "at most 100 background rows", d: defaultsConfig{trainingData: big}, methods: "lime kernel_shap",
			check: func(t *testing.T, ts []*explainerv1.ExplainRequest) {
				bg := ts[1].GetKernelShap().GetBackground()
				if bg.GetNumRows() != 100 || bg.GetValues()[2] != 2 || ts[0].GetLime().GetTraining().GetDataset().GetNumRows() != 250 {
					t.Errorf("background %d rows starting %v", bg.GetNumRows(), bg.GetValues()[:4])
				}
			}},
		{name: "--method", d: defaultsConfig{trainingData: csv, method: "kernel_shap"}, methods: "kernel_shap lime"},
		{name: "a JSON config", d: defaultsConfig{explainConfig: writeTemp(t, "c.json", `{"method": "lime_text", "lime_text": {"mask_string": "[MASK]"}, "evaluation": {"stability_runs": 2}}`)},
			methods: "lime_text", check: func(t *testing.T, ts []*explainerv1.ExplainRequest) {
				if ts[0].GetLimeText().GetMaskString() != "[MASK]" || ts[0].GetEvaluation().GetStabilityRuns() != 2 {
					t.Errorf("template %v", ts[0])
				}
			}},
		{name: "a YAML config with training data", d: defaultsConfig{trainingData: csv, explainConfig: writeTemp(t, "c.yaml", "lime:\n  num_features: 4\n  training: {statistics: {means: [1]}}\nkernel_shap:\n  num_samples: 100\n")},
			// Two methods and none named: lime, since --training-data; the
			// flag's data replaces the file's statistics.
			methods: "lime kernel_shap", check: func(t *testing.T, ts []*explainerv1.ExplainRequest) {
				lime, shap := ts[0].GetLime(), ts[1].GetKernelShap()
				if lime.GetNumFeatures() != 4 || lime.GetTraining().GetDataset().GetNumRows() != 40 || shap.GetNumSamples() != 100 || shap.GetBackground().GetNumRows() != 40 {
					t.Errorf("templates %v", ts)
				}
			}},
		{name: "--method overrides the config's", d: defaultsConfig{method: "occlusion", explainConfig: writeTemp(t, "c.yaml", "method: lime\nlime: {}\n")}, methods: "occlusion lime"},
		{name: "a bad method", d: defaultsConfig{method: "shap"}, err: `--method: method: "shap" is not one of `},
		{name: "a bad config", d: defaultsConfig{explainConfig: writeTemp(t, "bad.yaml", "lime: {num_sample: 3}\n")}, err: "unknown field \"num_sample\""},
		{name: "a missing CSV", d: defaultsConfig{trainingData: "/nonexistent.csv"}, err: "--training-data: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts, err := tc.d.templates()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := methodsOf(ts); got != tc.methods {
				t.Fatalf("methods %q, want %q", got, tc.methods)
			}
			if tc.check != nil {
				tc.check(t, ts)
			}
		})
	}
}
