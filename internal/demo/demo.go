// Package demo is the model behind `explainer demo`: a logistic regression
// trained at start-up on the breast-cancer data set the binary embeds,
// served over predict.v1 like any user's model server.
package demo

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/explainer-sidecar/explainer/internal/table"
)

// breastCancer is the UCI Breast Cancer Wisconsin (Diagnostic) data set as
// scikit-learn bundles it: 569 rows, 30 features, then target (0 malignant,
// 1 benign).
//
//go:embed breast_cancer.csv
var breastCancer []byte

// ClassNames are the breast-cancer classes, in target order.
var ClassNames = []string{"malignant", "benign"}

// BreastCancer returns the embedded data set; Target holds the class codes.
func BreastCancer() (*table.Table, error) {
	return table.ReadCSV(bytes.NewReader(breastCancer), "target")
}

// Logistic is a binary logistic regression on standardised features:
// P(y=1 | x) = σ(Coef·((x − Mean)/Scale) + Intercept).
type Logistic struct {
	Mean, Scale, Coef []float64
	Intercept         float64
}

// TrainLogistic fits scikit-learn's default LogisticRegression (L2, C) after
// a StandardScaler, by Newton's method. It minimises
//
//	½‖w‖² + C Σ_i log(1 + exp(−s_i (wᵀz_i + b)))
//
// over w and the unpenalised intercept b, with z_i the standardised rows and
// s_i = ±1 the labels.
func TrainLogistic(rows [][]float64, y []float64, c float64) (*Logistic, error) {
	n := len(rows)
	if n == 0 || len(y) != n {
		return nil, errors.New("demo: need rows and one label per row")
	}
	p := len(rows[0])
	m := &Logistic{Mean: make([]float64, p), Scale: make([]float64, p), Coef: make([]float64, p)}
	for _, r := range rows {
		for j, v := range r {
			m.Mean[j] += v / float64(n)
		}
	}
	for _, r := range rows {
		for j, v := range r {
			d := v - m.Mean[j]
			m.Scale[j] += d * d / float64(n)
		}
	}
	for j := range m.Scale {
		m.Scale[j] = math.Sqrt(m.Scale[j])
		if m.Scale[j] == 0 {
			m.Scale[j] = 1
		}
	}
	// Design matrix with a trailing column of ones for the intercept.
	z := mat.NewDense(n, p+1, nil)
	for i, r := range rows {
		for j, v := range r {
			z.Set(i, j, (v-m.Mean[j])/m.Scale[j])
		}
		z.Set(i, p, 1)
	}
	w := mat.NewVecDense(p+1, nil)
	grad := mat.NewVecDense(p+1, nil)
	hess := mat.NewSymDense(p+1, nil)
	var step mat.VecDense
	resid := make([]float64, n)
	curv := make([]float64, n)
	for iter := 0; iter < 100; iter++ {
		for i := 0; i < n; i++ {
			pr := sigmoid(mat.Dot(z.RowView(i), w))
			resid[i] = c * (pr - y[i])
			curv[i] = c * pr * (1 - pr)
		}
		grad.MulVec(z.T(), mat.NewVecDense(n, resid))
		for j := 0; j < p; j++ {
			grad.SetVec(j, grad.AtVec(j)+w.AtVec(j))
		}
		for a := 0; a <= p; a++ {
			for b := a; b <= p; b++ {
				var s float64
				for i := 0; i < n; i++ {
					s += z.At(i, a) * curv[i] * z.At(i, b)
				}
				if a == b && a < p {
					s++
				}
				hess.SetSym(a, b, s)
			}
		}
		var chol mat.Cholesky
		if !chol.Factorize(hess) {
			return nil, errors.New("demo: logistic hessian is not positive definite")
		}
		if err := chol.SolveVecTo(&step, grad); err != nil {
			return nil, fmt.Errorf("demo: newton step: %w", err)
		}
		w.SubVec(w, &step)
		if mat.Norm(&step, math.Inf(1)) < 1e-12 {
			break
		}
	}
	for j := 0; j < p; j++ {
		m.Coef[j] = w.AtVec(j)
	}
	m.Intercept = w.AtVec(p)
	return m, nil
}

// PredictProba returns [P(y=0), P(y=1)] for each row.
func (m *Logistic) PredictProba(rows [][]float64) [][]float64 {
	out := make([][]float64, len(rows))
	backing := make([]float64, 2*len(rows))
	for i, r := range rows {
		s := m.Intercept
		for j, v := range r {
			s += m.Coef[j] * (v - m.Mean[j]) / m.Scale[j]
		}
		p1 := sigmoid(s)
		out[i] = backing[2*i : 2*i+2 : 2*i+2]
		out[i][0], out[i][1] = 1-p1, p1
	}
	return out
}

func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}
