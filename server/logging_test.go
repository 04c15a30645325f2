package server

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestLogsCarryRequestIDNotPayloads(t *testing.T) {
	_, newClient := predictV1Model(t, nil)
	var buf syncBuffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	sc := startObserved(t, newClient, log, nil)
	instance := []float64{0.123456789, 1.987654321, -0.5555555, 2.4242424, 0.31313131}
	ctx := metadata.AppendToOutgoingContext(context.Background(), RequestIDHeader, "req-42")
	var header metadata.MD
	if _, err := sc.client.Explain(ctx, limeRequest(instance, nil), grpc.Header(&header)); err != nil {
		t.Fatal(err)
	}
	if got := header.Get(RequestIDHeader); len(got) != 1 || got[0] != "req-42" {
		t.Errorf("response header %s = %q, want [req-42]", RequestIDHeader, got)
	}
	out := buf.String()
	var finished bool
	for line := range strings.Lines(out) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["msg"] == "finished call" {
			finished = true
			if rec["request_id"] != "req-42" {
				t.Errorf("finished call logged with request_id %v, want req-42", rec["request_id"])
			}
			if rec["grpc.code"] != "OK" {
				t.Errorf("finished call logged with code %v, want OK", rec["grpc.code"])
			}
		}
	}
	if !finished {
		t.Errorf("no finished call logged:\n%s", out)
	}
	for _, v := range []string{"0.123456", "1.987654", "0.555555", "2.424242", "0.313131"} {
		if strings.Contains(out, v) {
			t.Errorf("a feature value (%s) appears in the logs:\n%s", v, out)
		}
	}
}

func TestRequestIDGeneratedAndSanitised(t *testing.T) {
	_, newClient := predictV1Model(t, nil)
	sc := startObserved(t, newClient, nil, nil)
	req := limeRequest(testInstance, nil)
	long := strings.Repeat("a", 1000)
	tests := []struct {
		name, in, want string
	}{
		{"absent", "", ""},
		{"forged log line", "id-1 {\"level\":\"ERROR\"} <x>", "id-1level:ERRORx"},
		{"too long", long, long[:MaxRequestIDLength]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.in != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, RequestIDHeader, tt.in)
			}
			var header metadata.MD
			if _, err := sc.client.Explain(ctx, req, grpc.Header(&header)); err != nil {
				t.Fatal(err)
			}
			got := header.Get(RequestIDHeader)
			if len(got) != 1 || got[0] == "" {
				t.Fatalf("response header %s = %q, want one id", RequestIDHeader, got)
			}
			if tt.want != "" && got[0] != tt.want {
				t.Errorf("request id %q, want %q", got[0], tt.want)
			}
		})
	}
}

func TestJobLogsCarryRequestID(t *testing.T) {
	var buf syncBuffer
	s := New(nil, WithLogger(slog.New(slog.NewJSONHandler(&buf, nil))))
	ctx := withRequestID(context.Background(), "req-7")
	s.opts.logger.ErrorContext(ctx, "panic recovered in job")
	_ = toStatus(s.jobLogger(ctx), errUnexpected)
	var n int
	for line := range strings.Lines(buf.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		n++
		if rec["request_id"] != "req-7" {
			t.Errorf("%v logged with request_id %v, want req-7", rec["msg"], rec["request_id"])
		}
	}
	if n != 2 {
		t.Errorf("%d log lines, want 2:\n%s", n, buf.String())
	}
}

var errUnexpected = unexpectedError{}

type unexpectedError struct{}

func (unexpectedError) Error() string { return "server: something unexpected" }
