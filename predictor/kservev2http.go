package predictor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"unicode/utf8"

	kservev2 "github.com/explainer-sidecar/explainer/proto/kserve/v2"
)

// Compile-time checks.
var (
	_ TextClient   = (*KServeV2HTTP)(nil)
	_ ShapedClient = (*KServeV2HTTP)(nil)
)

// inferHeaderLength is the header of the binary tensor data extension: the
// length of the JSON part of a body whose binary tensor data follow it.
const inferHeaderLength = "Inference-Header-Content-Length"

// WithBinaryInputs makes KServeV2HTTP send input tensors in the binary
// tensor data extension (Triton, KServe 0.11 and later): the JSON header
// gives each input's "binary_data_size", the little-endian values (BYTES:
// 4-byte lengths, then the bytes) follow it in the body, and the
// Inference-Header-Content-Length header gives the JSON's length. Smaller
// and faster to encode than JSON numbers, and exact for FP64; only for a
// server that supports the extension. Default false: JSON "data".
func WithBinaryInputs(on bool) HTTPOption {
	return httpOption(func(o *httpOptions) { o.binaryIn = on })
}

// WithBinaryOutputs makes KServeV2HTTP ask for its output as binary data
// ("binary_data": true on the requested output, "binary_data_output": true
// when no output is named). Binary outputs are decoded whenever a server
// sends them, asked or not. Default false: a server that does not support
// the extension ignores the request anyway, but some reject parameters
// they do not know.
func WithBinaryOutputs(on bool) HTTPOption {
	return httpOption(func(o *httpOptions) { o.binaryOut = on })
}

// KServeV2HTTP is a Client for the Open Inference Protocol (KServe v2) over
// HTTP/REST, as Triton, KServe's runtimes, MLServer and others serve it:
//
//	POST {base}/v2/models/{model}[/versions/{v}]/infer   JSON tensors
//	GET  {base}/v2/models/{model}[/versions/{v}]         metadata
//	GET  {base}/v2/models/{model}[/versions/{v}]/config  Triton's model configuration, for max_batch_size
//	GET  {base}/v2/health/ready, {base}/v2/models/{model}/ready
//
// It sends and reads tensors as KServeV2 does over gRPC, with the same
// options (the KServeOptions are HTTPOptions) and the same use of the
// metadata: a [N, F] FP32, FP64 or INT64 tensor for Score, [N, shape...]
// for ScoreShaped, a BYTES [N, 1] (or [N]) tensor of JSON strings for
// ScoreText; an FP32 or FP64 output of shape [N, C] or [N]. Values are
// JSON numbers in "data" unless WithBinaryInputs; outputs are read from
// "data" or from binary data (see WithBinaryOutputs).
//
// Calls are retried, deadlines and errors translated as the package doc
// says. It is safe for concurrent use.
type KServeV2HTTP struct {
	h         *httpClient
	o         kserveOptions
	meta      *KServeV2 // holds the options; picks tensors from the metadata
	modelPath string    // /v2/models/{model}[/versions/{v}]

	lock    chan struct{}           // held while fetching the metadata
	tensors atomic.Pointer[tensors] // for Score
	text    atomic.Pointer[tensors] // for ScoreText
}

// BytesPerValue implements ValueSizer: with WithBinaryInputs, the bytes of
// the input's data type (4 for FP32, 2 for FP16, 1 for UINT8, 8 for FP64
// and INT64) once the metadata is known; 0 (MaxBatchBytes counts 8) for
// JSON numbers, whose length varies.
func (k *KServeV2HTTP) BytesPerValue() int {
	t := k.tensors.Load()
	if t == nil || !k.h.o.binaryIn {
		return 0
	}
	return valueSize(t.datatype)
}

// NewKServeV2HTTP returns a client of the Open Inference Protocol's REST
// API at baseURL ("http://host:port" or "https://host:port", with an
// optional path prefix) for the named model. Plaintext is asked for by the
// http:// scheme; https:// uses TLS (WithHTTPTLS). The error, for an
// unusable URL or options, depends only on baseURL and opts, never on
// model. It does not connect: the first call does.
func NewKServeV2HTTP(baseURL, model string, opts ...HTTPOption) (*KServeV2HTTP, error) {
	h, err := newHTTPClient(baseURL, model, opts)
	if err != nil {
		return nil, err
	}
	if d := h.o.kserve.datatype; d != "" {
		if err := CheckInputDatatype(d); err != nil {
			return nil, fmt.Errorf("predictor: input %w", err)
		}
	}
	p := "/v2/models/" + url.PathEscape(model)
	if v := h.o.kserve.version; v != "" {
		p += "/versions/" + url.PathEscape(v)
	}
	k := &KServeV2HTTP{
		h:         h,
		o:         h.o.kserve,
		meta:      &KServeV2{o: h.o.kserve},
		modelPath: p,
		lock:      make(chan struct{}, 1),
	}
	if k.o.input != "" && k.o.output != "" && k.o.datatype != "" {
		k.tensors.Store(&tensors{input: k.o.input, datatype: k.o.datatype, output: k.o.output})
	}
	return k, nil
}

// v2Tensor is a tensor of the REST API: an input or output of a request or
// reply, or a tensor's metadata.
type v2Tensor struct {
	Name       string          `json:"name"`
	Datatype   string          `json:"datatype,omitempty"`
	Shape      []int64         `json:"shape,omitempty"`
	Data       json.RawMessage `json:"data,omitempty"`
	Parameters *v2Parameters   `json:"parameters,omitempty"`
}

type v2Parameters struct {
	BinaryDataSize *int64 `json:"binary_data_size,omitempty"`
	BinaryData     bool   `json:"binary_data,omitempty"`
}

type v2Metadata struct {
	Name    string     `json:"name"`
	Inputs  []v2Tensor `json:"inputs"`
	Outputs []v2Tensor `json:"outputs"`
}

// metadata fetches the model's metadata, as the gRPC message.
func (k *KServeV2HTTP) metadata(ctx context.Context) (*kservev2.ModelMetadataResponse, error) {
	const op = "v2 metadata"
	rep, err := k.h.do(ctx, op, http.MethodGet, k.modelPath, nil, nil)
	if err != nil {
		return nil, err
	}
	var m v2Metadata
	if err := decodeJSON(op, rep.body, &m); err != nil {
		return nil, err
	}
	md := &kservev2.ModelMetadataResponse{Name: m.Name}
	for _, t := range m.Inputs {
		md.Inputs = append(md.Inputs, &kservev2.ModelMetadataResponse_TensorMetadata{Name: t.Name, Datatype: t.Datatype, Shape: t.Shape})
	}
	for _, t := range m.Outputs {
		md.Outputs = append(md.Outputs, &kservev2.ModelMetadataResponse_TensorMetadata{Name: t.Name, Datatype: t.Datatype, Shape: t.Shape})
	}
	return md, nil
}

// cached returns the tensors in p or, when p is empty, fetches the metadata,
// derives them with from and stores them in p on success, as KServeV2 does.
func (k *KServeV2HTTP) cached(ctx context.Context, p *atomic.Pointer[tensors],
	from func(*kservev2.ModelMetadataResponse) (*tensors, error)) (*tensors, error) {
	if t := p.Load(); t != nil {
		return t, nil
	}
	select {
	case k.lock <- struct{}{}:
		defer func() { <-k.lock }()
	case <-ctx.Done():
		return nil, fmt.Errorf("predictor: v2 metadata: %w", ctx.Err())
	}
	if t := p.Load(); t != nil {
		return t, nil
	}
	md, err := k.metadata(ctx)
	if err != nil {
		return nil, err
	}
	t, err := from(md)
	if err != nil {
		return nil, err
	}
	p.Store(t)
	return t, nil
}

// Score sends rows in one infer call as a [rows, features] tensor. See
// Client.
func (k *KServeV2HTTP) Score(ctx context.Context, rows [][]float64) ([][]float64, error) {
	width, dims, err := tableDims(rows)
	if err != nil {
		return nil, err
	}
	return k.score(ctx, rows, width, dims)
}

// ScoreShaped sends rows in one infer call as a tensor of shape [rows,
// shape...]. See ShapedClient.
func (k *KServeV2HTTP) ScoreShaped(ctx context.Context, rows [][]float64, shape []int) ([][]float64, error) {
	width, dims, err := batchDims(rows, shape)
	if err != nil {
		return nil, err
	}
	return k.score(ctx, rows, width, dims)
}

func (k *KServeV2HTTP) score(ctx context.Context, rows [][]float64, width int, dims []int64) ([][]float64, error) {
	t, err := k.cached(ctx, &k.tensors, k.meta.tabular)
	if err != nil {
		return nil, err
	}
	in := v2Tensor{Name: t.input, Datatype: t.datatype, Shape: dims}
	var raw []byte
	if k.h.o.binaryIn {
		if raw, err = encodeRaw(rows, width, t.datatype); err != nil {
			return nil, err
		}
	} else if in.Data, err = jsonNumbers(rows, width, t.datatype); err != nil {
		return nil, err
	}
	out, err := k.infer(ctx, in, raw, t.output)
	return out, withheldRows(err, rows)
}

// jsonNumbers encodes rows as a flat JSON array of numbers of datatype:
// FP32 rounded to float32, FP16 to a half, INT64 and UINT8 to the nearest
// integer.
func jsonNumbers(rows [][]float64, width int, datatype string) ([]byte, error) {
	buf := make([]byte, 0, 2+len(rows)*width*20)
	buf = append(buf, '[')
	first := true
	for i, r := range rows {
		for _, v := range r {
			if !first {
				buf = append(buf, ',')
			}
			first = false
			switch datatype {
			case INT64:
				x, err := toInt64(v, i)
				if err != nil {
					return nil, err
				}
				buf = strconv.AppendInt(buf, x, 10)
				continue
			case UINT8:
				x, err := toUint8(v, i)
				if err != nil {
					return nil, err
				}
				buf = strconv.AppendUint(buf, uint64(x), 10)
				continue
			case FP32:
				v = float64(float32(v))
			case FP16:
				h, err := toFloat16(v, i)
				if err != nil {
					return nil, err
				}
				v = float16Value(h)
			}
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, invalidInput("row %d of the batch: a non-finite value cannot be sent as JSON", i)
			}
			if datatype == FP32 {
				buf = jsonFloat(buf, v, 32)
			} else {
				buf = jsonFloat(buf, v, 64)
			}
		}
	}
	return append(buf, ']'), nil
}

// ScoreText sends texts in one infer call as a BYTES tensor of shape [N, 1]
// (or [N] when the metadata gives the input rank 1): JSON strings in
// "data", or with WithBinaryInputs each text's 4-byte little-endian length
// and bytes. In JSON a text must be valid UTF-8, else the batch fails with
// ErrInvalidInput before anything is sent. The input is chosen as
// KServeV2.ScoreText chooses it. See TextClient.
func (k *KServeV2HTTP) ScoreText(ctx context.Context, texts []string) ([][]float64, error) {
	if err := checkTexts(texts); err != nil {
		return nil, err
	}
	t, err := k.cached(ctx, &k.text, k.meta.textual)
	if err != nil {
		return nil, err
	}
	shape := []int64{int64(len(texts)), 1}
	if t.rank == 1 {
		shape = shape[:1]
	}
	in := v2Tensor{Name: t.input, Datatype: BYTES, Shape: shape}
	var raw []byte
	if k.h.o.binaryIn {
		raw = encodeBytesTensor(texts)
	} else {
		for i, s := range texts {
			if !utf8.ValidString(s) {
				return nil, invalidInput("text %d of the batch is not valid UTF-8", i)
			}
		}
		if in.Data, err = json.Marshal(texts); err != nil {
			return nil, invalidInput("texts cannot be encoded as JSON")
		}
	}
	out, err := k.infer(ctx, in, raw, t.output)
	return out, withheld(err, texts)
}

// infer sends one input tensor, its values in in.Data or, binary, in raw,
// and decodes the output named output (the first when "").
func (k *KServeV2HTTP) infer(ctx context.Context, in v2Tensor, raw []byte, output string) ([][]float64, error) {
	const op = "v2 infer"
	req := struct {
		Inputs     []v2Tensor      `json:"inputs"`
		Outputs    []v2Tensor      `json:"outputs,omitempty"`
		Parameters map[string]bool `json:"parameters,omitempty"`
	}{}
	if raw != nil {
		size := int64(len(raw))
		in.Parameters = &v2Parameters{BinaryDataSize: &size}
	}
	req.Inputs = []v2Tensor{in}
	switch {
	case output != "":
		out := v2Tensor{Name: output}
		if k.h.o.binaryOut {
			out.Parameters = &v2Parameters{BinaryData: true}
		}
		req.Outputs = []v2Tensor{out}
	case k.h.o.binaryOut:
		req.Parameters = map[string]bool{"binary_data_output": true}
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, invalidInput("the request cannot be encoded as JSON")
	}
	header := jsonHeader
	if raw != nil {
		header = http.Header{
			"Content-Type":    {"application/octet-stream"},
			inferHeaderLength: {strconv.Itoa(len(body))},
		}
		body = append(body, raw...)
	}
	rep, err := k.h.do(ctx, op, http.MethodPost, k.modelPath+"/infer", body, header)
	if err != nil {
		return nil, err
	}
	out, err := decodeInferReply(op, rep, output)
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

// decodeInferReply splits a reply into its JSON and binary parts, finds the
// output named name (the first when "") and decodes it as decodeOutput
// does for gRPC.
func decodeInferReply(op string, rep *httpReply, name string) ([][]float64, error) {
	js, bin := rep.body, []byte(nil)
	if hl := rep.header.Get(inferHeaderLength); hl != "" {
		n, err := strconv.Atoi(hl)
		if err != nil || n < 0 || n > len(rep.body) {
			return nil, badOutput("%s: %s %q does not fit a reply of %d bytes", op, inferHeaderLength, hl, len(rep.body))
		}
		js, bin = rep.body[:n], rep.body[n:]
	}
	var r struct {
		Outputs []v2Tensor `json:"outputs"`
	}
	if err := decodeJSON(op, js, &r); err != nil {
		return nil, err
	}
	if len(r.Outputs) == 0 {
		return nil, badOutput("%s: no output tensor", op)
	}
	idx := 0
	if name != "" {
		idx = -1
		for i, o := range r.Outputs {
			if o.Name == name {
				idx = i
				break
			}
		}
		if idx < 0 {
			return nil, badOutput("%s: no output named %q", op, name)
		}
	}
	// The binary data of the outputs that have some follow the JSON in
	// the outputs' order.
	var off int64
	var raw []byte
	hasRaw := false
	for i, o := range r.Outputs {
		if o.Parameters == nil || o.Parameters.BinaryDataSize == nil {
			continue
		}
		size := *o.Parameters.BinaryDataSize
		if size < 0 || size > int64(len(bin))-off {
			return nil, badOutput("%s: output %d: binary_data_size runs past the end of the reply", op, i)
		}
		if i == idx {
			raw, hasRaw = bin[off:off+size], true
		}
		off += size
	}
	o := r.Outputs[idx]
	t := &kservev2.ModelInferResponse_InferOutputTensor{Name: o.Name, Datatype: o.Datatype, Shape: o.Shape}
	if o.Shape == nil {
		return nil, badOutput("%s: output has no shape", op)
	}
	if !hasRaw {
		if o.Datatype == FP16 {
			// Halves as JSON numbers: decimal already, read as FP32 would be.
			t.Datatype = FP32
		} else if o.Datatype != FP32 && o.Datatype != FP64 {
			return nil, badOutput("%s: output data type is not FP32, FP64 or FP16", op)
		}
		flat, err := flattenNumbers(o.Data)
		if err != nil {
			return nil, badOutput("%s: output %q: %v", op, o.Name, err)
		}
		t.Contents = &kservev2.InferTensorContents{}
		if t.Datatype == FP32 {
			t.Contents.Fp32Contents = make([]float32, len(flat))
			for i, v := range flat {
				t.Contents.Fp32Contents[i] = float32(v)
			}
		} else {
			t.Contents.Fp64Contents = flat
		}
	}
	return decodeOutput(t, raw, hasRaw)
}

// errNotNumbers is flattenNumbers' error for anything but nested arrays of
// numbers.
var errNotNumbers = errors.New("data is not an array of numbers")

// flattenNumbers decodes a tensor's "data": a flat or nested JSON array of
// numbers, in row-major order.
func flattenNumbers(data json.RawMessage) ([]float64, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("no data")
	}
	var flat []float64
	if json.Unmarshal(data, &flat) == nil { // the common case, flat
		return flat, nil
	}
	flat = nil // Unmarshal fills what it can before it fails
	var v any
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return nil, errNotNumbers
	}
	var walk func(any) error
	walk = func(v any) error {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				if err := walk(e); err != nil {
					return err
				}
			}
			return nil
		case json.Number:
			f, err := strconv.ParseFloat(string(x), 64)
			if err != nil {
				return errors.New("a number is out of range")
			}
			flat = append(flat, f)
			return nil
		default:
			return errNotNumbers
		}
	}
	if _, ok := v.([]any); !ok {
		return nil, errNotNumbers
	}
	if err := walk(v); err != nil {
		return nil, err
	}
	return flat, nil
}

// Describe reads the metadata and, where the server has it (Triton), the
// model configuration for max_batch_size; a server without it (404, 400,
// 405, 501 on the config path: KServe's runtimes) leaves the limit
// unknown. The feature count, class count and input kind come from the
// metadata as KServeV2.Describe takes them. See Client.
func (k *KServeV2HTTP) Describe(ctx context.Context) (ModelInfo, error) {
	md, err := k.metadata(ctx)
	if err != nil {
		return ModelInfo{}, err
	}
	info, in := metadataInfo(k.h.model, md, k.o.input, k.o.output)
	if t, err := k.meta.tabular(md); err == nil {
		// Score's tensors, from the same metadata, as KServeV2.Describe
		// keeps them: BytesPerValue knows the data type before any call.
		k.tensors.CompareAndSwap(nil, t)
	}

	const op = "v2 config"
	rep, err := k.h.do(ctx, op, http.MethodGet, k.modelPath+"/config", nil, nil)
	switch {
	case err != nil && rep != nil && ctx.Err() == nil &&
		(rep.status == http.StatusNotFound || rep.status == http.StatusBadRequest ||
			rep.status == http.StatusMethodNotAllowed || rep.status == http.StatusNotImplemented):
		// No model configuration (KServe): only a fixed first dimension
		// says something.
		info.MaxBatchSize, info.BatchRule = batchLimit(0, false, in.GetShape())
	case err != nil:
		return ModelInfo{}, err
	default:
		var cfg struct {
			MaxBatchSize int64 `json:"max_batch_size"`
		}
		if err := decodeJSON(op, rep.body, &cfg); err != nil {
			return ModelInfo{}, err
		}
		info.MaxBatchSize, info.BatchRule = batchLimit(cfg.MaxBatchSize, true, in.GetShape())
	}
	return info, nil
}

// Ready asks GET /v2/health/ready and then GET /v2/models/{model}/ready:
// nil when both answer 2xx (and, when the body says, "ready": true); an
// ErrUnavailable when either says the server or the model is not ready;
// else the translated error of the call (a 4xx, which a server may also
// answer for not ready, included).
func (k *KServeV2HTTP) Ready(ctx context.Context) error {
	const sop, mop = "v2 server ready", "v2 model ready"
	rep, err := k.h.do(ctx, sop, http.MethodGet, "/v2/health/ready", nil, nil)
	if err != nil {
		return err
	}
	if err := readyBody(sop, rep.body, "server not ready"); err != nil {
		return err
	}
	if rep, err = k.h.do(ctx, mop, http.MethodGet, k.modelPath+"/ready", nil, nil); err != nil {
		return err
	}
	return readyBody(mop, rep.body, "model not ready")
}
