package parallel

import (
	"runtime"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func withProcs(procs int, f func()) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
	f()
}

func TestParallel(t *testing.T) {
	for _, procs := range []int{1, 2, 4} {
		withProcs(procs, func() {
			for _, tasks := range []int{0, 1, 2, 7, 100} {
				var calls atomic.Int64
				seen := make([]atomic.Int32, tasks)
				For(tasks, func(i int) {
					calls.Add(1)
					seen[i].Add(1)
				})
				if calls.Load() != int64(tasks) {
					t.Errorf("GOMAXPROCS=%d: %d calls for %d tasks", procs, calls.Load(), tasks)
				}
				for i := range seen {
					if seen[i].Load() != 1 {
						t.Errorf("GOMAXPROCS=%d: task %d ran %d times", procs, i, seen[i].Load())
					}
				}
			}
		})
	}
}

// TestParallelPanic: a task's panic reaches the caller's goroutine, where a
// recovery can handle it, instead of crashing the process.
func TestParallelPanic(t *testing.T) {
	for _, procs := range []int{1, 2, 4} {
		withProcs(procs, func() {
			got := func() (r any) {
				defer func() { r = recover() }()
				For(50, func(i int) {
					if i == 30 {
						panic("task 30")
					}
				})
				return nil
			}()
			if got != "task 30" {
				t.Errorf("GOMAXPROCS=%d: recovered %v, want the task's panic", procs, got)
			}
		})
	}
}
