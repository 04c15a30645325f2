package scheduler

import (
	"time"

	"github.com/explainer-sidecar/explainer/predictor"
)

// Option configures a Scheduler.
type Option func(*options)

type options struct {
	maxRows    int // 0: no row cap
	maxBytes   int
	inFlight   int
	numClasses int
	linger     time.Duration
	observer   func(Call)
}

func defaults() options {
	return options{
		maxRows:  predictor.DefaultMaxBatchSize,
		maxBytes: predictor.DefaultMaxBatchBytes,
		inFlight: predictor.DefaultInFlight,
	}
}

// WithMaxBatchSize caps the rows (or texts) of one model call, whichever
// jobs they come from. Default predictor.DefaultMaxBatchSize (64); pass the
// ModelInfo.MaxBatchSize that Describe reported when it is not 0. 0 means
// no row cap: only WithMaxBatchBytes bounds a call (unlike a ModelInfo's
// 0, which means unknown: pass a cap then). Negative values keep the
// default.
func WithMaxBatchSize(rows int) Option {
	return func(o *options) {
		if rows >= 0 {
			o.maxRows = rows
		}
	}
}

// WithMaxBatchBytes caps the payload of one model call, in bytes, counted as
// the Batcher counts it: predictor.ValueBytes per input value (4 for a
// KServe v2 FP32 input, 2 for FP16, 1 for UINT8, else 8), or for texts the
// length of each text plus 4. A row or text larger than the cap is still
// sent, alone.
// Default predictor.DefaultMaxBatchBytes (3 MiB). Values below 1 keep the
// default.
func WithMaxBatchBytes(bytes int) Option {
	return func(o *options) {
		if bytes > 0 {
			o.maxBytes = bytes
		}
	}
}

// WithInFlight caps the model calls in flight at once for the whole
// Scheduler, that is for the model, across all its jobs. Default
// predictor.DefaultInFlight (4). Values below 1 keep the default.
func WithInFlight(calls int) Option {
	return func(o *options) {
		if calls > 0 {
			o.inFlight = calls
		}
	}
}

// WithLinger lets a call that would go out less than full wait up to d for
// more rows while another call of the model is in flight, as Triton's
// dynamic batcher waits max_queue_delay: the model is busy meanwhile, so
// the wait costs it no idle slot, and its calls come fuller and fewer (a
// GPU runs one full batch more cheaply than two half ones). A call goes out
// at once when its rows fill it, when no other call is in flight, or when
// d has passed. Default 0: a call goes out as soon as a slot is free.
// Negative values keep the default.
func WithLinger(d time.Duration) Option {
	return func(o *options) {
		if d >= 0 {
			o.linger = d
		}
	}
}

// WithNumClasses asserts the number of scores per row; a model server that
// returns another count fails the call's jobs with predictor.ErrBadOutput.
// Default 0: any count, as long as every row of one Predict call has the
// same. Values below 1 keep the default.
func WithNumClasses(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.numClasses = n
		}
	}
}

// WithObserver sets a function called once per model call, after the model
// server answered (or failed) and before the results reach the jobs, for
// metrics: batch fill, jobs per call, latency. It is called from the
// Scheduler's goroutines, possibly from several at once, so it must be safe
// for concurrent use, and it should return quickly: the call's jobs wait for
// it. A panic in it fails the call's jobs. Default none.
func WithObserver(f func(Call)) Option {
	return func(o *options) { o.observer = f }
}

// Call describes one model call, for WithObserver.
type Call struct {
	// Rows is the number of rows or texts sent.
	Rows int
	// Bytes is the payload as counted against WithMaxBatchBytes.
	Bytes int
	// Jobs is the number of jobs whose rows the call carried.
	Jobs int
	// Queued is the number of rows still waiting, of all jobs, when the
	// call was sent: above 0, calls are limited by the model, not by the
	// jobs.
	Queued int
	// Duration is the time from sending the call to its answer.
	Duration time.Duration
	// Err is the call's error, nil when the model server answered; the
	// answer's checks (row and class counts, finiteness) are not done yet.
	Err error
}

// JobOption configures a Job.
type JobOption func(*jobOptions)

type jobOptions struct {
	progress func(rowsScored int)
	shape    []int
}

// WithProgress sets a function called as the job's rows are scored and
// checked, with the number of rows scored since its previous call (not a
// running total: sum them for progress). It is called on the goroutine of
// the job's Predict or PredictText call that the rows belong to, never
// after that call returns, so concurrent Predict calls of one job call it
// concurrently. It should return quickly. Default none.
func WithProgress(f func(rowsScored int)) JobOption {
	return func(o *jobOptions) { o.progress = f }
}

// WithInstanceShape sends the job's rows as tensors of shape [N, shape...]
// (e.g. [N, 3, 224, 224] for a CHW image) instead of [N, F], through the
// client's predictor.ShapedClient; a client that is no ShapedClient gets
// Score. Rows of one shape share calls only with rows of the same shape.
// The rows must have the shape's product of values, else Predict fails with
// predictor.ErrInvalidInput. Default none (rows are flat). An empty shape or
// one with a dimension below 1 keeps the default.
func WithInstanceShape(shape ...int) JobOption {
	return func(o *jobOptions) {
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
