package explain

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/explainer-sidecar/explainer/sampler"
)

// BenchmarkLIMEStdErr measures the standard errors' share of a LIME
// explanation: 5000 samples × 30 continuous features with an instant
// (linear) model, the default 10 features (highest_weights) and all 30
// (the worst case, k = p). Each iteration runs LIME once and, separately,
// the standard errors of the same kind of fit on a neighbourhood prepared
// as LIME prepares it; "se/lime" is the ratio of the two times, measured
// in the same run (LIME's time includes its own standard errors).
//
//	go test -run '^$' -bench LIMEStdErr ./explain/
func BenchmarkLIMEStdErr(b *testing.B) {
	const n, p = 5000, 30
	rng := rand.New(rand.NewPCG(1, 2))
	w := make([]float64, p)
	instance := make([]float64, p)
	for j := range w {
		w[j] = rng.NormFloat64()
		instance[j] = rng.NormFloat64()
	}
	m := &linearModel{w: w, b: 0.5}
	stats := unitStats(p)
	for _, bc := range []struct {
		name string
		k    int
		sel  FeatureSelection
	}{
		{"10_features", 10, SelectAuto},
		{"30_features", p, SelectNone},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := LIMERequest{Instance: instance, Stats: stats, Sampling: Sampling{NumSamples: n, Seed: 3}, SurrogateFit: SurrogateFit{NumFeatures: bc.k, Selection: bc.sel}}
			// The same fit LIME does, kept to time its standard errors.
			tab := sampler.Tabular{Stats: stats}
			hood, err := tab.Sample(instance, n, rand.New(rand.NewPCG(req.Seed, 0x9e3779b97f4a7c15)))
			if err != nil {
				b.Fatal(err)
			}
			scores, _ := m.Predict(context.Background(), hood.Raw)
			target := make([]float64, n)
			for i, row := range scores {
				target[i] = row[0]
			}
			nb, err := NewNeighborhood(hood.Interpretable, kernelWeightsToFirst(hood.Interpretable, 0.75*5.477225575051661))
			if err != nil {
				b.Fatal(err)
			}
			s, err := nb.Fit(target, bc.k, bc.sel, SurrogateConfig{})
			if err != nil {
				b.Fatal(err)
			}
			ls, err := nb.label(target)
			if err != nil {
				b.Fatal(err)
			}
			resid := nb.residuals(ls, s.Features, s.Coef)

			var limeTime, seTime time.Duration
			for b.Loop() {
				t0 := time.Now()
				if _, err := LIME(context.Background(), m, req); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				nb.stdErrs(nb.gramView(), resid, s.Features, s.Coef, SurrogateConfig{}, nil)
				limeTime += t1.Sub(t0)
				seTime += time.Since(t1)
			}
			b.ReportMetric(float64(seTime)/float64(limeTime), "se/lime")
		})
	}
}
