package server

import (
	"log/slog"
	"time"

	"github.com/explainer-sidecar/explainer/engine"
)

// Defaults of the server's options.
const (
	DefaultMaxConcurrentJobs = 16
	DefaultInFlight          = 4
	DefaultMaxBatchSize      = 64
	DefaultJobTimeout        = 5 * time.Minute
	// DefaultMaxQueuedJobs is the admission queue's length: 0, a job past
	// MaxConcurrentJobs is refused at once. Servers set a queue with
	// WithMaxQueuedJobs (e.g. twice the running jobs).
	DefaultMaxQueuedJobs = 0
	// DefaultDeadlineFloor is the least time a job must have left when it
	// starts; with less it fails with DEADLINE_EXCEEDED before any model
	// call.
	DefaultDeadlineFloor = 10 * time.Millisecond
	// MaxSampleValues caps samples × features of one job: the raw and the
	// interpretable neighbourhoods are each held as float64s, so one job
	// holds at most about 2 × 8 × MaxSampleValues bytes (≈ 320 MB).
	MaxSampleValues = 20_000_000
	// MaxJobIDLength caps a stream job id, in bytes.
	MaxJobIDLength = 128
	// DefaultMaxJobsPerStream caps the jobs one ExplainStream holds at once,
	// running or queued: half the default job slots, so one stream cannot
	// take every slot.
	DefaultMaxJobsPerStream = 8
	// DefaultDataIdleTimeout is how long a job whose data is streamed
	// waits for its next DataChunk before it fails.
	DefaultDataIdleTimeout = 30 * time.Second
	// MaxUndeliveredEvents caps the job results and errors a stream holds
	// for a client that does not read; progress is coalesced and does not
	// count. Past it the stream ends with RESOURCE_EXHAUSTED.
	MaxUndeliveredEvents = 1024
)

type options struct {
	defaultModel      string
	maxConcurrentJobs int
	maxQueuedJobs     int
	deadlineFloor     time.Duration
	metrics           *Metrics
	inFlight          int
	maxBatchSize      int
	maxBatchBytes     int
	jobTimeout        time.Duration
	maxJobsPerStream  int
	dataIdleTimeout   time.Duration
	logger            *slog.Logger
	defaults          *requestDefaults
	classNames        []string
	batchConcurrency  int
	batchLinger       time.Duration
}

func defaultOptions() options {
	return options{
		maxConcurrentJobs: DefaultMaxConcurrentJobs,
		maxQueuedJobs:     DefaultMaxQueuedJobs,
		deadlineFloor:     DefaultDeadlineFloor,
		inFlight:          DefaultInFlight,
		jobTimeout:        DefaultJobTimeout,
		maxJobsPerStream:  DefaultMaxJobsPerStream,
		dataIdleTimeout:   DefaultDataIdleTimeout,
		logger:            slog.New(slog.DiscardHandler),
	}
}

// Option configures a Server.
type Option func(*options)

// WithDefaultModel names the model explained when a request names none.
// Default: none (requests must name their model).
func WithDefaultModel(name string) Option { return func(o *options) { o.defaultModel = name } }

// WithMaxConcurrentJobs caps the jobs running at once across all RPCs.
// Default DefaultMaxConcurrentJobs; values < 1 are ignored.
func WithMaxConcurrentJobs(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.maxConcurrentJobs = n
		}
	}
}

// WithMaxQueuedJobs sets how many jobs may wait, in FIFO order, for one of
// the MaxConcurrentJobs slots; past it a job is refused with
// RESOURCE_EXHAUSTED. A waiting job whose RPC is cancelled or whose deadline
// passes leaves the queue. Jobs started on ExplainStream never wait: they run
// or are refused at once. Default DefaultMaxQueuedJobs (no queue); values
// < 0 are ignored.
func WithMaxQueuedJobs(n int) Option {
	return func(o *options) {
		if n >= 0 {
			o.maxQueuedJobs = n
		}
	}
}

// WithDeadlineFloor sets the least time a job must have left before its
// deadline when it starts (after admission): with less it fails with
// DEADLINE_EXCEEDED before any model call. Default DefaultDeadlineFloor; 0
// turns the check off; values < 0 are ignored.
func WithDeadlineFloor(d time.Duration) Option {
	return func(o *options) {
		if d >= 0 {
			o.deadlineFloor = d
		}
	}
}

// WithMetrics records the server's job, admission and model-call metrics
// in m (see Metrics). Default: none. Pass the same m to
// GRPCServerOptionsWith for the RPC metrics.
func WithMetrics(m *Metrics) Option { return func(o *options) { o.metrics = m } }

// DefaultBatchConcurrency is WithBatchConcurrency's default.
const DefaultBatchConcurrency = engine.DefaultBatchConcurrency

// WithBatchConcurrency caps the instances of one batch job
// (ExplainRequest.batch) that run at once; fewer run when their samples ×
// players together would exceed MaxBatchSampleValues. Default 0: enough
// instances for two rounds of full model calls (the model's batch size, or
// what fits in WithMaxBatchBytes, × WithInFlight, twice, ÷ an instance's
// rows), at least DefaultBatchConcurrency (32); values < 0 are ignored.
func WithBatchConcurrency(n int) Option {
	return func(o *options) {
		if n >= 0 {
			o.batchConcurrency = n
		}
	}
}

// WithInFlight sets how many calls of one model are at the model server at
// once, shared by all the jobs of that model. Default DefaultInFlight;
// values < 1 are ignored.
func WithInFlight(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.inFlight = n
		}
	}
}

// WithBatchLinger lets a model call that would go out less than full wait
// up to d for more rows while another call of the model is in flight
// (scheduler.WithLinger; Triton's max_queue_delay): fewer, fuller calls
// for a GPU model, at up to d more latency per call. Default 0: a call
// goes out as soon as a slot is free. Values < 0 are ignored.
func WithBatchLinger(d time.Duration) Option {
	return func(o *options) {
		if d >= 0 {
			o.batchLinger = d
		}
	}
}

// WithMaxBatchSize sets the rows per model call. Default: what the model
// server reports (Describe / ModelConfig / ModelMetadata, see
// predictor.BatchRule): its cap; no row cap, only WithMaxBatchBytes, when it
// takes any number of rows; DefaultMaxBatchSize when it says nothing. A
// value here replaces the default or the absence of a cap, and lowers the
// model's cap but never exceeds it. The rule that applies is logged once
// per model.
func WithMaxBatchSize(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.maxBatchSize = n
		}
	}
}

// WithMaxBatchBytes caps the payload of one model call (see
// predictor.WithMaxBatchBytes). Default predictor.DefaultMaxBatchBytes
// (3 MiB, under a model server's default 4 MiB receive limit): five
// 224×224×3 images for a KServe v2 FP32 input, two at 8 bytes a value.
// Raise it for a model server that accepts larger messages (Triton does),
// with the channel's message limit to match.
func WithMaxBatchBytes(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.maxBatchBytes = n
		}
	}
}

// WithJobTimeout bounds a job whose RPC has no deadline. Default
// DefaultJobTimeout.
func WithJobTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.jobTimeout = d
		}
	}
}

// WithMaxJobsPerStream caps the jobs one ExplainStream holds at once,
// running or waiting for a slot; a start past it gets a JobError
// RESOURCE_EXHAUSTED naming the limit, and the stream goes on. Default
// DefaultMaxJobsPerStream; values < 1 are ignored.
func WithMaxJobsPerStream(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.maxJobsPerStream = n
		}
	}
}

// WithDataIdleTimeout bounds how long a job whose data is streamed
// (DataChunk messages) waits for its next chunk: past it the job fails with
// DEADLINE_EXCEEDED and frees its slot. Time the stream spends handing
// another job its chunks does not count. Default DefaultDataIdleTimeout;
// values <= 0 are ignored.
func WithDataIdleTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.dataIdleTimeout = d
		}
	}
}

// WithLogger sets the structured logger. Records logged with the context
// of an RPC carry its request id (see RequestID). Default: discard.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}
