package server

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/explainer-sidecar/explainer/predictor/predictortest"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// startObserved is startSidecar with the full interceptor chain: logs to
// log and metrics in m (both may be nil).
func startObserved(t testing.TB, newClient ClientFunc, log *slog.Logger, m *Metrics, opts ...Option) *sidecar {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := New(newClient, append([]Option{WithLogger(log), WithMetrics(m)}, opts...)...)
	gs := grpc.NewServer(GRPCServerOptionsWith(log, m)...)
	srv.Register(gs)
	served := make(chan struct{})
	go func() { defer close(served); _ = gs.Serve(lis) }()
	conn, err := grpc.NewClient("passthrough:///sidecar",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		gs.Stop()
		<-served
	})
	return &sidecar{client: explainerv1.NewExplainerServiceClient(conn), health: healthpb.NewHealthClient(conn), srv: srv}
}

// histogramCount is the sample count of the histogram name in reg.
func histogramCount(t *testing.T, reg prometheus.Gatherer, name string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				n += m.GetHistogram().GetSampleCount()
			}
		}
	}
	return n
}

func checkGaugesZero(t *testing.T, m *Metrics) {
	t.Helper()
	if r, q := testutil.ToFloat64(m.running), testutil.ToFloat64(m.queued); r != 0 || q != 0 {
		t.Errorf("jobs running %v, queued %v after the jobs ended; want 0, 0", r, q)
	}
}

func TestMetricsSuccessfulJob(t *testing.T) {
	_, newClient := predictV1Model(t, nil)
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	sc := startObserved(t, newClient, nil, m)
	resp, err := sc.client.Explain(context.Background(), limeRequest(testInstance, nil))
	if err != nil {
		t.Fatal(err)
	}
	exp := resp.GetExplanation()
	if got := testutil.ToFloat64(m.jobs.WithLabelValues("lime", "OK")); got != 1 {
		t.Errorf("jobs_total{lime,OK} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.samples); got != float64(exp.GetNumSamples()) {
		t.Errorf("samples scored = %v, want the job's %d", got, exp.GetNumSamples())
	}
	if got := histogramCount(t, reg, "explainer_model_call_duration_seconds"); got != exp.GetModelCalls() {
		t.Errorf("model call histogram count = %d, want the %d model calls of the result", got, exp.GetModelCalls())
	}
	if got := histogramCount(t, reg, "explainer_job_duration_seconds"); got != 1 {
		t.Errorf("job duration histogram count = %d, want 1", got)
	}
	if got := histogramCount(t, reg, "grpc_server_handling_seconds"); got != 1 {
		t.Errorf("grpc handling histogram count = %d, want 1", got)
	}
	checkGaugesZero(t, m)
}

func TestMetricsFailedJobs(t *testing.T) {
	tests := []struct {
		name      string
		fault     predictortest.FaultFunc
		jobCode   string
		errorCode string
	}{
		{"model server rejects", predictortest.FailFirst(1000, codes.InvalidArgument), "FailedPrecondition", "InvalidArgument"},
		{"bad output", func(_ int, rows [][]float64) ([][]float64, error) {
			return predictortest.Logistic(testWeights, testBias)(rows[:len(rows)-1]), nil
		}, "Internal", "bad_output"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, newClient := predictV1Model(t, func(p *predictortest.PredictServer) {
				p.Fault = tt.fault
			})
			reg := prometheus.NewRegistry()
			m := NewMetrics(reg)
			sc := startObserved(t, newClient, nil, m, WithInFlight(1))
			_, err := sc.client.Explain(context.Background(), limeRequest(testInstance, nil))
			if err == nil {
				t.Fatal("job succeeded")
			}
			want := "# HELP explainer_jobs_total Jobs ended, refused ones included, by explanation method and gRPC code.\n" +
				"# TYPE explainer_jobs_total counter\n" +
				"explainer_jobs_total{code=\"" + tt.jobCode + "\",method=\"lime\"} 1\n"
			if err := testutil.CollectAndCompare(m.jobs, strings.NewReader(want)); err != nil {
				t.Error(err)
			}
			if got := testutil.ToFloat64(m.modelErrors.WithLabelValues(tt.errorCode)); got != 1 {
				t.Errorf("model_errors_total{%s} = %v, want 1", tt.errorCode, got)
			}
			if got := testutil.ToFloat64(m.samples); got != 0 {
				t.Errorf("samples scored = %v, want 0", got)
			}
			checkGaugesZero(t, m)
		})
	}
}

func TestMetricsRefusedJob(t *testing.T) {
	fake, newClient := predictV1Model(t, func(p *predictortest.PredictServer) {
		p.Delay = 200 * time.Millisecond
	})
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	sc := startObserved(t, newClient, nil, m, WithMaxConcurrentJobs(1))
	small := limeRequest(testInstance, func(o *explainerv1.LimeOptions) { o.NumSamples = 100 })
	first := make(chan error, 1)
	go func() {
		_, err := sc.client.Explain(context.Background(), small)
		first <- err
	}()
	// The job calls the model once admitted, its gauge set: no earlier.
	if err := fake.Await(t.Context(), func() bool { return fake.Calls() > 0 }); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(m.running); got != 1 {
		t.Errorf("jobs running = %v while one job runs", got)
	}
	_, err := sc.client.Explain(context.Background(), limeRequest(testInstance, nil))
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("second job: %v, want ResourceExhausted", err)
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	want := `# HELP explainer_jobs_total Jobs ended, refused ones included, by explanation method and gRPC code.
# TYPE explainer_jobs_total counter
explainer_jobs_total{code="OK",method="lime"} 1
explainer_jobs_total{code="ResourceExhausted",method="lime"} 1
`
	if err := testutil.CollectAndCompare(m.jobs, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	if got := histogramCount(t, reg, "explainer_job_duration_seconds"); got != 1 {
		t.Errorf("job duration histogram count = %d, want 1 (refused jobs did not run)", got)
	}
	checkGaugesZero(t, m)
}

func TestMetricsHandlerServesRegistry(t *testing.T) {
	m := NewMetrics(nil)
	m.jobRefused("lime", codes.ResourceExhausted)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if !strings.Contains(rec.Body.String(), `explainer_jobs_total{code="ResourceExhausted",method="lime"} 1`) {
		t.Errorf("exposition lacks the refused job:\n%s", rec.Body.String())
	}
}

func TestNilMetricsRecordNothing(t *testing.T) {
	var m *Metrics
	m.jobRefused("lime", codes.OK)
	m.jobFinished("lime", codes.OK, time.Second)
	m.setAdmission(1, 1)
	m.scored(3, nil)
	if c := m.client(nil); c != nil {
		t.Errorf("nil metrics wrapped a nil client: %v", c)
	}
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5 s")
		}
		time.Sleep(time.Millisecond)
	}
}
