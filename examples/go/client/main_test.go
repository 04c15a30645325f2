package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"

	"github.com/explainer-sidecar/explainer/predictor"
	"github.com/explainer-sidecar/explainer/predictor/predictortest"
	"github.com/explainer-sidecar/explainer/server"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The client runs against the real sidecar (the server package on a
// loopback listener) in front of a Go fake model server, so that it is
// tested wherever Go is; examples/e2e runs the sidecar against the Python
// servers.

// score is the fake model: for a row of 3 features, p = σ(3a − 2b) (c is
// unused); for a 4×4 one-channel image, p is the brightness of its top-left
// 2×2 corner. It returns [1 − p, p].
func score(rows [][]float64) [][]float64 {
	out := make([][]float64, len(rows))
	for i, r := range rows {
		var p float64
		switch len(r) {
		case 3:
			p = 1 / (1 + math.Exp(-(3*r[0] - 2*r[1])))
		case 16:
			p = (r[0] + r[1] + r[4] + r[5]) / 4
		}
		out[i] = []float64{1 - p, p}
	}
	return out
}

// scoreText is the fake text model: "great" makes a text positive.
func scoreText(texts []string) [][]float64 {
	out := make([][]float64, len(texts))
	for i, s := range texts {
		p := 0.2
		if strings.Contains(s, "great") {
			p = 0.9
		}
		out[i] = []float64{1 - p, p}
	}
	return out
}

// startSidecar serves the sidecar in front of fake and returns its address.
func startSidecar(t *testing.T, fake *predictortest.PredictServer) string {
	t.Helper()
	ts := predictortest.NewServer(fake)
	t.Cleanup(ts.Close)
	// The fake's dial options count the scoring calls the sidecar sends.
	conn, err := predictor.Dial(ts.Target, predictor.WithInsecure(), predictor.WithGRPCDialOptions(ts.DialOptions()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	srv := server.New(func(m string) predictor.Client { return predictor.NewPredictV1(conn, m) },
		server.WithDefaultModel("m"), server.WithJobTimeout(time.Minute))
	gs := grpc.NewServer(server.GRPCServerOptions(nil)...)
	srv.Register(gs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { defer close(served); _ = gs.Serve(lis) }()
	t.Cleanup(func() { gs.Stop(); <-served })
	return lis.Addr().String()
}

// writeFiles writes the CSV and the image the tests explain.
func writeFiles(t *testing.T) (csvPath, imagePath string) {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("a,b,target,c\n")
	for i := range 40 {
		// A spread of values, deterministic; the target column is skipped.
		fmt.Fprintf(&b, "%.3f,%.3f,%d,%.3f\n", math.Sin(float64(i)), math.Cos(float64(3*i)), i%2, math.Sin(float64(7*i)))
	}
	csvPath = filepath.Join(dir, "rows.csv")
	if err := os.WriteFile(csvPath, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	imagePath = filepath.Join(dir, "image.json")
	img := `{"height": 4, "width": 4, "channels": 1, "layout": "IMAGE_LAYOUT_CHW",
		"values": [0.9, 0.8, 0.1, 0.1, 0.7, 0.9, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]}`
	if err := os.WriteFile(imagePath, []byte(img), 0o600); err != nil {
		t.Fatal(err)
	}
	return csvPath, imagePath
}

// topAttribution is the first attribution line of the first label in the
// output: "  +0.1234  feature".
func topAttribution(t *testing.T, out string) (weight float64, feature string) {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "  ") {
			continue
		}
		w, f, ok := strings.Cut(strings.TrimSpace(line), "  ")
		if _, err := fmt.Sscan(w, &weight); err != nil || !ok {
			t.Fatalf("attribution line %q", line)
		}
		return weight, f
	}
	t.Fatalf("no attribution in the output:\n%s", out)
	return 0, ""
}

func TestClient(t *testing.T) {
	fake := predictortest.NewPredictServer(score)
	fake.TextScore = scoreText
	fake.ClassNames = []string{"negative", "positive"}
	fake.MaxBatchSize = 64
	addr := startSidecar(t, fake)
	csvPath, imagePath := writeFiles(t)
	// Predicates on the top attribution's description.
	oneOf := func(prefixes ...string) func(string) bool {
		return func(f string) bool {
			for _, p := range prefixes {
				if strings.HasPrefix(f, p) {
					return true
				}
			}
			return false
		}
	}
	// A LIME bin reads "a <= 0.12" or "-0.5 < b <= 0.1": the top one must be
	// about a or b, never the unused c.
	aOrB := func(f string) bool {
		words := strings.Fields(f)
		return (slices.Contains(words, "a") || slices.Contains(words, "b")) && !slices.Contains(words, "c")
	}
	for _, tc := range []struct {
		name   string
		args   []string
		method string
		top    func(feature string) bool
	}{
		{"row lime", []string{"-row", csvPath, "-index", "3", "-samples", "1000"}, "lime", aOrB},
		{"row kernelshap", []string{"-row", csvPath, "-method", "kernelshap", "-background", "8"}, "kernelshap", aOrB},
		{"text lime", []string{"-text", "a great little place", "-samples", "300"}, "lime_text", oneOf("great")},
		{"text occlusion", []string{"-text", "a great little place", "-method", "occlusion"}, "occlusion", oneOf("great")},
		{"text kernelshap", []string{"-text", "a great little place", "-method", "kernelshap"}, "kernelshap_text", oneOf("great")},
		// The model looks at the top-left 2×2 corner only.
		{"image lime", []string{"-image", imagePath, "-samples", "300"}, "lime_image",
			oneOf("segment 0", "segment 1", "segment 4", "segment 5")},
		{"image kernelshap on a 2×2 grid, black fill", []string{"-image", imagePath, "-method", "kernelshap", "-grid", "2", "-fill", "0"}, "kernelshap_image",
			oneOf("segment 0")},
		{"image occlusion", []string{"-image", imagePath, "-method", "occlusion"}, "occlusion",
			oneOf("pixel (y 0, x 0)", "pixel (y 0, x 1)", "pixel (y 1, x 0)", "pixel (y 1, x 1)")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if err := run(context.Background(), append([]string{"-server", addr}, tc.args...), &stdout, &stderr); err != nil {
				t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
			}
			out := stdout.String()
			if !strings.HasPrefix(out, tc.method+" · ") {
				t.Fatalf("output does not start with the method %q:\n%s", tc.method, out)
			}
			if w, f := topAttribution(t, out); !tc.top(f) || w <= 0 {
				t.Errorf("top attribution %q (%v): not the one the model looks at, or not positive; output:\n%s", f, w, out)
			}
		})
	}
}

// cancelOnProgress is stderr for the cancel test: it ends the run's
// context (what Ctrl-C does) at the first progress line.
type cancelOnProgress struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	cancel context.CancelFunc
}

func (c *cancelOnProgress) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf.Write(p)
	if strings.Contains(c.buf.String(), "progress: ") {
		c.cancel()
	}
	return len(p), nil
}

func (c *cancelOnProgress) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// TestClientCancel: Ctrl-C during a long job sends CancelJob; the sidecar
// ends the job (the client reports it cancelled) and sends the model server
// no more batches.
func TestClientCancel(t *testing.T) {
	fake := predictortest.NewPredictServer(score)
	fake.MaxBatchSize = 10
	fake.Delay = 20 * time.Millisecond // 2000 batches: about 10 s in all
	addr := startSidecar(t, fake)
	csvPath, _ := writeFiles(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := &cancelOnProgress{cancel: cancel}
	var stdout bytes.Buffer
	err := run(ctx, []string{"-server", addr, "-row", csvPath, "-samples", "20000"}, &stdout, stderr)
	if !errors.Is(err, errCancelled) {
		t.Fatalf("run: %v, want %v; stderr:\n%s", err, errCancelled, stderr)
	}
	if !strings.Contains(stderr.String(), "cancelling the job") || stdout.Len() != 0 {
		t.Errorf("stdout %q, stderr %q: want the cancellation said, no result", stdout.String(), stderr.String())
	}
	// The sidecar confirmed the end of the job, which comes once every
	// batch it sent has returned: none is in progress, and the job was
	// stopped well before its 2000 batches.
	if n, sent := fake.Sending(), fake.Sent(); n != 0 || sent >= 2000 {
		t.Errorf("%d batches in progress, %d sent, after the job ended: want 0 and the job stopped early", n, sent)
	}
}

func writeImage(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "image.json")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestClientErrors(t *testing.T) {
	csvPath, imagePath := writeFiles(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no input", nil, "exactly one of -row, -text and -image"},
		{"two inputs", []string{"-text", "x", "-image", imagePath}, "exactly one of"},
		{"bad method for a row", []string{"-row", csvPath, "-method", "occlusion"}, "a row takes lime or kernelshap"},
		{"bad index", []string{"-row", csvPath, "-index", "40"}, "has 40 rows"},
		{"bad fill", []string{"-image", imagePath, "-fill", "paint"}, "-fill \"paint\""},
		{"missing file", []string{"-image", filepath.Join(t.TempDir(), "none.json")}, "no such file"},
		{"image JSON of another shape", []string{"-image", writeImage(t, `{"height": 1, "width": 1, "channels": 1, "layout": "CHW", "values": [0]}`)}, `"layout": "IMAGE_LAYOUT_CHW"`},
		{"too few values", []string{"-image", writeImage(t, `{"height": 2, "width": 2, "channels": 1, "values": [0]}`)}, "1 values for 2×2×1"},
		{"unknown flag", []string{"-frobnicate"}, "not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tc.args, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("run %q: %v, want an error with %q", tc.args, err, tc.want)
			}
		})
	}
}
