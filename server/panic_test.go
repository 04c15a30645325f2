package server

import (
	"context"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/explainer-sidecar/explainer/predictor"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// panickyClient answers Describe and the first scoring call like a
// logistic model, then panics: a bug in a model client.
type panickyClient struct {
	calls atomic.Int64
}

func (c *panickyClient) Score(_ context.Context, rows [][]float64) ([][]float64, error) {
	if c.calls.Add(1) > 1 {
		panic("model client bug")
	}
	out := make([][]float64, len(rows))
	for i := range rows {
		out[i] = []float64{0.4, 0.6}
	}
	return out, nil
}

func (c *panickyClient) Describe(context.Context) (predictor.ModelInfo, error) {
	return predictor.ModelInfo{NumFeatures: testFeatures, NumClasses: 2}, nil
}

func (c *panickyClient) Ready(context.Context) error { return nil }

// TestPanicInStabilityRunIsInternal: a model client that panics in a
// stability run's goroutine ends that job with INTERNAL "internal error";
// the sidecar keeps serving (issue 14, item 4).
func TestPanicInStabilityRunIsInternal(t *testing.T) {
	client := &panickyClient{}
	sc := startSidecar(t, func(string) predictor.Client { return client }, WithInFlight(4))
	req := limeRequest(testInstance, func(o *explainerv1.LimeOptions) { o.NumSamples = 500 })
	req.Evaluation = &explainerv1.Evaluation{StabilityRuns: 2}
	for _, stream := range []bool{false, true} {
		client.calls.Store(0)
		var run faultRun
		if stream {
			run = runStream(t, context.Background(), sc, req)
		} else {
			run = runUnary(context.Background(), sc, req)
		}
		if run.code != codes.Internal || run.msg != "internal error" {
			t.Fatalf("stream=%v: got %v %q, want INTERNAL \"internal error\"", stream, run.code, run.msg)
		}
	}
	// Still serving.
	if _, err := sc.client.Explain(context.Background(), &explainerv1.ExplainRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("after the panics: %v, want INVALID_ARGUMENT", err)
	}
}
