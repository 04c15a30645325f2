package main

import (
	"context"
	"flag"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/explainer-sidecar/explainer/predictor/predictortest"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
	"github.com/explainer-sidecar/explainer/server"
)

// TestServeStreamLimitFlags: the per-stream job limit and the data idle
// timeout have flags whose defaults are the server's.
func TestServeStreamLimitFlags(t *testing.T) {
	parse := func(args ...string) serveConfig {
		t.Helper()
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var cfg serveConfig
		cfg.flags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	def := parse()
	if def.maxJobsPerStream != server.DefaultMaxJobsPerStream || def.dataIdleTimeout != server.DefaultDataIdleTimeout {
		t.Errorf("defaults %d, %v; want %d, %v", def.maxJobsPerStream, def.dataIdleTimeout, server.DefaultMaxJobsPerStream, server.DefaultDataIdleTimeout)
	}
	cfg := parse("-max-jobs-per-stream", "3", "-data-idle-timeout", "5s")
	if cfg.maxJobsPerStream != 3 || cfg.dataIdleTimeout != 5*time.Second {
		t.Errorf("parsed %d, %v; want 3, 5s", cfg.maxJobsPerStream, cfg.dataIdleTimeout)
	}
}

// limeJob is a small LIME request on a 3-feature model.
func limeJob(seed uint64) *explainerv1.ExplainRequest {
	const rows, p = 20, 3
	values := make([]float64, 0, rows*p)
	for i := range rows {
		for j := range p {
			values = append(values, float64((i*7+j*3)%11)/5-1)
		}
	}
	return &explainerv1.ExplainRequest{
		Model:    "m",
		Instance: &explainerv1.Instance{Kind: &explainerv1.Instance_Tabular{Tabular: &explainerv1.TabularInstance{Values: []float64{0.5, -0.2, 1}}}},
		Method: &explainerv1.ExplainRequest_Lime{Lime: &explainerv1.LimeOptions{
			NumSamples: 200, NumFeatures: 2, Seed: &seed, Labels: []uint32{1},
			Training: &explainerv1.TrainingData{Source: &explainerv1.TrainingData_Dataset{
				Dataset: &explainerv1.Dataset{NumRows: rows, Values: values},
			}},
		}},
	}
}

func startJob(id string, req *explainerv1.ExplainRequest) *explainerv1.ExplainStreamRequest {
	return &explainerv1.ExplainStreamRequest{Kind: &explainerv1.ExplainStreamRequest_Start{Start: &explainerv1.StartJob{JobId: id, Request: req}}}
}

func wantShuttingDown(t *testing.T, what string, err error) {
	t.Helper()
	if st := status.Convert(err); st.Code() != codes.Unavailable || st.Message() != "server shutting down" {
		t.Errorf("%s: %v, want UNAVAILABLE \"server shutting down\"", what, err)
	}
}

// TestServeSIGTERMDrainsThenDeliversShuttingDown sends SIGTERM to the
// built binary while a unary job and a streamed job run (the model never
// answers): health goes NOT_SERVING and the listener keeps answering
// during the drain, new jobs get UNAVAILABLE; at the drain timeout both
// jobs end with UNAVAILABLE "server shutting down" (the unary response,
// the stream's JobError, then the stream's status), and the process exits
// cleanly.
func TestServeSIGTERMDrainsThenDeliversShuttingDown(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	// Each scoring call announces itself and hangs until cancelled. The
	// model server takes any batch, so each job's samples go in one call:
	// the jobs are started one after the other, each once the previous
	// one's call is at the model, with a call in flight for each (the
	// in-flight limit is per model).
	calls := make(chan struct{}, 16)
	fake := predictortest.NewPredictServer(predictortest.Logistic([]float64{1, -1, 0.5}, 0))
	fake.NumFeatures = 3
	fake.ClassNames = []string{"no", "yes"}
	fake.Fault = func(int, [][]float64) ([][]float64, error) {
		calls <- struct{}{}
		return nil, predictortest.ErrHang
	}
	model := predictortest.NewServer(fake)
	defer model.Close()

	bin := buildExplainer(t, false)
	proc := startProcess(t, bin, "--listen", "127.0.0.1:0", "--predictor", model.Target, "--predictor-plaintext",
		"--protocol", "predict-v1", "--model", "m", "--in-flight", "2", "--drain-timeout", "3s")
	conn, err := grpc.NewClient(proc.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client, health := explainerv1.NewExplainerServiceClient(conn), healthpb.NewHealthClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // a bound, not a timing check
	defer cancel()

	watch, err := health.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := watch.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health at start: %v %v", resp.GetStatus(), err)
	}
	atModel := func(job string) {
		t.Helper()
		select {
		case <-calls:
		case <-ctx.Done():
			t.Fatalf("the %s job never reached the model server:\n%s", job, proc.log)
		}
	}
	unary := make(chan error, 1)
	go func() {
		_, err := client.Explain(ctx, limeJob(1))
		unary <- err
	}()
	atModel("unary")
	stream, err := client.ExplainStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(startJob("s", limeJob(2))); err != nil {
		t.Fatal(err)
	}
	atModel("streamed")

	proc.signal(t, syscall.SIGTERM)
	if resp, err := watch.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health after SIGTERM: %v %v, want NOT_SERVING", resp.GetStatus(), err)
	}
	// The drain: the listener answers, health included; jobs are refused.
	if resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("health check during the drain: %v %v, want NOT_SERVING", resp.GetStatus(), err)
	}
	_, err = client.Explain(ctx, limeJob(3))
	wantShuttingDown(t, "a new unary job during the drain", err)
	if err := stream.Send(startJob("late", limeJob(4))); err != nil {
		t.Fatal(err)
	}
	wantRefusal(t, stream, "late")

	// At the drain timeout the running jobs end, and say why.
	wantShuttingDown(t, "the running unary job", <-unary)
	got := map[string]*explainerv1.JobError{}
	for {
		msg, err := stream.Recv()
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
	if err := proc.wait(ctx); err != nil {
		t.Fatalf("explainer serve after SIGTERM: %v\n%s", err, proc.log)
	}
	for _, want := range []string{"drain timeout: cancelling", `msg=stopped`} {
		if !strings.Contains(proc.log.String(), want) {
			t.Errorf("the log lacks %q:\n%s", want, proc.log)
		}
	}
	if strings.Contains(proc.log.String(), "closing them") {
		t.Errorf("connections had to be cut after the jobs ended:\n%s", proc.log)
	}
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
