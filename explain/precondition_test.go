package explain

import (
	"context"
	"errors"
	"testing"
)

// TestRequestErrorPrecondition (issue 14, item 6): a request that is valid
// but that the model's answer makes fail (a label beyond the classes it
// returned, a regression output it lacks, one class column for a
// classification score, a logit of a mean score of 0 or 1) is a
// RequestError with Precondition set, FAILED_PRECONDITION for the server;
// a request wrong in itself is one without.
func TestRequestErrorPrecondition(t *testing.T) {
	x := []float64{0.5, -1, 2}
	bg := [][]float64{{0, 0, 0}, {1, 1, 1}}
	two := &rowModel{f: func([]float64) []float64 { return []float64{0.25, 0.75} }}
	one := &rowModel{f: func(r []float64) []float64 { return []float64{r[0]} }}
	certain := &rowModel{f: func([]float64) []float64 { return []float64{0, 1} }}
	data := [][]float64{{0, 1, 2}, {1, 2, 3}, {2, 3, 4}, {3, 4, 5}}
	text := textModelFunc(func(_ context.Context, texts []string) ([][]float64, error) {
		out := make([][]float64, len(texts))
		for i := range out {
			out[i] = []float64{0.4, 0.6}
		}
		return out, nil
	})
	tests := []struct {
		name  string
		run   func() error
		field string
		pre   bool
	}{
		{"kernelshap label beyond the classes", func() error {
			_, err := KernelSHAP(context.Background(), two, KernelSHAPRequest{Instance: x, Background: bg, Targets: Targets{Labels: []int{2}}})
			return err
		}, "labels[0]", true},
		{"kernelshap logit of a certain class", func() error {
			_, err := KernelSHAP(context.Background(), certain, KernelSHAPRequest{Instance: x, Background: bg, Link: LinkLogit, Targets: Targets{Labels: []int{1}}})
			return err
		}, "link", true},
		{"occlusion target beyond the classes", func() error {
			_, err := Occlusion(context.Background(), two, OcclusionRequest{Input: x, Shape: []int{3}, Window: []int{1}, Targets: []int{5}})
			return err
		}, "labels[0]", true},
		{"lime text label beyond the classes", func() error {
			_, _, err := LIMEText(context.Background(), text, LIMETextRequest{Text: "a b c", Sampling: Sampling{NumSamples: 10}, Targets: Targets{Labels: []int{1, 3}}})
			return err
		}, "labels[1]", true},
		{"sensitivity label beyond the classes", func() error {
			_, err := Sensitivity(context.Background(), two, SensitivityRequest{Data: data, Labels: []int{0, 2}})
			return err
		}, "labels[1]", true},
		{"permutation targets beyond the classes", func() error {
			_, err := Permutation(context.Background(), two, PermutationRequest{Data: data, Target: []float64{0, 1, 2, 0}, Repeats: 1})
			return err
		}, "target", true},
		{"permutation output out of range", func() error {
			_, err := Permutation(context.Background(), two, PermutationRequest{Data: data, Target: []float64{0, 1, 2, 0}, Scoring: ScoreR2, Output: 2, Repeats: 1})
			return err
		}, "output", true},
		{"permutation accuracy on a one-output model", func() error {
			_, err := Permutation(context.Background(), one, PermutationRequest{Data: data, Target: []float64{0, 0, 0, 0}, Repeats: 1})
			return err
		}, "scoring", true},
		// Wrong in themselves, whatever the model.
		{"occlusion window too big", func() error {
			_, err := Occlusion(context.Background(), two, OcclusionRequest{Input: x, Shape: []int{3}, Window: []int{4}})
			return err
		}, "window[0]", false},
		{"kernelshap negative label", func() error {
			_, err := KernelSHAP(context.Background(), two, KernelSHAPRequest{Instance: x, Background: bg, Targets: Targets{Labels: []int{-1}}})
			return err
		}, "labels[0]", false},
		{"permutation negative output", func() error {
			_, err := Permutation(context.Background(), two, PermutationRequest{Data: data, Target: []float64{0, 1, 2, 0}, Scoring: ScoreR2, Output: -1})
			return err
		}, "output", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run()
			var re *RequestError
			if !errors.As(err, &re) || re.Field != tt.field {
				t.Fatalf("err = %v, want a RequestError on %q", err, tt.field)
			}
			if re.Precondition != tt.pre {
				t.Fatalf("%v: Precondition = %v, want %v", err, re.Precondition, tt.pre)
			}
		})
	}
}
