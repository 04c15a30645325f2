package predictor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"unicode/utf8"
)

// Compile-time checks.
var (
	_ TextClient   = (*KServeV1HTTP)(nil)
	_ ShapedClient = (*KServeV1HTTP)(nil)
)

// WithScalarPredictions makes KServeV1HTTP take a prediction that is one
// number, not a list, as the instance's one score: for a regressor, or a
// model that returns the probability of its positive class alone. Without
// it such predictions fail with ErrBadOutput, since a bare number is as
// often a class label (scikit-learn's predict), which no estimator can
// explain. Default false. KServeV2HTTP needs no option: an output of shape
// [N] in FP32 or FP64 is one score per instance, as with KServeV2.
func WithScalarPredictions(on bool) HTTPOption {
	return httpOption(func(o *httpOptions) { o.scalar = on })
}

// KServeV1HTTP is a Client for KServe's v1 protocol over HTTP (the
// TensorFlow Serving REST API that KServe's model servers speak):
//
//	POST {base}/v1/models/{model}:predict   {"instances": [...]} → {"predictions": [...]}
//	GET  {base}/v1/models/{model}           {"name": ..., "ready": true}
//
// An instance is a row of numbers, a nested array of a ShapedClient's
// shape (an image), or a JSON string (a text). A prediction must be a list
// of per-class scores (probabilities for a classifier: scikit-learn's
// predict_proba, which KServe's sklearn server returns with
// PREDICT_PROBA=true); a prediction that is one number is refused (see
// WithScalarPredictions).
//
// The v1 protocol has no metadata: Describe knows the model's name and
// nothing else, and the batch limit is the Batcher's (MaxBatchSize and
// MaxBatchBytes): KServe v1 servers take any number of instances, so
// raising MaxBatchSize leaves only the bytes cap to split batches. A batch
// of MaxBatchBytes, counted at 8 bytes per value, is up to about three
// times as large in JSON.
//
// Calls are retried, deadlines and errors translated as the package doc
// says. It is safe for concurrent use.
type KServeV1HTTP struct {
	h                   *httpClient
	predictPath, status string
	softmax, scalar     bool
}

// NewKServeV1HTTP returns a client of the KServe v1 protocol at baseURL
// ("http://host:port" or "https://host:port", with an optional path prefix)
// for the named model. Plaintext is asked for by the http:// scheme;
// https:// uses TLS (WithHTTPTLS). The error, for an unusable URL or
// options, depends only on baseURL and opts, never on model. It does not
// connect: the first call does.
func NewKServeV1HTTP(baseURL, model string, opts ...HTTPOption) (*KServeV1HTTP, error) {
	h, err := newHTTPClient(baseURL, model, opts)
	if err != nil {
		return nil, err
	}
	p := "/v1/models/" + url.PathEscape(model)
	return &KServeV1HTTP{
		h:           h,
		predictPath: p + ":predict",
		status:      p,
		softmax:     h.o.kserve.softmax,
		scalar:      h.o.scalar,
	}, nil
}

var jsonHeader = http.Header{"Content-Type": {"application/json"}}

// Score sends rows in one :predict call as {"instances": [[...], ...]}. See
// Client.
func (k *KServeV1HTTP) Score(ctx context.Context, rows [][]float64) ([][]float64, error) {
	width, err := checkRows(rows)
	if err != nil {
		return nil, err
	}
	return k.scoreShaped(ctx, rows, []int{width})
}

// ScoreShaped sends rows in one :predict call, each instance a nested
// array of the given shape (an 8×8 image as 8 lists of 8 numbers). See
// ShapedClient.
func (k *KServeV1HTTP) ScoreShaped(ctx context.Context, rows [][]float64, shape []int) ([][]float64, error) {
	width, err := checkRows(rows)
	if err != nil {
		return nil, err
	}
	if err := checkShape(shape, width); err != nil {
		return nil, err
	}
	return k.scoreShaped(ctx, rows, shape)
}

func (k *KServeV1HTTP) scoreShaped(ctx context.Context, rows [][]float64, shape []int) ([][]float64, error) {
	body := make([]byte, 0, 32+len(rows)*max(1, shape[0])*20)
	body = append(body, `{"instances":[`...)
	for i, r := range rows {
		if i > 0 {
			body = append(body, ',')
		}
		var err error
		if body, err = appendNested(body, r, shape, i); err != nil {
			return nil, err
		}
	}
	body = append(body, "]}"...)
	out, err := k.predict(ctx, body, len(rows))
	return out, withheldRows(err, rows)
}

// appendNested appends the values of one instance as nested JSON arrays of
// the given shape, in row-major order. row is the instance's number in the
// batch, for errors.
func appendNested(dst []byte, vals []float64, shape []int, row int) ([]byte, error) {
	dst = append(dst, '[')
	if len(shape) == 1 {
		for j, v := range vals {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, invalidInput("row %d of the batch: a non-finite value cannot be sent as JSON", row)
			}
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = jsonFloat(dst, v, 64)
		}
		return append(dst, ']'), nil
	}
	step := len(vals) / shape[0]
	for j := range shape[0] {
		if j > 0 {
			dst = append(dst, ',')
		}
		var err error
		if dst, err = appendNested(dst, vals[j*step:(j+1)*step], shape[1:], row); err != nil {
			return nil, err
		}
	}
	return append(dst, ']'), nil
}

// ScoreText sends texts in one :predict call as {"instances": ["...",
// ...]}. A text that is not valid UTF-8 (which JSON cannot carry) fails
// the batch with ErrInvalidInput before anything is sent. See TextClient.
func (k *KServeV1HTTP) ScoreText(ctx context.Context, texts []string) ([][]float64, error) {
	if err := checkTexts(texts); err != nil {
		return nil, err
	}
	for i, s := range texts {
		if !utf8.ValidString(s) {
			return nil, invalidInput("text %d of the batch is not valid UTF-8", i)
		}
	}
	body, err := json.Marshal(struct {
		Instances []string `json:"instances"`
	}{texts})
	if err != nil {
		return nil, invalidInput("texts cannot be encoded as JSON")
	}
	out, err := k.predict(ctx, body, len(texts))
	return out, withheld(err, texts)
}

// predict posts body and decodes the predictions of n instances.
func (k *KServeV1HTTP) predict(ctx context.Context, body []byte, n int) ([][]float64, error) {
	const op = "v1 predict"
	rep, err := k.h.do(ctx, op, http.MethodPost, k.predictPath, body, jsonHeader)
	if err != nil {
		return nil, err
	}
	out, err := decodePredictions(op, rep.body, k.scalar)
	if err != nil {
		return nil, err
	}
	if k.softmax {
		for _, r := range out {
			softmax(r)
		}
	}
	return out, nil
}

// decodePredictions decodes {"predictions": [...]}: each prediction a list
// of numbers or, with scalar, a number. The rows share one backing array.
func decodePredictions(op string, body []byte, scalar bool) ([][]float64, error) {
	var r struct {
		Predictions *[]json.RawMessage `json:"predictions"`
	}
	if err := decodeJSON(op, body, &r); err != nil {
		return nil, err
	}
	if r.Predictions == nil {
		return nil, badOutput("%s: the reply has no \"predictions\"", op)
	}
	preds := *r.Predictions
	if len(preds) == 0 {
		return [][]float64{}, nil // the Batcher reports the count
	}
	var flat []float64
	width := -1
	for i, p := range preds {
		p = bytes.TrimSpace(p)
		var w int
		switch {
		case len(p) > 0 && p[0] == '[':
			var row []float64
			if err := json.Unmarshal(p, &row); err != nil {
				return nil, badOutput("%s: prediction %d is not a list of numbers (a nested list or another type): want one list of class scores per instance, shape [N, classes]", op, i)
			}
			if flat == nil {
				flat = make([]float64, 0, len(preds)*len(row))
			}
			flat = append(flat, row...)
			w = len(row)
		case len(p) > 0 && (p[0] == '-' || (p[0] >= '0' && p[0] <= '9')):
			if !scalar {
				return nil, badOutput("%s: predictions are one number per instance, shape [N]: a class label or a single value, not per-class scores, shape [N, classes]; "+
					"serve class probabilities (predict_proba), or use WithScalarPredictions for a model whose one value is its score", op)
			}
			var v float64
			if err := json.Unmarshal(p, &v); err != nil {
				return nil, badOutput("%s: prediction %d is a number out of range", op, i)
			}
			flat = append(flat, v)
			w = 1
		default:
			return nil, badOutput("%s: prediction %d is a JSON %s, want a list of class scores", op, i, jsonKind(p))
		}
		if width >= 0 && w != width {
			return nil, badOutput("%s: prediction %d has %d scores, prediction 0 has %d", op, i, w, width)
		}
		width = w
	}
	if width == 0 {
		return nil, badOutput("%s: 0 scores per prediction", op)
	}
	return reshape(flat, width), nil
}

// jsonKind names the kind of a JSON value from its first byte.
func jsonKind(v []byte) string {
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '{':
		return "object"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	case '[':
		return "array"
	default:
		return "number"
	}
}

// Describe checks that the model exists (GET /v1/models/{model}) and
// returns its name: the v1 protocol has no metadata, so the feature count,
// classes and input kind are unknown (0), and it has no batch limit
// (BatchNoLimit: the bytes cap splits batches; --max-batch-size caps a
// server that has one). See Client.
func (k *KServeV1HTTP) Describe(ctx context.Context) (ModelInfo, error) {
	if _, err := k.h.do(ctx, "v1 model", http.MethodGet, k.status, nil, nil); err != nil {
		return ModelInfo{}, err
	}
	return ModelInfo{Name: k.h.model, BatchRule: BatchNoLimit}, nil
}

// Ready returns nil when GET /v1/models/{model} answers {"ready": true}
// (or 200 without a "ready" member), an ErrUnavailable when the model is not
// ready, and the translated error of a failed call.
func (k *KServeV1HTTP) Ready(ctx context.Context) error {
	const op = "v1 model"
	rep, err := k.h.do(ctx, op, http.MethodGet, k.status, nil, nil)
	if err != nil {
		return err
	}
	return readyBody(op, rep.body, "model not ready")
}

// readyBody reads the "ready" member of a readiness reply: false is
// ErrUnavailable with why, absent is ready (Triton answers 200 with no body).
func readyBody(op string, body []byte, why string) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	var r struct {
		Ready *bool `json:"ready"`
	}
	if json.Unmarshal(body, &r) == nil && r.Ready != nil && !*r.Ready {
		return fmt.Errorf("predictor: %s: %w: %s", op, ErrUnavailable, why)
	}
	return nil
}
