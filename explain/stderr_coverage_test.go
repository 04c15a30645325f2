package explain

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/explainer-sidecar/explainer/sampler"
)

// noisyLinearModel scores wᵀx + b + ε, ε ~ N(0, σ²) drawn from its own
// seeded generator, one column.
type noisyLinearModel struct {
	w     []float64
	b     float64
	sigma float64
	rng   *rand.Rand
}

func (m *noisyLinearModel) Predict(_ context.Context, rows [][]float64) ([][]float64, error) {
	out := make([][]float64, len(rows))
	buf := make([]float64, len(rows))
	for i, r := range rows {
		s := m.b
		for j, v := range r {
			s += m.w[j] * v
		}
		if m.sigma > 0 {
			s += m.sigma * m.rng.NormFloat64()
		}
		buf[i] = s
		out[i] = buf[i : i+1 : i+1]
	}
	return out, nil
}

// coverageBand returns the binomial band nominal ± 3·sqrt(nominal·(1 −
// nominal)/n) for the fraction of n intervals that cover their target.
func coverageBand(nominal float64, n int) (lo, hi float64) {
	h := 3 * math.Sqrt(nominal*(1-nominal)/float64(n))
	return nominal - h, nominal + h
}

// The coverage experiments: runs × features intervals ĝ ± 1.96·SE, pooled.
const (
	coverageRuns = 200
	coverageZ    = 1.96
)

// TestLIMEStdErrCoverage is the acceptance criterion of the standard
// errors: on a linear model with gaussian noise on its output, tabular LIME
// (continuous features, no discretization, all features, α = 0) is
// weighted least squares of a linear function with independent errors, so
// ĝ is unbiased for the true coefficients and ĝ ± 1.96·SE should cover
// them in 95% of runs.
//
// The estimand: the sampler draws x = μ + σ·z (around the instance with
// SampleAroundInstance) and fits on z = (x − μ)/σ (sampler.Stats: Means,
// Stds), so f = wᵀx + b = Σ_j (w_j σ_j) z_j + (b + wᵀμ) and the
// coefficient of z_j is g_j = w_j·σ_j. A noiseless run recovers it to
// rounding with a standard error of 0 (checked first), which also rules
// out a ridge bias: Alpha < 0 is ordinary least squares.
//
// The band: 200 runs × 5 features = 1000 intervals, pooled, must cover
// in 0.95 ± 3·sqrt(0.95·0.05/1000) = [0.929, 0.971] of cases. The
// intervals of one run share its noise, but the features' estimates are
// nearly uncorrelated (the z_j are drawn independently), so the binomial
// width is about right; the runs are seeded, so the test is deterministic
// and the band is a statement about the estimator, not a flaky bound.
func TestLIMEStdErrCoverage(t *testing.T) {
	w := []float64{1.5, -2, 0.5, 0, 3}
	stats := &sampler.Stats{Means: []float64{1, -2, 0.5, 3, 0}, Stds: []float64{2, 0.5, 1, 3, 0.25}}
	truth := make([]float64, len(w))
	for j := range w {
		truth[j] = w[j] * stats.Stds[j]
	}
	instance := []float64{2, -1.5, 0, 4, 0.1}
	tests := []struct {
		name    string
		samples int
		sigma   float64
		around  bool
	}{
		{"300 samples around the mean", 300, 0.5, false},
		{"1000 samples around the instance", 1000, 2, true},
		{"60 samples, small n", 60, 0.5, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := LIMERequest{
				Instance: instance, Stats: stats, Sampling: Sampling{NumSamples: tt.samples}, SurrogateFit: SurrogateFit{Selection: SelectNone, Surrogate: SurrogateConfig{Alpha: -1}},
				SampleAroundInstance: tt.around,
			}
			res, err := LIME(context.Background(), &noisyLinearModel{w: w, b: 0.7}, req)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range res.Labels[0].Attributions {
				if math.Abs(a.Weight-truth[a.Index]) > 1e-12*(1+math.Abs(truth[a.Index])) {
					t.Fatalf("noiseless: feature %d weight %v, want w·σ = %v", a.Index, a.Weight, truth[a.Index])
				}
				if a.StdErr > 1e-12 {
					t.Fatalf("noiseless: feature %d standard error %v, want 0", a.Index, a.StdErr)
				}
			}

			covered, total := 0, 0
			var seSum, errSq float64
			for run := range coverageRuns {
				req.Seed = uint64(run)
				m := &noisyLinearModel{w: w, b: 0.7, sigma: tt.sigma, rng: rand.New(rand.NewPCG(uint64(run), 7))}
				res, err := LIME(context.Background(), m, req)
				if err != nil {
					t.Fatal(err)
				}
				for _, a := range res.Labels[0].Attributions {
					d := a.Weight - truth[a.Index]
					if !(a.StdErr > 0) {
						t.Fatalf("run %d feature %d: standard error %v", run, a.Index, a.StdErr)
					}
					if math.Abs(d) <= coverageZ*a.StdErr {
						covered++
					}
					total++
					seSum += a.StdErr
					errSq += d * d
				}
			}
			frac := float64(covered) / float64(total)
			lo, hi := coverageBand(0.95, total)
			t.Logf("coverage %d/%d = %.4f (band [%.4f, %.4f]); mean SE %.4g, RMS error %.4g",
				covered, total, frac, lo, hi, seSum/float64(total), math.Sqrt(errSq/float64(total)))
			if frac < lo || frac > hi {
				t.Errorf("coverage %.4f outside [%.4f, %.4f]", frac, lo, hi)
			}
		})
	}
}

// TestKernelSHAPStdErrCoverage: KernelSHAP with sampled coalitions on the
// nonlinear M = 11 fixture (a deterministic model: the error comes from the
// coalitions drawn), against its exact Shapley values, 200 seeds × 11
// players = 2200 intervals per budget.
//
// The sandwich is conservative here, by construction (see KernelSHAP): the
// sizes the budget enumerates whole carry no sampling error but their
// residuals (the model's non-additivity) enter the meat, a coalition drawn
// c times is one row of weight ∝ c, and complements are drawn in pairs.
// Observed (seeds 0…199): coverage 0.9986, 1.0000, 1.0000 for budgets
// 200, 500, 1000 of 2046 coalitions, with a mean SE 1.8, 2.7 and 4.1
// times the RMS error. So the test asserts coverage ≥ 0.95 −
// 3·sqrt(0.95·0.05/2200) = 0.936 (the one-sided binomial bound), and,
// against an estimator that covers by being useless, a mean SE at most 8
// times the RMS error (twice the worst observed).
func TestKernelSHAPStdErrCoverage(t *testing.T) {
	fx := loadShapFixture(t, "exact_shapley_nonlinear_m11")
	want := fx.Links["identity"].Phi
	f := shapFixtureModels["exact_shapley_nonlinear_m11"]
	tests := []struct {
		name   string
		budget int
	}{
		{"200 of 2046 coalitions", 200},
		{"500 of 2046 coalitions", 500},
		{"1000 of 2046 coalitions", 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			covered, total := 0, 0
			var seSum, errSq float64
			for run := range coverageRuns {
				res, err := KernelSHAP(context.Background(), &shapRowModel{f: f}, KernelSHAPRequest{
					Instance: fx.X, Background: fx.Background, BackgroundWeights: fx.BackgroundWeights,
					Sampling: Sampling{NumSamples: tt.budget, Seed: uint64(run)},
				})
				if err != nil {
					t.Fatal(err)
				}
				for _, a := range res.Labels[0].Attributions {
					d := a.Weight - want[a.Index]
					if math.Abs(d) <= coverageZ*a.StdErr {
						covered++
					}
					total++
					seSum += a.StdErr
					errSq += d * d
				}
			}
			frac := float64(covered) / float64(total)
			lo, _ := coverageBand(0.95, total)
			meanSE, rms := seSum/float64(total), math.Sqrt(errSq/float64(total))
			t.Logf("coverage %d/%d = %.4f (at least %.4f); mean SE %.4g, RMS error %.4g (ratio %.2f)",
				covered, total, frac, lo, meanSE, rms, meanSE/rms)
			if frac < lo {
				t.Errorf("coverage %.4f below %.4f", frac, lo)
			}
			if meanSE > 8*rms {
				t.Errorf("mean standard error %.4g is more than 8 times the RMS error %.4g", meanSE, rms)
			}
		})
	}
}
