// Package group runs the goroutines of one task, joins them, and turns a
// panic in any of them into an error instead of a crash of the process.
//
// A panic can only be recovered on the goroutine that raised it: the
// recovery interceptor of a gRPC server covers the handler's goroutine, and
// a panic on any goroutine the handler starts ends the process. So every
// goroutine the module starts on behalf of a request runs its function
// under [Group.Go] or [Do], which recover a panic into a [*PanicError]
// carrying the value and the stack.
//
// # Concurrency
//
// A [Group] has the shape of golang.org/x/sync/errgroup's. [Group.Go]
// starts a function on a new goroutine, after waiting for a free place when
// [Group.SetLimit] set a limit. The first function to return an error or
// to panic cancels the context of [WithContext] (its [context.Cause] is that
// error); [Group.Wait] returns once every function has returned, with that
// first error, and cancels the context. Go may be called from several
// goroutines at once, the group's functions included; the calls from
// outside the group must happen before Wait, and a Group serves one task:
// no Go once Wait has returned.
//
// # Panics
//
// A panic becomes a [*PanicError] that Wait (or Do) returns like any other
// error; callers wrap it with %w and [errors.As] finds it. Its message is
// short and holds no stack, since it may reach a client; the stack is kept
// in the error for the log. A function that ends its goroutine with
// [runtime.Goexit] (t.FailNow in a test fake) fails the group too, so that
// Wait never reports success for work that did not finish.
package group

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"unicode/utf8"
)

// maxValueLen caps the bytes of the panic value quoted in a PanicError's
// message: the value is formatted with %v and may be large.
const maxValueLen = 200

// PanicError is a panic recovered by [Group.Go] or [Do].
//
// Error returns "group: panic: " and the value, cut to 200 bytes, on one
// line and without the stack. The error does not unwrap to the value, even
// when the value is an error: a panic is a bug and must not pass for the
// error it carries (a panic(context.Canceled) is not a cancellation).
type PanicError struct {
	// Value is the value passed to panic.
	Value any
	// Stack is the panicking goroutine's stack as debug.Stack formats it,
	// taken at the recovery, so the panicking function is on it. For logs.
	Stack []byte
}

func (e *PanicError) Error() string {
	v := fmt.Sprint(e.Value)
	if len(v) > maxValueLen {
		n := maxValueLen
		for n > 0 && !utf8.RuneStart(v[n]) {
			n--
		}
		v = v[:n] + "…"
	}
	return "group: panic: " + v
}

// errGoexit fails a group whose function called runtime.Goexit.
var errGoexit = errors.New("group: goroutine ended by runtime.Goexit")

// Do calls f on the caller's goroutine and returns its error, or a
// *PanicError if f panics. It is the recovery of Group.Go for a goroutine
// that is not in a group, such as a call whose answer is awaited on a
// channel:
//
//	go func() {
//		defer close(c.done)
//		c.err = group.Do(func() error { ... })
//	}()
func Do(f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &PanicError{Value: p, Stack: debug.Stack()}
		}
	}()
	return f()
}

// Group is a set of goroutines working on parts of one task. The zero
// Group is usable: it has no limit and no context to cancel.
type Group struct {
	cancel context.CancelCauseFunc // nil in a zero Group
	wg     sync.WaitGroup
	sem    chan struct{} // one token per running function; nil: no limit

	errOnce sync.Once
	err     error // the first failure
}

// WithContext returns a Group and a context derived from ctx that is
// cancelled, with the error as its cause, when a function of the group
// first fails, or else when Wait returns. The functions should watch it so
// that they stop when another one has failed.
func WithContext(ctx context.Context) (*Group, context.Context) {
	ctx, cancel := context.WithCancelCause(ctx)
	return &Group{cancel: cancel}, ctx
}

// SetLimit makes Go wait until fewer than n of the group's functions are
// running before it starts another. n below 1 means no limit, the default.
// It must be called before Go, not while functions are running.
func (g *Group) SetLimit(n int) {
	if len(g.sem) != 0 {
		panic(fmt.Sprintf("group: SetLimit with %d functions running", len(g.sem)))
	}
	if n < 1 {
		g.sem = nil
		return
	}
	g.sem = make(chan struct{}, n)
}

// Go calls f on a new goroutine, once the limit (if any) allows. If f
// returns an error or panics and no function of the group has failed
// before, that error (a *PanicError for a panic) cancels the group's
// context and is what Wait returns.
func (g *Group) Go(f func() error) {
	if g.sem != nil {
		g.sem <- struct{}{}
	}
	g.wg.Add(1)
	go func() {
		returned := false
		defer func() {
			if !returned {
				g.fail(errGoexit)
			}
			if g.sem != nil {
				<-g.sem
			}
			g.wg.Done()
		}()
		err := Do(f)
		returned = true
		if err != nil {
			g.fail(err)
		}
	}()
}

// fail records err if it is the group's first failure and cancels the
// context.
func (g *Group) fail(err error) {
	g.errOnce.Do(func() {
		g.err = err
		if g.cancel != nil {
			g.cancel(err)
		}
	})
}

// Wait waits for every function started by Go to return, cancels the
// group's context, and returns the first failure, or nil.
func (g *Group) Wait() error {
	g.wg.Wait()
	if g.cancel != nil {
		g.cancel(g.err)
	}
	return g.err
}
