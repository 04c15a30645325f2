package server

import (
	"context"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// healthServer is grpc's health service whose Watch streams end, after a
// last NOT_SERVING, with UNAVAILABLE "server shutting down" once the server
// has shut down and its jobs have ended: a watcher (gRPC's client-side
// health checking) then holds up no graceful stop.
type healthServer struct {
	*health.Server
	jobsEnded <-chan struct{} // closed once shut down with no job left
}

func newHealthServer(jobsEnded <-chan struct{}) *healthServer {
	return &healthServer{Server: health.NewServer(), jobsEnded: jobsEnded}
}

// Watch implements healthpb.HealthServer.
func (h *healthServer) Watch(req *healthpb.HealthCheckRequest, stream healthpb.Health_WatchServer) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	watching := make(chan struct{})
	go func() {
		defer close(watching)
		select {
		case <-h.jobsEnded:
			cancel()
		case <-ctx.Done():
		}
	}()
	err := h.Server.Watch(req, watchStream{stream, ctx})
	cancel()
	<-watching
	select {
	case <-h.jobsEnded:
		if stream.Context().Err() == nil {
			// The inner Watch may have ended before it sent the last
			// status; a repeated NOT_SERVING is harmless.
			_ = stream.Send(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_NOT_SERVING})
			return errShuttingDown
		}
	default:
	}
	return err
}

// watchStream is a Watch stream with a context that ends earlier.
type watchStream struct {
	healthpb.Health_WatchServer
	ctx context.Context
}

func (w watchStream) Context() context.Context { return w.ctx }
