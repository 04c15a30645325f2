package server

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/explainer-sidecar/explainer/explain"
	"github.com/explainer-sidecar/explainer/predictor"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
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
	health    *health.Server
	slots     chan struct{} // admission: one token per running job

	mu     sync.Mutex
	models map[string]*modelEntry

	// jobs is the parent of every job's context: CancelJobs ends it.
	jobs         context.Context
	cancelJobs   context.CancelFunc
	shuttingDown atomic.Bool
}

type modelEntry struct {
	client    predictor.Client
	described bool // info holds the model server's answer (guarded by Server.mu)
	info      predictor.ModelInfo
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
	jobs, cancelJobs := context.WithCancel(context.Background())
	s := &Server{
		jobs:       jobs,
		cancelJobs: cancelJobs,
		opts:       o,
		newClient:  newClient,
		health:     health.NewServer(),
		slots:      make(chan struct{}, o.maxConcurrentJobs),
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
}

// Shutdown marks every service NOT_SERVING and refuses new jobs with
// UNAVAILABLE "server shutting down"; running jobs go on. Call it before
// stopping the gRPC server so that load balancers stop sending work.
func (s *Server) Shutdown() {
	s.shuttingDown.Store(true)
	s.health.Shutdown()
}

// CancelJobs ends every running job with UNAVAILABLE "server shutting
// down": for when the drain period is over.
func (s *Server) CancelJobs() {
	s.shuttingDown.Store(true)
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
	release, err := s.admit()
	if err != nil {
		return nil, err
	}
	defer release()
	exp, err := s.run(ctx, req, nil)
	if err != nil {
		return nil, toStatus(s.opts.logger, err).Err()
	}
	return &explainerv1.ExplainResponse{Explanation: exp}, nil
}

// admit takes a job slot or refuses with RESOURCE_EXHAUSTED.
func (s *Server) admit() (release func(), err error) {
	if s.shuttingDown.Load() {
		return nil, errShuttingDown
	}
	select {
	case s.slots <- struct{}{}:
		return func() { <-s.slots }, nil
	default:
		return nil, status.Errorf(codes.ResourceExhausted, "too many concurrent jobs (limit %d); retry later", cap(s.slots))
	}
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
		e = &modelEntry{client: s.newClient(name)}
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
	s.mu.Lock()
	e.info, e.described = info, true
	s.mu.Unlock()
	return e, info, nil
}

// run executes one job; progress, when not nil, is called as samples are
// scored (from the batcher's goroutines).
func (s *Server) run(ctx context.Context, req *explainerv1.ExplainRequest, progress func(*explainerv1.Progress)) (_ *explainerv1.Explanation, err error) {
	start := time.Now()
	defer func() {
		if err != nil && s.jobs.Err() != nil {
			err = errShuttingDown
		}
	}()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.jobs, cancel)()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.opts.jobTimeout)
		defer cancel()
	}
	if req.GetLime() == nil {
		return nil, invalidArgument("method: must be set (lime)")
	}
	entry, info, err := s.describe(ctx, req.GetModel())
	if err != nil {
		return nil, err
	}
	if info.NumFeatures > 0 {
		if got := len(req.GetInstance().GetTabular().GetValues()); got != info.NumFeatures && got > 0 {
			return nil, invalidArgument("instance.tabular.values: instance has %d features, model expects %d", got, info.NumFeatures)
		}
	}
	job, err := parseLIME(req, &limeDefaults{classes: info.NumClasses, randomSeed: rand.Uint64})
	if err != nil {
		return nil, err
	}
	total := uint64(job.req.NumSamples)
	var scored atomic.Uint64
	batcherOpts := []predictor.BatcherOption{
		predictor.WithMaxBatchSize(s.batchSize(info)),
		predictor.WithInFlight(s.opts.inFlight),
	}
	if info.NumClasses > 0 {
		batcherOpts = append(batcherOpts, predictor.WithNumClasses(info.NumClasses))
	}
	var batcher *predictor.Batcher
	if progress != nil {
		batcherOpts = append(batcherOpts, predictor.WithObserver(func(rows int) {
			done := scored.Add(uint64(rows))
			progress(&explainerv1.Progress{SamplesScored: done, SamplesTotal: total, ModelCalls: uint64(batcher.Calls())})
		}))
	}
	batcher = predictor.NewBatcher(entry.client, batcherOpts...)
	res, err := explain.LIME(ctx, batcher, job.req)
	if err != nil {
		return nil, err
	}
	return explanationProto(res, modelName(req.GetModel(), s.opts.defaultModel), info, uint64(batcher.Calls()), time.Since(start)), nil
}

func (s *Server) batchSize(info predictor.ModelInfo) int {
	n := s.opts.maxBatchSize
	if n == 0 {
		n = info.MaxBatchSize
	}
	if n == 0 {
		n = DefaultMaxBatchSize
	}
	if info.MaxBatchSize > 0 && n > info.MaxBatchSize {
		n = info.MaxBatchSize
	}
	return n
}

func modelName(requested, def string) string {
	if requested != "" {
		return requested
	}
	return def
}

func explanationProto(res *explain.Result, model string, info predictor.ModelInfo, calls uint64, elapsed time.Duration) *explainerv1.Explanation {
	exp := &explainerv1.Explanation{
		Method:           res.Method,
		Model:            model,
		InstanceScores:   res.InstanceScores,
		ClassNames:       info.ClassNames,
		Seed:             res.Seed,
		NumSamples:       uint64(res.NumSamples),
		ModelCalls:       calls,
		Elapsed:          durationpb.New(elapsed),
		FeatureSelection: featureSelectionProto(res.Selection),
		KernelWidth:      res.KernelWidth,
	}
	for _, l := range res.Labels {
		le := &explainerv1.LabelExplanation{
			Label:           uint32(l.Label),
			Prediction:      l.Prediction,
			Intercept:       l.Intercept,
			Score:           l.Score,
			LocalPrediction: l.LocalPrediction,
		}
		if l.Label < len(info.ClassNames) {
			le.ClassName = info.ClassNames[l.Label]
		}
		for _, a := range l.Attributions {
			le.Attributions = append(le.Attributions, &explainerv1.Attribution{
				Index: uint32(a.Index), Feature: a.Description, Weight: a.Weight,
			})
		}
		exp.Labels = append(exp.Labels, le)
	}
	return exp
}
