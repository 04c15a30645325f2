package sampler_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/explainer-sidecar/explainer/sampler"
)

// Lime's default tabular sampling: statistics from background rows with
// quartile bins, then a neighbourhood of an instance. Raw goes to the model;
// the surrogate is fitted on Interpretable, where 1 means "same bin as the
// instance".
func ExampleTabular_Sample() {
	background := [][]float64{
		{25, 1, 30000}, {32, 0, 42000}, {47, 1, 61000}, {51, 2, 58000},
		{38, 0, 45000}, {29, 2, 39000}, {60, 1, 72000}, {44, 0, 50000},
	}
	names := []string{"age", "plan", "income"}
	// Feature 1 ("plan") is categorical; the others are cut into quartiles
	// (age at 31.25, 41 and 48: a value on a boundary belongs to the lower bin).
	stats, err := sampler.StatsFromData(background, names, []int{1}, "quartile")
	if err != nil {
		fmt.Println(err)
		return
	}
	tab := sampler.Tabular{Stats: stats}
	instance := []float64{41, 2, 52000}

	rng := rand.New(rand.NewPCG(1, 2)) // seed it: the same seed gives the same samples
	nb, err := tab.Sample(instance, 1000, rng)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(nb.Raw), "samples of", len(nb.Raw[0]), "features")
	fmt.Println("row 0 raw:", nb.Raw[0])
	fmt.Println("row 0 interpretable:", nb.Interpretable[0])
	fmt.Printf("%q\n", tab.Describe(instance, names, map[int][]string{1: {"basic", "plus", "premium"}}))
	// Output:
	// 1000 samples of 3 features
	// row 0 raw: [41 2 52000]
	// row 0 interpretable: [1 1 1]
	// ["31.25 < age <= 41.00" "plan=premium" "47500.00 < income <= 58750.00"]
}

// Without a discretizer continuous features are gaussian around the training
// mean and the interpretable values are standardised.
func ExampleStatsFromData() {
	background := [][]float64{{1, 10}, {2, 20}, {3, 30}, {4, 40}}
	stats, err := sampler.StatsFromData(background, []string{"x", "y"}, nil, "")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("means %v, stds %.4f\n", stats.Means, stats.Stds)
	nb, err := (&sampler.Tabular{Stats: stats}).Sample([]float64{4, 10}, 3, rand.New(rand.NewPCG(7, 7)))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("row 0 interpretable: %.4f\n", nb.Interpretable[0])
	// Output:
	// means [2.5 25], stds [1.1180 11.1803]
	// row 0 interpretable: [1.3416 -1.3416]
}

// shap.kmeans: six rows in two clear groups become two rows, each a group's
// centre snapped to values the features take, weighted by the group's size.
// KernelSHAP then scores 2 rows per coalition instead of 6.
func ExampleSummarizeKMeans() {
	background := [][]float64{
		{1, 10}, {2, 11}, {1, 12}, // a group of 3 around (1.3, 11)
		{50, 100}, {52, 98}, {51, 99}, // a group of 3 around (51, 99)
	}
	rows, weights, err := sampler.SummarizeKMeans(background, 2, rand.New(rand.NewPCG(0, 0)))
	if err != nil {
		fmt.Println(err)
		return
	}
	for i, r := range rows {
		fmt.Printf("%v weight %.2f\n", r, weights[i])
	}
	// Unordered output:
	// [1 11] weight 0.50
	// [51 99] weight 0.50
}

// shap.sample: K rows drawn without replacement, equal weights.
func ExampleSummarizeSample() {
	background := [][]float64{{1}, {2}, {3}, {4}, {5}, {6}, {7}, {8}}
	rows, weights, _ := sampler.SummarizeSample(background, 3, rand.New(rand.NewPCG(1, 2)))
	fmt.Println(len(rows), weights)
	// Output:
	// 3 [0.3333333333333333 0.3333333333333333 0.3333333333333333]
}
