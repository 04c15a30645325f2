package httpapi

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"

	"google.golang.org/grpc/codes"

	"github.com/explainer-sidecar/explainer/server"
)

// explainJobMethod is ExplainJob's path, without the leading slash.
const explainJobMethod = server.ServiceName + "/ExplainJob"

// NDJSONContentType is the media type of ExplainJob's answer to a plain
// JSON request: one JSON object per line.
const NDJSONContentType = "application/x-ndjson"

// explainJob serves ExplainJob. A Connect (application/connect+json or
// +proto), gRPC or gRPC-Web call goes to the transcoder as it is. A plain
// JSON body (Content-Type application/json, the ExplainJobRequest's
// protojson), which Connect does not accept for a streaming method, is
// turned into a Connect streaming call and its answer into newline-delimited
// JSON: one ExplainJobResponse per line ({"progress": ...}, {"partial":
// ...}, {"result": ...}), flushed as each arrives. An error before the first
// event is an HTTP error as the unary calls have (status by code, body
// {"code", "message"}); an error after it is a last line {"error": {"code",
// "message"}}.
func (h *Handler) explainJob(w http.ResponseWriter, r *http.Request) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		h.transcoder.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, codes.ResourceExhausted, "request body larger than %d bytes", MaxBodyBytes)
			return
		}
		writeError(w, codes.InvalidArgument, "reading the request body: %v", err)
		return
	}
	env := make([]byte, 5+len(body))
	binary.BigEndian.PutUint32(env[1:5], uint32(len(body)))
	copy(env[5:], body)
	cr := r.Clone(r.Context())
	cr.Body = io.NopCloser(bytes.NewReader(env))
	cr.ContentLength = int64(len(env))
	cr.Header.Set("Content-Type", "application/connect+json")
	cr.Header.Set("Connect-Protocol-Version", "1")
	for _, k := range []string{"Content-Length", "Content-Encoding", "Connect-Content-Encoding", "Connect-Accept-Encoding"} {
		cr.Header.Del(k)
	}
	nw := &ndjsonWriter{w: w, header: http.Header{}}
	h.transcoder.ServeHTTP(nw, cr)
}

// ndjsonWriter turns a Connect streaming answer (enveloped messages: a flags
// byte, a 4-byte big-endian length, the JSON) into newline-delimited JSON
// on w, and passes any other answer (an HTTP error of the transcoder's)
// through.
type ndjsonWriter struct {
	w           http.ResponseWriter
	header      http.Header // what the transcoder sets
	status      int
	passthrough bool
	started     bool   // w's header is written
	pending     []byte // bytes of an incomplete envelope
}

func (n *ndjsonWriter) Header() http.Header { return n.header }

func (n *ndjsonWriter) WriteHeader(code int) {
	if n.status != 0 {
		return
	}
	n.status = code
	if code != http.StatusOK {
		n.passthrough = true
		copyHeader(n.w.Header(), n.header, true)
		n.w.WriteHeader(code)
	}
}

func (n *ndjsonWriter) Write(p []byte) (int, error) {
	if n.status == 0 {
		n.WriteHeader(http.StatusOK)
	}
	if n.passthrough {
		return n.w.Write(p)
	}
	n.pending = append(n.pending, p...)
	for len(n.pending) >= 5 {
		size := binary.BigEndian.Uint32(n.pending[1:5])
		if uint64(len(n.pending)) < 5+uint64(size) {
			break
		}
		if err := n.message(n.pending[0], n.pending[5:5+size]); err != nil {
			return 0, err
		}
		n.pending = n.pending[5+size:]
	}
	return len(p), nil
}

// Flush sends what was written so far.
func (n *ndjsonWriter) Flush() {
	if n.started || n.passthrough {
		_ = http.NewResponseController(n.w).Flush()
	}
}

// Connect's envelope flags.
const (
	flagCompressed = 0x01
	flagEndStream  = 0x02
)

// message writes one enveloped message.
func (n *ndjsonWriter) message(flags byte, msg []byte) error {
	if flags&flagCompressed != 0 {
		return errors.New("httpapi: compressed message in an uncompressed stream")
	}
	if flags&flagEndStream == 0 {
		n.start()
		_, err := n.w.Write(append(append([]byte{}, msg...), '\n'))
		return err
	}
	var end struct {
		Error *connectError `json:"error"`
	}
	if err := json.Unmarshal(msg, &end); err != nil {
		return err
	}
	if end.Error == nil {
		n.start()
		return nil
	}
	if isDecodeError(*end.Error) {
		end.Error.Code = codeNames[codes.InvalidArgument]
	}
	if !n.started {
		copyHeader(n.w.Header(), n.header, false)
		writeJSON(n.w, httpStatus(end.Error.Code), end.Error)
		n.started = true
		return nil
	}
	line, _ := json.Marshal(map[string]*connectError{"error": end.Error})
	_, err := n.w.Write(append(line, '\n'))
	return err
}

// start writes the NDJSON answer's header once.
func (n *ndjsonWriter) start() {
	if n.started {
		return
	}
	n.started = true
	copyHeader(n.w.Header(), n.header, false)
	n.w.Header().Set("Content-Type", NDJSONContentType)
	n.w.WriteHeader(http.StatusOK)
}

// copyHeader copies src to dst; without all, the headers that describe
// the transcoder's body (type, encoding, length) stay out.
func copyHeader(dst, src http.Header, all bool) {
	for k, vs := range src {
		switch http.CanonicalHeaderKey(k) {
		case "Content-Type", "Content-Encoding", "Content-Length":
			if !all {
				continue
			}
		}
		dst[k] = vs
	}
}
