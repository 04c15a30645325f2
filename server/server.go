package server

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/explainer-sidecar/explainer/predictor"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
	"github.com/explainer-sidecar/explainer/scheduler"
)

// ServiceName is the explainer service's full name; the health service
// reports the model server's readiness under it.
const ServiceName = "explainer.v1.ExplainerService"

// ClientFunc returns the model client for a model name. It is called once
// per model name; the server caches the client.
type ClientFunc func(model string) predictor.Client

// Server implements explainerv1.ExplainerServiceServer.
type Server struct {
	explainerv1.UnimplementedExplainerServiceServer

	opts      options
	newClient ClientFunc
	health    *healthServer
	admission *admission

	mu     sync.Mutex
	models map[string]*modelEntry

	// jobs is the parent of every job's context: CancelJobs ends it.
	jobs       context.Context
	cancelJobs context.CancelFunc
	// stopping is closed by Shutdown: streams end once their jobs have.
	stopping     chan struct{}
	shutdownOnce sync.Once
}

type modelEntry struct {
	client    predictor.Client
	described bool // info holds the model server's answer (guarded by Server.mu)
	info      predictor.ModelInfo
	// sched packs the rows of every job on the model into its batches;
	// made once the model is described (guarded by Server.mu).
	sched *scheduler.Scheduler
}

// maxCachedModels bounds the per-model cache: model names come from
// clients, so the cache must not grow without bound.
const maxCachedModels = 64

// New returns a server that explains models reached through newClient.
func New(newClient ClientFunc, opts ...Option) *Server {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	o.logger = withRequestIDs(o.logger)
	jobs, cancelJobs := context.WithCancel(context.Background())
	adm := newAdmission(o.maxConcurrentJobs, o.maxQueuedJobs, o.metrics)
	s := &Server{
		jobs:       jobs,
		cancelJobs: cancelJobs,
		stopping:   make(chan struct{}),
		opts:       o,
		newClient:  newClient,
		health:     newHealthServer(adm.idle()),
		admission:  adm,
		models:     map[string]*modelEntry{},
	}
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.health.SetServingStatus(ServiceName, healthpb.HealthCheckResponse_NOT_SERVING)
	return s
}

// Register registers the explainer and health services on gs.
func (s *Server) Register(gs *grpc.Server) {
	explainerv1.RegisterExplainerServiceServer(gs, s)
	healthpb.RegisterHealthServer(gs, s.health)
	s.opts.metrics.initialize(gs)
}

// RegisterHealth registers only the health service (the same statuses as
// Register's) on gs: a plaintext port for probes that cannot speak TLS,
// such as the kubelet's gRPC probes, next to a TLS listener.
func (s *Server) RegisterHealth(gs *grpc.Server) {
	healthpb.RegisterHealthServer(gs, s.health)
}

// Shutdown starts a graceful stop: it marks every service NOT_SERVING and
// refuses new jobs with UNAVAILABLE "server shutting down"; running and
// queued jobs go on, and an ExplainStream ends with UNAVAILABLE "server
// shutting down" once its jobs have ended and their events are sent. The
// gRPC server keeps serving meanwhile (health included), so that load
// balancers see NOT_SERVING and clients their jobs' outcomes.
//
// The sequence serve uses: Shutdown; Drain with the drain timeout; when it
// runs out, CancelJobs and Drain again, briefly; then the gRPC server's
// GracefulStop, raced against a timeout, then Stop. Shutdown may be called
// more than once.
func (s *Server) Shutdown() {
	s.shutdownOnce.Do(func() {
		s.admission.close()
		s.health.Shutdown()
		close(s.stopping)
	})
}

// Drain waits, after Shutdown or CancelJobs, until no job runs or waits
// for a slot: every job has given its slot back, and its outcome is on its
// way (a unary call returns it, a stream queues its final event). It
// returns ctx's error if ctx ends first; before Shutdown it waits for ctx.
func (s *Server) Drain(ctx context.Context) error {
	select {
	case <-s.admission.idle():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// CancelJobs shuts the server down (see Shutdown) and ends every running or
// queued job with UNAVAILABLE "server shutting down": for when the drain
// period is over. It does not wait: Drain tells when the jobs have ended.
func (s *Server) CancelJobs() {
	s.Shutdown()
	s.cancelJobs()
}

// WatchModel polls the default model's readiness every interval until ctx
// ends, and reports it as the health of ServiceName: a model server that
// flaps makes the explainer NOT_SERVING, not the sidecar as a whole.
func (s *Server) WatchModel(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		st := healthpb.HealthCheckResponse_NOT_SERVING
		if e, err := s.model(s.opts.defaultModel); err == nil {
			cctx, cancel := context.WithTimeout(ctx, interval)
			if e.client.Ready(cctx) == nil {
				st = healthpb.HealthCheckResponse_SERVING
			}
			cancel()
		}
		s.health.SetServingStatus(ServiceName, st)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Explain runs one job.
func (s *Server) Explain(ctx context.Context, req *explainerv1.ExplainRequest) (*explainerv1.ExplainResponse, error) {
	req = s.applyDefaults(req)
	release, err := s.admitWait(ctx, methodLabel(req))
	if err != nil {
		return nil, err
	}
	defer release()
	exp, err := s.run(ctx, req, jobIO{})
	if err != nil {
		return nil, toStatus(s.jobLogger(ctx), err).Err()
	}
	return &explainerv1.ExplainResponse{Explanation: exp}, nil
}

// Ready reports whether the explainer service is SERVING: the default
// model's server was ready at the last check (see WatchModel) and the
// server is not shutting down. It is what the health service reports for
// ServiceName, for transports that are not gRPC (HTTP readiness probes).
func (s *Server) Ready(ctx context.Context) bool {
	resp, err := s.health.Check(ctx, &healthpb.HealthCheckRequest{Service: ServiceName})
	return err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING
}

// model returns the cached client and description of a model.
func (s *Server) model(name string) (*modelEntry, error) {
	if name == "" {
		name = s.opts.defaultModel
	}
	if name == "" {
		return nil, invalidArgument("model: required: this sidecar has no default model")
	}
	if len(name) > MaxNameLength {
		return nil, invalidArgument("model: longer than %d bytes", MaxNameLength)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.models[name]
	if !ok {
		e = &modelEntry{client: s.opts.metrics.client(s.newClient(name))}
		if len(s.models) < maxCachedModels {
			s.models[name] = e
		}
	}
	return e, nil
}

// describe fetches the model's description once; a failure is not cached,
// so a model server that comes up later is described then.
func (s *Server) describe(ctx context.Context, name string) (*modelEntry, predictor.ModelInfo, error) {
	e, err := s.model(name)
	if err != nil {
		return nil, predictor.ModelInfo{}, err
	}
	s.mu.Lock()
	info, described := e.info, e.described
	s.mu.Unlock()
	if described {
		return e, info, nil
	}
	info, err = e.client.Describe(ctx)
	if err != nil {
		return nil, predictor.ModelInfo{}, err
	}
	if len(info.ClassNames) == 0 && len(s.opts.classNames) > 0 && modelName(name, s.opts.defaultModel) == s.opts.defaultModel {
		info.ClassNames = s.opts.classNames
	}
	s.mu.Lock()
	first := !e.described
	e.info, e.described = info, true
	s.mu.Unlock()
	if first { // once per model: which rule sets the batches' rows
		rows, rule := batchRows(s.opts.maxBatchSize, info)
		s.opts.logger.InfoContext(ctx, "model described", "model", modelName(name, s.opts.defaultModel),
			"max_batch_rows", batchRowsText(rows), "batch_rule", rule)
	}
	return e, info, nil
}

// scheduler returns the model's scheduler, made on first use with the
// limits of info: every job on the model shares it, and --in-flight is per
// model. A scheduler runs goroutines only while it has work, so one that
// falls out of the model cache needs no closing.
func (s *Server) scheduler(e *modelEntry, info predictor.ModelInfo) *scheduler.Scheduler {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.sched == nil {
		opts := []scheduler.Option{
			scheduler.WithMaxBatchSize(s.batchSize(info)),
			scheduler.WithInFlight(s.opts.inFlight),
			scheduler.WithMaxBatchBytes(s.opts.maxBatchBytes),
			scheduler.WithLinger(s.opts.batchLinger),
		}
		if info.NumClasses > 0 {
			opts = append(opts, scheduler.WithNumClasses(info.NumClasses))
		}
		e.sched = scheduler.New(e.client, opts...)
	}
	return e.sched
}
