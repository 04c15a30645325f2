package server

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/explainer-sidecar/explainer/predictor"
	"github.com/explainer-sidecar/explainer/predictor/predictortest"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// BenchmarkBatchLIME explains 100 rows of 30 features with 1000-sample
// tabular LIME against a predict.v1 model server (loopback) that takes
// 20 ms per call, whatever its rows, and takes any number of rows per call
// (the sidecar's 3 MiB byte limit makes it 13 107 rows), 4 calls in
// flight:
//
//   - batch: one job with the 100 rows (ExplainRequest.batch);
//   - loop: 100 single jobs one after the other, as a client looping over
//     the rows (lime's explain_instance in a for loop) would;
//   - concurrent: 100 single jobs at once on one stream (the scheduler
//     packs them too, but each job parses the training data again).
//
// It reports the model calls and the wall time per 100 rows, and the
// process's CPU time per instance (the sidecar, the client and the fake
// model server, all in this process: an upper bound of the sidecar's).
func BenchmarkBatchLIME(b *testing.B) {
	const (
		p       = 30
		rows    = 100
		samples = 1000
		latency = 20 * time.Millisecond
	)
	w := make([]float64, p)
	for j := range w {
		w[j] = float64(j%7-3) / 10
	}
	instances := make([][]float64, rows)
	for i := range instances {
		instances[i] = make([]float64, p)
		for j := range instances[i] {
			instances[i][j] = math.Cos(float64(i*p+j)) * float64(j+1)
		}
	}
	fake := predictortest.NewPredictServer(predictortest.Logistic(w, 0))
	fake.Delay, fake.NumFeatures = latency, p
	ts := predictortest.NewServer(fake)
	defer ts.Close()
	conn, err := predictor.Dial(ts.Target, predictor.WithInsecure())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	sc := startSidecar(b, func(m string) predictor.Client { return predictor.NewPredictV1(conn, m) }, WithInFlight(4), WithMaxConcurrentJobs(rows))
	single := func(i int) *explainerv1.ExplainRequest {
		r := benchRequest(instances[i], samples)
		r.GetLime().Seed = seedOf(1 + uint64(i))
		r.GetLime().Labels = []uint32{1}
		return r
	}
	batch := benchRequest(instances[0], samples)
	batch.GetLime().Labels = []uint32{1}
	toBatch(batch, instances)
	for _, mode := range []string{"batch", "loop", "concurrent"} {
		b.Run(mode, func(b *testing.B) {
			calls := fake.Calls()
			cpu0 := cpuTime()
			for b.Loop() {
				switch mode {
				case "batch":
					if _, err := sc.client.Explain(context.Background(), batch); err != nil {
						b.Fatal(err)
					}
				case "loop":
					for i := range rows {
						if _, err := sc.client.Explain(context.Background(), single(i)); err != nil {
							b.Fatal(err)
						}
					}
				case "concurrent":
					var wg sync.WaitGroup
					errs := make([]error, rows)
					for i := range rows {
						wg.Go(func() { _, errs[i] = sc.client.Explain(context.Background(), single(i)) })
					}
					wg.Wait()
					for _, err := range errs {
						if err != nil {
							b.Fatal(err)
						}
					}
				}
			}
			b.ReportMetric(float64(fake.Calls()-calls)/float64(b.N), "calls/op")
			b.ReportMetric(float64(cpuTime()-cpu0)/1e6/float64(b.N*rows), "cpu-ms/instance")
		})
	}
}
