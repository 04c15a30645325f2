package server

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/explainer-sidecar/explainer/predictor"
	"github.com/explainer-sidecar/explainer/predictor/predictortest"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// BenchmarkExplainModelBound runs one 5000-sample, 30-feature LIME
// explanation through the whole sidecar (gRPC in, gRPC out to a predict.v1
// model server on loopback) against a model that takes a fixed time per
// batch, and reports the wall time divided by
//
//   - wall/ideal: the model-bound ideal, batches × latency ÷ batches in
//     flight;
//   - wall/floor: what the model alone needs, ⌈batches ÷ in flight⌉ rounds
//     of the latency a timer actually gives on this machine (measured in
//     the same run), so the rest is the sidecar's own cost: sampling before
//     the first batch, the fit after the last, and each batch's round trip.
func BenchmarkExplainModelBound(b *testing.B) {
	const (
		p        = 30
		samples  = 5000
		maxBatch = 100
	)
	w := make([]float64, p)
	inst := make([]float64, p)
	for j := range w {
		w[j] = float64(j%7-3) / 10
		inst[j] = float64(j) / 7
	}
	for _, tc := range []struct {
		latency  time.Duration
		inFlight int
	}{{5 * time.Millisecond, 4}, {20 * time.Millisecond, 4}, {5 * time.Millisecond, 1}} {
		b.Run(fmt.Sprintf("latency=%v/inflight=%d", tc.latency, tc.inFlight), func(b *testing.B) {
			fake := predictortest.NewPredictServer(predictortest.Logistic(w, 0))
			fake.Delay, fake.MaxBatchSize, fake.NumFeatures = tc.latency, maxBatch, p
			ts := predictortest.NewServer(fake)
			defer ts.Close()
			conn, err := predictor.Dial(ts.Target, predictor.WithInsecure())
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			sc := startSidecar(b, func(m string) predictor.Client { return predictor.NewPredictV1(conn, m) }, WithInFlight(tc.inFlight))
			req := benchRequest(inst, samples)
			batches := math.Ceil(float64(samples) / maxBatch)
			ideal := time.Duration(batches * float64(tc.latency) / float64(tc.inFlight))
			const sleeps = 20
			t0 := time.Now()
			for range sleeps {
				time.Sleep(tc.latency)
			}
			slept := time.Since(t0) / sleeps
			floor := time.Duration(math.Ceil(batches/float64(tc.inFlight))) * slept
			b.ResetTimer()
			start := time.Now()
			for b.Loop() {
				if _, err := sc.client.Explain(context.Background(), req); err != nil {
					b.Fatal(err)
				}
			}
			wall := time.Since(start) / time.Duration(b.N)
			b.ReportMetric(float64(wall)/float64(ideal), "wall/ideal")
			b.ReportMetric(float64(wall)/float64(floor), "wall/floor")
			b.ReportMetric(float64(ideal)/1e6, "ideal-ms")
		})
	}
}

func benchRequest(inst []float64, samples int) *explainerv1.ExplainRequest {
	p := len(inst)
	const rows = 569
	values := make([]float64, 0, rows*p)
	for i := range rows {
		for j := range p {
			values = append(values, math.Sin(float64(i*p+j))*float64(j+1))
		}
	}
	seed := uint64(1)
	return &explainerv1.ExplainRequest{
		Instance: &explainerv1.Instance{Kind: &explainerv1.Instance_Tabular{Tabular: &explainerv1.TabularInstance{Values: inst}}},
		Model:    "model",
		Method: &explainerv1.ExplainRequest_Lime{Lime: &explainerv1.LimeOptions{
			NumSamples: uint32(samples), NumFeatures: 10, Seed: &seed,
			Training: &explainerv1.TrainingData{Source: &explainerv1.TrainingData_Dataset{
				Dataset: &explainerv1.Dataset{NumRows: rows, Values: values},
			}},
		}},
	}
}
