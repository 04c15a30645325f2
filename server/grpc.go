package server

import (
	"context"
	"log/slog"
	"time"

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

// GRPCServerOptions are the sidecar's listener settings: message size
// limits, keepalive, and recovery of panics into INTERNAL "internal error"
// (logged with the stack, never sent to the client).
func GRPCServerOptions(log *slog.Logger) []grpc.ServerOption {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	onPanic := recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		log.ErrorContext(ctx, "panic recovered", "panic", p)
		return status.Error(codes.Internal, "internal error")
	})
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxRecvMsgSize),
		grpc.MaxSendMsgSize(MaxSendMsgSize),
		// Ping idle clients every 2 minutes; accept client pings down to
		// every 10 seconds, also without active streams.
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 2 * time.Minute, Timeout: 20 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.ChainUnaryInterceptor(recovery.UnaryServerInterceptor(onPanic)),
		grpc.ChainStreamInterceptor(recovery.StreamServerInterceptor(onPanic)),
	}
}
