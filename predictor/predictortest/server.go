package predictortest

import (
	"context"
	"fmt"
	"net"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
)

// Service is a fake that registers itself on a grpc.Server: *PredictServer,
// *KServeServer.
type Service interface {
	Register(g *grpc.Server)
}

// Server is a running gRPC server with fakes registered on it, and a client
// connection to it.
type Server struct {
	// Target is what to dial: "127.0.0.1:port" for NewServer, a
	// passthrough target for NewBufconnServer (dial it with DialOptions).
	Target string
	// Conn is a plaintext client connection to the server, closed by Close.
	Conn *grpc.ClientConn

	g        *grpc.Server
	dialer   func(context.Context, string) (net.Conn, error)
	served   chan struct{}
	stopOnce sync.Once
}

// NewServer serves svcs on a new TCP listener on 127.0.0.1 and connects to
// it. It panics if it cannot listen, like httptest.NewServer.
func NewServer(svcs ...Service) *Server {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("predictortest: listen: %v", err))
	}
	return Start(lis, svcs...)
}

// NewBufconnServer serves svcs on an in-memory bufconn listener and connects
// to it.
func NewBufconnServer(svcs ...Service) *Server {
	lis := bufconn.Listen(1 << 20)
	return start(lis, "passthrough:///bufconn", svcs)
}

// Start serves svcs on lis (for example a listener on the address of a
// server that was stopped, to bring it back) and connects to lis.Addr().
func Start(lis net.Listener, svcs ...Service) *Server {
	return start(lis, lis.Addr().String(), svcs)
}

func start(lis net.Listener, target string, svcs []Service) *Server {
	g := grpc.NewServer()
	for _, svc := range svcs {
		svc.Register(g)
	}
	s := &Server{Target: target, g: g, served: make(chan struct{})}
	if bl, ok := lis.(*bufconn.Listener); ok {
		s.dialer = func(ctx context.Context, _ string) (net.Conn, error) { return bl.DialContext(ctx) }
	}
	go func() {
		defer close(s.served)
		_ = g.Serve(lis) // returns when stopped
	}()
	conn, err := grpc.NewClient(target, s.DialOptions()...)
	if err != nil { // only for a malformed target
		s.Stop()
		panic(fmt.Sprintf("predictortest: connect: %v", err))
	}
	s.Conn = conn
	return s
}

// DialOptions returns the options to dial Target with your own client:
// plaintext, and the in-memory dialer for a bufconn server.
func (s *Server) DialOptions() []grpc.DialOption {
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if s.dialer != nil {
		opts = append(opts, grpc.WithContextDialer(s.dialer))
	}
	return opts
}

// Stop stops the server at once (calls in progress fail, new ones find
// nothing listening) but leaves Conn open, to simulate a model server that
// goes away. It is safe to call more than once and from a FaultFunc.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		s.g.Stop()
		<-s.served
	})
}

// Close stops the server and closes Conn.
func (s *Server) Close() {
	s.Stop()
	if s.Conn != nil {
		_ = s.Conn.Close()
	}
}
