package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// ExplainStream runs the jobs a client starts on the stream. Each job runs
// in its own goroutine; one sender goroutine writes to the stream, since a
// gRPC stream's Send is not safe for concurrent use, and one receiver
// goroutine reads it, so that the handler also sees the server shut down.
// When the client closes its send side, the running jobs finish and the
// stream ends; when the RPC is cancelled, every job is cancelled and no
// goroutine outlives the call; once the server shuts down (Shutdown), the
// stream ends with UNAVAILABLE "server shutting down" as soon as it holds
// no job and their events are sent.
func (s *Server) ExplainStream(stream explainerv1.ExplainerService_ExplainStreamServer) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()

	// The receiver hands over one message at a time, so the client's
	// flow control still holds it back while a job's chunk waits.
	type received struct {
		msg *explainerv1.ExplainStreamRequest
		err error
	}
	msgs := make(chan received)
	go func() {
		for {
			msg, err := stream.Recv()
			select {
			case msgs <- received{msg, err}:
			case <-ctx.Done(): // the handler has returned or is returning
				return
			}
			if err != nil {
				return
			}
		}
	}()

	out := newOutbox()
	sent := make(chan error, 1)
	go func() {
		err := out.run(ctx, stream.Send)
		if err != nil {
			cancel() // the client is gone: stop its jobs
		}
		sent <- err
	}()

	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		jobs = map[string]*streamedJob{}
		// quiet holds the ids whose stray data chunks are dropped without
		// an answer (guarded by mu).
		quiet = newIDSet(maxQuietJobIDs)
		// delivering is set while the receive loop waits for a job to take
		// a chunk: meanwhile no job's idle timeout runs out (guarded by mu).
		delivering bool
		idle       = dataIdle{mu: &mu, delivering: &delivering, timeout: s.opts.dataIdleTimeout}
	)
	// endData tells jobs still waiting for data that no more will come.
	endData := func() {
		mu.Lock()
		defer mu.Unlock()
		for _, j := range jobs {
			if j.data != nil && !j.last {
				close(j.data)
				j.last = true
				j.unwatchData()
			}
		}
	}
	// end waits for the jobs, sends everything queued and ends the stream
	// with st (nil: OK).
	end := func(st error) error {
		wg.Wait()
		out.close()
		if sendErr := <-sent; sendErr != nil && !errors.Is(sendErr, context.Canceled) {
			return sendErr
		}
		return st
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
		return end(nil)
	}
	// ended is signalled when a job leaves jobs: a stream of a server
	// shutting down ends with its last job.
	ended := make(chan struct{}, 1)
	noJobs := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(jobs) == 0
	}
	stopping := s.stopping

	for {
		var msg *explainerv1.ExplainStreamRequest
		select {
		case r := <-msgs:
			if errors.Is(r.err, io.EOF) {
				endData()
				return finish(nil)
			}
			if r.err != nil {
				return finish(r.err)
			}
			msg = r.msg
		case <-stopping:
			stopping = nil // from now on, look again as each job ends
			if noJobs() {
				return end(errShuttingDown)
			}
			continue
		case <-ended:
			if stopping == nil && noJobs() {
				return end(errShuttingDown)
			}
			continue
		case <-ctx.Done():
			// The sender failed (the client is gone) or the RPC ended.
			return finish(status.FromContextError(ctx.Err()).Err())
		}
		switch k := msg.GetKind().(type) {
		case *explainerv1.ExplainStreamRequest_Start:
			req := s.applyDefaults(k.Start.GetRequest())
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
			held := len(jobs)
			mu.Unlock()
			if running {
				// Not the running job's end: ALREADY_EXISTS refuses this
				// start only (see JobError in the proto).
				out.final(id, jobError(status.Errorf(codes.AlreadyExists, "start.job_id: job %q is already running on this stream: this start is refused and the running job goes on; pick an id unique among the stream's running jobs", id)))
				continue
			}
			// A refused job's chunks, already on their way, are dropped.
			refuse := func(err error) {
				if streamsData(req) {
					mu.Lock()
					quiet.add(id)
					mu.Unlock()
				}
				out.final(id, jobError(err))
			}
			if limit := s.opts.maxJobsPerStream; held >= limit {
				s.opts.metrics.jobRefused(methodLabel(req), codes.ResourceExhausted)
				refuse(status.Errorf(codes.ResourceExhausted, "too many jobs on this stream: %d running or queued (limit %d per stream); wait for one to end, or open another stream", held, limit))
				continue
			}
			// A job whose data arrives on the stream is admitted at once or
			// refused: were it queued, its unread chunks would hold up the
			// receive loop, and with it the chunks of the jobs it waits for.
			// Other jobs wait in the queue in their own goroutine.
			var release func()
			if streamsData(req) {
				var err error
				if release, err = s.admit(); err != nil {
					refuse(err)
					continue
				}
			}
			jctx, jcancel := context.WithCancel(ctx)
			j := &streamedJob{cancel: jcancel, done: make(chan struct{})}
			if streamsData(req) {
				j.data = make(chan *explainerv1.DataChunk, 4)
			}
			mu.Lock()
			jobs[id] = j
			if j.data != nil {
				idle.watch(id, j)
			}
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer close(j.done)
				exp, err := func() (*explainerv1.Explanation, error) {
					if release == nil {
						r, err := s.admitWait(jctx, methodLabel(req))
						if err != nil {
							return nil, err
						}
						release = r
					}
					defer release()
					return s.runRecovered(jctx, req, jobIO{
						progress: func(p *explainerv1.Progress) { out.progress(id, p) },
						partial:  func(e *explainerv1.Explanation) { out.partial(id, e) },
						instance: func(e *explainerv1.InstanceExplanation) { out.instance(id, e) },
						data:     j.data,
					})
				}()
				mu.Lock()
				delete(jobs, id)
				j.unwatchData()
				if j.data != nil && !j.last {
					// Chunks the client sent before it learnt of the end.
					quiet.add(id)
				}
				if j.endErr != nil {
					exp, err = nil, j.endErr
				}
				mu.Unlock()
				select {
				case ended <- struct{}{}:
				default:
				}
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
			// See DataChunk in the proto for what answers a chunk that no
			// job takes.
			id := k.Data.GetJobId()
			mu.Lock()
			j, running := jobs[id]
			forward, answer := false, false
			switch {
			case !running:
				answer = !quiet.has(id)
				if answer && checkJobID(id) == nil {
					quiet.add(id) // one answer per id
				}
			case j.data == nil:
				j.end(invalidArgument("data chunk for job %q, which does not stream its data: set streamed in its permutation or sensitivity options to send DataChunk messages", id))
			case j.last:
				j.end(invalidArgument("data chunk for job %q after its chunk with last set: the data set is ambiguous, so the job ends", id))
			default:
				forward = true
				j.last = k.Data.GetLast()
				j.unwatchData()
				delivering = true
			}
			mu.Unlock()
			if answer {
				if n := out.backlog(); n >= MaxUndeliveredEvents {
					return finish(status.Errorf(codes.ResourceExhausted, "%d job results are waiting to be read (limit %d): read the stream", n, MaxUndeliveredEvents))
				}
				what := fmt.Sprintf("data chunk for job %q", id)
				if checkJobID(id) != nil {
					what = "data chunk with an empty job id or one longer than " + strconv.Itoa(MaxJobIDLength) + " bytes"
				}
				out.final(id, jobError(status.Errorf(codes.FailedPrecondition, "%s: no job with this id is running on this stream; send StartJob before the job's data", what)))
			}
			if forward {
				taken := false
				select {
				case j.data <- k.Data:
					taken = true
				case <-j.done:
				}
				mu.Lock()
				delivering = false
				if taken && !j.last && jobs[id] == j {
					idle.watch(id, j)
				}
				mu.Unlock()
			}
		default:
			return finish(status.Error(codes.InvalidArgument, "stream request: start or cancel must be set"))
		}
	}
}

// streamedJob is a running job as ExplainStream's receive loop sees it. The
// fields after done are guarded by the stream's mutex.
type streamedJob struct {
	cancel context.CancelFunc
	data   chan *explainerv1.DataChunk // nil unless the job streams its data
	done   chan struct{}               // closed when the job's goroutine ends
	last   bool                        // the chunk with last set was forwarded
	// endErr, once set, is the job's outcome: the stream ended the job
	// (it cannot take a chunk it was sent, or waited too long for one),
	// whatever the job returns.
	endErr error
	// idle runs while the job waits for its next data chunk; idleGen tells
	// a timer that fired after it was stopped or replaced to do nothing.
	idle    *time.Timer
	idleGen uint64
}

// dataIdle fails jobs that wait too long for their next data chunk.
type dataIdle struct {
	mu         *sync.Mutex // the stream's
	delivering *bool
	timeout    time.Duration
}

// watch (re)starts job id's data idle timeout; d.mu is held.
func (d dataIdle) watch(id string, j *streamedJob) {
	j.unwatchData()
	gen := j.idleGen
	j.idle = time.AfterFunc(d.timeout, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		switch {
		case j.idleGen != gen: // stopped or restarted meanwhile
		case *d.delivering:
			// The receive loop is held up handing another job its chunk:
			// the client is not the one keeping this job waiting.
			d.watch(id, j)
		default:
			j.end(status.Errorf(codes.DeadlineExceeded, "job %q: no data chunk for %v (the data idle timeout): send a job's chunks without pauses, the last with last set", id, d.timeout))
		}
	})
}

// unwatchData stops the job's data idle timeout; the stream's mutex is
// held.
func (j *streamedJob) unwatchData() {
	j.idleGen++
	if j.idle != nil {
		j.idle.Stop()
		j.idle = nil
	}
}

// end cancels the job, which then ends with err; the first reason wins.
func (j *streamedJob) end(err error) {
	if j.endErr == nil {
		j.endErr = err
		j.cancel()
	}
}

// maxQuietJobIDs bounds the ids a stream remembers in order to answer a
// stray data chunk once per id (see DataChunk in the proto).
const maxQuietJobIDs = 1024

// idSet is a set of at most max ids; adding to a full set forgets the
// oldest.
type idSet struct {
	max   int
	ids   map[string]struct{}
	order []string
}

func newIDSet(max int) *idSet { return &idSet{max: max, ids: map[string]struct{}{}} }

func (s *idSet) has(id string) bool { _, ok := s.ids[id]; return ok }

func (s *idSet) add(id string) {
	if s.has(id) {
		return
	}
	if len(s.order) == s.max {
		delete(s.ids, s.order[0])
		s.order = s.order[1:]
	}
	s.ids[id] = struct{}{}
	s.order = append(s.order, id)
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

// final queues a job's last event. Progress still pending for it goes out
// before it (run sends the coalesced events first), so that a client's
// progress ends at the job's last count, not a call short of it; a pending
// partial result is dropped, the final one superseding it. Nothing about
// the job follows its end: its progress is reported before its model
// calls return.
func (o *outbox) final(id string, ev *explainerv1.ExplainStreamResponse) {
	ev.JobId = id
	o.mu.Lock()
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
