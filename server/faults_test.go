package server

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/explainer-sidecar/explainer/predictor"
	"github.com/explainer-sidecar/explainer/predictor/predictortest"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// The fault tests run the sidecar in front of a fake model server on real
// loopback TCP, dialled with predictor.Dial: the channel's service config
// (round_robin, retry of UNAVAILABLE only) is in play, as in production.

// faultMethods builds one request per explanation method; every method must
// react to a model server fault in the same way.
var faultMethods = []struct {
	name string
	req  func() *explainerv1.ExplainRequest
}{
	{"lime", func() *explainerv1.ExplainRequest { return limeRequest(testInstance, nil) }},
	{"kernelshap", func() *explainerv1.ExplainRequest {
		return kernelSHAPRequest(testInstance, trainingRows()[:10], nil)
	}},
	{"permutation", func() *explainerv1.ExplainRequest {
		rows, targets := permutationData(100)
		return permutationRequest(rows, targets, false)
	}},
}

// tcpModel serves fake on 127.0.0.1 and returns the server and a ClientFunc
// over a predictor.Dial channel to it. kserve picks the KServe v2 client.
// Everything is closed when the test ends.
func tcpModel(t *testing.T, fake predictortest.Service, dial ...predictor.DialOption) (*predictortest.Server, ClientFunc) {
	t.Helper()
	ts := predictortest.NewServer(fake)
	t.Cleanup(ts.Close)
	conn, err := predictor.Dial(ts.Target, append([]predictor.DialOption{predictor.WithInsecure()}, dial...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, ok := fake.(*predictortest.KServeServer); ok {
		return ts, func(model string) predictor.Client { return predictor.NewKServeV2(conn, model) }
	}
	return ts, func(model string) predictor.Client { return predictor.NewPredictV1(conn, model) }
}

// newFaultFake is the test's logistic model over predict.v1, configured.
func newFaultFake(configure func(m *predictortest.Model, ts *atomic.Pointer[predictortest.Server])) (*predictortest.PredictServer, *atomic.Pointer[predictortest.Server]) {
	fake := predictortest.NewPredictServer(predictortest.Logistic(testWeights, testBias))
	fake.NumFeatures = testFeatures
	fake.MaxBatchSize = 100
	fake.ClassNames = []string{"no", "yes"}
	var ts atomic.Pointer[predictortest.Server]
	if configure != nil {
		configure(&fake.Model, &ts)
	}
	return fake, &ts
}

// withoutElapsed is exp without its wall-clock field, for comparisons.
func withoutElapsed(exp *explainerv1.Explanation) *explainerv1.Explanation {
	c := proto.Clone(exp).(*explainerv1.Explanation)
	c.Elapsed = nil
	return c
}

// faultRun is how one job ended.
type faultRun struct {
	exp       *explainerv1.Explanation
	code      codes.Code
	msg       string
	elapsed   time.Duration
	instances []*explainerv1.InstanceExplanation // a batch's, on the stream
}

// runUnary runs req with Explain under ctx.
func runUnary(ctx context.Context, sc *sidecar, req *explainerv1.ExplainRequest) faultRun {
	start := time.Now()
	resp, err := sc.client.Explain(ctx, req)
	st := status.Convert(err)
	return faultRun{exp: resp.GetExplanation(), code: st.Code(), msg: st.Message(), elapsed: time.Since(start)}
}

// runStream runs req as the only job of an ExplainStream under ctx and
// checks that the job gets exactly one final event and that the stream then
// ends cleanly (io.EOF).
func runStream(t *testing.T, ctx context.Context, sc *sidecar, req *explainerv1.ExplainRequest) faultRun {
	t.Helper()
	start := time.Now()
	stream, err := sc.client.ExplainStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(startJob("j", req)); err != nil {
		t.Fatal(err)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	var (
		run    faultRun
		finals int
	)
	for {
		msg, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the stream ended with %v, want a clean end after the job's final event", err)
		}
		if msg.GetJobId() != "j" {
			t.Fatalf("event for job %q, want \"j\"", msg.GetJobId())
		}
		switch ev := msg.GetEvent().(type) {
		case *explainerv1.ExplainStreamResponse_Instance:
			run.instances = append(run.instances, ev.Instance)
		case *explainerv1.ExplainStreamResponse_Result:
			finals++
			run.exp, run.code = ev.Result, codes.OK
		case *explainerv1.ExplainStreamResponse_Error:
			finals++
			run.code, run.msg = codes.Code(ev.Error.GetCode()), ev.Error.GetMessage()
		}
		if finals > 0 && run.elapsed == 0 {
			run.elapsed = time.Since(start)
		}
	}
	if finals != 1 {
		t.Fatalf("%d final events for the job, want exactly 1", finals)
	}
	return run
}

// waitUntil polls cond every millisecond for up to d.
func waitUntil(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); !cond(); {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// scoresWith returns a fault that replaces the scores with f(scores).
func scoresWith(f func(out [][]float64) [][]float64) predictortest.FaultFunc {
	return func(_ int, rows [][]float64) ([][]float64, error) {
		return f(predictortest.Logistic(testWeights, testBias)(rows)), nil
	}
}

func TestModelServerFaults(t *testing.T) {
	const (
		// margin is how long after its deadline a job may end, under -race
		// on a loaded machine.
		margin = 300 * time.Millisecond
		// retried bounds a job that fails after the channel's retries
		// (at most 4 backoffs of ≤ 0.1+0.2+0.4+0.8 s).
		retried = 1500*time.Millisecond + time.Second
		// quick bounds a job that needs no waiting at all.
		quick = 3 * time.Second
	)
	all := []string{"lime", "kernelshap", "permutation"}
	tests := []struct {
		name    string
		methods []string // default: LIME only
		// configure sets the fake's knobs; ts holds the fake's server
		// once it is serving (to stop it from a fault).
		configure func(m *predictortest.Model, ts *atomic.Pointer[predictortest.Server])
		kserve    bool // a KServe v2 (Triton) fake instead of predict.v1
		dial      []predictor.DialOption
		opts      []Option
		deadline  time.Duration // the client's deadline; 0: none (the job timeout applies)
		within    time.Duration // the job must end within this (deadline cases: deadline + margin)
		stream    bool          // run as a stream job instead of unary Explain

		code codes.Code
		msg  string // substring of the status message, case-insensitive
		// noRetry: the failure must not be retried: the fake never sees
		// the same batch twice. (Counting calls is not enough: an
		// estimator with concurrent Predict calls, like permutation, may
		// send one more batch of its own before the failure cancels it.)
		noRetry bool
		// sameAsFaultFree: the result must equal a fault-free run's.
		sameAsFaultFree bool
		check           func(t *testing.T, fake *predictortest.Model, run faultRun)
	}{
		{
			name:    "down mid-job",
			methods: all,
			configure: func(m *predictortest.Model, ts *atomic.Pointer[predictortest.Server]) {
				m.Fault = func(call int, _ [][]float64) ([][]float64, error) {
					if call >= 3 {
						ts.Load().Stop()
						return nil, status.Error(codes.Unavailable, "stopping")
					}
					return nil, nil
				}
			},
			opts:   []Option{WithMaxBatchSize(50)},
			stream: true, within: retried, code: codes.Unavailable, msg: "model server unavailable",
		},
		{
			name:    "transient: first 2 calls UNAVAILABLE",
			methods: all,
			configure: func(m *predictortest.Model, _ *atomic.Pointer[predictortest.Server]) {
				m.Fault = predictortest.FailFirst(2, codes.Unavailable)
			},
			within: retried, code: codes.OK, sameAsFaultFree: true,
			check: func(t *testing.T, fake *predictortest.Model, run faultRun) {
				// Each failed call was retried once by the channel, and
				// only the batches themselves are counted by the sidecar.
				if got, want := fake.Calls(), int(run.exp.GetModelCalls())+2; got != want {
					t.Errorf("the fake saw %d calls, want %d (%d batches + 2 retries)", got, want, run.exp.GetModelCalls())
				}
			},
		},
		{
			name:    "flapping: every 3rd call UNAVAILABLE",
			methods: all,
			configure: func(m *predictortest.Model, _ *atomic.Pointer[predictortest.Server]) {
				m.Fault = predictortest.FailEvery(3, codes.Unavailable)
			},
			within: 2 * retried, code: codes.OK, sameAsFaultFree: true,
			check: func(t *testing.T, fake *predictortest.Model, run faultRun) {
				// Calls 2, 5, 8, ... failed; every batch succeeded exactly
				// once (no batch scored twice).
				n := fake.Calls()
				if ok := n - n/3; ok != int(run.exp.GetModelCalls()) {
					t.Errorf("the fake answered %d of %d calls, want one per batch (%d)", ok, n, run.exp.GetModelCalls())
				}
			},
		},
		{
			name:    "slow beyond the client's deadline",
			methods: all,
			configure: func(m *predictortest.Model, _ *atomic.Pointer[predictortest.Server]) {
				m.Delay = 2 * time.Second
			},
			deadline: 300 * time.Millisecond, within: 300*time.Millisecond + margin,
			// The client's and the sidecar's deadlines are the same
			// instant, so the message is whichever side reported first:
			// the client's gRPC ("context deadline exceeded", or "stream
			// terminated by RST_STREAM ..." when the sidecar's transport
			// reset the stream) or the sidecar ("job deadline exceeded
			// ..."). The code is what is promised.
			code: codes.DeadlineExceeded, msg: "",
			check: func(t *testing.T, fake *predictortest.Model, _ faultRun) {
				assertCallsCancelled(t, fake)
			},
		},
		{
			name:    "hang, no client deadline: the job timeout",
			methods: all,
			configure: func(m *predictortest.Model, _ *atomic.Pointer[predictortest.Server]) {
				m.Fault = func(int, [][]float64) ([][]float64, error) { return nil, predictortest.ErrHang }
			},
			opts:   []Option{WithJobTimeout(300 * time.Millisecond)},
			within: 300*time.Millisecond + margin,
			code:   codes.DeadlineExceeded, msg: "job deadline exceeded",
			check: func(t *testing.T, fake *predictortest.Model, _ faultRun) {
				assertCallsCancelled(t, fake)
			},
		},
		{
			name:    "hang in a stream job: the job timeout",
			methods: []string{"permutation"},
			configure: func(m *predictortest.Model, _ *atomic.Pointer[predictortest.Server]) {
				m.Fault = func(int, [][]float64) ([][]float64, error) { return nil, predictortest.ErrHang }
			},
			opts:   []Option{WithJobTimeout(300 * time.Millisecond)},
			stream: true, within: 300*time.Millisecond + margin,
			code: codes.DeadlineExceeded, msg: "job deadline exceeded",
			check: func(t *testing.T, fake *predictortest.Model, _ faultRun) {
				assertCallsCancelled(t, fake)
			},
		},
		{
			name:    "one row short",
			methods: all,
			configure: func(m *predictortest.Model, _ *atomic.Pointer[predictortest.Server]) {
				m.Fault = scoresWith(func(out [][]float64) [][]float64 { return out[:len(out)-1] })
			},
			opts:   []Option{WithInFlight(1)},
			within: quick, code: codes.Internal, msg: "rows", noRetry: true,
		},
		{
			name:    "three classes for a two-class model",
			methods: all,
			configure: func(m *predictortest.Model, _ *atomic.Pointer[predictortest.Server]) {
				m.Fault = scoresWith(func(out [][]float64) [][]float64 {
					for i := range out {
						out[i] = []float64{0.2, 0.3, 0.5}
					}
					return out
				})
			},
			opts:   []Option{WithInFlight(1)},
			within: quick, code: codes.Internal, msg: "class", noRetry: true,
		},
		{
			name:    "NaN score",
			methods: all,
			configure: func(m *predictortest.Model, _ *atomic.Pointer[predictortest.Server]) {
				m.Fault = scoresWith(func(out [][]float64) [][]float64 {
					out[len(out)/2][1] = math.NaN()
					return out
				})
			},
			opts:   []Option{WithInFlight(1)},
			within: quick, code: codes.Internal, msg: "non-finite", noRetry: true,
		},
		{
			name: "+Inf score",
			configure: func(m *predictortest.Model, _ *atomic.Pointer[predictortest.Server]) {
				m.Fault = scoresWith(func(out [][]float64) [][]float64 {
					out[0][0] = math.Inf(1)
					return out
				})
			},
			opts:   []Option{WithInFlight(1)},
			within: quick, code: codes.Internal, msg: "non-finite", noRetry: true,
		},
		{
			name: "reply over the channel's message size limit",
			configure: func(m *predictortest.Model, _ *atomic.Pointer[predictortest.Server]) {
				// 100 rows × 2000 scores × 8 bytes ≈ 1.6 MB > 64 KiB.
				m.Fault = func(_ int, rows [][]float64) ([][]float64, error) {
					out := make([][]float64, len(rows))
					for i := range out {
						out[i] = make([]float64, 2000)
					}
					return out, nil
				}
			},
			dial:   []predictor.DialOption{predictor.WithMaxMsgSize(64 << 10)},
			opts:   []Option{WithInFlight(1)},
			within: quick, code: codes.Internal, msg: "bad output: message over the size limit", noRetry: true,
		},
		{
			name:    "INVALID_ARGUMENT",
			methods: all,
			configure: func(m *predictortest.Model, _ *atomic.Pointer[predictortest.Server]) {
				m.Fault = predictortest.FailFirst(1000, codes.InvalidArgument)
			},
			opts:   []Option{WithInFlight(1)},
			within: quick, code: codes.FailedPrecondition, msg: "model server rejected the request", noRetry: true,
		},
		{
			name: "NOT_FOUND",
			configure: func(m *predictortest.Model, _ *atomic.Pointer[predictortest.Server]) {
				m.Fault = predictortest.FailFirst(1000, codes.NotFound)
			},
			opts:   []Option{WithInFlight(1)},
			within: quick, code: codes.FailedPrecondition, msg: "model server rejected the request", noRetry: true,
		},
		{
			name: "UNAUTHENTICATED",
			configure: func(m *predictortest.Model, _ *atomic.Pointer[predictortest.Server]) {
				m.Fault = predictortest.FailFirst(1000, codes.Unauthenticated)
			},
			opts:   []Option{WithInFlight(1)},
			within: quick, code: codes.FailedPrecondition, msg: "refused the sidecar's credentials", noRetry: true,
		},
		{
			name: "RESOURCE_EXHAUSTED",
			configure: func(m *predictortest.Model, _ *atomic.Pointer[predictortest.Server]) {
				m.Fault = predictortest.FailFirst(1000, codes.ResourceExhausted)
			},
			opts:   []Option{WithInFlight(1)},
			within: quick, code: codes.Unavailable, msg: "model server unavailable: overloaded", noRetry: true,
		},
		{
			name:    "Triton max_batch_size 8",
			methods: all,
			kserve:  true,
			configure: func(m *predictortest.Model, _ *atomic.Pointer[predictortest.Server]) {
				m.MaxBatchSize = 8
			},
			within: 2 * quick, code: codes.OK,
			check: func(t *testing.T, fake *predictortest.Model, run faultRun) {
				if fake.MaxBatch() > 8 || fake.MaxBatch() == 0 {
					t.Errorf("the largest batch was %d rows, want 1..8", fake.MaxBatch())
				}
				if fake.Calls() != int(run.exp.GetModelCalls()) {
					t.Errorf("the fake saw %d calls, the sidecar reports %d", fake.Calls(), run.exp.GetModelCalls())
				}
			},
		},
	}
	for _, tt := range tests {
		methods := tt.methods
		if methods == nil {
			methods = []string{"lime"}
		}
		for _, m := range faultMethods {
			if !contains(methods, m.name) {
				continue
			}
			t.Run(tt.name+"/"+m.name, func(t *testing.T) {
				t.Parallel()
				start := func(configure func(*predictortest.Model, *atomic.Pointer[predictortest.Server])) (*predictortest.Model, *sidecar) {
					var (
						fake      *predictortest.Model
						svc       predictortest.Service
						tsPointer *atomic.Pointer[predictortest.Server]
					)
					if tt.kserve {
						k := predictortest.NewKServeServer(predictortest.Logistic(testWeights, testBias))
						k.NumFeatures = testFeatures
						k.ClassNames = []string{"no", "yes"}
						tsPointer = new(atomic.Pointer[predictortest.Server])
						if configure != nil {
							configure(&k.Model, tsPointer)
						}
						fake, svc = &k.Model, k
					} else {
						p, ptr := newFaultFake(configure)
						fake, svc, tsPointer = &p.Model, p, ptr
					}
					ts, newClient := tcpModel(t, svc, tt.dial...)
					tsPointer.Store(ts)
					return fake, startSidecar(t, newClient, tt.opts...)
				}
				seen := &batchLog{}
				fake, sc := start(func(m *predictortest.Model, ts *atomic.Pointer[predictortest.Server]) {
					if tt.configure != nil {
						tt.configure(m, ts)
					}
					m.Fault = seen.wrap(m.Fault)
				})

				var (
					ctx    context.Context
					cancel context.CancelFunc
				)
				if tt.deadline > 0 {
					ctx, cancel = context.WithTimeout(context.Background(), tt.deadline)
				} else {
					// No deadline (so the job timeout applies), but never
					// hang the test.
					ctx, cancel = context.WithCancel(context.Background())
					stop := time.AfterFunc(20*time.Second, cancel)
					defer stop.Stop()
				}
				defer cancel()
				var run faultRun
				if tt.stream {
					run = runStream(t, ctx, sc, m.req())
				} else {
					run = runUnary(ctx, sc, m.req())
				}
				if run.code != tt.code || !strings.Contains(strings.ToLower(run.msg), strings.ToLower(tt.msg)) {
					t.Fatalf("got %v %q, want %v containing %q", run.code, run.msg, tt.code, tt.msg)
				}
				if run.elapsed > tt.within {
					t.Errorf("the job took %v, want at most %v", run.elapsed, tt.within)
				}
				if tt.code != codes.OK && run.exp != nil {
					t.Errorf("a failed job delivered a result")
				}
				// Only a rejection carries the model server's own message,
				// sanitized, after "model server says: "; the channel's
				// messages (UNAVAILABLE) never reach the client.
				if strings.Contains(run.msg, "stopping") ||
					(strings.Contains(run.msg, "injected") && (run.code != codes.FailedPrecondition || !strings.Contains(run.msg, "model server says: injected"))) {
					t.Errorf("the model server's message leaked to the client: %q", run.msg)
				}
				if tt.noRetry {
					if n := seen.duplicates(); n != 0 || fake.Calls() == 0 {
						t.Errorf("the fake saw %d calls, %d of them a batch it had seen before: want no retry", fake.Calls(), n)
					}
				}
				if tt.code == codes.OK && run.exp.GetMethod() == "" {
					t.Fatalf("no explanation in %+v", run)
				}
				if tt.sameAsFaultFree {
					_, clean := start(nil)
					want := runUnary(context.Background(), clean, m.req())
					if want.code != codes.OK {
						t.Fatalf("fault-free run: %v %q", want.code, want.msg)
					}
					if got, want := withoutElapsed(run.exp), withoutElapsed(want.exp); !proto.Equal(got, want) {
						t.Errorf("with faults:\n%v\nwithout:\n%v", got, want)
					}
				}
				if tt.check != nil {
					tt.check(t, fake, run)
				}
			})
		}
	}
}

// batchLog records the batches a fake saw, to detect a retried one.
type batchLog struct {
	mu   sync.Mutex
	seen map[string]int
}

// wrap returns a fault that records each call's rows, then runs f.
func (l *batchLog) wrap(f predictortest.FaultFunc) predictortest.FaultFunc {
	return func(call int, rows [][]float64) ([][]float64, error) {
		key := fmt.Sprint(rows)
		l.mu.Lock()
		if l.seen == nil {
			l.seen = map[string]int{}
		}
		l.seen[key]++
		l.mu.Unlock()
		if f == nil {
			return nil, nil
		}
		return f(call, rows)
	}
}

// duplicates returns how many calls repeated a batch seen before.
func (l *batchLog) duplicates() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.seen {
		n += c - 1
	}
	return n
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// assertCallsCancelled checks that the fake saw calls, that each had a
// deadline, and that every one of them ended because its context did.
func assertCallsCancelled(t *testing.T, fake *predictortest.Model) {
	t.Helper()
	ok := waitUntil(2*time.Second, func() bool {
		return fake.InFlight() == 0 && fake.Calls() > 0 && fake.Cancelled() == fake.Calls()
	})
	if !ok {
		t.Errorf("the fake saw %d calls, %d cancelled, %d still in flight; want all cancelled", fake.Calls(), fake.Cancelled(), fake.InFlight())
	}
	if n := fake.CallsWithoutDeadline(); n != 0 {
		t.Errorf("%d model calls had no deadline", n)
	}
}

// A model server that is down when the sidecar starts: jobs fail with
// UNAVAILABLE and the explainer's health is NOT_SERVING while the sidecar's
// own stays SERVING; when the model server comes back on the same address,
// health turns SERVING and jobs succeed, without restarting the sidecar.
//
// LIME only: the job fails at Describe, before any method-specific code.
func TestModelServerDownAtStartThenRecovers(t *testing.T) {
	for _, m := range faultMethods[:1] {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			fake, _ := newFaultFake(nil)
			ts, newClient := tcpModel(t, fake)
			ts.Stop() // the listener is closed: connection refused
			sc := startSidecar(t, newClient, WithDefaultModel("model"))
			ctx, cancel := context.WithCancel(context.Background())
			watched := make(chan struct{})
			go func() { defer close(watched); sc.srv.WatchModel(ctx, 20*time.Millisecond) }()
			defer func() { cancel(); <-watched }()

			jctx, jcancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer jcancel()
			run := runUnary(jctx, sc, m.req())
			if run.code != codes.Unavailable || !strings.Contains(run.msg, "model server unavailable") {
				t.Fatalf("got %v %q, want Unavailable \"model server unavailable\"", run.code, run.msg)
			}
			if run.elapsed > 3*time.Second {
				t.Errorf("the job took %v to fail, want the retries' ~1.5 s at most", run.elapsed)
			}
			waitHealth(t, sc, ServiceName, healthpb.HealthCheckResponse_NOT_SERVING)
			waitHealth(t, sc, "", healthpb.HealthCheckResponse_SERVING)

			lis, err := net.Listen("tcp", ts.Target)
			if err != nil {
				t.Fatalf("cannot listen on %s again: %v", ts.Target, err)
			}
			again := predictortest.Start(lis, fake)
			t.Cleanup(again.Close)
			// The channel reconnects with its backoff (1 s, ×1.6, ±20%).
			waitHealth(t, sc, ServiceName, healthpb.HealthCheckResponse_SERVING)
			waitHealth(t, sc, "", healthpb.HealthCheckResponse_SERVING)
			run = runUnary(jctx, sc, m.req())
			if run.code != codes.OK || run.exp.GetMethod() == "" {
				t.Fatalf("after the model server came back: %v %q", run.code, run.msg)
			}
			if fake.Calls() != int(run.exp.GetModelCalls()) {
				t.Errorf("the fake saw %d calls, the job reports %d", fake.Calls(), run.exp.GetModelCalls())
			}
		})
	}
}

// waitHealth waits up to 10 s for the health of service to be want.
func waitHealth(t *testing.T, sc *sidecar, service string, want healthpb.HealthCheckResponse_ServingStatus) {
	t.Helper()
	var (
		last healthpb.HealthCheckResponse_ServingStatus
		err  error
	)
	ok := waitUntil(10*time.Second, func() bool {
		var resp *healthpb.HealthCheckResponse
		resp, err = sc.health.Check(context.Background(), &healthpb.HealthCheckRequest{Service: service})
		last = resp.GetStatus()
		return err == nil && last == want
	})
	if !ok {
		t.Fatalf("health of %q never became %v (last %v, %v)", service, want, last, err)
	}
}
