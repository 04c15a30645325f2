package server

import (
	"math"
	"testing"

	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// The training statistics of a data set are made once: the same data,
// names, categorical features and discretizer give the same statistics;
// any difference gives new ones, and errors are not remembered.
func TestTrainingStatsMemo(t *testing.T) {
	const rows, p = 50, 3
	values := make([]float64, rows*p)
	for i := range values {
		values[i] = math.Sin(float64(i)) * 7 // distinct from every other test's data
	}
	data := func(v []float64) *explainerv1.TrainingData {
		return &explainerv1.TrainingData{Source: &explainerv1.TrainingData_Dataset{Dataset: &explainerv1.Dataset{NumRows: rows, Values: v}}}
	}
	quartile := explainerv1.Discretizer_DISCRETIZER_QUARTILE
	first, err := trainingStats(data(values), p, nil, nil, true, quartile)
	if err != nil {
		t.Fatal(err)
	}
	again, err := trainingStats(data(append([]float64(nil), values...)), p, nil, nil, true, quartile)
	if err != nil {
		t.Fatal(err)
	}
	if again != first {
		t.Error("the same training data (another copy) made new statistics")
	}
	changed := append([]float64(nil), values...)
	changed[len(changed)-1] += 1e-9
	for _, tc := range []struct {
		name        string
		values      []float64
		names       []string
		categorical []int
		discretize  bool
		disc        explainerv1.Discretizer
	}{
		{"one value changed", changed, nil, nil, true, quartile},
		{"named features", values, []string{"a", "b", "c"}, nil, true, quartile},
		{"a categorical feature", values, nil, []int{1}, true, quartile},
		{"deciles", values, nil, nil, true, explainerv1.Discretizer_DISCRETIZER_DECILE},
		{"no discretizer", values, nil, nil, false, quartile},
	} {
		got, err := trainingStats(data(tc.values), p, tc.names, tc.categorical, tc.discretize, tc.disc)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got == first {
			t.Errorf("%s: got the first data set's statistics", tc.name)
		}
	}
	// A data set refused is refused every time.
	bad := append([]float64(nil), values...)
	bad[4] = math.NaN()
	for range 2 {
		if _, err := trainingStats(data(bad), p, nil, nil, true, quartile); err == nil {
			t.Fatal("a NaN in the training data was accepted")
		}
	}
}

// BenchmarkTrainingStats makes the quartile statistics of 20,000 rows of
// 30 features: made (a data set seen for the first time) and remembered
// (the same data again: the hash of its values).
func BenchmarkTrainingStats(b *testing.B) {
	const rows, p = 20000, 30
	values := make([]float64, rows*p)
	for i := range values {
		values[i] = math.Sin(float64(i)*1.3) * float64(i%p+1)
	}
	td := &explainerv1.TrainingData{Source: &explainerv1.TrainingData_Dataset{Dataset: &explainerv1.Dataset{NumRows: rows, Values: values}}}
	quartile := explainerv1.Discretizer_DISCRETIZER_QUARTILE
	b.Run("made", func(b *testing.B) {
		for b.Loop() {
			values[0]++ // a new data set each time
			if _, err := trainingStats(td, p, nil, nil, true, quartile); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("remembered", func(b *testing.B) {
		for b.Loop() {
			if _, err := trainingStats(td, p, nil, nil, true, quartile); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// Anchors remember the quartile discretizer of their training rows in the
// same memo, apart from LIME's statistics of the same rows (which hold
// more than the discretizer).
func TestAnchorDiscretizerMemo(t *testing.T) {
	const rows, p = 40, 3
	values := make([]float64, rows*p)
	for i := range values {
		values[i] = math.Cos(float64(i)) * 5 // distinct from every other test's data
	}
	training := make([][]float64, rows)
	for i := range training {
		training[i] = values[i*p : (i+1)*p]
	}
	first, err := anchorDiscretizer(values, training, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	again, err := anchorDiscretizer(append([]float64(nil), values...), training, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again != first {
		t.Error("the same training rows made a new discretizer")
	}
	if named, _ := anchorDiscretizer(values, training, []string{"a", "b", "c"}, nil); named == first {
		t.Error("named features got the unnamed rows' discretizer (its bins' names differ)")
	}
	td := &explainerv1.TrainingData{Source: &explainerv1.TrainingData_Dataset{Dataset: &explainerv1.Dataset{NumRows: rows, Values: values}}}
	stats, err := trainingStats(td, p, nil, nil, true, explainerv1.Discretizer_DISCRETIZER_QUARTILE)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Discretizer == first {
		t.Error("LIME's statistics and anchors' discretizer are one entry")
	}
	if got := first.Names[0][0]; got[:2] != "x0" {
		t.Errorf("bin name %q: want the estimators' default feature name x0", got)
	}
}

// BenchmarkAnchorDiscretizer: anchors' quartiles of 20,000 rows of 30
// features, made and remembered, as BenchmarkTrainingStats.
func BenchmarkAnchorDiscretizer(b *testing.B) {
	const rows, p = 20000, 30
	values := make([]float64, rows*p)
	for i := range values {
		values[i] = math.Sin(float64(i)*1.7) * float64(i%p+1)
	}
	training := make([][]float64, rows)
	for i := range training {
		training[i] = values[i*p : (i+1)*p]
	}
	b.Run("made", func(b *testing.B) {
		for b.Loop() {
			values[0]++ // a new data set each time
			if _, err := anchorDiscretizer(values, training, nil, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("remembered", func(b *testing.B) {
		for b.Loop() {
			if _, err := anchorDiscretizer(values, training, nil, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}
