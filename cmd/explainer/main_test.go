package main

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/explainer-sidecar/explainer/internal/demo"
	"github.com/explainer-sidecar/explainer/predictor"
	"github.com/explainer-sidecar/explainer/predictor/predictortest"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func runCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = run(ctx, args, &out, &errOut)
	return out.String(), errOut.String(), err
}

// decode reads -output json, which is the API's protojson.
func decode(t *testing.T, s string) *explainerv1.Explanation {
	t.Helper()
	exp := &explainerv1.Explanation{}
	if err := protojson.Unmarshal([]byte(s), exp); err != nil {
		t.Fatalf("output is not an Explanation in protojson: %v\n%s", err, s)
	}
	return exp
}

func TestDemoJSON(t *testing.T) {
	out, _, err := runCLI(t, "demo", "-output", "json", "-num-samples", "2000", "-row", "20")
	if err != nil {
		t.Fatal(err)
	}
	exp := decode(t, out)
	if exp.Method != "lime" || exp.Model != demo.ModelName || exp.Seed != 7 || exp.NumSamples != 2000 {
		t.Fatalf("header %+v", exp)
	}
	if len(exp.Labels) != 1 {
		t.Fatalf("%d explanations, want the predicted label only", len(exp.Labels))
	}
	l := exp.Labels[0]
	predicted := 0
	if exp.InstanceScores[1] > exp.InstanceScores[0] {
		predicted = 1
	}
	if int(l.Label) != predicted || l.ClassName != demo.ClassNames[predicted] || l.Prediction != exp.InstanceScores[predicted] {
		t.Errorf("label %d (%s, %v), want the predicted class %d with its score", l.Label, l.ClassName, l.Prediction, predicted)
	}
	if len(l.Attributions) != 10 {
		t.Fatalf("%d attributions, want 10", len(l.Attributions))
	}
	for i, a := range l.Attributions {
		if a.Feature == "" || a.Index >= 30 {
			t.Errorf("attribution %d: %+v", i, a)
		}
		if i > 0 && math.Abs(a.Weight) > math.Abs(l.Attributions[i-1].Weight) {
			t.Errorf("attributions not ordered by |weight| at %d", i)
		}
	}
	// 2000 samples at the demo server's max batch of 256.
	if exp.ModelCalls != 8 {
		t.Errorf("model calls %d, want 8", exp.ModelCalls)
	}
}

func TestDemoTable(t *testing.T) {
	out, stderr, err := runCLI(t, "demo", "-num-samples", "500")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"breast_cancer · lime · 500 samples", "label 0 (malignant)", "│", "█"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(stderr, "explaining row 0") {
		t.Errorf("stderr lacks the demo's preamble:\n%s", stderr)
	}
}

// startServe runs the sidecar with serve's code in front of the demo
// model and returns its address and its metrics URL.
func startServe(t *testing.T) (addr, metricsURL string) {
	t.Helper()
	modelAddr, _, stopModel, err := startDemoModel(256)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stopModel)
	cfg := serveConfig{protocol: "predict-v1", model: demo.ModelName, inFlight: 4, maxConcurrentJobs: 4,
		jobTimeout: time.Minute, healthInterval: time.Second, drainTimeout: time.Second, plaintext: true}
	conn, err := predictor.Dial(modelAddr, predictor.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	newClient, err := cfg.clientFunc(conn)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.metricsLis, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serveOn(ctx, lis, newClient, &cfg, slog.New(slog.DiscardHandler)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return lis.Addr().String(), "http://" + cfg.metricsLis.Addr().String() + "/metrics"
}

const breastCancerCSV = "../../testdata/breast_cancer.csv"

// TestExplainThroughServe runs `explain` against a sidecar served by the
// same code as `serve`, in front of the demo model: the result equals the
// demo's for the same row and seed.
func TestExplainThroughServe(t *testing.T) {
	addr, metricsURL := startServe(t)
	csv := breastCancerCSV
	out, _, err := runCLI(t, "explain", "-server", addr, "-background", csv,
		"-instance-file", csv, "-row", "3", "-seed", "5", "-num-samples", "1500", "-top-labels", "2", "-output", "json")
	if err != nil {
		t.Fatal(err)
	}
	got := decode(t, out)
	// The job shows in the sidecar's metrics.
	resp, err := http.Get(metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`explainer_jobs_total{code="OK",method="lime"} 1`, "explainer_samples_scored_total 1500", "go_goroutines"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	demoOut, _, err := runCLI(t, "demo", "-row", "3", "-seed", "5", "-num-samples", "1500", "-top-labels", "2", "-output", "json")
	if err != nil {
		t.Fatal(err)
	}
	want := decode(t, demoOut)
	if len(got.Labels) != 2 || len(want.Labels) != 2 {
		t.Fatalf("explanations %d and %d, want 2 (top labels)", len(got.Labels), len(want.Labels))
	}
	for i := range got.Labels {
		g, w := got.Labels[i], want.Labels[i]
		if g.Label != w.Label || g.Intercept != w.Intercept || len(g.Attributions) != len(w.Attributions) {
			t.Fatalf("label %d: explain %+v, demo %+v", i, g, w)
		}
		for j := range g.Attributions {
			if !proto.Equal(g.Attributions[j], w.Attributions[j]) {
				t.Errorf("label %d attribution %d: explain %+v, demo %+v", g.Label, j, g.Attributions[j], w.Attributions[j])
			}
		}
	}
}

func TestExplainGlobalAndShapMethods(t *testing.T) {
	addr, _ := startServe(t)

	// Permutation importance over the CSV, streamed in chunks.
	out, _, err := runCLI(t, "explain", "-server", addr, "-method", "permutation", "-data", breastCancerCSV,
		"-repeats", "2", "-seed", "1", "-output", "json")
	if err != nil {
		t.Fatal(err)
	}
	perm := decode(t, out)
	if perm.Method != "permutation" || perm.Scoring != explainerv1.Scoring_SCORING_ACCURACY || perm.BaselineScore < 0.98 {
		t.Fatalf("permutation header %+v", perm)
	}
	attrs := perm.Labels[0].Attributions
	if len(attrs) != 30 || len(attrs[0].Values) != 2 || attrs[0].Feature != "mean radius" {
		t.Fatalf("permutation attributions %+v", attrs[:1])
	}
	if perm.NumSamples != 569+30*2*569 {
		t.Errorf("rows scored %d, want baseline + 30 features × 2 repeats × 569 rows", perm.NumSamples)
	}

	// KernelSHAP against a 10-row background: the values add up.
	bg := filepath.Join(t.TempDir(), "bg.csv")
	raw, err := os.ReadFile(breastCancerCSV)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(raw), "\n")
	if err := os.WriteFile(bg, []byte(strings.Join(lines[:11], "")), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err = runCLI(t, "explain", "-server", addr, "-method", "kernelshap", "-background", bg,
		"-instance-file", breastCancerCSV, "-row", "3", "-num-samples", "500", "-seed", "2", "-output", "json")
	if err != nil {
		t.Fatal(err)
	}
	shap := decode(t, out)
	l := shap.Labels[0]
	sum := 0.0
	for _, a := range l.Attributions {
		sum += a.Weight
	}
	if l.ModelValue == 0 || math.Abs(sum-(l.ModelValue-l.BaseValue)) > 1e-9 {
		t.Fatalf("kernelshap: Σφ = %v, base %v, model %v", sum, l.BaseValue, l.ModelValue)
	}

	// KernelSHAP against the whole data set summarised by k-means into 10
	// rows: the model scores 10 rows per coalition instead of 569, and the
	// values still add up, to f(x) minus the summary's weighted mean.
	out, _, err = runCLI(t, "explain", "-server", addr, "-method", "kernelshap", "-background", breastCancerCSV,
		"-background-summary", "kmeans:10", "-instance-file", breastCancerCSV, "-row", "3", "-num-samples", "500", "-seed", "2", "-output", "json")
	if err != nil {
		t.Fatal(err)
	}
	shap = decode(t, out)
	l = shap.Labels[0]
	sum = 0
	for _, a := range l.Attributions {
		sum += a.Weight
	}
	if l.ModelValue == 0 || math.Abs(sum-(l.ModelValue-l.BaseValue)) > 1e-9 {
		t.Fatalf("kernelshap with kmeans:10: Σφ = %v, base %v, model %v", sum, l.BaseValue, l.ModelValue)
	}
	if coalitions := (shap.NumSamples - 1) / 10; (shap.NumSamples-1)%10 != 0 || coalitions < 2 || coalitions > 501 {
		t.Errorf("kernelshap with kmeans:10 scored %d rows, want 1 + 10·(1 + coalitions ≤ 500)", shap.NumSamples)
	}

	// Sensitivity reports every class.
	out, _, err = runCLI(t, "explain", "-server", addr, "-method", "sensitivity", "-data", breastCancerCSV, "-output", "json")
	if err != nil {
		t.Fatal(err)
	}
	sens := decode(t, out)
	if len(sens.Labels) != 2 || sens.Labels[1].Attributions[0].MeanAbs == 0 {
		t.Fatalf("sensitivity: %d labels", len(sens.Labels))
	}
	// The two classes' probabilities sum to 1: their derivatives cancel.
	for j, a := range sens.Labels[0].Attributions {
		if b := sens.Labels[1].Attributions[j]; math.Abs(a.Weight+b.Weight) > 1e-9 {
			t.Errorf("feature %d: ∂p0 %v + ∂p1 %v ≠ 0", j, a.Weight, b.Weight)
		}
	}

	// The table renders each method.
	for _, args := range [][]string{
		{"-method", "permutation", "-data", breastCancerCSV, "-repeats", "1", "-num-features", "0"},
		{"-method", "sensitivity", "-data", breastCancerCSV, "-num-features", "0"},
	} {
		out, _, err := runCLI(t, append([]string{"explain", "-server", addr}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "mean radius") || !strings.Contains(out, "│") {
			t.Errorf("%v table:\n%s", args, out)
		}
	}
}

func TestCLIErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"explain", "-instance", "[1,2]"}, "-background is required"},
		{[]string{"explain", "-method", "shap", "-background", "x.csv"}, `-method "shap": want ` + cliMethodNames()},
		{[]string{"explain", "-background", "../../testdata/breast_cancer.csv", "-instance", "[1,2]"}, "the instance has 2 values, the background has 30 feature columns"},
		{[]string{"explain", "-background", "../../testdata/breast_cancer.csv", "-instance", "not json"}, "want a JSON array of numbers"},
		{[]string{"demo", "-row", "569"}, "-row 569: the data set has rows 0 to 568"},
		{[]string{"demo", "-output", "yaml", "-num-samples", "100"}, `-output "yaml": want table, json, html or png`},
		{[]string{"demo", "-feature-selection", "best"}, `-feature-selection "best"`},
		{[]string{"serve", "-protocol", "http", "-listen", "127.0.0.1:0"}, `unknown --protocol "http"`},
		{[]string{"serve", "-protocol", "kserve-v2", "-input-datatype", "FP8", "-listen", "127.0.0.1:0"}, `-input-datatype: data type "FP8": want FP32, FP64, INT64, FP16 or UINT8`},
		{[]string{"serve", "-protocol", "kserve-v2-http", "-predictor", "http://127.0.0.1:1", "-input-datatype", "BF16", "-listen", "127.0.0.1:0"}, `data type "BF16": want FP32, FP64, INT64, FP16 or UINT8`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, _, err := runCLI(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestReflectionOnlyWhenAsked(t *testing.T) {
	for _, on := range []bool{false, true} {
		t.Run(map[bool]string{false: "off", true: "on"}[on], func(t *testing.T) {
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			cfg := serveConfig{reflection: on, inFlight: 1, maxConcurrentJobs: 1, jobTimeout: time.Second,
				healthInterval: time.Hour, drainTimeout: time.Second}
			ctx, cancel := context.WithCancel(context.Background())
			served := make(chan error, 1)
			go func() {
				served <- serveOn(ctx, lis, func(string) predictor.Client { return nil }, &cfg, slog.New(slog.DiscardHandler))
			}()
			defer func() { cancel(); <-served }()

			conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer stream.CloseSend()
			// Send returns io.EOF once the server has ended the stream (as
			// with UNIMPLEMENTED); Recv then gives the status.
			if err := stream.Send(&reflectionpb.ServerReflectionRequest{
				MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
			}); err != nil && err != io.EOF {
				t.Fatal(err)
			}
			resp, err := stream.Recv()
			if !on {
				if status.Code(err) != codes.Unimplemented {
					t.Fatalf("reflection without -reflection: %v, want Unimplemented", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, s := range resp.GetListServicesResponse().GetService() {
				names = append(names, s.GetName())
			}
			if !strings.Contains(strings.Join(names, " "), "explainer.v1.ExplainerService") {
				t.Fatalf("reflection lists %v, want the explainer service", names)
			}
		})
	}
}

// serveFake runs serve's code in front of a predict.v1 fake on loopback
// and returns the sidecar's address.
func serveFake(t *testing.T, fake *predictortest.PredictServer) string {
	t.Helper()
	ts := predictortest.NewServer(fake)
	t.Cleanup(ts.Close)
	cfg := serveConfig{protocol: "predict-v1", model: "m", inFlight: 2, maxConcurrentJobs: 2,
		jobTimeout: time.Minute, healthInterval: time.Second, drainTimeout: time.Second, plaintext: true}
	conn, err := predictor.Dial(ts.Target, predictor.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	newClient, err := cfg.clientFunc(conn)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serveOn(ctx, lis, newClient, &cfg, slog.New(slog.DiscardHandler)) }()
	t.Cleanup(func() { cancel(); <-served })
	return lis.Addr().String()
}

func TestExplainImage(t *testing.T) {
	// An 8×8 RGB image; the model's class 1 is the brightness of the
	// top-left quarter (in CHW rows: channel 0, rows 0-3, columns 0-3).
	fake := predictortest.NewPredictServer(func(rows [][]float64) [][]float64 {
		out := make([][]float64, len(rows))
		for i, r := range rows {
			s := 0.0
			for y := 0; y < 4; y++ {
				for x := 0; x < 4; x++ {
					s += r[y*8+x]
				}
			}
			p := s / (16 * 255)
			out[i] = []float64{1 - p, p}
		}
		return out
	})
	addr := serveFake(t, fake)
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for y := 0; y < 8; y++ {
		for x := 0; x < 8; x++ {
			img.Set(x, y, color.RGBA{R: uint8(30 * (x + y)), G: 100, B: 50, A: 255})
		}
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.png"), filepath.Join(dir, "out.png")
	f, err := os.Create(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	f.Close()

	js, _, err := runCLI(t, "explain", "-server", addr, "-method", "lime", "-image", in, "-segmentation", "grid:2",
		"-fill", "constant:0", "-num-samples", "200", "-labels", "1", "-seed", "1", "-png", out, "-output", "json")
	if err != nil {
		t.Fatal(err)
	}
	exp := decode(t, js)
	if exp.Method != "lime_image" || exp.Labels[0].Attributions[0].Index != 0 || exp.Labels[0].Attributions[0].Weight <= 0 {
		t.Fatalf("lime_image: %+v, want segment 0 (top left) first and positive", exp.Labels[0].Attributions)
	}
	pf, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	// The 8×8 image and its map, each scaled up to 256 px, and a legend.
	if pic, err := png.Decode(pf); err != nil || pic.Bounds().Dx() < 2*256 || pic.Bounds().Dy() < 256 {
		t.Fatalf("the PNG output: %v", err)
	}

	js, _, err = runCLI(t, "explain", "-server", addr, "-method", "occlusion", "-image", in, "-window", "2,2",
		"-labels", "1", "-output", "json")
	if err != nil {
		t.Fatal(err)
	}
	if occ := decode(t, js); occ.Method != "occlusion" || len(occ.Maps) != 1 {
		t.Fatalf("occlusion: %+v", occ)
	}
}

func TestExplainText(t *testing.T) {
	fake := predictortest.NewPredictServer(nil)
	fake.TextScore = greatScore
	addr := serveFake(t, fake)

	const text = "a great little place, great staff"
	out, _, err := runCLI(t, "explain", "-server", addr, "-text", text,
		"-num-samples", "300", "-labels", "1", "-seed", "3", "-output", "json")
	if err != nil {
		t.Fatal(err)
	}
	exp := decode(t, out)
	top := exp.Labels[0].Attributions[0]
	if exp.Method != "lime_text" || top.Feature != "great" || top.Weight <= 0 || len(top.Spans) != 2 {
		t.Fatalf("method %q, top attribution %+v: want great, positive, 2 spans", exp.Method, top)
	}
	for _, sp := range top.Spans {
		if text[sp.Start:sp.End] != "great" {
			t.Errorf("span %v is %q", sp, text[sp.Start:sp.End])
		}
	}

	// The HTML view highlights both occurrences in green and escapes the
	// text.
	const tricky = "great <b>food</b>, great"
	page, _, err := runCLI(t, "explain", "-server", addr, "-text", tricky,
		"-num-samples", "300", "-labels", "1", "-seed", "3", "-output", "html")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(page, ">great</mark>"); n != 2 {
		t.Errorf("%d highlighted occurrences of great, want 2", n)
	}
	if !strings.Contains(page, "rgba(0,160,0,0.75)") || strings.Contains(page, "<b>food</b>") {
		t.Errorf("want the strongest word fully green and the text escaped:\n%s", page)
	}
	// Occlusion over the text's tokens: removing "great" lowers class 1.
	out, _, err = runCLI(t, "explain", "-server", addr, "-method", "occlusion", "-text", "a great place", "-labels", "1", "-output", "json")
	if err != nil {
		t.Fatal(err)
	}
	occ := decode(t, out)
	if occ.Method != "occlusion" || len(occ.Labels[0].Attributions) != 3 {
		t.Fatalf("text occlusion: %+v", occ)
	}
	for _, a := range occ.Labels[0].Attributions {
		// 0.9 with "great", 0.2 without: removing it costs 0.7.
		want := 0.0
		if a.Feature == "great" {
			want = 0.7
		}
		if math.Abs(a.Weight-want) > 1e-12 || len(a.Spans) != 1 {
			t.Errorf("token %+v: want weight %v and one span", a, want)
		}
	}
	out, _, err = runCLI(t, "explain", "-server", addr, "-method", "occlusion", "-text", "a great place", "-labels", "1")
	if err != nil || !strings.Contains(out, "label 1 (") || !strings.Contains(out, "score drop when the window over the word is hidden") {
		t.Errorf("text occlusion table lacks its label line (%v):\n%s", err, out)
	}
	// A row's page has the chart and the table, and no text.
	if page, _, err := runCLI(t, "demo", "-num-samples", "100", "-output", "html"); err != nil ||
		!strings.Contains(page, `<img class="chart" src="data:image/png;base64,`) || !strings.Contains(page, "<table>") || strings.Contains(page, `class="text"`) {
		t.Errorf("html for a row: %v\n%.300s", err, page)
	}
}
