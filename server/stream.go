package server

import (
	"context"
	"errors"
	"io"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// ExplainStream runs the jobs a client starts on the stream. Each job runs
// in its own goroutine; one sender goroutine writes to the stream, since a
// gRPC stream's Send is not safe for concurrent use. When the client closes
// its send side, the running jobs finish and the stream ends; when the RPC
// is cancelled, every job is cancelled and no goroutine outlives the call.
func (s *Server) ExplainStream(stream explainerv1.ExplainerService_ExplainStreamServer) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()

	out := newOutbox()
	sent := make(chan error, 1)
	go func() {
		err := out.run(ctx, stream.Send)
		if err != nil {
			cancel() // the client is gone: stop its jobs
		}
		sent <- err
	}()

	// streamJob is a running job as the receive loop sees it.
	type streamJob struct {
		cancel context.CancelFunc
		data   chan *explainerv1.DataChunk // nil unless the job streams its data
		done   chan struct{}               // closed when the job's goroutine ends
		last   bool                        // the chunk with last set was forwarded
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		jobs = map[string]*streamJob{}
	)
	// endData tells jobs still waiting for data that no more will come.
	endData := func() {
		mu.Lock()
		defer mu.Unlock()
		for _, j := range jobs {
			if j.data != nil && !j.last {
				close(j.data)
				j.last = true
			}
		}
	}
	finish := func(err error) error {
		if err != nil {
			// Stop the jobs, but do not wait for the sender: it may be
			// blocked in Send on a client that does not read, and only
			// returning from the handler makes gRPC unblock it.
			cancel()
			wg.Wait()
			return err
		}
		wg.Wait()
		out.close()
		if sendErr := <-sent; sendErr != nil && !errors.Is(sendErr, context.Canceled) {
			return sendErr
		}
		return nil
	}

	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			endData()
			return finish(nil)
		}
		if err != nil {
			return finish(err)
		}
		switch k := msg.GetKind().(type) {
		case *explainerv1.ExplainStreamRequest_Start:
			if n := out.backlog(); n >= MaxUndeliveredEvents {
				// The client starts jobs but does not read their outcomes.
				return finish(status.Errorf(codes.ResourceExhausted, "%d job results are waiting to be read (limit %d): read the stream before starting more jobs", n, MaxUndeliveredEvents))
			}
			id := k.Start.GetJobId()
			if err := checkJobID(id); err != nil {
				out.final(id, jobError(err))
				continue
			}
			mu.Lock()
			_, running := jobs[id]
			mu.Unlock()
			if running {
				out.final(id, jobError(invalidArgument("start.job_id: job %q is already running on this stream", id)))
				continue
			}
			// A job whose data arrives on the stream is admitted at once or
			// refused: were it queued, its unread chunks would hold up the
			// receive loop, and with it the chunks of the jobs it waits for.
			// Other jobs wait in the queue in their own goroutine.
			var release func()
			if streamsData(k.Start.GetRequest()) {
				if release, err = s.admit(); err != nil {
					out.final(id, jobError(err))
					continue
				}
			}
			jctx, jcancel := context.WithCancel(ctx)
			j := &streamJob{cancel: jcancel, done: make(chan struct{})}
			if streamsData(k.Start.GetRequest()) {
				j.data = make(chan *explainerv1.DataChunk, 4)
			}
			mu.Lock()
			jobs[id] = j
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer close(j.done)
				exp, err := func() (*explainerv1.Explanation, error) {
					if release == nil {
						r, err := s.admitWait(jctx, methodLabel(k.Start.GetRequest()))
						if err != nil {
							return nil, err
						}
						release = r
					}
					defer release()
					return s.runRecovered(jctx, k.Start.GetRequest(), jobIO{
						progress: func(p *explainerv1.Progress) { out.progress(id, p) },
						partial:  func(e *explainerv1.Explanation) { out.partial(id, e) },
						instance: func(e *explainerv1.InstanceExplanation) { out.instance(id, e) },
						data:     j.data,
					})
				}()
				mu.Lock()
				delete(jobs, id)
				mu.Unlock()
				jcancel()
				if err != nil {
					out.final(id, jobError(toStatus(s.opts.logger, err).Err()))
					return
				}
				out.final(id, &explainerv1.ExplainStreamResponse{JobId: id, Event: &explainerv1.ExplainStreamResponse_Result{Result: exp}})
			}()
		case *explainerv1.ExplainStreamRequest_Cancel:
			mu.Lock()
			if j, ok := jobs[k.Cancel.GetJobId()]; ok {
				j.cancel()
			}
			mu.Unlock()
		case *explainerv1.ExplainStreamRequest_Data:
			// Chunks for unknown jobs, for jobs that do not stream data or
			// after the last chunk are ignored.
			mu.Lock()
			j, ok := jobs[k.Data.GetJobId()]
			forward := ok && j.data != nil && !j.last
			if forward && k.Data.GetLast() {
				j.last = true
			}
			mu.Unlock()
			if forward {
				select {
				case j.data <- k.Data:
				case <-j.done:
				}
			}
		default:
			return finish(status.Error(codes.InvalidArgument, "stream request: start or cancel must be set"))
		}
	}
}

// runRecovered is run for a job goroutine, which the recovery interceptor
// does not cover: a panic becomes INTERNAL "internal error" for that job.
func (s *Server) runRecovered(ctx context.Context, req *explainerv1.ExplainRequest, io jobIO) (exp *explainerv1.Explanation, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.opts.logger.ErrorContext(ctx, "panic recovered in job", "panic", p)
			exp, err = nil, status.Error(codes.Internal, "internal error")
		}
	}()
	return s.run(ctx, req, io)
}

func checkJobID(id string) error {
	if id == "" {
		return invalidArgument("start.job_id: required")
	}
	if len(id) > MaxJobIDLength {
		return invalidArgument("start.job_id: longer than %d bytes", MaxJobIDLength)
	}
	return nil
}

func jobError(err error) *explainerv1.ExplainStreamResponse {
	st := status.Convert(err)
	return &explainerv1.ExplainStreamResponse{Event: &explainerv1.ExplainStreamResponse_Error{
		Error: &explainerv1.JobError{Code: int32(st.Code()), Message: st.Message()},
	}}
}

// outbox queues a stream's outgoing events: the latest progress per job
// (coalesced, so a slow reader costs no memory) and every job's final event.
type outbox struct {
	mu       sync.Mutex
	pending  map[string]*explainerv1.Progress
	partials map[string]*explainerv1.Explanation
	order    []string // jobs with pending progress or partial results, first come first sent
	finals   []*explainerv1.ExplainStreamResponse
	unsent   int // finals queued or taken by run but not yet sent
	closed   bool
	wake     chan struct{} // capacity 1: a pending wake-up is enough
}

func newOutbox() *outbox {
	return &outbox{
		pending:  map[string]*explainerv1.Progress{},
		partials: map[string]*explainerv1.Explanation{},
		wake:     make(chan struct{}, 1),
	}
}

func (o *outbox) signal() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// progress records a job's latest progress.
func (o *outbox) progress(id string, p *explainerv1.Progress) {
	o.mu.Lock()
	o.enqueue(id)
	o.pending[id] = p
	o.mu.Unlock()
	o.signal()
}

// partial records a job's latest interim result.
func (o *outbox) partial(id string, e *explainerv1.Explanation) {
	o.mu.Lock()
	o.enqueue(id)
	o.partials[id] = e
	o.mu.Unlock()
	o.signal()
}

// enqueue notes that id has something coalesced to send; o.mu is held.
func (o *outbox) enqueue(id string) {
	_, p := o.pending[id]
	_, e := o.partials[id]
	if !p && !e {
		o.order = append(o.order, id)
	}
}

// final queues a job's last event; progress still pending for it is dropped
// so that nothing about the job follows its end.
func (o *outbox) final(id string, ev *explainerv1.ExplainStreamResponse) {
	ev.JobId = id
	o.mu.Lock()
	delete(o.pending, id)
	delete(o.partials, id)
	o.finals = append(o.finals, ev)
	o.unsent++
	o.mu.Unlock()
	o.signal()
}

// backlog is the number of final events not yet sent.
func (o *outbox) backlog() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.unsent
}

// close lets run return once everything queued is sent.
func (o *outbox) close() {
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
	o.signal()
}

// run sends queued events until the outbox is closed and drained, ctx ends,
// or send fails.
func (o *outbox) run(ctx context.Context, send func(*explainerv1.ExplainStreamResponse) error) error {
	var batch []*explainerv1.ExplainStreamResponse
	for {
		o.mu.Lock()
		batch = batch[:0]
		for _, id := range o.order {
			if p, ok := o.pending[id]; ok {
				batch = append(batch, &explainerv1.ExplainStreamResponse{JobId: id, Event: &explainerv1.ExplainStreamResponse_Progress{Progress: p}})
				delete(o.pending, id)
			}
			if e, ok := o.partials[id]; ok {
				batch = append(batch, &explainerv1.ExplainStreamResponse{JobId: id, Event: &explainerv1.ExplainStreamResponse_Partial{Partial: e}})
				delete(o.partials, id)
			}
		}
		o.order = o.order[:0]
		batch = append(batch, o.finals...)
		o.finals = o.finals[:0]
		closed := o.closed
		o.mu.Unlock()

		for _, ev := range batch {
			if err := send(ev); err != nil {
				return err
			}
			if ev.GetResult() != nil || ev.GetError() != nil {
				o.mu.Lock()
				o.unsent--
				o.mu.Unlock()
			}
		}
		if len(batch) == 0 {
			if closed {
				return nil
			}
			select {
			case <-o.wake:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}
