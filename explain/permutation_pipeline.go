package explain

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/explainer-sidecar/explainer/internal/group"
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
// returned once every goroutine has returned. A panic in an evaluation
// (in the model, most likely) is such an error: "explain: <name>: "
// wrapping a *group.PanicError. A panic in collect (a Partial callback)
// stays on the caller's goroutine, raised once the evaluations have
// stopped.
func runEvaluations[V any](ctx context.Context, name string, units int, newWorker func() func(ctx context.Context, k int) (V, error), collect func(k int, v V) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// cancel stops the group when collect fails or panics.
	ctx, cancel := context.WithCancel(ctx)
	g, gctx := group.WithContext(ctx)
	defer func() {
		cancel()
		_ = g.Wait()
	}()

	type value struct {
		k int
		v V
	}
	workers := min(evalsInFlight, units)
	values := make(chan value, workers)
	var next atomic.Int64 // the next unit to start
	for range workers {
		g.Go(func() error {
			eval := newWorker()
			for {
				k := int(next.Add(1) - 1)
				if k >= units {
					return nil
				}
				if err := gctx.Err(); err != nil {
					return err
				}
				v, err := eval(gctx, k)
				if err != nil {
					return err
				}
				select {
				case values <- value{k, v}:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
		})
	}

	for range units {
		select {
		case o := <-values:
			if err := collect(o.k, o.v); err != nil {
				return err
			}
		case <-gctx.Done():
			// An evaluation failed, or ctx is done: then the evaluations
			// may all have ended well, with values left unread.
			err := g.Wait()
			if err == nil {
				err = ctx.Err()
			}
			if _, ok := errors.AsType[*group.PanicError](err); ok {
				err = fmt.Errorf("explain: %s: %w", name, err)
			}
			return err
		}
	}
	return nil
}
