package server

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
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
	health    *healthServer
	admission *admission
	slots     chan struct{} // admission.slots: one token per running job

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
		slots:      adm.slots,
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
	s.mu.Lock()
	e.info, e.described = info, true
	s.mu.Unlock()
	return e, info, nil
}

// jobIO is what a job exchanges with its RPC besides the request. Every
// field may be nil (unary Explain has none).
type jobIO struct {
	// progress reports samples scored; called from the batcher's goroutines.
	progress func(*explainerv1.Progress)
	// partial reports an interim result (permutation importance).
	partial func(*explainerv1.Explanation)
	// data delivers the chunks of a streamed data set; closed when the
	// client stops sending.
	data <-chan *explainerv1.DataChunk
}

// run executes one admitted job and records its metrics. Its error is a
// status (see toStatus); an unexpected error is logged with the request id.
func (s *Server) run(ctx context.Context, req *explainerv1.ExplainRequest, io jobIO) (exp *explainerv1.Explanation, err error) {
	start := time.Now()
	panicked := true
	defer func() {
		code := codes.Internal // a panic on its way to the recovery
		if !panicked {
			code = status.Code(err)
		}
		s.opts.metrics.jobFinished(methodLabel(req), code, time.Since(start))
	}()
	exp, err = s.runJob(ctx, req, io, start)
	panicked = false
	if err != nil && s.jobs.Err() != nil {
		err = errShuttingDown
	}
	if err != nil {
		return nil, toStatus(s.jobLogger(ctx), err).Err()
	}
	return exp, nil
}

// errDeadlineTooClose fails a job started with less than the deadline
// floor left.
var errDeadlineTooClose = status.Error(codes.DeadlineExceeded, "job deadline too close to start a job")

// runJob executes one job.
func (s *Server) runJob(ctx context.Context, req *explainerv1.ExplainRequest, io jobIO, start time.Time) (_ *explainerv1.Explanation, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.jobs, cancel)()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.opts.jobTimeout)
		defer cancel()
	}
	if d, _ := ctx.Deadline(); time.Until(d) < s.opts.deadlineFloor {
		return nil, errDeadlineTooClose
	}
	if req.GetMethod() == nil {
		return nil, invalidArgument("method: must be set (lime, lime_text, kernel_shap, permutation or sensitivity)")
	}
	entry, info, err := s.describe(ctx, req.GetModel())
	if err != nil {
		return nil, err
	}
	model := modelName(req.GetModel(), s.opts.defaultModel)
	var j *job
	toProto := func(res *explain.Result) *explainerv1.Explanation {
		return explanationProto(res, model, info, uint64(j.model.batcher.Calls()), time.Since(start))
	}
	j, err = s.parseJob(ctx, req, entry, info, s.newJobModel(entry.client, info, io.progress), io, toProto)
	if err != nil {
		return nil, err
	}
	auto, err := parseAuto(req, j)
	if err != nil {
		return nil, err
	}
	eval, err := parseEvaluation(req, j)
	if err != nil {
		return nil, err
	}
	if auto != nil {
		j.model.expect(auto.Max)
	} else {
		j.model.expect(j.rows)
	}
	var onRound func(explain.Round)
	if io.partial != nil {
		onRound = func(r explain.Round) {
			exp := toProto(r.Result)
			j.finish(exp, r.Result)
			exp.Rounds, exp.Precision = uint32(r.Round), r.Precision
			io.partial(exp)
		}
	}
	res, conv, runs, err := s.explainJob(ctx, j, auto, max(1, int(eval.GetStabilityRuns())), onRound)
	if err != nil {
		return nil, err
	}
	exp := toProto(res)
	j.finish(exp, res)
	if auto != nil {
		exp.StopReason = stopReasonProto(conv.Reason)
		exp.Rounds, exp.Precision = uint32(conv.Last.Round), conv.Last.Precision
	}
	// A cancelled auto-sampled job returns its last round; its checks would
	// only fail.
	if eval != nil && ctx.Err() == nil {
		if exp.Evaluation, err = s.evaluate(ctx, j, eval, res, runs); err != nil {
			return nil, err
		}
	}
	return exp, nil
}

// permutationRows is the number of rows permutation importance scores:
// the baseline over all rows, then every group on every repeat over the
// (sub)sampled rows, as scikit-learn's max_samples reads.
func permutationRows(r explain.PermutationRequest) int {
	n := len(r.Data)
	sub := n
	switch {
	case r.MaxSamples > 0 && r.MaxSamples <= 1:
		sub = int(r.MaxSamples * float64(n))
	case r.MaxSamples > 1:
		sub = min(n, int(r.MaxSamples))
	}
	g := len(r.Groups)
	if g == 0 {
		g = len(r.Data[0])
	}
	repeats := r.Repeats
	if repeats == 0 {
		repeats = 5
	}
	return n + g*repeats*sub
}

// jobModel is the model a job's estimator calls: the batcher over the
// model client, counting rows for progress.
type jobModel struct {
	batcher   *predictor.Batcher
	expected  atomic.Int64 // rows the job will score, when known up front
	requested atomic.Int64 // rows asked for so far
	scored    atomic.Int64
	metrics   *Metrics
	// progressMu orders the progress reports of batches finishing at once,
	// so that a client never sees samples_scored go down.
	progressMu sync.Mutex
	reported   int64
}

func (s *Server) newJobModel(c predictor.Client, info predictor.ModelInfo, progress func(*explainerv1.Progress), extra ...predictor.BatcherOption) *jobModel {
	m := &jobModel{metrics: s.opts.metrics}
	opts := []predictor.BatcherOption{
		predictor.WithMaxBatchSize(s.batchSize(info)),
		predictor.WithInFlight(s.opts.inFlight),
		predictor.WithMaxBatchBytes(s.opts.maxBatchBytes),
	}
	if info.NumClasses > 0 {
		opts = append(opts, predictor.WithNumClasses(info.NumClasses))
	}
	if progress != nil {
		opts = append(opts, predictor.WithObserver(func(rows int) {
			m.progressMu.Lock()
			defer m.progressMu.Unlock()
			done := m.scored.Add(int64(rows))
			if done <= m.reported {
				return
			}
			m.reported = done
			total := max(m.expected.Load(), m.requested.Load(), done)
			progress(&explainerv1.Progress{SamplesScored: uint64(done), SamplesTotal: uint64(total), ModelCalls: uint64(m.batcher.Calls())})
		}))
	}
	m.batcher = predictor.NewBatcher(c, append(opts, extra...)...)
	return m
}

func (m *jobModel) expect(rows int) { m.expected.Store(int64(rows)) }

// PredictText implements explain.TextModel.
func (m *jobModel) PredictText(ctx context.Context, texts []string) ([][]float64, error) {
	m.requested.Add(int64(len(texts)))
	out, err := m.batcher.PredictText(ctx, texts)
	m.metrics.scored(len(texts), err)
	return out, err
}

// Predict implements explain.Model.
func (m *jobModel) Predict(ctx context.Context, rows [][]float64) ([][]float64, error) {
	m.requested.Add(int64(len(rows)))
	out, err := m.batcher.Predict(ctx, rows)
	m.metrics.scored(len(rows), err)
	return out, err
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
		Method:         res.Method,
		Model:          model,
		InstanceScores: res.InstanceScores,
		ClassNames:     info.ClassNames,
		Seed:           res.Seed,
		NumSamples:     uint64(res.NumSamples),
		ModelCalls:     calls,
		Elapsed:        durationpb.New(elapsed),
		KernelWidth:    res.KernelWidth,
		BaselineScore:  res.BaselineScore,
	}
	if res.Method == "lime" || res.Method == "lime_text" || res.Method == "lime_image" {
		exp.FeatureSelection = featureSelectionProto(res.Selection)
	}
	if res.Scoring != "" {
		exp.Scoring = scoringProto(res.Scoring)
	}
	for _, l := range res.Labels {
		le := &explainerv1.LabelExplanation{
			Label:           uint32(l.Label),
			Prediction:      l.Prediction,
			Intercept:       l.Intercept,
			Score:           l.Score,
			LocalPrediction: l.LocalPrediction,
			BaseValue:       l.BaseValue,
			ModelValue:      l.ModelValue,
		}
		if res.Method != "permutation" && l.Label < len(info.ClassNames) {
			le.ClassName = info.ClassNames[l.Label]
		}
		for _, a := range l.Attributions {
			pa := &explainerv1.Attribution{
				Index: uint32(a.Index), Feature: a.Description, Weight: a.Weight,
				Std: a.Std, Values: a.Values, MeanAbs: a.MeanAbs, StdError: a.StdErr,
			}
			for _, f := range a.Features {
				pa.Features = append(pa.Features, uint32(f))
			}
			le.Attributions = append(le.Attributions, pa)
		}
		exp.Labels = append(exp.Labels, le)
	}
	return exp
}
