package explain_test

import (
	"context"
	"fmt"

	"github.com/explainer-sidecar/explainer/explain"
)

// debtRisk scores one class from a linear score with an interaction: income
// lowers it, debt raises it, and debt weighs more for the young.
type debtRisk struct{}

func (debtRisk) Predict(_ context.Context, rows [][]float64) ([][]float64, error) {
	out := make([][]float64, len(rows))
	for i, r := range rows {
		income, debt, age := r[0], r[1], r[2]
		out[i] = []float64{0.5 - 0.004*income + 0.01*debt - 0.0001*debt*age}
	}
	return out, nil
}

func ExampleKernelSHAP() {
	// Background rows stand in for "absent" features: with 3 players all
	// 2³ − 2 coalitions fit in the default budget, so the attributions are
	// the exact Shapley values, and they add up to f(x) − E f(background).
	background := [][]float64{
		{40, 10, 50},
		{60, 5, 35},
		{80, 0, 60},
	}
	res, err := explain.KernelSHAP(context.Background(), debtRisk{}, explain.KernelSHAPRequest{
		Instance:     []float64{30, 20, 25},
		Background:   background,
		FeatureNames: []string{"income", "debt", "age"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	l := res.Labels[0]
	fmt.Printf("f(x) = %.4f, E f(background) = %.4f\n", l.ModelValue, l.BaseValue)
	sum := 0.0
	for _, a := range l.Attributions {
		fmt.Printf("%-6s %+.4f\n", a.Description, a.Weight)
		sum += a.Weight
	}
	fmt.Printf("sum    %+.4f\n", sum)
	fmt.Println(res.NumSamples, "rows scored")
	// Output:
	// f(x) = 0.5300, E f(background) = 0.2875
	// income +0.1200
	// debt   +0.0942
	// age    +0.0283
	// sum    +0.2425
	// 22 rows scored
}
