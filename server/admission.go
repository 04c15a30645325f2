package server

import (
	"container/list"
	"context"
	"errors"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// admission caps the jobs running at once across all RPCs and holds a
// bounded FIFO queue of jobs waiting for a slot. Past the queue a job is
// refused with RESOURCE_EXHAUSTED naming both limits: there is no unbounded
// queue anywhere (RELIABILITY promise 11).
//
// A slot is a token in slots; a released slot is handed straight to the
// oldest waiter, so a job arriving later cannot overtake the queue. Every
// change to slots and to the queue happens under mu.
//
// Once closed (the server shuts down) it admits no job, and idle tells when
// the last running or queued job has gone.
type admission struct {
	slots     chan struct{} // one token per running job; cap is the limit
	maxQueued int
	metrics   *Metrics

	mu      sync.Mutex
	waiters list.List // of *waiter, oldest first
	closed  bool
	// drained is closed once the admission is closed and no job runs or
	// waits; nil until idle is first called.
	drained chan struct{}
}

// waiter is a job in the queue. granted is closed once a slot has been
// handed to it (under admission.mu).
type waiter struct {
	granted chan struct{}
	done    bool // granted was closed (guarded by admission.mu)
}

func newAdmission(maxRunning, maxQueued int, m *Metrics) *admission {
	return &admission{slots: make(chan struct{}, maxRunning), maxQueued: maxQueued, metrics: m}
}

// tryAcquire takes a free slot if no job is queued before it; mu is held.
func (a *admission) tryAcquire() bool {
	if a.waiters.Len() > 0 {
		return false
	}
	select {
	case a.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

// acquire takes a slot, waiting in the queue while ctx allows when wait is
// set and the queue has room. stop ends the wait as the server shuts down.
// On success the returned release must be called exactly once.
func (a *admission) acquire(ctx context.Context, stop <-chan struct{}, wait bool) (release func(), err error) {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil, errShuttingDown
	}
	if a.tryAcquire() {
		a.gaugesLocked()
		a.mu.Unlock()
		return a.releaser(), nil
	}
	if !wait || a.waiters.Len() >= a.maxQueued {
		a.mu.Unlock()
		return nil, a.refusal()
	}
	w := &waiter{granted: make(chan struct{})}
	el := a.waiters.PushBack(w)
	a.gaugesLocked()
	a.mu.Unlock()

	var reason error
	select {
	case <-w.granted:
		return a.releaser(), nil
	case <-ctx.Done():
		reason = ctx.Err()
	case <-stop:
		reason = errShuttingDown
	}
	a.mu.Lock()
	if w.done {
		// The slot arrived as we gave up: pass it on.
		a.mu.Unlock()
		a.releaser()()
	} else {
		a.waiters.Remove(el)
		a.gaugesLocked()
		a.checkDrainedLocked()
		a.mu.Unlock()
	}
	switch {
	case errors.Is(reason, context.DeadlineExceeded):
		return nil, status.Error(codes.DeadlineExceeded, "job deadline exceeded while waiting for a job slot")
	case errors.Is(reason, context.Canceled):
		return nil, status.Error(codes.Canceled, "job cancelled while waiting for a job slot")
	}
	return nil, reason
}

// releaser returns the release function of one held slot; calls after the
// first do nothing.
func (a *admission) releaser() func() {
	var once sync.Once
	return func() { once.Do(a.release) }
}

// release hands the slot to the oldest waiter, or frees it.
func (a *admission) release() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if front := a.waiters.Front(); front != nil {
		w := a.waiters.Remove(front).(*waiter)
		w.done = true
		close(w.granted) // the token in slots now belongs to w
	} else {
		<-a.slots
	}
	a.gaugesLocked()
	a.checkDrainedLocked()
}

// close makes acquire refuse every job with UNAVAILABLE "server shutting
// down"; jobs running or queued go on.
func (a *admission) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = true
	a.checkDrainedLocked()
}

// idle returns a channel closed once the admission is closed and no job
// runs or waits for a slot.
func (a *admission) idle() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.drained == nil {
		a.drained = make(chan struct{})
		a.checkDrainedLocked()
	}
	return a.drained
}

// checkDrainedLocked closes drained when it is due; mu is held.
func (a *admission) checkDrainedLocked() {
	if a.drained == nil || !a.closed || len(a.slots) > 0 || a.waiters.Len() > 0 {
		return
	}
	select {
	case <-a.drained:
	default:
		close(a.drained)
	}
}

func (a *admission) refusal() error {
	return status.Errorf(codes.ResourceExhausted, "too many concurrent jobs (limit %d running, %d queued); retry later", cap(a.slots), a.maxQueued)
}

// gaugesLocked publishes the running and queued counts; mu is held.
func (a *admission) gaugesLocked() {
	a.metrics.setAdmission(len(a.slots), a.waiters.Len())
}

// admit takes a job slot at once or refuses with RESOURCE_EXHAUSTED; it
// never queues, since its caller (the stream's receive loop) must not block.
// A refused job is counted with method "unknown".
func (s *Server) admit() (release func(), err error) {
	return s.admitJob(context.Background(), "unknown", false)
}

// admitWait takes a job slot, waiting for one in the FIFO queue (up to
// WithMaxQueuedJobs jobs) while ctx allows; past the queue it refuses with
// RESOURCE_EXHAUSTED. A cancelled or expired waiter leaves the queue.
func (s *Server) admitWait(ctx context.Context, method string) (release func(), err error) {
	return s.admitJob(ctx, method, true)
}

func (s *Server) admitJob(ctx context.Context, method string, wait bool) (release func(), err error) {
	release, err = s.admission.acquire(ctx, s.jobs.Done(), wait)
	if err != nil {
		s.opts.metrics.jobRefused(method, status.Code(err))
		return nil, err
	}
	return release, nil
}
