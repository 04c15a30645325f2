package server

import (
	"context"
	"crypto/rand"
	"log/slog"

	middleware "github.com/grpc-ecosystem/go-grpc-middleware/v2"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// RequestIDHeader is the metadata key of the request id: taken from the
// incoming metadata when present, generated otherwise, and echoed in the
// response header metadata.
const RequestIDHeader = "x-request-id"

// MaxRequestIDLength caps an incoming request id, in bytes; longer ids are
// cut.
const MaxRequestIDLength = 64

// requestIDKey is the context key of the request id.
type requestIDKey struct{}

// RequestID returns the request id of the RPC ctx belongs to, or "" outside
// an RPC served with GRPCServerOptions.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// withRequestID returns ctx carrying id.
func withRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// incomingRequestID returns the sanitised request id of ctx's incoming
// metadata, or a new one: only ASCII letters, digits and "-_.:/" are kept,
// at most MaxRequestIDLength of them, so that an id cannot forge log lines
// or grow without bound.
func incomingRequestID(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	if vals := md.Get(RequestIDHeader); len(vals) > 0 {
		if id := sanitizeRequestID(vals[0]); id != "" {
			return id
		}
	}
	return rand.Text()
}

func sanitizeRequestID(s string) string {
	b := make([]byte, 0, min(len(s), MaxRequestIDLength))
	for i := 0; i < len(s) && len(b) < MaxRequestIDLength; i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == ':', c == '/':
			b = append(b, c)
		}
	}
	return string(b)
}

// unaryRequestID puts the request id in the handler's context and the
// response header.
func unaryRequestID(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	id := incomingRequestID(ctx)
	ctx = withRequestID(ctx, id)
	_ = grpc.SetHeader(ctx, metadata.Pairs(RequestIDHeader, id))
	return handler(ctx, req)
}

// streamRequestID puts the request id in the stream's context and the
// response header.
func streamRequestID(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	id := incomingRequestID(ss.Context())
	w := middleware.WrapServerStream(ss)
	w.WrappedContext = withRequestID(ss.Context(), id)
	_ = ss.SetHeader(metadata.Pairs(RequestIDHeader, id))
	return handler(srv, w)
}

// interceptorLogger adapts l to the logging interceptor.
func interceptorLogger(l *slog.Logger) logging.Logger {
	return logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
		l.Log(ctx, slog.Level(lvl), msg, fields...)
	})
}

// loggingOptions log the start and the end of every call (code, duration,
// request id), never a payload.
func loggingOptions() []logging.Option {
	return []logging.Option{
		logging.WithLogOnEvents(logging.StartCall, logging.FinishCall),
		logging.WithFieldsFromContext(func(ctx context.Context) logging.Fields {
			if id := RequestID(ctx); id != "" {
				return logging.Fields{"request_id", id}
			}
			return nil
		}),
	}
}

// requestIDHandler adds the request id of the record's context to every
// record, so that logs written with a context (…Context methods) carry it.
type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		r = r.Clone()
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}

// withRequestIDs returns l whose context-aware records carry the request id.
func withRequestIDs(l *slog.Logger) *slog.Logger {
	if _, ok := l.Handler().(requestIDHandler); ok {
		return l
	}
	return slog.New(requestIDHandler{l.Handler()})
}

// jobLogger is the logger of the job running under ctx: it names the
// request id even where a record is logged without a context.
func (s *Server) jobLogger(ctx context.Context) *slog.Logger {
	if id := RequestID(ctx); id != "" {
		return s.opts.logger.With("request_id", id)
	}
	return s.opts.logger
}
