package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/explainer-sidecar/explainer/predictor/predictortest"
)

// TestHTTPServesTheListenersTLSAndTokens runs serve's code with mutual TLS
// and tokens: the HTTP API asks for the same, over HTTP/1.1 and HTTP/2.
func TestHTTPServesTheListenersTLSAndTokens(t *testing.T) {
	f := newCertFiles(t)
	fake := predictortest.NewPredictServer(modelScore)
	ms := predictortest.NewServer(fake)
	defer ms.Close()
	cfg := serveConfig{protocol: "predict-v1", model: "m", inFlight: 2, maxConcurrentJobs: 2, jobTimeout: 30 * time.Second,
		healthInterval: time.Second, drainTimeout: time.Second,
		tlsCert: f.srvCert, tlsKey: f.srvKey, tlsClientCA: f.caFile, authTokens: f.tokens}
	newClient, err := cfg.clientFunc(ms.Conn)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.http.lis, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	url := "https://localhost:" + portOf(cfg.http.lis.Addr()) + "/explainer.v1.ExplainerService/Explain"
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serveOn(ctx, lis, newClient, &cfg, slog.New(slog.DiscardHandler)) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()

	caPEM, err := os.ReadFile(f.caFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	client := func(t *testing.T, cert, key string, h2 bool) *http.Client {
		cfg := &tls.Config{RootCAs: roots}
		if cert != "" {
			c, err := tls.LoadX509KeyPair(cert, key)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Certificates = []tls.Certificate{c}
		}
		tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: h2}
		if !h2 {
			cfg.NextProtos = []string{"http/1.1"}
		}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr}
	}
	body := `{"sensitivity": {"data": {"num_rows": 2, "values": [1, 2, 3, 4, 5, 6]}}}`
	for _, tc := range []struct {
		name       string
		client     *http.Client
		url, token string
		code       int    // 0: the request fails
		proto      int    // HTTP major version
		want       string // in the body
	}{
		{"HTTP/1.1, mTLS and token", client(t, f.cliCert, f.cliKey, false), url, "good-token", 200, 1, `"method":"sensitivity"`},
		{"HTTP/2, mTLS and token", client(t, f.cliCert, f.cliKey, true), url, "good-token", 200, 2, `"method":"sensitivity"`},
		{"no token", client(t, f.cliCert, f.cliKey, false), url, "", 401, 1, `"code":"unauthenticated"`},
		{"wrong token", client(t, f.cliCert, f.cliKey, false), url, "bad-token", 401, 1, `"message":"invalid bearer token"`},
		{"no client certificate", client(t, "", "", false), url, "good-token", 0, 0, ""},
		{"other CA's client certificate", client(t, f.badCert, f.badKey, false), url, "good-token", 0, 0, ""},
		{"plaintext", http.DefaultClient, strings.Replace(url, "https:", "http:", 1), "good-token", 400, 1, "HTTPS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, tc.url, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := tc.client.Do(req)
			if tc.code == 0 {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("HTTP %d, want a failed handshake", resp.StatusCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			out, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.code || resp.ProtoMajor != tc.proto || !strings.Contains(string(out), tc.want) {
				t.Errorf("HTTP/%d %d %s, want HTTP/%d %d with %s", resp.ProtoMajor, resp.StatusCode, out, tc.proto, tc.code, tc.want)
			}
		})
	}
}

func portOf(a net.Addr) string {
	_, port, _ := net.SplitHostPort(a.String())
	return port
}
