package server

import (
	"context"
	"io"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/explainer-sidecar/explainer/explain"
	"github.com/explainer-sidecar/explainer/predictor"
	"github.com/explainer-sidecar/explainer/predictor/predictortest"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
	"github.com/explainer-sidecar/explainer/sampler"
)

// A logistic model over 5 features; feature 3 dominates, feature 1 pushes
// class 1 down, feature 4 is unused.
var (
	testWeights = []float64{0.8, -1.5, 0.3, 3, 0}
	testBias    = 0.2
)

const testFeatures = 5

// sidecar is an explainer server on bufconn in front of a fake model server.
type sidecar struct {
	client explainerv1.ExplainerServiceClient
	health healthpb.HealthClient
	srv    *Server
}

// startSidecar serves New(newClient, opts...) on bufconn with the listener
// options serve uses (logs discarded, no metrics); everything stops when
// the test ends.
func startSidecar(t testing.TB, newClient ClientFunc, opts ...Option) *sidecar {
	t.Helper()
	return startObserved(t, newClient, nil, nil, opts...)
}

// predictV1Model starts a fake predict.v1 model server.
func predictV1Model(t *testing.T, configure func(*predictortest.PredictServer)) (*predictortest.PredictServer, ClientFunc) {
	t.Helper()
	fake := predictortest.NewPredictServer(predictortest.Logistic(testWeights, testBias))
	fake.NumFeatures = testFeatures
	fake.MaxBatchSize = 100
	fake.ClassNames = []string{"no", "yes"}
	if configure != nil {
		configure(fake)
	}
	ts := predictortest.NewBufconnServer(fake)
	t.Cleanup(ts.Close)
	return fake, func(model string) predictor.Client { return predictor.NewPredictV1(ts.Conn, model) }
}

// kserveModel starts a fake KServe v2 (Triton) model server.
func kserveModel(t *testing.T, configure func(*predictortest.KServeServer)) (*predictortest.KServeServer, ClientFunc) {
	t.Helper()
	fake := predictortest.NewKServeServer(predictortest.Logistic(testWeights, testBias))
	fake.NumFeatures = testFeatures
	fake.MaxBatchSize = 64
	fake.ClassNames = []string{"no", "yes"}
	if configure != nil {
		configure(fake)
	}
	ts := predictortest.NewBufconnServer(fake)
	t.Cleanup(ts.Close)
	return fake, func(model string) predictor.Client { return predictor.NewKServeV2(ts.Conn, model) }
}

// trainingRows is a deterministic background data set for the test model.
func trainingRows() [][]float64 {
	rows := make([][]float64, 300)
	for i := range rows {
		rows[i] = make([]float64, testFeatures)
		for j := range rows[i] {
			rows[i][j] = math.Sin(float64(i*(j+3))+float64(j)) * float64(j+1)
		}
	}
	return rows
}

func limeRequest(instance []float64, edit func(*explainerv1.LimeOptions)) *explainerv1.ExplainRequest {
	rows := trainingRows()
	values := make([]float64, 0, len(rows)*testFeatures)
	for _, r := range rows {
		values = append(values, r...)
	}
	seed := uint64(11)
	o := &explainerv1.LimeOptions{
		NumSamples:  1000,
		NumFeatures: 3,
		Seed:        &seed,
		Labels:      []uint32{1},
		Training: &explainerv1.TrainingData{Source: &explainerv1.TrainingData_Dataset{
			Dataset: &explainerv1.Dataset{NumRows: uint32(len(rows)), Values: values},
		}},
	}
	if edit != nil {
		edit(o)
	}
	return &explainerv1.ExplainRequest{
		Model:    "model",
		Instance: &explainerv1.Instance{Kind: &explainerv1.Instance_Tabular{Tabular: &explainerv1.TabularInstance{Values: instance}}},
		Method:   &explainerv1.ExplainRequest_Lime{Lime: o},
	}
}

var testInstance = []float64{0.5, 1, -0.5, 2, 0.3}

func TestExplainPredictV1MatchesInProcessLIME(t *testing.T) {
	fake, newClient := predictV1Model(t, nil)
	sc := startSidecar(t, newClient)
	req := limeRequest(testInstance, func(o *explainerv1.LimeOptions) { o.DiscretizeContinuous = new(bool) })
	resp, err := sc.client.Explain(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	exp := resp.GetExplanation()

	// The same request run in-process on the same scoring function: the
	// wire carries float64 both ways, so the results are identical.
	stats, err := sampler.StatsFromData(trainingRows(), nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	want, err := explain.LIME(context.Background(), scoreModel(predictortest.Logistic(testWeights, testBias)), explain.LIMERequest{
		Instance: testInstance, Stats: stats, Sampling: explain.Sampling{NumSamples: 1000, Seed: 11}, SurrogateFit: explain.SurrogateFit{NumFeatures: 3}, Targets: explain.Targets{Labels: []int{1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := exp.GetLabels()[0]
	if len(got.GetAttributions()) != len(want.Labels[0].Attributions) {
		t.Fatalf("%d attributions, want %d", len(got.GetAttributions()), len(want.Labels[0].Attributions))
	}
	for i, a := range got.GetAttributions() {
		w := want.Labels[0].Attributions[i]
		if int(a.GetIndex()) != w.Index || a.GetWeight() != w.Weight || a.GetFeature() != w.Description {
			t.Errorf("attribution %d = %v, want %+v", i, a, w)
		}
	}
	if got.GetIntercept() != want.Labels[0].Intercept || got.GetScore() != want.Labels[0].Score {
		t.Errorf("intercept/score %v/%v, want %v/%v", got.GetIntercept(), got.GetScore(), want.Labels[0].Intercept, want.Labels[0].Score)
	}
	// The dominant feature leads, with the model's sign.
	if top := got.GetAttributions()[0]; top.GetIndex() != 3 || top.GetWeight() <= 0 {
		t.Errorf("top attribution %v, want feature 3 with a positive weight", top)
	}
	if exp.GetSeed() != 11 || exp.GetNumSamples() != 1000 || exp.GetMethod() != "lime" || got.GetClassName() != "yes" {
		t.Errorf("echoed seed %d, samples %d, method %q, class %q", exp.GetSeed(), exp.GetNumSamples(), exp.GetMethod(), got.GetClassName())
	}
	// 1000 samples in batches of at most 100 rows (the model's limit).
	if exp.GetModelCalls() != 10 || fake.Calls() != 10 || fake.MaxBatch() > 100 {
		t.Errorf("model calls %d (fake saw %d, max batch %d), want 10 of ≤ 100 rows", exp.GetModelCalls(), fake.Calls(), fake.MaxBatch())
	}
}

// scoreModel adapts a ScoreFunc to explain.Model.
type scoreModel predictortest.ScoreFunc

func (f scoreModel) Predict(_ context.Context, rows [][]float64) ([][]float64, error) {
	return f(rows), nil
}

func TestExplainKServe(t *testing.T) {
	for _, tc := range []struct {
		name      string
		configure func(*predictortest.KServeServer)
	}{
		{"fp32 raw", nil},
		{"fp64 typed, fp64 input", func(k *predictortest.KServeServer) {
			k.OutputFP64, k.TypedOutput, k.InputDatatype = true, true, "FP64"
		}},
		{"no ModelConfig (KServe)", func(k *predictortest.KServeServer) { k.NoModelConfig = true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake, newClient := kserveModel(t, tc.configure)
			sc := startSidecar(t, newClient)
			resp, err := sc.client.Explain(context.Background(), limeRequest(testInstance, nil))
			if err != nil {
				t.Fatal(err)
			}
			l := resp.GetExplanation().GetLabels()[0]
			if top := l.GetAttributions()[0]; top.GetIndex() != 3 || top.GetWeight() <= 0 {
				t.Errorf("top attribution %v, want feature 3 with a positive weight", top)
			}
			if !strings.Contains(l.GetAttributions()[0].GetFeature(), "x3") {
				t.Errorf("description %q should name x3", l.GetAttributions()[0].GetFeature())
			}
			if fake.MaxBatch() > 64 {
				t.Errorf("a batch of %d rows reached a model with max_batch_size 64", fake.MaxBatch())
			}
		})
	}
}

func TestExplainStreamRunsJobsWithProgress(t *testing.T) {
	_, newClient := predictV1Model(t, func(p *predictortest.PredictServer) { p.MaxBatchSize = 50 })
	sc := startSidecar(t, newClient)
	stream, err := sc.client.ExplainStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	other := []float64{-1, -1, 1, -2, 0}
	for id, inst := range map[string][]float64{"a": testInstance, "b": other} {
		if err := stream.Send(startJob(id, limeRequest(inst, nil))); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	results := map[string]*explainerv1.Explanation{}
	last := map[string]uint64{}
	for {
		msg, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		id := msg.GetJobId()
		if results[id] != nil {
			t.Fatalf("event for job %q after its result", id)
		}
		switch ev := msg.GetEvent().(type) {
		case *explainerv1.ExplainStreamResponse_Progress:
			p := ev.Progress
			if p.GetSamplesTotal() != 1000 || p.GetSamplesScored() < last[id] || p.GetSamplesScored() > 1000 {
				t.Fatalf("job %q progress %v after %d", id, p, last[id])
			}
			last[id] = p.GetSamplesScored()
		case *explainerv1.ExplainStreamResponse_Result:
			results[id] = ev.Result
		case *explainerv1.ExplainStreamResponse_Error:
			t.Fatalf("job %q failed: %v", id, ev.Error)
		}
	}
	if len(results) != 2 {
		t.Fatalf("results for %d jobs, want 2", len(results))
	}
	// Each result belongs to its own request: the instance's score differs.
	ya := results["a"].GetInstanceScores()[1]
	yb := results["b"].GetInstanceScores()[1]
	if !(ya > 0.9 && yb < 0.1) {
		t.Errorf("instance scores a=%v b=%v: results mixed up between jobs", ya, yb)
	}
}

func startJob(id string, req *explainerv1.ExplainRequest) *explainerv1.ExplainStreamRequest {
	return &explainerv1.ExplainStreamRequest{Kind: &explainerv1.ExplainStreamRequest_Start{Start: &explainerv1.StartJob{JobId: id, Request: req}}}
}

func cancelJob(id string) *explainerv1.ExplainStreamRequest {
	return &explainerv1.ExplainStreamRequest{Kind: &explainerv1.ExplainStreamRequest_Cancel{Cancel: &explainerv1.CancelJob{JobId: id}}}
}

func TestExplainStreamCancelStopsModelCalls(t *testing.T) {
	fake, newClient := predictV1Model(t, func(p *predictortest.PredictServer) {
		p.MaxBatchSize = 10
		p.Delay = 20 * time.Millisecond
	})
	sc := startSidecar(t, newClient, WithInFlight(2))
	stream, err := sc.client.ExplainStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// 1000 samples in batches of 10, two at a time, 20 ms each: about 10 s
	// if nothing stops it.
	if err := stream.Send(startJob("long", limeRequest(testInstance, nil))); err != nil {
		t.Fatal(err)
	}
	cancelOnFirstProgress(t, stream, "long", fake)
	if fake.Rows() >= 1000 {
		t.Errorf("the model scored all %d rows despite the cancel", fake.Rows())
	}
}

// cancelOnFirstProgress cancels job id at its first progress event, waits
// for the job's CANCELLED error, closes the stream and checks that the
// sidecar sent the model server no batch after the job ended. The sidecar
// must reach the fake through its Conn, which counts the calls sent.
func cancelOnFirstProgress(t *testing.T, stream explainerv1.ExplainerService_ExplainStreamClient, id string, fake *predictortest.PredictServer) {
	t.Helper()
	cancelled, ended := false, false
	sent := 0
	for !ended {
		msg, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		switch ev := msg.GetEvent().(type) {
		case *explainerv1.ExplainStreamResponse_Progress:
			if !cancelled {
				if err := stream.Send(cancelJob(id)); err != nil {
					t.Fatal(err)
				}
				cancelled = true
			}
		case *explainerv1.ExplainStreamResponse_Error:
			if codes.Code(ev.Error.GetCode()) != codes.Canceled {
				t.Fatalf("job ended with %v, want CANCELLED", ev.Error)
			}
			// A job ends once every model call it made has returned.
			ended, sent = true, fake.Sent()
			if n := fake.Sending(); n != 0 {
				t.Errorf("%d model calls still in progress when the job ended", n)
			}
		case *explainerv1.ExplainStreamResponse_Result:
			t.Fatal("the cancelled job delivered a result")
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != io.EOF {
		t.Fatalf("stream ended with %v, want a clean end", err)
	}
	// The handler has returned with every goroutine of the job.
	if n := fake.Sent() - sent; n != 0 {
		t.Errorf("the sidecar sent %d batches after the job was cancelled", n)
	}
}

func TestExplainStreamClientGoneStopsJobs(t *testing.T) {
	fake, newClient := predictV1Model(t, func(p *predictortest.PredictServer) {
		p.MaxBatchSize = 10
		p.Delay = 20 * time.Millisecond
	})
	sc := startSidecar(t, newClient, WithInFlight(2))
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := sc.client.ExplainStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(startJob("j", limeRequest(testInstance, nil))); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil { // first progress
		t.Fatal(err)
	}
	cancel()
	// Drain returns once no job holds a slot: the job ended without
	// CancelJobs, every model call it made returned, and it sent a fraction
	// of its 100 batches.
	sc.srv.Shutdown()
	dctx, dcancel := context.WithTimeout(context.Background(), 30*time.Second) // a bound, not a timing check
	defer dcancel()
	if err := sc.srv.Drain(dctx); err != nil {
		t.Fatalf("the job did not end after the client went away: %v", err)
	}
	// The job returns as soon as it is cancelled; the model's scheduler
	// cancels the calls that carried only its rows, which then end.
	if err := fake.Await(dctx, func() bool { return fake.Sending() == 0 }); err != nil {
		t.Errorf("%d model calls still in progress after the job ended: %v", fake.Sending(), err)
	}
	if n := fake.Sent(); n >= 100 {
		t.Errorf("the sidecar sent all %d batches although the client went away", n)
	}
	// goleak (TestMain) checks that the job goroutines are gone.
}

func TestExplainRejectsBadRequests(t *testing.T) {
	tests := []struct {
		name string
		req  func() *explainerv1.ExplainRequest
		msg  string
	}{
		{"method unset", func() *explainerv1.ExplainRequest {
			r := limeRequest(testInstance, nil)
			r.Method = nil
			return r
		}, "method: must be set"},
		{"no instance", func() *explainerv1.ExplainRequest {
			r := limeRequest(testInstance, nil)
			r.Instance = nil
			return r
		}, "instance.tabular: required"},
		{"wrong feature count", func() *explainerv1.ExplainRequest { return limeRequest(testInstance[:4], nil) },
			"instance has 4 features, model expects 5"},
		{"non-finite value", func() *explainerv1.ExplainRequest {
			return limeRequest([]float64{0, 0, math.NaN(), 0, 0}, nil)
		}, "instance.tabular.values[2]: non-finite value"},
		{"too many samples", func() *explainerv1.ExplainRequest {
			return limeRequest(testInstance, func(o *explainerv1.LimeOptions) { o.NumSamples = 200000 })
		}, "lime.num_samples: 200000 is outside [2, 100000]"},
		{"label out of range", func() *explainerv1.ExplainRequest {
			return limeRequest(testInstance, func(o *explainerv1.LimeOptions) { o.Labels = []uint32{5} })
		}, "lime.labels[0]: 5 is out of range [0,2)"},
		{"unknown feature selection", func() *explainerv1.ExplainRequest {
			return limeRequest(testInstance, func(o *explainerv1.LimeOptions) { o.FeatureSelection = 42 })
		}, "lime.feature_selection: unknown value 42"},
		{"no training data", func() *explainerv1.ExplainRequest {
			return limeRequest(testInstance, func(o *explainerv1.LimeOptions) { o.Training = nil })
		}, "lime.training: required"},
		{"dataset of the wrong width", func() *explainerv1.ExplainRequest {
			return limeRequest(testInstance, func(o *explainerv1.LimeOptions) {
				o.GetTraining().GetDataset().Values = o.GetTraining().GetDataset().GetValues()[1:]
			})
		}, "lime.training.dataset.values: 1499 values, want num_rows × features = 300 × 5"},
		{"negative kernel width", func() *explainerv1.ExplainRequest {
			return limeRequest(testInstance, func(o *explainerv1.LimeOptions) { o.KernelWidth = -1 })
		}, "lime.kernel_width: must be positive and finite"},
		{"sample around instance with bins", func() *explainerv1.ExplainRequest {
			return limeRequest(testInstance, func(o *explainerv1.LimeOptions) { o.SampleAroundInstance = true })
		}, "lime.sample_around_instance"},
		{"statistics of the wrong length", func() *explainerv1.ExplainRequest {
			return limeRequest(testInstance, func(o *explainerv1.LimeOptions) {
				o.DiscretizeContinuous = new(bool)
				o.Training = &explainerv1.TrainingData{Source: &explainerv1.TrainingData_Statistics{
					Statistics: &explainerv1.TrainingStatistics{Means: make([]float64, 4), Stds: make([]float64, 5)},
				}}
			})
		}, "means and stds need 5 values each"},
		{"lasso penalty on ridge", func() *explainerv1.ExplainRequest {
			return limeRequest(testInstance, func(o *explainerv1.LimeOptions) { o.L1Penalty = 0.1 })
		}, "lime.l1_penalty: only applies to REGRESSOR_LASSO"},
	}
	fake, newClient := predictV1Model(t, nil)
	sc := startSidecar(t, newClient)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := fake.Calls()
			_, err := sc.client.Explain(context.Background(), tt.req())
			st := status.Convert(err)
			if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), tt.msg) {
				t.Fatalf("got %v %q, want InvalidArgument containing %q", st.Code(), st.Message(), tt.msg)
			}
			if n := fake.Calls() - before; n != 0 {
				t.Errorf("a rejected request cost %d model calls", n)
			}
		})
	}
}

func TestExplainReportsModelServerFaults(t *testing.T) {
	tests := []struct {
		name  string
		fault predictortest.FaultFunc
		stop  bool
		code  codes.Code
		msg   string
	}{
		{"too few rows", func(_ int, rows [][]float64) ([][]float64, error) {
			return predictortest.Logistic(testWeights, testBias)(rows[:len(rows)-4]), nil
		}, false, codes.Internal, "rows"},
		{"NaN scores", func(call int, rows [][]float64) ([][]float64, error) {
			out := predictortest.Logistic(testWeights, testBias)(rows)
			out[len(out)/2][1] = math.NaN()
			return out, nil
		}, false, codes.Internal, "non-finite"},
		{"wrong class count", func(_ int, rows [][]float64) ([][]float64, error) {
			out := make([][]float64, len(rows))
			for i := range out {
				out[i] = []float64{0.2, 0.3, 0.5}
			}
			return out, nil
		}, false, codes.Internal, "class"},
		{"model server rejects", predictortest.FailFirst(1000, codes.InvalidArgument), false, codes.FailedPrecondition, "rejected"},
		{"model server refuses credentials", predictortest.FailFirst(1000, codes.Unauthenticated), false, codes.FailedPrecondition, "credentials"},
		{"model server down", nil, true, codes.Unavailable, "unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := predictortest.NewPredictServer(predictortest.Logistic(testWeights, testBias))
			fake.ClassNames = []string{"no", "yes"}
			fake.Fault = tt.fault
			ts := predictortest.NewBufconnServer(fake)
			defer ts.Close()
			sc := startSidecar(t, func(model string) predictor.Client { return predictor.NewPredictV1(ts.Conn, model) })
			if tt.stop {
				ts.Stop()
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := sc.client.Explain(ctx, limeRequest(testInstance, nil))
			st := status.Convert(err)
			if st.Code() != tt.code || !strings.Contains(strings.ToLower(st.Message()), tt.msg) {
				t.Fatalf("got %v %q, want %v containing %q", st.Code(), st.Message(), tt.code, tt.msg)
			}
		})
	}
}

func TestExplainHonoursDeadline(t *testing.T) {
	fake, newClient := predictV1Model(t, func(p *predictortest.PredictServer) {
		p.Delay = 2 * time.Second
	})
	sc := startSidecar(t, newClient)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := sc.client.Explain(ctx, limeRequest(testInstance, nil))
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("got %v, want DeadlineExceeded", err)
	}
	if took := time.Since(start); took > 1500*time.Millisecond {
		t.Errorf("the call took %v with a 300 ms deadline", took)
	}
	if fake.CallsWithoutDeadline() != 0 {
		t.Errorf("%d model calls had no deadline: the client's deadline must propagate", fake.CallsWithoutDeadline())
	}
}

func TestConcurrentJobLimit(t *testing.T) {
	_, newClient := predictV1Model(t, func(p *predictortest.PredictServer) {
		p.Delay = 200 * time.Millisecond
	})
	sc := startSidecar(t, newClient, WithMaxConcurrentJobs(1))
	first := make(chan error, 1)
	go func() {
		_, err := sc.client.Explain(context.Background(), limeRequest(testInstance, func(o *explainerv1.LimeOptions) { o.NumSamples = 100 }))
		first <- err
	}()
	// Wait until the first job holds the only slot.
	deadline := time.Now().Add(5 * time.Second)
	for len(sc.srv.admission.slots) == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	_, err := sc.client.Explain(context.Background(), limeRequest(testInstance, nil))
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "limit 1") {
		t.Fatalf("second job: %v %q, want ResourceExhausted naming the limit", st.Code(), st.Message())
	}
	if err := <-first; err != nil {
		t.Fatalf("first job: %v", err)
	}
	// The slot is released: a new job is admitted.
	if _, err := sc.client.Explain(context.Background(), limeRequest(testInstance, func(o *explainerv1.LimeOptions) { o.NumSamples = 100 })); err != nil {
		t.Fatalf("job after the first finished: %v", err)
	}
}

func TestHealthFollowsModelServer(t *testing.T) {
	fake, newClient := kserveModel(t, nil)
	sc := startSidecar(t, newClient, WithDefaultModel("model"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); sc.srv.WatchModel(ctx, 10*time.Millisecond) }()
	defer func() { cancel(); <-done }()

	waitFor := func(service string, want healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			resp, err := sc.health.Check(context.Background(), &healthpb.HealthCheckRequest{Service: service})
			if err == nil && resp.GetStatus() == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("health of %q never became %v (last %v, %v)", service, want, resp.GetStatus(), err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor(ServiceName, healthpb.HealthCheckResponse_SERVING)
	fake.SetReady(false)
	waitFor(ServiceName, healthpb.HealthCheckResponse_NOT_SERVING)
	waitFor("", healthpb.HealthCheckResponse_SERVING) // the sidecar itself stays up
	fake.SetReady(true)
	waitFor(ServiceName, healthpb.HealthCheckResponse_SERVING)
}

func TestStreamRejectsBadJobs(t *testing.T) {
	_, newClient := predictV1Model(t, nil)
	sc := startSidecar(t, newClient)
	stream, err := sc.client.ExplainStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	send := func(m *explainerv1.ExplainStreamRequest) {
		if err := stream.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	send(startJob("", limeRequest(testInstance, nil)))
	send(startJob(strings.Repeat("x", MaxJobIDLength+1), limeRequest(testInstance, nil)))
	send(startJob("bad", limeRequest(testInstance[:2], nil)))
	send(cancelJob("unknown")) // ignored
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for {
		msg, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		e := msg.GetError()
		if e == nil || codes.Code(e.GetCode()) != codes.InvalidArgument {
			t.Fatalf("event %v, want an INVALID_ARGUMENT job error", msg)
		}
		msgs = append(msgs, e.GetMessage())
	}
	want := []string{"start.job_id: required", "start.job_id: longer than 128 bytes", "instance has 2 features, model expects 5"}
	if len(msgs) != len(want) {
		t.Fatalf("errors %q, want %d", msgs, len(want))
	}
	for i, w := range want {
		if !strings.Contains(msgs[i], w) {
			t.Errorf("error %d = %q, want it to contain %q", i, msgs[i], w)
		}
	}
}

func TestShutdownDrainsThenCancels(t *testing.T) {
	_, newClient := predictV1Model(t, func(p *predictortest.PredictServer) {
		p.MaxBatchSize = 10
		p.Delay = 50 * time.Millisecond
	})
	sc := startSidecar(t, newClient)
	running := make(chan error, 1)
	go func() {
		_, err := sc.client.Explain(context.Background(), limeRequest(testInstance, nil))
		running <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for len(sc.srv.admission.slots) == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	sc.srv.Shutdown()
	resp, err := sc.health.Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health after Shutdown: %v %v, want NOT_SERVING", resp.GetStatus(), err)
	}
	_, err = sc.client.Explain(context.Background(), limeRequest(testInstance, nil))
	if st := status.Convert(err); st.Code() != codes.Unavailable || st.Message() != "server shutting down" {
		t.Fatalf("new job during shutdown: %v %q, want Unavailable \"server shutting down\"", st.Code(), st.Message())
	}
	sc.srv.CancelJobs()
	select {
	case err := <-running:
		if st := status.Convert(err); st.Code() != codes.Unavailable || st.Message() != "server shutting down" {
			t.Fatalf("running job after CancelJobs: %v %q, want Unavailable \"server shutting down\"", st.Code(), st.Message())
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the running job did not end after CancelJobs")
	}
}

// statsProto writes sampler statistics as a client would send them.
func statsProto(s *sampler.Stats) *explainerv1.TrainingStatistics {
	ts := &explainerv1.TrainingStatistics{Means: s.Means, Stds: s.Stds}
	for f, c := range s.Categorical {
		ts.Categorical = append(ts.Categorical, &explainerv1.FeatureDistribution{Feature: uint32(f), Values: c.Values, Frequencies: c.Freqs})
	}
	if d := s.Discretizer; d != nil {
		for f := range d.Boundaries {
			if !d.Discretized(f) {
				continue
			}
			ts.Bins = append(ts.Bins, &explainerv1.FeatureBins{
				Feature: uint32(f), Boundaries: d.Boundaries[f], Means: d.Means[f], Stds: d.Stds[f],
				Mins: d.Mins[f], Maxs: d.Maxs[f], Frequencies: s.BinFrequencies[f],
			})
		}
	}
	return ts
}

func TestStatisticsEqualDataset(t *testing.T) {
	// A client may send the training statistics instead of the rows: the
	// statistics the sidecar would compute give the same explanation, bin
	// labels included.
	rows := trainingRows()
	for i := range rows {
		rows[i][4] = float64(i % 3) // a categorical feature with codes 0, 1, 2
	}
	names := []string{"a", "b", "c", "d", "colour"}
	instance := []float64{0.5, 1, -0.5, 2, 1}
	for _, mode := range []string{"", "quartile", "decile"} {
		t.Run("discretizer="+mode, func(t *testing.T) {
			_, newClient := predictV1Model(t, nil)
			sc := startSidecar(t, newClient)
			stats, err := sampler.StatsFromData(rows, names, []int{4}, mode)
			if err != nil {
				t.Fatal(err)
			}
			build := func(training *explainerv1.TrainingData) *explainerv1.ExplainRequest {
				req := limeRequest(instance, func(o *explainerv1.LimeOptions) {
					o.DiscretizeContinuous = proto.Bool(mode != "")
					if mode == "decile" {
						o.Discretizer = explainerv1.Discretizer_DISCRETIZER_DECILE
					}
					o.NumFeatures = 5
					o.Training = training
				})
				tab := req.GetInstance().GetTabular()
				tab.FeatureNames = names
				tab.CategoricalFeatures = []*explainerv1.CategoricalFeature{{Index: 4, CategoryNames: []string{"red", "green", "blue"}}}
				return req
			}
			values := make([]float64, 0, len(rows)*testFeatures)
			for _, r := range rows {
				values = append(values, r...)
			}
			fromRows, err := sc.client.Explain(context.Background(), build(&explainerv1.TrainingData{Source: &explainerv1.TrainingData_Dataset{
				Dataset: &explainerv1.Dataset{NumRows: uint32(len(rows)), Values: values},
			}}))
			if err != nil {
				t.Fatal(err)
			}
			fromStats, err := sc.client.Explain(context.Background(), build(&explainerv1.TrainingData{Source: &explainerv1.TrainingData_Statistics{
				Statistics: statsProto(stats),
			}}))
			if err != nil {
				t.Fatal(err)
			}
			a, b := fromRows.GetExplanation().GetLabels()[0], fromStats.GetExplanation().GetLabels()[0]
			if !proto.Equal(a, b) {
				t.Fatalf("from rows:\n%v\nfrom statistics:\n%v", a, b)
			}
			var described bool
			for _, at := range a.GetAttributions() {
				if at.GetIndex() == 4 {
					described = true
					if at.GetFeature() != "colour=green" {
						t.Errorf("categorical description %q, want colour=green", at.GetFeature())
					}
				}
			}
			if !described {
				t.Errorf("attributions %v lack the categorical feature", a.GetAttributions())
			}
		})
	}
}

func TestStreamBoundsUnreadResults(t *testing.T) {
	// A client that starts jobs but never reads: Send blocks (as it does
	// once HTTP/2 flow control is exhausted), and the sidecar must not hold
	// an unbounded backlog of job results for it.
	srv := New(func(string) predictor.Client { return nil })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fake := &stuckStream{ctx: ctx}
	err := srv.ExplainStream(fake)
	if st := status.Convert(err); st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "limit 1024") {
		t.Fatalf("stream ended with %v, want ResourceExhausted naming the limit", err)
	}
	// The handler's receiver goroutine may have read one request ahead.
	if n := fake.received.Load(); n != MaxUndeliveredEvents+1 && n != MaxUndeliveredEvents+2 {
		t.Errorf("read %d requests before refusing, want the limit %d plus the one refused (and one read ahead)", n, MaxUndeliveredEvents)
	}
	cancel() // gRPC closes the stream after the handler returns: Send unblocks (goleak checks)
}

// stuckStream sends an endless series of invalid job starts and never
// reads: Send blocks until the context ends.
type stuckStream struct {
	explainerv1.ExplainerService_ExplainStreamServer
	ctx      context.Context
	received atomic.Int64
}

func (s *stuckStream) Context() context.Context { return s.ctx }

func (s *stuckStream) Recv() (*explainerv1.ExplainStreamRequest, error) {
	s.received.Add(1)
	return startJob("", nil), nil
}

func (s *stuckStream) Send(*explainerv1.ExplainStreamResponse) error {
	<-s.ctx.Done()
	return s.ctx.Err()
}
