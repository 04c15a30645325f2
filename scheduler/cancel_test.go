package scheduler_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/explainer-sidecar/explainer/scheduler"
)

// gates returns a fault that holds call k, for k < n, until gate[k] is
// closed or the call's context ends; later calls go at once.
func gates(n int) (fault func(ctx context.Context, call int, rec record) ([][]float64, error), gate []chan struct{}) {
	gate = make([]chan struct{}, n)
	for i := range gate {
		gate[i] = make(chan struct{})
	}
	return func(ctx context.Context, call int, _ record) ([][]float64, error) {
		if call < n {
			select {
			case <-gate[call]:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return nil, nil
	}, gate
}

// predictAsync starts j.Predict(ctx, rows) and returns where its outcome
// will arrive.
func predictAsync(ctx context.Context, j *scheduler.Job, rows [][]float64) <-chan outcome {
	c := make(chan outcome, 1)
	go func() {
		out, err := j.Predict(ctx, rows)
		c <- outcome{out, err}
	}()
	return c
}

// hasTag reports whether any call in log carried a row of tag.
func hasTag(log []record, tag int) bool {
	for _, c := range log {
		if c.tags()[tag] > 0 {
			return true
		}
	}
	return false
}

// A cancelled job's Predict returns at once with the context's error, its
// rows not yet in a call are never sent, and the others' jobs go on.
func TestCancelledJob(t *testing.T) {
	// Job A (tag 0) is in call 0, held. Job B (tag 1) queues behind it and
	// is cancelled; job C (tag 2) queues behind B.
	t.Run("queued rows never sent", func(t *testing.T) {
		fault, gate := gates(1)
		f := &fake{fault: fault, started: make(chan int, 100)}
		s := newScheduler(t, f, scheduler.WithMaxBatchSize(8), scheduler.WithInFlight(1))
		queued := make(chan struct{}, 3)
		scheduler.OnEnqueue(s, func() { queued <- struct{}{} })
		a, b, c := s.NewJob(), s.NewJob(), s.NewJob()
		resA := predictAsync(context.Background(), a, tagged(0, 20, 2))
		<-queued
		<-f.started // call 0: A's rows, held
		ctxB, cancelB := context.WithCancel(context.Background())
		resB := predictAsync(ctxB, b, tagged(1, 20, 2))
		<-queued
		rowsC := tagged(2, 5, 2)
		resC := predictAsync(context.Background(), c, rowsC)
		<-queued
		cancelB()
		if o := <-resB; !errors.Is(o.err, context.Canceled) {
			t.Fatalf("B: %v, want context.Canceled", o.err)
		}
		close(gate[0])
		if o := <-resA; o.err != nil {
			t.Fatalf("A: %v", o.err)
		}
		if o := <-resC; o.err != nil || !sameBits(o.out, curvy(rowsC)) {
			t.Fatalf("C: %v, or wrong scores", o.err)
		}
		if hasTag(f.log(), 1) {
			t.Error("a row of the cancelled job was sent")
		}
		if b.Rows() != 0 || b.Calls() != 0 {
			t.Errorf("cancelled job: %d rows in %d calls, want none", b.Rows(), b.Calls())
		}
	})

	// Job B's rows fill call 0 alone; its cancellation cancels the call:
	// call 0 never ends otherwise, and with one call in flight, C's rows
	// go out only once it has.
	t.Run("call of the job alone cancelled", func(t *testing.T) {
		fault, _ := gates(1)
		f := &fake{fault: fault, started: make(chan int, 100)}
		s := newScheduler(t, f, scheduler.WithMaxBatchSize(8), scheduler.WithInFlight(1))
		ctxB, cancelB := context.WithCancel(context.Background())
		resB := predictAsync(ctxB, s.NewJob(), tagged(1, 5, 2))
		<-f.started
		cancelB()
		if o := <-resB; !errors.Is(o.err, context.Canceled) {
			t.Fatalf("B: %v, want context.Canceled", o.err)
		}
		rowsC := tagged(2, 5, 2)
		if o := <-predictAsync(context.Background(), s.NewJob(), rowsC); o.err != nil || !sameBits(o.out, curvy(rowsC)) {
			t.Fatalf("C: %v, or wrong scores", o.err)
		}
	})

	// Call 1 carries rows of A and B and is held; B is cancelled: B
	// returns while the call is still held, the call is not cancelled (A
	// needs it), and none of B's other rows is sent.
	t.Run("shared call goes on", func(t *testing.T) {
		fault, gate := gates(2)
		f := &fake{fault: fault, started: make(chan int, 100)}
		s := newScheduler(t, f, scheduler.WithMaxBatchSize(8), scheduler.WithInFlight(1))
		queued := make(chan struct{}, 2)
		scheduler.OnEnqueue(s, func() { queued <- struct{}{} })
		a, b := s.NewJob(), s.NewJob()
		rowsA := tagged(0, 20, 2)
		resA := predictAsync(context.Background(), a, rowsA)
		<-queued
		<-f.started // call 0: A's rows
		ctxB, cancelB := context.WithCancel(context.Background())
		rowsB := tagged(1, 20, 2)
		resB := predictAsync(ctxB, b, rowsB)
		<-queued
		close(gate[0])
		<-f.started // call 1: A's and B's rows, held
		if tags := f.log()[1].tags(); tags[0] != 4 || tags[1] != 4 {
			t.Fatalf("call 1 carried %v rows by job, want 4 of each", tags)
		}
		cancelB()
		if o := <-resB; !errors.Is(o.err, context.Canceled) {
			t.Fatalf("B: %v, want context.Canceled", o.err)
		}
		// B's rows are B's caller's again: the race detector fails the
		// test if the Scheduler still reads them.
		for _, r := range rowsB {
			r[0] = -1
		}
		close(gate[1])
		if o := <-resA; o.err != nil || !sameBits(o.out, curvy(rowsA)) {
			t.Fatalf("A: %v, or wrong scores", o.err)
		}
		log := f.log()
		if hasTag(log[2:], 1) {
			t.Error("a row of the cancelled job was sent after it was cancelled")
		}
		if n := f.cancelledCalls(); n != 0 {
			t.Errorf("%d calls cancelled, want 0", n)
		}
		if b.Rows() != 4 || b.Calls() != 1 {
			t.Errorf("cancelled job: %d rows in %d calls, want 4 in 1", b.Rows(), b.Calls())
		}
	})

	t.Run("context done before", func(t *testing.T) {
		f := &fake{}
		s := newScheduler(t, f)
		ctx, cancel := context.WithDeadline(context.Background(), time.Unix(0, 0))
		defer cancel()
		if _, err := s.NewJob().Predict(ctx, tagged(0, 3, 2)); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Predict: %v, want context.DeadlineExceeded", err)
		}
		if _, err := s.NewJob().PredictText(ctx, []string{"a"}); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("PredictText: %v, want context.DeadlineExceeded", err)
		}
		if n := len(f.log()); n != 0 {
			t.Errorf("%d calls, want 0", n)
		}
	})
}

// A call runs until the latest deadline of its jobs, or without one when a
// job has none: no job's rows are cut short by another job's deadline.
func TestCallDeadline(t *testing.T) {
	soon, later := time.Now().Add(time.Hour), time.Now().Add(2*time.Hour)
	tests := []struct {
		name      string
		deadlines []time.Time // zero: none
		want      time.Time
	}{
		{"one job", []time.Time{soon}, soon},
		{"latest of two", []time.Time{soon, later}, later},
		{"latest of two, other order", []time.Time{later, soon}, later},
		{"one without", []time.Time{soon, {}}, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hold := make(chan struct{})
			f := &fake{hold: hold}
			s := newScheduler(t, f, scheduler.WithMaxBatchSize(4), scheduler.WithInFlight(1))
			queued := make(chan struct{}, len(tt.deadlines))
			scheduler.OnEnqueue(s, func() { queued <- struct{}{} })
			var res []<-chan outcome
			for i, d := range tt.deadlines {
				ctx := context.Background()
				if !d.IsZero() {
					var cancel context.CancelFunc
					ctx, cancel = context.WithDeadline(ctx, d)
					defer cancel()
				}
				// Job 0's first 4 rows go alone in call 0; call 1
				// carries every job.
				res = append(res, predictAsync(ctx, s.NewJob(), tagged(i, 5, 2)))
				<-queued
			}
			close(hold)
			for _, r := range res {
				if o := <-r; o.err != nil {
					t.Fatal(o.err)
				}
			}
			shared := f.log()[1]
			if len(shared.tags()) != len(tt.deadlines) {
				t.Fatalf("call 1 carried jobs %v, want all %d", shared.tags(), len(tt.deadlines))
			}
			if !shared.deadline.Equal(tt.want) {
				t.Errorf("deadline %v, want %v", shared.deadline, tt.want)
			}
		})
	}
}

// A cancelled job's Predict returns only once the call it alone was in has
// come back from the model: a job that ends has no call of its own left at
// the model server (the server's cancel tests count the calls in progress
// when the job's error arrives). The model here takes 50 ms to notice the
// cancellation.
func TestCancelWaitsForItsCall(t *testing.T) {
	var returned atomic.Bool
	f := &fake{started: make(chan int, 10), fault: func(ctx context.Context, _ int, _ record) ([][]float64, error) {
		<-ctx.Done()
		time.Sleep(50 * time.Millisecond)
		returned.Store(true)
		return nil, ctx.Err()
	}}
	s := newScheduler(t, f, scheduler.WithMaxBatchSize(8), scheduler.WithInFlight(1))
	ctx, cancel := context.WithCancel(context.Background())
	res := predictAsync(ctx, s.NewJob(), tagged(0, 4, 2))
	<-f.started
	cancel()
	if o := <-res; !errors.Is(o.err, context.Canceled) {
		t.Fatalf("Predict: %v, want context.Canceled", o.err)
	}
	if !returned.Load() {
		t.Fatal("Predict returned while its cancelled call was still at the model")
	}
}
