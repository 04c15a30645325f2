package server

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/explainer-sidecar/explainer/engine"
	"github.com/explainer-sidecar/explainer/explain"
	"github.com/explainer-sidecar/explainer/predictor"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// The method registry: one entry per case of ExplainRequest.method, each
// registered by its own file (method_<name>.go). An entry turns a request
// into a job spec for the engine; everything else the server does per
// method (metrics labels, streamed data, auto sampling's num_samples, the
// seed's default) is read from the entry or, generically, from the
// method's options message. TestRegistryCoversOneof fails when a case has
// no entry.

// method is one explanation method of the API.
type method struct {
	// parse validates a request and builds its job. Its errors are
	// statuses, or *explain.RequestError naming a field of the method's
	// options (see requestError).
	parse func(ctx context.Context, in *parseInput) (*jobSpec, error)
	// streamsData tells whether the request's data set arrives in
	// DataChunk messages on ExplainStream; nil for methods without one.
	streamsData func(req *explainerv1.ExplainRequest) bool
	// batch builds a batch job (ExplainRequest.batch) from state parsed
	// once for every instance; batchOf(parse) when the instances share
	// nothing but the options; nil for methods without instances.
	batch batchParse
}

// parseInput is what a method's parse gets besides the request.
type parseInput struct {
	req  *explainerv1.ExplainRequest
	info predictor.ModelInfo
	// data delivers a streamed data set's chunks; nil for unary calls.
	data <-chan *explainerv1.DataChunk
	// seed is the options' seed, or a random one when the request set
	// none (methods without a seed ignore it).
	seed uint64
	// callRows is how many rows the model is sent at once (batch size ×
	// batches in flight): occlusion paces its partial results by it.
	callRows int
}

// jobSpec is a validated request: the engine's spec and what the server
// needs around it.
type jobSpec struct {
	engine.Spec
	// shape is the model's instance shape, for the batcher's byte limits
	// (images); nil for a flat row.
	shape []int
	// bands is the number of rows of windows of image occlusion, reported
	// with the final result.
	bands int
	// values is what a run holds besides its samples × players, in
	// values, when the method says (a batch's concurrency); 0 otherwise.
	values int
}

var (
	methodOneof = (&explainerv1.ExplainRequest{}).ProtoReflect().Descriptor().Oneofs().ByName("method")
	methods     = map[protoreflect.Name]method{}
)

// register adds the method serving the oneof case name. It panics on a
// name that is not a case or is registered twice: both are programming
// errors that the first test run finds.
func register(name protoreflect.Name, m method) {
	if methodOneof.Fields().ByName(name) == nil {
		panic(fmt.Sprintf("server: register %q: not a case of ExplainRequest.method", name))
	}
	if _, dup := methods[name]; dup {
		panic(fmt.Sprintf("server: register %q twice", name))
	}
	methods[name] = m
}

// lookupMethod returns the request's method and its name.
func lookupMethod(req *explainerv1.ExplainRequest) (string, method, error) {
	fd := req.ProtoReflect().WhichOneof(methodOneof)
	if fd == nil {
		return "", method{}, invalidArgument("method: must be set (%s)", strings.Join(methodNames(), ", "))
	}
	m, ok := methods[fd.Name()]
	if !ok {
		return "", method{}, invalidArgument("method: %s is not served by this sidecar", fd.Name())
	}
	return string(fd.Name()), m, nil
}

// methodNames lists the registered methods, sorted.
func methodNames() []string {
	names := make([]string, 0, len(methods))
	for n := range methods {
		names = append(names, string(n))
	}
	slices.Sort(names)
	return names
}

// methodLabel is the explanation method of req as a metric label.
func methodLabel(req *explainerv1.ExplainRequest) string {
	fd := req.ProtoReflect().WhichOneof(methodOneof)
	switch {
	case fd == nil:
		return "unset"
	case methods[fd.Name()].parse == nil:
		return "unknown"
	}
	return string(fd.Name())
}

// streamsData tells whether a job's data set arrives in DataChunk messages.
func streamsData(req *explainerv1.ExplainRequest) bool {
	if req.GetBatch().GetTabular().GetStreamed() {
		return true
	}
	fd := req.ProtoReflect().WhichOneof(methodOneof)
	if fd == nil {
		return false
	}
	m := methods[fd.Name()]
	return m.streamsData != nil && m.streamsData(req)
}

// methodOptions returns the request's method options message.
func methodOptions(req *explainerv1.ExplainRequest) protoreflect.Message {
	fd := req.ProtoReflect().WhichOneof(methodOneof)
	if fd == nil {
		return nil
	}
	return req.ProtoReflect().Get(fd).Message()
}

// requestSeed is the options' seed when the request sets one, else a
// random one: every seeded method's options have an optional uint64 seed.
func requestSeed(req *explainerv1.ExplainRequest, random func() uint64) uint64 {
	o := methodOptions(req)
	if o == nil {
		return 0
	}
	fd := o.Descriptor().Fields().ByName("seed")
	if fd == nil {
		return 0
	}
	if o.Has(fd) {
		return o.Get(fd).Uint()
	}
	return random()
}

// requestSamples is the options' num_samples and its field's name; 0 and
// "" for methods that draw no samples.
func requestSamples(req *explainerv1.ExplainRequest) (uint64, string) {
	o := methodOptions(req)
	if o == nil {
		return 0, ""
	}
	fd := o.Descriptor().Fields().ByName("num_samples")
	if fd == nil {
		return 0, ""
	}
	return o.Get(fd).Uint(), string(req.ProtoReflect().WhichOneof(methodOneof).Name()) + ".num_samples"
}

// parseJob validates req for its method.
func (s *Server) parseJob(ctx context.Context, req *explainerv1.ExplainRequest, info predictor.ModelInfo, data <-chan *explainerv1.DataChunk) (string, *jobSpec, error) {
	name, m, err := lookupMethod(req)
	if err != nil {
		return "", nil, err
	}
	spec, err := m.parse(ctx, &parseInput{
		req:      req,
		info:     info,
		data:     data,
		seed:     requestSeed(req, rand.Uint64),
		callRows: callRows(s.batchSize(info), s.opts.inFlight),
	})
	if err != nil {
		return name, nil, requestError(name, err)
	}
	spec.Method = name
	return name, spec, nil
}

// applyRun sets a copy of a request's seed, sample count and labels to a
// run's: each run of a job (auto sampling's rounds, stability's seeds)
// overrides the request's.
func applyRun(run engine.Run, s *explain.Sampling, t *explain.Targets) {
	s.Seed = run.Seed
	if run.Samples > 0 {
		s.NumSamples = run.Samples
	}
	if run.Labels != nil {
		t.Labels, t.TopLabels = run.Labels, 0
	}
}

// callRows is how many rows the model takes at once: batch rows × batches
// in flight, saturating (a model without a row cap has a huge batch size).
func callRows(batch, inFlight int) int {
	inFlight = max(1, inFlight)
	if batch > math.MaxInt/inFlight {
		return math.MaxInt
	}
	return batch * inFlight
}
