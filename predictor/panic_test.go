package predictor_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/explainer-sidecar/explainer/internal/group"
	"github.com/explainer-sidecar/explainer/predictor"
)

// panicClient is a Client and TextClient whose first call while broken
// panics in panickingScore; the other calls while broken wait for their
// context, so that the panic is the first failure whatever the order the
// batches go out in. Once mended it scores like firstAndSum and lenAndHash.
type panicClient struct {
	funcClient
	broken atomic.Bool
	calls  atomic.Int64
}

//go:noinline
func panickingScore() { panic("model bug") }

func (c *panicClient) fault(ctx context.Context) error {
	if !c.broken.Load() {
		return nil
	}
	if c.calls.Add(1) == 1 {
		panickingScore()
	}
	<-ctx.Done()
	return ctx.Err()
}

func (c *panicClient) Score(ctx context.Context, rows [][]float64) ([][]float64, error) {
	if err := c.fault(ctx); err != nil {
		return nil, err
	}
	return firstAndSum(rows), nil
}

func (c *panicClient) ScoreText(ctx context.Context, texts []string) ([][]float64, error) {
	if err := c.fault(ctx); err != nil {
		return nil, err
	}
	return lenAndHash(texts), nil
}

// TestBatcherModelPanics: a client that panics on one of several batches in
// flight fails Predict and PredictText with an error wrapping a
// *group.PanicError, instead of ending the process; the batch's in-flight
// place is given back, so the Batcher still works afterwards.
func TestBatcherModelPanics(t *testing.T) {
	tests := []struct {
		name     string
		inFlight int
		text     bool
		op       string
	}{
		{"predict, 4 in flight", 4, false, "predict"},
		{"predict, 1 in flight", 1, false, "predict"},
		{"predict text, 4 in flight", 4, true, "predict text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &panicClient{}
			b := predictor.NewBatcher(c, predictor.WithMaxBatchSize(2), predictor.WithInFlight(tt.inFlight))
			predict := func(ctx context.Context) error {
				var err error
				if tt.text {
					_, err = b.PredictText(ctx, []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"})
				} else {
					_, err = b.Predict(ctx, table(10, 2))
				}
				return err
			}

			c.broken.Store(true)
			err := predict(context.Background())
			pe, ok := errors.AsType[*group.PanicError](err)
			if !ok {
				t.Fatalf("err = %v, want a *group.PanicError", err)
			}
			if want := "predictor: " + tt.op + ": group: panic: model bug"; err.Error() != want {
				t.Errorf("err = %q, want %q", err, want)
			}
			if pe.Value != "model bug" || !bytes.Contains(pe.Stack, []byte("panickingScore")) {
				t.Errorf("Value %v, stack without panickingScore:\n%s", pe.Value, pe.Stack)
			}
			if strings.Contains(err.Error(), "goroutine") {
				t.Errorf("the message holds the stack: %q", err)
			}

			// A leaked in-flight place would block the next call until
			// this guard's deadline.
			c.broken.Store(false)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := predict(ctx); err != nil {
				t.Errorf("after the panic: %v", err)
			}
		})
	}
}

// TestBatcherObserverPanics: the observer runs on the Batcher's goroutines;
// its panic fails Predict too.
func TestBatcherObserverPanics(t *testing.T) {
	var calls atomic.Int64
	observe := func(int) {
		if calls.Add(1) == 2 {
			panic("observer bug")
		}
	}
	b := predictor.NewBatcher(funcClient(func(_ context.Context, rows [][]float64) ([][]float64, error) {
		return firstAndSum(rows), nil
	}), predictor.WithMaxBatchSize(2), predictor.WithInFlight(3), predictor.WithObserver(observe))
	_, err := b.Predict(context.Background(), table(10, 2))
	if pe, ok := errors.AsType[*group.PanicError](err); !ok || pe.Value != "observer bug" {
		t.Errorf("err = %v, want a *group.PanicError of the observer's panic", err)
	}
}
