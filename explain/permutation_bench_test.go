package explain

import (
	"context"
	"math"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// latencyModel stands for a remote model behind a batching client such as
// predictor.Batcher: each Predict call is split into batches of batch rows,
// at most inFlight batches run at once across all concurrent calls (the
// cap is shared, as the Batcher's is), and each batch takes latency. It
// scores a logistic model of features 0 and 1.
type latencyModel struct {
	batch   int
	latency time.Duration
	slots   chan struct{}
	batches atomic.Int64
	busy    atomic.Int64 // total nanoseconds the batches took, timer slack included
}

func newLatencyModel(batch, inFlight int, latency time.Duration) *latencyModel {
	return &latencyModel{batch: batch, latency: latency, slots: make(chan struct{}, inFlight)}
}

func (m *latencyModel) Predict(ctx context.Context, rows [][]float64) ([][]float64, error) {
	out := make([][]float64, len(rows))
	backing := make([]float64, 2*len(rows))
	var wg sync.WaitGroup
	defer wg.Wait()
	for start := 0; start < len(rows); start += m.batch {
		select {
		case m.slots <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		end := min(start+m.batch, len(rows))
		wg.Go(func() {
			defer func() { <-m.slots }()
			t0 := time.Now()
			timer := time.NewTimer(m.latency)
			select {
			case <-timer.C:
			case <-ctx.Done():
				timer.Stop()
			}
			for i := start; i < end; i++ {
				p := 1 / (1 + math.Exp(-(2*rows[i][0] - rows[i][1])))
				out[i] = backing[2*i : 2*i+2]
				out[i][0], out[i][1] = 1-p, p
			}
			m.busy.Add(int64(time.Since(t0)))
			m.batches.Add(1)
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// benchData returns n rows of p standard normal features and the classes
// the latency model's logistic model predicts for them.
func benchData(n, p int) ([][]float64, []float64) {
	rng := rand.New(rand.NewPCG(1, 2))
	backing := make([]float64, n*p)
	data := make([][]float64, n)
	target := make([]float64, n)
	for i := range data {
		data[i] = backing[i*p : (i+1)*p]
		for j := range data[i] {
			data[i][j] = rng.NormFloat64()
		}
		if 2*data[i][0]-data[i][1] > 0 {
			target[i] = 1
		}
	}
	return data, target
}

// heapPeak samples the bytes of heap objects (live and not yet swept)
// every 200µs until stopped, and returns the largest value seen.
type heapPeak struct {
	stop chan struct{}
	done chan uint64
}

func startHeapPeak() *heapPeak {
	h := &heapPeak{stop: make(chan struct{}), done: make(chan uint64)}
	go func() {
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var peak uint64
		tick := time.NewTicker(200 * time.Microsecond)
		defer tick.Stop()
		for {
			metrics.Read(sample)
			peak = max(peak, sample[0].Value.Uint64())
			select {
			case <-h.stop:
				h.done <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return h
}

func (h *heapPeak) Stop() uint64 {
	close(h.stop)
	return <-h.done
}

func heapObjects() uint64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	runtime.GC()
	metrics.Read(sample)
	return sample[0].Value.Uint64()
}

// measurePeak runs f with the garbage collector at the given GOGC and
// returns the largest heap seen above the heap before the call, in MB. At
// the default GOGC=100 that includes garbage not yet collected (what a
// deployment sees); at GOGC=10 the heap stays close to what is live.
func measurePeak(gogc int, f func()) float64 {
	defer debug.SetGCPercent(debug.SetGCPercent(gogc))
	before := heapObjects()
	h := startHeapPeak()
	f()
	peak := h.Stop()
	return float64(int64(peak)-int64(before)) / 1e6
}

// BenchmarkPermutation: 100,000 rows × 30 features, 5 repeats, against a
// model answering batches of 1000 rows, 4 in flight, 1 ms each. The ideal
// wall time keeps the model's 4 slots busy all the time: total batches ×
// 1 ms ÷ 4 (wall/ideal); wall/busy uses the batches' measured durations
// instead of 1 ms, taking the timer's slack out. peak-MB is the largest
// heap above the caller's data during the timed calls (GOGC=100, garbage
// included); live-MB the same in one more call at GOGC=10, near the live
// heap. The design's 2·n·p working copies are 48 MB here.
func BenchmarkPermutation(b *testing.B) {
	data, target := benchData(100_000, 30)
	req := PermutationRequest{Data: data, Target: target, Repeats: 5, Seed: 1}
	benchLatency(b, 1000, 4, time.Millisecond, func(m Model) error {
		_, err := Permutation(context.Background(), m, req)
		return err
	})
}

// benchLatency runs job against the latency model (batches of batch rows,
// inFlight at once, latency each) and reports wall time over the ideal and
// over the batches' measured time, and the peak and live heap.
func benchLatency(b *testing.B, batch, inFlight int, latency time.Duration, job func(Model) error) {
	var wall, ideal, busy time.Duration
	var peak float64
	b.ResetTimer()
	for range b.N {
		m := newLatencyModel(batch, inFlight, latency)
		start := time.Now()
		var err error
		peak = max(peak, measurePeak(100, func() { err = job(m) }))
		if err != nil {
			b.Fatal(err)
		}
		wall += time.Since(start)
		ideal += time.Duration(m.batches.Load()) * latency / time.Duration(inFlight)
		busy += time.Duration(m.busy.Load()) / time.Duration(inFlight)
	}
	b.StopTimer()
	live := measurePeak(10, func() { _ = job(newLatencyModel(batch, inFlight, latency)) })
	b.ReportMetric(wall.Seconds()/ideal.Seconds(), "wall/ideal")
	b.ReportMetric(wall.Seconds()/busy.Seconds(), "wall/busy")
	b.ReportMetric(peak, "peak-MB")
	b.ReportMetric(live, "live-MB")
}

// instantModel answers at once with precomputed scores: what remains is
// the sidecar's own cost (copies, permutations, scoring, plumbing).
type instantModel struct{ out [][]float64 }

func (m instantModel) Predict(_ context.Context, rows [][]float64) ([][]float64, error) {
	return m.out[:len(rows)], nil
}

func newInstantModel(data [][]float64) instantModel {
	out := make([][]float64, len(data))
	for i, r := range data {
		p := 1 / (1 + math.Exp(-(2*r[0] - r[1])))
		out[i] = []float64{1 - p, p}
	}
	return instantModel{out}
}

// BenchmarkPermutationInstant is the sidecar's own cost on the same
// problem, per scored row (ns/row) and in all; peak-MB and live-MB as
// above, from one more call.
func BenchmarkPermutationInstant(b *testing.B) {
	const n, p, repeats = 100_000, 30, 5
	data, target := benchData(n, p)
	m := newInstantModel(data)
	for _, scoring := range []Scoring{ScoreAccuracy, ScoreNegLogLoss, ScoreROCAUC} {
		b.Run(scoring.String(), func(b *testing.B) {
			req := PermutationRequest{Data: data, Target: target, Scoring: scoring, Repeats: repeats, Seed: 1}
			var rows int
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				res, err := Permutation(context.Background(), m, req)
				if err != nil {
					b.Fatal(err)
				}
				rows = res.NumSamples
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(rows), "ns/row")
			b.ReportMetric(measurePeak(100, func() { _, _ = Permutation(context.Background(), m, req) }), "peak-MB")
			b.ReportMetric(measurePeak(10, func() { _, _ = Permutation(context.Background(), m, req) }), "live-MB")
		})
	}
}
