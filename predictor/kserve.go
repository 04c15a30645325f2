package predictor

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	kservev2 "github.com/explainer-sidecar/explainer/proto/kserve/v2"
)

// KServe v2 tensor data types the client sends or reads.
const (
	FP32  = "FP32"
	FP64  = "FP64"
	INT64 = "INT64"
)

// KServeOption configures a KServeV2 client.
type KServeOption func(*kserveOptions)

type kserveOptions struct {
	input, output, datatype string
	typed                   bool
	softmax                 bool
	version                 string
}

// WithInputName names the input tensor. Default: the first input in the
// model's metadata for Score, the first BYTES input for ScoreText.
func WithInputName(name string) KServeOption {
	return func(o *kserveOptions) { o.input = name }
}

// WithOutputName names the output tensor to request and read. Default: the
// first output in the model's metadata (or, when the metadata lists none, the
// first output of each reply).
func WithOutputName(name string) KServeOption {
	return func(o *kserveOptions) { o.output = name }
}

// WithInputDatatype sets the input tensor's data type: FP32, FP64, INT64,
// FP16 or UINT8. Default: the input's data type in the model's metadata.
// FP32 and FP16 round each value to the nearest float32 or half; INT64 and
// UINT8 round to the nearest integer. A value the type cannot hold (beyond
// ±65504 for FP16, outside [0, 255] for UINT8, non-finite for the integers
// and FP16) fails the batch with ErrInvalidInput. FP16 goes in raw
// contents only (the protocol has no typed field for it).
func WithInputDatatype(datatype string) KServeOption {
	return func(o *kserveOptions) { o.datatype = datatype }
}

// WithRawContents chooses how inputs are sent: true (the default) as
// little-endian bytes in raw_input_contents, false in the tensor's typed
// contents. Outputs are read either way, whichever the server sends.
func WithRawContents(raw bool) KServeOption {
	return func(o *kserveOptions) { o.typed = !raw }
}

// WithSoftmax turns each output row into probabilities, p_k = exp(z_k) /
// Σ_j exp(z_j), for models that return logits. Default false.
func WithSoftmax(on bool) KServeOption {
	return func(o *kserveOptions) { o.softmax = on }
}

// WithModelVersion sets the model version sent with every call. Default ""
// (the server's choice).
func WithModelVersion(version string) KServeOption {
	return func(o *kserveOptions) { o.version = version }
}

// KServeV2 is a Client for the KServe v2 / Triton GRPCInferenceService. It
// is safe for concurrent use. The tensor names and input data type are taken
// from the options or, for those not given, from ModelMetadata, fetched on
// the first Score and cached once it succeeds.
type KServeV2 struct {
	c     kservev2.GRPCInferenceServiceClient
	model string
	o     kserveOptions

	lock    chan struct{}           // held while fetching the metadata
	tensors atomic.Pointer[tensors] // for Score
	text    atomic.Pointer[tensors] // for ScoreText
}

// BytesPerValue implements ValueSizer: 4 for an FP32 input (raw or typed
// contents), 2 for FP16, 1 for UINT8, 8 for FP64 and INT64, 0 before the
// model's metadata is known. (A typed UINT8 value travels as a uint32
// varint: 1 or 2 bytes.)
func (k *KServeV2) BytesPerValue() int {
	t := k.tensors.Load()
	if t == nil {
		return 0
	}
	return valueSize(t.datatype)
}

// tensors is what a ModelInferRequest needs from the metadata.
type tensors struct {
	input, datatype, output string
	rank                    int // of a BYTES input: 1 for [N], 2 for [N, 1]
}

// NewKServeV2 returns a client of the KServe v2 inference service on cc for
// the named model.
func NewKServeV2(cc grpc.ClientConnInterface, model string, opts ...KServeOption) *KServeV2 {
	k := &KServeV2{
		c:     kservev2.NewGRPCInferenceServiceClient(cc),
		model: model,
		lock:  make(chan struct{}, 1),
	}
	for _, opt := range opts {
		opt(&k.o)
	}
	if k.o.input != "" && k.o.output != "" && k.o.datatype != "" {
		k.tensors.Store(&tensors{input: k.o.input, datatype: k.o.datatype, output: k.o.output})
	}
	return k
}

// cached returns the tensors in p or, when p is empty, fetches the metadata,
// derives them with from and stores them in p on success. Failures are not
// cached: the next call fetches again.
func (k *KServeV2) cached(ctx context.Context, p *atomic.Pointer[tensors],
	from func(*kservev2.ModelMetadataResponse) (*tensors, error)) (*tensors, error) {
	if t := p.Load(); t != nil {
		return t, nil
	}
	select { // a lock that gives up when ctx is done
	case k.lock <- struct{}{}:
		defer func() { <-k.lock }()
	case <-ctx.Done():
		return nil, fmt.Errorf("predictor: ModelMetadata: %w", ctx.Err())
	}
	if t := p.Load(); t != nil {
		return t, nil
	}
	md, err := k.c.ModelMetadata(ctx, &kservev2.ModelMetadataRequest{Name: k.model, Version: k.o.version})
	if err != nil {
		return nil, k.translate(ctx, "ModelMetadata", err)
	}
	t, err := from(md)
	if err != nil {
		return nil, err
	}
	p.Store(t)
	return t, nil
}

// resolve returns the tensor names for Score, fetching the metadata the
// first time.
func (k *KServeV2) resolve(ctx context.Context) (*tensors, error) {
	return k.cached(ctx, &k.tensors, k.tabular)
}

// tabular picks the tensors for Score from the metadata.
func (k *KServeV2) tabular(md *kservev2.ModelMetadataResponse) (*tensors, error) {
	t := &tensors{input: k.o.input, datatype: k.o.datatype, output: k.o.output}
	var in *kservev2.ModelMetadataResponse_TensorMetadata
	for _, m := range md.GetInputs() {
		if t.input == "" || m.GetName() == t.input {
			in = m
			break
		}
	}
	switch {
	case in != nil:
		t.input = in.GetName()
		if t.datatype == "" {
			t.datatype = in.GetDatatype()
		}
	case t.input == "":
		return nil, fmt.Errorf("predictor: ModelMetadata: %w: the model lists no inputs", ErrRejected)
	case t.datatype == "":
		return nil, fmt.Errorf("predictor: ModelMetadata: %w: the model has no input named %q", ErrRejected, t.input)
	}
	if err := CheckInputDatatype(t.datatype); err != nil {
		return nil, fmt.Errorf("predictor: ModelMetadata: %w: input %q: %v", ErrRejected, t.input, err)
	}
	if t.output == "" && len(md.GetOutputs()) > 0 {
		t.output = md.GetOutputs()[0].GetName()
	}
	return t, nil
}

// resolveText returns the tensors for ScoreText, fetching the metadata the
// first time (always: the input's rank comes from it).
func (k *KServeV2) resolveText(ctx context.Context) (*tensors, error) {
	return k.cached(ctx, &k.text, k.textual)
}

// textual picks the tensors for ScoreText from the metadata: the input
// named by WithInputName, else the first BYTES input, and its rank.
func (k *KServeV2) textual(md *kservev2.ModelMetadataResponse) (*tensors, error) {
	t := &tensors{input: k.o.input, datatype: BYTES, output: k.o.output, rank: 2}
	var in *kservev2.ModelMetadataResponse_TensorMetadata
	for _, m := range md.GetInputs() {
		if (t.input == "" && m.GetDatatype() == BYTES) || (t.input != "" && m.GetName() == t.input) {
			in = m
			break
		}
	}
	switch {
	case in == nil && t.input == "":
		return nil, fmt.Errorf("predictor: ModelMetadata: %w: the model lists no BYTES input", ErrRejected)
	case in == nil:
		return nil, fmt.Errorf("predictor: ModelMetadata: %w: the model has no input named %q", ErrRejected, t.input)
	case in.GetDatatype() != BYTES:
		return nil, fmt.Errorf("predictor: ModelMetadata: %w: input %q is not BYTES", ErrRejected, t.input)
	}
	t.input = in.GetName()
	switch r := len(in.GetShape()); r {
	case 0: // not reported: [batch, 1], as with Triton's dims: [1]
	case 1, 2:
		t.rank = r
	default:
		return nil, fmt.Errorf("predictor: ModelMetadata: %w: BYTES input %q has rank %d, want 1 or 2", ErrRejected, t.input, r)
	}
	if t.output == "" && len(md.GetOutputs()) > 0 {
		t.output = md.GetOutputs()[0].GetName()
	}
	return t, nil
}

// Score sends rows in one ModelInfer call, as a [rows, features] tensor, and
// decodes the output as [rows, classes] (or [rows], one class). See Client.
func (k *KServeV2) Score(ctx context.Context, rows [][]float64) ([][]float64, error) {
	width, dims, err := tableDims(rows)
	if err != nil {
		return nil, err
	}
	return k.score(ctx, rows, width, dims)
}

// ScoreShaped sends rows in one ModelInfer call as a tensor of shape
// [rows, shape...], encoded as Score encodes it. See ShapedClient.
func (k *KServeV2) ScoreShaped(ctx context.Context, rows [][]float64, shape []int) ([][]float64, error) {
	width, dims, err := batchDims(rows, shape)
	if err != nil {
		return nil, err
	}
	return k.score(ctx, rows, width, dims)
}

// score sends rows of width values as one input tensor of shape dims.
func (k *KServeV2) score(ctx context.Context, rows [][]float64, width int, dims []int64) ([][]float64, error) {
	t, err := k.resolve(ctx)
	if err != nil {
		return nil, err
	}
	in := &kservev2.ModelInferRequest_InferInputTensor{
		Name:     t.input,
		Datatype: t.datatype,
		Shape:    dims,
	}
	req := &kservev2.ModelInferRequest{
		ModelName:    k.model,
		ModelVersion: k.o.version,
		Inputs:       []*kservev2.ModelInferRequest_InferInputTensor{in},
	}
	if t.output != "" {
		req.Outputs = []*kservev2.ModelInferRequest_InferRequestedOutputTensor{{Name: t.output}}
	}
	if k.o.typed {
		in.Contents, err = encodeTyped(rows, width, t.datatype)
	} else {
		var raw []byte
		raw, err = encodeRaw(rows, width, t.datatype)
		req.RawInputContents = [][]byte{raw}
	}
	if err != nil {
		return nil, err
	}
	out, err := k.infer(ctx, req, t.output)
	return out, withheldRows(err, rows)
}

// ScoreText sends texts in one ModelInfer call, as a BYTES tensor of shape
// [N, 1] (or [N] when the metadata gives the input rank 1), in
// raw_input_contents (each text as a 4-byte little-endian length, then its
// bytes) or, with WithRawContents(false), in bytes_contents. The input is
// the one named by WithInputName, else the first BYTES input in the
// metadata, which is fetched on the first call (WithInputDatatype does not
// apply). The output is decoded as in Score. See TextClient.
func (k *KServeV2) ScoreText(ctx context.Context, texts []string) ([][]float64, error) {
	if err := checkTexts(texts); err != nil {
		return nil, err
	}
	t, err := k.resolveText(ctx)
	if err != nil {
		return nil, err
	}
	shape := []int64{int64(len(texts)), 1}
	if t.rank == 1 {
		shape = shape[:1]
	}
	in := &kservev2.ModelInferRequest_InferInputTensor{Name: t.input, Datatype: BYTES, Shape: shape}
	req := &kservev2.ModelInferRequest{
		ModelName:    k.model,
		ModelVersion: k.o.version,
		Inputs:       []*kservev2.ModelInferRequest_InferInputTensor{in},
	}
	if t.output != "" {
		req.Outputs = []*kservev2.ModelInferRequest_InferRequestedOutputTensor{{Name: t.output}}
	}
	if k.o.typed {
		c := make([][]byte, len(texts))
		for i, s := range texts {
			c[i] = []byte(s)
		}
		in.Contents = &kservev2.InferTensorContents{BytesContents: c}
	} else {
		req.RawInputContents = [][]byte{encodeBytesTensor(texts)}
	}
	out, err := k.infer(ctx, req, t.output)
	return out, withheld(err, texts)
}

// infer sends req and decodes the output named output.
func (k *KServeV2) infer(ctx context.Context, req *kservev2.ModelInferRequest, output string) ([][]float64, error) {
	resp, err := k.c.ModelInfer(ctx, req)
	if err != nil {
		return nil, k.translate(ctx, "ModelInfer", err)
	}
	out, err := decodeResponse(resp, output)
	if err != nil {
		return nil, err
	}
	if k.o.softmax {
		for _, r := range out {
			softmax(r)
		}
	}
	return out, nil
}

// toInt64 rounds v to the nearest int64.
func toInt64(v float64, row int) (int64, error) {
	r := math.Round(v)
	if !(r >= math.MinInt64 && r < math.MaxInt64) { // false for NaN too
		return 0, invalidInput("row %d of the batch: value cannot be sent as INT64", row)
	}
	return int64(r), nil
}

// encodeRaw encodes rows as little-endian bytes of datatype.
func encodeRaw(rows [][]float64, width int, datatype string) ([]byte, error) {
	size := valueSize(datatype)
	buf := make([]byte, len(rows)*width*size)
	le := binary.LittleEndian
	if datatype == FP16 {
		// A loop of its own: the conversion is most of the cost.
		for i, r := range rows {
			for j, v := range r {
				h, ok := float16Bits(v)
				if !ok {
					return nil, errFloat16(v, i)
				}
				le.PutUint16(buf[2*(i*width+j):], h)
			}
		}
		return buf, nil
	}
	off := 0
	for i, r := range rows {
		for _, v := range r {
			switch datatype {
			case FP32:
				le.PutUint32(buf[off:], math.Float32bits(float32(v)))
			case FP64:
				le.PutUint64(buf[off:], math.Float64bits(v))
			case UINT8:
				x, err := toUint8(v, i)
				if err != nil {
					return nil, err
				}
				buf[off] = x
			default: // INT64
				x, err := toInt64(v, i)
				if err != nil {
					return nil, err
				}
				le.PutUint64(buf[off:], uint64(x))
			}
			off += size
		}
	}
	return buf, nil
}

// encodeTyped encodes rows in the typed contents field of datatype.
func encodeTyped(rows [][]float64, width int, datatype string) (*kservev2.InferTensorContents, error) {
	c := &kservev2.InferTensorContents{}
	switch datatype {
	case FP32:
		c.Fp32Contents = make([]float32, 0, len(rows)*width)
		for _, r := range rows {
			for _, v := range r {
				c.Fp32Contents = append(c.Fp32Contents, float32(v))
			}
		}
	case FP64:
		c.Fp64Contents = make([]float64, 0, len(rows)*width)
		for _, r := range rows {
			c.Fp64Contents = append(c.Fp64Contents, r...)
		}
	case UINT8:
		c.UintContents = make([]uint32, 0, len(rows)*width)
		for i, r := range rows {
			for _, v := range r {
				x, err := toUint8(v, i)
				if err != nil {
					return nil, err
				}
				c.UintContents = append(c.UintContents, uint32(x))
			}
		}
	case FP16:
		return nil, invalidInput("an FP16 input goes in raw contents only (the protocol has no typed FP16 field): leave raw contents on")
	default: // INT64
		c.Int64Contents = make([]int64, 0, len(rows)*width)
		for i, r := range rows {
			for _, v := range r {
				x, err := toInt64(v, i)
				if err != nil {
					return nil, err
				}
				c.Int64Contents = append(c.Int64Contents, x)
			}
		}
	}
	return c, nil
}

// decodeResponse finds the output named name (any first output when name is
// "") and decodes it.
func decodeResponse(resp *kservev2.ModelInferResponse, name string) ([][]float64, error) {
	outs := resp.GetOutputs()
	if len(outs) == 0 {
		return nil, badOutput("no output tensor")
	}
	idx := 0
	if name != "" {
		idx = -1
		for i, o := range outs {
			if o.GetName() == name {
				idx = i
				break
			}
		}
		if idx < 0 {
			return nil, badOutput("no output named %q", name)
		}
	}
	raw := resp.GetRawOutputContents()
	if len(raw) == 0 {
		return decodeOutput(outs[idx], nil, false)
	}
	if idx >= len(raw) {
		return nil, badOutput("%d raw output contents for %d outputs", len(raw), len(outs))
	}
	return decodeOutput(outs[idx], raw[idx], true)
}

// decodeOutput decodes one FP32, FP64 or FP16 (raw only) output tensor of
// shape [N, C] (or [N], one class; further dimensions are flattened into
// C) from raw, when hasRaw, or else from its typed contents. It allocates
// only for the values actually present, whatever the shape claims.
func decodeOutput(o *kservev2.ModelInferResponse_InferOutputTensor, raw []byte, hasRaw bool) ([][]float64, error) {
	var size int
	switch o.GetDatatype() {
	case FP32:
		size = 4
	case FP64:
		size = 8
	case FP16:
		if !hasRaw {
			return nil, badOutput("an FP16 output must come in raw_output_contents")
		}
		size = 2
	default:
		return nil, badOutput("output data type is not FP32, FP64 or FP16")
	}
	var count int
	var fp32 []float32
	var fp64 []float64
	switch {
	case hasRaw:
		if len(raw)%size != 0 {
			return nil, badOutput("raw output of %d bytes is not a whole number of %s values", len(raw), o.GetDatatype())
		}
		count = len(raw) / size
	case size == 4:
		fp32 = o.GetContents().GetFp32Contents()
		count = len(fp32)
	default:
		fp64 = o.GetContents().GetFp64Contents()
		count = len(fp64)
	}

	shape := o.GetShape()
	if len(shape) == 0 {
		return nil, badOutput("output has no shape")
	}
	rows, cols := shape[0], int64(1)
	for _, d := range shape {
		if d < 0 {
			return nil, badOutput("output shape has a negative dimension")
		}
	}
	for _, d := range shape[1:] {
		if d != 0 && cols > math.MaxInt64/d {
			return nil, badOutput("output shape overflows")
		}
		cols *= d
	}
	if rows == 0 {
		if count != 0 {
			return nil, badOutput("output shape holds 0 values, contents hold %d", count)
		}
		return [][]float64{}, nil
	}
	if cols == 0 {
		return nil, badOutput("0 classes")
	}
	if rows > int64(count)/cols || rows*cols != int64(count) {
		return nil, badOutput("output shape and contents disagree: contents hold %d values", count)
	}

	flat := make([]float64, count)
	le := binary.LittleEndian
	switch {
	case hasRaw && size == 4:
		for i := range flat {
			flat[i] = float64(math.Float32frombits(le.Uint32(raw[4*i:])))
		}
	case hasRaw && size == 2:
		for i := range flat {
			flat[i] = float16Value(le.Uint16(raw[2*i:]))
		}
	case hasRaw:
		for i := range flat {
			flat[i] = math.Float64frombits(le.Uint64(raw[8*i:]))
		}
	case size == 4:
		for i, v := range fp32 {
			flat[i] = float64(v)
		}
	default:
		copy(flat, fp64)
	}
	return reshape(flat, int(cols)), nil
}

// softmax replaces the logits z in place by exp(z_k - max z) / Σ_j exp(z_j -
// max z). Non-finite logits give NaN, which the Batcher reports.
func softmax(z []float64) {
	m := math.Inf(-1)
	for _, v := range z {
		m = max(m, v)
	}
	var sum float64
	for i, v := range z {
		z[i] = math.Exp(v - m)
		sum += z[i]
	}
	for i := range z {
		z[i] /= sum
	}
}

// Describe reads ModelMetadata and, where the server implements it
// (Triton), ModelConfig for the max batch size; BatchRule gives the rules
// that turn them into MaxBatchSize. See Client.
func (k *KServeV2) Describe(ctx context.Context) (ModelInfo, error) {
	md, err := k.c.ModelMetadata(ctx, &kservev2.ModelMetadataRequest{Name: k.model, Version: k.o.version})
	if err != nil {
		return ModelInfo{}, k.translate(ctx, "ModelMetadata", err)
	}
	info, in := metadataInfo(k.model, md, k.o.input, k.o.output)
	if t, err := k.tabular(md); err == nil {
		// Score's tensors, from the same metadata: BytesPerValue knows the
		// input's datatype before the first call.
		k.tensors.CompareAndSwap(nil, t)
	}
	cfg, err := k.c.ModelConfig(ctx, &kservev2.ModelConfigRequest{Name: k.model, Version: k.o.version})
	configured := true
	switch {
	case status.Code(err) == codes.Unimplemented && ctx.Err() == nil:
		configured = false // KServe servers have no ModelConfig
	case err != nil:
		return ModelInfo{}, k.translate(ctx, "ModelConfig", err)
	}
	info.MaxBatchSize, info.BatchRule = batchLimit(int64(cfg.GetConfig().GetMaxBatchSize()), configured, in.GetShape())
	return info, nil
}

// metadataInfo is what a model's metadata says of it (both KServe v2
// clients read it alike): the input named input (or the first) gives the
// input kind and the feature count, the output named output (or the
// first) the class count. It returns the input too, whose first dimension
// the batch rules read.
func metadataInfo(model string, md *kservev2.ModelMetadataResponse, input, output string) (ModelInfo, *kservev2.ModelMetadataResponse_TensorMetadata) {
	info := ModelInfo{Name: model}
	var in, out *kservev2.ModelMetadataResponse_TensorMetadata
	for _, m := range md.GetInputs() {
		if input == "" || m.GetName() == input {
			in = m
			break
		}
	}
	for _, m := range md.GetOutputs() {
		if output == "" || m.GetName() == output {
			out = m
			break
		}
	}
	switch s := in.GetShape(); {
	case in.GetDatatype() == BYTES:
		info.InputKind = InputText
	case len(s) == 2: // [batch, features]
		info.NumFeatures = int(max(s[1], 0))
		if CheckInputDatatype(in.GetDatatype()) == nil {
			info.InputKind = InputTabular
		}
	case len(s) == 4: // [batch, C, H, W] or [batch, H, W, C]
		info.InputKind = InputImage
		info.NumFeatures = instanceValues(s[1:])
	}
	switch s := out.GetShape(); len(s) {
	case 1: // [batch]
		info.NumClasses = 1
	case 2: // [batch, classes]
		info.NumClasses = int(max(s[1], 0))
	}
	return info, in
}

// tableDims checks rows and returns their width and the input tensor's
// shape, [rows, width].
func tableDims(rows [][]float64) (int, []int64, error) {
	width, err := checkRows(rows)
	if err != nil {
		return 0, nil, err
	}
	return width, []int64{int64(len(rows)), int64(width)}, nil
}

// batchDims checks rows and shape, and returns the rows' width and the
// input tensor's shape, [rows, shape...].
func batchDims(rows [][]float64, shape []int) (int, []int64, error) {
	width, err := checkRows(rows)
	if err != nil {
		return 0, nil, err
	}
	if err := checkShape(shape, width); err != nil {
		return 0, nil, err
	}
	dims := make([]int64, 0, len(shape)+1)
	dims = append(dims, int64(len(rows)))
	for _, d := range shape {
		dims = append(dims, int64(d))
	}
	return width, dims, nil
}

// batchLimit applies the rules of BatchRule to ModelConfig's max_batch_size
// (configured is false when the server has no ModelConfig) and the input's
// shape in ModelMetadata.
func batchLimit(maxBatch int64, configured bool, shape []int64) (int, BatchRule) {
	if maxBatch > 0 {
		return int(min(maxBatch, math.MaxInt32)), BatchMaxBatchSize
	}
	// Triton's max_batch_size 0 means the model does no batching of its
	// own: its dims start with the batch dimension, which is the limit. A
	// fixed first dimension is a cap even without ModelConfig: sending
	// more rows than the tensor holds can only fail.
	switch {
	case len(shape) == 0:
		return 0, BatchUnknown
	case shape[0] > 0:
		return int(min(shape[0], math.MaxInt32)), BatchFixedDim
	case shape[0] == -1 && configured:
		return 0, BatchVariableDim
	}
	// Without ModelConfig, [-1, …] says only that the batch varies, not
	// that the server takes any number of rows.
	return 0, BatchUnknown
}

// instanceValues is the number of values of one instance of shape dims, 0
// when a dimension is variable (−1) or the product overflows an int32.
func instanceValues(dims []int64) int {
	n := int64(1)
	for _, d := range dims {
		if d <= 0 || n > math.MaxInt32/d {
			return 0
		}
		n *= d
	}
	return int(n)
}

// translate is translate for the model's calls; a NOT_FOUND also lists the
// models the server has, where it implements RepositoryIndex (Triton).
func (k *KServeV2) translate(ctx context.Context, op string, err error) error {
	err = translate(ctx, op, k.model, err)
	var ce *callError
	if !errors.As(err, &ce) || ce.code != codes.NotFound || ctx.Err() != nil {
		return err
	}
	idx, ierr := k.c.RepositoryIndex(ctx, &kservev2.RepositoryIndexRequest{})
	if ierr != nil || len(idx.GetModels()) == 0 {
		return err
	}
	names := make([]string, 0, len(idx.GetModels()))
	for _, m := range idx.GetModels() {
		if n := strconv.Quote(m.GetName()); !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	has := "the model server has " + sanitizeMessage(strings.Join(names, ", "))
	if ce.why != "" {
		has = ce.why + "; " + has
	}
	ce.why = has
	return err
}

// Ready calls ServerReady and ModelReady; it returns an ErrUnavailable when
// either says no.
func (k *KServeV2) Ready(ctx context.Context) error {
	sr, err := k.c.ServerReady(ctx, &kservev2.ServerReadyRequest{})
	if err != nil {
		return translate(ctx, "ServerReady", "", err)
	}
	if !sr.GetReady() {
		return fmt.Errorf("predictor: ServerReady: %w: server not ready", ErrUnavailable)
	}
	mr, err := k.c.ModelReady(ctx, &kservev2.ModelReadyRequest{Name: k.model, Version: k.o.version})
	if err != nil {
		return k.translate(ctx, "ModelReady", err)
	}
	if !mr.GetReady() {
		return fmt.Errorf("predictor: ModelReady: %w: model not ready", ErrUnavailable)
	}
	return nil
}
