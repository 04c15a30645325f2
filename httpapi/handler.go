package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strings"

	"connectrpc.com/vanguard"
	"connectrpc.com/vanguard/vanguardgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
	"github.com/explainer-sidecar/explainer/server"
)

// MaxBodyBytes caps a request body, JSON or protobuf, and each message of a
// stream: the gRPC listener's limit (server.MaxRecvMsgSize). JSON takes
// about 2.5 times the bytes of protobuf for the same numbers, so a data set
// that fits gRPC may not fit here; send large ones over gRPC, or as
// training statistics.
const MaxBodyBytes = server.MaxRecvMsgSize

// MaxInstances caps the instances of one :explain request.
const MaxInstances = 1024

// The JSON of the API: protojson with the proto field names
// ("num_samples"), as the .proto file and the CLI's JSON output spell them
// (the JSON names, "numSamples", are accepted too). Zero values and empty
// lists are written out ("index": 0), so that a client without the schema
// finds every field; unset messages are left out. Unknown fields in a
// request are an error, so that a misspelt option is not silently ignored.
var marshalJSON = protojson.MarshalOptions{UseProtoNames: true, EmitDefaultValues: true}

// Handler serves the explainer over HTTP (see the package documentation).
type Handler struct {
	mux        *http.ServeMux
	transcoder http.Handler
	opts       options
}

type options struct {
	model       string
	ready       func(context.Context) bool
	maxInFlight int
	log         *slog.Logger
	batch       func(*explainerv1.ExplainRequest, []*explainerv1.Instance) *explainerv1.ExplainRequest
}

// Option configures a Handler.
type Option func(*options)

// WithModel names the model KServe's endpoints serve (KServe's
// --model_name, which the sidecar explains by default): /v1/models/{name}
// answers for this name only, with 404 for others. Default: none, and every
// /v1/models/{name} is 404.
func WithModel(name string) Option { return func(o *options) { o.model = name } }

// WithReady sets the readiness GET /v1/models/{name} reports: 200 when
// ready returns true, else 503. Default: always ready. The sidecar passes
// server.Server.Ready, which follows the model server's readiness.
func WithReady(ready func(context.Context) bool) Option {
	return func(o *options) {
		if ready != nil {
			o.ready = ready
		}
	}
}

// WithMaxInstancesInFlight caps the instances of one :explain request
// explained at once (each is one job; the server's admission still caps
// the jobs of every request together). Default
// server.DefaultMaxConcurrentJobs; values < 1 are ignored.
func WithMaxInstancesInFlight(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.maxInFlight = n
		}
	}
}

// WithBatches makes :explain send its instances as one batch job when
// batch, given the request without an instance and the instances, returns
// one (the sidecar passes server.Server.BatchRequest), so that they share
// the work done once per job and the model's calls; when it returns nil,
// each instance is a job of its own. Default: a job per instance.
func WithBatches(batch func(req *explainerv1.ExplainRequest, instances []*explainerv1.Instance) *explainerv1.ExplainRequest) Option {
	return func(o *options) { o.batch = batch }
}

// WithLogger sets the logger of failures the client is not told about
// (a response it went away before reading). Default: discard.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.log = l
		}
	}
}

// New returns a Handler in front of gs, which must have every service
// registered already: the transcoder serves what gs serves.
func New(gs *grpc.Server, opts ...Option) (*Handler, error) {
	o := options{
		ready:       func(context.Context) bool { return true },
		maxInFlight: server.DefaultMaxConcurrentJobs,
		log:         slog.New(slog.DiscardHandler),
	}
	for _, opt := range opts {
		opt(&o)
	}
	tc, err := vanguardgrpc.NewTranscoder(gs,
		vanguard.WithCodec(func(res vanguard.TypeResolver) vanguard.Codec {
			return jsonCodec{vanguard.JSONCodec{
				MarshalOptions:   protojson.MarshalOptions{Resolver: res, UseProtoNames: marshalJSON.UseProtoNames, EmitDefaultValues: marshalJSON.EmitDefaultValues},
				UnmarshalOptions: protojson.UnmarshalOptions{Resolver: res},
			}}
		}),
		vanguard.WithDefaultServiceOptions(vanguard.WithMaxMessageBufferBytes(MaxBodyBytes)),
	)
	if err != nil {
		return nil, fmt.Errorf("httpapi: %w", err)
	}
	h := &Handler{mux: http.NewServeMux(), transcoder: tc, opts: o}
	h.mux.HandleFunc("/", h.rpc)
	h.mux.HandleFunc("POST /"+explainJobMethod, h.explainJob)
	h.mux.HandleFunc("GET /{$}", h.live)
	h.mux.HandleFunc("GET /v1/models", h.models)
	h.mux.HandleFunc("/v1/models/{model}", h.kserve)
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// rpc passes a call to the transcoder. A POST with an application/json or
// application/proto body is a Connect unary call whether or not it sends
// Connect-Protocol-Version (connect-go servers do not require it either);
// the transcoder would otherwise take it for REST, which this API does not
// map.
func (h *Handler) rpc(w http.ResponseWriter, r *http.Request) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if r.Method != http.MethodPost || (mt != "application/json" && mt != "application/proto") {
		h.transcoder.ServeHTTP(w, r)
		return
	}
	if r.Header.Get("Connect-Protocol-Version") == "" {
		r.Header.Set("Connect-Protocol-Version", "1")
	}
	bw := &bodyErrors{ResponseWriter: w}
	h.transcoder.ServeHTTP(bw, r)
	bw.finish()
}

// jsonCodec is vanguard's JSON codec whose decoding errors start with
// decodeErrorPrefix and have no protojson prefix. The gRPC server gets them
// as a failure to read the request, which it reports as UNKNOWN; bodyErrors
// turns them into INVALID_ARGUMENT, the client's mistake.
type jsonCodec struct{ vanguard.JSONCodec }

func (c jsonCodec) Unmarshal(data []byte, msg proto.Message) error {
	if err := c.JSONCodec.Unmarshal(data, msg); err != nil {
		return errors.New(decodeErrorPrefix + server.JSONError(err).Error())
	}
	return nil
}

// decodeErrorPrefix starts the message of a request body that does not
// decode. No status of the server is UNKNOWN, so an UNKNOWN error with this
// prefix is one of jsonCodec's.
const decodeErrorPrefix = "request body: "

// isDecodeError tells whether a Connect error is a body that did not decode.
func isDecodeError(e connectError) bool {
	return e.Code == codeNames[codes.Unknown] && strings.HasPrefix(e.Message, decodeErrorPrefix)
}

// bodyErrors is the writer of a unary call: it holds back an error answer
// (status >= 400) until the call ends, so that a body that did not decode
// can become 400 INVALID_ARGUMENT.
type bodyErrors struct {
	http.ResponseWriter
	status int
	held   bytes.Buffer
}

func (b *bodyErrors) WriteHeader(code int) {
	if b.status != 0 {
		return
	}
	b.status = code
	if code < 400 {
		b.ResponseWriter.WriteHeader(code)
	}
}

func (b *bodyErrors) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.WriteHeader(http.StatusOK)
	}
	if b.status >= 400 {
		return b.held.Write(p)
	}
	return b.ResponseWriter.Write(p)
}

// Flush implements http.Flusher for successful answers.
func (b *bodyErrors) Flush() {
	if b.status != 0 && b.status < 400 {
		_ = http.NewResponseController(b.ResponseWriter).Flush()
	}
}

// finish writes a held error answer.
func (b *bodyErrors) finish() {
	if b.status < 400 {
		return
	}
	var e connectError
	if json.Unmarshal(b.held.Bytes(), &e) == nil && isDecodeError(e) {
		e.Code = codeNames[codes.InvalidArgument]
		b.Header().Del("Content-Length")
		writeJSON(b.ResponseWriter, http.StatusBadRequest, e)
		return
	}
	b.ResponseWriter.WriteHeader(b.status)
	_, _ = b.ResponseWriter.Write(b.held.Bytes())
}

// codeNames are the Connect protocol's names of the gRPC codes.
var codeNames = [...]string{
	codes.OK:                 "ok",
	codes.Canceled:           "canceled",
	codes.Unknown:            "unknown",
	codes.InvalidArgument:    "invalid_argument",
	codes.DeadlineExceeded:   "deadline_exceeded",
	codes.NotFound:           "not_found",
	codes.AlreadyExists:      "already_exists",
	codes.PermissionDenied:   "permission_denied",
	codes.ResourceExhausted:  "resource_exhausted",
	codes.FailedPrecondition: "failed_precondition",
	codes.Aborted:            "aborted",
	codes.OutOfRange:         "out_of_range",
	codes.Unimplemented:      "unimplemented",
	codes.Internal:           "internal",
	codes.Unavailable:        "unavailable",
	codes.DataLoss:           "data_loss",
	codes.Unauthenticated:    "unauthenticated",
}

// httpStatus is the HTTP status of a Connect error code, as the Connect
// protocol maps them (and vanguard with it).
func httpStatus(code string) int {
	switch code {
	case "canceled":
		return 499
	case "invalid_argument", "failed_precondition", "out_of_range":
		return http.StatusBadRequest
	case "deadline_exceeded":
		return http.StatusGatewayTimeout
	case "not_found":
		return http.StatusNotFound
	case "already_exists", "aborted":
		return http.StatusConflict
	case "permission_denied":
		return http.StatusForbidden
	case "resource_exhausted":
		return http.StatusTooManyRequests
	case "unimplemented":
		return http.StatusNotImplemented
	case "unavailable":
		return http.StatusServiceUnavailable
	case "unauthenticated":
		return http.StatusUnauthorized
	}
	return http.StatusInternalServerError
}

// writeJSON writes v as a JSON response with status code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // "x > 0.48" as it is
	_ = enc.Encode(v)
}

// connectError is the Connect protocol's JSON error, also used by the
// endpoints that are not RPCs.
type connectError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// writeError writes a Connect-shaped error with the code's HTTP status.
func writeError(w http.ResponseWriter, code codes.Code, format string, args ...any) {
	writeJSON(w, httpStatus(codeNames[code]), connectError{Code: codeNames[code], Message: fmt.Sprintf(format, args...)})
}
