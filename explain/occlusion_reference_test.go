package explain

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"slices"
	"testing"
)

// occlusionFixture is testdata/occlusion_captum.json: Captum's Occlusion
// re-implemented by brute force in torch (testdata/occlusion_captum.py says
// how, and how to rerun it).
type occlusionFixture struct {
	Cases []struct {
		Name          string    `json:"name"`
		Shape         []int     `json:"shape"`
		Window        []int     `json:"window"`
		Strides       []int     `json:"strides"`
		Targets       []int     `json:"targets"`
		Input         []float64 `json:"input"`
		Baseline      float64   `json:"baseline"`
		BaselineInput []float64 `json:"baseline_input"`
		Model         struct {
			W1 [][]float64 `json:"w1"`
			B1 []float64   `json:"b1"`
			W2 [][]float64 `json:"w2"`
			B2 []float64   `json:"b2"`
		} `json:"model"`
		Expected struct {
			ShiftCounts    []int         `json:"shift_counts"`
			NumWindows     int           `json:"num_windows"`
			InstanceScores []float64     `json:"instance_scores"`
			Coverage       []int         `json:"coverage"`
			Attributions   [][]float64   `json:"attributions"`
			StdErrs        [][]float64   `json:"stderrs"`
			Bands          [][][]float64 `json:"bands"`
		} `json:"expected"`
	} `json:"cases"`
}

// TestOcclusionCaptumReference checks Occlusion against Captum's algorithm
// on windows that the strides do not fit exactly (issue 14, item 9: an
// 8×8 image, a 3×3 window and stride 2 take ⌈(8−3)/2⌉+1 = 4 windows per
// axis, the last one cropped), and on exact fits, n-D and 1-D inputs,
// scalar and tensor baselines: the window counts and the coverage exactly;
// the instance's scores, the maps and every band of partial results to
// |got − want| ≤ 1e-9·|want| + 1e-12 (the fixtures' rounding tolerance: the
// model's sums and the drops' sums run in another order than torch's, a
// few ulps of scores below 1); the standard errors to 1e-12 + 3e-8. The
// latter is what the one-pass variance (OcclusionResult.StdErrs) can lose
// to cancellation: an error ε·Σ(d − d₀)² in the variance, at most
// √(ε·max(d − d₀)²) ≈ 1.5e-8·2 in its square root, the drops d of
// probabilities being in [−1, 1].
func TestOcclusionCaptumReference(t *testing.T) {
	b, err := os.ReadFile("testdata/occlusion_captum.json")
	if err != nil {
		t.Fatal(err)
	}
	var fx occlusionFixture
	if err := json.Unmarshal(b, &fx); err != nil {
		t.Fatal(err)
	}
	if len(fx.Cases) == 0 {
		t.Fatal("no cases")
	}
	for _, c := range fx.Cases {
		t.Run(c.Name, func(t *testing.T) {
			mod := c.Model
			f := func(x []float64) []float64 {
				h := make([]float64, len(mod.W1))
				for k, w := range mod.W1 {
					s := mod.B1[k]
					for i, v := range x {
						s += w[i] * v
					}
					h[k] = math.Tanh(s)
				}
				out := make([]float64, len(mod.W2))
				var z float64
				for c, w := range mod.W2 {
					s := mod.B2[c]
					for k, v := range h {
						s += w[k] * v
					}
					out[c] = s
				}
				top := slices.Max(out)
				for c := range out {
					out[c] = math.Exp(out[c] - top)
					z += out[c]
				}
				for c := range out {
					out[c] /= z
				}
				return out
			}
			for d, n := range c.Shape {
				if got := OcclusionWindowCount(n, c.Window[d], c.Strides[d]); got != c.Expected.ShiftCounts[d] {
					t.Fatalf("OcclusionWindowCount(%d, %d, %d) = %d, Captum's shift count %d", n, c.Window[d], c.Strides[d], got, c.Expected.ShiftCounts[d])
				}
			}
			var bands [][][]float64
			var dones []int
			req := OcclusionRequest{
				Input: c.Input, Shape: c.Shape, Window: c.Window, Strides: c.Strides,
				Baseline: c.Baseline, BaselineInput: c.BaselineInput, Targets: c.Targets,
				BatchRows: 5, // calls that end inside bands and windows
				Partial: func(done, total int, a [][]float64) {
					if total != c.Expected.NumWindows {
						t.Errorf("partial total %d, want %d", total, c.Expected.NumWindows)
					}
					dones = append(dones, done)
					bands = append(bands, a)
				},
			}
			res, err := Occlusion(context.Background(), &occModel{f: f}, req)
			if err != nil {
				t.Fatal(err)
			}
			if res.NumWindows != c.Expected.NumWindows {
				t.Fatalf("NumWindows %d, Captum's %d", res.NumWindows, c.Expected.NumWindows)
			}
			if !slices.Equal(res.Coverage, c.Expected.Coverage) {
				t.Fatalf("coverage %v,\nCaptum's %v", res.Coverage, c.Expected.Coverage)
			}
			tol := &tolerance{rel: 1e-9, abs: 1e-12}
			for i, want := range c.Expected.InstanceScores {
				tol.check(t, "instance score", res.InstanceScores[i], want)
			}
			for k := range c.Targets {
				for i, want := range c.Expected.Attributions[k] {
					tol.check(t, "attribution", res.Attributions[k][i], want)
				}
			}
			seTol := &tolerance{abs: 1e-12 + 3e-8}
			for k := range c.Targets {
				for i, want := range c.Expected.StdErrs[k] {
					seTol.check(t, "standard error", res.StdErrs[k][i], want)
				}
			}
			perBand := c.Expected.NumWindows / c.Expected.ShiftCounts[0]
			if len(bands) != len(c.Expected.Bands) {
				t.Fatalf("%d partial results, want one per band: %d", len(bands), len(c.Expected.Bands))
			}
			for bi, band := range c.Expected.Bands {
				if dones[bi] != (bi+1)*perBand {
					t.Errorf("band %d: done %d, want %d", bi, dones[bi], (bi+1)*perBand)
				}
				for k := range c.Targets {
					for i, want := range band[k] {
						tol.check(t, "band", bands[bi][k][i], want)
					}
				}
			}
			t.Logf("%d values within rel 1e-9 + abs 1e-12 (worst use %.2g), %d standard errors within 3e-8 (worst use %.2g)",
				tol.checked, tol.worstUse, seTol.checked, seTol.worstUse)
		})
	}
}
