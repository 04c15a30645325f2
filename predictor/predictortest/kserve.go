package predictortest

import (
	"context"
	"encoding/binary"
	"math"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	kservev2 "github.com/explainer-sidecar/explainer/proto/kserve/v2"
)

// KServeServer is a fake KServe v2 / Triton GRPCInferenceService serving one
// model with one [batch, features] input and one [batch, classes] output.
// It also accepts an input of rank above 2, [batch, d1, d2, …], whose
// instance dimensions multiply to NumFeatures (any, when NumFeatures is 0),
// scoring each instance as one flat row; LastShape reports the dimensions
// of the last call.
// It checks requests the way Triton does (model name, tensor names, data
// type, shape, batch size) and answers INVALID_ARGUMENT or NOT_FOUND.
//
// With TextScore set it also lists a BYTES input, after the tabular one, and
// scores a request whose one input is that BYTES tensor (raw, as 4-byte
// little-endian lengths each followed by the bytes, or in bytes_contents)
// with TextScore. A BYTES request without TextScore fails with
// INVALID_ARGUMENT "model takes no text".
type KServeServer struct {
	Model
	// Name is the model's name. Default "model".
	Name string
	// InputName and OutputName name the tensors. Default "INPUT0" and
	// "OUTPUT0".
	InputName, OutputName string
	// InputDatatype is the input's data type in the metadata, and the only
	// one accepted: "FP32" (default), "FP64", "INT64", "FP16" (raw only,
	// as Triton takes it) or "UINT8".
	InputDatatype string
	// InstanceShape, when set, is what ModelMetadata reports for one
	// instance of the input ([-1, InstanceShape...], as Triton lists an
	// image model's [-1, 3, 224, 224]) instead of [NumFeatures]. A dimension
	// of -1 is variable.
	InstanceShape []int64
	// FirstDim, when positive, is the input's first dimension in
	// ModelMetadata instead of -1, as Triton lists a model with
	// max_batch_size 0 whose dims fix the batch; a call with more rows
	// fails with INVALID_ARGUMENT. (Triton wants exactly FirstDim rows; the
	// fake takes fewer, so that a last, short batch can be tested.)
	FirstDim int64
	// TextInputName names the BYTES input. Default "TEXT0".
	TextInputName string
	// TextRank is the rank of the BYTES input: 2 (the default, used for
	// any value but 1) for shape [batch, 1], as with Triton's dims: [1]; 1
	// for shape [batch]. Requests of another shape are rejected.
	TextRank int
	// OutputFP64 sends FP64 scores instead of FP32.
	OutputFP64 bool
	// TypedOutput sends scores in the typed contents instead of
	// raw_output_contents.
	TypedOutput bool
	// Logits sends log(score) instead of the score, as a model without a
	// softmax layer does: a client's softmax recovers scores that are
	// positive and sum to 1.
	Logits bool
	// NoModelConfig answers ModelConfig with UNIMPLEMENTED, as KServe
	// servers do.
	NoModelConfig bool
	// OtherModels are listed by RepositoryIndex after Name, as Triton
	// lists its repository; they are not served.
	OtherModels []string
	// NoRepositoryIndex answers RepositoryIndex with UNIMPLEMENTED, as
	// KServe servers do.
	NoRepositoryIndex bool

	notReady atomic.Bool

	kservev2.UnimplementedGRPCInferenceServiceServer
}

// NewKServeServer returns a fake KServe v2 server that scores with score.
func NewKServeServer(score ScoreFunc) *KServeServer {
	return &KServeServer{
		Model:         Model{Score: score},
		Name:          "model",
		InputName:     "INPUT0",
		OutputName:    "OUTPUT0",
		InputDatatype: "FP32",
		TextInputName: "TEXT0",
	}
}

// Register registers the service on g.
func (s *KServeServer) Register(g *grpc.Server) { kservev2.RegisterGRPCInferenceServiceServer(g, s) }

// SetReady sets what ServerReady and ModelReady answer (initially true). It
// is safe to call while serving.
func (s *KServeServer) SetReady(ready bool) { s.notReady.Store(!ready) }

func (s *KServeServer) checkModel(name string) error {
	if name != s.Name {
		return status.Errorf(codes.NotFound, "Request for unknown model: '%s' is not found", name)
	}
	return nil
}

// RepositoryIndex lists Name, READY (or UNAVAILABLE after SetReady(false)),
// then OtherModels, UNAVAILABLE, as Triton does; with NoRepositoryIndex it
// answers UNIMPLEMENTED.
func (s *KServeServer) RepositoryIndex(context.Context, *kservev2.RepositoryIndexRequest) (*kservev2.RepositoryIndexResponse, error) {
	if s.NoRepositoryIndex {
		return nil, status.Error(codes.Unimplemented, "unknown method RepositoryIndex for service inference.GRPCInferenceService")
	}
	state := "READY"
	if s.notReady.Load() {
		state = "UNAVAILABLE"
	}
	resp := &kservev2.RepositoryIndexResponse{Models: []*kservev2.RepositoryIndexResponse_ModelIndex{{Name: s.Name, Version: "1", State: state}}}
	for _, m := range s.OtherModels {
		resp.Models = append(resp.Models, &kservev2.RepositoryIndexResponse_ModelIndex{Name: m, State: "UNAVAILABLE", Reason: "unloaded"})
	}
	return resp, nil
}

// ServerLive answers true.
func (s *KServeServer) ServerLive(context.Context, *kservev2.ServerLiveRequest) (*kservev2.ServerLiveResponse, error) {
	return &kservev2.ServerLiveResponse{Live: true}, nil
}

// ServerReady answers what SetReady set.
func (s *KServeServer) ServerReady(context.Context, *kservev2.ServerReadyRequest) (*kservev2.ServerReadyResponse, error) {
	return &kservev2.ServerReadyResponse{Ready: !s.notReady.Load()}, nil
}

// ModelReady answers what SetReady set, for the served model.
func (s *KServeServer) ModelReady(_ context.Context, req *kservev2.ModelReadyRequest) (*kservev2.ModelReadyResponse, error) {
	if err := s.checkModel(req.GetName()); err != nil {
		return nil, err
	}
	return &kservev2.ModelReadyResponse{Ready: !s.notReady.Load()}, nil
}

func dim(n int) int64 {
	if n > 0 {
		return int64(n)
	}
	return -1
}

// ModelMetadata describes the input [-1, NumFeatures] (or [-1,
// InstanceShape...]; FirstDim instead of the -1 when set), with TextScore the
// BYTES input [-1, 1] (or [-1]), and the output [-1, len(ClassNames)] (-1
// where the knob is not set).
func (s *KServeServer) ModelMetadata(_ context.Context, req *kservev2.ModelMetadataRequest) (*kservev2.ModelMetadataResponse, error) {
	if err := s.checkModel(req.GetName()); err != nil {
		return nil, err
	}
	out := "FP32"
	if s.OutputFP64 {
		out = "FP64"
	}
	batch := int64(-1)
	if s.FirstDim > 0 {
		batch = s.FirstDim
	}
	shape := []int64{batch, dim(s.NumFeatures)}
	if s.InstanceShape != nil {
		shape = append([]int64{batch}, s.InstanceShape...)
	}
	inputs := []*kservev2.ModelMetadataResponse_TensorMetadata{
		{Name: s.InputName, Datatype: s.InputDatatype, Shape: shape},
	}
	if s.TextScore != nil {
		inputs = append(inputs, &kservev2.ModelMetadataResponse_TensorMetadata{
			Name: s.TextInputName, Datatype: "BYTES", Shape: s.textShape(-1),
		})
	}
	return &kservev2.ModelMetadataResponse{
		Name:     s.Name,
		Versions: []string{"1"},
		Platform: "predictortest",
		Inputs:   inputs,
		Outputs: []*kservev2.ModelMetadataResponse_TensorMetadata{
			{Name: s.OutputName, Datatype: out, Shape: []int64{-1, dim(len(s.ClassNames))}},
		},
	}, nil
}

// ModelConfig reports MaxBatchSize, or UNIMPLEMENTED with NoModelConfig.
func (s *KServeServer) ModelConfig(_ context.Context, req *kservev2.ModelConfigRequest) (*kservev2.ModelConfigResponse, error) {
	if s.NoModelConfig {
		return nil, status.Error(codes.Unimplemented, "unknown method ModelConfig")
	}
	if err := s.checkModel(req.GetName()); err != nil {
		return nil, err
	}
	return &kservev2.ModelConfigResponse{Config: &kservev2.ModelConfig{
		Name:         s.Name,
		Platform:     "predictortest",
		MaxBatchSize: int32(max(s.MaxBatchSize, 0)),
	}}, nil
}

// textShape is the shape of the BYTES input of n elements.
func (s *KServeServer) textShape(n int64) []int64 {
	if s.TextRank == 1 {
		return []int64{n}
	}
	return []int64{n, 1}
}

// ModelInfer scores the input tensor.
func (s *KServeServer) ModelInfer(ctx context.Context, req *kservev2.ModelInferRequest) (*kservev2.ModelInferResponse, error) {
	if err := s.checkModel(req.GetModelName()); err != nil {
		return nil, err
	}
	ins := req.GetInputs()
	text := len(ins) == 1 && ins[0].GetDatatype() == "BYTES"
	var rows [][]float64
	var texts []string
	var err error
	if text {
		texts, err = s.decodeText(req)
	} else {
		rows, err = s.decodeInput(req)
	}
	if err != nil {
		return nil, err
	}
	for _, o := range req.GetOutputs() {
		if o.GetName() != s.OutputName {
			return nil, status.Errorf(codes.InvalidArgument, "unexpected inference output '%s' for model '%s'", o.GetName(), s.Name)
		}
	}
	var out [][]float64
	if text {
		out, err = s.serveText(ctx, texts)
	} else {
		out, err = s.serve(ctx, rows)
	}
	if err != nil {
		return nil, err
	}
	return s.encodeOutput(out), nil
}

func (s *KServeServer) decodeInput(req *kservev2.ModelInferRequest) ([][]float64, error) {
	ins := req.GetInputs()
	if len(ins) != 1 {
		return nil, status.Errorf(codes.InvalidArgument, "expected 1 inputs but got %d inputs for model '%s'", len(ins), s.Name)
	}
	in := ins[0]
	if in.GetName() != s.InputName {
		return nil, status.Errorf(codes.InvalidArgument, "unexpected inference input '%s' for model '%s'", in.GetName(), s.Name)
	}
	if in.GetDatatype() != s.InputDatatype {
		return nil, status.Errorf(codes.InvalidArgument, "inference input data-type is '%s', model expects '%s'", in.GetDatatype(), s.InputDatatype)
	}
	shape := in.GetShape()
	if len(shape) < 2 || shape[0] < 0 || shape[0] > 1<<24 || (s.FirstDim > 0 && shape[0] > s.FirstDim) {
		return nil, status.Errorf(codes.InvalidArgument, "unexpected shape %v for input '%s'", shape, s.InputName)
	}
	f64 := int64(1)
	for _, d := range shape[1:] {
		if d < 0 || d > 1<<24 || f64*d > 1<<24 {
			return nil, status.Errorf(codes.InvalidArgument, "unexpected shape %v for input '%s'", shape, s.InputName)
		}
		f64 *= d
	}
	f := int(f64)
	if len(shape) > 2 && s.NumFeatures > 0 && f != s.NumFeatures {
		return nil, status.Errorf(codes.InvalidArgument, "unexpected shape %v for input '%s': want %d values per instance", shape, s.InputName, s.NumFeatures)
	}
	n := int(shape[0])
	inst := make([]int, len(shape)-1)
	for i, d := range shape[1:] {
		inst[i] = int(d)
	}
	s.seeShape(inst)
	raw := req.GetRawInputContents()
	c := in.GetContents()
	size := 8
	switch s.InputDatatype {
	case "FP32":
		size = 4
	case "FP16":
		size = 2
	case "UINT8":
		size = 1
	case "FP64", "INT64":
	default:
		return nil, status.Errorf(codes.InvalidArgument, "predictortest does not decode data-type '%s'", s.InputDatatype)
	}
	// Check the sizes before allocating anything from the shape.
	switch {
	case len(raw) > 0 && c != nil:
		return nil, status.Error(codes.InvalidArgument, "contents field must not be specified when using raw_input_contents")
	case len(raw) > 0:
		if len(raw) != 1 || len(raw[0]) != n*f*size {
			return nil, status.Errorf(codes.InvalidArgument, "unexpected raw input size for input '%s'", s.InputName)
		}
	case s.InputDatatype == "FP16":
		return nil, status.Errorf(codes.InvalidArgument, "input '%s': FP16 data must be in raw_input_contents", s.InputName)
	default:
		got := len(c.GetFp32Contents())
		switch s.InputDatatype {
		case "FP64":
			got = len(c.GetFp64Contents())
		case "INT64":
			got = len(c.GetInt64Contents())
		case "UINT8":
			got = len(c.GetUintContents())
		}
		if got != n*f {
			return nil, status.Errorf(codes.InvalidArgument, "unexpected number of typed contents for input '%s'", s.InputName)
		}
	}
	flat := make([]float64, n*f)
	le := binary.LittleEndian
	for i := range flat {
		switch {
		case len(raw) > 0 && size == 4:
			flat[i] = float64(math.Float32frombits(le.Uint32(raw[0][4*i:])))
		case len(raw) > 0 && size == 2:
			flat[i] = HalfValue(le.Uint16(raw[0][2*i:]))
		case len(raw) > 0 && size == 1:
			flat[i] = float64(raw[0][i])
		case s.InputDatatype == "UINT8":
			v := c.GetUintContents()[i]
			if v > 255 {
				return nil, status.Errorf(codes.InvalidArgument, "input '%s': UINT8 value %d out of range", s.InputName, v)
			}
			flat[i] = float64(v)
		case len(raw) > 0 && s.InputDatatype == "FP64":
			flat[i] = math.Float64frombits(le.Uint64(raw[0][8*i:]))
		case len(raw) > 0:
			flat[i] = float64(int64(le.Uint64(raw[0][8*i:])))
		case size == 4:
			flat[i] = float64(c.GetFp32Contents()[i])
		case s.InputDatatype == "FP64":
			flat[i] = c.GetFp64Contents()[i]
		default:
			flat[i] = float64(c.GetInt64Contents()[i])
		}
	}
	rows := make([][]float64, n)
	for i := range rows {
		rows[i] = flat[i*f : (i+1)*f : (i+1)*f]
	}
	return rows, nil
}

// HalfValue is the value of IEEE 754 half-precision bits h, widened bit by
// bit to a float32 (every half is one exactly): how the fakes read an FP16
// input.
func HalfValue(h uint16) float64 {
	sign := uint32(h&0x8000) << 16
	exp, man := uint32(h>>10)&0x1f, uint32(h&0x3ff)
	switch {
	case exp == 0x1f: // Inf, NaN
		return float64(math.Float32frombits(sign | 0x7f800000 | man<<13))
	case exp != 0:
		return float64(math.Float32frombits(sign | (exp+127-15)<<23 | man<<13))
	}
	v := float64(man) / (1 << 24) // zero or subnormal
	if sign != 0 {
		v = -v
	}
	return v
}

// decodeText decodes the one BYTES input of req.
func (s *KServeServer) decodeText(req *kservev2.ModelInferRequest) ([]string, error) {
	if s.TextScore == nil {
		return nil, errNoText
	}
	in := req.GetInputs()[0]
	if in.GetName() != s.TextInputName {
		return nil, status.Errorf(codes.InvalidArgument, "unexpected inference input '%s' for model '%s'", in.GetName(), s.Name)
	}
	shape := in.GetShape()
	want := s.textShape(0)
	if len(shape) != len(want) || shape[0] < 0 || shape[0] > 1<<24 || (len(want) == 2 && shape[1] != 1) {
		return nil, status.Errorf(codes.InvalidArgument, "unexpected shape %v for input '%s'", shape, s.TextInputName)
	}
	n := int(shape[0])
	raw := req.GetRawInputContents()
	c := in.GetContents()
	var elems [][]byte
	switch {
	case len(raw) > 0 && c != nil:
		return nil, status.Error(codes.InvalidArgument, "contents field must not be specified when using raw_input_contents")
	case len(raw) > 0:
		if len(raw) != 1 {
			return nil, status.Errorf(codes.InvalidArgument, "unexpected raw input count for input '%s'", s.TextInputName)
		}
		var ok bool
		if elems, ok = splitBytes(raw[0], n); !ok {
			return nil, status.Errorf(codes.InvalidArgument, "malformed BYTES raw input for input '%s'", s.TextInputName)
		}
	default:
		elems = c.GetBytesContents()
		if len(elems) != n {
			return nil, status.Errorf(codes.InvalidArgument, "unexpected number of typed contents for input '%s'", s.TextInputName)
		}
	}
	texts := make([]string, n)
	for i, e := range elems {
		texts[i] = string(e)
	}
	return texts, nil
}

// splitBytes splits raw BYTES contents into exactly n elements, each a
// 4-byte little-endian length and that many bytes, with nothing left over.
func splitBytes(raw []byte, n int) ([][]byte, bool) {
	var out [][]byte
	for range n {
		if len(raw) < 4 {
			return nil, false
		}
		l := uint64(binary.LittleEndian.Uint32(raw))
		raw = raw[4:]
		if l > uint64(len(raw)) {
			return nil, false
		}
		out = append(out, raw[:l])
		raw = raw[l:]
	}
	return out, len(raw) == 0
}

func (s *KServeServer) encodeOutput(out [][]float64) *kservev2.ModelInferResponse {
	flat, width := flatten(out)
	if s.Logits {
		for i, v := range flat {
			flat[i] = math.Log(v)
		}
	}
	t := &kservev2.ModelInferResponse_InferOutputTensor{
		Name:     s.OutputName,
		Datatype: "FP32",
		Shape:    []int64{int64(len(out)), int64(width)},
	}
	if s.OutputFP64 {
		t.Datatype = "FP64"
	}
	resp := &kservev2.ModelInferResponse{
		ModelName:    s.Name,
		ModelVersion: "1",
		Outputs:      []*kservev2.ModelInferResponse_InferOutputTensor{t},
	}
	le := binary.LittleEndian
	switch {
	case s.TypedOutput && s.OutputFP64:
		t.Contents = &kservev2.InferTensorContents{Fp64Contents: flat}
	case s.TypedOutput:
		c := make([]float32, len(flat))
		for i, v := range flat {
			c[i] = float32(v)
		}
		t.Contents = &kservev2.InferTensorContents{Fp32Contents: c}
	case s.OutputFP64:
		raw := make([]byte, 8*len(flat))
		for i, v := range flat {
			le.PutUint64(raw[8*i:], math.Float64bits(v))
		}
		resp.RawOutputContents = [][]byte{raw}
	default:
		raw := make([]byte, 4*len(flat))
		for i, v := range flat {
			le.PutUint32(raw[4*i:], math.Float32bits(float32(v)))
		}
		resp.RawOutputContents = [][]byte{raw}
	}
	return resp
}
