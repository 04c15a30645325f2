package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
)

// Message size limits of the sidecar's listener. A request carries at
// most a background data set of MaxDatasetRows rows; 64 MiB holds 8 million
// float64 values (e.g. 100000 rows × 80 features). Larger requests are
// refused by gRPC with RESOURCE_EXHAUSTED before any handler runs.
const (
	MaxRecvMsgSize = 64 << 20
	MaxSendMsgSize = 16 << 20
)

// GRPCServerOptions are GRPCServerOptionsWith(log, nil): the listener
// settings without RPC metrics.
func GRPCServerOptions(log *slog.Logger) []grpc.ServerOption {
	return GRPCServerOptionsWith(log, nil)
}

// GRPCServerOptionsWith are the sidecar's listener settings: message size
// limits, keepalive, and this interceptor chain, outermost first:
//
//  1. request id: taken from the x-request-id metadata (sanitised) or
//     generated, put in the context (RequestID) and the response header;
//     outermost so that every log line of the call, a recovered panic's
//     included, names it;
//  2. RPC metrics (m's grpc_server_*; skipped when m is nil);
//  3. logging of each call's start and end with its code and duration
//     through log, never a payload;
//  4. recovery of panics into INTERNAL "internal error", logged without
//     the stack and never sent to the client. It is innermost so that a
//     panic reaches the metrics and the logs as an INTERNAL status like any
//     other; outside them, the panic would unwind through them unrecorded.
//
// Refusals (admission, shutdown) are statuses returned by the handlers, so
// the metrics and logs see them too.
func GRPCServerOptionsWith(log *slog.Logger, m *Metrics) []grpc.ServerOption {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctxLog := withRequestIDs(log)
	onPanic := recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		ctxLog.ErrorContext(ctx, "panic recovered", "panic", p)
		return status.Error(codes.Internal, "internal error")
	})
	unary := []grpc.UnaryServerInterceptor{unaryRequestID}
	stream := []grpc.StreamServerInterceptor{streamRequestID}
	if m != nil {
		unary = append(unary, m.UnaryServerInterceptor())
		stream = append(stream, m.StreamServerInterceptor())
	}
	logger := interceptorLogger(log)
	unary = append(unary,
		logging.UnaryServerInterceptor(logger, loggingOptions()...),
		recovery.UnaryServerInterceptor(onPanic))
	stream = append(stream,
		logging.StreamServerInterceptor(logger, loggingOptions()...),
		recovery.StreamServerInterceptor(onPanic))
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxRecvMsgSize),
		grpc.MaxSendMsgSize(MaxSendMsgSize),
		// Ping idle clients every 2 minutes; accept client pings down to
		// every 10 seconds, also without active streams.
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 2 * time.Minute, Timeout: 20 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
	}
}
