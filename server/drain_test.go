package server

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/explainer-sidecar/explainer/predictor"
	"github.com/explainer-sidecar/explainer/predictor/predictortest"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// wantShuttingDown checks that err is UNAVAILABLE "server shutting down".
func wantShuttingDown(t *testing.T, what string, err error) {
	t.Helper()
	if st := status.Convert(err); st.Code() != codes.Unavailable || st.Message() != "server shutting down" {
		t.Errorf("%s: %v, want UNAVAILABLE \"server shutting down\"", what, err)
	}
}

// TestShutdownDeliversJobErrorsBeforeStop runs the stop sequence of
// `explainer serve` on a real gRPC server (loopback TCP): after Shutdown the
// listener still answers, health is NOT_SERVING and new jobs, unary or on a
// stream, get UNAVAILABLE; after CancelJobs and Drain every running job has
// its UNAVAILABLE "server shutting down" (the unary response, the stream's
// JobError), streams end with the same status, and GracefulStop completes
// without Stop.
func TestShutdownDeliversJobErrorsBeforeStop(t *testing.T) {
	// Every scoring call hangs until cancelled and announces itself. The
	// model takes any batch, so a job's samples go in one call; the jobs
	// start one after the other, each once the previous one's call is at
	// the model, with a call in flight each (the limit is per model).
	calls := make(chan struct{}, 16)
	fake := predictortest.NewPredictServer(predictortest.Logistic(testWeights, testBias))
	fake.NumFeatures = testFeatures
	fake.ClassNames = []string{"no", "yes"}
	fake.Fault = func(int, [][]float64) ([][]float64, error) {
		calls <- struct{}{}
		return nil, predictortest.ErrHang
	}
	ts := predictortest.NewBufconnServer(fake)
	defer ts.Close()
	srv := New(func(model string) predictor.Client { return predictor.NewPredictV1(ts.Conn, model) }, WithInFlight(2))

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(GRPCServerOptions(nil)...)
	srv.Register(gs)
	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()
	stopped := false
	defer func() {
		if !stopped {
			gs.Stop()
		}
		<-served
	}()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client, health := explainerv1.NewExplainerServiceClient(conn), healthpb.NewHealthClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a bound, not a timing check
	defer cancel()

	// A unary job and a streamed one, both running; a stream with no job.
	atModel := func(job string) {
		t.Helper()
		select {
		case <-calls:
		case <-ctx.Done():
			t.Fatalf("the %s job never reached the model server", job)
		}
	}
	unary := make(chan error, 1)
	go func() {
		_, err := client.Explain(ctx, limeRequest(testInstance, nil))
		unary <- err
	}()
	atModel("unary")
	busy, err := client.ExplainStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := busy.Send(startJob("s", limeRequest(testInstance, nil))); err != nil {
		t.Fatal(err)
	}
	atModel("streamed")
	idle, err := client.ExplainStream(ctx)
	if err != nil {
		t.Fatal(err)
	}

	srv.Shutdown()
	// The listener still answers: health says NOT_SERVING, jobs are refused.
	if resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("health during the drain: %v %v, want NOT_SERVING", resp.GetStatus(), err)
	}
	_, err = client.Explain(ctx, limeRequest(testInstance, nil))
	wantShuttingDown(t, "a new unary job during the drain", err)
	if err := busy.Send(startJob("late", limeRequest(testInstance, nil))); err != nil {
		t.Fatal(err)
	}
	wantRefusal(t, busy, "late")
	// The stream with no job ends at once.
	_, err = idle.Recv()
	wantShuttingDown(t, "a stream with no job", err)
	// A drain that runs out reports it; the jobs go on.
	expired, cancelExpired := context.WithCancel(ctx)
	cancelExpired()
	if err := srv.Drain(expired); !errors.Is(err, context.Canceled) {
		t.Fatalf("Drain with running jobs and an ended context: %v", err)
	}

	srv.CancelJobs()
	if err := srv.Drain(ctx); err != nil {
		t.Fatalf("Drain after CancelJobs: %v", err)
	}
	// The outcomes reach the clients before the server stops.
	wantShuttingDown(t, "the running unary job", <-unary)
	got := map[string]*explainerv1.JobError{}
	for {
		msg, err := busy.Recv()
		if err != nil {
			wantShuttingDown(t, "the stream's end", err)
			break
		}
		if e := msg.GetError(); e != nil {
			got[msg.GetJobId()] = e
		} else if msg.GetResult() != nil {
			t.Errorf("job %s delivered a result", msg.GetJobId())
		}
	}
	if e := got["s"]; len(got) != 1 || codes.Code(e.GetCode()) != codes.Unavailable || e.GetMessage() != "server shutting down" {
		t.Errorf("job errors %v, want job s's JobError UNAVAILABLE \"server shutting down\"", got)
	}
	// Every RPC has ended: GracefulStop needs no Stop.
	graceful := make(chan struct{})
	go func() { gs.GracefulStop(); close(graceful) }()
	select {
	case <-graceful:
		stopped = true
	case <-ctx.Done():
		t.Fatal("GracefulStop did not complete after every job ended")
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
	served <- nil // for the deferred wait
}

// wantRefusal reads the stream up to job id's JobError, which must be
// UNAVAILABLE "server shutting down".
func wantRefusal(t *testing.T, stream explainerv1.ExplainerService_ExplainStreamClient, id string) {
	t.Helper()
	for {
		msg, err := stream.Recv()
		if err != nil {
			t.Fatalf("stream ended with %v before job %s's refusal", err, id)
		}
		if msg.GetJobId() != id {
			continue // progress of the running job
		}
		if e := msg.GetError(); codes.Code(e.GetCode()) != codes.Unavailable || e.GetMessage() != "server shutting down" {
			t.Fatalf("job %s: %v, want a JobError UNAVAILABLE \"server shutting down\"", id, msg)
		}
		return
	}
}
