package explain_test

import (
	"context"
	"fmt"
	"math"

	"github.com/explainer-sidecar/explainer/explain"
)

// logistic2 is P(class 1) = σ(−5 + 0.04·x0 + x1), as two class scores.
type logistic2 struct{}

func (logistic2) Predict(_ context.Context, rows [][]float64) ([][]float64, error) {
	out := make([][]float64, len(rows))
	for i, r := range rows {
		p := 1 / (1 + math.Exp(5-0.04*r[0]-r[1]))
		out[i] = []float64{1 - p, p}
	}
	return out, nil
}

// The closest row in class 1 to (20, 2) moves x1 alone: one MAD of x1
// (2.5) raises the score by 2.5, one MAD of x0 (25) by only 1.
func ExampleCounterfactuals() {
	data := make([][]float64, 101)
	for i := range data {
		data[i] = []float64{float64(i), 0.1 * float64(i)}
	}
	res, err := explain.Counterfactuals(context.Background(), logistic2{}, explain.CounterfactualRequest{
		Instance: []float64{20, 2}, Data: data, FeatureNames: []string{"x0", "x1"},
		DesiredClass: 1, Count: 1, Seed: 7,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	cf := res.Counterfactuals.Rows[0]
	for _, ch := range cf.Changes {
		fmt.Printf("%s: %.0f → %.2f\n", ch.Feature, ch.From, ch.To)
	}
	fmt.Printf("proximity %.2f MAD units, class %d\n", cf.Proximity, cf.Label)
	// Output:
	// x1: 2 → 4.20
	// proximity 0.88 MAD units, class 1
}
