package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/explainer-sidecar/explainer/predictor"
	"github.com/explainer-sidecar/explainer/predictor/predictortest"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

func anchorsRequest(inst *explainerv1.Instance, edit func(*explainerv1.AnchorOptions)) *explainerv1.ExplainRequest {
	seed := uint64(3)
	o := &explainerv1.AnchorOptions{Seed: &seed, CoverageSamples: 1000}
	if inst.GetTabular() != nil {
		rows := trainingRows()
		o.Training = &explainerv1.Dataset{NumRows: uint32(len(rows)), Values: flat(rows)}
	}
	if edit != nil {
		edit(o)
	}
	return &explainerv1.ExplainRequest{Model: "model", Instance: inst, Method: &explainerv1.ExplainRequest_Anchors{Anchors: o}}
}

func tabularInst(v []float64) *explainerv1.Instance {
	return &explainerv1.Instance{Kind: &explainerv1.Instance_Tabular{Tabular: &explainerv1.TabularInstance{Values: v}}}
}

func textInst(s string) *explainerv1.Instance {
	return &explainerv1.Instance{Kind: &explainerv1.Instance_Text{Text: &explainerv1.TextInstance{Text: s}}}
}

// TestAnchorsTabularOverBothProtocols: the same request gives the same
// anchor over predict.v1 and KServe v2 (the scheduler splits the calls to
// each model's cap), with the predicted class as the label, the rule's
// predicates named by lime's bins, and the model calls counted.
func TestAnchorsTabularOverBothProtocols(t *testing.T) {
	var anchors []*explainerv1.Anchor
	for _, start := range []func(*testing.T) ClientFunc{
		func(t *testing.T) ClientFunc { _, c := predictV1Model(t, nil); return c },
		func(t *testing.T) ClientFunc { _, c := kserveModel(t, nil); return c },
	} {
		sc := startSidecar(t, start(t))
		resp, err := sc.client.Explain(context.Background(), anchorsRequest(tabularInst(testInstance), nil))
		if err != nil {
			t.Fatal(err)
		}
		exp := resp.GetExplanation()
		l := exp.GetLabels()[0]
		a := l.GetAnchor()
		if exp.GetMethod() != "anchors" || exp.GetSeed() != 3 || exp.GetModelCalls() == 0 || a == nil {
			t.Fatalf("method %q seed %d calls %d anchor %v", exp.GetMethod(), exp.GetSeed(), exp.GetModelCalls(), a)
		}
		// The logistic model puts testInstance in class 1.
		if l.GetLabel() != 1 {
			t.Errorf("label %d, want 1", l.GetLabel())
		}
		if !a.GetThresholdMet() || a.GetPrecision() < 0.95 || len(a.GetPredicates()) == 0 || len(a.GetCoveredTrue()) == 0 {
			t.Fatalf("anchor %v", a)
		}
		for _, p := range a.GetPredicates() {
			if d := p.GetDescription(); !strings.Contains(d, "x") || !strings.ContainsAny(d, "<>") {
				t.Errorf("predicate %q is no bin of a feature", d)
			}
		}
		anchors = append(anchors, a)
	}
	if anchors[0].GetPrecision() != anchors[1].GetPrecision() || len(anchors[0].GetPredicates()) != len(anchors[1].GetPredicates()) {
		t.Errorf("the protocols disagree: %v and %v", anchors[0], anchors[1])
	}
}

// bothWords puts a text in class 1 when it holds "good" and "food".
func bothWords(texts []string) [][]float64 {
	out := make([][]float64, len(texts))
	for i, s := range texts {
		out[i] = []float64{0.9, 0.1}
		if strings.Contains(s, "good") && strings.Contains(s, "food") {
			out[i] = []float64{0.1, 0.9}
		}
	}
	return out
}

// TestAnchorsTextStreamsRounds: a text anchor streams a partial result per
// beam round (Explanation.rounds counts them; the model is slow enough
// that the first round's is sent before the second round ends), and the
// final anchor is the two words the model needs, each with its spans.
func TestAnchorsTextStreamsRounds(t *testing.T) {
	fake := predictortest.NewPredictServer(nil)
	fake.TextScore = bothWords
	fake.Delay = 5 * time.Millisecond
	ts := predictortest.NewBufconnServer(fake)
	t.Cleanup(ts.Close)
	sc := startSidecar(t, func(m string) predictor.Client { return predictor.NewPredictV1(ts.Conn, m) })
	const text = "the room was good and the food was good but the view was plain"
	stream, err := sc.client.ExplainStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(startJob("a", anchorsRequest(textInst(text), nil))); err != nil {
		t.Fatal(err)
	}
	var rounds []uint32
	var final *explainerv1.Explanation
	for final == nil {
		msg, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case msg.GetPartial() != nil:
			rounds = append(rounds, msg.GetPartial().GetRounds())
		case msg.GetResult() != nil:
			final = msg.GetResult()
		case msg.GetError() != nil:
			t.Fatal(msg.GetError())
		}
	}
	_ = stream.CloseSend()
	if len(rounds) == 0 || rounds[0] != 1 {
		t.Errorf("partial rounds %v, want 1, ...", rounds)
	}
	a := final.GetLabels()[0].GetAnchor()
	if final.GetMethod() != "anchors_text" || len(a.GetPredicates()) != 2 || !a.GetThresholdMet() {
		t.Fatalf("method %q anchor %v", final.GetMethod(), a)
	}
	want := map[string]struct {
		index uint32
		spans int
	}{"good": {3, 2}, "food": {6, 1}}
	for _, p := range a.GetPredicates() {
		w, ok := want[p.GetDescription()]
		if !ok || len(p.GetSpans()) != w.spans || p.GetIndex() != w.index {
			t.Errorf("predicate %v, want good (token 3, 2 spans) and food (token 6, 1 span)", p)
		}
		for _, sp := range p.GetSpans() {
			if text[sp.GetStart():sp.GetEnd()] != p.GetDescription() {
				t.Errorf("span %v is %q", sp, text[sp.GetStart():sp.GetEnd()])
			}
		}
	}
}

// TestAnchorsImageSegments: an image anchor carries the segment map and
// segments as predicates.
func TestAnchorsImageSegments(t *testing.T) {
	fake := predictortest.NewPredictServer(func(rows [][]float64) [][]float64 {
		out := make([][]float64, len(rows))
		for i, r := range rows {
			// Class 0 when the top-left pixel is bright.
			if r[0] > 0.5 {
				out[i] = []float64{0.9, 0.1}
			} else {
				out[i] = []float64{0.2, 0.8}
			}
		}
		return out
	})
	ts := predictortest.NewBufconnServer(fake)
	t.Cleanup(ts.Close)
	sc := startSidecar(t, func(m string) predictor.Client { return predictor.NewPredictV1(ts.Conn, m) })
	pix := make([]float32, 8*8)
	for i := range pix {
		if i%8 < 4 && i/8 < 4 {
			pix[i] = 1
		}
	}
	img := &explainerv1.Instance{Kind: &explainerv1.Instance_Image{Image: &explainerv1.ImageInstance{Height: 8, Width: 8, Channels: 1, Values: pix}}}
	req := anchorsRequest(img, func(o *explainerv1.AnchorOptions) {
		o.Segmentation = &explainerv1.Segmentation{Kind: &explainerv1.Segmentation_Grid{Grid: &explainerv1.GridSegmentation{Rows: 2, Cols: 2}}}
		o.Fill = &explainerv1.Fill{Kind: explainerv1.FillKind_FILL_KIND_CONSTANT}
	})
	resp, err := sc.client.Explain(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	exp := resp.GetExplanation()
	a := exp.GetLabels()[0].GetAnchor()
	if exp.GetMethod() != "anchors_image" || exp.GetSegments() == nil || len(a.GetPredicates()) != 1 || a.GetPredicates()[0].GetIndex() != 0 {
		t.Fatalf("method %q segments %v anchor %v", exp.GetMethod(), exp.GetSegments() != nil, a)
	}
}

// TestAnchorsRejects: each limit and misuse is INVALID_ARGUMENT naming
// the field (and the limit).
func TestAnchorsRejects(t *testing.T) {
	_, newClient := predictV1Model(t, nil)
	sc := startSidecar(t, newClient)
	tests := []struct {
		name string
		req  *explainerv1.ExplainRequest
		want string
	}{
		{"threshold", anchorsRequest(tabularInst(testInstance), func(o *explainerv1.AnchorOptions) { o.Threshold = 1.5 }), "anchors.threshold"},
		{"delta", anchorsRequest(tabularInst(testInstance), func(o *explainerv1.AnchorOptions) { o.Delta = 1 }), "anchors.delta"},
		{"epsilon", anchorsRequest(tabularInst(testInstance), func(o *explainerv1.AnchorOptions) { o.Epsilon = -0.1 }), "anchors.epsilon"},
		{"beam_size", anchorsRequest(tabularInst(testInstance), func(o *explainerv1.AnchorOptions) { o.BeamSize = 101 }), "anchors.beam_size: 101 exceeds limit 100"},
		{"batch_size", anchorsRequest(tabularInst(testInstance), func(o *explainerv1.AnchorOptions) { o.BatchSize = 10001 }), "anchors.batch_size: 10001 exceeds limit 10000"},
		{"coverage_samples", anchorsRequest(tabularInst(testInstance), func(o *explainerv1.AnchorOptions) { o.CoverageSamples = 1000001 }), "anchors.coverage_samples: 1000001 exceeds limit 1000000"},
		{"examples", anchorsRequest(tabularInst(testInstance), func(o *explainerv1.AnchorOptions) { o.Examples = 101 }), "anchors.examples: 101 exceeds limit 100"},
		{"sample_probability", anchorsRequest(textInst("a b"), func(o *explainerv1.AnchorOptions) { o.SampleProbability = 1 }), "anchors.sample_probability"},
		{"no training", anchorsRequest(tabularInst(testInstance), func(o *explainerv1.AnchorOptions) { o.Training = nil }), "anchors.training: required"},
		{"training width", anchorsRequest(tabularInst(testInstance), func(o *explainerv1.AnchorOptions) {
			o.Training = &explainerv1.Dataset{NumRows: 2, Values: make([]float64, 9)}
		}), "anchors.training.values"},
		{"training rows", anchorsRequest(tabularInst(testInstance), func(o *explainerv1.AnchorOptions) {
			o.Training = &explainerv1.Dataset{NumRows: MaxDatasetRows + 1}
		}), "anchors.training.num_rows"},
		{"mask on rows", anchorsRequest(tabularInst(testInstance), func(o *explainerv1.AnchorOptions) { o.MaskString = "x" }), "anchors: mask_string"},
		{"training on text", anchorsRequest(textInst("a b"), func(o *explainerv1.AnchorOptions) { o.Training = &explainerv1.Dataset{} }), "anchors: training"},
		{"stability", func() *explainerv1.ExplainRequest {
			r := anchorsRequest(tabularInst(testInstance), nil)
			r.Evaluation = &explainerv1.Evaluation{StabilityRuns: 3}
			return r
		}(), "evaluation.stability_runs"},
		{"curves", func() *explainerv1.ExplainRequest {
			r := anchorsRequest(tabularInst(testInstance), nil)
			r.Evaluation = &explainerv1.Evaluation{FidelityCurves: true}
			return r
		}(), "evaluation.fidelity_curves"},
		{"auto sampling", func() *explainerv1.ExplainRequest {
			r := anchorsRequest(tabularInst(testInstance), nil)
			r.AutoSampling = &explainerv1.AutoSampling{}
			return r
		}(), "auto_sampling"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sc.client.Explain(context.Background(), tc.req)
			st := status.Convert(err)
			if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), tc.want) {
				t.Fatalf("got %v %q, want INVALID_ARGUMENT with %q", st.Code(), st.Message(), tc.want)
			}
		})
	}
}

// TestAnchorsCancelStopsModelCalls: cancelling an anchors job on its
// first progress event stops its model calls.
func TestAnchorsCancelStopsModelCalls(t *testing.T) {
	fake, newClient := predictV1Model(t, func(p *predictortest.PredictServer) {
		p.MaxBatchSize = 10
		p.Delay = 20 * time.Millisecond
	})
	sc := startSidecar(t, newClient, WithInFlight(2))
	stream, err := sc.client.ExplainStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(startJob("long", anchorsRequest(tabularInst(testInstance), func(o *explainerv1.AnchorOptions) { o.Threshold = 1 }))); err != nil {
		t.Fatal(err)
	}
	cancelOnFirstProgress(t, stream, "long", fake)
}
