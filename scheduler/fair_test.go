package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/explainer-sidecar/explainer/scheduler"
)

// A small job submitted behind huge ones finishes within a bounded number of
// calls, whatever the huge jobs have left: each call gives it its share of
// the row cap (cap/k rows with k jobs waiting), or with more jobs than rows
// per call, a row every ceil(k/cap) calls. Calls are counted in the order
// they are built, not in time.
func TestSmallJobBehindHugeOnes(t *testing.T) {
	tests := []struct {
		name     string
		maxBatch int
		maxBytes int // 0: the default
		inFlight int
		huge     []int // rows of each huge job
		small    int
	}{
		// In the order of arrival, the small job would wait 1563 calls.
		{"behind 100000 rows", 64, 0, 2, []int{100000}, 5000},
		{"behind two", 64, 0, 4, []int{50000, 50000}, 5000},
		{"cap not a multiple of the jobs", 10, 0, 1, []int{20000, 20000}, 333},
		{"more jobs than rows per call", 4, 0, 1, []int{2000, 2000, 2000, 2000, 2000, 2000, 2000, 2000}, 10},
		{"bytes cap, no row cap", 0, 64 * 16, 2, []int{100000}, 5000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hold := make(chan struct{})
			f := &fake{hold: hold, started: make(chan int, 1<<20)}
			s := newScheduler(t, f, scheduler.WithMaxBatchSize(tt.maxBatch), scheduler.WithMaxBatchBytes(tt.maxBytes), scheduler.WithInFlight(tt.inFlight))
			queued := make(chan struct{}, len(tt.huge)+1)
			scheduler.OnEnqueue(s, func() { queued <- struct{}{} })
			var built []map[*scheduler.Job]int // guarded by the Scheduler's lock
			scheduler.OnBuild(s, func(rows map[*scheduler.Job]int) { built = append(built, rows) })
			ctx, cancelHuge := context.WithCancel(context.Background())
			defer cancelHuge()
			var wg sync.WaitGroup
			for i, n := range tt.huge {
				j := s.NewJob()
				wg.Go(func() {
					if _, err := j.Predict(ctx, tagged(i+1, n, 2)); !errors.Is(err, context.Canceled) {
						t.Errorf("huge job %d: %v, want context.Canceled", i, err)
					}
				})
				<-queued
			}
			for range tt.inFlight {
				<-f.started // the calls in flight carry huge jobs' rows only
			}
			rows := tagged(0, tt.small, 2)
			small := s.NewJob()
			res := predictAsync(context.Background(), small, rows)
			<-queued
			close(hold)
			o := <-res
			cancelHuge()
			wg.Wait()
			s.Close() // no more calls: built can be read
			if o.err != nil || !sameBits(o.out, curvy(rows)) {
				t.Fatalf("small job: %v, or wrong scores", o.err)
			}

			k := len(tt.huge) + 1
			perCall := tt.maxBatch // rows of 2 values, 16 bytes
			if tt.maxBytes > 0 && (perCall == 0 || tt.maxBytes/16 < perCall) {
				perCall = tt.maxBytes / 16
			}
			bound := tt.inFlight // sent before the small job came
			if share := perCall / k; share > 0 {
				bound += (tt.small + share - 1) / share
			} else {
				bound += tt.small * ((k + perCall - 1) / perCall)
			}
			last := -1
			for n, c := range built {
				if c[small] > 0 {
					last = n
				}
			}
			if last+1 > bound {
				t.Errorf("the small job's last row went in call %d, want at most %d", last+1, bound)
			}
			t.Logf("the small job's last row went in call %d (bound %d); it was in %d calls", last+1, bound, small.Calls())
		})
	}
}

// The calls in flight never exceed the Scheduler's cap, for all its jobs
// together, of every width, and reach it when there are rows enough.
func TestInFlightPerModel(t *testing.T) {
	for _, inFlight := range []int{1, 3, 5} {
		t.Run(fmt.Sprint(inFlight), func(t *testing.T) {
			// The first inFlight calls wait for one another: each
			// returns only once inFlight calls have started.
			var mu sync.Mutex
			started := 0
			all := make(chan struct{})
			f := &fake{}
			f.fault = func(ctx context.Context, call int, _ record) ([][]float64, error) {
				if call >= inFlight {
					return nil, nil
				}
				mu.Lock()
				if started++; started == inFlight {
					close(all)
				}
				mu.Unlock()
				select {
				case <-all:
					return nil, nil
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			const maxBatch = 4
			s := newScheduler(t, f, scheduler.WithMaxBatchSize(maxBatch), scheduler.WithInFlight(inFlight))
			var wg sync.WaitGroup
			for i := range 8 {
				j := s.NewJob()
				wg.Go(func() {
					rows := tagged(i, 2*maxBatch+1, 2+i%2)
					if got, err := j.Predict(context.Background(), rows); err != nil || !sameBits(got, curvy(rows)) {
						t.Errorf("job %d: %v, or wrong scores", i, err)
					}
				})
			}
			wg.Wait()
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.maxInFlight != inFlight {
				t.Errorf("at most %d calls in flight, want %d", f.maxInFlight, inFlight)
			}
		})
	}
}
