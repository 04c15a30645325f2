package predictortest

import (
	"context"
	"fmt"
	"net"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	kservev2 "github.com/explainer-sidecar/explainer/proto/kserve/v2"
	predictv1 "github.com/explainer-sidecar/explainer/proto/predict/v1"
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
	scoring  map[string][]*Model // full method name → the models it scores on
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
	s := &Server{Target: target, g: g, served: make(chan struct{}), scoring: map[string][]*Model{}}
	for _, svc := range svcs {
		svc.Register(g)
		var method string
		switch svc.(type) {
		case *PredictServer:
			method = predictv1.PredictService_Predict_FullMethodName
		case *KServeServer:
			method = kservev2.GRPCInferenceService_ModelInfer_FullMethodName
		}
		if m, ok := svc.(interface{ fakeModel() *Model }); ok && method != "" {
			s.scoring[method] = append(s.scoring[method], m.fakeModel())
		}
	}
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
// plaintext, the in-memory dialer for a bufconn server, and an interceptor
// that counts the scoring calls on the client's side (Model.Sent,
// Model.Sending).
func (s *Server) DialOptions() []grpc.DialOption {
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(s.countSent),
	}
	if s.dialer != nil {
		opts = append(opts, grpc.WithContextDialer(s.dialer))
	}
	return opts
}

// countSent counts a scoring call on its models from its start until it
// returns to its caller.
func (s *Server) countSent(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	models := s.scoring[method]
	for _, m := range models {
		m.send(1)
	}
	defer func() {
		for _, m := range models {
			m.send(-1)
		}
	}()
	return invoker(ctx, method, req, reply, cc, opts...)
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
