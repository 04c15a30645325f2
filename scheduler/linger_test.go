package scheduler_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/explainer-sidecar/explainer/scheduler"
)

// TestLinger: while a call is at the model, rows that would not fill the
// next call wait for more with WithLinger, and go out as soon as the first
// call comes back: two jobs of 10 rows share one call of 20 instead of two
// of 10. Without it each goes out as soon as a slot is free. With the
// first call held for good, the waiting rows still go out once the linger
// time has passed.
func TestLinger(t *testing.T) {
	for _, tc := range []struct {
		name   string
		linger time.Duration
		want   [][2]int // per call after the first: rows of jobs 1 and 2
	}{
		{"off", 0, [][2]int{{10, 0}, {0, 10}}},
		{"1 minute", time.Minute, [][2]int{{10, 10}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fake{hold: make(chan struct{}), started: make(chan int, 8)}
			s := newScheduler(t, f, scheduler.WithMaxBatchSize(100), scheduler.WithInFlight(2), scheduler.WithLinger(tc.linger))
			queued := make(chan struct{}, 8)
			scheduler.OnEnqueue(s, func() { queued <- struct{}{} })
			var wg sync.WaitGroup
			predict := func(tag, n int) {
				wg.Go(func() {
					if _, err := s.NewJob().Predict(context.Background(), tagged(tag, n, 3)); err != nil {
						t.Error(err)
					}
				})
				<-queued
			}
			predict(0, 100) // fills call 0, which the model holds
			<-f.started
			predict(1, 10)
			if tc.linger == 0 {
				<-f.started // call 1 went out with job 1's rows alone
			}
			predict(2, 10)
			close(f.hold) // every call answers from now on
			wg.Wait()
			calls := f.log()
			var got [][2]int
			for _, c := range calls[1:] {
				tags := c.tags()
				got = append(got, [2]int{tags[1], tags[2]})
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("calls after the first carried %v (rows of jobs 1, 2), want %v", got, tc.want)
			}
		})
	}
	t.Run("expires", func(t *testing.T) {
		hold := make(chan struct{})
		f := &fake{started: make(chan int, 8)}
		f.fault = func(ctx context.Context, call int, _ record) ([][]float64, error) {
			if call == 0 {
				<-hold // call 0 stays at the model until the end
			}
			return nil, nil
		}
		s := newScheduler(t, f, scheduler.WithMaxBatchSize(100), scheduler.WithInFlight(2), scheduler.WithLinger(10*time.Millisecond))
		var wg sync.WaitGroup
		wg.Go(func() { _, _ = s.NewJob().Predict(context.Background(), tagged(0, 100, 3)) })
		<-f.started
		if _, err := s.NewJob().Predict(context.Background(), tagged(1, 10, 3)); err != nil {
			t.Fatal(err)
		}
		close(hold)
		wg.Wait()
		if n := len(f.log()); n != 2 {
			t.Errorf("%d calls, want 2", n)
		}
	})
}
