package predictor

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"

	"github.com/explainer-sidecar/explainer/internal/group"
)

// Batcher defaults.
const (
	// DefaultMaxBatchSize is the most rows per batch when WithMaxBatchSize is
	// not given.
	DefaultMaxBatchSize = 64
	// DefaultInFlight is the most batches in flight when WithInFlight is not
	// given.
	DefaultInFlight = 4
	// DefaultMaxBatchBytes is the payload cap per batch when
	// WithMaxBatchBytes is not given: 3 MiB, under grpc's default 4 MiB
	// receive limit on the model server with room for the message framing.
	DefaultMaxBatchBytes = 3 << 20
	// NoRowCap, given to WithMaxBatchSize, leaves only MaxBatchBytes to
	// split batches: for a model that takes any number of rows
	// (ModelInfo.BatchRule.Uncapped). It is the most instances predict.v1's
	// uint32 num_instances can count, far more than MaxBatchBytes lets
	// through, and small enough that callers can multiply it by a few
	// batches in flight without overflowing an int.
	NoRowCap = math.MaxInt32
)

// bytesPerValue is what MaxBatchBytes counts per input value of a Client
// that does not say (see ValueSizer): a float64, the widest encoding any
// client sends (an INT64 in typed contents can take up to 10 bytes as a
// varint; the 1 MiB headroom under 4 MiB covers that).
const bytesPerValue = 8

// ValueSizer is a Client that knows how many bytes one input value takes
// in its requests (KServeV2: 4 for an FP32 input), so that MaxBatchBytes
// lets as many rows into a call as its payload allows.
type ValueSizer interface {
	// BytesPerValue is the bytes of one input value, or 0 when not known
	// (yet).
	BytesPerValue() int
}

// ValueBytes is what MaxBatchBytes counts per input value sent with c:
// its BytesPerValue when c is a ValueSizer that knows, else 8.
func ValueBytes(c Client) int {
	if vs, ok := c.(ValueSizer); ok {
		if n := vs.BytesPerValue(); n > 0 {
			return n
		}
	}
	return bytesPerValue
}

// BatcherOption configures a Batcher.
type BatcherOption func(*batcherOptions)

type batcherOptions struct {
	maxRows    int
	inFlight   int
	maxBytes   int
	numClasses int
	observer   func(rowsScored int)
	shape      []int
	sharedSem  chan struct{}
}

// WithMaxBatchSize caps the rows per batch. Default DefaultMaxBatchSize (64);
// pass the ModelInfo.MaxBatchSize that Describe reported when it is not 0,
// NoRowCap when its BatchRule is Uncapped. Values below 1 keep the default.
// The cap only bounds the batches: nothing is allocated per row of it.
func WithMaxBatchSize(rows int) BatcherOption {
	return func(o *batcherOptions) {
		if rows > 0 {
			o.maxRows = rows
		}
	}
}

// WithInFlight caps the batches in flight at once, across all concurrent
// Predict calls on the Batcher. Default DefaultInFlight (4). Values below 1
// keep the default.
func WithInFlight(batches int) BatcherOption {
	return func(o *batcherOptions) {
		if batches > 0 {
			o.inFlight = batches
		}
	}
}

// WithSharedInFlight makes the new Batcher take its batches in flight from
// other's allowance instead of its own (WithInFlight is then ignored), so
// that several Batchers, one per run of a job, keep at most other's
// InFlight batches at the model server together while counting their
// calls apart.
func WithSharedInFlight(other *Batcher) BatcherOption {
	return func(o *batcherOptions) { o.sharedSem = other.sem }
}

// WithMaxBatchBytes caps the payload of one batch, in bytes, counted per
// input value as the Client sends it (ValueBytes: 4 for a KServe v2 FP32
// input, 2 for FP16, 1 for UINT8, else 8), or for PredictText as the
// length of each text plus 4.
// A row or text larger than the cap is still sent, alone.
// Default DefaultMaxBatchBytes (3 MiB). Values below 1 keep the default.
func WithMaxBatchBytes(bytes int) BatcherOption {
	return func(o *batcherOptions) {
		if bytes > 0 {
			o.maxBytes = bytes
		}
	}
}

// WithNumClasses asserts the number of scores per row; a model server that
// returns another count gets ErrBadOutput. Default 0: any count, as long as
// every row of one Predict call has the same.
func WithNumClasses(n int) BatcherOption {
	return func(o *batcherOptions) {
		if n > 0 {
			o.numClasses = n
		}
	}
}

// WithObserver sets a function called after each batch is scored and
// validated, with the number of rows in that batch (not a running total:
// sum them for progress). It is called from the Batcher's goroutines,
// possibly from several at once, so it must be safe for concurrent use, and
// it should return quickly: the batch's worker waits for it. It is never
// called after Predict returns. Default none.
func WithObserver(f func(rowsScored int)) BatcherOption {
	return func(o *batcherOptions) { o.observer = f }
}

// WithInstanceShape sends each batch of Predict as a tensor of shape
// [N, shape...] (e.g. [N, 3, 224, 224] for a CHW image) instead of [N, F],
// through the client's ShapedClient.ScoreShaped; a client that does not
// implement ShapedClient gets Score. The rows must have the shape's product
// of values, else Predict fails with ErrInvalidInput. Default none (rows are
// flat). An empty shape or one with a dimension below 1 keeps the default.
func WithInstanceShape(shape ...int) BatcherOption {
	return func(o *batcherOptions) {
		for _, d := range shape {
			if d < 1 {
				return
			}
		}
		if len(shape) > 0 {
			o.shape = append([]int(nil), shape...)
		} else {
			o.shape = nil
		}
	}
}

// Batcher implements the explain.Model interface over a Client. It splits the
// rows of a Predict call into batches of at most MaxBatchSize rows and
// MaxBatchBytes of payload, keeps up to InFlight batches in flight, validates
// each answer and puts the rows back in order.
//
// PredictText does the same for texts when the Client is a TextClient.
//
// A Batcher is safe for concurrent Predict and PredictText calls; the
// InFlight cap and the Calls counter are shared by them. It is cheap to create: make one per job
// to get per-job Calls and progress.
type Batcher struct {
	c     Client
	o     batcherOptions
	sem   chan struct{} // one token per batch in flight
	calls atomic.Int64
}

// NewBatcher returns a Batcher that sends batches to c. c must honour the
// context passed to Score: Predict waits for every Score call it started.
func NewBatcher(c Client, opts ...BatcherOption) *Batcher {
	o := batcherOptions{
		maxRows:  DefaultMaxBatchSize,
		inFlight: DefaultInFlight,
		maxBytes: DefaultMaxBatchBytes,
	}
	for _, opt := range opts {
		opt(&o)
	}
	sem := o.sharedSem
	if sem == nil {
		sem = make(chan struct{}, o.inFlight)
	}
	return &Batcher{c: c, o: o, sem: sem}
}

// Calls returns the number of batches sent so far by all Predict calls,
// counted when sent, whatever their outcome. The channel's own retries of a
// batch are not counted.
func (b *Batcher) Calls() int64 { return b.calls.Load() }

// Predict scores rows and returns one row of scores per input row, in order.
// The output rows of one batch share a backing array; rows is not modified
// and not retained.
//
// Every batch runs under ctx (so under its deadline). Once ctx is done no new
// batch is sent, the batches in flight are cancelled, and Predict returns an
// error wrapping ctx.Err(). The first batch to fail cancels the others and
// its error is returned. A panic in the Client or the observer fails the
// batch like an error: Predict returns "predictor: predict: " wrapping a
// *group.PanicError (package internal/group) that holds the value and the
// stack. Predict returns only after every goroutine it started has ended.
func (b *Batcher) Predict(ctx context.Context, rows [][]float64) ([][]float64, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("predictor: predict: %w", err)
	}
	width, err := checkRows(rows)
	if err != nil {
		return nil, err
	}
	n := len(rows)
	if n == 0 {
		return [][]float64{}, nil
	}
	score := b.c.Score
	if shape := b.o.shape; shape != nil {
		size := 1
		for _, d := range shape {
			if size > math.MaxInt32/d {
				return nil, invalidInput("instance shape %v is too large", shape)
			}
			size *= d
		}
		if size != width {
			return nil, invalidInput("rows of %d values for instance shape %v (%d values)", width, shape, size)
		}
		if sc, ok := b.c.(ShapedClient); ok {
			score = func(ctx context.Context, rows [][]float64) ([][]float64, error) {
				return sc.ScoreShaped(ctx, rows, shape)
			}
		}
	}
	per := b.o.maxRows
	if width > 0 {
		byBytes := b.o.maxBytes / (ValueBytes(b.c) * width)
		per = max(1, min(per, byBytes))
	}
	bounds := make([]int, 0, (n-1)/per+2) // ⌈n/per⌉ + 1 without overflowing n+per
	for lo := 0; lo < n; lo += per {
		bounds = append(bounds, lo)
	}
	bounds = append(bounds, n)
	return b.run(ctx, "predict", bounds, func(ctx context.Context, lo, hi int) ([][]float64, error) {
		return score(ctx, rows[lo:hi])
	})
}

// PredictText scores texts, one string per instance, and returns one row of
// scores per text, in order, like Predict: batches of at most MaxBatchSize
// texts and MaxBatchBytes, counted as the length of each text plus 4 (a
// text larger than the cap is sent alone), InFlight batches at most, the
// same validation, observer, cancellation and errors. The Client must be a
// TextClient, else PredictText fails with ErrRejected and sends nothing.
// texts is not modified and not retained.
//
// PredictText satisfies explain.TextModel.
func (b *Batcher) PredictText(ctx context.Context, texts []string) ([][]float64, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("predictor: predict text: %w", err)
	}
	tc, ok := b.c.(TextClient)
	if !ok {
		return nil, fmt.Errorf("predictor: predict text: %w: the client does not send text", ErrRejected)
	}
	if err := checkTexts(texts); err != nil {
		return nil, err
	}
	if len(texts) == 0 {
		return [][]float64{}, nil
	}
	return b.run(ctx, "predict text", textBounds(texts, b.o.maxRows, b.o.maxBytes),
		func(ctx context.Context, lo, hi int) ([][]float64, error) {
			return tc.ScoreText(ctx, texts[lo:hi])
		})
}

// textBounds splits texts greedily into batches of at most maxRows texts and
// at most maxBytes, counting len(text)+4 per text; a text over maxBytes
// makes a batch of its own. Batch i is texts[bounds[i]:bounds[i+1]].
func textBounds(texts []string, maxRows, maxBytes int) []int {
	bounds := []int{0}
	lo, size := 0, 0
	for i, s := range texts {
		sz := len(s) + bytesPrefix
		if i > lo && (i-lo >= maxRows || size+sz > maxBytes) {
			bounds = append(bounds, i)
			lo, size = i, 0
		}
		size += sz
	}
	return append(bounds, len(texts))
}

// run scores the n = bounds[len(bounds)-1] instances of one call, sending
// batch i, instances [bounds[i], bounds[i+1]), with send. op names the call
// in errors.
//
// A panic in send or in the observer, on whichever goroutine, fails the call
// with an error wrapping a *group.PanicError, like any failed batch: the
// workers are goroutines the caller's recovery cannot reach.
func (b *Batcher) run(ctx context.Context, op string, bounds []int,
	send func(ctx context.Context, lo, hi int) ([][]float64, error)) ([][]float64, error) {
	j := &job{b: b, op: op, send: send, bounds: bounds, out: make([][]float64, bounds[len(bounds)-1]), batches: len(bounds) - 1}
	j.width.Store(int64(b.o.numClasses))

	var err error
	if workers := min(b.o.inFlight, j.batches); workers == 1 {
		// One batch at a time needs no goroutine, only the same recovery.
		err = group.Do(func() error { return j.work(ctx) })
	} else {
		// The first worker to fail cancels the others' batches.
		g, wctx := group.WithContext(ctx)
		for range workers {
			g.Go(func() error { return j.work(wctx) })
		}
		err = g.Wait()
	}
	if err != nil {
		if _, ok := errors.AsType[*group.PanicError](err); ok {
			err = fmt.Errorf("predictor: %s: %w", op, err)
		}
		return nil, err
	}
	return j.out, nil
}

// job is one Predict or PredictText call: workers take batch numbers from
// next until none is left or one of them fails.
type job struct {
	b       *Batcher
	op      string // "predict" or "predict text", for errors
	send    func(ctx context.Context, lo, hi int) ([][]float64, error)
	bounds  []int // batch i is instances [bounds[i], bounds[i+1])
	out     [][]float64
	batches int
	next    atomic.Int64
	width   atomic.Int64 // scores per row; 0 until known
}

// work sends batches until none is left (nil) or one fails (its error).
func (j *job) work(ctx context.Context) error {
	for {
		i := int(j.next.Add(1)) - 1
		if i >= j.batches {
			return nil // all taken: a job whose batches all succeeded succeeds
		}
		if err := ctx.Err(); err != nil {
			// Either the caller's ctx is done or another worker failed
			// and cancelled; the group keeps the first error.
			return fmt.Errorf("predictor: %s: %w", j.op, err)
		}
		if err := j.batch(ctx, i); err != nil {
			return err
		}
	}
}

// batch sends batch i, validates the answer and stores its rows.
func (j *job) batch(ctx context.Context, i int) error {
	lo, hi := j.bounds[i], j.bounds[i+1]
	res, err := j.call(ctx, lo, hi)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("predictor: %s: %w", j.op, cerr)
		}
		return err
	}
	if err := j.check(res, lo, hi-lo); err != nil {
		return err
	}
	copy(j.out[lo:hi], res)
	if o := j.b.o.observer; o != nil {
		o(hi - lo)
	}
	return nil
}

// call sends instances [lo, hi) while holding a place in flight. The place
// is given back even if send panics: the semaphore outlives the call (it is
// the Batcher's, maybe shared with other Batchers).
func (j *job) call(ctx context.Context, lo, hi int) ([][]float64, error) {
	b := j.b
	select {
	case b.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-b.sem }()
	b.calls.Add(1)
	return j.send(ctx, lo, hi)
}

// check validates the scores res of the batch of n rows starting at row lo.
// Row numbers in messages are rows of the Predict call.
func (j *job) check(res [][]float64, lo, n int) error {
	if len(res) != n {
		return badOutput("%d rows for a batch of %d", len(res), n)
	}
	w := len(res[0])
	if w == 0 {
		return badOutput("0 scores at row %d", lo)
	}
	for k, r := range res {
		if len(r) != w {
			return badOutput("%d scores at row %d and %d at row %d", w, lo, len(r), lo+k)
		}
	}
	if !j.width.CompareAndSwap(0, int64(w)) {
		if want := j.width.Load(); int64(w) != want {
			if j.b.o.numClasses > 0 {
				return badOutput("%d classes, want %d", w, want)
			}
			return badOutput("%d classes in one batch and %d in another", want, w)
		}
	}
	for k, r := range res {
		for _, v := range r {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return badOutput("non-finite score at row %d", lo+k)
			}
		}
	}
	return nil
}
