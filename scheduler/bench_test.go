package scheduler_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/explainer-sidecar/explainer/predictor"
	"github.com/explainer-sidecar/explainer/scheduler"
)

// slowModel is a model server with a fixed number of instances: a call
// waits for a free one, then takes latency + perRow × its rows. Calls
// beyond the instances queue, as they do in Triton.
type slowModel struct {
	instances       chan struct{}
	latency, perRow time.Duration
	calls           atomic.Int64
	reply           [][]float64
}

func newSlowModel(instances, maxRows int, latency, perRow time.Duration) *slowModel {
	m := &slowModel{instances: make(chan struct{}, instances), latency: latency, perRow: perRow}
	flat := make([]float64, 2*maxRows)
	for i := range flat {
		flat[i] = 0.5
	}
	m.reply = make([][]float64, maxRows)
	for i := range m.reply {
		m.reply[i] = flat[2*i : 2*i+2 : 2*i+2]
	}
	return m
}

func (m *slowModel) Score(ctx context.Context, rows [][]float64) ([][]float64, error) {
	m.calls.Add(1)
	if m.latency == 0 && m.perRow == 0 {
		return m.reply[:len(rows)], nil // instant
	}
	select {
	case m.instances <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-m.instances }()
	t := time.NewTimer(m.latency + time.Duration(len(rows))*m.perRow)
	defer t.Stop()
	select {
	case <-t.C:
		return m.reply[:len(rows)], nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (m *slowModel) Describe(context.Context) (predictor.ModelInfo, error) {
	return predictor.ModelInfo{}, nil
}
func (m *slowModel) Ready(context.Context) error { return nil }

// BenchmarkConcurrentJobs runs N jobs of R rows at once against a model of
// inFlight instances, through one Scheduler or through one Batcher per job
// (the server today: each with its own in-flight allowance, the calls
// beyond the model's instances queueing there). It reports the model calls
// per round of jobs, the wall time over the model-bound ideal: every row in
// full calls of maxBatch rows, inFlight at once, that is
// max((⌈N·R/maxBatch⌉·L + N·R·c) / inFlight, L + min(N·R, maxBatch)·c),
// and the mean time a job takes over that ideal (fair sharing makes jobs
// of one size finish together, near the end).
func BenchmarkConcurrentJobs(b *testing.B) {
	const (
		maxBatch = 64
		inFlight = 4
		latency  = 5 * time.Millisecond
		perRow   = 50 * time.Microsecond
		width    = 10
	)
	for _, n := range []int{1, 8, 50} {
		for _, r := range []int{10, 100, 1000} {
			total := n * r
			minCalls := (total + maxBatch - 1) / maxBatch
			ideal := max((time.Duration(minCalls)*latency+time.Duration(total)*perRow)/inFlight,
				latency+time.Duration(min(total, maxBatch))*perRow)
			rows := tagged(0, r, width)
			for _, mode := range []string{"scheduler", "linger", "batchers"} {
				b.Run(fmt.Sprintf("jobs=%d/rows=%d/%s", n, r, mode), func(b *testing.B) {
					m := newSlowModel(inFlight, maxBatch, latency, perRow)
					linger := time.Duration(0)
					if mode == "linger" {
						linger = latency // a call's fixed latency
					}
					s := scheduler.New(m, scheduler.WithMaxBatchSize(maxBatch), scheduler.WithInFlight(inFlight), scheduler.WithLinger(linger))
					defer s.Close()
					ctx := context.Background()
					var jobTime atomic.Int64
					start := time.Now()
					for b.Loop() {
						var wg sync.WaitGroup
						for range n {
							var model interface {
								Predict(context.Context, [][]float64) ([][]float64, error)
							}
							if mode != "batchers" {
								model = s.NewJob()
							} else {
								model = predictor.NewBatcher(m, predictor.WithMaxBatchSize(maxBatch), predictor.WithInFlight(inFlight))
							}
							wg.Go(func() {
								t := time.Now()
								if _, err := model.Predict(ctx, rows); err != nil {
									b.Error(err)
								}
								jobTime.Add(int64(time.Since(t)))
							})
						}
						wg.Wait()
					}
					wall := time.Since(start) / time.Duration(b.N)
					b.ReportMetric(float64(m.calls.Load())/float64(b.N), "calls/op")
					b.ReportMetric(float64(minCalls), "ideal-calls/op")
					b.ReportMetric(float64(wall)/float64(ideal), "wall/ideal")
					b.ReportMetric(float64(jobTime.Load())/float64(b.N*n)/float64(ideal), "job/ideal")
				})
			}
		}
	}
}

// BenchmarkOverhead is the sidecar's own cost of one job of 5000 rows of 30
// features, 79 calls, against a model that answers at once: a Scheduler
// (which copies the values of each call, and the scores back, and takes a
// lock per call) against a Batcher.
func BenchmarkOverhead(b *testing.B) {
	rows := tagged(0, 5000, 30)
	m := newSlowModel(predictor.DefaultInFlight, predictor.DefaultMaxBatchSize, 0, 0)
	ctx := context.Background()
	b.Run("scheduler", func(b *testing.B) {
		s := scheduler.New(m)
		defer s.Close()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.NewJob().Predict(ctx, rows); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("batcher", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := predictor.NewBatcher(m).Predict(ctx, rows); err != nil {
				b.Fatal(err)
			}
		}
	})
}
