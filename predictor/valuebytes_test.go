package predictor_test

import (
	"context"
	"testing"

	"github.com/explainer-sidecar/explainer/predictor"
	"github.com/explainer-sidecar/explainer/predictor/predictortest"
)

// MaxBatchBytes counts an input value as the client sends it: a KServe v2
// FP32 input takes 4 bytes, so twice the rows of an FP64 input fit in a
// call, FP16 2 and UINT8 1; predict.v1 sends doubles (8). The datatype is
// known once Describe or the first call has read the model's metadata.
func TestValueBytes(t *testing.T) {
	const width, rows = 4, 500
	const maxBytes = 50 * width * 8 // 50 rows at 8 bytes a value, 100 at 4, 200 at 2, 400 at 1
	in := make([][]float64, rows)
	for i := range in {
		in[i] = []float64{float64(i % 200), 1, 2, 3} // exact in UINT8 and FP16
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		client   func(t *testing.T) (predictor.Client, *predictortest.Model)
		before   int // ValueBytes before Describe
		want     int // after
		wantRows int // largest call of the Batcher
	}{
		{"kserve FP32", func(t *testing.T) (predictor.Client, *predictortest.Model) {
			fake := predictortest.NewKServeServer(firstAndSum)
			return predictor.NewKServeV2(serve(t, fake).Conn, "model"), &fake.Model
		}, 8, 4, 100},
		{"kserve FP64", kserveOf(predictor.FP64), 8, 8, 50},
		{"kserve FP16", kserveOf(predictor.FP16), 8, 2, 200},
		{"kserve UINT8", kserveOf(predictor.UINT8), 8, 1, 400},
		{"kserve FP32 named by an option", func(t *testing.T) (predictor.Client, *predictortest.Model) {
			fake := predictortest.NewKServeServer(firstAndSum)
			return predictor.NewKServeV2(serve(t, fake).Conn, "model",
				predictor.WithInputName("INPUT0"), predictor.WithOutputName("OUTPUT0"), predictor.WithInputDatatype(predictor.FP32)), &fake.Model
		}, 4, 4, 100},
		{"predict.v1", func(t *testing.T) (predictor.Client, *predictortest.Model) {
			fake := predictortest.NewPredictServer(firstAndSum)
			return predictor.NewPredictV1(serve(t, fake).Conn, "model"), &fake.Model
		}, 8, 8, 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, fake := tc.client(t)
			if got := predictor.ValueBytes(c); got != tc.before {
				t.Errorf("before Describe: %d bytes a value, want %d", got, tc.before)
			}
			if _, err := c.Describe(ctx); err != nil {
				t.Fatal(err)
			}
			if got := predictor.ValueBytes(c); got != tc.want {
				t.Errorf("after Describe: %d bytes a value, want %d", got, tc.want)
			}
			b := predictor.NewBatcher(c, predictor.WithMaxBatchSize(predictor.NoRowCap), predictor.WithMaxBatchBytes(maxBytes))
			if _, err := b.Predict(ctx, in); err != nil {
				t.Fatal(err)
			}
			if got := fake.MaxBatch(); got != tc.wantRows {
				t.Errorf("largest call %d rows, want %d", got, tc.wantRows)
			}
		})
	}
}

// kserveOf is a KServe v2 client of a fake whose input is of datatype.
func kserveOf(datatype string) func(t *testing.T) (predictor.Client, *predictortest.Model) {
	return func(t *testing.T) (predictor.Client, *predictortest.Model) {
		fake := predictortest.NewKServeServer(firstAndSum)
		fake.InputDatatype = datatype
		return predictor.NewKServeV2(serve(t, fake).Conn, "model"), &fake.Model
	}
}
