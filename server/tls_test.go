package server

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/explainer-sidecar/explainer/internal/tlsconfig"
	"github.com/explainer-sidecar/explainer/internal/tlsconfig/tlsconfigtest"
	"github.com/explainer-sidecar/explainer/predictor"
	"github.com/explainer-sidecar/explainer/predictor/predictortest"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// testPKI is a CA, a server certificate for 127.0.0.1/localhost, a client
// certificate of the CA and one of another CA, as files in a temp dir.
type testPKI struct {
	dir                 string
	ca, other           *tlsconfigtest.CA
	caFile, otherCAFile string
	srvCert, srvKey     string
	srvSerial           string
	goodCert, goodKey   string
	badCert, badKey     string
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	p := &testPKI{dir: dir, ca: tlsconfigtest.NewCA("test CA"), other: tlsconfigtest.NewCA("other CA")}
	p.caFile = p.ca.WriteCA(dir, "ca.pem")
	p.otherCAFile = p.other.WriteCA(dir, "other-ca.pem")
	srv := p.ca.Server()
	p.srvSerial = srv.Cert.SerialNumber.String()
	p.srvCert, p.srvKey = srv.Write(dir, "server")
	p.goodCert, p.goodKey = p.ca.Client("good").Write(dir, "good")
	p.badCert, p.badKey = p.other.Client("bad").Write(dir, "bad")
	return p
}

func (p *testPKI) serverTLS(t *testing.T, clientCA string) *tls.Config {
	t.Helper()
	cfg, err := tlsconfig.Server(tlsconfig.ServerFiles{Cert: p.srvCert, Key: p.srvKey, ClientCA: clientCA}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func clientTLS(t *testing.T, files tlsconfig.ClientFiles) grpc.DialOption {
	t.Helper()
	cfg, err := tlsconfig.Client(files, nil)
	if err != nil {
		t.Fatal(err)
	}
	return grpc.WithTransportCredentials(credentials.NewTLS(cfg))
}

// startTCPSidecar serves New(newClient) on a loopback TCP port with the
// given extra server options (credentials, auth) and returns its address.
func startTCPSidecar(t *testing.T, newClient ClientFunc, extra ...grpc.ServerOption) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := New(newClient, WithDefaultModel("model"))
	gs := grpc.NewServer(append(GRPCServerOptions(nil), extra...)...)
	srv.Register(gs)
	served := make(chan struct{})
	go func() { defer close(served); _ = gs.Serve(lis) }()
	t.Cleanup(func() { gs.Stop(); <-served })
	return lis.Addr().String()
}

// dialSidecar connects to addr with opts; closed when the test ends.
func dialSidecar(t *testing.T, addr string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// checkHealth calls Health.Check and returns the peer's certificate serial
// (empty for plaintext) and the error.
func checkHealth(conn *grpc.ClientConn) (serial string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var p peer.Peer
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Peer(&p)); err != nil {
		return "", err
	}
	if info, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(info.State.PeerCertificates) > 0 {
		return info.State.PeerCertificates[0].SerialNumber.String(), nil
	}
	return "", nil
}

// TestTLSListener: a TLS client that trusts the CA is served; plaintext and
// untrusting clients fail the handshake (UNAVAILABLE on the client).
func TestTLSListener(t *testing.T) {
	p := newTestPKI(t)
	_, newClient := predictV1Model(t, nil)
	tlsAddr := startTCPSidecar(t, newClient, grpc.Creds(credentials.NewTLS(p.serverTLS(t, ""))))
	mtlsAddr := startTCPSidecar(t, newClient, grpc.Creds(credentials.NewTLS(p.serverTLS(t, p.caFile))))
	plain := grpc.WithTransportCredentials(insecure.NewCredentials())
	tests := []struct {
		name string
		addr string
		dial grpc.DialOption
		want codes.Code
	}{
		{"tls with CA", tlsAddr, clientTLS(t, tlsconfig.ClientFiles{CA: p.caFile}), codes.OK},
		{"tls with server name", tlsAddr, clientTLS(t, tlsconfig.ClientFiles{CA: p.caFile, ServerName: "localhost"}), codes.OK},
		{"plaintext to tls port", tlsAddr, plain, codes.Unavailable},
		{"tls with another CA", tlsAddr, clientTLS(t, tlsconfig.ClientFiles{CA: p.otherCAFile}), codes.Unavailable},
		{"mtls good client cert", mtlsAddr, clientTLS(t, tlsconfig.ClientFiles{CA: p.caFile, Cert: p.goodCert, Key: p.goodKey}), codes.OK},
		{"mtls no client cert", mtlsAddr, clientTLS(t, tlsconfig.ClientFiles{CA: p.caFile}), codes.Unavailable},
		{"mtls other CA's client cert", mtlsAddr, clientTLS(t, tlsconfig.ClientFiles{CA: p.caFile, Cert: p.badCert, Key: p.badKey}), codes.Unavailable},
		{"mtls plaintext", mtlsAddr, plain, codes.Unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := dialSidecar(t, tt.addr, tt.dial)
			serial, err := checkHealth(conn)
			if got := status.Code(err); got != tt.want {
				t.Fatalf("health check: %v, want %v", err, tt.want)
			}
			if tt.want != codes.OK {
				return
			}
			if serial != p.srvSerial {
				t.Errorf("server certificate serial %s, want %s", serial, p.srvSerial)
			}
			// The explainer itself works over the same connection.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := explainerClient(conn).Explain(ctx, limeRequest(testInstance, nil)); err != nil {
				t.Fatalf("explain: %v", err)
			}
		})
	}
}

// TestTLSReload: new certificate files are served on new connections.
func TestTLSReload(t *testing.T) {
	p := newTestPKI(t)
	_, newClient := predictV1Model(t, nil)
	addr := startTCPSidecar(t, newClient, grpc.Creds(credentials.NewTLS(p.serverTLS(t, p.caFile))))
	dial := clientTLS(t, tlsconfig.ClientFiles{CA: p.caFile, Cert: p.goodCert, Key: p.goodKey})

	serial, err := checkHealth(dialSidecar(t, addr, dial))
	if err != nil || serial != p.srvSerial {
		t.Fatalf("before: serial %s, %v; want %s", serial, err, p.srvSerial)
	}
	next := p.ca.Server()
	if err := os.WriteFile(p.srvKey, next.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.srvCert, next.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	want := next.Cert.SerialNumber.String()
	serial, err = checkHealth(dialSidecar(t, addr, dial))
	if err != nil || serial != want {
		t.Fatalf("after: serial %s, %v; want the new %s", serial, err, want)
	}

	// Garbage in the files keeps the last good certificate.
	if err := os.WriteFile(p.srvCert, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	serial, err = checkHealth(dialSidecar(t, addr, dial))
	if err != nil || serial != want {
		t.Fatalf("bad file: serial %s, %v; want the last good %s", serial, err, want)
	}
}

func explainerClient(conn *grpc.ClientConn) explainerv1.ExplainerServiceClient {
	return explainerv1.NewExplainerServiceClient(conn)
}

// countingModel serves a predict.v1 fake on 127.0.0.1 with opts (e.g.
// TLS credentials) and counts the RPCs it receives.
func countingModel(t *testing.T, opts ...grpc.ServerOption) (addr string, calls *atomic.Int64) {
	t.Helper()
	calls = new(atomic.Int64)
	count := grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		calls.Add(1)
		return h(ctx, req)
	})
	fake := predictortest.NewPredictServer(predictortest.Logistic(testWeights, testBias))
	fake.NumFeatures = testFeatures
	fake.MaxBatchSize = 100
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(append(opts, count)...)
	fake.Register(gs)
	served := make(chan struct{})
	go func() { defer close(served); _ = gs.Serve(lis) }()
	t.Cleanup(func() { gs.Stop(); <-served })
	return lis.Addr().String(), calls
}

// TestModelServerTLS: the sidecar reaches a TLS model server verified with
// a CA file, and presents a client certificate when the model server
// requires one. Without the certificate the model server aborts the TLS
// handshake: grpc reports a connection that cannot be set up as UNAVAILABLE,
// which the predictor classifies as ErrUnavailable and the sidecar returns
// as UNAVAILABLE (FAILED_PRECONDITION is for a model server that answers
// UNAUTHENTICATED/PERMISSION_DENIED at the RPC level, after a handshake).
func TestModelServerTLS(t *testing.T) {
	p := newTestPKI(t)
	tlsAddr, _ := countingModel(t, grpc.Creds(credentials.NewTLS(p.serverTLS(t, ""))))
	mtlsAddr, _ := countingModel(t, grpc.Creds(credentials.NewTLS(p.serverTLS(t, p.caFile))))
	tests := []struct {
		name  string
		addr  string
		files tlsconfig.ClientFiles
		want  codes.Code
	}{
		{"tls with CA", tlsAddr, tlsconfig.ClientFiles{CA: p.caFile}, codes.OK},
		{"tls with server name", tlsAddr, tlsconfig.ClientFiles{CA: p.caFile, ServerName: "localhost"}, codes.OK},
		{"tls untrusted", tlsAddr, tlsconfig.ClientFiles{CA: p.otherCAFile}, codes.Unavailable},
		{"mtls with client cert", mtlsAddr, tlsconfig.ClientFiles{CA: p.caFile, Cert: p.goodCert, Key: p.goodKey}, codes.OK},
		{"mtls without client cert", mtlsAddr, tlsconfig.ClientFiles{CA: p.caFile}, codes.Unavailable},
		{"mtls other CA's client cert", mtlsAddr, tlsconfig.ClientFiles{CA: p.caFile, Cert: p.badCert, Key: p.badKey}, codes.Unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := tlsconfig.Client(tt.files, nil)
			if err != nil {
				t.Fatal(err)
			}
			conn, err := predictor.Dial(tt.addr, predictor.WithTLS(cfg))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			sidecar := startTCPSidecar(t, func(model string) predictor.Client { return predictor.NewPredictV1(conn, model) })
			client := explainerClient(dialSidecar(t, sidecar, grpc.WithTransportCredentials(insecure.NewCredentials())))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err = client.Explain(ctx, limeRequest(testInstance, nil))
			if got := status.Code(err); got != tt.want {
				t.Fatalf("explain: %v, want %v", err, tt.want)
			}
		})
	}
}

// TestRequestCannotRedirectTheSidecar: the request's model field is only a
// name sent to the configured model server; a model named like an address
// never makes the sidecar dial that address.
func TestRequestCannotRedirectTheSidecar(t *testing.T) {
	configured, configuredCalls := countingModel(t)
	other, otherCalls := countingModel(t)
	conn, err := predictor.Dial(configured, predictor.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	addr := startTCPSidecar(t, func(model string) predictor.Client { return predictor.NewPredictV1(conn, model) })
	client := explainerClient(dialSidecar(t, addr, grpc.WithTransportCredentials(insecure.NewCredentials())))
	for _, model := range []string{
		other,
		"dns:///" + other,
		"passthrough:///" + other,
		"http://" + other + "/v1/models/m",
		"grpc://" + other,
		"unix:///tmp/model.sock",
	} {
		t.Run(model, func(t *testing.T) {
			before := configuredCalls.Load()
			req := limeRequest(testInstance, nil)
			req.Model = model
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err := client.Explain(ctx, req)
			switch status.Code(err) {
			case codes.OK:
			case codes.InvalidArgument: // a name the sidecar refuses: fine too
				t.Logf("refused: %v", err)
				if n := otherCalls.Load(); n != 0 {
					t.Fatalf("the server at %s received %d calls", other, n)
				}
				return
			default:
				t.Fatalf("explain: %v (the configured fake serves any model name)", err)
			}
			if configuredCalls.Load() == before {
				t.Error("the configured model server received no call")
			}
			if n := otherCalls.Load(); n != 0 {
				t.Fatalf("the server at %s received %d calls", other, n)
			}
		})
	}
}
