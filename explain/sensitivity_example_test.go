package explain_test

import (
	"context"
	"fmt"

	"github.com/explainer-sidecar/explainer/explain"
)

// dosage scores one output, linear in dose and weight: its partial
// derivatives are 3 and −0.5 everywhere.
type dosage struct{}

func (dosage) Predict(_ context.Context, rows [][]float64) ([][]float64, error) {
	out := make([][]float64, len(rows))
	for i, r := range rows {
		out[i] = []float64{1 + 3*r[0] - 0.5*r[1]}
	}
	return out, nil
}

func ExampleSensitivity() {
	data := [][]float64{{1, 70}, {2, 80}, {0.5, 60}, {4, 90}}
	res, err := explain.Sensitivity(context.Background(), dosage{}, explain.SensitivityRequest{
		Data:         data,
		FeatureNames: []string{"dose", "weight"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, a := range res.Labels[0].Attributions {
		fmt.Printf("%-6s mean ∂f/∂x %+.3f, mean |∂f/∂x| %.3f\n", a.Description, a.Weight, a.MeanAbs)
	}
	// Output:
	// dose   mean ∂f/∂x +3.000, mean |∂f/∂x| 3.000
	// weight mean ∂f/∂x -0.500, mean |∂f/∂x| 0.500
}
