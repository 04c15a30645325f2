package explain_test

import (
	"context"
	"fmt"
	"math"

	"github.com/explainer-sidecar/explainer/explain"
)

// approval approves a loan (class 1) when income outweighs debt; it never
// looks at the applicant's age (feature 2).
type approval struct{}

func (approval) Predict(_ context.Context, rows [][]float64) ([][]float64, error) {
	out := make([][]float64, len(rows))
	for i, r := range rows {
		p := 1 / (1 + math.Exp(-(2*r[0] - r[1])))
		out[i] = []float64{1 - p, p}
	}
	return out, nil
}

func ExamplePermutation() {
	// 200 applicants: income, debt, age; the recorded decisions are the
	// model's own, so the baseline accuracy is 1.
	var data [][]float64
	var decisions []float64
	for i := range 200 {
		x := []float64{math.Sin(float64(i)), math.Cos(float64(3 * i)), 20 + float64(i%50)}
		data = append(data, x)
		y := 0.0
		if 2*x[0]-x[1] > 0 {
			y = 1
		}
		decisions = append(decisions, y)
	}
	res, err := explain.Permutation(context.Background(), approval{}, explain.PermutationRequest{
		Data:         data,
		Target:       decisions,
		FeatureNames: []string{"income", "debt", "age"},
		Scoring:      explain.ScoreAccuracy,
		Repeats:      5,
		Seed:         1,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// The importance of each feature: the drop in accuracy when its
	// column is shuffled, mean ± standard deviation over the repeats.
	fmt.Printf("baseline %s: %.2f\n", res.Scoring, res.BaselineScore)
	for _, a := range res.Labels[0].Attributions {
		fmt.Printf("%-6s %.2f ± %.2f\n", a.Description, a.Weight, a.Std)
	}
	// Output:
	// baseline accuracy: 1.00
	// income 0.44 ± 0.03
	// debt   0.14 ± 0.01
	// age    0.00 ± 0.00
}
