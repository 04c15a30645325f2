package predictor_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/explainer-sidecar/explainer/predictor"
	"github.com/explainer-sidecar/explainer/predictor/predictortest"
)

// shapeRows returns n rows of size values, row i value j = i·100 + j.
func shapeRows(n, size int) [][]float64 {
	rows := make([][]float64, n)
	for i := range rows {
		rows[i] = make([]float64, size)
		for j := range rows[i] {
			rows[i][j] = float64(i*100 + j)
		}
	}
	return rows
}

// echoSecond scores each row with its value at index 7.
func echoSecond(rows [][]float64) [][]float64 {
	out := make([][]float64, len(rows))
	for i, r := range rows {
		out[i] = []float64{r[7]}
	}
	return out
}

func TestBatcherInstanceShape(t *testing.T) {
	pv := predictortest.NewPredictServer(echoSecond)
	ks := predictortest.NewKServeServer(echoSecond)
	ks.NumFeatures = 12
	for _, tc := range []struct {
		name  string
		fake  *predictortest.Model
		svc   predictortest.Service
		new   func(*predictortest.Server) predictor.Client
		shape []int
	}{
		{"predictv1", &pv.Model, pv, func(s *predictortest.Server) predictor.Client { return predictor.NewPredictV1(s.Conn, "") }, []int{3, 2, 2}},
		{"kserve", &ks.Model, ks, func(s *predictortest.Server) predictor.Client { return predictor.NewKServeV2(s.Conn, "model") }, []int{2, 2, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := serve(t, tc.svc)
			c := tc.new(s)
			rows := shapeRows(5, 12)

			// Without the option the instance is flat.
			if _, err := predictor.NewBatcher(c).Predict(context.Background(), rows); err != nil {
				t.Fatal(err)
			}
			if got := tc.fake.LastShape(); !slices.Equal(got, []int{12}) {
				t.Errorf("flat: model saw shape %v, want [12]", got)
			}

			b := predictor.NewBatcher(c, predictor.WithInstanceShape(tc.shape...), predictor.WithMaxBatchSize(2))
			got, err := b.Predict(context.Background(), rows)
			if err != nil {
				t.Fatal(err)
			}
			if s := tc.fake.LastShape(); !slices.Equal(s, tc.shape) {
				t.Errorf("model saw shape %v, want %v", s, tc.shape)
			}
			for i, r := range got {
				if want := float64(i*100 + 7); len(r) != 1 || r[0] != want {
					t.Errorf("row %d = %v, want [%v]", i, r, want)
				}
			}

			// Rows that do not fill the shape are refused before sending.
			calls := tc.fake.Calls()
			bad := predictor.NewBatcher(c, predictor.WithInstanceShape(5, 5))
			if _, err := bad.Predict(context.Background(), rows); !errors.Is(err, predictor.ErrInvalidInput) {
				t.Errorf("shape mismatch: err = %v, want ErrInvalidInput", err)
			}
			if tc.fake.Calls() != calls {
				t.Errorf("shape mismatch sent %d calls", tc.fake.Calls()-calls)
			}
		})
	}
}

func TestScoreShapedRejectsBadShape(t *testing.T) {
	ks := predictortest.NewKServeServer(echoSecond)
	s := serve(t, ks)
	c := predictor.NewKServeV2(s.Conn, "model")
	for _, shape := range [][]int{nil, {0, 12}, {5}} {
		if _, err := c.ScoreShaped(context.Background(), shapeRows(1, 12), shape); !errors.Is(err, predictor.ErrInvalidInput) {
			t.Errorf("shape %v: err = %v, want ErrInvalidInput", shape, err)
		}
	}
	if ks.Calls() != 0 {
		t.Errorf("bad shapes sent %d calls", ks.Calls())
	}
}

func TestKServeFakeChecksInstanceSize(t *testing.T) {
	ks := predictortest.NewKServeServer(echoSecond)
	ks.NumFeatures = 12
	s := serve(t, ks)
	c := predictor.NewKServeV2(s.Conn, "model")
	// 2×2×4 = 16 values per instance, the model takes 12.
	if _, err := c.ScoreShaped(context.Background(), shapeRows(1, 16), []int{2, 2, 4}); err == nil {
		t.Error("fake accepted an instance of 16 values for NumFeatures 12")
	}
}
