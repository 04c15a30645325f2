package main

import (
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

func TestDemoAutoSamplingAndEvaluation(t *testing.T) {
	curves := filepath.Join(t.TempDir(), "curves.png")
	out, _, err := runCLI(t, "demo", "-output", "json", "-num-samples", "auto", "-tolerance", "0.02", "-budget", "8000",
		"-evaluate", "-stability-runs", "2", "-curves-png", curves)
	if err != nil {
		t.Fatal(err)
	}
	exp := decode(t, out)
	if exp.StopReason == explainerv1.StopReason_STOP_REASON_UNSPECIFIED || exp.Rounds == 0 || exp.Precision == 0 || exp.NumSamples > 8000 {
		t.Fatalf("auto sampling fields: stop %v, %d rounds, precision %v, %d samples", exp.StopReason, exp.Rounds, exp.Precision, exp.NumSamples)
	}
	if exp.StopReason == explainerv1.StopReason_STOP_REASON_TARGET_MET && exp.Precision > 0.02 {
		t.Errorf("target met with precision %v above the tolerance", exp.Precision)
	}
	for _, a := range exp.Labels[0].Attributions {
		if a.StdError <= 0 {
			t.Errorf("attribution %q has no standard error", a.Feature)
		}
	}
	ev := exp.Evaluation
	if ev == nil || ev.Stability == nil || ev.Stability.Runs != 2 || len(ev.Curves) != 1 || len(ev.Curves[0].Deletion) != 21 {
		t.Fatalf("evaluation %+v", ev)
	}
	f, err := os.Open(curves)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Errorf("-curves-png did not write a PNG: %v", err)
	}

	table, _, err := runCLI(t, "demo", "-num-samples", "1000", "-evaluate", "-stability-runs", "2")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{" ± ", "evaluation (", "stability over 2 seeds", "deletion area"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
}

func TestCheckFlagsRejects(t *testing.T) {
	for _, args := range [][]string{
		{"demo", "-tolerance", "0.1"},
		{"demo", "-curves-png", "x.png"},
		{"demo", "-num-samples", "many"},
	} {
		if _, _, err := runCLI(t, args...); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
