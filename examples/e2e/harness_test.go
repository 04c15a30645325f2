package e2e

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/explainer-sidecar/explainer/predictor"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
	kservev2 "github.com/explainer-sidecar/explainer/proto/kserve/v2"
	predictv1 "github.com/explainer-sidecar/explainer/proto/predict/v1"
	"github.com/explainer-sidecar/explainer/server"
)

// python is the interpreter the example servers run under: only the
// system's has the Debian packages they need.
const python = "/usr/bin/python3"

// pythonModules are what the two servers import; installHint installs them.
const (
	pythonModules = "grpc, google.protobuf, numpy, sklearn, torch"
	installHint   = "apt-get install -y python3 python3-grpcio python3-protobuf python3-numpy python3-sklearn python3-torch"
)

// The model servers' batch limits. Both are below what a job sends, so
// every job is split, and the servers reject a bigger batch: a job that
// succeeds proves the sidecar kept to the limit.
const (
	sklearnMaxBatch = 64
	kserveMaxBatch  = 8
)

// readyTimeout bounds a server's start: the KServe server trains a CNN
// before it serves, which takes a while on a small machine under -race.
const readyTimeout = 90 * time.Second

// jobTimeout bounds one explanation job.
const jobTimeout = 60 * time.Second

// TestMain stops the shared servers after the tests and then checks that
// no goroutine of the Go side (sidecars, connections, process plumbing) is
// left: goleak.VerifyTestMain would check before the servers stop.
func TestMain(m *testing.M) {
	code := m.Run()
	if err := errors.Join(stopAll(), stopHTTP()); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: stopping the servers:", err)
		code = 1
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: leaked goroutines:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// stack is a Python model server and a sidecar in front of it, started once
// per test binary and shared by the tests.
type stack struct {
	py      *pyServer
	sidecar *sidecar
}

var (
	pythonOnce sync.Once
	pythonErr  error

	startOnce sync.Once
	started   atomic.Bool
	sklearnC  = newLazy[*stack]()
	kserveC   = newLazy[*stack]()
)

// lazy is a value made in the background, waited for by the tests.
type lazy[T any] struct {
	done chan struct{}
	v    T
	err  error
}

func newLazy[T any]() *lazy[T] { return &lazy[T]{done: make(chan struct{})} }

func (l *lazy[T]) set(v T, err error) { l.v, l.err = v, err; close(l.done) }

// requirePython skips the test (or fails it under CI) when the Python
// servers cannot run here.
func requirePython(t testing.TB) {
	t.Helper()
	pythonOnce.Do(func() {
		if _, err := os.Stat(python); err != nil {
			pythonErr = fmt.Errorf("%s: %w", python, err)
			return
		}
		out, err := exec.Command(python, "-c", "import "+pythonModules).CombinedOutput()
		if err != nil {
			pythonErr = fmt.Errorf("%s cannot import %s: %v\n%s", python, pythonModules, err, lastLines(string(out), 5))
		}
	})
	if pythonErr == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("the Python example servers cannot run: %v\ninstall them with: %s", pythonErr, installHint)
	}
	t.Skipf("the Python example servers cannot run: %v\ninstall them with: sudo %s", pythonErr, installHint)
}

// startStacks starts both Python servers at once, since each takes
// seconds to train its models, and a sidecar in front of each as it
// becomes ready.
func startStacks() {
	startOnce.Do(func() {
		started.Store(true)
		go func() {
			sklearnC.set(newStack("sklearn_server.py", "predict-v1", "breast_cancer", sklearnMaxBatch))
		}()
		go func() {
			kserveC.set(newStack("kserve_server.py", "kserve-v2", "digits_cnn", kserveMaxBatch))
		}()
	})
}

func newStack(script, protocol, model string, maxBatch int) (*stack, error) {
	py, err := startPython(script, "--max-batch-size", fmt.Sprint(maxBatch))
	if err != nil {
		return nil, err
	}
	sc, err := startSidecar(py.addr, protocol, model)
	if err != nil {
		_ = py.stop()
		return nil, err
	}
	return &stack{py: py, sidecar: sc}, nil
}

func get(t testing.TB, l *lazy[*stack]) *stack {
	t.Helper()
	requirePython(t)
	startStacks()
	select {
	case <-l.done:
	case <-time.After(readyTimeout + 30*time.Second): // the start has its own timeout; this is a backstop
		t.Fatal("the model server did not start")
	}
	if l.err != nil {
		t.Fatal(l.err)
	}
	return l.v
}

// sklearnStack returns the predict.v1 breast-cancer server and its sidecar.
func sklearnStack(t testing.TB) *stack { t.Helper(); return get(t, sklearnC) }

// kserveStack returns the KServe v2 server (digits_cnn, sentiment) and its
// sidecar.
func kserveStack(t testing.TB) *stack { t.Helper(); return get(t, kserveC) }

// stopAll stops the sidecars and then the Python servers, and reports a
// server that did not exit cleanly on SIGTERM.
func stopAll() error {
	if !started.Load() {
		return nil
	}
	var errs []error
	for _, l := range []*lazy[*stack]{sklearnC, kserveC} {
		<-l.done // a start still under way is waited for, so that nothing outlives the tests
		if l.v == nil {
			continue
		}
		l.v.sidecar.stop()
		if err := l.v.py.stop(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// pyServer is a running example model server.
type pyServer struct {
	script string
	addr   string
	cmd    *exec.Cmd
	cancel context.CancelFunc
	stderr *tailBuffer
	exited chan struct{} // closed once Wait returned; then waitErr is set
	err    error
}

// startPython runs examples/python/<script> on a free loopback port and
// waits for its "ready <address>" line. The port is chosen by the server
// (port 0), which prints the address it bound, so that no other process can
// take the port between the choice and the bind.
func startPython(script string, args ...string) (*pyServer, error) {
	path, err := filepath.Abs(filepath.Join("..", "python", script))
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("the example server is missing: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, python, append([]string{path, "--address", "127.0.0.1:0"}, args...)...)
	// Stop it the way Kubernetes would: SIGTERM, then SIGKILL if it has not
	// exited in time.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	ready := make(chan string, 1)
	s := &pyServer{script: script, cmd: cmd, cancel: cancel, stderr: &tailBuffer{max: 64 << 10}, exited: make(chan struct{})}
	cmd.Stdout = &readyWriter{ready: ready}
	cmd.Stderr = s.stderr
	// Python buffers stdout when it is not a terminal; the servers flush the
	// ready line themselves, but unbuffered output makes a crash's last
	// words arrive too.
	cmd.Env = append(os.Environ(), "PYTHONUNBUFFERED=1")
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("%s: %w", script, err)
	}
	go func() {
		s.err = cmd.Wait()
		close(s.exited)
	}()
	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	select {
	case s.addr = <-ready:
	case <-s.exited:
		cancel()
		return nil, fmt.Errorf("%s exited before it was ready (%v); its stderr:\n%s", script, s.err, s.stderr)
	case <-timer.C:
		_ = s.stop()
		return nil, fmt.Errorf("%s printed no ready line in %v; its stderr:\n%s", script, readyTimeout, s.stderr)
	}
	if _, port, err := net.SplitHostPort(s.addr); err != nil || port == "0" {
		_ = s.stop()
		return nil, fmt.Errorf("%s: ready line names %q, want host:port with the port bound", script, s.addr)
	}
	return s, nil
}

// stop sends SIGTERM and waits for the process; it reports an exit that was
// not clean (the contract: the servers exit on SIGTERM).
func (s *pyServer) stop() error {
	s.cancel()
	<-s.exited
	var ee *exec.ExitError
	switch {
	case s.cmd.ProcessState != nil && s.cmd.ProcessState.Success() && !errors.Is(s.err, exec.ErrWaitDelay):
		// Exit status 0 after SIGTERM: Wait then reports the cancelled
		// context, not a failure.
		return nil
	case errors.Is(s.err, exec.ErrWaitDelay), errors.As(s.err, &ee) && !ee.Exited():
		// Killed by a signal: SIGKILL after the wait delay, or SIGTERM left
		// at its default action.
		return fmt.Errorf("%s did not exit cleanly on SIGTERM: %v; its stderr:\n%s", s.script, s.err, lastLines(s.stderr.String(), 20))
	default:
		return fmt.Errorf("%s exited with %v after SIGTERM; its stderr:\n%s", s.script, s.err, lastLines(s.stderr.String(), 20))
	}
}

// readyWriter is the server's stdout: it passes on the address of the
// first "ready <address>" line and ignores everything else.
type readyWriter struct {
	mu    sync.Mutex
	line  []byte
	sent  bool
	ready chan<- string
}

func (w *readyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, b := range p {
		if b != '\n' {
			if len(w.line) < 1024 {
				w.line = append(w.line, b)
			}
			continue
		}
		if addr, ok := strings.CutPrefix(strings.TrimSpace(string(w.line)), "ready "); ok && !w.sent {
			w.sent = true
			w.ready <- strings.TrimSpace(addr)
		}
		w.line = w.line[:0]
	}
	return len(p), nil
}

// tailBuffer keeps the last max bytes written to it: a server's stderr,
// shown when it fails.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// sidecar is the explainer running in this process in front of a model
// server, and a client connection to it.
type sidecar struct {
	// addr is where the sidecar listens, for clients in other processes.
	addr   string
	client explainerv1.ExplainerServiceClient
	health healthpb.HealthClient
	// model is a plain connection to the model server, for the tests'
	// direct calls.
	model   *grpc.ClientConn
	batches *batchRecorder
	stop    func()
}

// startSidecar runs the sidecar as `explainer serve --predictor target
// --predictor-plaintext --protocol protocol --model model` does (see
// cmd/explainer/serve.go), on a loopback listener, and connects to it. A
// client interceptor on its channel to the model server records every
// batch it sends.
func startSidecar(target, protocol, model string) (*sidecar, error) {
	rec := &batchRecorder{}
	conn, err := predictor.Dial(target, predictor.WithInsecure(),
		predictor.WithGRPCDialOptions(grpc.WithChainUnaryInterceptor(rec.intercept)))
	if err != nil {
		return nil, err
	}
	var newClient server.ClientFunc
	switch protocol {
	case "predict-v1":
		newClient = func(m string) predictor.Client { return predictor.NewPredictV1(conn, m) }
	case "kserve-v2":
		newClient = func(m string) predictor.Client { return predictor.NewKServeV2(conn, m, predictor.WithSoftmax(false)) }
	default:
		conn.Close()
		return nil, fmt.Errorf("protocol %q", protocol)
	}
	// The sidecar's logs are dropped: a failure shows as the job's status,
	// which the tests report.
	log := slog.New(slog.DiscardHandler)
	metrics := server.NewMetrics(nil)
	srv := server.New(newClient,
		server.WithDefaultModel(model),
		server.WithInFlight(server.DefaultInFlight),
		server.WithJobTimeout(jobTimeout),
		server.WithLogger(log),
		server.WithMetrics(metrics),
	)
	gs := grpc.NewServer(server.GRPCServerOptionsWith(log, metrics)...)
	srv.Register(gs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		conn.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { srv.WatchModel(ctx, 500*time.Millisecond) })
	wg.Go(func() { _ = gs.Serve(lis) })
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		cancel()
		gs.Stop()
		wg.Wait()
		conn.Close()
		return nil, err
	}
	direct, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		cc.Close()
		cancel()
		gs.Stop()
		wg.Wait()
		conn.Close()
		return nil, err
	}
	return &sidecar{
		addr:    lis.Addr().String(),
		client:  explainerv1.NewExplainerServiceClient(cc),
		health:  healthpb.NewHealthClient(cc),
		model:   direct,
		batches: rec,
		stop: func() {
			// As serve does on SIGTERM: NOT_SERVING, then a graceful stop.
			cc.Close()
			direct.Close()
			srv.Shutdown()
			cancel()
			gs.GracefulStop()
			wg.Wait()
			conn.Close()
		},
	}, nil
}

// batchRecorder watches the sidecar's calls to the model server: how many
// scoring calls, and the largest batch among them.
type batchRecorder struct {
	calls    atomic.Int64
	inFlight atomic.Int64 // scoring calls sent and not yet returned
	maxBatch atomic.Int64
}

func (r *batchRecorder) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	n := int64(-1)
	switch m := req.(type) {
	case *predictv1.PredictRequest:
		n = int64(m.GetNumInstances())
	case *kservev2.ModelInferRequest:
		if ins := m.GetInputs(); len(ins) > 0 && len(ins[0].GetShape()) > 0 {
			n = ins[0].GetShape()[0]
		}
	}
	if n >= 0 {
		r.calls.Add(1)
		r.inFlight.Add(1)
		defer r.inFlight.Add(-1)
		for {
			cur := r.maxBatch.Load()
			if n <= cur || r.maxBatch.CompareAndSwap(cur, n) {
				break
			}
		}
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

// explainStream runs req as one job on ExplainStream, sending chunks after
// the start, and returns the result and the progress events seen.
func explainStream(t *testing.T, c explainerv1.ExplainerServiceClient, req *explainerv1.ExplainRequest, chunks ...*explainerv1.DataChunk) (*explainerv1.Explanation, streamStats) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), jobTimeout)
	defer cancel()
	stream, err := c.ExplainStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const id = "e2e"
	if err := stream.Send(&explainerv1.ExplainStreamRequest{Kind: &explainerv1.ExplainStreamRequest_Start{
		Start: &explainerv1.StartJob{JobId: id, Request: req},
	}}); err != nil {
		t.Fatal(err)
	}
	for _, ch := range chunks {
		ch.JobId = id
		if err := stream.Send(&explainerv1.ExplainStreamRequest{Kind: &explainerv1.ExplainStreamRequest_Data{Data: ch}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	var st streamStats
	for {
		msg, err := stream.Recv()
		if err != nil {
			t.Fatalf("the stream ended without a result: %v", err)
		}
		if msg.GetJobId() != id {
			t.Fatalf("event for job %q, want %q", msg.GetJobId(), id)
		}
		switch ev := msg.GetEvent().(type) {
		case *explainerv1.ExplainStreamResponse_Progress:
			st.progress++
			p := ev.Progress
			if p.GetSamplesTotal() > 0 && p.GetSamplesScored() > p.GetSamplesTotal() {
				t.Errorf("progress %d of %d samples", p.GetSamplesScored(), p.GetSamplesTotal())
			}
		case *explainerv1.ExplainStreamResponse_Partial:
			st.partials = append(st.partials, ev.Partial)
		case *explainerv1.ExplainStreamResponse_Result:
			return ev.Result, st
		case *explainerv1.ExplainStreamResponse_Error:
			t.Fatalf("job failed: code %d: %s", ev.Error.GetCode(), ev.Error.GetMessage())
		}
	}
}

type streamStats struct {
	progress int
	partials []*explainerv1.Explanation
}

// checkBatching asserts what the sidecar's calls must look like for a job
// of exp.num_samples samples on a model server with the given batch
// limit: enough calls to hold them.
func checkBatching(t *testing.T, exp *explainerv1.Explanation, maxBatch int) {
	t.Helper()
	n, calls := exp.GetNumSamples(), exp.GetModelCalls()
	if n == 0 || calls*uint64(maxBatch) < n {
		t.Errorf("%d samples in %d model calls: more than %d per call", n, calls, maxBatch)
	}
}

// checkScores asserts that the sidecar reports the model's own scores.
func checkScores(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d scores, the model server gives %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > tol {
			t.Errorf("%s: score %d is %v, the model server gives %v", what, i, got[i], want[i])
		}
	}
}

func argmax(v []float64) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

func sum(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s
}

func ctxTimeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), jobTimeout)
	t.Cleanup(cancel)
	return ctx
}

// TestHealth: the sidecar's health reports the model server ready, through
// predict.v1 Describe and KServe's ServerReady / ModelReady.
func TestHealth(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		stack func(testing.TB) *stack
	}{
		{"predict-v1", sklearnStack},
		{"kserve-v2", kserveStack},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.stack(t)
			deadline := time.Now().Add(20 * time.Second)
			var last healthpb.HealthCheckResponse_ServingStatus
			for time.Now().Before(deadline) {
				resp, err := s.sidecar.health.Check(ctxTimeout(t), &healthpb.HealthCheckRequest{Service: server.ServiceName})
				if err != nil {
					t.Fatal(err)
				}
				if last = resp.GetStatus(); last == healthpb.HealthCheckResponse_SERVING {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
			t.Fatalf("health of %s is %v, want SERVING; the model server's stderr:\n%s", server.ServiceName, last, lastLines(s.py.stderr.String(), 20))
		})
	}
}
