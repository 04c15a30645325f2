package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/explainer-sidecar/explainer/predictor"
)

// Metrics are the sidecar's Prometheus metrics, registered on a registry
// the caller owns: the package never touches prometheus.DefaultRegisterer.
//
//   - grpc_server_* (go-grpc-middleware's prometheus provider): RPCs started,
//     handled by grpc_code, messages, and the handling-time histogram.
//   - explainer_jobs_running (gauge): jobs holding an admission slot.
//   - explainer_jobs_queued (gauge): jobs waiting in the admission queue.
//   - explainer_jobs_total{method,code} (counter): jobs ended, refusals
//     included, by explanation method and gRPC code.
//   - explainer_job_duration_seconds{method} (histogram): admitted jobs'
//     run time, whatever the outcome.
//   - explainer_samples_scored_total (counter): rows whose scores an
//     estimator received.
//   - explainer_model_call_duration_seconds (histogram): one observation
//     per batch sent to the model server, whatever the outcome.
//   - explainer_model_errors_total{code} (counter): failed model calls by the
//     model server's gRPC code (e.g. "Unavailable"), and "bad_output" for
//     answers the sidecar could not use.
//
// A nil *Metrics records nothing. Metrics is safe for concurrent use.
type Metrics struct {
	grpc        *grpcprom.ServerMetrics
	handler     http.Handler
	running     prometheus.Gauge
	queued      prometheus.Gauge
	jobs        *prometheus.CounterVec
	jobDuration *prometheus.HistogramVec
	samples     prometheus.Counter
	modelCall   prometheus.Histogram
	modelErrors *prometheus.CounterVec
}

// jobBuckets cover jobs from 10 ms to about 4 minutes.
var jobBuckets = prometheus.ExponentialBuckets(0.01, 2.5, 12)

// NewMetrics creates the sidecar's metrics and registers them on reg; it
// panics if one of them is already registered there (use one registry per
// Metrics). A nil reg means a new private registry. Handler serves reg when
// it is also a prometheus.Gatherer, as *prometheus.Registry is.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &Metrics{
		grpc: grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(grpcprom.WithHistogramBuckets(jobBuckets))),
		running: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "explainer_jobs_running",
			Help: "Jobs holding an admission slot.",
		}),
		queued: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "explainer_jobs_queued",
			Help: "Jobs waiting in the admission queue for a slot.",
		}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "explainer_jobs_total",
			Help: "Jobs ended, refused ones included, by explanation method and gRPC code.",
		}, []string{"method", "code"}),
		jobDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "explainer_job_duration_seconds",
			Help:    "Run time of admitted jobs, whatever their outcome, by explanation method.",
			Buckets: jobBuckets,
		}, []string{"method"}),
		samples: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "explainer_samples_scored_total",
			Help: "Rows scored by the model server and handed to an estimator.",
		}),
		modelCall: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "explainer_model_call_duration_seconds",
			Help:    "Latency of each batch sent to the model server, whatever its outcome.",
			Buckets: prometheus.DefBuckets,
		}),
		modelErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "explainer_model_errors_total",
			Help: "Failed model calls by the model server's gRPC code, or bad_output for unusable answers.",
		}, []string{"code"}),
	}
	reg.MustRegister(m.grpc, m.running, m.queued, m.jobs, m.jobDuration, m.samples, m.modelCall, m.modelErrors)
	if g, ok := reg.(prometheus.Gatherer); ok {
		m.handler = promhttp.HandlerFor(g, promhttp.HandlerOpts{Registry: reg})
	} else {
		m.handler = http.NotFoundHandler()
	}
	return m
}

// Handler serves the registry given to NewMetrics in the Prometheus
// exposition format (a 404 if that registry cannot be gathered).
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return m.handler
}

// UnaryServerInterceptor records the RPC metrics (grpc_server_*) of unary
// calls. GRPCServerOptionsWith installs it.
func (m *Metrics) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return m.grpc.UnaryServerInterceptor()
}

// StreamServerInterceptor records the RPC metrics (grpc_server_*) of
// streaming calls. GRPCServerOptionsWith installs it.
func (m *Metrics) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return m.grpc.StreamServerInterceptor()
}

// initialize pre-creates the per-method RPC series of gs's services.
func (m *Metrics) initialize(gs *grpc.Server) {
	if m != nil {
		m.grpc.InitializeMetrics(gs)
	}
}

func (m *Metrics) setAdmission(running, queued int) {
	if m == nil {
		return
	}
	m.running.Set(float64(running))
	m.queued.Set(float64(queued))
}

// jobRefused counts a job refused at admission.
func (m *Metrics) jobRefused(method string, code codes.Code) {
	if m == nil {
		return
	}
	m.jobs.WithLabelValues(method, code.String()).Inc()
}

// jobFinished counts an admitted job that ended and records its run time.
func (m *Metrics) jobFinished(method string, code codes.Code, d time.Duration) {
	if m == nil {
		return
	}
	m.jobs.WithLabelValues(method, code.String()).Inc()
	m.jobDuration.WithLabelValues(method).Observe(d.Seconds())
}

// scored counts rows whose scores reached an estimator, and the unusable
// answers the batcher found (errors not from a failed call: a failed call
// was counted by the model client's decorator).
func (m *Metrics) scored(rows int, err error) {
	if m == nil {
		return
	}
	if err == nil {
		m.samples.Add(float64(rows))
		return
	}
	if _, fromCall := predictor.ServerCode(err); !fromCall && errors.Is(err, predictor.ErrBadOutput) {
		m.modelErrors.WithLabelValues("bad_output").Inc()
	}
}

// client wraps c so that every batch it sends is timed and its failures
// counted by code.
func (m *Metrics) client(c predictor.Client) predictor.Client {
	if m == nil || c == nil {
		return c
	}
	return &meteredClient{Client: c, m: m}
}

// meteredClient is a predictor.Client that records model-call metrics. It
// keeps the wrapped client's text and shaped paths visible to the Batcher.
type meteredClient struct {
	predictor.Client
	m *Metrics
}

// Score implements predictor.Client.
func (c *meteredClient) Score(ctx context.Context, rows [][]float64) ([][]float64, error) {
	start := time.Now()
	out, err := c.Client.Score(ctx, rows)
	c.observe(start, err)
	return out, err
}

// ScoreText implements predictor.TextClient when the wrapped client does.
func (c *meteredClient) ScoreText(ctx context.Context, texts []string) ([][]float64, error) {
	tc, ok := c.Client.(predictor.TextClient)
	if !ok {
		return nil, fmt.Errorf("server: %w: the model client does not send text", predictor.ErrRejected)
	}
	start := time.Now()
	out, err := tc.ScoreText(ctx, texts)
	c.observe(start, err)
	return out, err
}

// ScoreShaped implements predictor.ShapedClient; a client without shapes
// gets plain rows.
func (c *meteredClient) ScoreShaped(ctx context.Context, rows [][]float64, shape []int) ([][]float64, error) {
	sc, ok := c.Client.(predictor.ShapedClient)
	if !ok {
		return c.Score(ctx, rows)
	}
	start := time.Now()
	out, err := sc.ScoreShaped(ctx, rows, shape)
	c.observe(start, err)
	return out, err
}

// observe records one model call that started at start.
func (c *meteredClient) observe(start time.Time, err error) {
	c.m.modelCall.Observe(time.Since(start).Seconds())
	if err != nil {
		// Errors of our own context (cancelled jobs) carry no server code
		// and are not the model server's fault.
		if code, ok := predictor.ServerCode(err); ok {
			c.m.modelErrors.WithLabelValues(code.String()).Inc()
		}
	}
}
