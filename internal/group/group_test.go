package group

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var errBoom = errors.New("boom")

// panicker panics with v; the tests look for its name on the stack.
//
//go:noinline
func panicker(v any) error { panic(v) }

// TestGroup: what Wait returns for a set of functions, each of which ends
// one way, the others waiting for the group's context when told to.
func TestGroup(t *testing.T) {
	ok := func(context.Context) error { return nil }
	fail := func(context.Context) error { return errBoom }
	boom := func(context.Context) error { return panicker("boom") }
	exit := func(context.Context) error { runtime.Goexit(); return nil }
	// wait fails only once another function has failed: it cannot be first.
	wait := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	tests := []struct {
		name  string
		funcs []func(context.Context) error
		check func(error) bool
	}{
		{"none", nil, func(err error) bool { return err == nil }},
		{"all succeed", []func(context.Context) error{ok, ok, ok}, func(err error) bool { return err == nil }},
		{"error", []func(context.Context) error{ok, fail, ok}, func(err error) bool { return err == errBoom }},
		{"error cancels the rest", []func(context.Context) error{wait, wait, fail, wait}, func(err error) bool { return err == errBoom }},
		{"panic", []func(context.Context) error{ok, boom}, func(err error) bool {
			pe, ok := errors.AsType[*PanicError](err)
			return ok && pe.Value == "boom"
		}},
		{"panic cancels the rest", []func(context.Context) error{wait, boom, wait}, func(err error) bool {
			_, ok := errors.AsType[*PanicError](err)
			return ok
		}},
		{"goexit", []func(context.Context) error{wait, exit}, func(err error) bool { return err == errGoexit }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, ctx := WithContext(context.Background())
			for _, f := range tt.funcs {
				g.Go(func() error { return f(ctx) })
			}
			err := g.Wait()
			if !tt.check(err) {
				t.Fatalf("Wait() = %v", err)
			}
			if ctx.Err() == nil {
				t.Error("the context is not cancelled after Wait")
			}
			if err != nil && context.Cause(ctx) != err {
				t.Errorf("context.Cause = %v, want %v", context.Cause(ctx), err)
			}
		})
	}
}

// TestFirstErrorCancels: the first error cancels the context at once, while
// the other functions still run, and Wait returns it and not theirs.
func TestFirstErrorCancels(t *testing.T) {
	g, ctx := WithContext(context.Background())
	const waiting = 3
	for i := range waiting {
		g.Go(func() error {
			<-ctx.Done()
			return fmt.Errorf("waiter %d: %w", i, ctx.Err())
		})
	}
	g.Go(func() error { return errBoom })
	<-ctx.Done() // before Wait: the failure itself cancels
	if err := g.Wait(); err != errBoom {
		t.Errorf("Wait() = %v, want %v", err, errBoom)
	}
}

// TestWaitWaitsForAll: Wait returns only after every function has
// returned, those still running after another has failed or panicked
// included.
func TestWaitWaitsForAll(t *testing.T) {
	for _, first := range []func() error{
		func() error { return errBoom },
		func() error { return panicker("boom") },
	} {
		var g Group // no context: the others do not stop early
		release := make(chan struct{})
		var finished atomic.Int64
		const n = 4
		for range n {
			g.Go(func() error {
				<-release
				finished.Add(1)
				return nil
			})
		}
		failed := make(chan struct{})
		g.Go(func() error {
			defer close(failed)
			return first()
		})
		waited := make(chan error)
		go func() { waited <- g.Wait() }()
		<-failed
		select {
		case err := <-waited:
			t.Fatalf("Wait returned %v while %d functions were blocked", err, n)
		default:
		}
		close(release)
		if err := <-waited; err == nil {
			t.Error("Wait() = nil, want the failure")
		}
		if got := finished.Load(); got != n {
			t.Errorf("Wait returned after %d of %d functions", got, n)
		}
	}
}

// TestSetLimit: no more than the limit run at once, and Go waits for a
// free place.
func TestSetLimit(t *testing.T) {
	var g Group
	g.SetLimit(2)
	var running, most atomic.Int64
	release := make(chan struct{})
	start := func() {
		g.Go(func() error {
			r := running.Add(1)
			for m := most.Load(); r > m && !most.CompareAndSwap(m, r); m = most.Load() {
			}
			<-release
			running.Add(-1)
			return nil
		})
	}
	start()
	start()
	third := make(chan struct{})
	go func() {
		start() // blocks until one of the first two returns
		close(third)
	}()
	select {
	case <-third:
		t.Fatal("Go started a third function over a limit of 2")
	default:
	}
	close(release)
	<-third
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if m := most.Load(); m > 2 {
		t.Errorf("%d functions ran at once over a limit of 2", m)
	}
}

// TestSetLimitWhileRunning: changing the limit of a busy group is a bug
// of the caller.
func TestSetLimitWhileRunning(t *testing.T) {
	var g Group
	g.SetLimit(1)
	release := make(chan struct{})
	g.Go(func() error { <-release; return nil })
	defer func() {
		close(release)
		_ = g.Wait()
		if recover() == nil {
			t.Error("SetLimit on a busy group did not panic")
		}
	}()
	g.SetLimit(2)
}

func TestDo(t *testing.T) {
	errCause := errors.New("cause")
	tests := []struct {
		name      string
		f         func() error
		wantErr   error // nil: want a *PanicError, or no error when wantValue is nil too
		wantValue any
	}{
		{"nil", func() error { return nil }, nil, nil},
		{"error", func() error { return errBoom }, errBoom, nil},
		{"panic string", func() error { return panicker("boom") }, nil, "boom"},
		{"panic error", func() error { return panicker(errCause) }, nil, errCause},
		{"panic int", func() error { return panicker(42) }, nil, 42},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Do(tt.f)
			if tt.wantValue == nil {
				if err != tt.wantErr {
					t.Fatalf("Do() = %v, want %v", err, tt.wantErr)
				}
				return
			}
			pe, ok := errors.AsType[*PanicError](fmt.Errorf("wrapped: %w", err))
			if !ok {
				t.Fatalf("Do() = %v (%T), want a *PanicError found through wrapping", err, err)
			}
			if pe.Value != tt.wantValue {
				t.Errorf("Value = %v, want %v", pe.Value, tt.wantValue)
			}
			if want := fmt.Sprint("group: panic: ", tt.wantValue); pe.Error() != want {
				t.Errorf("Error() = %q, want %q", pe.Error(), want)
			}
			if !bytes.Contains(pe.Stack, []byte("group.panicker(")) {
				t.Errorf("the stack does not name the panicking function:\n%s", pe.Stack)
			}
			if errors.Is(err, errCause) {
				t.Error("a *PanicError unwraps to the panic's error value")
			}
		})
	}
}

// TestDoPanicNil: panic(nil) is still a panic (a *runtime.PanicNilError
// since Go 1.21), not a success.
func TestDoPanicNil(t *testing.T) {
	err := Do(func() error { return panicker(nil) })
	pe, ok := errors.AsType[*PanicError](err)
	if !ok {
		t.Fatalf("Do() = %v, want a *PanicError", err)
	}
	if _, ok := pe.Value.(*runtime.PanicNilError); !ok {
		t.Errorf("Value = %T, want *runtime.PanicNilError", pe.Value)
	}
}

// TestPanicErrorMessage: the message is one short line, without the stack,
// whatever the value.
func TestPanicErrorMessage(t *testing.T) {
	long := strings.Repeat("é", 500) // two bytes each: the cut must not split one
	err := Do(func() error { return panicker(long) })
	msg := err.Error()
	if !strings.HasPrefix(msg, "group: panic: éé") || !strings.HasSuffix(msg, "…") {
		t.Errorf("message %q", msg)
	}
	if len(msg) > len("group: panic: ")+maxValueLen+len("…") {
		t.Errorf("message of %d bytes", len(msg))
	}
	if !strings.HasSuffix(strings.TrimSuffix(msg, "…"), "é") {
		t.Errorf("the cut split a rune: %q", msg[len(msg)-8:])
	}
	if strings.Contains(msg, "\n") || strings.Contains(msg, "goroutine") {
		t.Errorf("message holds the stack: %q", msg)
	}
}
