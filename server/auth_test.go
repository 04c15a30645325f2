package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/explainer-sidecar/explainer/internal/tlsconfig"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

const secret = "s3cret-token-Ab9"

// TestBearerTokenAuth: over TLS on loopback, the explainer (unary and
// stream) needs a listed token; the health service does not.
func TestBearerTokenAuth(t *testing.T) {
	p := newTestPKI(t)
	_, newClient := predictV1Model(t, nil)
	opts := append([]grpc.ServerOption{grpc.Creds(credentials.NewTLS(p.serverTLS(t, "")))},
		AuthServerOptions(NewStaticTokens(secret, "second-token"))...)
	addr := startTCPSidecar(t, newClient, opts...)
	conn := dialSidecar(t, addr, clientTLS(t, tlsconfig.ClientFiles{CA: p.caFile}))
	client := explainerv1.NewExplainerServiceClient(conn)

	tests := []struct {
		name     string
		md       []string // outgoing metadata pairs
		want     codes.Code
		wantText string
	}{
		{"no token", nil, codes.Unauthenticated, "missing bearer token"},
		{"wrong token", []string{"authorization", "Bearer nope"}, codes.Unauthenticated, "invalid bearer token"},
		{"token prefix", []string{"authorization", "Bearer " + secret[:5]}, codes.Unauthenticated, "invalid bearer token"},
		{"empty token", []string{"authorization", "Bearer "}, codes.Unauthenticated, "invalid bearer token"},
		{"wrong scheme", []string{"authorization", "Basic " + secret}, codes.Unauthenticated, "malformed authorization"},
		{"no scheme", []string{"authorization", secret}, codes.Unauthenticated, "malformed authorization"},
		{"right token", []string{"authorization", "Bearer " + secret}, codes.OK, ""},
		{"second token, scheme in lower case", []string{"authorization", "bearer second-token"}, codes.OK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if tt.md != nil {
				ctx = metadata.AppendToOutgoingContext(ctx, tt.md...)
			}
			check := func(rpc string, err error) {
				t.Helper()
				st := status.Convert(err)
				if st.Code() != tt.want || !strings.Contains(st.Message(), tt.wantText) {
					t.Fatalf("%s: %v, want %v %q", rpc, err, tt.want, tt.wantText)
				}
				if strings.Contains(st.Message(), secret[:5]) || strings.Contains(st.Message(), "nope") {
					t.Fatalf("%s: the message echoes the token: %q", rpc, st.Message())
				}
			}
			_, err := client.Explain(ctx, limeRequest(testInstance, nil))
			check("Explain", err)

			stream, err := client.ExplainStream(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := stream.Send(startJob("a", limeRequest(testInstance, nil))); err != nil && tt.want == codes.OK {
				t.Fatal(err)
			}
			_ = stream.CloseSend()
			var streamErr error
			for {
				resp, err := stream.Recv()
				if errors.Is(err, io.EOF) {
					streamErr = errors.New("stream ended without a result")
					break
				}
				if err != nil {
					streamErr = err
					break
				}
				if resp.GetResult() != nil {
					break
				}
			}
			check("ExplainStream", streamErr)

			// Health is open to everyone.
			if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
				t.Fatalf("health without auth: %v", err)
			}
		})
	}
}

func TestStaticTokens(t *testing.T) {
	s := NewStaticTokens("a", "", "bc")
	for tok, want := range map[string]bool{"a": true, "bc": true, "": false, "b": false, "abc": false, "A": false} {
		if got := s.Valid(tok); got != want {
			t.Errorf("Valid(%q) = %v, want %v", tok, got, want)
		}
	}
	if NewStaticTokens().Valid("") {
		t.Error("an empty set accepts the empty token")
	}
}

func TestTokenFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tokens")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("# sidecar tokens\n  alpha  \n\nbeta\n")
	f, err := LoadTokenFile(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for tok, want := range map[string]bool{"alpha": true, "beta": true, "# sidecar tokens": false, "": false, "gamma": false} {
		if got := f.Valid(tok); got != want {
			t.Errorf("Valid(%q) = %v, want %v", tok, got, want)
		}
	}

	// A change is picked up after TokenFileCheckInterval; force it by
	// backdating the last check.
	expire := func() {
		f.mu.Lock()
		f.checked = time.Time{}
		f.mu.Unlock()
	}
	write("gamma\n")
	expire()
	if !f.Valid("gamma") || f.Valid("alpha") {
		t.Fatal("the changed file was not reloaded")
	}
	tests := []struct {
		name, content, want string
	}{
		{"empty", "\n# only a comment\n", "no token"},
		{"space inside", "two words\n", "white space inside a token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "tokens")
			if err := os.WriteFile(p, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadTokenFile(p, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "words") {
				t.Fatalf("the error echoes file content: %v", err)
			}
		})
	}
	if _, err := LoadTokenFile(filepath.Join(dir, "missing"), nil); err == nil {
		t.Fatal("a missing file loaded")
	}
}

// TestTokenFileFailsClosed: a token file that is emptied, deleted or
// malformed after start accepts no token (every call UNAUTHENTICATED) and
// says so in the log once; a file that lists tokens again is used again.
func TestTokenFileFailsClosed(t *testing.T) {
	tests := []struct {
		name  string
		spoil func(t *testing.T, path string)
	}{
		{"emptied", func(t *testing.T, path string) { writeFile(t, path, "") }},
		{"only comments", func(t *testing.T, path string) { writeFile(t, path, "# all gone\n") }},
		{"malformed", func(t *testing.T, path string) { writeFile(t, path, "alpha beta\n") }},
		{"deleted", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tokens")
			writeFile(t, path, "alpha\n")
			var logs strings.Builder
			f, err := LoadTokenFile(path, slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			expire := func() {
				f.mu.Lock()
				f.checked = time.Time{}
				f.mu.Unlock()
			}
			tt.spoil(t, path)
			for range 3 {
				expire()
				if f.Valid("alpha") {
					t.Fatal("the old token is still accepted")
				}
			}
			if n := strings.Count(logs.String(), "refusing every call"); n != 1 {
				t.Errorf("%d log lines about refusing every call, want 1:\n%s", n, logs.String())
			}
			if strings.Contains(logs.String(), "alpha beta") {
				t.Errorf("the log echoes the file's content:\n%s", logs.String())
			}
			writeFile(t, path, "gamma\n")
			expire()
			if !f.Valid("gamma") || f.Valid("alpha") {
				t.Fatal("a file listing tokens again was not used")
			}
			if !strings.Contains(logs.String(), "lists tokens again") {
				t.Errorf("no log line when the tokens came back:\n%s", logs.String())
			}
		})
	}
}

// writeFile writes content to path with a modification time unlike the
// previous one's, so that a reload sees the change even on file systems
// with coarse timestamps.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	next := time.Now().Add(time.Duration(writes.Add(1)) * time.Second)
	if err := os.Chtimes(path, next, next); err != nil {
		t.Fatal(err)
	}
}

var writes atomic.Int64
