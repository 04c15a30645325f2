package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// TestKServeExplainerArguments runs the explainer binary as KServe starts
// an InferenceService's explainer, with KServe's arguments and nothing else
// (the request defaults come from the environment, as in
// examples/kserve), in front of the Python HTTP model server over KServe's
// v1 protocol, and posts :explain as curl would: a tabular row, a text and
// an image, each to its own model's explainer.
func TestKServeExplainerArguments(t *testing.T) {
	s := getHTTPStack(t)
	bin := filepath.Join(t.TempDir(), "explainer")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/explainer").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	digits := loadDigits(t)
	image := make([][][]float64, 8) // [H][W][C], KServe's nested arrays
	for y := range image {
		image[y] = make([][]float64, 8)
		for x := range image[y] {
			image[y][x] = []float64{digits[0].Pixels[y*8+x]}
		}
	}
	imageJSON, err := json.Marshal(map[string]any{"instances": []any{image}})
	if err != nil {
		t.Fatal(err)
	}
	row := breastCancerRow(t)
	data := breastCancerData(t, 60)
	pixels, err := json.Marshal(digits[0].Pixels)
	if err != nil {
		t.Fatal(err)
	}
	imageInstance := fmt.Sprintf(`{"image": {"height": 8, "width": 8, "channels": 1, "values": %s}}`, pixels)
	textInstance := `{"text": {"text": "terrible service and awful food"}}`
	tests := []struct {
		model string
		// methods are the JSON API's requests (POST
		// /explainer.v1.ExplainerService/Explain) of every method the
		// model's kind takes, by method.
		methods map[string]string
		// env is the operator's configuration: the HTTP server rejects
		// batches above httpMaxBatch, which v1 cannot report.
		env   []string
		body  string
		check func(t *testing.T, exp *explainerv1.Explanation)
	}{
		{
			model: "breast_cancer",
			env:   []string{"EXPLAINER_TRAINING_DATA=../../testdata/breast_cancer.csv"},
			body:  fmt.Sprintf(`{"instances": [%s], "parameters": {"lime": {"num_samples": 500, "seed": 3}}}`, row),
			methods: map[string]string{
				"lime":        fmt.Sprintf(`{"instance": {"tabular": {"values": %s}}, "lime": {"num_samples": 300}}`, row),
				"kernel_shap": fmt.Sprintf(`{"instance": {"tabular": {"values": %s}}, "kernel_shap": {"num_samples": 100}}`, row),
				"permutation": fmt.Sprintf(`{"permutation": {"data": %s, "repeats": 2}}`, data),
				"sensitivity": fmt.Sprintf(`{"sensitivity": {"data": %s}}`, data),
			},
			check: func(t *testing.T, exp *explainerv1.Explanation) {
				if exp.GetMethod() != "lime" || exp.GetNumSamples() != 500 || len(exp.GetLabels()[0].GetAttributions()) == 0 {
					t.Errorf("got %s with %d samples, want lime with 500 and attributions", exp.GetMethod(), exp.GetNumSamples())
				}
			},
		},
		{
			model: "sentiment",
			env:   []string{"EXPLAINER_METHOD=lime_text"},
			body:  `{"instances": ["terrible service and awful food"], "parameters": {"lime_text": {"num_samples": 300, "seed": 3}}}`,
			methods: map[string]string{
				"lime_text":   `{"instance": ` + textInstance + `, "lime_text": {"num_samples": 200}}`,
				"kernel_shap": `{"instance": ` + textInstance + `, "kernel_shap": {"num_samples": 40}}`,
				"occlusion":   `{"instance": ` + textInstance + `, "occlusion": {}}`,
			},
			check: func(t *testing.T, exp *explainerv1.Explanation) {
				words := map[string]bool{}
				for _, a := range exp.GetLabels()[0].GetAttributions() {
					words[a.GetFeature()] = len(a.GetSpans()) > 0
				}
				if exp.GetMethod() != "lime_text" || !words["awful"] {
					t.Errorf("got %s over %v, want lime_text with the word awful and its spans", exp.GetMethod(), words)
				}
			},
		},
		{
			model: "digits",
			env:   []string{"EXPLAINER_METHOD=lime_image"},
			body:  string(imageJSON)[:len(imageJSON)-1] + `, "parameters": {"lime_image": {"num_samples": 200, "seed": 3, "segmentation": {"grid": {"rows": 4, "cols": 4}}}}}`,
			methods: map[string]string{
				"lime_image":  `{"instance": ` + imageInstance + `, "lime_image": {"num_samples": 100, "segmentation": {"grid": {"rows": 4, "cols": 4}}}}`,
				"kernel_shap": `{"instance": ` + imageInstance + `, "kernel_shap": {"num_samples": 60, "segmentation": {"grid": {"rows": 2, "cols": 2}}}}`,
				"occlusion":   `{"instance": ` + imageInstance + `, "occlusion": {"window": [2, 2]}}`,
			},
			check: func(t *testing.T, exp *explainerv1.Explanation) {
				if exp.GetMethod() != "lime_image" || len(exp.GetSegments().GetLabels()) != 64 {
					t.Errorf("got %s with %d segment labels, want lime_image over the 64 pixels", exp.GetMethod(), len(exp.GetSegments().GetLabels()))
				}
				if got := int(exp.GetLabels()[0].GetLabel()); got != digits[0].Label {
					t.Errorf("explained label %d, want the digit %d", got, digits[0].Label)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			port := freePort(t)
			cmd := exec.Command(bin, "--model_name", tt.model, "--predictor_host", strings.TrimPrefix(s.base, "http://"), "--http_port", port)
			cmd.Env = append(os.Environ(), append(tt.env, fmt.Sprintf("EXPLAINER_MAX_BATCH_SIZE=%d", httpMaxBatch))...)
			logs := &tailBuffer{max: 64 << 10}
			cmd.Stdout, cmd.Stderr = logs, logs
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var waitErr error
			exited := make(chan struct{})
			go func() { waitErr = cmd.Wait(); close(exited) }()
			defer func() {
				_ = cmd.Process.Signal(syscall.SIGTERM)
				<-exited
				if waitErr != nil {
					t.Errorf("the explainer did not exit cleanly on SIGTERM: %v\n%s", waitErr, lastLines(logs.String(), 20))
				}
			}()
			base := "http://127.0.0.1:" + port
			waitReady(t, base+"/v1/models/"+tt.model, exited, logs)

			resp, err := http.Post(base+"/v1/models/"+tt.model+":explain", "application/json", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("HTTP %d: %s", resp.StatusCode, body)
			}
			var answer struct {
				Explanations []json.RawMessage `json:"explanations"`
			}
			if err := json.Unmarshal(body, &answer); err != nil || len(answer.Explanations) != 1 {
				t.Fatalf("answer %s: want {\"explanations\": [one]} (%v)", body, err)
			}
			exp := &explainerv1.Explanation{}
			if err := protojson.Unmarshal(answer.Explanations[0], exp); err != nil {
				t.Fatalf("explanation is not the protojson Explanation: %v", err)
			}
			tt.check(t, exp)
			if tt.model == "breast_cancer" {
				explainRows(t, base+"/v1/models/"+tt.model+":explain", breastCancerRows(t, batchRows))
			}

			// The same sidecar's JSON API, every method of the model's kind.
			for method, req := range tt.methods {
				resp, err := http.Post(base+"/explainer.v1.ExplainerService/Explain", "application/json", strings.NewReader(req))
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				var answer struct {
					Explanation json.RawMessage `json:"explanation"`
				}
				if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &answer) != nil {
					t.Errorf("%s: HTTP %d: %s", method, resp.StatusCode, body)
					continue
				}
				exp := &explainerv1.Explanation{}
				if err := protojson.Unmarshal(answer.Explanation, exp); err != nil {
					t.Errorf("%s: not an Explanation: %v", method, err)
					continue
				}
				if len(exp.GetLabels()) == 0 && len(exp.GetMaps()) == 0 {
					t.Errorf("%s: an empty explanation: %s", method, body)
				}
			}
		})
	}
}

// breastCancerData is the first n rows of testdata/breast_cancer.csv as
// the API's Dataset in JSON, with the target column as the targets.
func breastCancerData(t *testing.T, n int) string {
	t.Helper()
	b, err := os.ReadFile("../../testdata/breast_cancer.csv")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	header := strings.Split(lines[0], ",")
	var values, targets []string
	for _, line := range lines[1 : n+1] {
		for i, v := range strings.Split(line, ",") {
			if header[i] == "target" {
				targets = append(targets, v)
			} else {
				values = append(values, v)
			}
		}
	}
	return fmt.Sprintf(`{"num_rows": %d, "values": [%s], "targets": [%s]}`, n, strings.Join(values, ","), strings.Join(targets, ","))
}

// breastCancerRow is the first data row of testdata/breast_cancer.csv as
// a JSON array, without its target column.
func breastCancerRow(t *testing.T) string {
	t.Helper()
	return breastCancerRows(t, 1)
}

// breastCancerRows is the first n data rows of testdata/breast_cancer.csv
// as JSON arrays, without their target column, separated by commas.
func breastCancerRows(t *testing.T, n int) string {
	t.Helper()
	b, err := os.ReadFile("../../testdata/breast_cancer.csv")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	header := strings.Split(lines[0], ",")
	rows := make([]string, n)
	for k := range rows {
		var values []string
		for i, v := range strings.Split(lines[1+k], ",") {
			if header[i] != "target" {
				values = append(values, v)
			}
		}
		rows[k] = "[" + strings.Join(values, ", ") + "]"
	}
	return strings.Join(rows, ", ")
}

// freePort returns a port free on every interface: KServe's --http_port
// binds 0.0.0.0.
func freePort(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	return fmt.Sprint(lis.Addr().(*net.TCPAddr).Port)
}

// waitReady polls KServe's readiness endpoint, as the kubelet would,
// until it answers 200, the process exits, or readyTimeout passes.
func waitReady(t *testing.T, url string, exited <-chan struct{}, logs *tailBuffer) {
	t.Helper()
	deadline := time.Now().Add(readyTimeout)
	for delay := 20 * time.Millisecond; ; delay = min(2*delay, 500*time.Millisecond) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-exited:
			t.Fatalf("the explainer exited before it was ready:\n%s", lastLines(logs.String(), 20))
		case <-time.After(delay):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after %v\n%s", url, readyTimeout, lastLines(logs.String(), 20))
		}
	}
}

// batchRows is how many rows explainRows posts.
const batchRows = 20

// explainRows posts batchRows rows to :explain, which sends them as one
// batch job: row i is explained with the seed 3 + i (a job per row would
// give every row the seed 3), each row its own top label, in order.
func explainRows(t *testing.T, url, rows string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(`{"instances": [`+rows+`], "parameters": {"lime": {"num_samples": 300, "seed": 3}}}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var answer struct {
		Explanations []json.RawMessage `json:"explanations"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &answer) != nil || len(answer.Explanations) != batchRows {
		t.Fatalf("%d rows: HTTP %d %.300s: want %d explanations", batchRows, resp.StatusCode, body, batchRows)
	}
	labels := map[uint32]int{}
	for i, raw := range answer.Explanations {
		exp := &explainerv1.Explanation{}
		if err := protojson.Unmarshal(raw, exp); err != nil {
			t.Fatalf("row %d: not an Explanation: %v", i, err)
		}
		if exp.GetSeed() != uint64(3+i) {
			t.Errorf("row %d: seed %d, want %d: the rows did not go as one batch job", i, exp.GetSeed(), 3+i)
		}
		scores := exp.GetInstanceScores()
		if len(exp.GetLabels()) != 1 || len(scores) != 2 {
			t.Fatalf("row %d: %d labels, %d scores", i, len(exp.GetLabels()), len(scores))
		}
		label := exp.GetLabels()[0].GetLabel()
		if top := uint32(map[bool]int{true: 1, false: 0}[scores[1] > scores[0]]); label != top {
			t.Errorf("row %d explains label %d, not its top label %d (scores %v)", i, label, top, scores)
		}
		labels[label]++
		// The rows take the training data's feature names, as one row does.
		if f := exp.GetLabels()[0].GetAttributions()[0].GetFeature(); !strings.Contains(f, "mean ") && !strings.Contains(f, "worst ") && !strings.Contains(f, " error") {
			t.Errorf("row %d: feature %q is not named after testdata/breast_cancer.csv's columns", i, f)
		}
	}
	if len(labels) < 2 {
		t.Errorf("labels %v: want rows of both classes, each explaining its own", labels)
	}
}
