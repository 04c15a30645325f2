package scheduler

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/explainer-sidecar/explainer/predictor"
)

// bytesPerText counts a text's payload as predictor.Batcher does: its
// length plus its 4-byte length prefix in a KServe BYTES tensor. Values
// count predictor.ValueBytes each.
const bytesPerText = 4

// Job is one explanation run's model: it implements explain.Model and
// explain.TextModel by queueing its rows on the Scheduler, which packs them
// with other jobs' rows into shared model calls.
//
// A Job is safe for concurrent Predict and PredictText calls; they are
// served in the order they were made. It holds nothing between calls and
// needs no closing: make one per run to count its calls and rows apart.
type Job struct {
	s     *Scheduler
	o     jobOptions
	calls atomic.Int64
	rows  atomic.Int64

	// Guarded by s.mu.
	queue  []*request // requests with rows not yet in a call, oldest first
	served uint64     // seq of the last call that carried its rows
}

// NewJob returns a job that scores on s.
func (s *Scheduler) NewJob(opts ...JobOption) *Job {
	j := &Job{s: s}
	for _, opt := range opts {
		opt(&j.o)
	}
	return j
}

// Calls returns the number of model calls that carried at least one of the
// job's rows, counted when sent, whatever their outcome: a call shared by k
// jobs counts once for each of them, so the jobs' counts add up to more
// than the Scheduler's. The channel's own retries of a call are not
// counted.
func (j *Job) Calls() int64 { return j.calls.Load() }

// Rows returns the number of the job's rows (or texts) sent to the model,
// counted when sent, whatever the outcome. Rows dropped before they went
// into a call (their Predict cancelled or failed) are not counted.
func (j *Job) Rows() int64 { return j.rows.Load() }

// Predict scores rows and returns one row of scores per input row, in
// order, bit for bit what the model server returned for it. The output
// rows share one backing array, this call's own; rows is not modified, and
// not read once Predict has returned (each call copies its values).
//
// The rows share model calls with other jobs' rows of the same width (or
// instance shape). Once ctx is done, Predict returns an error wrapping
// ctx.Err() at once, its rows not yet sent never are, and a call in flight
// that carries no other job's rows is cancelled. A failed call fails every
// Predict whose rows it carried, with the call's error (see package
// predictor for the kinds).
func (j *Job) Predict(ctx context.Context, rows [][]float64) ([][]float64, error) {
	const op = "predict"
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("scheduler: %s: %w", op, err)
	}
	width, err := checkRows(rows)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return [][]float64{}, nil
	}
	lane := "w" + strconv.Itoa(width)
	if shape := j.o.shape; shape != nil {
		size := 1
		var key strings.Builder
		key.WriteString("s")
		for i, d := range shape {
			if size > math.MaxInt32/d {
				return nil, invalidInput("instance shape %v is too large", shape)
			}
			size *= d
			if i > 0 {
				key.WriteString("x")
			}
			key.WriteString(strconv.Itoa(d))
		}
		if size != width {
			return nil, invalidInput("rows of %d values for instance shape %v (%d values)", width, shape, size)
		}
		lane = key.String()
	}
	r := &request{job: j, ctx: ctx, op: op, lane: lane, shape: j.o.shape,
		rows: rows, width: width, rowBytes: predictor.ValueBytes(j.s.c) * width, n: len(rows)}
	return j.s.do(ctx, r)
}

// PredictText scores texts, one string per instance, like Predict: texts
// share calls with other jobs' texts only. The Client must be a
// predictor.TextClient, else PredictText fails with predictor.ErrRejected
// and sends nothing. texts is not modified and not retained.
//
// PredictText satisfies explain.TextModel.
func (j *Job) PredictText(ctx context.Context, texts []string) ([][]float64, error) {
	const op = "predict text"
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("scheduler: %s: %w", op, err)
	}
	if _, ok := j.s.c.(predictor.TextClient); !ok {
		return nil, fmt.Errorf("scheduler: %s: %w: the client does not send text", op, predictor.ErrRejected)
	}
	if uint64(len(texts)) > math.MaxUint32 {
		return nil, invalidInput("batch of %d texts is too large", len(texts))
	}
	for i, t := range texts {
		if uint64(len(t)) > math.MaxUint32 {
			return nil, invalidInput("text %d is %d bytes, over 4 GiB", i, len(t))
		}
	}
	if len(texts) == 0 {
		return [][]float64{}, nil
	}
	r := &request{job: j, ctx: ctx, op: op, lane: "text", text: true, texts: texts, n: len(texts)}
	return j.s.do(ctx, r)
}

// request is one Predict or PredictText call of a job.
type request struct {
	job      *Job
	ctx      context.Context // the caller's; only its deadline and Done are used
	op       string          // "predict" or "predict text", for errors
	lane     string          // requests share a call only with requests of the same lane
	shape    []int           // instance shape, or nil
	text     bool
	rows     [][]float64
	texts    []string
	width    int // values per row
	rowBytes int // payload per row (tabular)
	n        int // rows or texts
	wake     chan struct{}

	// Guarded by s.mu.
	next    int // first row not yet in a call
	left    int // rows not yet scored
	scored  int // rows scored and checked, for progress
	classes int // scores per row, 0 until the first answer
	flat    []float64
	out     [][]float64
	err     error // set once: the request failed or was cancelled
	// cancelled are the sent channels of the calls r's failure cancelled
	// (it was their last live request).
	cancelled []chan struct{}
}

// size returns the payload of row (or text) i as counted against the bytes
// cap.
func (r *request) size(i int) int {
	if r.text {
		return len(r.texts[i]) + bytesPerText
	}
	return r.rowBytes
}

// notify wakes the request's Predict call without blocking: a capacity-1
// channel coalesces wakes, and Predict reads the state under the lock.
func (r *request) notify() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// done reports whether nothing more will happen to r. Caller holds s.mu.
func (r *request) done() bool { return r.err != nil || r.left == 0 }

// checkRows checks that rows is rectangular and returns its width.
func checkRows(rows [][]float64) (width int, err error) {
	if len(rows) == 0 {
		return 0, nil
	}
	width = len(rows[0])
	for i, r := range rows {
		if len(r) != width {
			return 0, invalidInput("row %d has %d values, row 0 has %d", i, len(r), width)
		}
	}
	return width, nil
}

// invalidInput returns an error wrapping predictor.ErrInvalidInput; the
// detail must not contain payload values.
func invalidInput(format string, args ...any) error {
	return fmt.Errorf("scheduler: %w: "+format, append([]any{predictor.ErrInvalidInput}, args...)...)
}

// badOutput returns an error wrapping predictor.ErrBadOutput; the detail
// must not contain payload values.
func badOutput(format string, args ...any) error {
	return fmt.Errorf("scheduler: %w: "+format, append([]any{predictor.ErrBadOutput}, args...)...)
}
