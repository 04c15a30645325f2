package server

import (
	"testing"

	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// TestRegistryCoversOneof fails when a case of ExplainRequest.method has
// no registered method: a new case needs its method_<name>.go.
func TestRegistryCoversOneof(t *testing.T) {
	fields := methodOneof.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		m, ok := methods[fd.Name()]
		if !ok || m.parse == nil {
			t.Errorf("ExplainRequest.method case %q has no registered method: add server/method_%s.go", fd.Name(), fd.Name())
		}
	}
	if len(methods) != fields.Len() {
		t.Errorf("%d methods registered for %d oneof cases", len(methods), fields.Len())
	}
}

// TestMethodLabels checks the metric label of every case, of an unset
// method, and that streamed data is read from the method's options.
func TestMethodLabels(t *testing.T) {
	tests := []struct {
		name     string
		req      *explainerv1.ExplainRequest
		label    string
		streamed bool
	}{
		{"unset", &explainerv1.ExplainRequest{}, "unset", false},
		{"lime", &explainerv1.ExplainRequest{Method: &explainerv1.ExplainRequest_Lime{Lime: &explainerv1.LimeOptions{}}}, "lime", false},
		{"kernel_shap", &explainerv1.ExplainRequest{Method: &explainerv1.ExplainRequest_KernelShap{KernelShap: &explainerv1.KernelShapOptions{}}}, "kernel_shap", false},
		{"permutation inline", &explainerv1.ExplainRequest{Method: &explainerv1.ExplainRequest_Permutation{Permutation: &explainerv1.PermutationOptions{}}}, "permutation", false},
		{"permutation streamed", &explainerv1.ExplainRequest{Method: &explainerv1.ExplainRequest_Permutation{Permutation: &explainerv1.PermutationOptions{Streamed: true}}}, "permutation", true},
		{"sensitivity streamed", &explainerv1.ExplainRequest{Method: &explainerv1.ExplainRequest_Sensitivity{Sensitivity: &explainerv1.SensitivityOptions{Streamed: true}}}, "sensitivity", true},
		{"occlusion", &explainerv1.ExplainRequest{Method: &explainerv1.ExplainRequest_Occlusion{Occlusion: &explainerv1.OcclusionOptions{}}}, "occlusion", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := methodLabel(tt.req); got != tt.label {
				t.Errorf("methodLabel = %q, want %q", got, tt.label)
			}
			if got := streamsData(tt.req); got != tt.streamed {
				t.Errorf("streamsData = %v, want %v", got, tt.streamed)
			}
		})
	}
}

// TestRequestSeed checks the seed read from any method's options: the
// request's when set (0 included), a random one otherwise, 0 for methods
// without a seed.
func TestRequestSeed(t *testing.T) {
	random := func() uint64 { return 99 }
	zero, seven := uint64(0), uint64(7)
	tests := []struct {
		name string
		req  *explainerv1.ExplainRequest
		want uint64
	}{
		{"lime set", &explainerv1.ExplainRequest{Method: &explainerv1.ExplainRequest_Lime{Lime: &explainerv1.LimeOptions{Seed: &seven}}}, 7},
		{"lime zero", &explainerv1.ExplainRequest{Method: &explainerv1.ExplainRequest_Lime{Lime: &explainerv1.LimeOptions{Seed: &zero}}}, 0},
		{"lime unset", &explainerv1.ExplainRequest{Method: &explainerv1.ExplainRequest_Lime{Lime: &explainerv1.LimeOptions{}}}, 99},
		{"permutation set", &explainerv1.ExplainRequest{Method: &explainerv1.ExplainRequest_Permutation{Permutation: &explainerv1.PermutationOptions{Seed: &seven}}}, 7},
		{"sensitivity has none", &explainerv1.ExplainRequest{Method: &explainerv1.ExplainRequest_Sensitivity{Sensitivity: &explainerv1.SensitivityOptions{}}}, 0},
		{"unset method", &explainerv1.ExplainRequest{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := requestSeed(tt.req, random); got != tt.want {
				t.Errorf("requestSeed = %d, want %d", got, tt.want)
			}
		})
	}
}
