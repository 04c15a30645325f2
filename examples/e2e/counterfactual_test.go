package e2e

import (
	"fmt"
	"testing"

	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// checkCounterfactuals asserts what every counterfactual of exp must be,
// against direct, the model server's own scores of the counterfactuals'
// rows: valid (another class than the instance's, with at least minProb),
// with the model's label and scores, the immutable features untouched,
// the values inside [lo, hi] per feature, and sparsity and changes that
// match the row.
func checkCounterfactuals(t *testing.T, exp *explainerv1.Explanation, instance []float64, direct [][]float64, minProb float64, immutable []int, lo, hi []float64, tol float64) {
	t.Helper()
	predicted := argmax(exp.GetInstanceScores())
	for k, cf := range exp.GetCounterfactuals() {
		label := argmax(direct[k])
		if !cf.GetValid() || int(cf.GetLabel()) != label || label == predicted || direct[k][label] < minProb-tol {
			t.Errorf("cf %d: valid %v label %d; the model server says class %d with %.4f (instance class %d, min %.2f)",
				k, cf.GetValid(), cf.GetLabel(), label, direct[k][label], predicted, minProb)
		}
		checkScores(t, fmt.Sprintf("cf %d", k), cf.GetScores(), direct[k], tol)
		for _, j := range immutable {
			if cf.GetValues()[j] != instance[j] {
				t.Errorf("cf %d changed immutable feature %d", k, j)
			}
		}
		changed := 0
		for j, v := range cf.GetValues() {
			if v < lo[j] || v > hi[j] {
				t.Errorf("cf %d: feature %d = %v outside [%v, %v]", k, j, v, lo[j], hi[j])
			}
			if v != instance[j] {
				changed++
			}
		}
		if changed != int(cf.GetSparsity()) || changed != len(cf.GetChanges()) {
			t.Errorf("cf %d: %d features differ, sparsity %d, %d changes", k, changed, cf.GetSparsity(), len(cf.GetChanges()))
		}
	}
}

// TestCounterfactualBreastCancer searches counterfactuals of three rows
// of the breast-cancer model (predict.v1, a scikit-learn pipeline) with
// mean radius immutable: the model server itself, asked directly, puts
// every counterfactual in the other class with probability ≥ 0.7.
func TestCounterfactualBreastCancer(t *testing.T) {
	t.Parallel()
	s := sklearnStack(t)
	tab := loadBreastCancer(t)
	scores := predictRows(t, s, tab.Rows)
	lo, hi := make([]float64, len(tab.Names)), make([]float64, len(tab.Names))
	copy(lo, tab.Rows[0])
	copy(hi, tab.Rows[0])
	for _, r := range tab.Rows {
		for j, v := range r {
			lo[j], hi[j] = min(lo[j], v), max(hi[j], v)
		}
	}
	seed := uint64(3)
	for _, tr := range tabularRows(scores) {
		t.Run(tr.name, func(t *testing.T) {
			x := tab.Rows[tr.row]
			exp, st := explainStream(t, s.sidecar.client, &explainerv1.ExplainRequest{
				Instance: &explainerv1.Instance{Kind: &explainerv1.Instance_Tabular{Tabular: &explainerv1.TabularInstance{Values: x}}},
				Method: &explainerv1.ExplainRequest_Counterfactual{Counterfactual: &explainerv1.CounterfactualOptions{
					Data: dataset(tab, allRows(len(tab.Rows))), MinProbability: 0.7, Count: 3,
					ImmutableFeatures: []uint32{0}, Population: 128, Seed: &seed,
				}},
			})
			cfs := exp.GetCounterfactuals()
			if exp.GetMethod() != "counterfactual" || len(cfs) == 0 || len(st.partials) == 0 {
				t.Fatalf("method %q, %d counterfactuals, %d partial results", exp.GetMethod(), len(cfs), len(st.partials))
			}
			checkBatching(t, exp, sklearnMaxBatch)
			checkScores(t, "instance", exp.GetInstanceScores(), scores[tr.row], 1e-9)
			rows := make([][]float64, len(cfs))
			for k, cf := range cfs {
				rows[k] = cf.GetValues()
				t.Logf("cf %d: class %d %.3f, proximity %.3f, sparsity %d", k, cf.GetLabel(), cf.GetScores()[cf.GetLabel()], cf.GetProximity(), cf.GetSparsity())
			}
			checkCounterfactuals(t, exp, x, predictRows(t, s, rows), 0.7, []int{0}, lo, hi, 1e-9)
		})
	}
}

// TestCounterfactualDigits searches counterfactuals of a digit image,
// sent as a tabular row of its 64 pixels to the KServe v2 CNN, each pixel
// in [0, 1] (-ranges): the model server, asked directly with the
// counterfactuals as images, reads another digit in each. Scores travel
// as FP32, hence the tolerance.
func TestCounterfactualDigits(t *testing.T) {
	t.Parallel()
	s := kserveStack(t)
	digits := loadDigits(t)
	var data []float64
	for _, d := range digits {
		data = append(data, d.Pixels...)
	}
	x := digits[0].Pixels
	lo, hi := make([]float64, len(x)), make([]float64, len(x))
	var ranges []*explainerv1.FeatureRange
	for j := range x {
		hi[j] = 1
		ranges = append(ranges, &explainerv1.FeatureRange{Feature: uint32(j), Min: 0, Max: 1})
	}
	seed := uint64(5)
	exp, _ := explainStream(t, s.sidecar.client, &explainerv1.ExplainRequest{
		Model:    "digits_cnn",
		Instance: &explainerv1.Instance{Kind: &explainerv1.Instance_Tabular{Tabular: &explainerv1.TabularInstance{Values: x}}},
		Method: &explainerv1.ExplainRequest_Counterfactual{Counterfactual: &explainerv1.CounterfactualOptions{
			Data: &explainerv1.Dataset{NumRows: uint32(len(digits)), Values: data}, MinProbability: 0.5, Count: 2,
			Ranges: ranges, Population: 64, MaxGenerations: 30, Seed: &seed,
		}},
	})
	cfs := exp.GetCounterfactuals()
	if len(cfs) == 0 {
		t.Fatalf("no counterfactual in %d generations", exp.GetRounds())
	}
	checkBatching(t, exp, kserveMaxBatch)
	images := make([][]float64, len(cfs))
	for k, cf := range cfs {
		images[k] = cf.GetValues()
		t.Logf("cf %d: digit %d %.3f, proximity %.3f, sparsity %d", k, cf.GetLabel(), cf.GetScores()[cf.GetLabel()], cf.GetProximity(), cf.GetSparsity())
	}
	// The pixels went to the model as FP32: the server's scores of the
	// float64 rows agree to about 1e-6.
	checkCounterfactuals(t, exp, x, inferImages(t, s, images), 0.5, nil, lo, hi, 1e-5)
}
