package scheduler

// OnEnqueue sets a function called each time a Predict or PredictText call
// has queued its rows, with the Scheduler's lock held (f must not call the
// Scheduler): tests wait on it instead of sleeping.
func OnEnqueue(s *Scheduler, f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.enqueued = f
}

// OnBuild sets a function called with the rows of each job in a call, as
// each call is built, in the order they are built (calls reach the client
// in another order when several are in flight), with the Scheduler's lock
// held (f must not call the Scheduler).
func OnBuild(s *Scheduler, f func(rows map[*Job]int)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f == nil {
		s.built = nil
		return
	}
	s.built = func(c *call) {
		rows := make(map[*Job]int, len(c.segs))
		for _, sg := range c.segs {
			rows[sg.r.job] += sg.hi - sg.lo
		}
		f(rows)
	}
}

// Spare returns the buffers kept for the next workers, as the values each
// can hold.
func Spare(s *Scheduler) []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	caps := make([]int, len(s.spare))
	for i, b := range s.spare {
		caps[i] = cap(b.values)
	}
	return caps
}

// WaitIdle waits until every worker has ended. No Predict may start while
// it waits.
func WaitIdle(s *Scheduler) { s.wg.Wait() }
