package group_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/explainer-sidecar/explainer/internal/group"
)

// A panic on one of the group's goroutines cancels the others and comes
// back from Wait as an error; the caller wraps it, and the stack is there
// for the log.
func ExampleWithContext() {
	g, ctx := group.WithContext(context.Background())
	g.SetLimit(4)
	for i := range 3 {
		g.Go(func() error {
			if i == 1 {
				var scores []float64
				_ = scores[i] // a bug: index out of range
			}
			<-ctx.Done() // the others stop when one fails
			return ctx.Err()
		})
	}
	err := fmt.Errorf("job: %w", g.Wait())
	fmt.Println(err)
	if pe, ok := errors.AsType[*group.PanicError](err); ok {
		fmt.Println(len(pe.Stack) > 0)
	}
	// Output:
	// job: group: panic: runtime error: index out of range [1] with length 0
	// true
}

func ExampleDo() {
	err := group.Do(func() error { panic("unreachable state") })
	fmt.Println(err)
	// Output: group: panic: unreachable state
}
