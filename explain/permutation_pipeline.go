package explain

import (
	"context"
	"sync"
	"sync/atomic"
)

// evalsInFlight is how many model evaluations (Predict calls over a whole
// working copy of the data) permutation importance and sensitivity keep
// running at once. A Model's in-flight cap is shared by concurrent Predict
// calls, so with two evaluations the batches of the next one fill the pipe
// while the last batches of the previous one drain; more would only cost
// memory, one working copy of the data each.
const evalsInFlight = 2

// runEvaluations runs units 0, 1, ..., units−1 on evalsInFlight goroutines
// (fewer for fewer units), started and joined within the call. Each
// goroutine takes the next unit as soon as it has finished its last one
// and evaluates it with its own function from newWorker, which may keep
// private state (a working copy of the data) from one unit to the next.
// collect is called in the caller's goroutine with each unit's value, in
// the order units finish, never concurrently; the work it does (scoring)
// overlaps the next evaluations. Values wait for collect in a channel of
// evalsInFlight places, so at most 2·evalsInFlight + 1 values exist at
// once. The result must not depend on the order units finish in.
//
// The first error (from an evaluation, from collect, or ctx's once it is
// done) cancels the evaluations still running, starts no new one and is
// returned once every goroutine has returned. A panic in an evaluation is
// raised again in the caller's goroutine, after the others have returned,
// so that a recovery there sees it.
func runEvaluations[V any](ctx context.Context, units int, newWorker func() func(ctx context.Context, k int) (V, error), collect func(k int, v V) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	type outcome struct {
		k        int
		v        V
		err      error
		panicked bool
		panicVal any
		exit     bool // the goroutine has ended
	}
	var (
		next atomic.Int64 // the next unit to start
		stop atomic.Bool
	)
	workers := min(evalsInFlight, units)
	done := make(chan outcome, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			defer func() { done <- outcome{exit: true} }()
			eval := newWorker()
			for !stop.Load() && ctx.Err() == nil {
				k := int(next.Add(1) - 1)
				if k >= units {
					return
				}
				o := outcome{k: k}
				func() {
					defer func() {
						if r := recover(); r != nil {
							o.panicked, o.panicVal = true, r
						}
					}()
					o.v, o.err = eval(ctx, k)
				}()
				done <- o
			}
		})
	}
	alive := workers
	// Stop and wait for the goroutines on every way out, a panic in
	// collect included, reading what they still send.
	defer func() {
		stop.Store(true)
		cancel()
		for alive > 0 {
			if o := <-done; o.exit {
				alive--
			}
		}
		wg.Wait()
	}()

	var (
		first    error
		panicked bool
		panicVal any
	)
	for received := 0; received < units && first == nil && !panicked; {
		select {
		case o := <-done:
			switch {
			case o.exit:
				alive--
			case o.panicked:
				panicked, panicVal = true, o.panicVal
			case o.err != nil:
				first = o.err
			default:
				received++
				first = collect(o.k, o.v)
			}
		case <-ctx.Done():
			first = ctx.Err()
		}
	}
	if panicked {
		panic(panicVal)
	}
	return first
}
