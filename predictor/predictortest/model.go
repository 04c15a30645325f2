package predictortest

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ScoreFunc scores a batch: one row of scores per row of features. It is
// called concurrently when calls overlap, and must not keep rows.
type ScoreFunc func(rows [][]float64) [][]float64

// TextScoreFunc scores a batch of texts: one row of scores per text. It is
// called concurrently when calls overlap, and must not keep texts.
type TextScoreFunc func(texts []string) [][]float64

// FaultFunc is called for every call that passes the batch-size check, after
// the delay, with the call's number (0 for the first call the server sees)
// and its rows. Returning a non-nil error fails the call with it (use
// status.Error for a code; ErrHang to hang until the call's context is
// done); returning non-nil rows replaces the scores; rows is nil for a
// call of texts; returning (nil, nil)
// lets the call be scored normally. It is called concurrently when calls
// overlap.
type FaultFunc func(call int, rows [][]float64) ([][]float64, error)

// ErrHang, returned by a FaultFunc, makes the call block until its context
// is done, then fail with the context's code.
var ErrHang = errors.New("predictortest: hang")

// FailFirst returns a FaultFunc that fails the first n calls with code.
func FailFirst(n int, code codes.Code) FaultFunc {
	return func(call int, _ [][]float64) ([][]float64, error) {
		if call < n {
			return nil, status.Error(code, "injected fault")
		}
		return nil, nil
	}
}

// FailEvery returns a FaultFunc that fails every k-th call (calls k-1,
// 2k-1, ...) with code.
func FailEvery(k int, code codes.Code) FaultFunc {
	return func(call int, _ [][]float64) ([][]float64, error) {
		if k > 0 && call%k == k-1 {
			return nil, status.Error(code, "injected fault")
		}
		return nil, nil
	}
}

// Logistic returns a binary classifier: p = σ(b + Σ w_j x_j), scored as
// [1-p, p]. Extra features beyond len(w) are ignored.
func Logistic(w []float64, b float64) ScoreFunc {
	return func(rows [][]float64) [][]float64 {
		out := make([][]float64, len(rows))
		for i, r := range rows {
			z := b
			for j := 0; j < len(r) && j < len(w); j++ {
				z += w[j] * r[j]
			}
			p := 1 / (1 + math.Exp(-z))
			out[i] = []float64{1 - p, p}
		}
		return out
	}
}

// Model is the behaviour and the counters the fake servers share.
type Model struct {
	// Score scores the rows of a call. Nil scores every row as [1].
	Score ScoreFunc
	// TextScore scores the texts of a call. Nil: calls with texts fail with
	// INVALID_ARGUMENT "model takes no text" (and are not counted).
	TextScore TextScoreFunc
	// Delay is how long each call waits before scoring; a call whose
	// context ends first fails with the context's code.
	Delay time.Duration
	// MaxBatchSize, when positive, is reported by Describe / ModelConfig,
	// and a call with more rows fails with INVALID_ARGUMENT "inference
	// request batch-size must be <= N", as Triton does.
	MaxBatchSize int
	// NumFeatures, when positive, is reported by Describe / ModelMetadata,
	// and a call whose rows have another width fails with
	// INVALID_ARGUMENT.
	NumFeatures int
	// ClassNames are reported by Describe (predict.v1); their number by
	// ModelMetadata (KServe).
	ClassNames []string
	// Fault, when set, can fail or change any call. See FaultFunc.
	Fault FaultFunc

	mu          sync.Mutex
	changed     chan struct{} // closed at the next change of a counter; nil until Await
	sent        int
	sending     int
	calls       int
	rows        int
	inFlight    int
	maxInFlight int
	maxBatch    int
	noDeadline  int
	cancelled   int
	lastDL      time.Time
	starts      []time.Time
	lastShape   []int
}

// LastShape returns the instance shape (the input's dimensions after the
// batch) of the last scoring call of rows: the non-batch dimensions of the
// KServe input tensor, or predict.v1's instance_shape ([num_features] when
// it is empty); nil before any call.
func (m *Model) LastShape() []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]int(nil), m.lastShape...)
}

// seeShape records the instance shape of a call.
func (m *Model) seeShape(shape []int) {
	m.mu.Lock()
	m.lastShape = shape
	m.mu.Unlock()
}

// Calls returns the number of scoring calls received, including the ones
// that failed.
func (m *Model) Calls() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls
}

// Rows returns the number of rows received in all scoring calls.
func (m *Model) Rows() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rows
}

// MaxConcurrent returns the most scoring calls seen in progress at once.
func (m *Model) MaxConcurrent() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.maxInFlight
}

// InFlight returns the number of scoring calls in progress now.
func (m *Model) InFlight() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.inFlight
}

// MaxBatch returns the most rows seen in one call.
func (m *Model) MaxBatch() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.maxBatch
}

// CallsAfter returns the number of scoring calls that started after t.
func (m *Model) CallsAfter(t time.Time) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, s := range m.starts {
		if s.After(t) {
			n++
		}
	}
	return n
}

// CallsWithoutDeadline returns the number of scoring calls whose context
// had no deadline.
func (m *Model) CallsWithoutDeadline() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.noDeadline
}

// LatestDeadline returns the latest deadline seen on a scoring call's
// context (the zero time if none had one).
func (m *Model) LatestDeadline() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lastDL
}

// Cancelled returns the number of scoring calls that ended because their
// context was done (during Delay or a hang).
func (m *Model) Cancelled() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cancelled
}

// Sent returns the number of scoring calls started through the Server's
// Conn or a connection dialled with its DialOptions, counted on the
// client's side as each call starts. Unlike Calls, which counts the calls
// that arrived, it never lags behind the caller; a call its client
// cancels in transit may never arrive, so Calls <= Sent.
func (m *Model) Sent() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sent
}

// Sending returns the number of scoring calls started through the
// Server's Conn or DialOptions that have not yet returned to their caller:
// 0 once every caller has its answer or error.
func (m *Model) Sending() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sending
}

// Await blocks until cond returns true or ctx ends, and then returns
// ctx.Err(). cond is called at once, then after every change of a counter
// (a call sent, arriving, ending, or returning to its client), with no lock
// held: it may read the counters. It replaces polling with sleeps.
func (m *Model) Await(ctx context.Context, cond func() bool) error {
	for {
		m.mu.Lock()
		if m.changed == nil {
			m.changed = make(chan struct{})
		}
		changed := m.changed
		m.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// changedLocked wakes the Await calls; m.mu is held.
func (m *Model) changedLocked() {
	if m.changed != nil {
		close(m.changed)
		m.changed = nil
	}
}

// send counts a call its client starts (d = 1) or sees return (d = -1).
func (m *Model) send(d int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if d > 0 {
		m.sent++
	}
	m.sending += d
	m.changedLocked()
}

// fakeModel gives the Server the model of a fake service.
func (m *Model) fakeModel() *Model { return m }

// begin counts a call and returns its number.
func (m *Model) begin(ctx context.Context, rows int) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	defer m.changedLocked()
	call := m.calls
	m.calls++
	m.rows += rows
	m.inFlight++
	m.maxInFlight = max(m.maxInFlight, m.inFlight)
	m.maxBatch = max(m.maxBatch, rows)
	m.starts = append(m.starts, time.Now())
	if dl, ok := ctx.Deadline(); !ok {
		m.noDeadline++
	} else if dl.After(m.lastDL) {
		m.lastDL = dl
	}
	return call
}

func (m *Model) end(ctx context.Context) {
	m.mu.Lock()
	defer m.mu.Unlock()
	defer m.changedLocked()
	m.inFlight--
	if ctx.Err() != nil {
		m.cancelled++
	}
}

// errNoText is the answer to texts when TextScore is nil.
var errNoText = status.Error(codes.InvalidArgument, "model takes no text")

// serve runs one scoring call of rows: it counts it, enforces MaxBatchSize
// and NumFeatures, waits Delay, applies Fault, and scores.
func (m *Model) serve(ctx context.Context, rows [][]float64) ([][]float64, error) {
	return m.run(ctx, len(rows), rows, func() error {
		if m.NumFeatures > 0 && len(rows) > 0 && len(rows[0]) != m.NumFeatures {
			return status.Errorf(codes.InvalidArgument, "expected %d features, got %d", m.NumFeatures, len(rows[0]))
		}
		return nil
	}, func() [][]float64 {
		if m.Score == nil {
			out := make([][]float64, len(rows))
			for i := range out {
				out[i] = []float64{1}
			}
			return out
		}
		return m.Score(rows)
	})
}

// serveText runs one scoring call of texts like serve, with TextScore.
func (m *Model) serveText(ctx context.Context, texts []string) ([][]float64, error) {
	if m.TextScore == nil {
		return nil, errNoText
	}
	return m.run(ctx, len(texts), nil, func() error { return nil }, func() [][]float64 { return m.TextScore(texts) })
}

// run counts a call of n instances, enforces MaxBatchSize, runs check,
// waits Delay, applies Fault (with rows) and scores with score.
func (m *Model) run(ctx context.Context, n int, rows [][]float64, check func() error, score func() [][]float64) ([][]float64, error) {
	call := m.begin(ctx, n)
	defer m.end(ctx)
	if m.MaxBatchSize > 0 && n > m.MaxBatchSize {
		return nil, status.Errorf(codes.InvalidArgument, "inference request batch-size must be <= %d", m.MaxBatchSize)
	}
	if err := check(); err != nil {
		return nil, err
	}
	if m.Delay > 0 {
		t := time.NewTimer(m.Delay)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		case <-t.C:
		}
	}
	if m.Fault != nil {
		out, err := m.Fault(call, rows)
		if errors.Is(err, ErrHang) {
			<-ctx.Done()
			return nil, status.FromContextError(ctx.Err()).Err()
		}
		if err != nil || out != nil {
			return out, err
		}
	}
	return score(), nil
}

// flatten returns the row-major values of rows and the width of the first
// row; ragged rows are concatenated as they are, so that a fault can send a
// malformed reply.
func flatten(rows [][]float64) (flat []float64, width int) {
	if len(rows) > 0 {
		width = len(rows[0])
	}
	for _, r := range rows {
		flat = append(flat, r...)
	}
	return flat, width
}
