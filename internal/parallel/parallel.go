// Package parallel runs independent tasks on the available cores and joins
// them before returning, so that the libraries that use it own every
// goroutine they start.
package parallel

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// For calls task(i) for every i in [0, tasks) on up to
// runtime.GOMAXPROCS(0) goroutines, the caller's included, and returns once
// every call has returned; with one task or GOMAXPROCS = 1 it starts no
// goroutine. The tasks must be independent of each other and of the order
// they run in. If a task panics, no new task starts and the first panic
// value is raised again in the caller's goroutine once the others have
// returned, so that a recovery there (the server's) still sees it.
func For(tasks int, task func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), tasks)
	if workers <= 1 {
		for i := range tasks {
			task(i)
		}
		return
	}
	var (
		next     atomic.Int64
		stop     atomic.Bool
		once     sync.Once
		panicked any
		wg       sync.WaitGroup
	)
	run := func() {
		defer func() {
			if r := recover(); r != nil {
				stop.Store(true)
				once.Do(func() { panicked = r })
			}
		}()
		for !stop.Load() {
			i := int(next.Add(1) - 1)
			if i >= tasks {
				return
			}
			task(i)
		}
	}
	for range workers - 1 {
		wg.Go(run)
	}
	run()
	wg.Wait()
	if panicked != nil {
		panic(panicked)
	}
}
