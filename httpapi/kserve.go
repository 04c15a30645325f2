package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/explainer-sidecar/explainer/internal/group"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
	"github.com/explainer-sidecar/explainer/server"
)

// explainMethod is Explain's path, without the leading slash.
const explainMethod = server.ServiceName + "/Explain"

// live is KServe's liveness, GET /: the process answers.
func (h *Handler) live(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "alive"})
}

// models lists the served model, GET /v1/models.
func (h *Handler) models(w http.ResponseWriter, _ *http.Request) {
	models := []string{}
	if h.opts.model != "" {
		models = append(models, h.opts.model)
	}
	writeJSON(w, http.StatusOK, map[string][]string{"models": models})
}

// kserveError is KServe's error body; code is the Connect code's name.
type kserveError struct {
	Error string `json:"error"`
	Code  string `json:"code,omitempty"`
}

// kserve serves /v1/models/{model}: GET is the model's readiness, POST
// {model}:explain explains instances.
func (h *Handler) kserve(w http.ResponseWriter, r *http.Request) {
	name, verb, _ := strings.Cut(r.PathValue("model"), ":")
	if h.opts.model == "" || name != h.opts.model {
		writeJSON(w, http.StatusNotFound, kserveError{Error: fmt.Sprintf("model %q is not served here", name), Code: "not_found"})
		return
	}
	switch {
	case verb == "" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		ready := h.opts.ready(r.Context())
		code := http.StatusOK
		if !ready {
			code = http.StatusServiceUnavailable
		}
		writeJSON(w, code, map[string]any{"name": name, "ready": ready})
	case verb == "explain" && r.Method == http.MethodPost:
		h.explain(w, r)
	case verb == "" || verb == "explain":
		w.Header().Set("Allow", map[bool]string{true: "GET", false: "POST"}[verb == ""])
		writeJSON(w, http.StatusMethodNotAllowed, kserveError{Error: r.Method + " not allowed"})
	default:
		writeJSON(w, http.StatusNotFound, kserveError{Error: fmt.Sprintf("%q: this sidecar serves :explain only", verb), Code: "not_found"})
	}
}

// explainBody is :explain's request.
type explainBody struct {
	Instances  []json.RawMessage `json:"instances"`
	Parameters json.RawMessage   `json:"parameters"`
}

// explain serves POST /v1/models/{model}:explain: the instances are one
// batch Explain call when WithBatches makes one of them, else each is one
// Explain call, at most maxInFlight at once; calls go through the
// transcoder with the request's headers (bearer token, request id,
// deadline). The answer is {"explanations": [...]}, one protojson
// Explanation per instance in order; if any instance fails, the answer is
// the first failure's status and message (prefixed with the instance),
// and the others are cancelled.
func (h *Handler) explain(w http.ResponseWriter, r *http.Request) {
	var body explainBody
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err := dec.Decode(&body); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeJSON(w, http.StatusTooManyRequests, kserveError{Error: fmt.Sprintf("request body larger than %d bytes", MaxBodyBytes), Code: "resource_exhausted"})
			return
		}
		writeJSON(w, http.StatusBadRequest, kserveError{Error: "want a JSON object {\"instances\": [...]}: " + err.Error(), Code: "invalid_argument"})
		return
	}
	switch n := len(body.Instances); {
	case n == 0:
		writeJSON(w, http.StatusBadRequest, kserveError{Error: "instances: required, one or more", Code: "invalid_argument"})
		return
	case n > MaxInstances:
		writeJSON(w, http.StatusBadRequest, kserveError{Error: fmt.Sprintf("instances: %d, more than %d", n, MaxInstances), Code: "invalid_argument"})
		return
	}
	base, layout, err := parseParameters(body.Parameters)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, kserveError{Error: "parameters: " + err.Error(), Code: "invalid_argument"})
		return
	}
	insts := make([]*explainerv1.Instance, len(body.Instances))
	for i, raw := range body.Instances {
		inst, err := decodeInstance(raw, layout)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, kserveError{Error: fmt.Sprintf("instances[%d]: %v", i, err), Code: "invalid_argument"})
			return
		}
		insts[i] = inst
	}
	if h.opts.batch != nil {
		if req := h.opts.batch(base, insts); req != nil {
			h.explainBatch(w, r, req)
			return
		}
	}
	reqs := make([]*explainerv1.ExplainRequest, len(insts))
	for i, inst := range insts {
		req := proto.Clone(base).(*explainerv1.ExplainRequest)
		req.Instance = inst // the model is the sidecar's default unless parameters name one
		reqs[i] = req
	}
	exps := make([]json.RawMessage, len(reqs))
	g, ctx := group.WithContext(r.Context())
	g.SetLimit(h.opts.maxInFlight)
	for i, req := range reqs {
		g.Go(func() error {
			exp, cerr := h.call(ctx, r.Header, req)
			if cerr != nil {
				cerr.index = i
				return cerr
			}
			b, err := marshalJSON.Marshal(exp)
			exps[i] = b
			return err
		})
	}
	if err := g.Wait(); err != nil {
		var ce *callError
		if errors.As(err, &ce) {
			writeJSON(w, ce.status, kserveError{Error: fmt.Sprintf("instances[%d]: %s", ce.index, ce.Message), Code: ce.Code})
			return
		}
		h.opts.log.ErrorContext(r.Context(), "explain failed", "error", err)
		writeJSON(w, http.StatusInternalServerError, kserveError{Error: "internal error", Code: "internal"})
		return
	}
	writeJSON(w, http.StatusOK, map[string][]json.RawMessage{"explanations": exps})
}

// explainBatch answers :explain with one batch job: its instances'
// explanations, or its error, naming the instance at fault as the jobs of
// single instances do.
func (h *Handler) explainBatch(w http.ResponseWriter, r *http.Request, req *explainerv1.ExplainRequest) {
	exp, cerr := h.call(r.Context(), r.Header, req)
	if cerr != nil {
		msg := cerr.Message
		if i, rest, ok := server.BatchInstanceError(msg); ok {
			msg = fmt.Sprintf("instances[%d]: %s", i, rest)
		}
		writeJSON(w, cerr.status, kserveError{Error: msg, Code: cerr.Code})
		return
	}
	exps := make([]json.RawMessage, len(exp.GetBatch().GetExplanations()))
	for i, e := range exp.GetBatch().GetExplanations() {
		b, err := marshalJSON.Marshal(e)
		if err != nil {
			h.opts.log.ErrorContext(r.Context(), "explain failed", "error", err)
			writeJSON(w, http.StatusInternalServerError, kserveError{Error: "internal error", Code: "internal"})
			return
		}
		exps[i] = b
	}
	writeJSON(w, http.StatusOK, map[string][]json.RawMessage{"explanations": exps})
}

// parseParameters decodes :explain's "parameters": the request's fields as
// server.ParseParameters reads them, and "image_layout", "hwc" (default) or
// "chw", the order of the images' nested arrays and of the values the model
// is sent.
func parseParameters(raw json.RawMessage) (*explainerv1.ExplainRequest, explainerv1.ImageLayout, error) {
	layout := explainerv1.ImageLayout_IMAGE_LAYOUT_HWC
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return &explainerv1.ExplainRequest{}, layout, nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, 0, fmt.Errorf("want a JSON object: %w", err)
	}
	if v, ok := fields["image_layout"]; ok {
		delete(fields, "image_layout")
		var s string
		_ = json.Unmarshal(v, &s)
		switch strings.ToLower(s) {
		case "hwc":
		case "chw":
			layout = explainerv1.ImageLayout_IMAGE_LAYOUT_CHW
		default:
			return nil, 0, fmt.Errorf("image_layout: %s: want \"hwc\" or \"chw\"", v)
		}
	}
	rest, _ := json.Marshal(fields)
	req, err := server.ParseParameters(rest)
	return req, layout, err
}

// callError is a failed Explain call: its Connect code and message, and
// the HTTP status the transcoder answered with.
type callError struct {
	connectError
	status int
	index  int
}

func (e *callError) Error() string { return e.Code + ": " + e.Message }

// forwarded are the headers of an :explain request its Explain calls carry.
var forwarded = []string{"Authorization", server.RequestIDHeader, "Connect-Timeout-Ms"}

// call runs one Explain through the transcoder, in protobuf: the same
// path, interceptors and limits as a gRPC client's call.
func (h *Handler) call(ctx context.Context, header http.Header, req *explainerv1.ExplainRequest) (*explainerv1.Explanation, *callError) {
	payload, err := proto.Marshal(req)
	if err != nil {
		return nil, &callError{connectError: connectError{Code: "internal", Message: "internal error"}, status: http.StatusInternalServerError}
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, "/"+explainMethod, bytes.NewReader(payload))
	if err != nil {
		return nil, &callError{connectError: connectError{Code: "internal", Message: "internal error"}, status: http.StatusInternalServerError}
	}
	hr.Header.Set("Content-Type", "application/proto")
	hr.Header.Set("Connect-Protocol-Version", "1")
	for _, k := range forwarded {
		if v := header.Values(k); len(v) > 0 {
			hr.Header[http.CanonicalHeaderKey(k)] = v
		}
	}
	rec := &recorder{header: http.Header{}}
	h.transcoder.ServeHTTP(rec, hr)
	if rec.status == http.StatusOK {
		var resp explainerv1.ExplainResponse
		if err := proto.Unmarshal(rec.body.Bytes(), &resp); err == nil {
			return resp.GetExplanation(), nil
		}
	}
	ce := &callError{status: rec.status}
	if err := json.Unmarshal(rec.body.Bytes(), &ce.connectError); err != nil || ce.Code == "" {
		ce.connectError = connectError{Code: codeNames[codes.Internal], Message: "internal error"}
		ce.status = http.StatusInternalServerError
	}
	if ce.status == http.StatusOK || ce.status == 0 {
		ce.status = httpStatus(ce.Code)
	}
	return nil, ce
}

// recorder is the in-memory response of one Explain call.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(p)
}

// Flush implements http.Flusher: the answer is read once the call ends.
func (r *recorder) Flush() {}
