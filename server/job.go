package server

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/explainer-sidecar/explainer/engine"
	"github.com/explainer-sidecar/explainer/explain"
	"github.com/explainer-sidecar/explainer/predictor"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
	"github.com/explainer-sidecar/explainer/scheduler"
)

// jobIO is what a job exchanges with its RPC besides the request. Every
// field may be nil (unary Explain has none).
type jobIO struct {
	// progress reports samples scored; called from the batcher's goroutines.
	progress func(*explainerv1.Progress)
	// partial reports an interim result.
	partial func(*explainerv1.Explanation)
	// data delivers the chunks of a streamed data set; closed when the
	// client stops sending.
	data <-chan *explainerv1.DataChunk
	// instance reports a batch job's instance as it finishes; nil when the
	// job's result is to carry them all (unary Explain).
	instance func(*explainerv1.InstanceExplanation)
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

// runJob decodes req into a job, runs it on the engine and encodes the
// outcome.
func (s *Server) runJob(ctx context.Context, req *explainerv1.ExplainRequest, io jobIO, start time.Time) (*explainerv1.Explanation, error) {
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
	if _, _, err := lookupMethod(req); err != nil {
		return nil, err
	}
	entry, info, err := s.describe(ctx, req.GetModel())
	if err != nil {
		return nil, err
	}
	if req.GetBatch() != nil {
		return s.runBatch(ctx, req, io, start, entry, info)
	}
	name, spec, err := s.parseJob(ctx, req, info, io.data)
	if err != nil {
		return nil, err
	}
	opts, err := jobOptions(req, spec)
	if err != nil {
		return nil, err
	}
	models := s.newJobModels(s.scheduler(entry, info), spec, io.progress)
	if opts.Auto != nil {
		models.primary.expect(opts.Auto.Max)
	} else {
		models.primary.expect(spec.Rows)
	}
	enc := encoder{model: modelName(req.GetModel(), s.opts.defaultModel), info: info, start: start, calls: models.primary.job.Calls}
	if io.partial != nil {
		opts.Partial = func(p engine.Partial) { io.partial(enc.partial(p)) }
	}
	out, err := engine.Explain(ctx, &spec.Spec, models.engine(), opts)
	if err != nil {
		return nil, requestError(name, err)
	}
	exp := enc.explanation(out.Result)
	if spec.bands > 0 {
		exp.BandsDone, exp.BandsTotal = uint32(spec.bands), uint32(spec.bands)
	}
	if c := out.Convergence; c != nil {
		exp.StopReason = stopReasonProto(c.Reason)
		exp.Rounds, exp.Precision = uint32(c.Last.Round), c.Last.Precision
	}
	if req.GetEvaluation() != nil && ctx.Err() == nil {
		calls, rows := models.checkCost()
		exp.Evaluation = evaluationProto(out, calls, rows)
	}
	return exp, nil
}

// jobModels are the models of one job: its own, with progress, and the
// checks' (stability's extra runs, the curves). All are jobs of the
// model's one scheduler, which packs their rows with every other job's
// into the model's batches under one in-flight cap; each counts its own
// calls, so that the checks' cost is reported apart.
type jobModels struct {
	primary *jobModel
	mu      sync.Mutex
	checks  []*jobModel
	// newCheck makes a checks' model: a job of the same scheduler, with
	// the same instance shape, without progress.
	newCheck func() *jobModel
}

func (s *Server) newJobModels(sched *scheduler.Scheduler, spec *jobSpec, progress func(*explainerv1.Progress)) *jobModels {
	var shape []scheduler.JobOption
	if spec.shape != nil {
		shape = append(shape, scheduler.WithInstanceShape(spec.shape...))
	}
	ms := &jobModels{primary: s.newJobModel(sched, progress, shape...)}
	ms.newCheck = func() *jobModel { return s.newJobModel(sched, nil, shape...) }
	return ms
}

// engine returns the models as the engine takes them.
func (ms *jobModels) engine() engine.Models {
	return engine.Models{Primary: ms.primary, Extra: func() engine.Scorer {
		m := ms.newCheck()
		ms.mu.Lock()
		ms.checks = append(ms.checks, m)
		ms.mu.Unlock()
		return m
	}}
}

// checkCost returns the model calls and rows of the checks' models.
func (ms *jobModels) checkCost() (calls, rows uint64) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	for _, m := range ms.checks {
		calls += uint64(m.job.Calls())
		rows += uint64(m.requested.Load())
	}
	return calls, rows
}

// jobModel is the model a job's estimator calls: a job of the model's
// scheduler, counting rows for progress.
type jobModel struct {
	job       *scheduler.Job
	expected  atomic.Int64 // rows the job will score, when known up front
	requested atomic.Int64 // rows asked for so far
	scored    atomic.Int64
	metrics   *Metrics
	// progressMu orders the progress reports of calls finishing at once,
	// so that a client never sees samples_scored go down.
	progressMu sync.Mutex
	reported   int64
}

func (s *Server) newJobModel(sched *scheduler.Scheduler, progress func(*explainerv1.Progress), opts ...scheduler.JobOption) *jobModel {
	m := &jobModel{metrics: s.opts.metrics}
	if progress != nil {
		opts = append(opts, scheduler.WithProgress(func(rows int) {
			m.progressMu.Lock()
			defer m.progressMu.Unlock()
			done := m.scored.Add(int64(rows))
			if done <= m.reported {
				return
			}
			m.reported = done
			total := max(m.expected.Load(), m.requested.Load(), done)
			progress(&explainerv1.Progress{SamplesScored: uint64(done), SamplesTotal: uint64(total), ModelCalls: uint64(m.job.Calls())})
		}))
	}
	m.job = sched.NewJob(opts...)
	return m
}

func (m *jobModel) expect(rows int) { m.expected.Store(int64(rows)) }

// PredictText implements explain.TextModel.
func (m *jobModel) PredictText(ctx context.Context, texts []string) ([][]float64, error) {
	m.requested.Add(int64(len(texts)))
	out, err := m.job.PredictText(ctx, texts)
	m.metrics.scored(len(texts), err)
	return out, err
}

// Predict implements explain.Model.
func (m *jobModel) Predict(ctx context.Context, rows [][]float64) ([][]float64, error) {
	m.requested.Add(int64(len(rows)))
	out, err := m.job.Predict(ctx, rows)
	m.metrics.scored(len(rows), err)
	return out, err
}

// batchSize is the most rows per model call: see batchRows.
func (s *Server) batchSize(info predictor.ModelInfo) int {
	n, _ := batchRows(s.opts.maxBatchSize, info)
	return n
}

func modelName(requested, def string) string {
	if requested != "" {
		return requested
	}
	return def
}

// Limits of ExplainRequest.evaluation.
const (
	MaxStabilityRuns = 16
	maxRandomOrders  = explain.MaxRandomOrders
	maxCurveSteps    = explain.MaxCurveSteps
)

// jobOptions validates the request's auto sampling and evaluation for
// spec.
func jobOptions(req *explainerv1.ExplainRequest, spec *jobSpec) (engine.Options, error) {
	var opts engine.Options
	auto, err := parseAuto(req, spec)
	if err != nil {
		return opts, err
	}
	opts.Auto = auto
	e := req.GetEvaluation()
	if e == nil {
		return opts, nil
	}
	const field = "evaluation"
	switch runs := e.GetStabilityRuns(); {
	case runs == 1 || runs > MaxStabilityRuns:
		return opts, invalidArgument("%s.stability_runs: 0 (off) or 2 to %d", field, MaxStabilityRuns)
	case runs > 0 && !spec.Seeded:
		return opts, invalidArgument("%s.stability_runs: the method is deterministic, every seed gives the same result", field)
	}
	if e.GetRandomOrders() > maxRandomOrders {
		return opts, invalidArgument("%s.random_orders: at most %d", field, maxRandomOrders)
	}
	if e.GetCurveSteps() > maxCurveSteps {
		return opts, invalidArgument("%s.curve_steps: at most %d", field, maxCurveSteps)
	}
	if e.GetStabilityRuns() == 0 && !e.GetFidelityCurves() {
		return opts, invalidArgument("%s: ask for stability_runs, fidelity_curves or both", field)
	}
	if e.GetFidelityCurves() && spec.Curves == nil {
		return opts, invalidArgument("%s.fidelity_curves: the method has no attributions to delete or insert", field)
	}
	opts.StabilityRuns, opts.TopK = int(e.GetStabilityRuns()), int(e.GetTopK())
	if e.GetFidelityCurves() {
		opts.Curves = &explain.CurveOptions{Steps: int(e.GetCurveSteps()), RandomOrders: int(e.GetRandomOrders())}
	}
	return opts, nil
}

// parseAuto validates req.auto_sampling for spec; nil when it is unset.
func parseAuto(req *explainerv1.ExplainRequest, spec *jobSpec) (*explain.AutoSampling, error) {
	a := req.GetAutoSampling()
	if a == nil {
		return nil, nil
	}
	const field = "auto_sampling"
	if !spec.Sampled {
		return nil, invalidArgument("%s: only lime, lime_text, lime_image and kernel_shap draw samples", field)
	}
	if n, name := requestSamples(req); n != 0 {
		return nil, invalidArgument("%s: must be 0 with auto_sampling (the rounds choose it)", name)
	}
	if a.GetTolerance() == 0 && !a.GetStableRanking() {
		return nil, invalidArgument("%s: set tolerance or stable_ranking; without a target every job spends the whole budget", field)
	}
	auto, err := explain.AutoSampling{
		Initial:       int(a.GetInitialSamples()),
		Max:           int(a.GetMaxSamples()),
		Tolerance:     a.GetTolerance(),
		TopK:          int(a.GetTopK()),
		StableRanking: a.GetStableRanking(),
	}.Resolve()
	switch {
	case err != nil:
		return nil, requestError(field, err)
	case auto.Max > explain.MaxNumSamples:
		return nil, invalidArgument("%s.max_samples: at most %d", field, explain.MaxNumSamples)
	}
	return &auto, nil
}
