package explain_test

import (
	"context"
	"fmt"
	"math"

	"github.com/explainer-sidecar/explainer/explain"
	"github.com/explainer-sidecar/explainer/sampler"
)

// probit scores two classes from a linear score: class 1 rises with
// feature 0 and falls with feature 2; feature 1 is ignored.
type probit struct{}

func (probit) Predict(_ context.Context, rows [][]float64) ([][]float64, error) {
	out := make([][]float64, len(rows))
	for i, r := range rows {
		p := 1 / (1 + math.Exp(-(2*r[0] - r[2])))
		out[i] = []float64{1 - p, p}
	}
	return out, nil
}

func ExampleLIME() {
	// Training data the neighbourhood is drawn from: here, statistics of
	// standard normal features.
	stats := &sampler.Stats{Means: []float64{0, 0, 0}, Stds: []float64{1, 1, 1}}
	res, err := explain.LIME(context.Background(), probit{}, explain.LIMERequest{
		Instance:     []float64{0.2, 1, -0.3},
		FeatureNames: []string{"dose", "age", "weight"},
		Stats:        stats,
		SurrogateFit: explain.SurrogateFit{NumFeatures: 2},
		Targets:      explain.Targets{Labels: []int{1}},
		Sampling:     explain.Sampling{Seed: 1},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, a := range res.Labels[0].Attributions {
		sign := "+"
		if a.Weight < 0 {
			sign = "-"
		}
		fmt.Println(a.Description, sign)
	}
	// Output:
	// dose +
	// weight -
}
