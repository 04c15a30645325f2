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

// BenchmarkChecksCost measures what the checks of issue 7 add to a
// 5000-sample, 30-feature LIME job against a model that takes 5 ms per
// batch of 100 (4 in flight), as ratios to the plain job measured in the
// same iteration:
//
//   - time/plain: wall time with the checks ÷ wall time without;
//   - rows/plain: rows the model scored ÷ rows of the plain job.
//
// Standard errors cost no model rows at all (they are part of every
// result); fidelity curves cost one curve set per label; stability runs
// cost a job per extra seed, which is what they ask for; auto sampling
// costs its last round's samples, not the sum of its rounds.
func BenchmarkChecksCost(b *testing.B) {
	const (
		p        = 30
		maxBatch = 100
		latency  = 5 * time.Millisecond
	)
	w := make([]float64, p)
	inst := make([]float64, p)
	for j := range w {
		w[j] = float64(j%7-3) / 10
		inst[j] = float64(j) / 7
	}
	for _, tc := range []struct {
		name  string
		check func(*explainerv1.ExplainRequest)
	}{
		{"curves", func(r *explainerv1.ExplainRequest) {
			r.Evaluation = &explainerv1.Evaluation{FidelityCurves: true}
		}},
		{"stability=3", func(r *explainerv1.ExplainRequest) {
			r.Evaluation = &explainerv1.Evaluation{StabilityRuns: 3}
		}},
		{"auto-to-5000", func(r *explainerv1.ExplainRequest) {
			r.GetLime().NumSamples = 0
			r.AutoSampling = &explainerv1.AutoSampling{InitialSamples: 625, MaxSamples: 5000, Tolerance: 1e-12}
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			fake := predictortest.NewPredictServer(predictortest.Logistic(w, 0))
			fake.Delay, fake.MaxBatchSize, fake.NumFeatures = latency, maxBatch, p
			ts := predictortest.NewServer(fake)
			defer ts.Close()
			conn, err := predictor.Dial(ts.Target, predictor.WithInsecure())
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			sc := startSidecar(b, func(m string) predictor.Client { return predictor.NewPredictV1(conn, m) }, WithInFlight(4))
			plain := benchRequest(inst, 5000)
			checked := benchRequest(inst, 5000)
			tc.check(checked)
			var plainWall, checkedWall time.Duration
			var plainRows, checkedRows int
			for b.Loop() {
				for _, run := range []struct {
					req  *explainerv1.ExplainRequest
					wall *time.Duration
					rows *int
				}{{plain, &plainWall, &plainRows}, {checked, &checkedWall, &checkedRows}} {
					before := fake.Rows()
					start := time.Now()
					if _, err := sc.client.Explain(context.Background(), run.req); err != nil {
						b.Fatal(err)
					}
					*run.wall += time.Since(start)
					*run.rows += fake.Rows() - before
				}
			}
			b.ReportMetric(float64(checkedWall)/float64(plainWall), "time/plain")
			b.ReportMetric(float64(checkedRows)/float64(plainRows), "rows/plain")
		})
	}
}
