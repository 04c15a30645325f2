package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/explainer-sidecar/explainer/predictor/predictortest"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// kserveArgs is the argument list KServe gives an explainer container
// (explainer_custom.go's GetContainer), with containerConcurrency 2.
func kserveArgs(predictorHost string) []string {
	return []string{"--model_name", "income", "--predictor_host", predictorHost, "--http_port", "8080", "--workers", "2"}
}

// parseServe parses args as serve does, without starting anything.
func parseServe(t *testing.T, args ...string) (serveConfig, error) {
	t.Helper()
	fs := flag.NewFlagSet("explainer serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var cfg serveConfig
	cfg.flags(fs)
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	return cfg, cfg.applyKServe(fs)
}

func TestKServeArguments(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want func(c serveConfig) string // "" when right
		err  string
	}{
		{name: "KServe's list", args: kserveArgs("income-predictor.default"), want: func(c serveConfig) string {
			if c.model != "income" || c.kserve.modelName != "income" || c.target != "income-predictor.default:80" || c.protocol != "kserve-v1-http" ||
				!c.plaintext || c.http.listen != "0.0.0.0:8080" || c.maxConcurrentJobs != 2 {
				return fmt.Sprintf("%+v", c)
			}
			return ""
		}},
		{name: "a port, v2 over TLS", args: []string{"--model_name", "m", "--predictor_host", "p.ns:8085", "--predictor_protocol", "v2", "--predictor_use_ssl"}, want: func(c serveConfig) string {
			if c.target != "p.ns:8085" || c.protocol != "kserve-v2-http" || c.plaintext || c.http.listen != "" || c.maxConcurrentJobs != 16 {
				return fmt.Sprintf("%+v", c)
			}
			return ""
		}},
		{name: "grpc-v2", args: []string{"--predictor_host", "p.ns:8081", "--predictor_protocol", "grpc-v2"}, want: func(c serveConfig) string {
			if c.target != "p.ns:8081" || c.protocol != "kserve-v2" || !c.plaintext {
				return fmt.Sprintf("%+v", c)
			}
			return ""
		}},
		{name: "serve's flags win", args: append(kserveArgs("p.ns"), "--model", "m2", "--predictor", "other:1", "--protocol", "predict-v1",
			"--http-listen", "127.0.0.1:0", "--max-concurrent-jobs", "5", "--predictor-plaintext=false"), want: func(c serveConfig) string {
			if c.model != "m2" || c.kserve.modelName != "income" || c.target != "other:1" || c.protocol != "predict-v1" || c.plaintext ||
				c.http.listen != "127.0.0.1:0" || c.maxConcurrentJobs != 5 {
				return fmt.Sprintf("%+v", c)
			}
			return ""
		}},
		{name: "the environment", env: map[string]string{"MODEL_NAME": "env-model", "PREDICTOR_HOST": "env.ns", "HTTP_PORT": "9000", "WORKERS": "3"},
			args: []string{"--model_name", "flag-model"}, want: func(c serveConfig) string {
				if c.model != "flag-model" || c.target != "env.ns:80" || c.http.listen != "0.0.0.0:9000" || c.maxConcurrentJobs != 3 {
					return fmt.Sprintf("%+v", c)
				}
				return ""
			}},
		{name: "EXPLAINER_ variables", env: map[string]string{"EXPLAINER_TRAINING_DATA": "/data/train.csv", "EXPLAINER_MODEL_NAME": "a", "MODEL_NAME": "b",
			"EXPLAINER_HTTP_LISTEN": "127.0.0.1:0", "EXPLAINER_LISTEN": "127.0.0.1:9", "EXPLAINER_PREDICTOR_PLAINTEXT": "false"},
			args: kserveArgs("p.ns"), want: func(c serveConfig) string {
				// The environment gives serve's flags, which win over KServe's.
				if c.defaults.trainingData != "/data/train.csv" || c.kserve.modelName != "income" || c.http.listen != "127.0.0.1:0" || c.listen != "127.0.0.1:9" || c.plaintext {
					return fmt.Sprintf("%+v", c)
				}
				return ""
			}},
		{name: "EXPLAINER_ over KServe's names", env: map[string]string{"EXPLAINER_MODEL_NAME": "a", "MODEL_NAME": "b"}, want: func(c serveConfig) string {
			if c.kserve.modelName != "a" || c.model != "a" {
				return fmt.Sprintf("%+v", c)
			}
			return ""
		}},
		{name: "no KServe arguments", args: nil, want: func(c serveConfig) string {
			if c.protocol != "kserve-v2" || c.target != "127.0.0.1:8001" || c.plaintext || c.http.listen != "" {
				return fmt.Sprintf("%+v", c)
			}
			return ""
		}},
		{name: "bad protocol", args: []string{"--predictor_host", "p", "--predictor_protocol", "v3"}, err: `--predictor_protocol "v3": want v1, v2 or grpc-v2`},
		{name: "bad port", args: []string{"--http_port", "70000"}, err: "--http_port 70000: not a port"},
		{name: "bad environment", env: map[string]string{"WORKERS": "many"}, err: `WORKERS="many": parse error`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			cfg, err := parseServe(t, tc.args...)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if bad := tc.want(cfg); bad != "" {
				t.Errorf("config %s", bad)
			}
		})
	}
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{kserveArgs("p"), true},
		{[]string{"--http_port=8080"}, true},
		{[]string{"-workers", "2"}, true},
		{[]string{"serve", "--model_name", "m"}, false},
		{[]string{"--model", "m"}, false},
		{[]string{"-h"}, false},
		{nil, false},
	} {
		if got := isKServeArgs(tc.args); got != tc.want {
			t.Errorf("isKServeArgs(%q) = %v", tc.args, got)
		}
	}
}

// modelScore is a binary classifier of rows of any width (tabular rows and
// flattened images).
func modelScore(rows [][]float64) [][]float64 {
	out := make([][]float64, len(rows))
	for i, r := range rows {
		z := 0.0
		for j, v := range r {
			z += v * math.Sin(float64(j+1))
		}
		z /= 8 * math.Sqrt(float64(len(r)))
		p := 1 / (1 + math.Exp(-z))
		out[i] = []float64{1 - p, p}
	}
	return out
}

// syncBuffer is a log sink read while serve writes to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var httpAddress = regexp.MustCompile(`msg="HTTP API serving" address=(\S+)`)

// startKServe runs the explainer as KServe starts it, with extra
// arguments, in front of a fake predict.v1 model server; it returns the
// HTTP API's URL.
func startKServe(t *testing.T, extra ...string) string {
	t.Helper()
	url, _ := startKServeWith(t, nil, extra...)
	return url
}

// startKServeWith is startKServe with the fake configured; stop ends serve
// as SIGTERM does and returns its error.
func startKServeWith(t *testing.T, configure func(*predictortest.PredictServer), extra ...string) (url string, stop func() error) {
	t.Helper()
	fake := predictortest.NewPredictServer(modelScore)
	fake.TextScore = func(texts []string) [][]float64 {
		out := make([][]float64, len(texts))
		for i, s := range texts {
			p := 0.2
			if strings.Contains(s, "good") {
				p = 0.9
			}
			out[i] = []float64{1 - p, p}
		}
		return out
	}
	if configure != nil {
		configure(fake)
	}
	ms := predictortest.NewServer(fake)
	t.Cleanup(ms.Close)
	args := append(kserveArgs(ms.Target), "--protocol", "predict-v1", "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0")
	args = append(args, extra...)
	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- run(ctx, args, io.Discard, &logs) }()
	var once sync.Once
	var serveErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			serveErr = <-served
		})
		return serveErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("serve: %v\n%s", err, logs.String())
		}
	})
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if m := httpAddress.FindStringSubmatch(logs.String()); m != nil {
			return "http://" + m[1], stop
		}
		select {
		case err := <-served:
			t.Fatalf("serve ended: %v\n%s", err, logs.String())
		default:
		}
	}
	t.Fatalf("the HTTP API did not start:\n%s", logs.String())
	return "", nil
}

// writeTrainingCSV writes 40 rows of 5 named features and a target.
func writeTrainingCSV(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("age,income,hours,debt,score,target\n")
	for i := range 40 {
		for j := range 5 {
			fmt.Fprintf(&b, "%.3f,", math.Sin(float64(i*(j+3))+float64(j))*float64(j+1)*3)
		}
		fmt.Fprintf(&b, "%d\n", i%2)
	}
	path := filepath.Join(t.TempDir(), "train.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// postKServe posts body as curl -X POST URL -d BODY does.
func postKServe(t *testing.T, url, body string) (int, []*explainerv1.Explanation, string) {
	t.Helper()
	resp, err := http.Post(url, "application/x-www-form-urlencoded", strings.NewReader(body)) // curl -d's content type
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil, string(raw)
	}
	var out struct {
		Explanations []json.RawMessage `json:"explanations"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	exps := make([]*explainerv1.Explanation, len(out.Explanations))
	for i, r := range out.Explanations {
		exps[i] = &explainerv1.Explanation{}
		if err := protojson.Unmarshal(r, exps[i]); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, exps, string(raw)
}

func pngBase64(t *testing.T, h, w int) string {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetNRGBA(x, y, color.NRGBA{R: uint8(x * 30), G: uint8(y * 30), B: uint8((x + y) * 15), A: 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

func TestKServeExplainWithKServesArguments(t *testing.T) {
	config := filepath.Join(t.TempDir(), "explain.yaml")
	if err := os.WriteFile(config, []byte("# request defaults\nlime:\n  num_samples: 400\n  num_features: 3\n  seed: 7\nlime_image:\n  num_samples: 60\n  seed: 2\n  segmentation: {grid: {rows: 2, cols: 2}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	url := startKServe(t, "--training-data", writeTrainingCSV(t), "--class-names", "low, high", "--explain-config", config)
	explainURL := url + "/v1/models/income:explain"

	t.Run("a tabular row", func(t *testing.T) {
		code, exps, raw := postKServe(t, explainURL, `{"instances": [[1.5, -2, 0.3, 4, 1]]}`)
		if code != http.StatusOK || len(exps) != 1 {
			t.Fatalf("HTTP %d: %s", code, raw)
		}
		e := exps[0]
		// lime by default (--training-data), with the config's options, the
		// CSV's feature names and --class-names.
		if e.GetMethod() != "lime" || e.GetModel() != "income" || e.GetNumSamples() != 400 || e.GetSeed() != 7 || len(e.GetClassNames()) != 2 || e.GetClassNames()[1] != "high" {
			t.Fatalf("explanation %v", e)
		}
		l := e.GetLabels()[0]
		if len(l.GetAttributions()) != 3 || l.GetClassName() == "" {
			t.Fatalf("label %v", l)
		}
		for _, a := range l.GetAttributions() {
			if !regexp.MustCompile(`\b(age|income|hours|debt|score)\b`).MatchString(a.GetFeature()) {
				t.Errorf("attribution %q lacks the CSV's feature name", a.GetFeature())
			}
		}
	})
	t.Run("rows with kernel_shap", func(t *testing.T) {
		code, exps, raw := postKServe(t, explainURL, `{"instances": [[1.5, -2, 0.3, 4, 1], [0, 0, 0, 0, 0]], "parameters": {"method": "kernel_shap", "kernel_shap": {"seed": 1}}}`)
		if code != http.StatusOK || len(exps) != 2 {
			t.Fatalf("HTTP %d: %s", code, raw)
		}
		for _, e := range exps {
			// The background is the training data's (40 rows).
			l := e.GetLabels()[0]
			sum := 0.0
			for _, a := range l.GetAttributions() {
				sum += a.GetWeight()
			}
			if e.GetMethod() != "kernelshap" || len(l.GetAttributions()) != 5 || math.Abs(sum-(l.GetModelValue()-l.GetBaseValue())) > 1e-9 {
				t.Errorf("explanation %v", e)
			}
		}
		if exps[0].GetInstanceScores()[1] == exps[1].GetInstanceScores()[1] {
			t.Error("the two rows have the same scores: explanations out of order?")
		}
	})
	t.Run("a text", func(t *testing.T) {
		code, exps, raw := postKServe(t, explainURL, `{"instances": ["a good film, a good day"], "parameters": {"method": "lime_text", "lime_text": {"num_samples": 200, "seed": 3}}}`)
		if code != http.StatusOK || len(exps) != 1 {
			t.Fatalf("HTTP %d: %s", code, raw)
		}
		e := exps[0]
		if e.GetMethod() != "lime_text" || e.GetLabels()[0].GetAttributions()[0].GetFeature() != "good" {
			t.Errorf("explanation %v, want the word good first", e)
		}
	})
	t.Run("an image, b64 PNG", func(t *testing.T) {
		code, exps, raw := postKServe(t, explainURL, `{"instances": [{"b64": "`+pngBase64(t, 8, 8)+`"}], "parameters": {"method": "lime_image"}}`)
		if code != http.StatusOK || len(exps) != 1 {
			t.Fatalf("HTTP %d: %s", code, raw)
		}
		e := exps[0]
		// The config's lime_image options: 60 samples, a 2×2 grid.
		if e.GetMethod() != "lime_image" || e.GetNumSamples() != 60 || e.GetSegments().GetHeight() != 8 || len(e.GetLabels()[0].GetAttributions()) != 4 {
			t.Errorf("explanation %v", e)
		}
	})
	t.Run("probes", func(t *testing.T) {
		for _, p := range []struct {
			path string
			want string
		}{{"/", `{"status":"alive"}`}, {"/v1/models/income", `{"name":"income","ready":true}`}} {
			var got string
			for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
				resp, err := http.Get(url + p.path)
				if err != nil {
					t.Fatal(err)
				}
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if got = strings.TrimSpace(string(raw)); resp.StatusCode == http.StatusOK {
					break
				}
			}
			if got != p.want {
				t.Errorf("GET %s: %s, want %s", p.path, got, p.want)
			}
		}
	})
	t.Run("the JSON API on the same port", func(t *testing.T) {
		resp, err := http.Post(url+"/explainer.v1.ExplainerService/Explain", "application/json",
			strings.NewReader(`{"instance": {"tabular": {"values": [1.5, -2, 0.3, 4, 1]}}}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r explainerv1.ExplainResponse
		raw, _ := io.ReadAll(resp.Body)
		if err := protojson.Unmarshal(raw, &r); resp.StatusCode != http.StatusOK || err != nil || r.GetExplanation().GetNumSamples() != 400 {
			t.Errorf("HTTP %d %v: %s", resp.StatusCode, err, raw)
		}
	})
}

func TestKServeStreamsOverHTTPAndDrains(t *testing.T) {
	// 2000 samples in 20 batches of 100, 4 at a time, 40 ms each: about
	// 200 ms, in which serve is told to stop.
	url, stop := startKServeWith(t, func(p *predictortest.PredictServer) {
		p.MaxBatchSize = 100
		p.Delay = 40 * time.Millisecond
	}, "--training-data", writeTrainingCSV(t))
	resp, err := http.Post(url+"/explainer.v1.ExplainerService/ExplainJob", "application/json",
		strings.NewReader(`{"request": {"instance": {"tabular": {"values": [1, 2, 3, 4, 5]}}, "lime": {"num_samples": 2000, "seed": 1}}}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
	}
	var kinds []string
	stopped := make(chan error, 1)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatal(err)
		}
		for k := range ev {
			kinds = append(kinds, k)
		}
		if len(kinds) == 1 {
			go func() { stopped <- stop() }() // SIGTERM with a job in flight
		}
	}
	if len(kinds) < 2 || kinds[0] != "progress" || kinds[len(kinds)-1] != "result" {
		t.Errorf("events %v, want progress first and the result last: the job drains", kinds)
	}
	if err := <-stopped; err != nil {
		t.Errorf("serve: %v", err)
	}
	if _, err := http.Get(url + "/"); err == nil {
		t.Error("the HTTP API still answers after serve returned")
	}
}

var demoHTTP = regexp.MustCompile(`serves HTTP at (http://\S+)`)

func TestDemoServesHTTP(t *testing.T) {
	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"demo", "-http-listen", "127.0.0.1:0", "-num-samples", "300", "-output", "json"}, io.Discard, &logs)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo: %v", err)
		}
	}()
	var url string
	for end := time.Now().Add(20 * time.Second); url == "" && time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if m := demoHTTP.FindStringSubmatch(logs.String()); m != nil {
			url = m[1]
		}
	}
	if url == "" {
		t.Fatalf("the demo did not serve HTTP:\n%s", logs.String())
	}
	// The row the demo prints in its curl hint.
	hint := regexp.MustCompile(`-d '(.*)'`).FindStringSubmatch(logs.String())
	if hint == nil {
		t.Fatalf("no curl hint:\n%s", logs.String())
	}
	code, exps, raw := postKServe(t, url+"/v1/models/breast_cancer:explain", hint[1])
	if code != http.StatusOK || len(exps) != 1 || exps[0].GetMethod() != "lime" || exps[0].GetLabels()[0].GetClassName() != "malignant" {
		t.Errorf("HTTP %d: %s", code, raw)
	}
}
