package scheduler

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/explainer-sidecar/explainer/internal/group"
	"github.com/explainer-sidecar/explainer/predictor"
)

// ErrClosed is returned by Predict and PredictText on a closed Scheduler,
// and by those waiting when it closes. It wraps predictor.ErrUnavailable, so
// that a caller mapping the predictor's errors reports it as the model
// being unavailable.
var ErrClosed = fmt.Errorf("scheduler: %w: the scheduler is closed", predictor.ErrUnavailable)

// Scheduler sends the rows of every job of one model to the model server in
// shared calls: at most MaxBatchSize rows and MaxBatchBytes of payload per
// call, at most InFlight calls at once, rows shared fairly between the jobs
// that have rows waiting. See the package documentation.
type Scheduler struct {
	c      predictor.Client
	o      options
	ctx    context.Context // parent of every call; cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the workers

	mu sync.Mutex
	// more is signalled (with mu held) when rows are queued, a call comes
	// back or the Scheduler closes: what a lingering worker waits for.
	more     *sync.Cond
	active   []*Job // jobs with rows waiting, a ring: the next call starts at active[turn]
	turn     int
	queued   int // rows waiting, of all jobs
	workers  int // goroutines building or sending a call; at most o.inFlight
	seq      uint64
	inflight map[*call]struct{}
	closed   bool
	// spare holds the buffers of workers that ended, for the next ones
	// (see keepBuffers): workers end whenever no row waits, which in a job
	// that scores its rows in rounds is after every round.
	spare []*buffers

	// Test hooks, called with mu held: after a request is queued, after a
	// call is built.
	enqueued func()
	built    func(*call)
}

// New returns a Scheduler that sends calls to c, the client of one model.
// c must honour the context passed to it: Close waits for every call. It
// starts no goroutine until a job has rows to score.
func New(c predictor.Client, opts ...Option) *Scheduler {
	o := defaults()
	for _, opt := range opts {
		opt(&o)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Scheduler{c: c, o: o, ctx: ctx, cancel: cancel, inflight: make(map[*call]struct{})}
	s.more = sync.NewCond(&s.mu)
	return s
}

// Calls returns the number of model calls sent so far, whatever their
// outcome.
func (s *Scheduler) Calls() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int64(s.seq)
}

// Close fails every Predict still waiting with ErrClosed, cancels the calls
// in flight and returns once every goroutine of the Scheduler has ended.
// Predict and PredictText fail with ErrClosed afterwards. Close may be
// called more than once.
func (s *Scheduler) Close() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		for len(s.active) > 0 {
			s.fail(s.active[0].queue[0], ErrClosed)
		}
		for c := range s.inflight {
			for _, sg := range c.segs {
				s.fail(sg.r, ErrClosed)
			}
		}
		s.more.Broadcast()
	}
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// do queues r and waits for its rows to be scored, ctx to be done or the
// Scheduler to close.
func (s *Scheduler) do(ctx context.Context, r *request) ([][]float64, error) {
	r.wake = make(chan struct{}, 1)
	r.left = r.n
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	j := r.job
	j.queue = append(j.queue, r)
	if len(j.queue) == 1 {
		s.active = append(s.active, j)
	}
	s.queued += r.n
	s.spawn()
	s.more.Broadcast()
	if s.enqueued != nil {
		s.enqueued()
	}
	s.mu.Unlock()

	progress := j.o.progress
	reported := 0
	for {
		select {
		case <-r.wake:
		case <-ctx.Done():
			s.mu.Lock()
			s.fail(r, fmt.Errorf("scheduler: %s: %w", r.op, ctx.Err())) // no-op when r is done
			s.mu.Unlock()
		}
		s.mu.Lock()
		scored, left, err := r.scored, r.left, r.err
		s.mu.Unlock()
		if err != nil {
			s.release(r)
			return nil, err
		}
		// Progress is reported here, on the caller's goroutine, so that it
		// never comes after Predict returns and a slow observer holds up
		// no one else's rows.
		if n := scored - reported; n > 0 && progress != nil {
			progress(n)
		}
		reported = scored
		if left == 0 {
			return r.out, nil
		}
	}
}

// spawn starts a worker when rows are waiting and fewer than InFlight
// workers run. Workers build and send calls until no row is waiting, so
// there is no goroutine while the model is idle, and a lone job's rows go
// out as soon as a call is free instead of waiting for a batch to fill.
// Caller holds s.mu.
func (s *Scheduler) spawn() {
	if s.closed || s.queued == 0 || s.workers >= s.o.inFlight {
		return
	}
	s.workers++
	s.wg.Go(s.work)
}

// fail ends r with err unless it is done: its rows not yet in a call are
// dropped, and the calls in flight that carry no other live request are
// cancelled. Caller holds s.mu.
func (s *Scheduler) fail(r *request, err error) {
	if r.done() {
		return
	}
	r.err = err
	if r.next < r.n {
		s.queued -= r.n - r.next
		r.next = r.n
		s.unqueue(r)
	}
	for c := range s.inflight {
		for _, sg := range c.segs {
			if sg.r == r {
				if c.live--; c.live == 0 {
					c.cancel()
					// r's caller waits for the call to come back (see
					// release): a job that ends has no call of its own
					// left at the model.
					r.cancelled = append(r.cancelled, c.sent)
				}
				break
			}
		}
	}
	r.notify()
}

// unqueue removes r from its job's queue, and the job from the ring when
// nothing of it is left. Caller holds s.mu.
func (s *Scheduler) unqueue(r *request) {
	j := r.job
	if i := slices.Index(j.queue, r); i >= 0 {
		j.queue = slices.Delete(j.queue, i, i+1)
	}
	if len(j.queue) > 0 {
		return
	}
	if i := slices.Index(s.active, j); i >= 0 {
		s.active = slices.Delete(s.active, i, i+1)
		if i < s.turn {
			s.turn--
		}
	}
	if s.turn >= len(s.active) {
		s.turn = 0
	}
}

// call is one model call: segments of requests of one lane.
type call struct {
	seq    uint64
	text   bool
	shape  []int
	segs   []segment // at most one per request
	jobs   int       // distinct jobs in segs
	rows   int
	bytes  int
	queued int // rows left waiting when it was built
	live   int // requests in segs not done; guarded by s.mu

	// The inputs, copied from the requests without the lock (see copyIn)
	// into the worker's buffers; copied is closed once they are.
	copied chan struct{}
	// sent is closed once the call has come back from the model (or was
	// never made).
	sent   chan struct{}
	in     [][]float64
	texts  []string
	ctx    context.Context
	cancel context.CancelFunc

	// The worker's own, without the lock.
	res     [][]float64 // the answer, when sent together
	err     error       // the error, when sent together
	apart   bool        // sent one segment per call (see send)
	answers []answer    // per segment, after check
}

// segment is rows [lo, hi) of r, in a call.
type segment struct {
	r      *request
	lo, hi int
}

// answer is what a segment gets: its scores or an error.
type answer struct {
	res [][]float64
	err error
}

// work is a worker: it builds a call, sends it, hands the answer to the
// jobs, and goes on while rows are waiting.
func (s *Scheduler) work() {
	var cur *call
	buf := s.takeBuffers()
	defer s.keepBuffers(buf)
	err := group.Do(func() error {
		for s.next(&cur) {
			s.copyIn(cur, buf)
			s.send(cur)
			close(cur.sent)
		}
		return nil
	})
	if err != nil {
		// A bug in the scheduler itself (the client's and the observer's
		// panics are recovered in send): fail the call this worker held,
		// so that no job waits for it, and let another worker carry on.
		s.mu.Lock()
		defer s.mu.Unlock()
		if cur != nil {
			for _, sg := range cur.segs {
				s.fail(sg.r, fmt.Errorf("scheduler: %w", err))
			}
			delete(s.inflight, cur)
			if cur.cancel != nil {
				cur.cancel()
			}
			for _, ch := range []chan struct{}{cur.copied, cur.sent} {
				if ch == nil {
					continue
				}
				select {
				case <-ch:
				default:
					close(ch) // the panic was before it closed
				}
			}
		}
		s.workers--
		s.spawn()
	}
}

// next hands the answer of *cur, if any, to its jobs, then builds the next
// call into *cur; it returns false, and the worker ends, when no row is
// waiting.
func (s *Scheduler) next(cur **call) bool {
	done := *cur
	if done != nil {
		s.check(done)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if done != nil {
		s.deliver(done)
		delete(s.inflight, done)
		done.cancel()
		*cur = nil
		s.more.Broadcast()
	}
	s.linger()
	if s.closed || len(s.active) == 0 {
		s.workers--
		return false
	}
	c := &call{sent: make(chan struct{})}
	*cur = c
	s.inflight[c] = struct{}{} // first, so that a panic in build fails its requests
	s.build(c)
	s.spawn() // rows left: another call may go out at once
	return true
}

// linger waits, at most WithLinger's time, while the rows waiting would not
// fill a call and another call is in flight. Caller holds s.mu, which the
// wait releases.
func (s *Scheduler) linger() {
	if s.o.linger <= 0 || !s.underfilled() {
		return
	}
	expired := false
	t := time.AfterFunc(s.o.linger, func() {
		s.mu.Lock()
		expired = true
		s.more.Broadcast()
		s.mu.Unlock()
	})
	defer t.Stop()
	for !expired && s.underfilled() {
		s.more.Wait()
	}
}

// underfilled tells whether a call built now would go out less than full
// while the model has another call: rows wait, fewer than the next call's
// room, and a call is in flight. Caller holds s.mu.
func (s *Scheduler) underfilled() bool {
	if s.closed || s.queued == 0 || len(s.inflight) == 0 || len(s.active) == 0 {
		return false
	}
	head := s.active[s.turn%len(s.active)].queue[0]
	room := s.o.maxRows
	if room == 0 {
		room = math.MaxInt
	}
	if !head.text && head.rowBytes > 0 {
		room = min(room, max(1, s.o.maxBytes/head.rowBytes))
	}
	return s.queued < room
}

// build fills c with the rows of the next call. Caller holds s.mu; there is
// at least one active job.
//
// Fairness: the call takes rows of the lane (width or shape, or text) of the
// job whose turn it is, from every active job of that lane, by water
// filling: each of the k jobs gets up to room/k rows, and what a job cannot
// use goes round again to those that can. A small job behind a huge one so
// gets half of every call until it is done. The next call's turn is the
// first job after this turn's that got no rows (another lane, or past the
// row cap), else the next job, so that turns rotate.
func (s *Scheduler) build(c *call) {
	n := len(s.active)
	if s.turn >= n {
		s.turn = 0
	}
	start := s.turn
	s.seq++
	c.seq = s.seq
	head := s.active[start].queue[0]
	lane := head.lane
	c.text, c.shape = head.text, head.shape

	cands := make([]*Job, 0, n)
	for i := range n {
		if j := s.active[(start+i)%n]; j.queue[0].lane == lane {
			cands = append(cands, j)
		}
	}
	rowRoom := s.o.maxRows
	if rowRoom == 0 {
		rowRoom = math.MaxInt
	}
	byteRoom := s.o.maxBytes
	if !head.text && head.rowBytes > 0 {
		// The rows of a lane of numbers are all the same size: the bytes
		// cap is a row cap, and the jobs share it by rows. (Texts are not:
		// when the bytes cap binds first, the jobs first in turn get more
		// of that call, and the turns rotate.)
		rowRoom = min(rowRoom, max(1, byteRoom/head.rowBytes))
	}
	full := false
	for !full && len(cands) > 0 {
		share := max(1, rowRoom/len(cands))
		kept := cands[:0]
		for _, j := range cands {
			if full = s.take(c, j, lane, share, &rowRoom, &byteRoom); full {
				break
			}
			if len(j.queue) > 0 && j.queue[0].lane == lane {
				kept = append(kept, j)
			}
		}
		cands = kept
	}

	// The next turn, then the ring without the jobs that have nothing left.
	nextTurn := (start + 1) % n
	for i := 1; i < n; i++ {
		if p := (start + i) % n; s.active[p].served != c.seq {
			nextTurn = p
			break
		}
	}
	var turnJob *Job
	for i := range n {
		if j := s.active[(nextTurn+i)%n]; len(j.queue) > 0 {
			turnJob = j
			break
		}
	}
	kept := s.active[:0]
	s.turn = 0
	for _, j := range s.active {
		if len(j.queue) > 0 {
			if j == turnJob {
				s.turn = len(kept)
			}
			kept = append(kept, j)
		}
	}
	clear(s.active[len(kept):])
	s.active = kept

	c.copied = make(chan struct{})
	c.queued = s.queued
	c.live = len(c.segs)
	// The call must outlive each of its jobs' deadlines, so it ends with
	// the latest: a job whose deadline passes first returns on its own.
	var deadline time.Time
	all := true
	for _, sg := range c.segs {
		d, ok := sg.r.ctx.Deadline()
		if !ok {
			all = false
			break
		}
		if d.After(deadline) {
			deadline = d
		}
	}
	if all {
		c.ctx, c.cancel = context.WithDeadline(s.ctx, deadline)
	} else {
		c.ctx, c.cancel = context.WithCancel(s.ctx)
	}
	if s.built != nil {
		s.built(c)
	}
}

// take moves up to want rows of j's requests of lane into c, within the
// rooms, and reports whether c is full. Caller holds s.mu.
func (s *Scheduler) take(c *call, j *Job, lane string, want int, rowRoom, byteRoom *int) (full bool) {
	want = min(want, *rowRoom)
	for want > 0 && len(j.queue) > 0 && j.queue[0].lane == lane {
		r := j.queue[0]
		avail := min(want, r.n-r.next)
		k := fit(r, avail, c.rows == 0, byteRoom)
		if k > 0 {
			s.addSegment(c, r, k)
			j.rows.Add(int64(k))
			if j.served != c.seq {
				j.served = c.seq
				j.calls.Add(1)
				c.jobs++
			}
			want -= k
			*rowRoom -= k
			s.queued -= k
		}
		if r.next == r.n {
			j.queue[0] = nil
			j.queue = j.queue[1:]
		}
		if k < avail {
			return true // out of bytes
		}
	}
	return *rowRoom == 0
}

// fit returns how many of r's next avail rows fit in byteRoom, and takes
// their bytes from it. A row over the cap goes alone, in an empty call, and
// leaves no room.
func fit(r *request, avail int, empty bool, byteRoom *int) int {
	if !r.text {
		if r.rowBytes == 0 {
			return avail
		}
		k := min(avail, *byteRoom/r.rowBytes)
		if k == 0 && empty {
			*byteRoom = 0
			return 1
		}
		*byteRoom -= k * r.rowBytes
		return k
	}
	k := 0
	for ; k < avail; k++ {
		b := r.size(r.next + k)
		if b > *byteRoom {
			if k == 0 && empty {
				*byteRoom = 0
				return 1
			}
			break
		}
		*byteRoom -= b
	}
	return k
}

// addSegment adds r's next k rows to c, extending r's segment when c has
// one already: a request's rows in one call are contiguous.
func (s *Scheduler) addSegment(c *call, r *request, k int) {
	lo := r.next
	r.next += k
	c.rows += k
	for i := lo; i < lo+k; i++ {
		c.bytes += r.size(i)
	}
	for i := range c.segs {
		if c.segs[i].r == r {
			c.segs[i].hi += k
			return
		}
	}
	c.segs = append(c.segs, segment{r: r, lo: lo, hi: lo + k})
}

// send makes the call and records its answer in c. A panic in the client or
// the observer fails the call's jobs.
func (s *Scheduler) send(c *call) {
	start := time.Now()
	c.err = group.Do(func() error {
		var err error
		c.res, err = s.score(c.ctx, c, 0, c.rows)
		return err
	})
	info := Call{Rows: c.rows, Bytes: c.bytes, Jobs: c.jobs, Queued: c.queued, Err: c.err}
	if errors.Is(c.err, predictor.ErrInvalidInput) && len(c.segs) > 1 {
		// The client refused the rows before sending anything (a value an
		// INT64 input cannot hold, a text that is not UTF-8): send each
		// job's rows apart, so that only the job at fault fails.
		c.apart = true
		c.answers = make([]answer, len(c.segs))
		off := 0
		for i, sg := range c.segs {
			k := sg.hi - sg.lo
			a := &c.answers[i]
			a.err = group.Do(func() error {
				var err error
				a.res, err = s.score(c.ctx, c, off, off+k)
				return err
			})
			off += k
		}
	}
	if f := s.o.observer; f != nil {
		info.Duration = time.Since(start)
		if err := group.Do(func() error { f(info); return nil }); err != nil {
			c.res, c.err, c.apart = nil, fmt.Errorf("scheduler: observer: %w", err), false
		}
	}
}

// buffers are a worker's, for the inputs of its calls, one call at a time:
// reusing them spares the garbage collector a copy of every row.
type buffers struct {
	values []float64
	rows   [][]float64
	texts  []string
}

// takeBuffers returns spare buffers, or new ones.
func (s *Scheduler) takeBuffers() *buffers {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.spare); n > 0 {
		buf := s.spare[n-1]
		s.spare[n-1] = nil
		s.spare = s.spare[:n-1]
		return buf
	}
	return new(buffers)
}

// keepBuffers keeps buf for a later worker, unless InFlight buffers are
// kept already or buf holds more than twice the values of a full call
// (allocations round up; a lone row over the cap makes it larger): an
// idle Scheduler holds at most InFlight × 2 × the values of a full call.
func (s *Scheduler) keepBuffers(buf *buffers) {
	// A full call's values: MaxBatchBytes counts predictor.ValueBytes
	// each, whatever the float64s the buffer holds them in take.
	limit := 2 * s.o.maxBytes / predictor.ValueBytes(s.c)
	if cap(buf.values) > limit || cap(buf.rows) > limit {
		return
	}
	clear(buf.texts[:cap(buf.texts)]) // the texts are the jobs'
	buf.texts = buf.texts[:0]
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.spare) < s.o.inFlight {
		s.spare = append(s.spare, buf)
	}
}

// copyIn copies the call's inputs out of the requests, in segment order,
// into buf, and closes c.copied. It runs without the lock, and so off the
// path of the other workers and of Predict, while the Predict calls whose
// rows these are may have failed already: such a Predict waits for
// c.copied before it returns (see release), so that its caller's rows are
// never read after it has returned, and the call never reads them
// afterwards.
func (s *Scheduler) copyIn(c *call, buf *buffers) {
	defer close(c.copied)
	if c.text {
		buf.texts = buf.texts[:0]
		for _, sg := range c.segs {
			buf.texts = append(buf.texts, sg.r.texts[sg.lo:sg.hi]...)
		}
		c.texts = buf.texts
		return
	}
	w := c.segs[0].r.width
	buf.values = slices.Grow(buf.values[:0], c.rows*w)
	for _, sg := range c.segs {
		for _, row := range sg.r.rows[sg.lo:sg.hi] {
			buf.values = append(buf.values, row...)
		}
	}
	buf.rows = slices.Grow(buf.rows[:0], c.rows)[:c.rows]
	for i := range buf.rows {
		buf.rows[i] = buf.values[i*w : (i+1)*w : (i+1)*w]
	}
	c.in = buf.rows
}

// release waits until no call in flight is still copying r's inputs, and
// until the calls that r's failure cancelled have come back. Caller does
// not hold s.mu; r is done.
func (s *Scheduler) release(r *request) {
	s.mu.Lock()
	wait := slices.Clone(r.cancelled)
	for c := range s.inflight {
		if c.copied == nil {
			continue
		}
		for _, sg := range c.segs {
			if sg.r == r {
				wait = append(wait, c.copied)
				break
			}
		}
	}
	s.mu.Unlock()
	for _, ch := range wait {
		<-ch
	}
}

// score sends rows [lo, hi) of c, counted across its segments.
func (s *Scheduler) score(ctx context.Context, c *call, lo, hi int) ([][]float64, error) {
	if c.text {
		return s.c.(predictor.TextClient).ScoreText(ctx, c.texts[lo:hi:hi])
	}
	rows := c.in[lo:hi:hi]
	if c.shape != nil {
		if sc, ok := s.c.(predictor.ShapedClient); ok {
			return sc.ScoreShaped(ctx, rows, c.shape)
		}
	}
	return s.c.Score(ctx, rows)
}

// check validates c's answer, without the lock, into one answer per
// segment: a reply unusable as a whole (row count, ragged rows, class
// count) fails every segment; a non-finite score fails only the segment
// it is in, since the other jobs' scores are sound.
func (s *Scheduler) check(c *call) {
	if !c.apart {
		if c.err == nil {
			c.err = s.checkReply(c.res, c.rows)
		}
		c.answers = make([]answer, len(c.segs))
		off := 0
		for i, sg := range c.segs {
			k := sg.hi - sg.lo
			if c.err != nil {
				c.answers[i].err = c.err
			} else {
				c.answers[i].res = c.res[off : off+k]
			}
			off += k
		}
	}
	for i, sg := range c.segs {
		a := &c.answers[i]
		if a.err == nil && c.apart {
			a.err = s.checkReply(a.res, sg.hi-sg.lo)
		}
		if a.err != nil {
			continue
		}
		for k, row := range a.res {
			if slices.ContainsFunc(row, func(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) }) {
				a.err = badOutput("non-finite score at row %d", sg.lo+k)
				break
			}
		}
	}
}

// checkReply validates the reply res to n rows sent together.
func (s *Scheduler) checkReply(res [][]float64, n int) error {
	if len(res) != n {
		return badOutput("%d rows for a batch of %d", len(res), n)
	}
	w := len(res[0])
	if w == 0 {
		return badOutput("0 scores per row")
	}
	for _, r := range res {
		if len(r) != w {
			return badOutput("%d scores in one row of a batch and %d in another", w, len(r))
		}
	}
	if want := s.o.numClasses; want > 0 && w != want {
		return badOutput("%d classes, want %d", w, want)
	}
	return nil
}

// deliver hands c's checked answers to its requests. Caller holds s.mu.
func (s *Scheduler) deliver(c *call) {
	for i, sg := range c.segs {
		r, a := sg.r, c.answers[i]
		switch {
		case r.done():
			continue // cancelled or failed by another call: drop the scores
		case a.err != nil:
			s.fail(r, a.err)
			continue
		}
		w := len(a.res[0])
		switch {
		case r.classes == 0:
			r.classes = w
			r.flat = make([]float64, r.n*w)
			r.out = make([][]float64, r.n)
		case r.classes != w:
			s.fail(r, badOutput("%d classes in one batch and %d in another", r.classes, w))
			continue
		}
		// A copy into the request's own array: jobs sharing a call share
		// no memory.
		for k, row := range a.res {
			p := (sg.lo + k) * w
			dst := r.flat[p : p+w : p+w]
			copy(dst, row)
			r.out[sg.lo+k] = dst
		}
		r.left -= len(a.res)
		r.scored += len(a.res)
		if r.left == 0 || r.job.o.progress != nil {
			r.notify() // else nothing to do before the last rows
		}
	}
}
