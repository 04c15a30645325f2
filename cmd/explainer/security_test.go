package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/explainer-sidecar/explainer/internal/tlsconfig"
	"github.com/explainer-sidecar/explainer/internal/tlsconfig/tlsconfigtest"
	"github.com/explainer-sidecar/explainer/predictor"
	"github.com/explainer-sidecar/explainer/predictor/predictortest"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
	"github.com/explainer-sidecar/explainer/server"
)

type certFiles struct {
	caFile, otherCAFile string
	srvCert, srvKey     string
	cliCert, cliKey     string
	badCert, badKey     string
	tokens, token       string
}

func newCertFiles(t *testing.T) certFiles {
	t.Helper()
	dir := t.TempDir()
	ca, other := tlsconfigtest.NewCA("test CA"), tlsconfigtest.NewCA("other CA")
	var f certFiles
	f.caFile = ca.WriteCA(dir, "ca.pem")
	f.otherCAFile = other.WriteCA(dir, "other-ca.pem")
	f.srvCert, f.srvKey = ca.Server().Write(dir, "server")
	f.cliCert, f.cliKey = ca.Client("explain").Write(dir, "client")
	f.badCert, f.badKey = other.Client("bad").Write(dir, "bad")
	f.tokens, f.token = filepath.Join(dir, "tokens"), filepath.Join(dir, "token")
	if err := os.WriteFile(f.tokens, []byte("# accepted\ngood-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.token, []byte("good-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestServeFlagsParse(t *testing.T) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var cfg serveConfig
	cfg.flags(fs)
	err := fs.Parse([]string{"-tls-cert", "s.crt", "-tls-key", "s.key", "-tls-client-ca", "ca.pem", "-auth-tokens", "tokens",
		"-predictor-ca", "mca.pem", "-predictor-cert", "c.crt", "-predictor-key", "c.key", "-predictor-server-name", "triton.internal"})
	if err != nil {
		t.Fatal(err)
	}
	got := []string{cfg.tlsCert, cfg.tlsKey, cfg.tlsClientCA, cfg.authTokens, cfg.predictorCA, cfg.predictorCert, cfg.predictorKey, cfg.predictorServerName}
	want := []string{"s.crt", "s.key", "ca.pem", "tokens", "mca.pem", "c.crt", "c.key", "triton.internal"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("parsed %v, want %v", got, want)
	}
	if cfg.plaintext {
		t.Error("-predictor-plaintext defaults to true")
	}
}

func TestSecurityFlagErrors(t *testing.T) {
	f := newCertFiles(t)
	missing := filepath.Join(t.TempDir(), "missing.pem")
	serve := []string{"serve", "-listen", "127.0.0.1:0", "-predictor-plaintext"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing listener cert", append(serve, "-tls-cert", missing, "-tls-key", f.srvKey), "listener TLS: tlsconfig: load key pair " + missing},
		{"listener cert without key", append(serve, "-tls-cert", f.srvCert), "listener TLS: tlsconfig: server needs both a certificate and a key file"},
		{"client CA without cert", append(serve, "-tls-client-ca", f.caFile), "-tls-client-ca needs -tls-cert and -tls-key"},
		{"missing client CA", append(serve, "-tls-cert", f.srvCert, "-tls-key", f.srvKey, "-tls-client-ca", missing), missing},
		{"missing token file", append(serve, "-auth-tokens", missing), "-auth-tokens: server: token file"},
		{"plaintext and predictor CA", append(serve, "-predictor-ca", f.caFile), "-predictor-plaintext conflicts with -predictor-ca"},
		{"missing predictor CA", []string{"serve", "-listen", "127.0.0.1:0", "-predictor-ca", missing}, "model server TLS: tlsconfig: open " + missing},
		{"predictor cert without key", []string{"serve", "-listen", "127.0.0.1:0", "-predictor-cert", f.cliCert}, "model server TLS: tlsconfig: a client certificate needs both"},
		{"explain token over plaintext", []string{"explain", "-token", "t", "-background", breastCancerCSV, "-instance-file", breastCancerCSV}, "a bearer token is only sent over TLS"},
		{"explain cert without TLS", []string{"explain", "-tls-cert", f.cliCert, "-tls-key", f.cliKey, "-background", breastCancerCSV, "-instance-file", breastCancerCSV}, "need TLS: add -tls-ca"},
		{"explain token and token file", []string{"explain", "-tls-ca", f.caFile, "-token", "t", "-token-file", f.token, "-background", breastCancerCSV, "-instance-file", breastCancerCSV}, "give -token or -token-file, not both"},
		{"explain missing CA", []string{"explain", "-tls-ca", missing, "-background", breastCancerCSV, "-instance-file", breastCancerCSV}, missing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runCLI(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestSecureServeEndToEnd runs serve's code with TLS, mutual TLS and token
// auth on its listener, in front of a model server that requires mutual
// TLS, and explains through it with `explain`'s TLS and token flags.
func TestSecureServeEndToEnd(t *testing.T) {
	f := newCertFiles(t)

	// The model server: predict.v1 over TLS, client certificates required.
	modelTLS, err := tlsconfig.Server(tlsconfig.ServerFiles{Cert: f.srvCert, Key: f.srvKey, ClientCA: f.caFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	fake := predictortest.NewPredictServer(predictortest.Logistic(make([]float64, 30), 0.5))
	fake.NumFeatures = 30
	modelLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(grpc.Creds(credentials.NewTLS(modelTLS)))
	fake.Register(gs)
	modelServed := make(chan struct{})
	go func() { defer close(modelServed); _ = gs.Serve(modelLis) }()
	defer func() { gs.Stop(); <-modelServed }()

	cfg := serveConfig{protocol: "predict-v1", model: "m", inFlight: 2, maxConcurrentJobs: 2, jobTimeout: 30 * time.Second,
		healthInterval: time.Second, drainTimeout: time.Second,
		tlsCert: f.srvCert, tlsKey: f.srvKey, tlsClientCA: f.caFile, authTokens: f.tokens,
		predictorCA: f.caFile, predictorCert: f.cliCert, predictorKey: f.cliKey, predictorServerName: "localhost"}
	log := slog.New(slog.DiscardHandler)
	dialOpt, err := cfg.predictorSecurity(log)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := predictor.Dial(modelLis.Addr().String(), dialOpt)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	newClient, err := cfg.clientFunc(conn)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.healthLis, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serveOn(ctx, lis, newClient, &cfg, log) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()

	// The health-only port answers a plaintext probe (what the kubelet's
	// gRPC probe sends) without a token, and serves nothing else.
	hc, err := grpc.NewClient(cfg.healthLis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Close()
	probe := healthpb.NewHealthClient(hc)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := probe.Check(context.Background(), &healthpb.HealthCheckRequest{Service: server.ServiceName})
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("plaintext health port: %v, %v; want SERVING once the model server is up", resp, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, err = explainerv1.NewExplainerServiceClient(hc).Explain(context.Background(), &explainerv1.ExplainRequest{})
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("Explain on the health port: %v, want UNIMPLEMENTED", err)
	}

	explain := []string{"explain", "-server", lis.Addr().String(), "-background", breastCancerCSV,
		"-instance-file", breastCancerCSV, "-num-samples", "200", "-seed", "1", "-output", "json"}
	tlsFlags := []string{"-tls-ca", f.caFile, "-tls-cert", f.cliCert, "-tls-key", f.cliKey}
	tests := []struct {
		name string
		args []string
		want string // "" for success, else part of the error
	}{
		{"mtls and token file", append(tlsFlags, "-token-file", f.token), ""},
		{"mtls and token", append(tlsFlags, "-token", "good-token", "-tls-server-name", "localhost"), ""},
		{"no token", tlsFlags, "Unauthenticated: missing bearer token"},
		{"wrong token", append(tlsFlags, "-token", "bad-token"), "Unauthenticated: invalid bearer token"},
		{"no client cert", []string{"-tls-ca", f.caFile, "-token", "good-token"}, "Unavailable"},
		{"other CA's client cert", []string{"-tls-ca", f.caFile, "-tls-cert", f.badCert, "-tls-key", f.badKey, "-token", "good-token"}, "Unavailable"},
		{"plaintext", nil, "Unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := runCLI(t, append(append([]string{}, explain...), tt.args...)...)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if exp := decode(t, out); exp.Method != "lime" || exp.NumSamples != 200 {
					t.Fatalf("explanation %+v", exp)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "bad-token") {
				t.Fatalf("the error echoes the token: %v", err)
			}
		})
	}
}
