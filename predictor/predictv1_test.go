package predictor_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/explainer-sidecar/explainer/predictor"
	"github.com/explainer-sidecar/explainer/predictor/predictortest"
)

func TestPredictV1RoundTrip(t *testing.T) {
	fake := predictortest.NewPredictServer(firstAndSum)
	s := serve(t, fake)
	c := predictor.NewPredictV1(s.Conn, "")
	rows := [][]float64{{math.Pi, -1e-300, 1e300}, {0, math.SmallestNonzeroFloat64, -0.5}}
	got, err := c.Score(context.Background(), rows)
	if err != nil {
		t.Fatal(err)
	}
	want := firstAndSum(rows) // float64 on the wire: exact
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			t.Errorf("row %d = %v, want %v", i, got[i], want[i])
		}
	}
	if cap(got[0]) != 2 {
		t.Errorf("rows can grow into each other: cap %d", cap(got[0]))
	}
}

func TestPredictV1Describe(t *testing.T) {
	fake := predictortest.NewPredictServer(firstAndSum)
	fake.Name = "iris"
	fake.MaxBatchSize = 32
	fake.NumFeatures = 4
	fake.ClassNames = []string{"setosa", "versicolor", "virginica"}
	s := serve(t, fake)

	info, err := predictor.NewPredictV1(s.Conn, "iris").Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := predictor.ModelInfo{Name: "iris", NumFeatures: 4, ClassNames: fake.ClassNames, NumClasses: 3,
		MaxBatchSize: 32, BatchRule: predictor.BatchMaxBatchSize, InputKind: predictor.InputTabular}
	if info.Name != want.Name || info.NumFeatures != want.NumFeatures || !slices.Equal(info.ClassNames, want.ClassNames) ||
		info.NumClasses != want.NumClasses || info.MaxBatchSize != want.MaxBatchSize || info.BatchRule != want.BatchRule ||
		info.InputKind != want.InputKind {
		t.Errorf("Describe = %+v, want %+v", info, want)
	}
	// max_batch_size 0 means no limit (predict.proto).
	unlimited := predictortest.NewPredictServer(firstAndSum)
	info, err = predictor.NewPredictV1(serve(t, unlimited).Conn, "").Describe(context.Background())
	if err != nil || info.MaxBatchSize != 0 || info.BatchRule != predictor.BatchNoLimit || !info.BatchRule.Uncapped() {
		t.Errorf("Describe with max_batch_size 0 = %+v, %v; want no cap (BatchNoLimit)", info, err)
	}
	if err := predictor.NewPredictV1(s.Conn, "iris").Ready(context.Background()); err != nil {
		t.Errorf("Ready: %v", err)
	}

	other := predictor.NewPredictV1(s.Conn, "mnist")
	if _, err := other.Describe(context.Background()); !errors.Is(err, predictor.ErrRejected) {
		t.Errorf("Describe of an unknown model: %v, want ErrRejected", err)
	}
	if err := other.Ready(context.Background()); !errors.Is(err, predictor.ErrRejected) {
		t.Errorf("Ready of an unknown model: %v, want ErrRejected", err)
	}
	if _, err := other.Score(context.Background(), table(2, 4)); !errors.Is(err, predictor.ErrRejected) {
		t.Errorf("Score on an unknown model: %v, want ErrRejected", err)
	}
}

func TestPredictV1Unavailable(t *testing.T) {
	fake := predictortest.NewPredictServer(firstAndSum)
	s := predictortest.NewServer(fake) // TCP, so that the port refuses once stopped
	defer s.Close()
	c := predictor.NewPredictV1(s.Conn, "")
	if _, err := c.Score(context.Background(), table(2, 2)); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	if _, err := c.Score(context.Background(), table(2, 2)); !errors.Is(err, predictor.ErrUnavailable) {
		t.Errorf("Score after the server stopped: %v, want ErrUnavailable", err)
	}
	if err := c.Ready(context.Background()); !errors.Is(err, predictor.ErrUnavailable) {
		t.Errorf("Ready after the server stopped: %v, want ErrUnavailable", err)
	}
}
