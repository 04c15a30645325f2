//go:build unix

package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/explainer-sidecar/explainer/predictor"
	"github.com/explainer-sidecar/explainer/predictor/predictortest"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
	kservev2 "github.com/explainer-sidecar/explainer/proto/kserve/v2"
)

// The model-bound benchmarks of issue 11: every method through the whole
// sidecar (gRPC in; KServe v2 gRPC out, on loopback TCP) against a fake model
// server that takes L + c·rows per call, in a process of its own so that the
// sidecar's CPU can be measured apart from the model's.

const (
	mbLatency  = 20 * time.Millisecond // L, per call
	mbInFlight = DefaultInFlight       // --in-flight
	mbFeatures = 30
	// mbFakeEnv, when set in a test binary's environment, makes
	// TestModelBoundFakeModel serve the fake model it describes (JSON
	// mbFakeConfig) instead of returning.
	mbFakeEnv = "EXPLAINER_MODELBOUND_FAKE"
)

// mbFakeConfig configures the fake model server process.
type mbFakeConfig struct {
	// MaxBatchSize is ModelConfig's max_batch_size: 0 with the input
	// [-1, -1] is Triton's "no row cap".
	MaxBatchSize int
	Latency      time.Duration
	PerRow       time.Duration
	// InputDatatype, when set, is the input's data type instead of FP32.
	InputDatatype string
}

// mbPerRowEnv sets c, the fake model's cost per row of a call (a Go
// duration, "50us"); 2 µs, a small tabular model's, when unset. A GPU
// model costs more per row (a ResNet-50 image about 0.4 ms at a large
// batch), which the sweep in the README measures.
const mbPerRowEnv = "MODELBOUND_PER_ROW"

// mbPerRow is c, per row (instance) of a call.
func mbPerRow(b *testing.B) time.Duration {
	v := os.Getenv(mbPerRowEnv)
	if v == "" {
		return 2 * time.Microsecond
	}
	c, err := time.ParseDuration(v)
	if err != nil || c < 0 {
		b.Fatalf("%s=%q: want a duration such as 50us", mbPerRowEnv, v)
	}
	return c
}

// TestModelBoundFakeModel is not a test: it is the fake model server of
// BenchmarkMethodsModelBound, started by it as a child process of the test
// binary. Without mbFakeEnv it returns at once. It prints the address it
// serves on, then serves until its stdin closes.
func TestModelBoundFakeModel(t *testing.T) {
	env := os.Getenv(mbFakeEnv)
	if env == "" {
		return
	}
	var cfg mbFakeConfig
	if err := json.Unmarshal([]byte(env), &cfg); err != nil {
		t.Fatal(err)
	}
	fake := predictortest.NewKServeServer(mbScore())
	fake.TextScore = cueScore
	fake.MaxBatchSize = cfg.MaxBatchSize
	if cfg.InputDatatype != "" {
		fake.InputDatatype = cfg.InputDatatype
	}
	fake.ClassNames = []string{"no", "yes"}
	// Each inference call takes L + c·rows from the moment it arrives: the
	// fake's own decoding and scoring are part of that time, not added.
	pad := func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := handler(ctx, req)
		if r, ok := req.(*kservev2.ModelInferRequest); ok && err == nil && len(r.GetInputs()) > 0 && len(r.GetInputs()[0].GetShape()) > 0 {
			n := time.Duration(r.GetInputs()[0].GetShape()[0])
			t := time.NewTimer(time.Until(start.Add(cfg.Latency + n*cfg.PerRow)))
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
				return nil, status.FromContextError(ctx.Err()).Err()
			}
		}
		return resp, err
	}
	g := grpc.NewServer(grpc.UnaryInterceptor(pad), grpc.MaxRecvMsgSize(predictor.DefaultMaxMsgSize))
	fake.Register(g)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { defer close(served); _ = g.Serve(lis) }()
	fmt.Printf("serving %s\n", lis.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	g.Stop()
	<-served
}

// mbScore is a logistic model over rows of any width: rows of images are
// scored like rows of mbFeatures features.
func mbScore() predictortest.ScoreFunc {
	w := make([]float64, mbFeatures)
	for j := range w {
		w[j] = float64(j%7-3) / 10
	}
	return func(rows [][]float64) [][]float64 {
		out := make([][]float64, len(rows))
		for i, r := range rows {
			z := 0.0
			for j, v := range r {
				z += w[j%mbFeatures] * v
			}
			z /= math.Sqrt(float64(max(1, len(r)/mbFeatures)))
			p := 1 / (1 + math.Exp(-z))
			out[i] = []float64{1 - p, p}
		}
		return out
	}
}

// startFakeModel starts the fake model server process and returns its
// address; it stops when b ends.
func startFakeModel(b *testing.B, cfg mbFakeConfig) string {
	b.Helper()
	env, err := json.Marshal(cfg)
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestModelBoundFakeModel$", "-test.count=1")
	cmd.Env = append(os.Environ(), mbFakeEnv+"="+string(env))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	target, ok := strings.CutPrefix(strings.TrimSpace(line), "serving ")
	if err != nil || !ok {
		b.Fatalf("fake model process: %q, %v", line, err)
	}
	return target
}

// countingClient counts the calls, rows and payload bytes (as the
// scheduler counts them: predictor.ValueBytes per value, 4 for the fake's
// FP32 input; a text's length plus 4) sent to the model, and the time
// calls were at the model. While recording it keeps a
// copy of every call, for replay.
type countingClient struct {
	*predictor.KServeV2
	mu                 sync.Mutex
	calls, rows, bytes int
	maxRows            int
	busy               time.Duration
	recording          bool
	recorded           []mbCall
}

// mbCall is a model call as the sidecar sent it.
type mbCall struct {
	rows  [][]float64
	shape []int
	texts []string
}

func (c *countingClient) count(call mbCall, bytes int) func() {
	start := time.Now()
	n := len(call.rows) + len(call.texts)
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.calls++
		c.rows += n
		c.bytes += bytes
		c.maxRows = max(c.maxRows, n)
		c.busy += time.Since(start)
		if c.recording {
			for i, r := range call.rows {
				call.rows[i] = slices.Clone(r) // the scheduler reuses its buffers
			}
			c.recorded = append(c.recorded, call)
		}
	}
}

// rowBytes is rows' payload as the scheduler counts it.
func (c *countingClient) rowBytes(rows [][]float64) int {
	n := 0
	for _, r := range rows {
		n += predictor.ValueBytes(c) * len(r)
	}
	return n
}

func (c *countingClient) Score(ctx context.Context, rows [][]float64) ([][]float64, error) {
	defer c.count(mbCall{rows: slices.Clone(rows)}, c.rowBytes(rows))()
	return c.KServeV2.Score(ctx, rows)
}

func (c *countingClient) ScoreShaped(ctx context.Context, rows [][]float64, shape []int) ([][]float64, error) {
	defer c.count(mbCall{rows: slices.Clone(rows), shape: shape}, c.rowBytes(rows))()
	return c.KServeV2.ScoreShaped(ctx, rows, shape)
}

func (c *countingClient) ScoreText(ctx context.Context, texts []string) ([][]float64, error) {
	n := 0
	for _, t := range texts {
		n += len(t) + 4
	}
	defer c.count(mbCall{texts: slices.Clone(texts)}, n)()
	return c.KServeV2.ScoreText(ctx, texts)
}

// snapshot returns the counters.
func (c *countingClient) snapshot() (calls, rows, bytes, maxRows int, busy time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls, c.rows, c.bytes, c.maxRows, c.busy
}

// record runs explain with the calls recorded and returns them.
func (c *countingClient) record(explain func()) []mbCall {
	c.mu.Lock()
	c.recording, c.recorded = true, nil
	c.mu.Unlock()
	explain()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recording = false
	return c.recorded
}

// replay sends calls straight to the model with the client, inFlight at
// once in their order, and returns the time they took: what the model
// and the transport alone need for the sidecar's calls.
func replay(b *testing.B, kc *predictor.KServeV2, calls []mbCall, inFlight int) time.Duration {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range inFlight {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(calls) {
					return
				}
				var err error
				switch c := calls[i]; {
				case c.texts != nil:
					_, err = kc.ScoreText(context.Background(), c.texts)
				case c.shape != nil:
					_, err = kc.ScoreShaped(context.Background(), c.rows, c.shape)
				default:
					_, err = kc.Score(context.Background(), c.rows)
				}
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start)
}

// limeLoop is the model calls of lime's loop over a batch's instances:
// one call of each instance's perRow samples, one instance after another
// (lime's explain_instance calls predict_fn once), made of the rows the
// sidecar sent. Replayed one at a time, they take what lime's loop needs
// of the model alone, without lime's own work: a lower bound of the
// loop's time. Nil when instances is 0.
func limeLoop(recorded []mbCall, instances, perRow int) []mbCall {
	if instances == 0 {
		return nil
	}
	var rows [][]float64
	for _, c := range recorded {
		rows = append(rows, c.rows...)
	}
	calls := make([]mbCall, instances)
	for i := range calls {
		calls[i].rows = rows[i*perRow : (i+1)*perRow]
	}
	return calls
}

// median is the median of v (which it sorts).
func median(v []float64) float64 {
	slices.Sort(v)
	if n := len(v); n%2 == 0 {
		return (v[n/2-1] + v[n/2]) / 2
	}
	return v[len(v)/2]
}

// cpuTime is the CPU time (user + system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// modelBoundIdeal is the model-bound ideal of scoring rows rows of bytes
// payload bytes: k = max(⌈rows ÷ rowCap⌉, ⌈bytes ÷ maxBytes⌉) calls of
// ⌈rows ÷ k⌉ rows each, inFlight at once, each taking L + c·rows.
func modelBoundIdeal(rows, bytes, rowCap, maxBytes, inFlight int, latency, perRow time.Duration) (calls int, ideal time.Duration) {
	k := max(1, (bytes+maxBytes-1)/maxBytes)
	if rowCap > 0 {
		k = max(k, (rows+rowCap-1)/rowCap)
	}
	per := (rows + k - 1) / k
	rounds := (k + inFlight - 1) / inFlight
	return k, time.Duration(rounds) * (latency + time.Duration(per)*perRow)
}

// mbCase is one method's request.
type mbCase struct {
	name string
	req  *explainerv1.ExplainRequest
	// nocapOnly: too slow to run at a 64-row cap (100 LIME rows there are
	// 7813 calls, 39 s of the model per explanation).
	nocapOnly bool
	// loop, when > 0: the request is a batch of loop instances of
	// loopRows samples each, also compared with lime's loop over them
	// (one call per instance, one instance after another).
	loop, loopRows int
	// image: the method explains an image, and also runs against models
	// that take FP16 or UINT8 images.
	image bool
}

// modelBoundCases are the benchmark's requests; the image's values are in
// [0, 1] times pixelScale (255 for a UINT8 model).
func modelBoundCases(pixelScale float32) []mbCase {
	inst := make([]float64, mbFeatures)
	for j := range inst {
		inst[j] = float64(j) / 7
	}
	seed := uint64(1)
	data, targets := mbDataset(143)
	var bg []float64
	for _, r := range data[:10] {
		bg = append(bg, r...)
	}
	// 30 distinct words, two of which the text model reads.
	words := make([]string, 30)
	for i := range words {
		words[i] = fmt.Sprintf("word%d", i)
	}
	words[3], words[17] = "good", "bad"
	text := &explainerv1.Instance{Kind: &explainerv1.Instance_Text{Text: &explainerv1.TextInstance{Text: strings.Join(words, " ")}}}
	long := &explainerv1.Instance{Kind: &explainerv1.Instance_Text{Text: &explainerv1.TextInstance{Text: distinctWords(500, 6)}}}
	const h, w, c = 32, 32, 3
	pixels := testImage(h, w, c, 1)
	for i := range pixels {
		pixels[i] *= pixelScale
	}
	image := &explainerv1.Instance{Kind: &explainerv1.Instance_Image{Image: &explainerv1.ImageInstance{
		Height: h, Width: w, Channels: c, Values: pixels,
	}}}
	dataset := &explainerv1.Dataset{NumRows: uint32(len(data)), Values: flat(data), Targets: targets}
	req := func(inst *explainerv1.Instance, set func(*explainerv1.ExplainRequest)) *explainerv1.ExplainRequest {
		r := &explainerv1.ExplainRequest{Model: "model", Instance: inst}
		set(r)
		return r
	}
	tab := &explainerv1.Instance{Kind: &explainerv1.Instance_Tabular{Tabular: &explainerv1.TabularInstance{Values: inst}}}
	batch := benchRequest(inst, 5000)
	batch.GetLime().Labels = []uint32{1}
	toBatch(batch, data[:100])
	return []mbCase{
		// 5000 samples × 30 features: one call without a row cap.
		{name: "lime", req: benchRequest(inst, 5000)},
		// issue 11's 100 LIME rows in one job, 5000 samples each.
		{name: "lime_batch100", req: batch, nocapOnly: true, loop: 100, loopRows: 5000},
		// lime's default 5000 samples of a 30-word text.
		{name: "lime_text", req: req(text, func(r *explainerv1.ExplainRequest) {
			r.Method = &explainerv1.ExplainRequest_LimeText{LimeText: &explainerv1.LimeTextOptions{NumSamples: 5000, Seed: &seed}}
		})},
		// lime's default 1000 samples of a 32×32×3 image, 4×4 grid.
		{name: "lime_image", req: req(image, func(r *explainerv1.ExplainRequest) {
			r.Method = &explainerv1.ExplainRequest_LimeImage{LimeImage: &explainerv1.LimeImageOptions{
				Segmentation: &explainerv1.Segmentation{Kind: &explainerv1.Segmentation_Grid{Grid: &explainerv1.GridSegmentation{Rows: 4, Cols: 4}}},
				NumSamples:   1000, Seed: &seed,
			}}
		}), image: true},
		// 2048 coalitions × 10 background rows × 30 features.
		{name: "kernel_shap", req: req(tab, func(r *explainerv1.ExplainRequest) {
			r.Method = &explainerv1.ExplainRequest_KernelShap{KernelShap: &explainerv1.KernelShapOptions{
				Background: &explainerv1.Dataset{NumRows: 10, Values: bg}, NumSamples: 2048, Seed: &seed,
			}}
		})},
		// issue 11's permutation: 143 rows × 30 features × 10 repeats.
		{name: "permutation", req: req(nil, func(r *explainerv1.ExplainRequest) {
			r.Method = &explainerv1.ExplainRequest_Permutation{Permutation: &explainerv1.PermutationOptions{Data: dataset, Repeats: 10, Seed: &seed}}
		})},
		// 2 × 143 rows × 30 features.
		{name: "sensitivity", req: req(nil, func(r *explainerv1.ExplainRequest) {
			r.Method = &explainerv1.ExplainRequest_Sensitivity{Sensitivity: &explainerv1.SensitivityOptions{Data: dataset}}
		})},
		// 32×32×3 image, 4×4 window, stride 1: 841 windows.
		{name: "occlusion_image", req: req(image, func(r *explainerv1.ExplainRequest) {
			r.Method = &explainerv1.ExplainRequest_Occlusion{Occlusion: &explainerv1.OcclusionOptions{Window: []uint32{4, 4}, Strides: []uint32{1, 1}}}
		}), image: true},
		// a 500-word text, one word at a time.
		{name: "occlusion_text", req: req(long, func(r *explainerv1.ExplainRequest) {
			r.Method = &explainerv1.ExplainRequest_Occlusion{Occlusion: &explainerv1.OcclusionOptions{}}
		})},
	}
}

// mbDataset is n rows of mbFeatures features, with mbScore's hard
// predictions as targets except every 7th row flipped.
func mbDataset(n int) ([][]float64, []float64) {
	rows := make([][]float64, n)
	targets := make([]float64, n)
	score := mbScore()
	for i := range rows {
		rows[i] = make([]float64, mbFeatures)
		for j := range rows[i] {
			rows[i][j] = math.Sin(float64(i*mbFeatures+j)) * float64(j%5+1)
		}
		if score(rows[i : i+1])[0][1] > 0.5 {
			targets[i] = 1
		}
		if i%7 == 0 {
			targets[i] = 1 - targets[i]
		}
	}
	return rows, targets
}

// BenchmarkMethodsModelBound runs one explanation of every method through
// the whole sidecar against a model server that takes L = 20 ms + c = 2 µs
// per row per call, --in-flight 4, in two settings: a row cap of 64
// (max_batch_size 64) and no row cap (max_batch_size 0, input [-1, -1]:
// only --max-batch-bytes, 3 MiB, splits); the image methods also without a
// row cap against models whose input is FP16 (a TensorRT plan) or UINT8
// (pixels 0 to 255), 2 and 1 bytes a value. It reports, as medians over
// the explanations (run it with -benchtime 3x or more):
//
//   - x_ideal: wall time (wall-ms) ÷ the model-bound ideal (ideal-ms): the
//     rows the method scores in k = max(⌈rows ÷ cap⌉, ⌈bytes ÷ 3 MiB⌉)
//     calls of ⌈rows ÷ k⌉ rows, 4 at once, each L + c·rows;
//   - x_direct: wall time ÷ the time the same calls take when a client
//     sends them straight to the model, 4 at once, right after (what the
//     model needs with this machine's transport and timers; the rest is
//     the sidecar's);
//   - calls and ideal-calls (k), rows, and max-rows (the largest call);
//   - inflight: the time calls spent at the model ÷ wall time (4 when the
//     model always has 4 calls);
//   - cpu-ms/op: the sidecar's CPU time per explanation (user + system of
//     this process, which holds the sidecar and its client; the model runs
//     in another);
//   - x_lime_loop, for the 100-row LIME batch (no row cap only): wall time
//     ÷ the time lime's loop over the rows needs of the model alone (one
//     call of 5000 rows per row, one after another; see limeLoop).
func BenchmarkMethodsModelBound(b *testing.B) {
	for _, setting := range []struct {
		name     string
		cap      int
		datatype string  // the model's input, FP32 when ""
		scale    float32 // of the image's values in [0, 1]
	}{{"cap=64", 64, "", 1}, {"nocap", 0, "", 1}, {"nocap-fp16", 0, predictor.FP16, 1}, {"nocap-uint8", 0, predictor.UINT8, 255}} {
		b.Run(setting.name, func(b *testing.B) {
			perRow := mbPerRow(b)
			target := startFakeModel(b, mbFakeConfig{MaxBatchSize: setting.cap, Latency: mbLatency, PerRow: perRow, InputDatatype: setting.datatype})
			conn, err := predictor.Dial(target, predictor.WithInsecure())
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			for _, tc := range modelBoundCases(setting.scale) {
				if (tc.nocapOnly && setting.cap > 0) || (setting.datatype != "" && !tc.image) {
					continue
				}
				b.Run(tc.name, func(b *testing.B) {
					cc := &countingClient{KServeV2: predictor.NewKServeV2(conn, "model")}
					sc := startSidecar(b, func(string) predictor.Client { return cc }, WithInFlight(mbInFlight))
					// Warm up (the model's description, the connections),
					// recording the calls for the replays.
					recorded := cc.record(func() {
						if _, err := sc.client.Explain(context.Background(), tc.req); err != nil {
							b.Fatal(err)
						}
					})
					// Each explanation is followed by a replay of its calls
					// straight to the model (the model and the transport
					// alone, without the sidecar), off the clock: the two are
					// compared under the same load of this shared machine.
					loop := limeLoop(recorded, tc.loop, tc.loopRows)
					var walls, ratios, loopRatios, cpus []float64
					calls0, rows0, bytes0, _, busy0 := cc.snapshot()
					var busyWall time.Duration
					for b.Loop() {
						cpu0 := cpuTime()
						start := time.Now()
						if _, err := sc.client.Explain(context.Background(), tc.req); err != nil {
							b.Fatal(err)
						}
						wall := time.Since(start)
						cpus = append(cpus, float64(cpuTime()-cpu0))
						busyWall += wall
						b.StopTimer()
						direct := replay(b, cc.KServeV2, recorded, mbInFlight)
						if loop != nil {
							loopRatios = append(loopRatios, float64(wall)/float64(replay(b, cc.KServeV2, loop, 1)))
						}
						b.StartTimer()
						walls = append(walls, float64(wall))
						ratios = append(ratios, float64(wall)/float64(direct))
					}
					calls, rows, bytes, maxRows, busy := cc.snapshot()
					n := float64(b.N)
					perRows := int(math.Round(float64(rows-rows0) / n))
					perBytes := int(math.Round(float64(bytes-bytes0) / n))
					k, ideal := modelBoundIdeal(perRows, perBytes, setting.cap, predictor.DefaultMaxBatchBytes, mbInFlight, mbLatency, perRow)
					wall := median(walls)
					b.ReportMetric(wall/float64(ideal), "x_ideal")
					b.ReportMetric(median(ratios), "x_direct")
					b.ReportMetric(wall/1e6, "wall-ms")
					b.ReportMetric(float64(ideal)/1e6, "ideal-ms")
					b.ReportMetric(float64(calls-calls0)/n, "calls")
					b.ReportMetric(float64(k), "ideal-calls")
					b.ReportMetric(float64(perRows), "rows")
					b.ReportMetric(float64(maxRows), "max-rows")
					b.ReportMetric(float64(busy-busy0)/float64(busyWall), "inflight")
					b.ReportMetric(median(cpus)/1e6, "cpu-ms/op")
					if loop != nil {
						b.ReportMetric(median(loopRatios), "x_lime_loop")
					}
				})
			}
		})
	}
}
