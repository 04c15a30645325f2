package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/explainer-sidecar/explainer/internal/group"
	"github.com/explainer-sidecar/explainer/predictor"
	"github.com/explainer-sidecar/explainer/scheduler"
)

// whenTag returns a fault that applies bad to the calls after the first
// that carry a row of tag, and lets the others be scored.
func whenTag(tag int, bad func(rec record) ([][]float64, error)) func(context.Context, int, record) ([][]float64, error) {
	return func(_ context.Context, call int, rec record) ([][]float64, error) {
		if call > 0 && rec.tags()[tag] > 0 {
			return bad(rec)
		}
		return nil, nil
	}
}

// A failed call fails the jobs whose rows it carried, with an error of the
// predictor's kinds, and only them.
func TestFailedCallFailsItsJobs(t *testing.T) {
	unavailable := func(record) ([][]float64, error) {
		return nil, fmt.Errorf("fake: %w", predictor.ErrUnavailable)
	}
	tests := []struct {
		name       string
		widthB     int // job A's rows (tag 0) have width 2
		numClasses int
		bad        func(rec record) ([][]float64, error) // on calls with A's rows
		wantA      error
		wantB      error
	}{
		{"unavailable, apart", 3, 0, unavailable, predictor.ErrUnavailable, nil},
		{"unavailable, shared", 2, 0, unavailable, predictor.ErrUnavailable, predictor.ErrUnavailable},
		{"row missing, shared", 2, 0, func(rec record) ([][]float64, error) {
			return curvy(rec.rows)[1:], nil
		}, predictor.ErrBadOutput, predictor.ErrBadOutput},
		{"ragged reply, shared", 2, 0, func(rec record) ([][]float64, error) {
			out := curvy(rec.rows)
			out[len(out)-1] = out[len(out)-1][:2]
			return out, nil
		}, predictor.ErrBadOutput, predictor.ErrBadOutput},
		{"no scores, shared", 2, 0, func(rec record) ([][]float64, error) {
			return make([][]float64, len(rec.rows)), nil
		}, predictor.ErrBadOutput, predictor.ErrBadOutput},
		{"NaN in A's rows, shared", 2, 0, func(rec record) ([][]float64, error) {
			out := curvy(rec.rows)
			for i, r := range rec.rows {
				if r[0] == 0 {
					out[i][2] = math.NaN()
				}
			}
			return out, nil
		}, predictor.ErrBadOutput, nil},
		{"Inf in A's rows, shared", 2, 0, func(rec record) ([][]float64, error) {
			out := curvy(rec.rows)
			for i, r := range rec.rows {
				if r[0] == 0 {
					out[i][0] = math.Inf(-1)
				}
			}
			return out, nil
		}, predictor.ErrBadOutput, nil},
		{"class count not the model's", 2, 2, func(record) ([][]float64, error) { return nil, nil }, predictor.ErrBadOutput, predictor.ErrBadOutput},
		{"invalid input in A's rows, shared", 2, 0, func(record) ([][]float64, error) {
			return nil, fmt.Errorf("fake: %w: value cannot be sent as INT64", predictor.ErrInvalidInput)
		}, predictor.ErrInvalidInput, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hold := make(chan struct{})
			f := &fake{hold: hold, fault: whenTag(0, tt.bad), started: make(chan int, 100)}
			s := newScheduler(t, f, scheduler.WithMaxBatchSize(8), scheduler.WithInFlight(1), scheduler.WithNumClasses(tt.numClasses))
			// A's first 8 rows go alone in call 0, which succeeds; the
			// rest go with B's when their widths agree, 4 and 4.
			rowsB := tagged(1, 10, tt.widthB)
			resA := predictAsync(context.Background(), s.NewJob(), tagged(0, 12, 2))
			<-f.started
			queued := make(chan struct{}, 1)
			scheduler.OnEnqueue(s, func() { queued <- struct{}{} })
			resB := predictAsync(context.Background(), s.NewJob(), rowsB)
			<-queued
			close(hold)
			outs := []outcome{<-resA, <-resB}
			// (With the class count asserted, call 0 fails A already.)
			if shared := f.log()[1].tags(); tt.widthB == 2 && tt.numClasses == 0 && (shared[0] != 4 || shared[1] != 4) {
				t.Fatalf("call 1 carried %v rows by job, want 4 of each", shared)
			}
			if err := outs[0].err; !errIs(err, tt.wantA) {
				t.Errorf("A: %v, want %v", err, tt.wantA)
			}
			if err := outs[1].err; !errIs(err, tt.wantB) {
				t.Errorf("B: %v, want %v", err, tt.wantB)
			}
			if tt.wantB == nil && !sameBits(outs[1].out, curvy(rowsB)) {
				t.Error("B: wrong scores")
			}
			for i, o := range outs {
				if o.err != nil && o.out != nil {
					t.Errorf("job %d: scores with an error", i)
				}
			}
		})
	}
}

// The scores of one Predict call have one class count, even when its calls
// disagree and no count was asserted.
func TestClassCountChanges(t *testing.T) {
	f := &fake{fault: func(_ context.Context, call int, rec record) ([][]float64, error) {
		if call == 1 {
			out := curvy(rec.rows)
			for i := range out {
				out[i] = out[i][:2]
			}
			return out, nil
		}
		return nil, nil
	}}
	s := newScheduler(t, f, scheduler.WithMaxBatchSize(4), scheduler.WithInFlight(1))
	_, err := s.NewJob().Predict(context.Background(), tagged(0, 8, 2))
	if !errors.Is(err, predictor.ErrBadOutput) {
		t.Fatalf("Predict: %v, want ErrBadOutput", err)
	}
}

// A panic in the client fails the jobs of its call with a *group.PanicError,
// and the Scheduler goes on.
func TestClientPanic(t *testing.T) {
	hold := make(chan struct{})
	f := &fake{hold: hold, fault: whenTag(0, func(record) ([][]float64, error) { panic("fake: bug") })}
	s := newScheduler(t, f, scheduler.WithMaxBatchSize(8), scheduler.WithInFlight(1))
	rowsB := tagged(1, 10, 3) // another width: never with A's rows
	outs := predictAll(t, s, hold, []*scheduler.Job{s.NewJob(), s.NewJob()}, [][][]float64{tagged(0, 20, 2), rowsB})
	var pe *group.PanicError
	if !errors.As(outs[0].err, &pe) {
		t.Errorf("A: %v, want a *group.PanicError", outs[0].err)
	}
	if outs[1].err != nil || !sameBits(outs[1].out, curvy(rowsB)) {
		t.Errorf("B: %v, or wrong scores", outs[1].err)
	}
	rowsC := tagged(2, 3, 2)
	if got, err := s.NewJob().Predict(context.Background(), rowsC); err != nil || !sameBits(got, curvy(rowsC)) {
		t.Errorf("after the panic: %v, or wrong scores", err)
	}
}

// Rows that cannot be sent fail before anything is queued.
func TestInvalidInput(t *testing.T) {
	noText := struct{ predictor.Client }{&fake{}} // a Client and nothing more
	tests := []struct {
		name   string
		client predictor.Client
		opts   []scheduler.JobOption
		call   func(ctx context.Context, j *scheduler.Job) error
		want   error
	}{
		{"ragged rows", nil, nil, func(ctx context.Context, j *scheduler.Job) error {
			_, err := j.Predict(ctx, [][]float64{{1, 2}, {3}})
			return err
		}, predictor.ErrInvalidInput},
		{"rows not of the shape", nil, []scheduler.JobOption{scheduler.WithInstanceShape(2, 2)}, func(ctx context.Context, j *scheduler.Job) error {
			_, err := j.Predict(ctx, tagged(0, 2, 3))
			return err
		}, predictor.ErrInvalidInput},
		{"text to a client without text", noText, nil, func(ctx context.Context, j *scheduler.Job) error {
			_, err := j.PredictText(ctx, []string{"a"})
			return err
		}, predictor.ErrRejected},
		{"no rows", nil, nil, func(ctx context.Context, j *scheduler.Job) error {
			out, err := j.Predict(ctx, nil)
			if err == nil && (out == nil || len(out) != 0) {
				err = fmt.Errorf("got %v, want an empty slice", out)
			}
			return err
		}, nil},
		{"no texts", nil, nil, func(ctx context.Context, j *scheduler.Job) error {
			out, err := j.PredictText(ctx, []string{})
			if err == nil && (out == nil || len(out) != 0) {
				err = fmt.Errorf("got %v, want an empty slice", out)
			}
			return err
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fake{}
			c := tt.client
			if c == nil {
				c = f
			}
			s := newScheduler(t, c)
			if err := tt.call(context.Background(), s.NewJob(tt.opts...)); !errIs(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
			if n := len(f.log()); n != 0 {
				t.Errorf("%d calls, want 0", n)
			}
			if n := s.Calls(); n != 0 {
				t.Errorf("Calls() = %d, want 0", n)
			}
		})
	}
}

// Close fails the jobs waiting, queued or in flight, with ErrClosed, which
// the server maps as the model being unavailable; later calls fail the
// same way.
func TestClose(t *testing.T) {
	fault, _ := gates(1) // call 0 never ends unless cancelled
	f := &fake{fault: fault, started: make(chan int, 10)}
	s := scheduler.New(f, scheduler.WithMaxBatchSize(4), scheduler.WithInFlight(1))
	queued := make(chan struct{}, 2)
	scheduler.OnEnqueue(s, func() { queued <- struct{}{} })
	inFlight := predictAsync(context.Background(), s.NewJob(), tagged(0, 4, 2))
	<-queued
	<-f.started
	waiting := predictAsync(context.Background(), s.NewJob(), tagged(1, 4, 2))
	<-queued
	s.Close()
	for name, c := range map[string]<-chan outcome{"in flight": inFlight, "queued": waiting} {
		if o := <-c; !errors.Is(o.err, scheduler.ErrClosed) || !errors.Is(o.err, predictor.ErrUnavailable) {
			t.Errorf("%s: %v, want ErrClosed", name, o.err)
		}
	}
	if n := f.cancelledCalls(); n != 1 {
		t.Errorf("%d calls cancelled, want 1", n)
	}
	if _, err := s.NewJob().Predict(context.Background(), tagged(2, 1, 2)); !errors.Is(err, scheduler.ErrClosed) {
		t.Errorf("after Close: %v, want ErrClosed", err)
	}
	s.Close() // again: nothing to do
}
