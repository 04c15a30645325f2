//go:build soak

// The soak test runs the built sidecar for minutes under concurrent
// streams, cancellations and model server restarts, then stops it with
// SIGTERM. It is not part of `go test ./...`: run it with `make soak`, or
//
//	go test -tags soak -run '^TestSoak$' -v -timeout 30m ./cmd/explainer -soak.duration 30s
//
// SOAK_DURATION (e.g. 30s) stands in for -soak.duration; -soak.race (or
// SOAK_RACE=1) builds the sidecar with the race detector.

package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/explainer-sidecar/explainer/explain"
	"github.com/explainer-sidecar/explainer/predictor/predictortest"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

var (
	soakDuration = flag.Duration("soak.duration", 0, "how long the soak test loads the sidecar (default $SOAK_DURATION, else 3m)")
	soakRace     = flag.Bool("soak.race", os.Getenv("SOAK_RACE") == "1", "build the sidecar with the race detector")
)

// The soak's model: a logistic classifier over soakFeatures features.
var (
	soakWeights = []float64{0.8, -1.5, 0.3, 3, 0}
	soakScore   = predictortest.Logistic(soakWeights, 0.2)
)

const (
	soakFeatures  = 5
	soakWorkers   = 12
	soakPerStream = 4  // --max-jobs-per-stream
	soakSlots     = 16 // --max-concurrent-jobs
)

// soakJob is one job and what its result must show: its own seed, method
// and model scores, so that a result delivered to the wrong job shows.
type soakJob struct {
	id       string
	method   string
	seed     uint64
	req      *explainerv1.ExplainRequest
	chunks   []*explainerv1.ExplainStreamRequest // streamed data, after the start
	scores   []float64                           // the instance's scores (lime, kernelshap)
	baseline float64                             // the data set's accuracy (permutation)
}

func soakRows(r *rand.Rand, n int) [][]float64 {
	rows := make([][]float64, n)
	for i := range rows {
		rows[i] = make([]float64, soakFeatures)
		for j := range rows[i] {
			rows[i][j] = r.NormFloat64() * float64(j+1) / 2
		}
	}
	return rows
}

func flatRows(rows [][]float64) []float64 {
	var v []float64
	for _, r := range rows {
		v = append(v, r...)
	}
	return v
}

// newSoakJob builds a job of a random method with a random instance or
// data set; streamed permutation jobs only when streamed is allowed.
func newSoakJob(t *testing.T, r *rand.Rand, id string, streamed bool) soakJob {
	seed := r.Uint64()
	inst := soakRows(r, 1)[0]
	instance := &explainerv1.Instance{Kind: &explainerv1.Instance_Tabular{Tabular: &explainerv1.TabularInstance{Values: inst}}}
	kinds := 2
	if streamed {
		kinds = 3
	}
	switch r.IntN(kinds) {
	case 0:
		bg := soakRows(r, 40)
		return soakJob{id: id, method: "lime", seed: seed, scores: soakScore([][]float64{inst})[0], req: &explainerv1.ExplainRequest{
			Model: "m", Instance: instance,
			Method: &explainerv1.ExplainRequest_Lime{Lime: &explainerv1.LimeOptions{
				NumSamples: uint32(200 + r.IntN(800)), NumFeatures: 3, Seed: &seed, Labels: []uint32{1},
				Training: &explainerv1.TrainingData{Source: &explainerv1.TrainingData_Dataset{
					Dataset: &explainerv1.Dataset{NumRows: uint32(len(bg)), Values: flatRows(bg)},
				}},
			}},
		}}
	case 1:
		bg := soakRows(r, 5)
		return soakJob{id: id, method: "kernelshap", seed: seed, scores: soakScore([][]float64{inst})[0], req: &explainerv1.ExplainRequest{
			Model: "m", Instance: instance,
			Method: &explainerv1.ExplainRequest_KernelShap{KernelShap: &explainerv1.KernelShapOptions{
				NumSamples: uint32(64 + r.IntN(64)), Seed: &seed,
				Background: &explainerv1.Dataset{NumRows: uint32(len(bg)), Values: flatRows(bg)},
			}},
		}}
	default:
		rows := soakRows(r, 60+r.IntN(120))
		targets := make([]float64, len(rows))
		for i, s := range soakScore(rows) {
			if s[1] > 0.5 {
				targets[i] = 1
			}
			if i%5 == 0 {
				targets[i] = 1 - targets[i] // not a perfect model
			}
		}
		baseline, err := explain.Score(explain.ScoreAccuracy, soakScore(rows), targets, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		j := soakJob{id: id, method: "permutation", seed: seed, baseline: baseline, req: &explainerv1.ExplainRequest{
			Model: "m",
			Method: &explainerv1.ExplainRequest_Permutation{Permutation: &explainerv1.PermutationOptions{
				Repeats: 2, Seed: &seed, Scoring: explainerv1.Scoring_SCORING_ACCURACY, Streamed: true,
				Data: &explainerv1.Dataset{FeatureNames: []string{"a", "b", "c", "d", "e"}},
			}},
		}}
		for lo := 0; lo < len(rows); lo += 50 {
			hi := min(lo+50, len(rows))
			j.chunks = append(j.chunks, &explainerv1.ExplainStreamRequest{Kind: &explainerv1.ExplainStreamRequest_Data{Data: &explainerv1.DataChunk{
				JobId: id, Values: flatRows(rows[lo:hi]), Targets: targets[lo:hi], Last: hi == len(rows),
			}}})
		}
		return j
	}
}

// check returns why exp is not j's result, or "".
func (j soakJob) check(exp *explainerv1.Explanation) string {
	if exp.GetMethod() != j.method || exp.GetSeed() != j.seed {
		return fmt.Sprintf("method %q seed %d, want %q seed %d", exp.GetMethod(), exp.GetSeed(), j.method, j.seed)
	}
	if j.method == "permutation" {
		if exp.GetBaselineScore() != j.baseline {
			return fmt.Sprintf("baseline %v, want its own data set's %v", exp.GetBaselineScore(), j.baseline)
		}
		return ""
	}
	if !slices.Equal(exp.GetInstanceScores(), j.scores) {
		return fmt.Sprintf("instance scores %v, want its own instance's %v", exp.GetInstanceScores(), j.scores)
	}
	return ""
}

// soakTally counts what happened to the jobs.
type soakTally struct {
	mu         sync.Mutex
	started    int
	results    int
	byCode     map[codes.Code]int
	abandoned  int                // on a stream the client cancelled before the job ended
	stalled    map[codes.Code]int // how jobs whose client stalled ended
	streamEnds map[codes.Code]int
	failures   []string
}

func (s *soakTally) fail(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.failures) < 50 {
		s.failures = append(s.failures, fmt.Sprintf(format, args...))
	}
}

func (s *soakTally) add(f func(s *soakTally)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

// endedWith records a job's coded error.
func (s *soakTally) endedWith(id string, code codes.Code, msg string) {
	switch code {
	case codes.OK, codes.Unknown, codes.Internal:
		s.fail("job %s: ended with %v %q: want a result or a meaningful code", id, code, msg)
	}
	if msg == "" {
		s.fail("job %s: %v without a message", id, code)
	}
	s.add(func(s *soakTally) { s.byCode[code]++ })
}

// soakStream runs one stream of 1 to soakPerStream+1 jobs (one past the
// limit now and then), cancelling some jobs, or the whole stream, on their
// first progress.
func soakStream(ctx context.Context, t *testing.T, client explainerv1.ExplainerServiceClient, r *rand.Rand, name string, tally *soakTally) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := client.ExplainStream(sctx)
	if err != nil {
		tally.fail("%s: open: %v", name, err)
		return
	}
	n := 1 + r.IntN(3)
	if r.IntN(10) == 0 {
		n = soakPerStream + 1
	}
	cancelStream := r.IntN(10) == 0
	jobs := map[string]soakJob{}
	cancelOnProgress := map[string]bool{}
	stalled := map[string]bool{}
	final := map[string]int{}
	var order []string
	for k := range n {
		j := newSoakJob(t, r, fmt.Sprintf("%s-%d", name, k), true)
		jobs[j.id] = j
		order = append(order, j.id)
		cancelOnProgress[j.id] = r.IntN(5) == 0
		if err := stream.Send(&explainerv1.ExplainStreamRequest{Kind: &explainerv1.ExplainStreamRequest_Start{Start: &explainerv1.StartJob{JobId: j.id, Request: j.req}}}); err != nil {
			tally.fail("%s: send: %v", name, err)
			return
		}
		chunks := j.chunks
		if len(chunks) > 1 && r.IntN(40) == 0 {
			// A client that stalls before the last chunk: the data idle
			// timeout ends the job.
			chunks = chunks[:len(chunks)-1]
			stalled[j.id] = true
		}
		for _, c := range chunks {
			if err := stream.Send(c); err != nil {
				tally.fail("%s: send: %v", name, err)
				return
			}
		}
	}
	tally.add(func(s *soakTally) { s.started += n })
	// The send side stays open for the cancels until every job has ended.
	streamCancelled, closed, ended := false, false, 0
	for {
		if ended == n && !closed {
			closed = true
			if err := stream.CloseSend(); err != nil {
				tally.fail("%s: close send: %v", name, err)
				return
			}
		}
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			if !closed {
				tally.fail("%s: the stream ended before the client closed it", name)
			}
			break
		}
		if err != nil {
			code := status.Code(err)
			if !(streamCancelled && code == codes.Canceled) {
				tally.fail("%s: the stream ended with %v", name, err)
			}
			tally.add(func(s *soakTally) { s.streamEnds[code]++ })
			break
		}
		id := msg.GetJobId()
		j, ok := jobs[id]
		if !ok {
			tally.fail("%s: an event for job %q, not of this stream", name, id)
			continue
		}
		if final[id] > 0 {
			tally.fail("job %s: an event after its final one: %v", id, msg)
			continue
		}
		switch ev := msg.GetEvent().(type) {
		case *explainerv1.ExplainStreamResponse_Result:
			final[id]++
			ended++
			if stalled[id] {
				tally.fail("job %s: a result without its last chunk", id)
			}
			if why := j.check(ev.Result); why != "" {
				tally.fail("job %s: a result not its own: %s", id, why)
			}
			tally.add(func(s *soakTally) { s.results++ })
		case *explainerv1.ExplainStreamResponse_Error:
			final[id]++
			ended++
			code := codes.Code(ev.Error.GetCode())
			tally.endedWith(id, code, ev.Error.GetMessage())
			if stalled[id] {
				tally.add(func(s *soakTally) { s.stalled[code]++ })
			}
		case *explainerv1.ExplainStreamResponse_Progress, *explainerv1.ExplainStreamResponse_Partial:
			if cancelStream && !streamCancelled {
				streamCancelled = true
				cancel()
			} else if cancelOnProgress[id] {
				cancelOnProgress[id] = false
				if err := stream.Send(&explainerv1.ExplainStreamRequest{Kind: &explainerv1.ExplainStreamRequest_Cancel{Cancel: &explainerv1.CancelJob{JobId: id}}}); err != nil && !errors.Is(err, io.EOF) {
					tally.fail("%s: cancel: %v", name, err)
				}
			}
		}
	}
	for _, id := range order {
		switch {
		case final[id] == 1:
		case final[id] == 0 && streamCancelled:
			tally.add(func(s *soakTally) { s.abandoned++ })
		case final[id] == 0:
			tally.fail("job %s: lost: the stream ended without its result or error", id)
		}
	}
}

// soakUnary runs one unary job.
func soakUnary(ctx context.Context, t *testing.T, client explainerv1.ExplainerServiceClient, r *rand.Rand, name string, tally *soakTally) {
	j := newSoakJob(t, r, name, false)
	tally.add(func(s *soakTally) { s.started++ })
	resp, err := client.Explain(ctx, j.req)
	if err != nil {
		st := status.Convert(err)
		tally.endedWith(j.id, st.Code(), st.Message())
		return
	}
	if why := j.check(resp.GetExplanation()); why != "" {
		tally.fail("job %s: a result not its own: %s", j.id, why)
	}
	tally.add(func(s *soakTally) { s.results++ })
}

// soakSample is one scrape of the sidecar's metrics.
type soakSample struct {
	at                          time.Duration
	goroutines, heapAlloc, live float64
	rss, running, queued        float64
}

func scrape(t *testing.T, url string) (soakSample, error) {
	resp, err := http.Get(url)
	if err != nil {
		return soakSample{}, err
	}
	defer resp.Body.Close()
	vals := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			vals[name] = v
		}
	}
	return soakSample{
		goroutines: vals["go_goroutines"], heapAlloc: vals["go_memstats_heap_alloc_bytes"], live: vals["go_gc_heap_live_bytes"],
		rss: vals["process_resident_memory_bytes"], running: vals["explainer_jobs_running"], queued: vals["explainer_jobs_queued"],
	}, sc.Err()
}

// quiet waits until the sidecar runs no job and returns the least
// goroutine count of a few samples (transient goroutines excluded).
func quiet(ctx context.Context, t *testing.T, url string) soakSample {
	t.Helper()
	tick := time.NewTicker(100 * time.Millisecond) // sampling, not synchronisation
	defer tick.Stop()
	var best soakSample
	calm := 0
	for calm < 10 {
		select {
		case <-ctx.Done():
			t.Fatalf("the sidecar never went quiet: %+v", best)
		case <-tick.C:
		}
		s, err := scrape(t, url)
		if err != nil {
			t.Fatal(err)
		}
		if s.running > 0 || s.queued > 0 {
			calm = 0
			continue
		}
		if calm == 0 || s.goroutines < best.goroutines {
			best = s
		}
		calm++
	}
	return best
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// TestSoak: see the file comment. It fails on a lost, duplicated or
// mixed-up result, an uncoded or INTERNAL/UNKNOWN error, a stream that
// ends badly, goroutines or memory that grow, or an unclean SIGTERM.
func TestSoak(t *testing.T) {
	d := *soakDuration
	if d == 0 {
		d = 3 * time.Minute
		if env := os.Getenv("SOAK_DURATION"); env != "" {
			var err error
			if d, err = time.ParseDuration(env); err != nil {
				t.Fatalf("SOAK_DURATION: %v", err)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), d+5*time.Minute) // a bound on the whole run
	defer cancel()

	// The model server: a fake on a real port, stopped and restarted on
	// the same port during the run; hang makes every call wait for its
	// cancellation (the SIGTERM phase).
	var hang atomic.Bool
	fake := predictortest.NewPredictServer(soakScore)
	fake.NumFeatures = soakFeatures
	fake.ClassNames = []string{"no", "yes"}
	fake.MaxBatchSize = 64
	fake.Delay = 2 * time.Millisecond
	fake.Fault = func(int, [][]float64) ([][]float64, error) {
		if hang.Load() {
			return nil, predictortest.ErrHang
		}
		return nil, nil
	}
	var modelMu sync.Mutex
	model := predictortest.NewServer(fake)
	defer func() { modelMu.Lock(); model.Close(); modelMu.Unlock() }()
	addr := model.Target

	bin := buildExplainer(t, *soakRace)
	proc := startProcess(t, bin, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
		"--predictor", addr, "--predictor-plaintext", "--protocol", "predict-v1", "--model", "m",
		"--max-concurrent-jobs", strconv.Itoa(soakSlots), "--max-queued-jobs", "32",
		"--max-jobs-per-stream", strconv.Itoa(soakPerStream), "--data-idle-timeout", "5s",
		"--job-timeout", "30s", "--health-interval", "500ms", "--drain-timeout", "3s")
	metricsURL := "http://" + proc.metrics + "/metrics"
	conn, err := grpc.NewClient(proc.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := explainerv1.NewExplainerServiceClient(conn)
	tally := &soakTally{byCode: map[codes.Code]int{}, streamEnds: map[codes.Code]int{}, stalled: map[codes.Code]int{}}

	// load runs the workers until stop, and returns once every stream and
	// call has ended.
	load := func(phase string, stop time.Time, seed uint64) {
		var wg sync.WaitGroup
		for w := range soakWorkers {
			wg.Go(func() {
				r := rand.New(rand.NewPCG(seed, uint64(w)))
				for k := 0; time.Now().Before(stop) && ctx.Err() == nil; k++ {
					name := fmt.Sprintf("%s-w%d-%d", phase, w, k)
					if r.IntN(4) == 0 {
						soakUnary(ctx, t, client, r, name, tally)
					} else {
						soakStream(ctx, t, client, r, name, tally)
					}
				}
			})
		}
		wg.Wait()
	}
	restarts := 0
	// chaos stops the model server for a moment every few seconds until
	// stop, then leaves it up.
	chaos := func(stop time.Time) {
		for time.Now().Add(4 * time.Second).Before(stop) {
			select {
			case <-ctx.Done():
				return
			case <-time.After(3 * time.Second):
			}
			modelMu.Lock()
			model.Close()
			modelMu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Duration(300+rand.IntN(2700)) * time.Millisecond):
				// Down for 0.3 to 3 s: past the retries now and then.
			}
			var lis net.Listener
			for lis == nil {
				var err error
				if lis, err = net.Listen("tcp", addr); err != nil {
					select { // the port is being released
					case <-ctx.Done():
						return
					case <-time.After(50 * time.Millisecond):
					}
				}
			}
			modelMu.Lock()
			model = predictortest.Start(lis, fake)
			modelMu.Unlock()
			restarts++
		}
	}

	// Warm-up: a short load with one restart, then the baseline at rest.
	start := time.Now()
	warm := min(d/6, 20*time.Second)
	var chaosDone sync.WaitGroup
	chaosDone.Go(func() { chaos(start.Add(warm)) })
	load("warm", start.Add(warm), 1)
	chaosDone.Wait()
	base := quiet(ctx, t, metricsURL)
	t.Logf("baseline at rest after %v of warm-up: %.0f goroutines, heap %.1f MiB, live heap %.1f MiB, RSS %.1f MiB",
		time.Since(start).Round(time.Second), base.goroutines, base.heapAlloc/(1<<20), base.live/(1<<20), base.rss/(1<<20))

	// The soak: load, chaos and a sampler.
	loadStart := time.Now()
	stop := loadStart.Add(d)
	var samples []soakSample
	sampling := make(chan struct{})
	var bg sync.WaitGroup
	bg.Go(func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-sampling:
				return
			case <-tick.C:
			}
			if s, err := scrape(t, metricsURL); err == nil {
				s.at = time.Since(loadStart)
				samples = append(samples, s)
			}
		}
	})
	bg.Go(func() { chaos(stop) })
	load("soak", stop, 2)
	close(sampling)
	bg.Wait()
	end := quiet(ctx, t, metricsURL)

	// Growth: at rest, after against before; under load, the last third of
	// the samples against the first.
	var goFirst, goLast, liveFirst, liveLast []float64
	for _, s := range samples {
		switch {
		case s.at < d/3:
			goFirst, liveFirst = append(goFirst, s.goroutines), append(liveFirst, s.live)
		case s.at > 2*d/3:
			goLast, liveLast = append(goLast, s.goroutines), append(liveLast, s.live)
		}
	}
	t.Logf("load: %v, %d model server restarts, %d samples; goroutines median %.0f → %.0f, live heap median %.1f → %.1f MiB (first → last third)",
		d, restarts, len(samples), median(goFirst), median(goLast), median(liveFirst)/(1<<20), median(liveLast)/(1<<20))
	t.Logf("at rest after the load: %.0f goroutines (baseline %.0f), heap %.1f MiB, live heap %.1f MiB (baseline %.1f), RSS %.1f MiB (baseline %.1f)",
		end.goroutines, base.goroutines, end.heapAlloc/(1<<20), end.live/(1<<20), base.live/(1<<20), end.rss/(1<<20), base.rss/(1<<20))
	if end.goroutines > base.goroutines+5 {
		t.Errorf("goroutines at rest grew from %.0f to %.0f", base.goroutines, end.goroutines)
	}
	if end.live > 2*base.live+16<<20 {
		t.Errorf("live heap at rest grew from %.1f to %.1f MiB", base.live/(1<<20), end.live/(1<<20))
	}
	if m1, m3 := median(liveFirst), median(liveLast); m3 > 1.5*m1+8<<20 {
		t.Errorf("live heap under load grew from %.1f to %.1f MiB (medians of the first and last thirds)", m1/(1<<20), m3/(1<<20))
	}
	if g1, g3 := median(goFirst), median(goLast); g3 > 1.5*g1+20 {
		t.Errorf("goroutines under load grew from %.0f to %.0f (medians of the first and last thirds)", g1, g3)
	}

	// SIGTERM with jobs running that only the drain timeout ends: each
	// ends with UNAVAILABLE "server shutting down", and the process exits
	// cleanly.
	hang.Store(true)
	health := healthpb.NewHealthClient(conn)
	watch, err := health.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := watch.Recv(); err != nil {
		t.Fatal(err)
	}
	const last = 4
	lastCalls := fake.Calls()
	ended := make(chan error, last)
	for k := range last {
		go func() {
			_, err := client.Explain(ctx, newSoakJob(t, rand.New(rand.NewPCG(3, uint64(k))), fmt.Sprintf("last-%d", k), false).req)
			ended <- err
		}()
	}
	if err := fake.Await(ctx, func() bool { return fake.Calls() >= lastCalls+last }); err != nil {
		t.Fatalf("the last jobs never reached the model: %v", err)
	}
	proc.signal(t, syscall.SIGTERM)
	if resp, err := watch.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("health after SIGTERM: %v %v, want NOT_SERVING", resp.GetStatus(), err)
	}
	for range last {
		if st := status.Convert(<-ended); st.Code() != codes.Unavailable || st.Message() != "server shutting down" {
			t.Errorf("a job running at SIGTERM: %v %q, want UNAVAILABLE \"server shutting down\"", st.Code(), st.Message())
		}
	}
	if err := proc.wait(ctx); err != nil {
		t.Errorf("explainer serve after SIGTERM: %v", err)
	}

	t.Logf("jobs: %d started, %d results (each checked against its own request), errors by code %v, %d abandoned with their stream; stream ends %v; jobs whose client stalled before the last chunk ended %v",
		tally.started, tally.results, tally.byCode, tally.abandoned, tally.streamEnds, tally.stalled)
	for _, f := range tally.failures {
		t.Error(f)
	}
	if tally.results == 0 {
		t.Error("no job succeeded")
	}
	if t.Failed() {
		t.Logf("the sidecar's log ends:\n%s", lastLines(proc.log.String(), 40))
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
