package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// clientSummary is what examples/python/client.py --json prints.
type clientSummary struct {
	Status         string `json:"status"`
	Method         string `json:"method"`
	ProgressEvents int    `json:"progress_events"`
	StopReason     string `json:"stop_reason"`
	Evaluation     *struct {
		Stability *struct {
			Runs int `json:"runs"`
		} `json:"stability"`
		Curves []struct {
			DeletionArea       float64 `json:"deletion_area"`
			RandomDeletionArea float64 `json:"random_deletion_area"`
		} `json:"curves"`
	} `json:"evaluation"`
	Labels []struct {
		Label        int `json:"label"`
		Attributions []struct {
			Feature  string  `json:"feature"`
			Weight   float64 `json:"weight"`
			StdError float64 `json:"std_error"`
		} `json:"attributions"`
	} `json:"labels"`
}

// runClient runs client.py against the sidecar; when interruptAfter is
// set, it sends SIGINT once the client has printed that on stderr.
func runClient(t *testing.T, sc *sidecar, interruptAfter string, args ...string) (clientSummary, int) {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("..", "python", "client.py"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, append([]string{script, "--sidecar", sc.addr, "--json"}, args...)...)
	cmd.Env = append(cmd.Environ(), "PYTHONUNBUFFERED=1")
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var errOut strings.Builder
	sc2 := bufio.NewScanner(stderr)
	interrupted := false
	for sc2.Scan() {
		line := sc2.Text()
		errOut.WriteString(line + "\n")
		if interruptAfter != "" && !interrupted && strings.Contains(line, interruptAfter) {
			interrupted = true
			if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
		}
	}
	err = cmd.Wait()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	var sum clientSummary
	if err := json.Unmarshal(stdout.Bytes(), &sum); err != nil {
		t.Fatalf("client.py printed no JSON summary (%v), exit %d; stdout:\n%s\nstderr:\n%s", err, code, stdout.String(), errOut.String())
	}
	return sum, code
}

// TestPythonClient runs examples/python/client.py, the README's Python
// client, against the sidecar: a sentence is explained with progress on
// stderr, and Ctrl-C during a long job cancels it (exit 130, the job ends
// CANCELLED) instead of killing the client mid-stream.
func TestPythonClient(t *testing.T) {
	s := kserveStack(t)
	sum, code := runClient(t, s.sidecar, "", "--model", "sentiment", "--no-progress", "text", "the food was wonderful and the staff were friendly")
	if code != 0 || sum.Status != "ok" || sum.Method != "lime_text" || len(sum.Labels) == 0 {
		t.Fatalf("exit %d, summary %+v", code, sum)
	}
	if top := sum.Labels[0]; top.Label != 1 || len(top.Attributions) == 0 || (top.Attributions[0].Feature != "wonderful" && top.Attributions[0].Feature != "friendly") {
		t.Errorf("top attribution %+v, want wonderful or friendly for the positive class", top)
	}

	// Auto sampling and the checks: the client shows each round, the
	// standard errors and the report.
	sum, code = runClient(t, s.sidecar, "", "--model", "sentiment", "--no-progress", "--auto", "0.01", "--evaluate",
		"text", "the food was wonderful and the staff were friendly")
	if code != 0 || sum.StopReason != "target_met" || sum.Evaluation == nil || sum.Evaluation.Stability == nil ||
		sum.Evaluation.Stability.Runs != 5 || len(sum.Evaluation.Curves) != 1 {
		t.Fatalf("auto and evaluate: exit %d, summary %+v", code, sum)
	}
	if a := sum.Labels[0].Attributions[0]; !(a.StdError > 0 && a.StdError <= 0.01) {
		t.Errorf("top attribution %+v: want a standard error within the tolerance", a)
	}
	if c := sum.Evaluation.Curves[0]; !(c.DeletionArea < c.RandomDeletionArea) {
		t.Errorf("deletion area %v not below random %v for the sentiment words", c.DeletionArea, c.RandomDeletionArea)
	}

	// A job of 100 000 texts takes seconds; interrupt it at its first
	// progress line.
	sum, code = runClient(t, s.sidecar, "samples", "--model", "sentiment", "--num-samples", "100000", "text", "the food was wonderful and the staff were friendly")
	if code != 130 || sum.Status != "cancelled" {
		t.Errorf("interrupted client: exit %d, status %q; want 130 and cancelled", code, sum.Status)
	}
}
