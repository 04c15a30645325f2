package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/explainer-sidecar/explainer/predictor"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
	"github.com/explainer-sidecar/explainer/server"
)

// The HTTP model server, http_server.py: KServe v1 and the Open Inference
// Protocol's REST API on one port, three scikit-learn models
// (breast_cancer, sentiment, digits), each rejecting batches above
// httpMaxBatch with 400. A sidecar for each protocol stands in front of it:
// kserve-v1-http, told the batch limit as `serve --max-batch-size` would
// (v1 has no metadata), and kserve-v2-http, which reads it from the
// model's config. A job that succeeds proves the batches kept to it.

const httpMaxBatch = 16

// httpPythonModules are what http_server.py imports: no gRPC, no PyTorch.
const (
	httpPythonModules = "numpy, sklearn"
	httpInstallHint   = "apt-get install -y python3 python3-numpy python3-sklearn"
)

var (
	httpPythonOnce sync.Once
	httpPythonErr  error
	httpOnce       sync.Once
	httpStarted    bool // set under httpOnce; read after the tests
	httpC          = newLazy[*httpStack]()
)

// httpStack is http_server.py and a sidecar per protocol in front of it.
type httpStack struct {
	py       *pyServer
	base     string // http://host:port
	sidecars map[string]*sidecar
}

// requireHTTPPython skips the test (or fails it under CI) when
// http_server.py cannot run here.
func requireHTTPPython(t testing.TB) {
	t.Helper()
	httpPythonOnce.Do(func() {
		if _, err := os.Stat(python); err != nil {
			httpPythonErr = fmt.Errorf("%s: %w", python, err)
			return
		}
		out, err := exec.Command(python, "-c", "import "+httpPythonModules).CombinedOutput()
		if err != nil {
			httpPythonErr = fmt.Errorf("%s cannot import %s: %v\n%s", python, httpPythonModules, err, lastLines(string(out), 5))
		}
	})
	if httpPythonErr == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("the Python HTTP model server cannot run: %v\ninstall it with: %s", httpPythonErr, httpInstallHint)
	}
	t.Skipf("the Python HTTP model server cannot run: %v\ninstall it with: sudo %s", httpPythonErr, httpInstallHint)
}

func getHTTPStack(t testing.TB) *httpStack {
	t.Helper()
	requireHTTPPython(t)
	httpOnce.Do(func() {
		httpStarted = true
		go func() { httpC.set(newHTTPStack()) }()
	})
	select {
	case <-httpC.done:
	case <-time.After(readyTimeout + 30*time.Second):
		t.Fatal("the HTTP model server did not start")
	}
	if httpC.err != nil {
		t.Fatal(httpC.err)
	}
	return httpC.v
}

func newHTTPStack() (*httpStack, error) {
	py, err := startPython("http_server.py", "--max-batch-size", fmt.Sprint(httpMaxBatch))
	if err != nil {
		return nil, err
	}
	s := &httpStack{py: py, base: "http://" + py.addr, sidecars: map[string]*sidecar{}}
	for _, protocol := range []string{"kserve-v1-http", "kserve-v2-http"} {
		sc, err := startHTTPSidecar(s.base, protocol, "breast_cancer")
		if err != nil {
			s.stop()
			return nil, err
		}
		s.sidecars[protocol] = sc
	}
	return s, nil
}

func (s *httpStack) stop() error {
	for _, sc := range s.sidecars {
		sc.stop()
	}
	return s.py.stop()
}

// stopHTTP stops the HTTP stack, if it was started; TestMain calls it.
func stopHTTP() error {
	if !httpStarted {
		return nil
	}
	defer http.DefaultClient.CloseIdleConnections() // postJSON's
	<-httpC.done
	if httpC.v == nil {
		return nil
	}
	return httpC.v.stop()
}

// startHTTPSidecar runs the sidecar as `explainer serve --predictor base
// --protocol protocol --model model` does for the HTTP protocols (see
// cmd/explainer/serve.go's httpClientFunc: one shared transport), on a
// loopback listener, and connects to it.
func startHTTPSidecar(base, protocol, model string) (*sidecar, error) {
	rt := predictor.NewHTTPTransport(nil, server.DefaultInFlight*server.DefaultMaxConcurrentJobs)
	opts := []server.Option{}
	newClient := func(m string) predictor.Client {
		c, err := predictor.NewKServeV2HTTP(base, m, predictor.WithHTTPTransport(rt))
		if err != nil {
			panic(err) // the URL is checked below, the model plays no part
		}
		return c
	}
	if protocol == "kserve-v1-http" {
		newClient = func(m string) predictor.Client {
			c, err := predictor.NewKServeV1HTTP(base, m, predictor.WithHTTPTransport(rt))
			if err != nil {
				panic(err)
			}
			return c
		}
		// v1 has no metadata: the batch limit is the operator's to give.
		opts = append(opts, server.WithMaxBatchSize(httpMaxBatch))
	}
	if _, err := predictor.NewKServeV1HTTP(base, model); err != nil {
		return nil, err
	}
	log := slog.New(slog.DiscardHandler)
	metrics := server.NewMetrics(nil)
	srv := server.New(newClient, append([]server.Option{
		server.WithDefaultModel(model),
		server.WithInFlight(server.DefaultInFlight),
		server.WithJobTimeout(jobTimeout),
		server.WithLogger(log),
		server.WithMetrics(metrics),
	}, opts...)...)
	gs := grpc.NewServer(server.GRPCServerOptionsWith(log, metrics)...)
	srv.Register(gs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
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
		return nil, err
	}
	return &sidecar{
		addr:   lis.Addr().String(),
		client: explainerv1.NewExplainerServiceClient(cc),
		health: healthpb.NewHealthClient(cc),
		stop: func() {
			cc.Close()
			srv.Shutdown()
			cancel()
			gs.GracefulStop()
			wg.Wait()
			rt.CloseIdleConnections()
		},
	}, nil
}

// postJSON posts v to the model server and decodes its 200 reply into out:
// the tests' own calls, without the predictor package.
func postJSON(t *testing.T, url string, v, out any) {
	t.Helper()
	body, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(ctxTimeout(t), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %s: %s", url, resp.Status, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
}

// v1Predict scores instances with the model server's v1 :predict.
func (s *httpStack) v1Predict(t *testing.T, model string, instances any) [][]float64 {
	t.Helper()
	var r struct{ Predictions [][]float64 }
	postJSON(t, s.base+"/v1/models/"+model+":predict", map[string]any{"instances": instances}, &r)
	return r.Predictions
}

// v2Infer scores one input tensor with the model server's v2 infer and
// returns its output as rows of classes.
func (s *httpStack) v2Infer(t *testing.T, model, input, datatype string, shape []int, data any) [][]float64 {
	t.Helper()
	var r struct {
		Outputs []struct {
			Shape []int
			Data  []float64
		}
	}
	postJSON(t, s.base+"/v2/models/"+model+"/infer", map[string]any{
		"inputs": []any{map[string]any{"name": input, "datatype": datatype, "shape": shape, "data": data}},
	}, &r)
	if len(r.Outputs) != 1 || len(r.Outputs[0].Shape) != 2 {
		t.Fatalf("v2 infer %s: outputs %+v", model, r.Outputs)
	}
	k := r.Outputs[0].Shape[1]
	var rows [][]float64
	for i := range r.Outputs[0].Shape[0] {
		rows = append(rows, r.Outputs[0].Data[i*k:(i+1)*k])
	}
	return rows
}

var httpProtocols = []string{"kserve-v1-http", "kserve-v2-http"}

// TestHTTPHealth: each sidecar reports the model server ready, through
// GET /v1/models/NAME and /v2/health/ready + /v2/models/NAME/ready.
func TestHTTPHealth(t *testing.T) {
	t.Parallel()
	s := getHTTPStack(t)
	for _, protocol := range httpProtocols {
		t.Run(protocol, func(t *testing.T) {
			deadline := time.Now().Add(20 * time.Second)
			var last healthpb.HealthCheckResponse_ServingStatus
			for time.Now().Before(deadline) {
				resp, err := s.sidecars[protocol].health.Check(ctxTimeout(t), &healthpb.HealthCheckRequest{Service: server.ServiceName})
				if err != nil {
					t.Fatal(err)
				}
				if last = resp.GetStatus(); last == healthpb.HealthCheckResponse_SERVING {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
			t.Fatalf("health %v, want SERVING; the model server's stderr:\n%s", last, lastLines(s.py.stderr.String(), 20))
		})
	}
}

// TestHTTPTabularLIME explains breast-cancer rows with LIME over the
// training data through each HTTP protocol: the explained class is the
// model's prediction, the instance's scores are the model's (as v1 and v2
// return them directly), and batches kept to the server's limit.
func TestHTTPTabularLIME(t *testing.T) {
	t.Parallel()
	s := getHTTPStack(t)
	tab := loadBreastCancer(t)
	rows := [][]float64{tab.Rows[0], tab.Rows[19]}
	direct := s.v1Predict(t, "breast_cancer", rows)
	if v2 := s.v2Infer(t, "breast_cancer", "input-0", "FP64", []int{2, 30}, slices.Concat(rows...)); !closeRows(v2, direct, 1e-12) {
		t.Fatalf("the model server's v1 and v2 disagree: %v and %v", direct, v2)
	}
	if argmax(direct[0]) != 0 || argmax(direct[1]) != 1 {
		t.Fatalf("the model server scores rows 0 and 19 as %v: want malignant (0) then benign (1)", direct)
	}
	seed := uint64(3)
	for _, protocol := range httpProtocols {
		for i, row := range []int{0, 19} {
			t.Run(fmt.Sprintf("%s/row %d", protocol, row), func(t *testing.T) {
				exp, _ := explainStream(t, s.sidecars[protocol].client, &explainerv1.ExplainRequest{
					Instance: &explainerv1.Instance{Kind: &explainerv1.Instance_Tabular{Tabular: &explainerv1.TabularInstance{Values: tab.Rows[row]}}},
					Method: &explainerv1.ExplainRequest_Lime{Lime: &explainerv1.LimeOptions{
						NumSamples: 1000, Seed: &seed,
						Training: &explainerv1.TrainingData{Source: &explainerv1.TrainingData_Dataset{Dataset: dataset(tab, allRows(len(tab.Rows)))}},
					}},
				})
				checkBatching(t, exp, httpMaxBatch)
				checkScores(t, "instance_scores", exp.GetInstanceScores(), direct[i], 1e-9)
				if len(exp.GetLabels()) != 1 || int(exp.GetLabels()[0].GetLabel()) != argmax(direct[i]) {
					t.Fatalf("explained labels %v, want the model's prediction %d", exp.GetLabels(), argmax(direct[i]))
				}
				if len(exp.GetLabels()[0].GetAttributions()) == 0 {
					t.Fatal("no attributions")
				}
				t.Logf("%d samples in %d calls", exp.GetNumSamples(), exp.GetModelCalls())
			})
		}
	}
}

// TestHTTPTextLIME explains the sentiment model's verdict with lime_text
// through each protocol (v1: JSON strings; v2: a BYTES tensor of JSON
// strings): the explained class is the model's, and the word that pushes
// hardest toward it is one of the sentence's sentiment words.
func TestHTTPTextLIME(t *testing.T) {
	t.Parallel()
	s := getHTTPStack(t)
	sentences := []struct {
		text  string
		label int
		words []string
	}{
		{"the food was wonderful and the staff were friendly", 1, []string{"wonderful", "friendly"}},
		{"terrible service and awful food", 0, []string{"terrible", "awful"}},
	}
	seed := uint64(11)
	for _, sen := range sentences {
		direct := s.v1Predict(t, "sentiment", []string{sen.text})[0]
		if argmax(direct) != sen.label || direct[sen.label] <= 0.9 {
			t.Fatalf("the model server scores %q as %v: want class %d above 0.9", sen.text, direct, sen.label)
		}
		for _, protocol := range httpProtocols {
			t.Run(fmt.Sprintf("%s/%s", protocol, strings.Fields(sen.text)[0]), func(t *testing.T) {
				exp, _ := explainStream(t, s.sidecars[protocol].client, &explainerv1.ExplainRequest{
					Model:    "sentiment",
					Instance: &explainerv1.Instance{Kind: &explainerv1.Instance_Text{Text: &explainerv1.TextInstance{Text: sen.text}}},
					Method:   &explainerv1.ExplainRequest_LimeText{LimeText: &explainerv1.LimeTextOptions{NumSamples: 500, Seed: &seed}},
				})
				checkBatching(t, exp, httpMaxBatch)
				tol := 1e-9
				if protocol == "kserve-v2-http" {
					tol = 1e-6 // the v2 output is FP32
				}
				checkScores(t, "instance_scores", exp.GetInstanceScores(), direct, tol)
				if len(exp.GetLabels()) != 1 || int(exp.GetLabels()[0].GetLabel()) != sen.label {
					t.Fatalf("explained labels %v, want the model's prediction %d", exp.GetLabels(), sen.label)
				}
				top := slices.MaxFunc(exp.GetLabels()[0].GetAttributions(), cmpWeight)
				if top.GetWeight() <= 0 || !slices.Contains(sen.words, top.GetFeature()) {
					t.Errorf("top attribution %q (%v), want one of %q, positive", top.GetFeature(), top.GetWeight(), sen.words)
				}
				t.Logf("top %q %.4f; %d samples in %d calls", top.GetFeature(), top.GetWeight(), exp.GetNumSamples(), exp.GetModelCalls())
			})
		}
	}
}

// TestHTTPImageLIME explains the digits model's verdict with lime_image
// through each protocol (v1: nested [1][8][8] arrays; v2: an FP32 [N, 1,
// 8, 8] tensor): the explained class is the model's and the true digit,
// and most of the attribution sits on the digit's ink (hidden segments
// take 0, the paper's value).
func TestHTTPImageLIME(t *testing.T) {
	t.Parallel()
	s := getHTTPStack(t)
	digits := loadDigits(t)
	var images [][]float64
	for _, d := range digits {
		images = append(images, d.Pixels)
	}
	direct := s.v2Infer(t, "digits", "pixels", "FP32", []int{len(images), 1, 8, 8}, slices.Concat(images...))
	for i, d := range digits {
		if argmax(direct[i]) != d.Label {
			t.Fatalf("the model server classifies digits image %d (a %d) as %d", d.Index, d.Label, argmax(direct[i]))
		}
	}
	seed := uint64(5)
	for _, protocol := range httpProtocols {
		for i, d := range digits {
			t.Run(fmt.Sprintf("%s/%d", protocol, d.Label), func(t *testing.T) {
				exp, _ := explainStream(t, s.sidecars[protocol].client, &explainerv1.ExplainRequest{
					Model:    "digits",
					Instance: imageInstance(d),
					Method: &explainerv1.ExplainRequest_LimeImage{LimeImage: &explainerv1.LimeImageOptions{
						Segmentation: &explainerv1.Segmentation{Kind: &explainerv1.Segmentation_Grid{Grid: &explainerv1.GridSegmentation{Rows: 4, Cols: 4}}},
						Fill:         &explainerv1.Fill{Kind: explainerv1.FillKind_FILL_KIND_CONSTANT, Value: 0},
						NumSamples:   300,
						Seed:         &seed,
					}},
				})
				checkBatching(t, exp, httpMaxBatch)
				checkScores(t, "instance_scores", exp.GetInstanceScores(), direct[i], 1e-6)
				if len(exp.GetLabels()) != 1 || int(exp.GetLabels()[0].GetLabel()) != d.Label {
					t.Fatalf("explained labels %v, want the model's prediction %d", exp.GetLabels(), d.Label)
				}
				ink := map[uint32]float64{}
				for p, sgm := range exp.GetSegments().GetLabels() {
					ink[sgm] += d.Pixels[p]
				}
				var onInk, onBlank float64
				for _, a := range exp.GetLabels()[0].GetAttributions() {
					if ink[a.GetIndex()] > 0 {
						onInk += math.Abs(a.GetWeight())
					} else {
						onBlank += math.Abs(a.GetWeight())
					}
				}
				top := slices.MaxFunc(exp.GetLabels()[0].GetAttributions(), cmpWeight)
				if top.GetWeight() <= 0 || ink[top.GetIndex()] == 0 || onInk <= onBlank {
					t.Errorf("top segment %d (weight %v, ink %v); Σ|weight| on ink %v, on blank %v: want the top segment inked and most weight on ink",
						top.GetIndex(), top.GetWeight(), ink[top.GetIndex()], onInk, onBlank)
				}
			})
		}
	}
}

// TestHTTPErrors: the model server's refusals reach the client as
// FAILED_PRECONDITION with its own message: an unknown model (naming
// the models it hosts) and a text sent to the tabular model.
func TestHTTPErrors(t *testing.T) {
	t.Parallel()
	s := getHTTPStack(t)
	for _, protocol := range httpProtocols {
		t.Run(protocol, func(t *testing.T) {
			c := s.sidecars[protocol].client
			text := &explainerv1.Instance{Kind: &explainerv1.Instance_Text{Text: &explainerv1.TextInstance{Text: "good food"}}}
			method := &explainerv1.ExplainRequest_LimeText{LimeText: &explainerv1.LimeTextOptions{NumSamples: 50}}
			_, err := c.Explain(ctxTimeout(t), &explainerv1.ExplainRequest{Model: "sentimnet", Instance: text, Method: method})
			if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), `model "sentimnet" not found`) ||
				!strings.Contains(err.Error(), "this server hosts") {
				t.Errorf("unknown model: %v, want FAILED_PRECONDITION naming the model and the server's models", err)
			}
			_, err = c.Explain(ctxTimeout(t), &explainerv1.ExplainRequest{Model: "breast_cancer", Instance: text, Method: method})
			if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "model server rejected the request") {
				t.Errorf("text to a tabular model: %v, want FAILED_PRECONDITION", err)
			}
			t.Logf("%v", err)
		})
	}
}

// closeRows reports whether a and b hold the same scores within tol.
func closeRows(a, b [][]float64, tol float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		for j := range a[i] {
			if math.Abs(a[i][j]-b[i][j]) > tol {
				return false
			}
		}
	}
	return true
}

// TestHTTPBinaryTensors: the binary tensor data extension against the
// Python server, both ways, through a Batcher: the same scores as JSON.
func TestHTTPBinaryTensors(t *testing.T) {
	t.Parallel()
	s := getHTTPStack(t)
	digits := loadDigits(t)
	var images [][]float64
	for _, d := range digits {
		images = append(images, d.Pixels)
	}
	want := s.v2Infer(t, "digits", "pixels", "FP32", []int{len(images), 1, 8, 8}, slices.Concat(images...))
	for _, opts := range [][]predictor.HTTPOption{
		{predictor.WithBinaryInputs(true)},
		{predictor.WithBinaryOutputs(true)},
		{predictor.WithBinaryInputs(true), predictor.WithBinaryOutputs(true)},
	} {
		c, err := predictor.NewKServeV2HTTP(s.base, "digits", opts...)
		if err != nil {
			t.Fatal(err)
		}
		b := predictor.NewBatcher(c, predictor.WithInstanceShape(1, 8, 8), predictor.WithMaxBatchSize(2))
		got, err := b.Predict(ctxTimeout(t), images)
		if err != nil {
			t.Fatal(err)
		}
		if !closeRows(got, want, 0) {
			t.Errorf("binary tensors give %v, JSON %v", got, want)
		}
		st, err := predictor.NewKServeV2HTTP(s.base, "sentiment", opts...)
		if err != nil {
			t.Fatal(err)
		}
		text := "terrible service and awful food, ünïcode"
		gotT, err := predictor.NewBatcher(st).PredictText(ctxTimeout(t), []string{text})
		if err != nil {
			t.Fatal(err)
		}
		wantT := s.v2Infer(t, "sentiment", "text", "BYTES", []int{1, 1}, []string{text})
		if !closeRows(gotT, wantT, 0) {
			t.Errorf("binary text gives %v, JSON %v", gotT, wantT)
		}
		c.CloseIdleConnections()
		st.CloseIdleConnections()
	}
}
