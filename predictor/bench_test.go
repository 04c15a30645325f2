package predictor_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/explainer-sidecar/explainer/predictor"
)

// instantClient answers at once with rows of a preallocated reply, so that
// a benchmark measures the Batcher alone.
func instantClient(classes, maxRows int) funcClient {
	flat := make([]float64, classes*maxRows)
	for i := range flat {
		flat[i] = 0.5
	}
	reply := make([][]float64, maxRows)
	for i := range reply {
		reply[i] = flat[i*classes : (i+1)*classes]
	}
	return func(_ context.Context, rows [][]float64) ([][]float64, error) {
		return reply[:len(rows)], nil
	}
}

// BenchmarkBatcher is the sidecar's own cost of scoring 5000 samples of 30
// features: splitting, scheduling, validating and reassembling 79 batches.
func BenchmarkBatcher(b *testing.B) {
	rows := table(5000, 30)
	bt := predictor.NewBatcher(instantClient(2, predictor.DefaultMaxBatchSize))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := bt.Predict(ctx, rows); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBatcherLatency runs against a model that takes 2 ms per batch and
// reports wall/ideal, ideal = ceil(batches/inFlight) × 2 ms: 1 means the
// pipeline keeps the model busy and adds nothing.
func BenchmarkBatcherLatency(b *testing.B) {
	const latency = 2 * time.Millisecond
	for _, inFlight := range []int{1, 4, 16} {
		b.Run("inFlight="+strconv.Itoa(inFlight), func(b *testing.B) {
			rows := table(5000, 30)
			reply := instantClient(2, predictor.DefaultMaxBatchSize)
			slow := funcClient(func(ctx context.Context, rows [][]float64) ([][]float64, error) {
				t := time.NewTimer(latency)
				defer t.Stop()
				select {
				case <-t.C:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
				return reply(ctx, rows)
			})
			bt := predictor.NewBatcher(slow, predictor.WithInFlight(inFlight))
			batches := (len(rows) + predictor.DefaultMaxBatchSize - 1) / predictor.DefaultMaxBatchSize
			ideal := time.Duration((batches+inFlight-1)/inFlight) * latency
			ctx := context.Background()
			start := time.Now()
			for b.Loop() {
				if _, err := bt.Predict(ctx, rows); err != nil {
					b.Fatal(err)
				}
			}
			wall := time.Since(start) / time.Duration(b.N)
			b.ReportMetric(float64(wall)/float64(ideal), "wall/ideal")
		})
	}
}
