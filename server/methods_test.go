package server

import (
	"context"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/explainer-sidecar/explainer/predictor"
	"github.com/explainer-sidecar/explainer/predictor/predictortest"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// linearScore is f(x) = b + w·x, one output column.
func linearScore(w []float64, b float64) predictortest.ScoreFunc {
	return func(rows [][]float64) [][]float64 {
		out := make([][]float64, len(rows))
		for i, r := range rows {
			s := b
			for j, v := range r {
				s += w[j] * v
			}
			out[i] = []float64{s}
		}
		return out
	}
}

func flat(rows [][]float64) []float64 {
	var out []float64
	for _, r := range rows {
		out = append(out, r...)
	}
	return out
}

func kernelSHAPRequest(instance []float64, bg [][]float64, edit func(*explainerv1.KernelShapOptions)) *explainerv1.ExplainRequest {
	seed := uint64(3)
	o := &explainerv1.KernelShapOptions{
		Background: &explainerv1.Dataset{NumRows: uint32(len(bg)), Values: flat(bg)},
		Seed:       &seed,
	}
	if edit != nil {
		edit(o)
	}
	return &explainerv1.ExplainRequest{
		Model:    "model",
		Instance: &explainerv1.Instance{Kind: &explainerv1.Instance_Tabular{Tabular: &explainerv1.TabularInstance{Values: instance}}},
		Method:   &explainerv1.ExplainRequest_KernelShap{KernelShap: o},
	}
}

func TestKernelSHAPOverBothProtocols(t *testing.T) {
	// A linear model with an independent background: the Shapley values are
	// exactly w_i (x_i − mean_b x_i); on the wire FP32 (KServe) rounds
	// inputs and outputs to float32, about 1e-7 relative.
	w := []float64{2, -1, 0.5, 0, 3}
	bg := trainingRows()[:20]
	mean := make([]float64, testFeatures)
	for _, r := range bg {
		for j, v := range r {
			mean[j] += v / float64(len(bg))
		}
	}
	for _, tc := range []struct {
		name  string
		start func(t *testing.T) ClientFunc
		tol   float64
	}{
		{"predict.v1", func(t *testing.T) ClientFunc {
			fake := predictortest.NewPredictServer(linearScore(w, 0.5))
			ts := predictortest.NewBufconnServer(fake)
			t.Cleanup(ts.Close)
			return func(m string) predictor.Client { return predictor.NewPredictV1(ts.Conn, m) }
		}, 1e-9},
		{"kserve v2 fp32", func(t *testing.T) ClientFunc {
			fake := predictortest.NewKServeServer(linearScore(w, 0.5))
			ts := predictortest.NewBufconnServer(fake)
			t.Cleanup(ts.Close)
			return func(m string) predictor.Client { return predictor.NewKServeV2(ts.Conn, m) }
		}, 1e-5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := startSidecar(t, tc.start(t))
			resp, err := sc.client.Explain(context.Background(), kernelSHAPRequest(testInstance, bg, nil))
			if err != nil {
				t.Fatal(err)
			}
			exp := resp.GetExplanation()
			l := exp.GetLabels()[0]
			if exp.GetMethod() != "kernelshap" || len(l.GetAttributions()) != testFeatures {
				t.Fatalf("method %q, %d attributions", exp.GetMethod(), len(l.GetAttributions()))
			}
			sum := 0.0
			for _, a := range l.GetAttributions() {
				j := a.GetIndex()
				want := w[j] * (testInstance[j] - mean[j])
				if math.Abs(a.GetWeight()-want) > tc.tol*(1+math.Abs(want)) {
					t.Errorf("φ_%d = %v, want %v", j, a.GetWeight(), want)
				}
				sum += a.GetWeight()
			}
			if d := math.Abs(sum - (l.GetModelValue() - l.GetBaseValue())); d > 1e-9 {
				t.Errorf("Σφ = %v, f(x) − E[f] = %v", sum, l.GetModelValue()-l.GetBaseValue())
			}
		})
	}
}

func TestKernelSHAPGroupsNamed(t *testing.T) {
	_, newClient := predictV1Model(t, nil)
	sc := startSidecar(t, newClient)
	resp, err := sc.client.Explain(context.Background(), kernelSHAPRequest(testInstance, trainingRows()[:10], func(o *explainerv1.KernelShapOptions) {
		o.Groups = []*explainerv1.FeatureGroup{{Features: []uint32{0, 1}, Name: "first two"}, {Features: []uint32{3}}}
		o.Link = explainerv1.Link_LINK_LOGIT
		o.Labels = []uint32{1}
	}))
	if err != nil {
		t.Fatal(err)
	}
	l := resp.GetExplanation().GetLabels()[0]
	if len(l.GetAttributions()) != 2 {
		t.Fatalf("%d attributions, want one per group", len(l.GetAttributions()))
	}
	if a := l.GetAttributions()[0]; a.GetFeature() != "first two" || len(a.GetFeatures()) != 2 {
		t.Errorf("group 0: %v, want the name \"first two\" and its 2 features", a)
	}
	if a := l.GetAttributions()[1]; a.GetFeature() != "x3" {
		t.Errorf("group 1 described %q, want its member's name x3", a.GetFeature())
	}
	// The logit link: f(x) in log-odds.
	p := resp.GetExplanation().GetInstanceScores()[1]
	if d := math.Abs(l.GetModelValue() - math.Log(p/(1-p))); d > 1e-9 {
		t.Errorf("model value %v, want logit(%v)", l.GetModelValue(), p)
	}
}

// permutationData is rows scored by the test's logistic model, with the
// model's own hard predictions as targets except every 7th row flipped.
func permutationData(n int) ([][]float64, []float64) {
	rows := make([][]float64, n)
	targets := make([]float64, n)
	score := predictortest.Logistic(testWeights, testBias)
	for i := range rows {
		rows[i] = make([]float64, testFeatures)
		for j := range rows[i] {
			rows[i][j] = math.Sin(float64(i*7+j*13)) * 2
		}
		if score(rows[i : i+1])[0][1] > 0.5 {
			targets[i] = 1
		}
		if i%7 == 0 {
			targets[i] = 1 - targets[i]
		}
	}
	return rows, targets
}

func permutationRequest(rows [][]float64, targets []float64, streamed bool) *explainerv1.ExplainRequest {
	seed := uint64(9)
	o := &explainerv1.PermutationOptions{Repeats: 4, Seed: &seed, Scoring: explainerv1.Scoring_SCORING_ACCURACY}
	if streamed {
		o.Streamed = true
		o.Data = &explainerv1.Dataset{FeatureNames: []string{"a", "b", "c", "d", "e"}}
	} else {
		o.Data = &explainerv1.Dataset{NumRows: uint32(len(rows)), Values: flat(rows), Targets: targets, FeatureNames: []string{"a", "b", "c", "d", "e"}}
	}
	return &explainerv1.ExplainRequest{Model: "model", Method: &explainerv1.ExplainRequest_Permutation{Permutation: o}}
}

func dataChunk(id string, rows [][]float64, targets []float64, last bool) *explainerv1.ExplainStreamRequest {
	return &explainerv1.ExplainStreamRequest{Kind: &explainerv1.ExplainStreamRequest_Data{Data: &explainerv1.DataChunk{
		JobId: id, Values: flat(rows), Targets: targets, Last: last,
	}}}
}

func TestPermutationStreamedEqualsInline(t *testing.T) {
	_, newClient := predictV1Model(t, func(p *predictortest.PredictServer) { p.MaxBatchSize = 64 })
	sc := startSidecar(t, newClient)
	rows, targets := permutationData(500)

	inline, err := sc.client.Explain(context.Background(), permutationRequest(rows, targets, false))
	if err != nil {
		t.Fatal(err)
	}

	stream, err := sc.client.ExplainStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	send := func(m *explainerv1.ExplainStreamRequest) {
		t.Helper()
		if err := stream.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	send(startJob("p", permutationRequest(nil, nil, true)))
	for lo := 0; lo < len(rows); lo += 128 {
		hi := min(lo+128, len(rows))
		send(dataChunk("p", rows[lo:hi], targets[lo:hi], hi == len(rows)))
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	var result *explainerv1.Explanation
	var partials []uint32
	for {
		msg, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch ev := msg.GetEvent().(type) {
		case *explainerv1.ExplainStreamResponse_Partial:
			partials = append(partials, ev.Partial.GetRepeatsDone())
			for _, a := range ev.Partial.GetLabels()[0].GetAttributions() {
				if len(a.GetValues()) != int(ev.Partial.GetRepeatsDone()) {
					t.Fatalf("partial after %d repeats holds %d values", ev.Partial.GetRepeatsDone(), len(a.GetValues()))
				}
			}
		case *explainerv1.ExplainStreamResponse_Result:
			result = ev.Result
		case *explainerv1.ExplainStreamResponse_Error:
			t.Fatalf("job failed: %v", ev.Error)
		}
	}
	if result == nil {
		t.Fatal("no result")
	}
	if len(partials) == 0 || partials[len(partials)-1] > 4 {
		t.Errorf("partial results after repeats %v, want some of 1..4 (coalesced)", partials)
	}
	got, want := result.GetLabels()[0], inline.GetExplanation().GetLabels()[0]
	if !proto.Equal(got, want) || result.GetBaselineScore() != inline.GetExplanation().GetBaselineScore() {
		t.Fatalf("streamed:\n%v\ninline:\n%v", got, want)
	}
	// Feature 4 has weight 0 in the model: permuting it changes nothing.
	for _, a := range got.GetAttributions() {
		if a.GetIndex() == 4 {
			for r, v := range a.GetValues() {
				if v != 0 {
					t.Errorf("importance of the unused feature on repeat %d = %v, want exactly 0", r, v)
				}
			}
		}
		if a.GetIndex() == 3 && a.GetWeight() <= 0.05 {
			t.Errorf("importance of the dominant feature %v, want clearly positive", a.GetWeight())
		}
	}
	if result.GetScoring() != explainerv1.Scoring_SCORING_ACCURACY || result.GetBaselineScore() < 0.8 {
		t.Errorf("scoring %v baseline %v", result.GetScoring(), result.GetBaselineScore())
	}
}

func TestSensitivityOfLinearModel(t *testing.T) {
	// Central differences are exact for a linear model up to rounding.
	w := []float64{2, -1, 0.5, 0, 3}
	fake := predictortest.NewPredictServer(linearScore(w, 1))
	ts := predictortest.NewBufconnServer(fake)
	defer ts.Close()
	sc := startSidecar(t, func(m string) predictor.Client { return predictor.NewPredictV1(ts.Conn, m) })
	rows := trainingRows()[:50]
	resp, err := sc.client.Explain(context.Background(), &explainerv1.ExplainRequest{
		Model: "model",
		Method: &explainerv1.ExplainRequest_Sensitivity{Sensitivity: &explainerv1.SensitivityOptions{
			Data: &explainerv1.Dataset{NumRows: 50, Values: flat(rows)},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range resp.GetExplanation().GetLabels()[0].GetAttributions() {
		j := a.GetIndex()
		if math.Abs(a.GetWeight()-w[j]) > 1e-6 || math.Abs(a.GetMeanAbs()-math.Abs(w[j])) > 1e-6 {
			t.Errorf("feature %d: mean derivative %v (|%v|), want %v", j, a.GetWeight(), a.GetMeanAbs(), w[j])
		}
	}
}

func TestStreamedDataErrors(t *testing.T) {
	rows, targets := permutationData(40)
	tests := []struct {
		name string
		msgs []*explainerv1.ExplainStreamRequest
		want string
	}{
		{"chunk of partial rows", []*explainerv1.ExplainStreamRequest{
			startJob("j", permutationRequest(nil, nil, true)),
			{Kind: &explainerv1.ExplainStreamRequest_Data{Data: &explainerv1.DataChunk{JobId: "j", Values: []float64{1, 2, 3}, Last: true}}},
		}, "3 values are not whole rows of 5 features"},
		{"missing targets", []*explainerv1.ExplainStreamRequest{
			startJob("j", permutationRequest(nil, nil, true)),
			dataChunk("j", rows, nil, true),
		}, "0 targets for 40 rows"},
		{"stream ends before the last chunk", []*explainerv1.ExplainStreamRequest{
			startJob("j", permutationRequest(nil, nil, true)),
			dataChunk("j", rows, targets, false),
		}, "the stream ended before the chunk with last set"},
	}
	_, newClient := predictV1Model(t, nil)
	sc := startSidecar(t, newClient)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stream, err := sc.client.ExplainStream(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range tt.msgs {
				if err := stream.Send(m); err != nil {
					t.Fatal(err)
				}
			}
			if err := stream.CloseSend(); err != nil {
				t.Fatal(err)
			}
			msg, err := stream.Recv()
			if err != nil {
				t.Fatal(err)
			}
			e := msg.GetError()
			if e == nil || codes.Code(e.GetCode()) != codes.InvalidArgument || !strings.Contains(e.GetMessage(), tt.want) {
				t.Fatalf("event %v, want INVALID_ARGUMENT containing %q", msg, tt.want)
			}
		})
	}
	// Streamed data on the unary call is refused.
	_, err := sc.client.Explain(context.Background(), permutationRequest(nil, nil, true))
	if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "needs ExplainStream") {
		t.Fatalf("unary streamed: %v", err)
	}
}

func TestPermutationCancel(t *testing.T) {
	fake, newClient := predictV1Model(t, func(p *predictortest.PredictServer) {
		p.MaxBatchSize = 20
		p.Delay = 10 * time.Millisecond
	})
	sc := startSidecar(t, newClient, WithInFlight(2))
	rows, targets := permutationData(400)
	stream, err := sc.client.ExplainStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(startJob("p", permutationRequest(rows, targets, false))); err != nil {
		t.Fatal(err)
	}
	cancelOnFirstProgress(t, stream, "p", fake)
}

func TestGlobalMethodsOverKServe(t *testing.T) {
	// Through Triton's protocol, inputs and outputs travel as FP32.
	fake, newClient := kserveModel(t, nil)
	sc := startSidecar(t, newClient)
	rows, targets := permutationData(300)
	resp, err := sc.client.Explain(context.Background(), permutationRequest(rows, targets, false))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range resp.GetExplanation().GetLabels()[0].GetAttributions() {
		if a.GetIndex() == 4 && (a.GetWeight() != 0 || a.GetStd() != 0) {
			t.Errorf("importance of the unused feature %v ± %v, want exactly 0", a.GetWeight(), a.GetStd())
		}
	}
	if fake.MaxBatch() > 64 {
		t.Errorf("a batch of %d rows reached a model with max_batch_size 64", fake.MaxBatch())
	}

	// Sensitivity of a linear model: float32 rounding of x ± h (h ≈ 0.01)
	// and of outputs near 5 costs about 1e-7·5/0.02 ≈ 3e-5 per derivative.
	w := []float64{2, -1, 0.5, 0, 3}
	lin := predictortest.NewKServeServer(linearScore(w, 1))
	ts := predictortest.NewBufconnServer(lin)
	defer ts.Close()
	sc2 := startSidecar(t, func(m string) predictor.Client { return predictor.NewKServeV2(ts.Conn, m) })
	resp, err = sc2.client.Explain(context.Background(), &explainerv1.ExplainRequest{
		Model: "model",
		Method: &explainerv1.ExplainRequest_Sensitivity{Sensitivity: &explainerv1.SensitivityOptions{
			Data: &explainerv1.Dataset{NumRows: 50, Values: flat(trainingRows()[:50])},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range resp.GetExplanation().GetLabels()[0].GetAttributions() {
		if j := a.GetIndex(); math.Abs(a.GetWeight()-w[j]) > 1e-3 {
			t.Errorf("feature %d: mean derivative %v, want %v", j, a.GetWeight(), w[j])
		}
	}
}

// cueScore scores P(positive) = σ(2·[good] − 2·[bad]) from whole words.
func cueScore(texts []string) [][]float64 {
	out := make([][]float64, len(texts))
	for i, t := range texts {
		z := 0.0
		for _, w := range strings.Fields(strings.ToLower(t)) {
			switch strings.Trim(w, ".,!") {
			case "good":
				z += 2
			case "bad":
				z -= 2
			}
		}
		p := 1 / (1 + math.Exp(-z))
		out[i] = []float64{1 - p, p}
	}
	return out
}

func TestLIMETextOverBothProtocols(t *testing.T) {
	const text = "The food was good, the service was bad, and the room was good."
	for _, tc := range []struct {
		name  string
		start func(t *testing.T) ClientFunc
	}{
		{"predict.v1", func(t *testing.T) ClientFunc {
			fake := predictortest.NewPredictServer(nil)
			fake.TextScore = cueScore
			ts := predictortest.NewBufconnServer(fake)
			t.Cleanup(ts.Close)
			return func(m string) predictor.Client { return predictor.NewPredictV1(ts.Conn, m) }
		}},
		{"kserve v2 BYTES", func(t *testing.T) ClientFunc {
			fake := predictortest.NewKServeServer(nil)
			fake.TextScore = cueScore
			fake.MaxBatchSize = 64
			ts := predictortest.NewBufconnServer(fake)
			t.Cleanup(ts.Close)
			return func(m string) predictor.Client {
				return predictor.NewKServeV2(ts.Conn, m, predictor.WithInputName("TEXT0"))
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := startSidecar(t, tc.start(t))
			seed := uint64(4)
			resp, err := sc.client.Explain(context.Background(), &explainerv1.ExplainRequest{
				Model:    "model",
				Instance: &explainerv1.Instance{Kind: &explainerv1.Instance_Text{Text: &explainerv1.TextInstance{Text: text}}},
				Method: &explainerv1.ExplainRequest_LimeText{LimeText: &explainerv1.LimeTextOptions{
					NumSamples: 1000, NumFeatures: 3, Labels: []uint32{1}, Seed: &seed,
				}},
			})
			if err != nil {
				t.Fatal(err)
			}
			exp := resp.GetExplanation()
			if exp.GetMethod() != "lime_text" || exp.GetNumSamples() != 1000 {
				t.Fatalf("method %q, %d samples", exp.GetMethod(), exp.GetNumSamples())
			}
			got := map[string]*explainerv1.Attribution{}
			for _, a := range exp.GetLabels()[0].GetAttributions() {
				got[a.GetFeature()] = a
			}
			good, bad := got["good"], got["bad"]
			if good == nil || bad == nil || good.GetWeight() <= 0 || bad.GetWeight() >= 0 {
				t.Fatalf("attributions %v: want good positive and bad negative", exp.GetLabels()[0].GetAttributions())
			}
			// Every occurrence of the word, as byte offsets into the text.
			if len(good.GetSpans()) != 2 {
				t.Fatalf("good has %d spans, want 2", len(good.GetSpans()))
			}
			for _, sp := range good.GetSpans() {
				if text[sp.GetStart():sp.GetEnd()] != "good" {
					t.Errorf("span [%d,%d) is %q", sp.GetStart(), sp.GetEnd(), text[sp.GetStart():sp.GetEnd()])
				}
			}
		})
	}
}

func TestLIMETextRejects(t *testing.T) {
	_, newClient := predictV1Model(t, nil)
	sc := startSidecar(t, newClient)
	for _, tt := range []struct {
		name string
		inst *explainerv1.TextInstance
		o    *explainerv1.LimeTextOptions
		want string
	}{
		{"no words", &explainerv1.TextInstance{Text: " ... "}, &explainerv1.LimeTextOptions{}, "instance.text: has no words"},
		{"bad split", &explainerv1.TextInstance{Text: "a b", SplitExpression: "("}, &explainerv1.LimeTextOptions{}, "not a valid RE2 expression"},
		{"too many samples", &explainerv1.TextInstance{Text: "a b"}, &explainerv1.LimeTextOptions{NumSamples: 200000}, "lime_text.num_samples: 200000 is outside"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sc.client.Explain(context.Background(), &explainerv1.ExplainRequest{
				Model:    "model",
				Instance: &explainerv1.Instance{Kind: &explainerv1.Instance_Text{Text: tt.inst}},
				Method:   &explainerv1.ExplainRequest_LimeText{LimeText: tt.o},
			})
			if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), tt.want) {
				t.Fatalf("got %v %q, want InvalidArgument containing %q", st.Code(), st.Message(), tt.want)
			}
		})
	}
}

func TestTextOcclusion(t *testing.T) {
	// Window of one token: each token's attribution is exactly
	// f(text) − f(text without it).
	const text = "good food but bad service"
	fake := predictortest.NewPredictServer(nil)
	fake.TextScore = cueScore
	ts := predictortest.NewBufconnServer(fake)
	defer ts.Close()
	sc := startSidecar(t, func(m string) predictor.Client { return predictor.NewPredictV1(ts.Conn, m) })
	resp, err := sc.client.Explain(context.Background(), &explainerv1.ExplainRequest{
		Model:    "model",
		Instance: &explainerv1.Instance{Kind: &explainerv1.Instance_Text{Text: &explainerv1.TextInstance{Text: text}}},
		Method:   &explainerv1.ExplainRequest_Occlusion{Occlusion: &explainerv1.OcclusionOptions{Labels: []uint32{1}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	words := strings.Fields(text)
	full := cueScore([]string{text})[0][1]
	attrs := resp.GetExplanation().GetLabels()[0].GetAttributions()
	if len(attrs) != len(words) {
		t.Fatalf("%d attributions for %d tokens", len(attrs), len(words))
	}
	for i, a := range attrs {
		without := strings.Join(append(append([]string{}, words[:i]...), words[i+1:]...), " ")
		want := full - cueScore([]string{without})[0][1]
		if a.GetFeature() != words[i] || math.Abs(a.GetWeight()-want) > 1e-12 {
			t.Errorf("token %d %q: %v, want %q %v", i, a.GetFeature(), a.GetWeight(), words[i], want)
		}
		if sp := a.GetSpans(); len(sp) != 1 || text[sp[0].GetStart():sp[0].GetEnd()] != words[i] {
			t.Errorf("token %d spans %v", i, sp)
		}
	}
	if resp.GetExplanation().GetNumSamples() != uint64(len(words)+1) {
		t.Errorf("%d samples, want the text and one per window", resp.GetExplanation().GetNumSamples())
	}
}

func TestKernelSHAPTextAndImage(t *testing.T) {
	// Text: an additive word model, so φ of a word is its weight exactly.
	fake := predictortest.NewPredictServer(func(rows [][]float64) [][]float64 {
		// Image: class 1 is the mean of the top-left quarter of a 4×4×1 image.
		out := make([][]float64, len(rows))
		for i, r := range rows {
			p := (r[0] + r[1] + r[4] + r[5]) / 4
			out[i] = []float64{1 - p, p}
		}
		return out
	})
	fake.TextScore = func(texts []string) [][]float64 {
		out := make([][]float64, len(texts))
		for i, s := range texts {
			v := 0.0
			for _, w := range strings.Fields(s) {
				switch w {
				case "good":
					v += 0.3
				case "bad":
					v -= 0.2
				}
			}
			out[i] = []float64{v}
		}
		return out
	}
	ts := predictortest.NewBufconnServer(fake)
	defer ts.Close()
	sc := startSidecar(t, func(m string) predictor.Client { return predictor.NewPredictV1(ts.Conn, m) })

	resp, err := sc.client.Explain(context.Background(), &explainerv1.ExplainRequest{
		Model:    "model",
		Instance: &explainerv1.Instance{Kind: &explainerv1.Instance_Text{Text: &explainerv1.TextInstance{Text: "good food bad good"}}},
		Method:   &explainerv1.ExplainRequest_KernelShap{KernelShap: &explainerv1.KernelShapOptions{}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"good": 0.6, "food": 0, "bad": -0.2}
	for _, a := range resp.GetExplanation().GetLabels()[0].GetAttributions() {
		if math.Abs(a.GetWeight()-want[a.GetFeature()]) > 1e-9 {
			t.Errorf("φ(%s) = %v, want %v", a.GetFeature(), a.GetWeight(), want[a.GetFeature()])
		}
		if a.GetFeature() == "good" && len(a.GetSpans()) != 2 {
			t.Errorf("good has %d spans, want 2", len(a.GetSpans()))
		}
	}

	img := make([]float32, 16)
	for i := range img {
		img[i] = 0.1 * float32(i%5)
	}
	resp, err = sc.client.Explain(context.Background(), &explainerv1.ExplainRequest{
		Model:    "model",
		Instance: &explainerv1.Instance{Kind: &explainerv1.Instance_Image{Image: &explainerv1.ImageInstance{Height: 4, Width: 4, Channels: 1, Values: img}}},
		Method: &explainerv1.ExplainRequest_KernelShap{KernelShap: &explainerv1.KernelShapOptions{
			Labels:       []uint32{1},
			Segmentation: &explainerv1.Segmentation{Kind: &explainerv1.Segmentation_Grid{Grid: &explainerv1.GridSegmentation{Rows: 2, Cols: 2}}},
			Fill:         &explainerv1.Fill{Kind: explainerv1.FillKind_FILL_KIND_CONSTANT},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	exp := resp.GetExplanation()
	l := exp.GetLabels()[0]
	sum := 0.0
	for _, a := range l.GetAttributions() {
		sum += a.GetWeight()
		// Only the top-left segment moves the score: with a zero fill its
		// φ is the model's value, the others' 0.
		want := 0.0
		if a.GetIndex() == 0 {
			want = l.GetModelValue() - l.GetBaseValue()
		}
		if math.Abs(a.GetWeight()-want) > 1e-6 {
			t.Errorf("segment %d: φ %v, want %v", a.GetIndex(), a.GetWeight(), want)
		}
	}
	if exp.GetMethod() != "kernelshap_image" || exp.GetSegments() == nil || math.Abs(sum-(l.GetModelValue()-l.GetBaseValue())) > 1e-9 {
		t.Errorf("method %q, segments %v, Σφ %v vs %v", exp.GetMethod(), exp.GetSegments() != nil, sum, l.GetModelValue()-l.GetBaseValue())
	}
}
