package explain

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"github.com/explainer-sidecar/explainer/internal/group"
)

// modelBug is where panickingModel panics; the tests look for its name on
// the recovered stack.
//
//go:noinline
func modelBug() { panic("model bug") }

// panickingModel scores rows with f, except that its call number bad (from
// 1) panics in modelBug.
func panickingModel(bad int64, f func([]float64) []float64) Model {
	var calls atomic.Int64
	return modelFunc(func(ctx context.Context, rows [][]float64) ([][]float64, error) {
		if calls.Add(1) == bad {
			modelBug()
		}
		return (&rowModel{f: f}).Predict(ctx, rows)
	})
}

// checkPanicError fails t unless err wraps the *group.PanicError of
// modelBug, under prefix, with a message free of the stack.
func checkPanicError(t *testing.T, err error, prefix string) {
	t.Helper()
	pe, ok := errors.AsType[*group.PanicError](err)
	if !ok {
		t.Fatalf("err = %v, want a *group.PanicError", err)
	}
	if want := prefix + "group: panic: model bug"; err.Error() != want {
		t.Errorf("err = %q, want %q", err, want)
	}
	if pe.Value != "model bug" || !bytes.Contains(pe.Stack, []byte("modelBug")) {
		t.Errorf("Value %v, stack without modelBug:\n%s", pe.Value, pe.Stack)
	}
	if strings.Contains(err.Error(), "goroutine") {
		t.Errorf("the message holds the stack: %q", err)
	}
}

// TestOcclusionModelPanics: a model that panics on the goroutine Occlusion
// calls it from fails Occlusion with an error instead of ending the
// process, whichever of the calls in flight panics, and no goroutine is
// left behind.
func TestOcclusionModelPanics(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	input := occRamp(100, 1)
	for _, tt := range []struct {
		name string
		bad  int64
	}{
		{"first call (the instance)", 1},
		{"second call, in flight with the first", 2},
		{"a later call", 5},
		{"the last call", 11}, // 100 windows + the instance, 10 rows a call
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := panickingModel(tt.bad, occLinear(input))
			_, err := Occlusion(context.Background(), m, OcclusionRequest{Input: input, Shape: []int{100}, Window: []int{1}, BatchRows: 10})
			checkPanicError(t, err, "explain: occlusion: ")
			goleak.VerifyNone(t, ignore)
		})
	}
}

// TestPermutationModelPanics: a panic in the model, on one of the
// estimator's goroutines, fails Permutation with an error wrapping a
// *group.PanicError (which the server maps to INTERNAL and logs with its
// stack); the other evaluations are stopped and waited for.
func TestPermutationModelPanics(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	data, target := permProblem(4, 30, 4)
	for _, bad := range []int64{1, 2, 4} {
		m := panickingModel(bad, logit2([]float64{1, 1, 1, 1}, 0))
		_, err := Permutation(context.Background(), m, PermutationRequest{Data: data, Target: target})
		checkPanicError(t, err, "explain: permutation: ")
		goleak.VerifyNone(t, ignore)
	}
}

// TestSensitivityModelPanics: Sensitivity shares Permutation's pipeline
// and its handling of a model's panic.
func TestSensitivityModelPanics(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	data := sensitivityData(1, 50, 4)
	m := panickingModel(3, linear1([]float64{3, -2, 0.5, 0}, 0.7))
	_, err := Sensitivity(context.Background(), m, SensitivityRequest{Data: data})
	checkPanicError(t, err, "explain: sensitivity: ")
	goleak.VerifyNone(t, ignore)
}

// TestPermutationPartialPanics: Partial runs on the caller's goroutine, so
// its panic stays there, raised once the evaluations have stopped.
func TestPermutationPartialPanics(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	data, target := permProblem(4, 30, 4)
	got := func() (p any) {
		defer func() { p = recover() }()
		_, _ = Permutation(context.Background(), &rowModel{f: logit2([]float64{1, 1, 1, 1}, 0)}, PermutationRequest{
			Data: data, Target: target, Repeats: 3,
			Partial: func(int, *Result) { panic("partial bug") },
		})
		return nil
	}()
	if got != "partial bug" {
		t.Errorf("recovered %v, want Partial's panic", got)
	}
	goleak.VerifyNone(t, ignore)
}
