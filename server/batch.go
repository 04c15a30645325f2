package server

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/explainer-sidecar/explainer/engine"
	"github.com/explainer-sidecar/explainer/explain"
	"github.com/explainer-sidecar/explainer/predictor"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// Batch jobs: many instances explained by one job (ExplainRequest.batch).
// The registry's batch parse of a method builds an engine.Batch whose
// instance i is the single request with seed + i; engine.ExplainBatch runs
// them on the job's one scheduler job, so that the model's calls carry the
// rows of many instances.

// Limits of a batch job, named in the errors that enforce them.
const (
	// MaxBatchInstances caps the instances of one batch job.
	MaxBatchInstances = 10_000
	// MaxBatchSampleValues caps what the instances a batch runs at once
	// hold together, in values (8 bytes each): each running instance
	// holds its samples (samples × players), the rows it scores
	// (KernelSHAP: every coalition's copy of the background) or, for
	// images, the pixels of the samples being built (at most 2^24 values
	// an instance). Fewer instances run at once than --batch-concurrency
	// when they would exceed it; one always runs.
	MaxBatchSampleValues = 1 << 25
)

// batchParse builds the batch job of a method's batch request.
type batchParse func(ctx context.Context, in *parseInput, b *batchInstances) (*batchJob, error)

// batchJob is a validated batch: the engine's batch (Method, Seed,
// Instances, Score and PickLabel are filled by the server) and the spec of
// instance 0, which sizes the job (rows, players, the image shape).
type batchJob struct {
	engine.Batch
	first *jobSpec
}

// batchOf is the batch parse of a method that shares nothing between
// instances but the options: instance i is parse's job of the single
// request, built as a client would build it.
func batchOf(parse func(context.Context, *parseInput) (*jobSpec, error)) batchParse {
	return func(ctx context.Context, in *parseInput, b *batchInstances) (*batchJob, error) {
		single := func(ctx context.Context, i int, labels []int) (*jobSpec, error) {
			seed := in.seed + uint64(i)
			return parse(ctx, &parseInput{req: singleRequest(in.req, b.instance(i), seed, labels), info: in.info, seed: seed, callRows: in.callRows})
		}
		first, err := single(ctx, 0, nil)
		if err != nil {
			return nil, err
		}
		bj := &batchJob{first: first, Batch: engine.Batch{
			Instance: func(ctx context.Context, i int, labels []int) (*engine.Spec, error) {
				spec, err := single(ctx, i, labels)
				if err != nil {
					return nil, err
				}
				return &spec.Spec, nil
			},
		}}
		if b.texts != nil {
			bj.Key = explain.KeyDescription
		}
		bj.Names = b.names // rows' (nil for texts and images)
		return bj, nil
	}
}

// withoutPick is parse for a method whose results have no attributions:
// a batch of it has no SP-LIME pick, for the reason why.
func withoutPick(parse batchParse, why string) batchParse {
	return func(ctx context.Context, in *parseInput, b *batchInstances) (*batchJob, error) {
		if in.req.GetBatch().GetSubmodularPick() > 0 {
			return nil, invalidArgument("batch.submodular_pick: %s to pick instances by", why)
		}
		return parse(ctx, in, b)
	}
}

// singleRequest is the single request of one instance of the batch
// request req: the same options, with seed (for methods that have one)
// and, when labels is not nil, those labels instead of the options'. The
// options are copied shallowly: the copy shares their data sets.
func singleRequest(req *explainerv1.ExplainRequest, inst *explainerv1.Instance, seed uint64, labels []int) *explainerv1.ExplainRequest {
	out := &explainerv1.ExplainRequest{Model: req.GetModel(), Instance: inst, AutoSampling: req.GetAutoSampling(), Evaluation: req.GetEvaluation()}
	fd := req.ProtoReflect().WhichOneof(methodOneof)
	o := req.ProtoReflect().Get(fd).Message()
	c := o.New()
	o.Range(func(f protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		c.Set(f, v)
		return true
	})
	fields := c.Descriptor().Fields()
	if f := fields.ByName("seed"); f != nil {
		c.Set(f, protoreflect.ValueOfUint64(seed))
	}
	if labels != nil {
		if f := fields.ByName("labels"); f != nil {
			l := c.NewField(f).List()
			for _, v := range labels {
				l.Append(protoreflect.ValueOfUint32(uint32(v)))
			}
			c.Set(f, protoreflect.ValueOfList(l))
		}
		if f := fields.ByName("top_labels"); f != nil {
			c.Clear(f)
		}
	}
	out.ProtoReflect().Set(fd, protoreflect.ValueOfMessage(c))
	return out
}

// picksLabel tells whether a batch of req picks the label its instances
// explain: the method's options have labels and the request names none
// (labels or top_labels). Methods without labels (anchors explain each
// instance's own prediction, counterfactuals leave it) pick none.
func picksLabel(req *explainerv1.ExplainRequest) bool {
	o := methodOptions(req)
	if o == nil {
		return false
	}
	fields := o.Descriptor().Fields()
	if fields.ByName("labels") == nil {
		return false
	}
	for _, name := range []protoreflect.Name{"labels", "top_labels"} {
		if f := fields.ByName(name); f != nil && o.Has(f) {
			return false
		}
	}
	return true
}

// batchMethodNames lists the methods that take a batch.
func batchMethodNames() string {
	var names []string
	for _, n := range methodNames() {
		if methods[protoreflect.Name(n)].batch != nil {
			names = append(names, n)
		}
	}
	return strings.Join(names, ", ")
}

// parseBatch validates a batch request (receiving its streamed rows from
// data) and builds its job: the engine's batch, filled in, its instances
// and the options every instance runs with.
func (s *Server) parseBatch(ctx context.Context, req *explainerv1.ExplainRequest, info predictor.ModelInfo, data <-chan *explainerv1.DataChunk) (string, *batchJob, *batchInstances, engine.Options, error) {
	var opts engine.Options
	name, m, err := lookupMethod(req)
	if err != nil {
		return "", nil, nil, opts, err
	}
	switch {
	case m.batch == nil:
		return "", nil, nil, opts, invalidArgument("batch: %s does not explain instances; these methods take a batch: %s", name, batchMethodNames())
	case req.GetInstance() != nil:
		return "", nil, nil, opts, invalidArgument("instance: leave it unset with batch (the instances are in batch)")
	case req.GetEvaluation() != nil:
		return "", nil, nil, opts, invalidArgument("evaluation: not with batch; evaluate single instances")
	}
	b, err := loadBatch(ctx, req.GetBatch(), info, data)
	if err != nil {
		return "", nil, nil, opts, err
	}
	if pick := int(req.GetBatch().GetSubmodularPick()); pick > b.n {
		return "", nil, nil, opts, invalidArgument("batch.submodular_pick: %d is more than the batch's %d instances", pick, b.n)
	}
	seed := requestSeed(req, rand.Uint64)
	bj, err := m.batch(ctx, &parseInput{req: req, info: info, seed: seed, callRows: callRows(s.batchSize(info), s.opts.inFlight)}, b)
	if err != nil {
		return "", nil, nil, opts, requestError(name, err)
	}
	bj.first.Method = name
	if opts, err = jobOptions(req, bj.first); err != nil {
		return "", nil, nil, opts, err
	}
	bj.Method, bj.Seed, bj.Instances = name, seed, b.n
	bj.PickLabel, bj.Score = picksLabel(req), b.score
	instance := bj.Instance
	bj.Instance = func(ctx context.Context, i int, labels []int) (*engine.Spec, error) {
		spec, err := instance(ctx, i, labels)
		if err != nil {
			return nil, instanceError(name, i, err)
		}
		spec.Method = name
		return spec, nil
	}
	return name, bj, b, opts, nil
}

// runBatch runs a batch job: parse, then engine.ExplainBatch, reporting
// each instance on io.instance as it finishes.
func (s *Server) runBatch(ctx context.Context, req *explainerv1.ExplainRequest, io jobIO, start time.Time, entry *modelEntry, info predictor.ModelInfo) (*explainerv1.Explanation, error) {
	name, bj, b, opts, err := s.parseBatch(ctx, req, info, io.data)
	if err != nil {
		return nil, err
	}
	pick := int(req.GetBatch().GetSubmodularPick())
	seed := bj.Seed

	var done atomic.Int64
	var progress func(*explainerv1.Progress)
	if io.progress != nil {
		progress = func(p *explainerv1.Progress) {
			p.InstancesDone, p.InstancesTotal = uint32(done.Load()), uint32(b.n)
			io.progress(p)
		}
	}
	models := s.newJobModels(s.scheduler(entry, info), bj.first, progress)
	perInstance := bj.first.Rows
	if opts.Auto != nil {
		perInstance = opts.Auto.Max
	}
	models.primary.expect(b.n * (perInstance + 1))

	enc := encoder{model: modelName(req.GetModel(), s.opts.defaultModel), info: info, start: start, calls: func() int64 { return 0 }}
	var exps []*explainerv1.Explanation // unary: every instance's, in order
	if io.instance == nil {
		exps = make([]*explainerv1.Explanation, b.n)
	}
	bo := engine.BatchOptions{
		Concurrency: batchConcurrency(s.opts.batchConcurrency, bj.first, s.callRowsOf(info, bj.first, predictor.ValueBytes(entry.client)), s.opts.inFlight),
		Pick:        pick,
		Failed: func(i int, err error) {
			done.Add(1)
			if exps != nil {
				exps[i] = &explainerv1.Explanation{}
			} else {
				io.instance(&explainerv1.InstanceExplanation{Index: uint32(i), Error: instanceErrorProto(name, i, err)})
			}
		},
		Done: func(i int, o *engine.Outcome) {
			exp := enc.explanation(o.Result)
			if c := o.Convergence; c != nil {
				exp.StopReason = stopReasonProto(c.Reason)
				exp.Rounds, exp.Precision = uint32(c.Last.Round), c.Last.Precision
			}
			done.Add(1)
			if exps != nil {
				exps[i] = exp
			} else {
				io.instance(&explainerv1.InstanceExplanation{Index: uint32(i), Explanation: exp})
			}
			if progress != nil {
				models.primary.reportNow(progress)
			}
		},
	}
	if req.GetBatch().GetSkipFailed() {
		bo.Skip = func(err error) bool { return instanceErrorProto(name, 0, err) != nil }
	}
	out, err := engine.ExplainBatch(ctx, &bj.Batch, models.engine(), opts, bo)
	if err != nil {
		return nil, requestError(name, err)
	}
	method := name // the results' name of it, when an instance was explained
	for _, o := range out.Outcomes {
		if o != nil {
			method = o.Result.Method
			break
		}
	}
	exp := explanationProto(&explain.Result{Method: method, Seed: seed}, enc.model, info,
		uint64(models.primary.job.Calls()), time.Since(start))
	exp.NumSamples = uint64(models.primary.requested.Load())
	exp.Batch = batchProto(out, exps, info)
	for _, i := range slices.Sorted(maps.Keys(out.Failed)) {
		exp.Batch.Failures = append(exp.Batch.Failures, instanceErrorProto(name, i, out.Failed[i]))
	}
	return exp, nil
}

// instanceErrorProto is instance i's error as InstanceBatch.skip_failed
// reports it, or nil when it is not the instance's own (a refused request,
// INVALID_ARGUMENT or FAILED_PRECONDITION) and so ends the batch.
func instanceErrorProto(method string, i int, err error) *explainerv1.InstanceError {
	st, ok := status.FromError(requestError(method, err))
	if !ok {
		return nil
	}
	code := map[codes.Code]string{codes.InvalidArgument: "INVALID_ARGUMENT", codes.FailedPrecondition: "FAILED_PRECONDITION"}[st.Code()]
	if code == "" {
		return nil
	}
	msg := st.Message()
	if _, rest, ok := BatchInstanceError(msg); ok {
		msg = rest // the index has a field of its own
	}
	return &explainerv1.InstanceError{Index: uint32(i), Code: code, Message: msg}
}

// instanceError names instance i in a request error of its parse.
func instanceError(method string, i int, err error) error {
	err = requestError(method, err)
	if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown {
		return status.Errorf(st.Code(), "%s%d: %s", batchInstancePrefix, i, st.Message())
	}
	return fmt.Errorf("%s%d: %w", batchInstancePrefix, i, err)
}

// batchInstancePrefix starts the message of an error of one instance of a
// batch, before its index.
const batchInstancePrefix = "batch instance "

// BatchInstanceError splits the message of a batch job's error into the
// instance it names and the rest, when it names one ("batch instance 3:
// instance.text: has no words"): KServe's :explain reports it as its
// instances[3].
func BatchInstanceError(msg string) (instance int, rest string, ok bool) {
	s, ok := strings.CutPrefix(msg, batchInstancePrefix)
	if !ok {
		return 0, "", false
	}
	n, rest, ok := strings.Cut(s, ": ")
	if !ok {
		return 0, "", false
	}
	i, err := strconv.Atoi(n)
	if err != nil {
		return 0, "", false
	}
	return i, rest, true
}

// batchConcurrency is the instances a batch of first's instances runs at
// once: limit when set, else enough instances for two rounds of full calls
// (perCall rows a call, inFlight calls at once), at least
// engine.DefaultBatchConcurrency; fewer when they would hold more than
// MaxBatchSampleValues together, and at least one. Two rounds, because an
// instance's rows go to the model only once it has drawn them all, and come
// back only when its last call does: with fewer instances running, a model
// without a row cap gets a round of small calls per few instances (100
// LIME rows of 500 samples, 5 features, 20 ms a call: 20 calls and 149 ms
// at 32 at once, 5 calls and 88 ms with all 100).
func batchConcurrency(limit int, first *jobSpec, perCall, inFlight int) int {
	if limit <= 0 {
		need := 2 * max(1, inFlight) * max(1, perCall)
		limit = max(engine.DefaultBatchConcurrency, (need+max(1, first.Rows)-1)/max(1, first.Rows))
	}
	return max(1, min(limit, MaxBatchSampleValues/instanceValues(first)))
}

// callRowsOf is how many of spec's rows one model call takes: the model's
// batch size, or fewer when the bytes limit binds first (a row of an image
// is its pixels, else one value per player, valueBytes each).
func (s *Server) callRowsOf(info predictor.ModelInfo, spec *jobSpec, valueBytes int) int {
	width := max(1, spec.Players)
	if spec.shape != nil {
		width = 1
		for _, d := range spec.shape {
			width *= d
		}
	}
	bytes := s.opts.maxBatchBytes
	if bytes <= 0 {
		bytes = predictor.DefaultMaxBatchBytes // the scheduler's default
	}
	return max(1, min(s.batchSize(info), bytes/(max(1, valueBytes)*width)))
}

// instanceValues estimates the values one running instance of spec holds.
func instanceValues(spec *jobSpec) int {
	rows := max(1, spec.Rows)
	v := rows*max(1, spec.Players) + spec.values
	if spec.shape != nil { // the images being built, in chunks
		pixels := 1
		for _, d := range spec.shape {
			pixels *= d
		}
		v += min(rows*pixels, 1<<24)
	}
	return max(1, v)
}

// reportNow reports the progress so far (a batch's instance finished).
func (m *jobModel) reportNow(progress func(*explainerv1.Progress)) {
	m.progressMu.Lock()
	defer m.progressMu.Unlock()
	done := max(m.scored.Load(), m.reported)
	m.reported = done
	total := max(m.expected.Load(), m.requested.Load(), done)
	progress(&explainerv1.Progress{SamplesScored: uint64(done), SamplesTotal: uint64(total), ModelCalls: uint64(m.job.Calls())})
}

// batchProto encodes a batch's outcome; exps are the instances'
// explanations (nil when they were streamed).
func batchProto(out *engine.BatchOutcome, exps []*explainerv1.Explanation, info predictor.ModelInfo) *explainerv1.BatchExplanation {
	bp := &explainerv1.BatchExplanation{Instances: uint32(len(out.Outcomes)), Explanations: exps}
	if out.Picked >= 0 {
		bp.LabelPicked, bp.Label, bp.LabelCount = true, uint32(out.Picked), uint32(out.PickedCount)
	}
	for _, s := range out.Summaries {
		sp := &explainerv1.BatchSummary{Label: uint32(s.Label), Coverage: s.Coverage, TotalImportance: s.TotalImportance}
		if s.Label < len(info.ClassNames) {
			sp.ClassName = info.ClassNames[s.Label]
		}
		for _, f := range s.Features {
			sp.Features = append(sp.Features, &explainerv1.GlobalAttribution{
				Index: uint32(f.Index), Feature: f.Name, MeanAbs: f.MeanAbs, StdError: f.StdErr, Mean: f.Mean, Count: uint32(f.Count),
			})
		}
		for _, i := range s.Pick {
			sp.Picked = append(sp.Picked, uint32(i))
		}
		bp.Summaries = append(bp.Summaries, sp)
	}
	if a := out.Anchors; a != nil {
		bp.Anchors = &explainerv1.AnchorBatchSummary{
			Anchors: uint32(a.Anchors), ThresholdMet: uint32(a.ThresholdMet),
			MeanPrecision: a.MeanPrecision, MeanCoverage: a.MeanCoverage, MeanPredicates: a.MeanPredicates,
			Features: ruleFeaturesProto(a.Features),
		}
	}
	if c := out.Counterfactuals; c != nil {
		bp.Counterfactuals = &explainerv1.CounterfactualBatchSummary{
			Searched: uint32(c.Searched), Found: uint32(c.Found),
			MeanSparsity: c.MeanSparsity, MeanProximity: c.MeanProximity,
			Features: ruleFeaturesProto(c.Features),
		}
	}
	return bp
}

func ruleFeaturesProto(feats []explain.RuleFeature) []*explainerv1.RuleFeature {
	out := make([]*explainerv1.RuleFeature, len(feats))
	for i, f := range feats {
		out[i] = &explainerv1.RuleFeature{Index: uint32(f.Index), Feature: f.Name, Count: uint32(f.Count), MeanScaled: f.MeanScaled}
	}
	return out
}
