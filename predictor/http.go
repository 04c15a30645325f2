package predictor

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
)

// Defaults of the HTTP clients (KServeV1HTTP, KServeV2HTTP).
const (
	// DefaultHTTPMaxConns is the number of idle keep-alive connections kept
	// per model server host when WithHTTPMaxConns is not given: at least
	// DefaultInFlight batches for each of 16 jobs at once, so that batches
	// in flight reuse connections instead of opening new ones.
	DefaultHTTPMaxConns = 64
	// DefaultHTTPMaxAttempts is the most attempts of one call, the first
	// included, as gRPC's retry policy in Dial: a call that gets a 502, 503
	// or 504, or cannot connect, is tried again after about 0.1 s, 0.2 s,
	// 0.4 s and 0.8 s (±20%).
	DefaultHTTPMaxAttempts = 5
	// httpBackoff and httpMaxBackoff are the first wait between attempts
	// and the longest; each wait doubles the one before.
	httpBackoff    = 100 * time.Millisecond
	httpMaxBackoff = time.Second
	// httpErrorBodyBytes is the most of an error reply read, for the model
	// server's message; the rest is discarded.
	httpErrorBodyBytes = 64 << 10
	// maxServerMessage caps the model server's message kept in an error,
	// in bytes.
	maxServerMessage = 200
)

// HTTPOption configures a KServeV1HTTP or KServeV2HTTP client. Besides the
// options below (WithHTTPTLS and the others named WithHTTP..., WithBinaryInputs,
// WithBinaryOutputs, WithScalarPredictions), the KServeOptions of the gRPC
// KServe client are HTTPOptions too, so that one list configures either:
// WithInputName, WithOutputName, WithInputDatatype, WithModelVersion and
// WithSoftmax apply to KServeV2HTTP (WithRawContents does not: see
// WithBinaryInputs); WithSoftmax applies to KServeV1HTTP, which ignores the
// tensor options.
type HTTPOption interface {
	applyHTTP(*httpOptions)
}

type httpOption func(*httpOptions)

func (f httpOption) applyHTTP(o *httpOptions) { f(o) }

// applyHTTP makes a KServeOption an HTTPOption.
func (f KServeOption) applyHTTP(o *httpOptions) { f(&o.kserve) }

type httpOptions struct {
	kserve      kserveOptions
	tls         *tls.Config
	tlsSet      bool
	transport   http.RoundTripper
	header      http.Header
	maxConns    int
	maxResponse int
	maxAttempts int
	backoff     time.Duration // first wait between attempts; tests shorten it
	binaryIn    bool
	binaryOut   bool
	scalar      bool
}

// WithHTTPTLS sets the TLS configuration of an https:// model server URL
// (nil: the system's roots, TLS 1.2 or later, which is also the default).
// For mTLS, set cfg.Certificates or cfg.GetClientCertificate; the
// configuration of internal/tlsconfig.Client reloads them. Giving it with an
// http:// URL is an error: plaintext is asked for by the URL's scheme. It
// has no effect with WithHTTPTransport.
func WithHTTPTLS(cfg *tls.Config) HTTPOption {
	return httpOption(func(o *httpOptions) { o.tls, o.tlsSet = cfg, true })
}

// WithHTTPTransport sends every request through rt instead of a transport of
// the client's own: to share one pool of connections among the clients of
// several models (see NewHTTPTransport), or to observe the calls in tests.
// WithHTTPTLS and WithHTTPMaxConns then have no effect. Default: a
// NewHTTPTransport of the client's own.
func WithHTTPTransport(rt http.RoundTripper) HTTPOption {
	return httpOption(func(o *httpOptions) { o.transport = rt })
}

// WithHTTPHeader adds a header to every request, e.g. "Authorization" with a
// bearer token, or "Host" to reach a model behind an ingress that routes by
// host name (KServe's "<name>.<namespace>.example.com"). Repeat it for
// several headers. Default none.
func WithHTTPHeader(key, value string) HTTPOption {
	return httpOption(func(o *httpOptions) {
		if o.header == nil {
			o.header = http.Header{}
		}
		o.header.Add(key, value)
	})
}

// WithHTTPMaxConns sets how many idle keep-alive connections the client's
// own transport keeps per host. Keep it at or above the batches in flight
// at once across all jobs (the Batcher's InFlight times the concurrent
// jobs), else connections are closed and opened again under load. Default
// DefaultHTTPMaxConns (64); values below 1 keep the default.
func WithHTTPMaxConns(n int) HTTPOption {
	return httpOption(func(o *httpOptions) {
		if n > 0 {
			o.maxConns = n
		}
	})
}

// WithHTTPMaxResponseBytes caps the size of a reply body, in bytes; a larger
// reply fails the call with ErrBadOutput without being read to the end.
// Default DefaultMaxMsgSize (16 MiB); values below 1 keep the default.
func WithHTTPMaxResponseBytes(n int) HTTPOption {
	return httpOption(func(o *httpOptions) {
		if n > 0 {
			o.maxResponse = n
		}
	})
}

// WithHTTPMaxAttempts sets the most attempts of one call, the first
// included: 1 turns retries off. Default DefaultHTTPMaxAttempts (5), which
// is also the most; values below 1 keep the default.
func WithHTTPMaxAttempts(n int) HTTPOption {
	return httpOption(func(o *httpOptions) {
		if n > 0 {
			o.maxAttempts = min(n, DefaultHTTPMaxAttempts)
		}
	})
}

// NewHTTPTransport returns the transport an HTTP client builds for itself
// when WithHTTPTransport is not given: keep-alive connections, maxConns of
// them kept idle per host (values below 1: DefaultHTTPMaxConns), idle ones
// closed after 90 s, a 10 s limit on connecting and on the TLS handshake,
// HTTP/2 when an https:// server offers it, and cfg for TLS (nil: the
// system's roots, TLS 1.2 or later; cfg is cloned). No proxy from the
// environment: the model server is reached directly. Share one among the
// clients of several models with WithHTTPTransport, and call its
// CloseIdleConnections when done.
func NewHTTPTransport(cfg *tls.Config, maxConns int) *http.Transport {
	if maxConns < 1 {
		maxConns = DefaultHTTPMaxConns
	}
	if cfg == nil {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	} else {
		cfg = cfg.Clone()
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		DialContext:         dialer.DialContext,
		TLSClientConfig:     cfg,
		TLSHandshakeTimeout: 10 * time.Second,
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        maxConns,
		MaxIdleConnsPerHost: maxConns,
		IdleConnTimeout:     90 * time.Second,
	}
}

// httpClient is what the HTTP protocols share: the base URL, the HTTP
// client, retries and the translation of errors.
type httpClient struct {
	base  string // scheme://host[:port][/prefix], without a trailing slash
	c     *http.Client
	o     httpOptions
	model string
}

// newHTTPClient checks baseURL and applies opts. Its errors depend only on
// baseURL and opts.
func newHTTPClient(baseURL, model string, opts []HTTPOption) (*httpClient, error) {
	o := httpOptions{
		maxConns:    DefaultHTTPMaxConns,
		maxResponse: DefaultMaxMsgSize,
		maxAttempts: DefaultHTTPMaxAttempts,
		backoff:     httpBackoff,
	}
	for _, opt := range opts {
		if opt != nil {
			opt.applyHTTP(&o)
		}
	}
	u, err := url.Parse(baseURL)
	switch {
	case err != nil:
		return nil, fmt.Errorf("predictor: model server URL: %w", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("predictor: model server URL %q: want http:// or https://", baseURL)
	case u.Host == "":
		return nil, fmt.Errorf("predictor: model server URL %q has no host", baseURL)
	case u.User != nil:
		return nil, errors.New("predictor: model server URL: credentials in the URL are not supported: use WithHTTPHeader")
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("predictor: model server URL %q: no query or fragment allowed", baseURL)
	case u.Scheme == "http" && o.tlsSet && o.transport == nil:
		return nil, fmt.Errorf("predictor: model server URL %q: TLS configured for a plaintext http:// URL: use https://", baseURL)
	}
	rt := o.transport
	if rt == nil {
		rt = NewHTTPTransport(o.tls, o.maxConns)
	}
	h := &httpClient{
		base:  u.Scheme + "://" + u.Host + strings.TrimRight(u.EscapedPath(), "/"),
		o:     o,
		model: model,
		c: &http.Client{
			Transport: rt,
			// A model server does not redirect inference; following one
			// could send the payload and headers elsewhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	return h, nil
}

// httpReply is a model server's answer.
type httpReply struct {
	status int
	header http.Header
	body   []byte
}

// do sends one call, trying again as DefaultHTTPMaxAttempts says, and
// returns the reply of a 2xx status. Otherwise it returns a translated error
// and, when the server answered, its last reply. op names the call in
// errors. body is nil for a GET.
func (h *httpClient) do(ctx context.Context, op, method, path string, body []byte, header http.Header) (*httpReply, error) {
	wait := h.o.backoff
	for attempt := 1; ; attempt++ {
		rep, retry, err := h.once(ctx, op, method, path, body, header)
		if err == nil || !retry || attempt >= h.o.maxAttempts {
			return rep, err
		}
		// ±20% jitter, as grpc-go's; the randomness is only in the timing.
		d := time.Duration(float64(wait) * (0.8 + 0.4*rand.Float64()))
		wait = min(2*wait, httpMaxBackoff)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("predictor: %s: %w", op, ctx.Err())
		case <-t.C:
		}
	}
}

// once makes one attempt. retry says whether another attempt may help.
func (h *httpClient) once(ctx context.Context, op, method, path string, body []byte, header http.Header) (rep *httpReply, retry bool, err error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, h.base+path, rd)
	if err != nil {
		return nil, false, fmt.Errorf("predictor: %s: %w: %v", op, ErrRejected, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "explainer-sidecar")
	for k, vs := range header {
		req.Header[k] = vs
	}
	for k, vs := range h.o.header {
		if http.CanonicalHeaderKey(k) == "Host" {
			req.Host = vs[0]
			continue
		}
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := h.c.Do(req)
	if err != nil {
		return h.transportError(ctx, op, err)
	}
	defer resp.Body.Close()
	rep = &httpReply{status: resp.StatusCode, header: resp.Header}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		rep.body, _ = io.ReadAll(io.LimitReader(resp.Body, httpErrorBodyBytes))
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, httpErrorBodyBytes)) // lets the connection be reused
		if cerr := ctx.Err(); cerr != nil {
			return rep, false, fmt.Errorf("predictor: %s: %w", op, cerr)
		}
		retry, err = h.statusError(op, rep)
		return rep, retry, err
	}
	limit := h.o.maxResponse
	if resp.ContentLength > int64(limit) {
		return nil, false, badOutput("%s: reply of %d bytes over the size limit of %d", op, resp.ContentLength, limit)
	}
	rep.body, err = io.ReadAll(io.LimitReader(resp.Body, int64(limit)+1))
	if err != nil {
		// The connection broke while the reply was read.
		return h.transportError(ctx, op, err)
	}
	if len(rep.body) > limit {
		return nil, false, badOutput("%s: reply over the size limit of %d bytes", op, limit)
	}
	return rep, false, nil
}

// transportError translates an error from which no reply came: the
// caller's context, or the connection. Connection failures are
// ErrUnavailable, and worth another attempt unless TLS failed: a
// certificate that does not verify will not verify the next time.
func (h *httpClient) transportError(ctx context.Context, op string, err error) (*httpReply, bool, error) {
	if cerr := ctx.Err(); cerr != nil {
		return nil, false, fmt.Errorf("predictor: %s: %w", op, cerr)
	}
	ce := &callError{op: op, code: codes.Unavailable, kind: ErrUnavailable}
	var (
		dnsErr  *net.DNSError
		certErr *tls.CertificateVerificationError
		unkAuth x509.UnknownAuthorityError
		hostErr x509.HostnameError
		recErr  tls.RecordHeaderError
		alert   tls.AlertError
	)
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		ce.why = "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		ce.why = "connection reset"
	case errors.As(err, &dnsErr):
		ce.why = "cannot resolve the host name"
	case errors.As(err, &certErr), errors.As(err, &unkAuth), errors.As(err, &hostErr):
		ce.why = "TLS: the model server's certificate does not verify"
		return nil, false, ce
	case errors.As(err, &recErr), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		ce.why = "TLS handshake failed: the model server does not speak TLS (use http://)"
		return nil, false, ce
	case errors.As(err, &alert):
		ce.why = "TLS handshake failed: " + alert.Error()
		return nil, false, ce
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		ce.why = "connection closed"
	default:
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL, which the op names already
		}
		ce.why = sanitizeMessage(err.Error())
	}
	return nil, true, ce
}

// statusError translates a reply whose status is not 2xx; retry is true
// for 502, 503 and 504, what gRPC calls UNAVAILABLE.
//
//	status                     error            code for ServerCode
//	400, 422                   ErrRejected      InvalidArgument
//	401                        ErrAuth          Unauthenticated
//	403                        ErrAuth          PermissionDenied
//	404                        ErrRejected      NotFound: names the model
//	405, 501                   ErrRejected      Unimplemented: another protocol
//	409, 412                   ErrRejected      FailedPrecondition
//	413, 414, 431              ErrRejected      ResourceExhausted: request over the server's size limit
//	408                        ErrUnavailable   DeadlineExceeded: the server timed out
//	429                        ErrUnavailable   ResourceExhausted: overloaded, not retried
//	other 4xx, 3xx             ErrRejected      FailedPrecondition
//	502, 503                   ErrUnavailable   Unavailable, retried
//	504                        ErrUnavailable   DeadlineExceeded: a gateway timed out, retried
//	500 and other 5xx          ErrFailed        Internal
func (h *httpClient) statusError(op string, rep *httpReply) (retry bool, err error) {
	s := rep.status
	ce := &callError{op: op, status: s, msg: serverMessage(rep), kind: ErrRejected, code: codes.FailedPrecondition}
	switch {
	case s == http.StatusBadRequest || s == http.StatusUnprocessableEntity:
		ce.code = codes.InvalidArgument
	case s == http.StatusUnauthorized:
		ce.kind, ce.code = ErrAuth, codes.Unauthenticated
	case s == http.StatusForbidden:
		ce.kind, ce.code = ErrAuth, codes.PermissionDenied
	case s == http.StatusNotFound:
		ce.code, ce.why = codes.NotFound, fmt.Sprintf("model %q not found", h.model)
	case s == http.StatusMethodNotAllowed || s == http.StatusNotImplemented:
		ce.kind, ce.code, ce.why = ErrRejected, codes.Unimplemented, "the server does not implement this call"
	case s == http.StatusConflict || s == http.StatusPreconditionFailed:
		ce.code = codes.FailedPrecondition
	case s == http.StatusRequestEntityTooLarge || s == http.StatusRequestURITooLong || s == http.StatusRequestHeaderFieldsTooLarge:
		ce.code, ce.why = codes.ResourceExhausted, "request over the model server's size limit"
	case s == http.StatusRequestTimeout:
		ce.kind, ce.code, ce.why = ErrUnavailable, codes.DeadlineExceeded, "timed out"
	case s == http.StatusTooManyRequests:
		ce.kind, ce.code, ce.why = ErrUnavailable, codes.ResourceExhausted, "overloaded"
	case s >= 300 && s < 400:
		ce.why = "redirected: the URL is not the model server's"
	case s < 500:
	case s == http.StatusBadGateway || s == http.StatusServiceUnavailable:
		ce.kind, ce.code, retry = ErrUnavailable, codes.Unavailable, true
	case s == http.StatusGatewayTimeout:
		ce.kind, ce.code, ce.why, retry = ErrUnavailable, codes.DeadlineExceeded, "timed out", true
	default:
		ce.kind, ce.code = ErrFailed, codes.Internal
	}
	return retry, ce
}

// serverMessage extracts the model server's message from an error reply:
// the "error" member of a JSON object (KServe, Triton), else "detail"
// (FastAPI) or "message"; a plain-text body as it is; nothing from HTML.
// The result is sanitized (see sanitizeMessage).
func serverMessage(rep *httpReply) string {
	b := bytes.TrimSpace(rep.body)
	if len(b) == 0 {
		return ""
	}
	if b[0] == '{' {
		var m map[string]json.RawMessage
		if json.Unmarshal(b, &m) != nil {
			return ""
		}
		for _, k := range []string{"error", "detail", "message"} {
			var s string
			if json.Unmarshal(m[k], &s) == nil && s != "" {
				return sanitizeMessage(s)
			}
		}
		return ""
	}
	if b[0] == '<' || strings.Contains(rep.header.Get("Content-Type"), "html") {
		return ""
	}
	return sanitizeMessage(string(b))
}

// sanitizeMessage makes a model server's message fit for an error: valid
// UTF-8, control characters and runs of white space turned into one space,
// trimmed, cut to maxServerMessage bytes (with "…") at a rune boundary.
func sanitizeMessage(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	space := false
	for _, r := range s {
		if unicode.IsControl(r) || unicode.IsSpace(r) || r == '\u2028' || r == '\u2029' ||
			unicode.Is(unicode.Cf, r) { // bidi overrides and other invisible format characters
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		if b.Len()+utf8.RuneLen(r) > maxServerMessage {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// jsonFloat appends v as a JSON number; v must be finite.
func jsonFloat(dst []byte, v float64, bits int) []byte {
	return strconv.AppendFloat(dst, v, 'g', -1, bits)
}

// decodeJSON unmarshals body into v; a malformed body is ErrBadOutput,
// named after what the server sent rather than the decoder's message, which
// may quote the payload.
func decodeJSON(op string, body []byte, v any) error {
	err := json.Unmarshal(body, v)
	if err == nil {
		return nil
	}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		// Python's json module writes NaN and ±Infinity, which JSON
		// cannot hold; say so rather than "invalid character".
		at := body[max(0, min(int(se.Offset)-1, len(body))):]
		if bytes.HasPrefix(at, []byte("NaN")) || bytes.HasPrefix(at, []byte("Infinity")) || bytes.HasPrefix(at, []byte("-Infinity")) {
			return badOutput("%s: non-finite score (NaN or Infinity) in the reply", op)
		}
		return badOutput("%s: the reply is not valid JSON (at byte %d)", op, se.Offset)
	case errors.As(err, &te):
		// te.Value is "number 1e400" for a number: keep the kind only.
		kind, _, _ := strings.Cut(te.Value, " ")
		if te.Field != "" {
			return badOutput("%s: the reply's %s is a JSON %s, want %s", op, te.Field, kind, te.Type)
		}
		return badOutput("%s: the reply is a JSON %s, want %s", op, kind, te.Type)
	default:
		return badOutput("%s: the reply cannot be decoded", op)
	}
}

// CloseIdleConnections closes the idle keep-alive connections of the
// client's transport (all of them when it is shared: see
// WithHTTPTransport). Calls in flight are not affected, and later calls
// open new connections.
func (k *KServeV1HTTP) CloseIdleConnections() { k.h.c.CloseIdleConnections() }

// CloseIdleConnections closes the idle keep-alive connections of the
// client's transport, as KServeV1HTTP.CloseIdleConnections does.
func (k *KServeV2HTTP) CloseIdleConnections() { k.h.c.CloseIdleConnections() }
