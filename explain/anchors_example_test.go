package explain_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/explainer-sidecar/explainer/explain"
)

// reviews calls a review positive (class 1) when it says "great" and
// "food"; it reads nothing else.
type reviews struct{}

func (reviews) PredictText(_ context.Context, texts []string) ([][]float64, error) {
	out := make([][]float64, len(texts))
	for i, s := range texts {
		out[i] = []float64{0.9, 0.1}
		if strings.Contains(s, "great") && strings.Contains(s, "food") {
			out[i] = []float64{0.1, 0.9}
		}
	}
	return out, nil
}

func ExampleAnchorsText() {
	res, _, err := explain.AnchorsText(context.Background(), reviews{}, explain.AnchorTextRequest{
		Text:         "great food but a slow and noisy room",
		AnchorConfig: explain.AnchorConfig{Seed: 1},
	})
	if err != nil {
		panic(err)
	}
	l := res.Labels[0]
	var words []string
	for _, p := range l.Anchor.Predicates {
		words = append(words, p.Description)
	}
	// Each other word is hidden with probability ½: the rule holds in
	// about a quarter of the coverage samples.
	fmt.Printf("IF %s THEN class %d: precision %.2f, threshold met %v, coverage about %.2f\n",
		strings.Join(words, " AND "), l.Label, l.Anchor.Precision, l.Anchor.ThresholdMet, l.Anchor.Coverage)
	// Output:
	// IF food AND great THEN class 1: precision 1.00, threshold met true, coverage about 0.25
}
