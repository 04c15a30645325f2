package main

import (
	"bytes"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// TestJSONIsProtojson: -output json is the API's JSON, so that any
// protobuf library reads it back into the same Explanation.
func TestJSONIsProtojson(t *testing.T) {
	exp := &explainerv1.Explanation{
		Method: "kernelshap", Model: "m", Seed: 7, NumSamples: 2048, ModelCalls: 9, Elapsed: durationpb.New(21_500_000),
		ClassNames: []string{"no", "yes"}, InstanceScores: []float64{0.25, 0.75},
		Labels: []*explainerv1.LabelExplanation{{Label: 1, ClassName: "yes", Prediction: 0.75, BaseValue: 0.5, ModelValue: 0.75,
			Attributions: []*explainerv1.Attribution{{Index: 2, Feature: "age <= 30", Weight: 0.25, StdError: 0.01}, {Index: 0, Feature: "x0"}}}},
	}
	var buf bytes.Buffer
	if err := render(&buf, "json", exp, view{}); err != nil {
		t.Fatal(err)
	}
	got := &explainerv1.Explanation{}
	if err := protojson.Unmarshal(buf.Bytes(), got); err != nil || !proto.Equal(got, exp) {
		t.Fatalf("read back %v (%v), want %v", got, err, exp)
	}
	out := buf.String()
	for _, want := range []string{`"numSamples": "2048"`, `"instanceScores": [`, `"baseValue": 0.5`, `"elapsed": "0.021500s"`, `"feature": "age <= 30"`, "\n  \"method\": \"kernelshap\",\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("JSON lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "num_samples") || strings.Contains(out, `\u003c`) {
		t.Errorf("not protojson's names, or HTML-escaped:\n%s", out)
	}
	// The same bytes every time: protojson's whitespace is re-indented.
	var again bytes.Buffer
	if err := render(&again, "json", exp, view{}); err != nil || again.String() != out {
		t.Errorf("a second rendering differs")
	}
}
