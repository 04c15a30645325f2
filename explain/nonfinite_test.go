package explain

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/explainer-sidecar/explainer/sampler"
)

// TestNonFiniteResultsRefused (issue 14, item 6): scores near 1e300 are
// finite, so the predictor lets them through, but the estimators' weighted
// sums of squares overflow (1e300² is beyond float64's 1.8e308). Every
// estimator must then refuse with a RequestError with Precondition set,
// rather than return NaN, ±Inf or attributions of 0. At 1e100 (squares of
// 1e200) the same runs succeed with finite results (1e50 for permutation
// importance with the squared error, whose importances are squares and
// their spread squares of those): the refusal is for overflow, not for
// large scores.
func TestNonFiniteResultsRefused(t *testing.T) {
	// sig is a smooth score in (0, 1) of a row, scaled.
	sig := func(x []float64) float64 {
		var s float64
		for i, v := range x {
			s += float64(i%3-1) * v
		}
		return 1 / (1 + math.Exp(-s))
	}
	rows := func(scale float64) Model {
		return &rowModel{f: func(x []float64) []float64 { p := sig(x); return []float64{scale * (1 - p), scale * p} }}
	}
	texts := func(scale float64) TextModel {
		return textModelFunc(func(_ context.Context, texts []string) ([][]float64, error) {
			out := make([][]float64, len(texts))
			for i, s := range texts {
				p := 1 / (1 + math.Exp(-float64(len(s))/10+2))
				out[i] = []float64{scale * (1 - p), scale * p}
			}
			return out, nil
		})
	}
	x := []float64{0.5, -1, 2, 0.25}
	bg := [][]float64{{0, 0, 0, 0}, {1, -1, 1, -1}, {2, 0.5, -0.5, 1}}
	data := [][]float64{{0, 1, 2, 3}, {1, 0.5, 3, 1}, {2, 3, -4, 0}, {3, -4, 5, 2}, {-1, 2, 0, 1}}
	img := limgImage(8, 8, 3)
	seg, nseg := sampler.GridSegments(8, 8, 2, 2)
	tests := []struct {
		name  string
		field string
		run   func(scale float64) error
		ok    float64 // a scale that does not overflow; 0 means 1e100
	}{
		{"FitSurrogate", "target", func(scale float64) error {
			target := make([]float64, len(data))
			for i, r := range data {
				target[i] = scale * sig(r)
			}
			_, err := FitSurrogate(data, target, nil, 2, SelectNone, SurrogateConfig{})
			return err
		}, 0},
		{"LIME", "scores", func(scale float64) error {
			_, err := LIME(context.Background(), rows(scale), LIMERequest{Instance: x, Stats: unitStats(4), Sampling: Sampling{NumSamples: 200}, SurrogateFit: SurrogateFit{NumFeatures: 2}, Targets: Targets{Labels: []int{1}}})
			return err
		}, 0},
		{"LIMEText", "scores", func(scale float64) error {
			_, _, err := LIMEText(context.Background(), texts(scale), LIMETextRequest{Text: "the cat sat on the mat today", Sampling: Sampling{NumSamples: 100}, Targets: Targets{Labels: []int{1}}})
			return err
		}, 0},
		{"LIMEImage", "scores", func(scale float64) error {
			m := &occModel{f: func(r []float64) []float64 { p := sig(r[:12]); return []float64{scale * p, scale * (1 - p)} }}
			_, err := LIMEImage(context.Background(), m, LIMEImageRequest{Image: img, Segments: seg, NumSegments: nseg, Sampling: Sampling{NumSamples: 100}, Targets: Targets{Labels: []int{0}}})
			return err
		}, 0},
		{"KernelSHAP", "scores", func(scale float64) error {
			_, err := KernelSHAP(context.Background(), rows(scale), KernelSHAPRequest{Instance: x, Background: bg, Targets: Targets{Labels: []int{1}}, Sampling: Sampling{NumSamples: 10}})
			return err
		}, 0},
		{"KernelSHAPText", "scores", func(scale float64) error {
			_, _, err := KernelSHAPText(context.Background(), texts(scale), KernelSHAPTextRequest{Text: "the cat sat on the mat today", Targets: Targets{Labels: []int{1}}, Sampling: Sampling{NumSamples: 20}})
			return err
		}, 0},
		{"Permutation", "scores", func(scale float64) error {
			_, err := Permutation(context.Background(), rows(scale), PermutationRequest{Data: data, Target: []float64{0, 1, 0, 1, 0}, Scoring: ScoreNegMSE, Output: 1, Repeats: 2})
			return err
		}, 1e50},
		{"Sensitivity", "scores", func(scale float64) error {
			_, err := Sensitivity(context.Background(), rows(scale), SensitivityRequest{Data: data})
			return err
		}, 0},
		{"PartialDependence", "scores", func(scale float64) error {
			_, err := PartialDependence(context.Background(), rows(scale), PartialDependenceRequest{Data: data, Kind: PDBoth})
			return err
		}, 0},
		{"ALE", "scores", func(scale float64) error {
			_, err := ALE(context.Background(), rows(scale), ALERequest{Data: data})
			return err
		}, 0},
		{"Occlusion", "scores", func(scale float64) error {
			_, err := Occlusion(context.Background(), rows(scale), OcclusionRequest{Input: data[3], Shape: []int{4}, Window: []int{2}, Targets: []int{1}})
			return err
		}, 0},
		{"FidelityCurves", "scores", func(scale float64) error {
			// Sums of two scores: 1e300 stays finite, 1.5e308 does not.
			score := func(_ context.Context, present [][]bool) ([]float64, error) {
				out := make([]float64, len(present))
				for i, row := range present {
					out[i] = scale * 1.5e8
					if row[0] {
						out[i] = -out[i]
					}
				}
				return out, nil
			}
			_, err := FidelityCurves(context.Background(), score, []float64{1, 0.5, -2, 0.1}, CurveOptions{Steps: 4, RandomOrders: 2})
			return err
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok := tt.ok
			if ok == 0 {
				ok = 1e100
			}
			if err := tt.run(ok); err != nil {
				t.Fatalf("scores of %g: %v, want a result", ok, err)
			}
			err := tt.run(1e300)
			var re *RequestError
			if !errors.As(err, &re) || re.Field != tt.field || !re.Precondition {
				t.Fatalf("scores of 1e300: err = %v, want a RequestError on %q with Precondition", err, tt.field)
			}
			if !strings.Contains(err.Error(), "not finite") {
				t.Fatalf("%q does not say the result is not finite", err)
			}
		})
	}
}
