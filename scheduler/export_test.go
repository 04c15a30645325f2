package scheduler

// OnEnqueue sets a function called each time a Predict or PredictText call
// has queued its rows, with the Scheduler's lock held (f must not call the
// Scheduler): tests wait on it instead of sleeping.
func OnEnqueue(s *Scheduler, f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.enqueued = f
}
