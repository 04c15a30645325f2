package predictor_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/explainer-sidecar/explainer/predictor"
	"github.com/explainer-sidecar/explainer/predictor/predictortest"
)

// dialFake dials s with Dial's defaults, plaintext.
func dialFake(t *testing.T, s *predictortest.Server, opts ...predictor.DialOption) *predictor.PredictV1 {
	t.Helper()
	opts = append([]predictor.DialOption{predictor.WithInsecure(), predictor.WithGRPCDialOptions(s.DialOptions()...)}, opts...)
	cc, err := predictor.Dial(s.Target, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return predictor.NewPredictV1(cc, "")
}

// The service config retries UNAVAILABLE, and only UNAVAILABLE, at most 5
// attempts, including calls bigger than grpc's default 256 KiB replay buffer.
func TestDialRetryPolicy(t *testing.T) {
	tests := []struct {
		name      string
		fault     predictortest.FaultFunc
		rows      int
		wantCalls int
		wantErr   error
	}{
		{"unavailable twice", predictortest.FailFirst(2, codes.Unavailable), 10, 3, nil},
		{"unavailable twice, 512 KiB batch", predictortest.FailFirst(2, codes.Unavailable), 1024, 3, nil},
		{"unavailable 4 times", predictortest.FailFirst(4, codes.Unavailable), 10, 5, nil},
		{"unavailable 5 times", predictortest.FailFirst(5, codes.Unavailable), 10, 5, predictor.ErrUnavailable},
		{"resource exhausted not retried", predictortest.FailFirst(1, codes.ResourceExhausted), 10, 1, predictor.ErrUnavailable},
		{"invalid argument not retried", predictortest.FailFirst(1, codes.InvalidArgument), 10, 1, predictor.ErrRejected},
		{"deadline exceeded not retried", predictortest.FailFirst(1, codes.DeadlineExceeded), 10, 1, predictor.ErrUnavailable},
		{"internal not retried", predictortest.FailFirst(1, codes.Internal), 10, 1, predictor.ErrFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := predictortest.NewPredictServer(firstAndSum)
			fake.Fault = tt.fault
			s := serve(t, fake)
			_, err := dialFake(t, s).Score(context.Background(), table(tt.rows, 64))
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if fake.Calls() != tt.wantCalls {
				t.Errorf("%d attempts, want %d", fake.Calls(), tt.wantCalls)
			}
		})
	}
}

func TestDialMessageSize(t *testing.T) {
	big := func(rows [][]float64) [][]float64 { // 1000 classes: 8 KB a row
		out := make([][]float64, len(rows))
		for i := range out {
			out[i] = make([]float64, 1000)
		}
		return out
	}
	fake := predictortest.NewPredictServer(big)
	s := serve(t, fake)
	c := dialFake(t, s, predictor.WithMaxMsgSize(64<<10))
	if _, err := c.Score(context.Background(), table(4, 10)); err != nil {
		t.Fatalf("a 32 KB reply under a 64 KiB limit: %v", err)
	}
	if _, err := c.Score(context.Background(), table(10, 10)); !errors.Is(err, predictor.ErrBadOutput) {
		t.Errorf("an 80 KB reply over a 64 KiB limit: %v, want ErrBadOutput", err)
	}
	if _, err := c.Score(context.Background(), table(100, 100)); !errors.Is(err, predictor.ErrRejected) {
		t.Errorf("an 80 KB request over a 64 KiB limit: %v, want ErrRejected", err)
	}
	if fake.Calls() != 2 {
		t.Errorf("%d calls reached the server, want 2", fake.Calls())
	}
}

func TestDialConnectionRefused(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close() // nothing listens there now
	cc, err := predictor.Dial(addr, predictor.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = predictor.NewPredictV1(cc, "").Score(ctx, table(1, 1))
	if !errors.Is(err, predictor.ErrUnavailable) {
		t.Errorf("err = %v, want ErrUnavailable", err)
	}
}

// TLS is the default: a plaintext server cannot be reached without
// WithInsecure.
func TestDialTLSByDefault(t *testing.T) {
	fake := predictortest.NewPredictServer(firstAndSum)
	s := predictortest.NewServer(fake)
	defer s.Close()
	cc, err := predictor.Dial(s.Target)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := predictor.NewPredictV1(cc, "").Score(ctx, table(1, 1)); !errors.Is(err, predictor.ErrUnavailable) {
		t.Errorf("TLS to a plaintext server: %v, want ErrUnavailable", err)
	}
	if fake.Calls() != 0 {
		t.Errorf("%d calls reached the server", fake.Calls())
	}
}

func TestDialBadTarget(t *testing.T) {
	if _, err := predictor.Dial("dns://a:b:c/%%"); err == nil {
		t.Error("Dial of a malformed target: no error")
	}
}
