package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/explainer-sidecar/explainer/predictor/predictortest"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

func queued(a *admission) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.waiters.Len()
}

func TestAdmissionQueueIsFIFO(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	a := newAdmission(1, 3, m)
	stop := make(chan struct{})
	release, err := a.acquire(context.Background(), stop, true)
	if err != nil {
		t.Fatal(err)
	}
	type grant struct {
		i       int
		release func()
	}
	granted := make(chan grant, 3)
	for i := range 3 {
		go func() {
			r, err := a.acquire(context.Background(), stop, true)
			if err != nil {
				t.Error(err)
				return
			}
			granted <- grant{i, r}
		}()
		waitFor(t, func() bool { return queued(a) == i+1 })
	}
	if got := testutil.ToFloat64(m.queued); got != 3 {
		t.Errorf("jobs queued = %v, want 3", got)
	}
	// The queue is full: the next job is refused, naming both limits.
	_, err = a.acquire(context.Background(), stop, true)
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "limit 1 running, 3 queued") {
		t.Fatalf("past the queue: %v %q, want ResourceExhausted naming both limits", st.Code(), st.Message())
	}
	release()
	release() // a second call does nothing
	for want := range 3 {
		g := <-granted
		if g.i != want {
			t.Fatalf("waiter %d got the slot, want %d", g.i, want)
		}
		select {
		case g := <-granted:
			t.Fatalf("waiter %d got a slot while %d holds the only one", g.i, want)
		case <-time.After(10 * time.Millisecond):
		}
		g.release()
	}
	if n := len(a.slots); n != 0 {
		t.Errorf("%d slots held after every job ended", n)
	}
	checkGaugesZero(t, m)
}

func TestAdmissionCancelledWaiterLeavesQueue(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	a := newAdmission(1, 2, m)
	stop := make(chan struct{})
	release, err := a.acquire(context.Background(), stop, true)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancelled := make(chan error, 1)
	go func() {
		_, err := a.acquire(ctx, stop, true)
		cancelled <- err
	}()
	waitFor(t, func() bool { return queued(a) == 1 })
	expired := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		_, err := a.acquire(ctx, stop, true)
		expired <- err
	}()
	cancel()
	if err := <-cancelled; status.Code(err) != codes.Canceled {
		t.Errorf("cancelled waiter: %v, want Canceled", err)
	}
	if err := <-expired; status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("expired waiter: %v, want DeadlineExceeded", err)
	}
	if n := queued(a); n != 0 {
		t.Errorf("%d waiters left in the queue", n)
	}
	// The places are free again: two waiters fit.
	got := make(chan func(), 2)
	for range 2 {
		go func() {
			r, err := a.acquire(context.Background(), stop, true)
			if err != nil {
				t.Error(err)
				got <- func() {}
				return
			}
			got <- r
		}()
	}
	waitFor(t, func() bool { return queued(a) == 2 })
	release()
	(<-got)()
	(<-got)()
	if n := len(a.slots); n != 0 {
		t.Errorf("%d slots held after every job ended: a cancelled waiter leaked one", n)
	}
	checkGaugesZero(t, m)
}

func TestAdmissionStopEndsWait(t *testing.T) {
	a := newAdmission(1, 1, nil)
	stop := make(chan struct{})
	release, err := a.acquire(context.Background(), stop, true)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	done := make(chan error, 1)
	go func() {
		_, err := a.acquire(context.Background(), stop, true)
		done <- err
	}()
	waitFor(t, func() bool { return queued(a) == 1 })
	close(stop)
	if err := <-done; status.Code(err) != codes.Unavailable {
		t.Errorf("waiter at shutdown: %v, want Unavailable", err)
	}
}

func TestExplainWaitsInQueue(t *testing.T) {
	_, newClient := predictV1Model(t, func(p *predictortest.PredictServer) {
		p.Delay = 100 * time.Millisecond
	})
	m := NewMetrics(prometheus.NewRegistry())
	sc := startObserved(t, newClient, nil, m, WithMaxConcurrentJobs(1), WithMaxQueuedJobs(1))
	small := limeRequest(testInstance, func(o *explainerv1.LimeOptions) { o.NumSamples = 100 })
	results := make(chan error, 2)
	go func() {
		_, err := sc.client.Explain(context.Background(), small)
		results <- err
	}()
	waitFor(t, func() bool { return len(sc.srv.admission.slots) == 1 })
	go func() {
		_, err := sc.client.Explain(context.Background(), small)
		results <- err
	}()
	waitFor(t, func() bool { return queued(sc.srv.admission) == 1 })
	_, err := sc.client.Explain(context.Background(), small)
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "limit 1 running, 1 queued") {
		t.Fatalf("third job: %v %q, want ResourceExhausted naming both limits", st.Code(), st.Message())
	}
	for range 2 {
		if err := <-results; err != nil {
			t.Errorf("admitted job: %v", err)
		}
	}
	if got := testutil.ToFloat64(m.jobs.WithLabelValues("lime", "OK")); got != 2 {
		t.Errorf("jobs_total{lime,OK} = %v, want 2", got)
	}
	checkGaugesZero(t, m)
}

func TestSpentDeadlineFailsFast(t *testing.T) {
	fake, newClient := predictV1Model(t, nil)
	sc := startSidecar(t, newClient, WithDeadlineFloor(time.Hour))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := sc.client.Explain(ctx, limeRequest(testInstance, nil))
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("got %v, want DeadlineExceeded", err)
	}
	if n := fake.Calls(); n != 0 {
		t.Errorf("a job without time left made %d model calls", n)
	}
}
