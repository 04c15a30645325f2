package server

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/explainer-sidecar/explainer/predictor/predictortest"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

func TestExplainJobStreamsProgressThenTheResult(t *testing.T) {
	_, newClient := predictV1Model(t, func(p *predictortest.PredictServer) { p.MaxBatchSize = 50 })
	sc := startSidecar(t, newClient)
	want, err := sc.client.Explain(context.Background(), limeRequest(testInstance, nil))
	if err != nil {
		t.Fatal(err)
	}
	stream, err := sc.client.ExplainJob(context.Background(), &explainerv1.ExplainJobRequest{Request: limeRequest(testInstance, nil)})
	if err != nil {
		t.Fatal(err)
	}
	var progress int
	var last uint64
	var result *explainerv1.Explanation
	for {
		msg, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if result != nil {
			t.Fatalf("event %v after the result", msg)
		}
		switch ev := msg.GetEvent().(type) {
		case *explainerv1.ExplainJobResponse_Progress:
			if p := ev.Progress; p.GetSamplesTotal() != 1000 || p.GetSamplesScored() < last {
				t.Fatalf("progress %v after %d", p, last)
			}
			last = ev.Progress.GetSamplesScored()
			progress++
		case *explainerv1.ExplainJobResponse_Result:
			result = ev.Result
		default:
			t.Fatalf("unexpected event %v", msg)
		}
	}
	if progress == 0 || result == nil {
		t.Fatalf("%d progress events, result %v", progress, result)
	}
	if !proto.Equal(withoutElapsed(result), withoutElapsed(want.GetExplanation())) {
		t.Errorf("ExplainJob's result differs from Explain's:\n%v\n%v", result, want.GetExplanation())
	}
}

func TestExplainJobErrorsEndTheCall(t *testing.T) {
	_, newClient := predictV1Model(t, nil)
	sc := startSidecar(t, newClient)
	bad := limeRequest(testInstance[:4], nil)
	_, wantErr := sc.client.Explain(context.Background(), bad)
	for _, tc := range []struct {
		name string
		req  *explainerv1.ExplainRequest
		code codes.Code
		msg  string
	}{
		{"same as Explain", bad, status.Code(wantErr), status.Convert(wantErr).Message()},
		{"no request", nil, codes.InvalidArgument, "method: must be set (" + strings.Join(methodNames(), ", ") + ")"},
		{"streamed data", &explainerv1.ExplainRequest{Method: &explainerv1.ExplainRequest_Sensitivity{Sensitivity: &explainerv1.SensitivityOptions{Streamed: true}}},
			codes.InvalidArgument, "sensitivity.streamed: ExplainJob takes no data chunks: send the data in the request, or use ExplainStream"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stream, err := sc.client.ExplainJob(context.Background(), &explainerv1.ExplainJobRequest{Request: tc.req})
			if err != nil {
				t.Fatal(err)
			}
			msg, err := stream.Recv()
			if st := status.Convert(err); st.Code() != tc.code || st.Message() != tc.msg {
				t.Errorf("got %v, %v; want %v %q", msg, err, tc.code, tc.msg)
			}
		})
	}
}

func TestExplainJobClientGoneStopsTheJob(t *testing.T) {
	fake, newClient := predictV1Model(t, func(p *predictortest.PredictServer) {
		p.MaxBatchSize = 10
		p.Delay = 20 * time.Millisecond
	})
	sc := startSidecar(t, newClient, WithInFlight(2))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := sc.client.ExplainJob(ctx, &explainerv1.ExplainJobRequest{Request: limeRequest(testInstance, nil)})
	if err != nil {
		t.Fatal(err)
	}
	if msg, err := stream.Recv(); err != nil || msg.GetProgress() == nil {
		t.Fatalf("first event %v, %v: want progress", msg, err)
	}
	cancel()
	stopped := time.Now()
	time.Sleep(200 * time.Millisecond)
	if n := fake.CallsAfter(stopped.Add(50 * time.Millisecond)); n != 0 {
		t.Errorf("the model server received %d batches after the client went away", n)
	}
	if fake.Rows() >= 1000 {
		t.Errorf("the model scored all %d rows", fake.Rows())
	}
}
