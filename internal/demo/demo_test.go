package demo

import (
	"encoding/json"
	"math"
	"os"
	"testing"
)

// The lime fixtures record the scikit-learn pipeline their reference values
// were computed with: StandardScaler + LogisticRegression(C=1, lbfgs).
type sklearnModel struct {
	Model struct {
		Mean      []float64 `json:"standard_scaler_mean"`
		Scale     []float64 `json:"standard_scaler_scale"`
		Coef      []float64 `json:"logistic_coef"`
		Intercept float64   `json:"logistic_intercept"`
	} `json:"model"`
}

func TestTrainLogisticMatchesScikitLearn(t *testing.T) {
	raw, err := os.ReadFile("testdata/sklearn_model.json")
	if err != nil {
		t.Fatal(err)
	}
	var want sklearnModel
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	data, err := BreastCancer()
	if err != nil {
		t.Fatal(err)
	}
	m, err := TrainLogistic(data.Rows, data.Target, 1)
	if err != nil {
		t.Fatal(err)
	}
	// Scaler statistics are means and ddof-0 deviations of the same doubles;
	// only the summation order differs.
	for j := range m.Mean {
		if !near(m.Mean[j], want.Model.Mean[j], 1e-12) || !near(m.Scale[j], want.Model.Scale[j], 1e-12) {
			t.Fatalf("scaler[%d] = %v, %v; want %v, %v", j, m.Mean[j], m.Scale[j], want.Model.Mean[j], want.Model.Scale[j])
		}
	}
	// Newton converges to machine precision; scikit-learn's lbfgs stops once
	// the gradient is below tol = 1e-4. The L2 penalty makes the Hessian's
	// smallest eigenvalue at least 1, so the optima differ by at most about
	// the gradient's norm: allow 5e-4 absolute.
	const coefTol = 5e-4
	for j := range m.Coef {
		if math.Abs(m.Coef[j]-want.Model.Coef[j]) > coefTol {
			t.Errorf("coef[%d] = %v, want %v", j, m.Coef[j], want.Model.Coef[j])
		}
	}
	if math.Abs(m.Intercept-want.Model.Intercept) > coefTol {
		t.Errorf("intercept = %v, want %v", m.Intercept, want.Model.Intercept)
	}
	// The fitted model classifies its training data well (scikit-learn: 98.8%).
	correct := 0
	for i, pr := range m.PredictProba(data.Rows) {
		if (pr[1] > 0.5) == (data.Target[i] == 1) {
			correct++
		}
		if math.Abs(pr[0]+pr[1]-1) > 1e-15 {
			t.Fatalf("row %d probabilities sum to %v", i, pr[0]+pr[1])
		}
	}
	if acc := float64(correct) / float64(len(data.Rows)); acc < 0.98 {
		t.Errorf("training accuracy %.3f, want >= 0.98", acc)
	}
}

func near(got, want, rel float64) bool {
	return math.Abs(got-want) <= rel*math.Abs(want)+1e-12
}
