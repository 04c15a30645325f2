package main

import (
	"slices"
	"strings"
	"testing"

	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// TestCLIMethods fails when a case of ExplainRequest.method has no -method
// that builds it, or the table names a case the API does not have.
func TestCLIMethods(t *testing.T) {
	oneof := (&explainerv1.ExplainRequest{}).ProtoReflect().Descriptor().Oneofs().ByName("method")
	declared := map[string]bool{}
	for _, m := range cliMethods {
		for _, c := range m.cases {
			if oneof.Fields().ByName(protoName(c)) == nil {
				t.Errorf("-method %s: %q is not a case of ExplainRequest.method", m.name, c)
			}
			declared[c] = true
		}
	}
	for i := range oneof.Fields().Len() {
		if name := string(oneof.Fields().Get(i).Name()); !declared[name] {
			t.Errorf("ExplainRequest.method case %q has no -method: add it to cliMethods", name)
		}
	}
}

// TestCLIMethodsBuildTheirCases builds each text-capable method's request
// and checks that it uses a case the table declares.
func TestCLIMethodsBuildTheirCases(t *testing.T) {
	for _, m := range cliMethods {
		if m.name == "permutation" || m.name == "sensitivity" || m.name == "pdp" || m.name == "ale" || m.name == "counterfactual" {
			continue // need a data file; TestExplainGlobalAndShapMethods covers them
		}
		t.Run(m.name, func(t *testing.T) {
			f := explainFlags{method: m.name, text: "good food bad service", numSamples: 10, seed: 1, selection: "auto", regressor: "ridge", link: "identity"}
			req, _, err := f.build()
			if err != nil {
				t.Fatal(err)
			}
			r := req.ProtoReflect()
			fd := r.WhichOneof(r.Descriptor().Oneofs().ByName("method"))
			if fd == nil || !slices.Contains(m.cases, string(fd.Name())) {
				t.Errorf("-method %s -text built case %v, want one of %v", m.name, fd, m.cases)
			}
		})
	}
}

func TestSeeded(t *testing.T) {
	tests := []struct {
		req  *explainerv1.ExplainRequest
		want bool
	}{
		{&explainerv1.ExplainRequest{Method: &explainerv1.ExplainRequest_Lime{Lime: &explainerv1.LimeOptions{}}}, true},
		{&explainerv1.ExplainRequest{Method: &explainerv1.ExplainRequest_Permutation{Permutation: &explainerv1.PermutationOptions{}}}, true},
		{&explainerv1.ExplainRequest{Method: &explainerv1.ExplainRequest_Sensitivity{Sensitivity: &explainerv1.SensitivityOptions{}}}, false},
		{&explainerv1.ExplainRequest{Method: &explainerv1.ExplainRequest_Occlusion{Occlusion: &explainerv1.OcclusionOptions{}}}, false},
		{&explainerv1.ExplainRequest{}, false},
	}
	for _, tt := range tests {
		if got := seeded(tt.req); got != tt.want {
			t.Errorf("seeded(%v) = %v, want %v", tt.req.GetMethod(), got, tt.want)
		}
	}
}

func protoName(s string) protoreflect.Name { return protoreflect.Name(s) }

func TestParseBackgroundSummary(t *testing.T) {
	tests := []struct {
		in     string
		kmeans uint32 // the K of the case, 0 when another
		sample uint32
		err    bool
	}{
		{"", 0, 0, false},
		{"kmeans:10", 10, 0, false},
		{"sample:1", 0, 1, false},
		{"kmeans:1000", 1000, 0, false},
		{"kmeans:1001", 0, 0, true},
		{"kmeans:0", 0, 0, true},
		{"kmeans", 0, 0, true},
		{"kmeans:-3", 0, 0, true},
		{"kmeans:ten", 0, 0, true},
		{"median:5", 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseBackgroundSummary(tt.in)
			if (err != nil) != tt.err {
				t.Fatalf("err = %v, want an error: %v", err, tt.err)
			}
			if got.GetKmeans() != tt.kmeans || got.GetSample() != tt.sample {
				t.Errorf("got %v, want kmeans %d, sample %d", got, tt.kmeans, tt.sample)
			}
		})
	}
	// Only a row's KernelSHAP has a background to summarise.
	for _, f := range []explainFlags{
		{method: "lime", bgSummary: "kmeans:5"},
		{method: "kernelshap", text: "good food", bgSummary: "kmeans:5"},
		{method: "kernelshap", imageFlags: imageFlags{image: "cat.png"}, bgSummary: "sample:5"},
	} {
		if _, _, err := f.build(); err == nil || !strings.Contains(err.Error(), "-background-summary works with -method kernelshap") {
			t.Errorf("-method %s -text %q -image %q: err = %v", f.method, f.text, f.image, err)
		}
	}
}
