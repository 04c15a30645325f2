package predictor_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/explainer-sidecar/explainer/predictor"
	"github.com/explainer-sidecar/explainer/predictor/predictortest"
)

// fakeHTTP is an in-process KServe model server over HTTP, v1 and v2 REST,
// for one model, "m". Its scores: row r gets [σ(−Σr), σ(Σr)]; text t gets
// [1 − len(t)/100, len(t)/100]. Set the knobs before serving.
type fakeHTTP struct {
	// fault, when set, is called first for every request with its number
	// (from 0); returning true means it wrote the reply.
	fault func(call int, w http.ResponseWriter, r *http.Request) bool
	// maxBatch rejects larger batches with 400, as Triton does; 0: none.
	maxBatch int
	// binaryOut answers v2 infer in binary when asked.
	binaryOut bool
	// noConfig answers 404 on the v2 config path (KServe's runtimes).
	noConfig bool
	// notReady answers "ready": false.
	notReady atomic.Bool

	calls    atomic.Int64
	infers   atomic.Int64
	inFlight atomic.Int64
	maxIn    atomic.Int64
	maxRows  atomic.Int64
	conns    atomic.Int64 // connections opened

	mu      sync.Mutex
	lastReq []byte
	lastHdr http.Header
}

func (f *fakeHTTP) last() ([]byte, http.Header) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastReq, f.lastHdr
}

func httpScore(r []float64) []float64 {
	var s float64
	for _, v := range r {
		s += v
	}
	p := 1 / (1 + math.Exp(-s))
	return []float64{1 - p, p}
}

func textScore(t string) []float64 {
	p := float64(len(t)) / 100
	return []float64{1 - p, p}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeHTTP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	call := int(f.calls.Add(1) - 1)
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		m := f.maxIn.Load()
		if n <= m || f.maxIn.CompareAndSwap(m, n) {
			break
		}
	}
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.lastReq, f.lastHdr = body, r.Header.Clone()
	f.mu.Unlock()
	if f.fault != nil && f.fault(call, w, r) {
		return
	}
	switch p := r.URL.Path; {
	case p == "/v1/models/m:predict" && r.Method == http.MethodPost:
		f.v1Predict(w, body)
	case p == "/v1/models/m" && r.Method == http.MethodGet:
		writeJSON(w, 200, map[string]any{"name": "m", "ready": !f.notReady.Load()})
	case p == "/v2/health/ready":
		writeJSON(w, 200, map[string]any{"ready": true})
	case p == "/v2/models/m/ready" || p == "/v2/models/m/versions/3/ready":
		writeJSON(w, 200, map[string]any{"name": "m", "ready": !f.notReady.Load()})
	case p == "/v2/models/m" || p == "/v2/models/m/versions/3":
		writeJSON(w, 200, map[string]any{
			"name": "m", "versions": []string{"3"}, "platform": "fake",
			"inputs": []map[string]any{
				{"name": "x", "datatype": "FP32", "shape": []int{-1, 3}},
				{"name": "text", "datatype": "BYTES", "shape": []int{-1, 1}},
			},
			"outputs": []map[string]any{{"name": "p", "datatype": "FP32", "shape": []int{-1, 2}}},
		})
	case p == "/v2/models/m/config":
		if f.noConfig {
			writeJSON(w, 404, map[string]any{"detail": "Not Found"})
			return
		}
		writeJSON(w, 200, map[string]any{"name": "m", "max_batch_size": f.maxBatch})
	case (p == "/v2/models/m/infer" || p == "/v2/models/m/versions/3/infer") && r.Method == http.MethodPost:
		f.v2Infer(w, r, body)
	case strings.HasPrefix(p, "/v1/models/") || strings.HasPrefix(p, "/v2/models/"):
		writeJSON(w, 404, map[string]any{"error": "model not found; this server hosts [m]"})
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeHTTP) seeRows(n int) bool {
	f.infers.Add(1)
	for {
		m := f.maxRows.Load()
		if int64(n) <= m || f.maxRows.CompareAndSwap(m, int64(n)) {
			break
		}
	}
	return f.maxBatch == 0 || n <= f.maxBatch
}

func (f *fakeHTTP) v1Predict(w http.ResponseWriter, body []byte) {
	var req struct {
		Instances []json.RawMessage `json:"instances"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeJSON(w, 400, map[string]any{"error": "bad JSON"})
		return
	}
	if !f.seeRows(len(req.Instances)) {
		writeJSON(w, 400, map[string]any{"error": fmt.Sprintf("batch of %d exceeds %d", len(req.Instances), f.maxBatch)})
		return
	}
	preds := make([][]float64, 0, len(req.Instances))
	for _, in := range req.Instances {
		var text string
		if json.Unmarshal(in, &text) == nil {
			preds = append(preds, textScore(text))
			continue
		}
		var flat []float64
		if err := flattenJSON(in, &flat); err != nil {
			writeJSON(w, 400, map[string]any{"error": err.Error()})
			return
		}
		preds = append(preds, httpScore(flat))
	}
	writeJSON(w, 200, map[string]any{"predictions": preds})
}

// flattenJSON appends the numbers of a nested JSON array to dst.
func flattenJSON(raw json.RawMessage, dst *[]float64) error {
	var v float64
	if json.Unmarshal(raw, &v) == nil {
		*dst = append(*dst, v)
		return nil
	}
	var arr []json.RawMessage
	if err := json.Unmarshal(raw, &arr); err != nil {
		return errors.New("instance is not numbers")
	}
	for _, e := range arr {
		if err := flattenJSON(e, dst); err != nil {
			return err
		}
	}
	return nil
}

type tensorJSON struct {
	Name       string          `json:"name"`
	Datatype   string          `json:"datatype"`
	Shape      []int           `json:"shape"`
	Data       json.RawMessage `json:"data"`
	Parameters map[string]any  `json:"parameters"`
}

func (f *fakeHTTP) v2Infer(w http.ResponseWriter, r *http.Request, body []byte) {
	js, bin := body, []byte(nil)
	if hl := r.Header.Get("Inference-Header-Content-Length"); hl != "" {
		n, err := strconv.Atoi(hl)
		if err != nil || n > len(body) {
			writeJSON(w, 400, map[string]any{"error": "bad header length"})
			return
		}
		js, bin = body[:n], body[n:]
	}
	var req struct {
		Inputs     []tensorJSON    `json:"inputs"`
		Outputs    []tensorJSON    `json:"outputs"`
		Parameters map[string]bool `json:"parameters"`
	}
	if err := json.Unmarshal(js, &req); err != nil || len(req.Inputs) != 1 || len(req.Inputs[0].Shape) == 0 {
		writeJSON(w, 400, map[string]any{"error": "want one input"})
		return
	}
	in := req.Inputs[0]
	n := in.Shape[0]
	if !f.seeRows(n) {
		writeJSON(w, 400, map[string]any{"error": fmt.Sprintf("inference request batch-size must be <= %d", f.maxBatch)})
		return
	}
	var out [][]float64
	switch {
	case in.Name == "text" && in.Datatype == "BYTES":
		var texts []string
		if bin != nil {
			for rest := bin; len(rest) >= 4; {
				l := binary.LittleEndian.Uint32(rest)
				texts = append(texts, string(rest[4:4+l]))
				rest = rest[4+l:]
			}
		} else if err := json.Unmarshal(in.Data, &texts); err != nil {
			writeJSON(w, 400, map[string]any{"error": "texts"})
			return
		}
		for _, t := range texts {
			out = append(out, textScore(t))
		}
	case in.Name == "x":
		var flat []float64
		if bin != nil {
			size := map[string]int{"FP64": 8, "INT64": 8, "FP32": 4, "FP16": 2, "UINT8": 1}[in.Datatype]
			for i := 0; i+size <= len(bin); i += size {
				switch in.Datatype {
				case "FP16":
					flat = append(flat, predictortest.HalfValue(binary.LittleEndian.Uint16(bin[i:])))
				case "UINT8":
					flat = append(flat, float64(bin[i]))
				case "FP32":
					flat = append(flat, float64(math.Float32frombits(binary.LittleEndian.Uint32(bin[i:]))))
				case "FP64":
					flat = append(flat, math.Float64frombits(binary.LittleEndian.Uint64(bin[i:])))
				default:
					flat = append(flat, float64(int64(binary.LittleEndian.Uint64(bin[i:]))))
				}
			}
		} else if err := flattenJSON(in.Data, &flat); err != nil {
			writeJSON(w, 400, map[string]any{"error": err.Error()})
			return
		} else if in.Datatype == "FP32" {
			for i, v := range flat {
				flat[i] = float64(float32(v))
			}
		}
		if n == 0 || len(flat)%n != 0 {
			writeJSON(w, 400, map[string]any{"error": "shape"})
			return
		}
		width := len(flat) / n
		for i := range n {
			out = append(out, httpScore(flat[i*width:(i+1)*width]))
		}
	default:
		writeJSON(w, 400, map[string]any{"error": "unknown input " + in.Name})
		return
	}
	flat := make([]float32, 0, 2*len(out))
	for _, r := range out {
		flat = append(flat, float32(r[0]), float32(r[1]))
	}
	binOut := f.binaryOut && (req.Parameters["binary_data_output"] || (len(req.Outputs) > 0 && req.Outputs[0].Parameters["binary_data"] == true))
	o := map[string]any{"name": "p", "datatype": "FP32", "shape": []int{len(out), 2}}
	if !binOut {
		o["data"] = flat
		writeJSON(w, 200, map[string]any{"model_name": "m", "outputs": []any{o}})
		return
	}
	raw := make([]byte, 0, 4*len(flat))
	for _, v := range flat {
		raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(v))
	}
	o["parameters"] = map[string]any{"binary_data_size": len(raw)}
	head, _ := json.Marshal(map[string]any{"model_name": "m", "outputs": []any{o}})
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Inference-Header-Content-Length", strconv.Itoa(len(head)))
	_, _ = w.Write(append(head, raw...))
}

// startHTTP serves f on loopback until the test ends, counting
// connections.
func startHTTP(t testing.TB, f *fakeHTTP) *httptest.Server {
	t.Helper()
	s := httptest.NewUnstartedServer(f)
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			f.conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func ctx10s(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func fast() predictor.HTTPOption { return predictor.WithHTTPBackoff(time.Millisecond) }

func newV1(t testing.TB, url string, opts ...predictor.HTTPOption) *predictor.KServeV1HTTP {
	t.Helper()
	c, err := predictor.NewKServeV1HTTP(url, "m", append([]predictor.HTTPOption{fast()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func newV2(t testing.TB, url string, opts ...predictor.HTTPOption) *predictor.KServeV2HTTP {
	t.Helper()
	c, err := predictor.NewKServeV2HTTP(url, "m", append([]predictor.HTTPOption{fast()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func checkHTTPScores(t *testing.T, got, want [][]float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
	for i := range got {
		if len(got[i]) != len(want[i]) {
			t.Fatalf("row %d: %d scores, want %d", i, len(got[i]), len(want[i]))
		}
		for j := range got[i] {
			if math.Abs(got[i][j]-want[i][j]) > tol {
				t.Fatalf("row %d: %v, want %v", i, got[i], want[i])
			}
		}
	}
}

func wantScores(rows [][]float64) [][]float64 {
	out := make([][]float64, len(rows))
	for i, r := range rows {
		out[i] = httpScore(r)
	}
	return out
}

// TestKServeV1HTTP scores rows, shaped rows and texts over the v1
// protocol, and checks the JSON it sends.
func TestKServeV1HTTP(t *testing.T) {
	f := &fakeHTTP{}
	s := startHTTP(t, f)
	c := newV1(t, s.URL)
	ctx := ctx10s(t)

	rows := [][]float64{{0.1, -2.5, 3}, {1e-7, 2e20, -1}}
	got, err := c.Score(ctx, rows)
	if err != nil {
		t.Fatal(err)
	}
	checkHTTPScores(t, got, wantScores(rows), 1e-12)
	body, hdr := f.last()
	if string(body) != `{"instances":[[0.1,-2.5,3],[1e-07,2e+20,-1]]}` {
		t.Errorf("sent %s", body)
	}
	if hdr.Get("Content-Type") != "application/json" {
		t.Errorf("Content-Type %q", hdr.Get("Content-Type"))
	}

	got, err = c.ScoreShaped(ctx, [][]float64{{1, 2, 3, 4, 5, 6}}, []int{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	checkHTTPScores(t, got, wantScores([][]float64{{1, 2, 3, 4, 5, 6}}), 1e-12)
	if body, _ := f.last(); string(body) != `{"instances":[[[[1,2,3],[4,5,6]]]]}` {
		t.Errorf("sent %s", body)
	}

	texts := []string{"good food", "a \"quoted\" \n text"}
	got, err = c.ScoreText(ctx, texts)
	if err != nil {
		t.Fatal(err)
	}
	checkHTTPScores(t, got, [][]float64{textScore(texts[0]), textScore(texts[1])}, 1e-12)

	if _, err := c.ScoreText(ctx, []string{"ok", "\xff"}); !errors.Is(err, predictor.ErrInvalidInput) {
		t.Errorf("invalid UTF-8: %v, want ErrInvalidInput", err)
	}
	if _, err := c.Score(ctx, [][]float64{{1, math.NaN()}}); !errors.Is(err, predictor.ErrInvalidInput) {
		t.Errorf("NaN: %v, want ErrInvalidInput", err)
	}

	info, err := c.Describe(ctx)
	if err != nil || !reflect.DeepEqual(info, predictor.ModelInfo{Name: "m", BatchRule: predictor.BatchNoLimit}) {
		t.Errorf("Describe: %+v, %v; want the name alone, with no batch limit", info, err)
	}
	if err := c.Ready(ctx); err != nil {
		t.Errorf("Ready: %v", err)
	}
	f.notReady.Store(true)
	if err := c.Ready(ctx); !errors.Is(err, predictor.ErrUnavailable) {
		t.Errorf("Ready when not ready: %v, want ErrUnavailable", err)
	}
}

// TestKServeV1HTTPScalars: a bare number per instance is refused, naming
// the shape, unless WithScalarPredictions.
func TestKServeV1HTTPScalars(t *testing.T) {
	f := &fakeHTTP{fault: func(_ int, w http.ResponseWriter, _ *http.Request) bool {
		writeJSON(w, 200, map[string]any{"predictions": []int{1, 0}})
		return true
	}}
	s := startHTTP(t, f)
	rows := [][]float64{{1}, {2}}
	_, err := newV1(t, s.URL).Score(ctx10s(t), rows)
	if !errors.Is(err, predictor.ErrBadOutput) || !strings.Contains(err.Error(), "shape [N]") {
		t.Errorf("labels: %v, want ErrBadOutput naming the shape", err)
	}
	got, err := newV1(t, s.URL, predictor.WithScalarPredictions(true)).Score(ctx10s(t), rows)
	if err != nil {
		t.Fatal(err)
	}
	checkHTTPScores(t, got, [][]float64{{1}, {0}}, 0)
}

// TestKServeV2HTTP sends every input data type as JSON and binary, and
// reads JSON and binary outputs.
func TestKServeV2HTTP(t *testing.T) {
	for _, datatype := range []string{"FP32", "FP64", "INT64", "FP16", "UINT8"} {
		rows := [][]float64{{0.1, -2.4, 3.6}, {1e6 + 0.3, 7, -0.5000001}}
		if datatype == "FP16" || datatype == "UINT8" {
			rows = halfAndByteRows
		}
		for _, binIn := range []bool{false, true} {
			for _, binOut := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/binary-in=%v/binary-out=%v", datatype, binIn, binOut), func(t *testing.T) {
					f := &fakeHTTP{binaryOut: true}
					s := startHTTP(t, f)
					c := newV2(t, s.URL, predictor.WithInputDatatype(datatype),
						predictor.WithBinaryInputs(binIn), predictor.WithBinaryOutputs(binOut))
					got, err := c.Score(ctx10s(t), rows)
					if err != nil {
						t.Fatal(err)
					}
					// What the server saw: each value as the data type holds it.
					seen := make([][]float64, len(rows))
					for i, r := range rows {
						for _, v := range r {
							switch datatype {
							case "FP32":
								v = float64(float32(v))
							case "INT64", "UINT8":
								v = math.Round(v)
							case "FP16":
								v = halfOf[v]
							}
							seen[i] = append(seen[i], v)
						}
					}
					want := wantScores(seen)
					for _, r := range want { // the fake answers FP32
						for j := range r {
							r[j] = float64(float32(r[j]))
						}
					}
					checkHTTPScores(t, got, want, 0)
					body, hdr := f.last()
					if binIn != (hdr.Get("Inference-Header-Content-Length") != "") {
						t.Errorf("binary inputs %v, header %q", binIn, hdr.Get("Inference-Header-Content-Length"))
					}
					if !binIn && datatype == "FP32" && !bytes.Contains(body, []byte(`"data":[0.1,-2.4,3.6,1.0000003e+06,7,-0.5000001]`)) {
						t.Errorf("sent %s", body)
					}
					if !bytes.Contains(body, []byte(`"outputs":[{"name":"p"`)) {
						t.Errorf("the output is not requested by name: %s", body)
					}
				})
			}
		}
	}
}

func TestKServeV2HTTPText(t *testing.T) {
	for _, binIn := range []bool{false, true} {
		t.Run(fmt.Sprintf("binary=%v", binIn), func(t *testing.T) {
			f := &fakeHTTP{}
			s := startHTTP(t, f)
			c := newV2(t, s.URL, predictor.WithBinaryInputs(binIn))
			texts := []string{"good food", "", "ünïcode \"quoted\""}
			got, err := c.ScoreText(ctx10s(t), texts)
			if err != nil {
				t.Fatal(err)
			}
			want := [][]float64{}
			for _, x := range texts {
				r := textScore(x)
				want = append(want, []float64{float64(float32(r[0])), float64(float32(r[1]))})
			}
			checkHTTPScores(t, got, want, 0)
			body, _ := f.last()
			if !bytes.Contains(body, []byte(`"name":"text","datatype":"BYTES","shape":[3,1]`)) {
				t.Errorf("sent %s", body)
			}
		})
	}
}

// TestKServeV2HTTPDescribe: the metadata and Triton's config give the
// features, classes, kind and batch limit; a server without the config
// path (KServe) leaves the limit at 0.
func TestKServeV2HTTPDescribe(t *testing.T) {
	for _, tc := range []struct {
		name     string
		f        *fakeHTTP
		wantRows int
	}{
		{"triton", &fakeHTTP{maxBatch: 8}, 8},
		{"kserve", &fakeHTTP{noConfig: true}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startHTTP(t, tc.f)
			info, err := newV2(t, s.URL).Describe(ctx10s(t))
			want := predictor.ModelInfo{Name: "m", NumFeatures: 3, NumClasses: 2, MaxBatchSize: tc.wantRows, InputKind: predictor.InputTabular}
			if err != nil || info.Name != want.Name || info.NumFeatures != want.NumFeatures || info.NumClasses != want.NumClasses ||
				info.MaxBatchSize != want.MaxBatchSize || info.InputKind != want.InputKind {
				t.Fatalf("Describe: %+v, %v; want %+v", info, err, want)
			}
		})
	}
}

func TestKServeV2HTTPReadyAndVersion(t *testing.T) {
	f := &fakeHTTP{}
	s := startHTTP(t, f)
	c := newV2(t, s.URL, predictor.WithModelVersion("3"))
	if err := c.Ready(ctx10s(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Score(ctx10s(t), [][]float64{{1, 2, 3}}); err != nil {
		t.Fatal(err)
	}
	f.notReady.Store(true)
	if err := c.Ready(ctx10s(t)); !errors.Is(err, predictor.ErrUnavailable) || !strings.Contains(err.Error(), "model not ready") {
		t.Errorf("Ready: %v, want ErrUnavailable model not ready", err)
	}
	if err := newV2(t, s.URL, predictor.WithModelVersion("9")).Ready(ctx10s(t)); !errors.Is(err, predictor.ErrRejected) {
		t.Errorf("Ready of a missing version: %v, want ErrRejected", err)
	}
}

// TestHTTPErrorMapping: every status becomes the sentinel, the gRPC code
// and the retries of promise 4, with the server's message kept sanitized.
func TestHTTPErrorMapping(t *testing.T) {
	for _, tc := range []struct {
		status int
		kind   error
		code   codes.Code
		calls  int64 // attempts
		has    string
	}{
		{400, predictor.ErrRejected, codes.InvalidArgument, 1, "model server rejected the request: model server says: boom [0m 400 (HTTP 400)"},
		{422, predictor.ErrRejected, codes.InvalidArgument, 1, "(HTTP 422)"},
		{401, predictor.ErrAuth, codes.Unauthenticated, 1, "refused the sidecar's credentials"},
		{403, predictor.ErrAuth, codes.PermissionDenied, 1, "(HTTP 403)"},
		{404, predictor.ErrRejected, codes.NotFound, 1, `model "m" not found: model server says: boom [0m 404`},
		{405, predictor.ErrRejected, codes.Unimplemented, 1, "does not implement"},
		{409, predictor.ErrRejected, codes.FailedPrecondition, 1, "(HTTP 409)"},
		{413, predictor.ErrRejected, codes.ResourceExhausted, 1, "size limit"},
		{408, predictor.ErrUnavailable, codes.DeadlineExceeded, 1, "timed out"},
		{429, predictor.ErrUnavailable, codes.ResourceExhausted, 1, "overloaded"},
		{418, predictor.ErrRejected, codes.FailedPrecondition, 1, "(HTTP 418)"},
		{307, predictor.ErrRejected, codes.FailedPrecondition, 1, "redirected"},
		{500, predictor.ErrFailed, codes.Internal, 1, "model server failed: model server says: boom [0m 500 (HTTP 500)"},
		{501, predictor.ErrRejected, codes.Unimplemented, 1, "(HTTP 501)"},
		{502, predictor.ErrUnavailable, codes.Unavailable, 5, "(HTTP 502)"},
		{503, predictor.ErrUnavailable, codes.Unavailable, 5, "model server unavailable: model server says: boom [0m 503 (HTTP 503)"},
		{504, predictor.ErrUnavailable, codes.DeadlineExceeded, 5, "timed out"},
		{507, predictor.ErrFailed, codes.Internal, 1, "(HTTP 507)"},
	} {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			f := &fakeHTTP{fault: func(_ int, w http.ResponseWriter, _ *http.Request) bool {
				if tc.status == 307 {
					w.Header().Set("Location", "http://elsewhere.invalid/")
				}
				writeJSON(w, tc.status, map[string]any{"error": fmt.Sprintf("boom\x1b[0m\n %d", tc.status)})
				return true
			}}
			s := startHTTP(t, f)
			for _, call := range []func() error{
				func() error { _, err := newV1(t, s.URL).Score(ctx10s(t), [][]float64{{1}}); return err },
				func() error {
					_, err := newV2(t, s.URL, predictor.WithInputName("x"), predictor.WithOutputName("p"), predictor.WithInputDatatype("FP32")).Score(ctx10s(t), [][]float64{{1}})
					return err
				},
			} {
				f.calls.Store(0)
				err := call()
				if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.has) {
					t.Errorf("%v, want %v containing %q", err, tc.kind, tc.has)
				}
				if code, ok := predictor.ServerCode(err); !ok || code != tc.code {
					t.Errorf("ServerCode %v %v, want %v", code, ok, tc.code)
				}
				if n := f.calls.Load(); n != tc.calls {
					t.Errorf("%d attempts, want %d", n, tc.calls)
				}
				if strings.ContainsAny(err.Error(), "\x1b\n") {
					t.Errorf("control characters in %q", err)
				}
			}
		})
	}
}

// TestHTTPRetries: 503s that stop within the attempts are invisible, and
// the Batcher gets the same scores as without them.
func TestHTTPRetries(t *testing.T) {
	f := &fakeHTTP{fault: func(call int, w http.ResponseWriter, _ *http.Request) bool {
		if call < 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	}}
	s := startHTTP(t, f)
	rows := [][]float64{{1, 2}, {3, 4}}
	got, err := newV1(t, s.URL).Score(ctx10s(t), rows)
	if err != nil {
		t.Fatal(err)
	}
	checkHTTPScores(t, got, wantScores(rows), 1e-12)
	if n := f.calls.Load(); n != 3 {
		t.Errorf("%d calls, want 3", n)
	}

	// WithHTTPMaxAttempts(1): no retry.
	f.calls.Store(0)
	if _, err := newV1(t, s.URL, predictor.WithHTTPMaxAttempts(1)).Score(ctx10s(t), rows); !errors.Is(err, predictor.ErrUnavailable) {
		t.Errorf("%v, want ErrUnavailable", err)
	}
	if n := f.calls.Load(); n != 1 {
		t.Errorf("%d calls, want 1", n)
	}
}

// TestHTTPRetryBackoff: the waits between the 5 attempts grow from about
// 0.1 s and stop at the caller's deadline, which is reported as such.
func TestHTTPRetryBackoff(t *testing.T) {
	var times []time.Time
	var mu sync.Mutex
	f := &fakeHTTP{fault: func(_ int, w http.ResponseWriter, _ *http.Request) bool {
		mu.Lock()
		times = append(times, time.Now())
		mu.Unlock()
		w.WriteHeader(http.StatusBadGateway)
		return true
	}}
	s := startHTTP(t, f)
	c, err := predictor.NewKServeV1HTTP(s.URL, "m") // the real backoff
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	start := time.Now()
	_, err = c.Score(ctx10s(t), [][]float64{{1}})
	if !errors.Is(err, predictor.ErrUnavailable) || len(times) != 5 {
		t.Fatalf("%v after %d attempts, want ErrUnavailable after 5", err, len(times))
	}
	if d := time.Since(start); d < 1200*time.Millisecond || d > 5*time.Second {
		t.Errorf("5 attempts took %v, want about 1.5 s", d)
	}
	for i := 1; i < len(times); i++ {
		gap := times[i].Sub(times[i-1])
		want := 100 * time.Millisecond << (i - 1)
		if gap < want*8/10 {
			t.Errorf("wait %d: %v, want at least %v", i, gap, want*8/10)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
	defer cancel()
	times = nil
	start = time.Now()
	_, err = c.Score(ctx, [][]float64{{1}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("%v, want the deadline", err)
	}
	if d := time.Since(start); d > 400*time.Millisecond {
		t.Errorf("returned %v after the start, past the 250 ms deadline", d)
	}
}

// TestHTTPConnectionRefused: nothing listening is ErrUnavailable after the
// attempts.
func TestHTTPConnectionRefused(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	for _, c := range []predictor.Client{newV1(t, "http://"+addr), newV2(t, "http://"+addr)} {
		_, err := c.Score(ctx10s(t), [][]float64{{1}})
		if !errors.Is(err, predictor.ErrUnavailable) || !strings.Contains(err.Error(), "connection refused") {
			t.Errorf("%v, want ErrUnavailable: connection refused", err)
		}
		if code, ok := predictor.ServerCode(err); !ok || code != codes.Unavailable {
			t.Errorf("ServerCode %v %v", code, ok)
		}
		if err := c.Ready(ctx10s(t)); !errors.Is(err, predictor.ErrUnavailable) {
			t.Errorf("Ready: %v, want ErrUnavailable", err)
		}
	}
}

// TestHTTPDeadline: a server that hangs gets the caller's deadline, which
// is not retried, and the request is cancelled.
func TestHTTPDeadline(t *testing.T) {
	released := make(chan struct{})
	f := &fakeHTTP{fault: func(_ int, _ http.ResponseWriter, r *http.Request) bool {
		<-r.Context().Done()
		released <- struct{}{}
		return true
	}}
	s := startHTTP(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := newV2(t, s.URL, predictor.WithInputName("x"), predictor.WithOutputName("p"), predictor.WithInputDatatype("FP32")).Score(ctx, [][]float64{{1}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 300*time.Millisecond {
		t.Errorf("returned after %v", d)
	}
	select {
	case <-released:
	case <-time.After(5 * time.Second):
		t.Fatal("the server's request was not cancelled")
	}
	if n := f.calls.Load(); n != 1 {
		t.Errorf("%d calls, want 1", n)
	}
}

// TestHTTPResponseLimit: a reply over the limit is ErrBadOutput, whether
// its length is announced or not, and is not retried.
func TestHTTPResponseLimit(t *testing.T) {
	big := `{"predictions": [[` + strings.Repeat("0.5,", 1000) + `0.5]]}`
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) {
			f := &fakeHTTP{fault: func(_ int, w http.ResponseWriter, _ *http.Request) bool {
				if !chunked {
					w.Header().Set("Content-Length", strconv.Itoa(len(big)))
				}
				_, _ = io.WriteString(w, big)
				return true
			}}
			s := startHTTP(t, f)
			_, err := newV1(t, s.URL, predictor.WithHTTPMaxResponseBytes(1000)).Score(ctx10s(t), [][]float64{{1}})
			if !errors.Is(err, predictor.ErrBadOutput) || !strings.Contains(err.Error(), "size limit") {
				t.Errorf("%v, want ErrBadOutput over the size limit", err)
			}
			if n := f.calls.Load(); n != 1 {
				t.Errorf("%d calls, want 1", n)
			}
		})
	}
}

// TestHTTPBatcher: the Batcher over each HTTP client splits, keeps to its
// in-flight cap, reuses connections and returns every row in order.
func TestHTTPBatcher(t *testing.T) {
	rows := make([][]float64, 1000)
	for i := range rows {
		rows[i] = []float64{float64(i%7) - 3, 0.5, float64(i%3) * 0.1}
	}
	texts := make([]string, 300)
	for i := range texts {
		texts[i] = strings.Repeat("w", i%50)
	}
	for _, proto := range []string{"v1", "v2"} {
		t.Run(proto, func(t *testing.T) {
			f := &fakeHTTP{maxBatch: 16}
			s := startHTTP(t, f)
			var c predictor.TextClient
			if proto == "v1" {
				c = newV1(t, s.URL)
			} else {
				c = newV2(t, s.URL)
			}
			b := predictor.NewBatcher(c, predictor.WithMaxBatchSize(16), predictor.WithInFlight(3))
			got, err := b.Predict(ctx10s(t), rows)
			if err != nil {
				t.Fatal(err)
			}
			tol := 1e-12
			if proto == "v2" {
				tol = 1e-7 // FP32 in and out
			}
			checkHTTPScores(t, got, wantScores(rows), tol)
			gotT, err := b.PredictText(ctx10s(t), texts)
			if err != nil {
				t.Fatal(err)
			}
			for i, x := range texts {
				checkHTTPScores(t, gotT[i:i+1], [][]float64{textScore(x)}, 1e-7)
			}
			if m := f.maxRows.Load(); m > 16 {
				t.Errorf("a batch of %d rows, want at most 16", m)
			}
			if m := f.maxIn.Load(); m > 3 {
				t.Errorf("%d calls at once, want at most 3", m)
			}
			// A connection goes back to the pool a moment after its reply
			// is read, so a call may open one more now and then.
			if n := f.conns.Load(); n > 6 {
				t.Errorf("%d connections for %d calls, want at most 6 (keep-alive)", n, f.calls.Load())
			}
		})
	}
}

// TestHTTPTLS: https with the server's CA works; without it the
// certificate does not verify (not retried); TLS options with http:// are
// refused; https to a plaintext server says so.
func TestHTTPTLS(t *testing.T) {
	f := &fakeHTTP{}
	s := httptest.NewUnstartedServer(f)
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshake that fails on purpose
	s.StartTLS()
	defer s.Close()
	pool := x509.NewCertPool()
	pool.AddCert(s.Certificate())
	c := newV1(t, s.URL, predictor.WithHTTPTLS(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
	if _, err := c.Score(ctx10s(t), [][]float64{{1}}); err != nil {
		t.Fatal(err)
	}

	f.calls.Store(0)
	_, err := newV1(t, s.URL).Score(ctx10s(t), [][]float64{{1}})
	if !errors.Is(err, predictor.ErrUnavailable) || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("%v, want ErrUnavailable: the certificate does not verify", err)
	}
	if n := f.calls.Load(); n != 0 {
		t.Errorf("%d calls reached the server", n)
	}

	if _, err := predictor.NewKServeV2HTTP("http://127.0.0.1:1", "m", predictor.WithHTTPTLS(nil)); err == nil {
		t.Error("TLS with http:// accepted")
	}

	plain := startHTTP(t, &fakeHTTP{})
	_, err = newV1(t, strings.Replace(plain.URL, "http://", "https://", 1)).Score(ctx10s(t), [][]float64{{1}})
	if !errors.Is(err, predictor.ErrUnavailable) || !strings.Contains(err.Error(), "TLS") {
		t.Errorf("%v, want ErrUnavailable naming TLS", err)
	}
}

func TestHTTPURL(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:8080", "grpc://host:1", "http://", "http://u:p@host", "http://host/?q=1", "http://host/#f", "://x"} {
		if _, err := predictor.NewKServeV1HTTP(u, "m"); err == nil {
			t.Errorf("URL %q accepted", u)
		}
	}
	// A path prefix is kept; the model name is escaped.
	f := &fakeHTTP{fault: func(_ int, w http.ResponseWriter, r *http.Request) bool {
		writeJSON(w, 200, map[string]any{"predictions": [][]float64{{1}}, "path": r.URL.EscapedPath()})
		return true
	}}
	var path atomic.Value
	f.fault = func(_ int, w http.ResponseWriter, r *http.Request) bool {
		path.Store(r.URL.EscapedPath())
		writeJSON(w, 200, map[string]any{"predictions": [][]float64{{1}}})
		return true
	}
	s := startHTTP(t, f)
	c, err := predictor.NewKServeV1HTTP(s.URL+"/serving/", "a b/c")
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	if _, err := c.Score(ctx10s(t), [][]float64{{1}}); err != nil {
		t.Fatal(err)
	}
	if p := path.Load(); p != "/serving/v1/models/a%20b%2Fc:predict" {
		t.Errorf("path %v", p)
	}
}

// TestHTTPHeaders: WithHTTPHeader adds headers, and Host routes.
func TestHTTPHeaders(t *testing.T) {
	var host, auth atomic.Value
	f := &fakeHTTP{fault: func(_ int, _ http.ResponseWriter, r *http.Request) bool {
		host.Store(r.Host)
		auth.Store(r.Header.Get("Authorization"))
		return false
	}}
	s := startHTTP(t, f)
	c := newV1(t, s.URL, predictor.WithHTTPHeader("Authorization", "Bearer t"), predictor.WithHTTPHeader("Host", "m.models.example.com"))
	if _, err := c.Score(ctx10s(t), [][]float64{{1}}); err != nil {
		t.Fatal(err)
	}
	if host.Load() != "m.models.example.com" || auth.Load() != "Bearer t" {
		t.Errorf("Host %v, Authorization %v", host.Load(), auth.Load())
	}
}

// TestHTTPSharedTransport: clients of several models share one pool.
func TestHTTPSharedTransport(t *testing.T) {
	f := &fakeHTTP{}
	s := startHTTP(t, f)
	rt := predictor.NewHTTPTransport(nil, 4)
	defer rt.CloseIdleConnections()
	for range 3 {
		c, err := predictor.NewKServeV1HTTP(s.URL, "m", predictor.WithHTTPTransport(rt))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Score(ctx10s(t), [][]float64{{1}}); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

// TestKServeV2HTTPValueBytes: with binary inputs, MaxBatchBytes counts a
// value as its data type's bytes once Describe has read the metadata; JSON
// numbers count 8.
func TestKServeV2HTTPValueBytes(t *testing.T) {
	s := startHTTP(t, &fakeHTTP{binaryOut: true})
	for _, tc := range []struct {
		binary   bool
		datatype string
		want     int
	}{{true, "FP32", 4}, {true, "FP16", 2}, {true, "UINT8", 1}, {true, "FP64", 8}, {false, "FP16", 8}} {
		c := newV2(t, s.URL, predictor.WithBinaryInputs(tc.binary), predictor.WithInputDatatype(tc.datatype))
		if got := predictor.ValueBytes(c); got != 8 {
			t.Errorf("%s binary %v: %d bytes a value before Describe, want 8", tc.datatype, tc.binary, got)
		}
		if _, err := c.Describe(ctx10s(t)); err != nil {
			t.Fatal(err)
		}
		if got := predictor.ValueBytes(c); got != tc.want {
			t.Errorf("%s binary %v: %d bytes a value, want %d", tc.datatype, tc.binary, got, tc.want)
		}
	}
}
