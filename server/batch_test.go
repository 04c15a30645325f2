package server

import (
	"context"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/explainer-sidecar/explainer/engine"
	"github.com/explainer-sidecar/explainer/predictor"
	"github.com/explainer-sidecar/explainer/predictor/predictortest"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// testRows are n rows around testInstance, some predicted "yes" and
// some "no" by the test model.
func testRows(n int) [][]float64 {
	rows := make([][]float64, n)
	for i := range rows {
		rows[i] = make([]float64, testFeatures)
		for j := range rows[i] {
			rows[i][j] = testInstance[j] + math.Sin(float64(3*i+j))*1.5
		}
		rows[i][3] = 2*math.Sin(float64(i)) - 0.3
	}
	return rows
}

// toBatch turns a single request into a batch of rows: same options.
func toBatch(req *explainerv1.ExplainRequest, rows [][]float64) *explainerv1.ExplainRequest {
	req.Instance = nil
	req.Batch = &explainerv1.InstanceBatch{Kind: &explainerv1.InstanceBatch_Tabular{Tabular: &explainerv1.TabularBatch{
		Rows: &explainerv1.Dataset{NumRows: uint32(len(rows)), Values: flat(rows)},
	}}}
	return req
}

// sameExplanation compares an instance's explanation with a single
// request's, less what differs by nature: model calls (a batch's are
// shared) and wall time.
func sameExplanation(t *testing.T, what string, got, want *explainerv1.Explanation) {
	t.Helper()
	got, want = proto.CloneOf(got), proto.CloneOf(want)
	for _, e := range []*explainerv1.Explanation{got, want} {
		e.ModelCalls, e.Elapsed = 0, nil
	}
	if !proto.Equal(got, want) {
		t.Errorf("%s differs from the single request:\n got %v\nwant %v", what, got, want)
	}
}

func seedOf(s uint64) *uint64 { return &s }

// TestBatchLIMESameAsSingleRequests: instance i of a batch with seed s is
// the single request with seed s + i, bit for bit, with its labels named
// or, when none are, the batch's picked label named.
func TestBatchLIMESameAsSingleRequests(t *testing.T) {
	rows := testRows(10)
	for _, named := range []bool{true, false} {
		t.Run(fmt.Sprintf("labels named %v", named), func(t *testing.T) {
			fake, newClient := predictV1Model(t, nil)
			sc := startSidecar(t, newClient)
			edit := func(o *explainerv1.LimeOptions) {
				o.NumSamples = 400
				if !named {
					o.Labels = nil
				}
			}
			resp, err := sc.client.Explain(context.Background(), toBatch(limeRequest(nil, edit), rows))
			if err != nil {
				t.Fatal(err)
			}
			exp := resp.GetExplanation()
			b := exp.GetBatch()
			if b.GetInstances() != 10 || len(b.GetExplanations()) != 10 || exp.GetSeed() != 11 || exp.GetMethod() != "lime" {
				t.Fatalf("batch of %d instances, %d explanations, seed %d, method %q", b.GetInstances(), len(b.GetExplanations()), exp.GetSeed(), exp.GetMethod())
			}
			labels := []uint32{1}
			if !named {
				if !b.GetLabelPicked() || b.GetLabelCount() == 0 || b.GetLabelCount() == 10 {
					t.Errorf("picked label %d for %d of 10 rows (picked %v): the rows should disagree", b.GetLabel(), b.GetLabelCount(), b.GetLabelPicked())
				}
				labels = []uint32{b.GetLabel()}
			} else if b.GetLabelPicked() {
				t.Error("a label was picked though the request names one")
			}
			// The label pass scores each row once, the instances 400 each.
			if want := 10*400 + map[bool]int{true: 0, false: 10}[named]; fake.Rows() != want || exp.GetNumSamples() != uint64(want) {
				t.Errorf("model scored %d rows (result says %d), want %d", fake.Rows(), exp.GetNumSamples(), want)
			}
			if uint64(fake.Calls()) != exp.GetModelCalls() {
				t.Errorf("model calls %d, the result says %d", fake.Calls(), exp.GetModelCalls())
			}
			for i, got := range b.GetExplanations() {
				single := limeRequest(rows[i], func(o *explainerv1.LimeOptions) {
					o.NumSamples, o.Seed, o.Labels = 400, seedOf(11+uint64(i)), labels
				})
				want, err := sc.client.Explain(context.Background(), single)
				if err != nil {
					t.Fatal(err)
				}
				sameExplanation(t, fmt.Sprintf("instance %d", i), got, want.GetExplanation())
			}
			if len(b.GetSummaries()) != 1 || b.GetSummaries()[0].GetLabel() != labels[0] || len(b.GetSummaries()[0].GetFeatures()) == 0 {
				t.Errorf("summaries %v, want one for label %d", b.GetSummaries(), labels[0])
			}
		})
	}
}

// TestBatchKernelSHAPSharesTheBackground: the background is scored once
// per batch, not per instance, and each instance is still the single
// request with seed s + i.
func TestBatchKernelSHAPSharesTheBackground(t *testing.T) {
	fake, newClient := predictV1Model(t, nil)
	sc := startSidecar(t, newClient)
	bg := trainingRows()[:20]
	rows := testRows(8)
	labels := func(o *explainerv1.KernelShapOptions) { o.Labels = []uint32{1} }
	resp, err := sc.client.Explain(context.Background(), toBatch(kernelSHAPRequest(nil, bg, labels), rows))
	if err != nil {
		t.Fatal(err)
	}
	scoredRows := fake.Rows()
	var singleRows int
	for i, got := range resp.GetExplanation().GetBatch().GetExplanations() {
		before := fake.Rows()
		want, err := sc.client.Explain(context.Background(), kernelSHAPRequest(rows[i], bg, func(o *explainerv1.KernelShapOptions) {
			labels(o)
			o.Seed = seedOf(3 + uint64(i))
		}))
		if err != nil {
			t.Fatal(err)
		}
		singleRows = fake.Rows() - before
		sameExplanation(t, fmt.Sprintf("instance %d", i), got, want.GetExplanation())
	}
	// Each single request scores the instance, the background and 30
	// coalitions (every one of 5 players) × the background: 1 + 20·31.
	// The batch scores the background once.
	if singleRows != 1+20*31 {
		t.Errorf("a single request scored %d rows, want %d", singleRows, 1+20*31)
	}
	if want := 20 + 8*(1+20*30); scoredRows != want {
		t.Errorf("the batch scored %d rows, want %d (the background once, then 8 × (1 + 20 × 30))", scoredRows, want)
	}
}

// TestBatchKernelSHAPGroupsLeavingFeaturesOut: with features in no group
// the background's rows depend on the instance and are scored per
// instance; the summary names the groups.
func TestBatchKernelSHAPGroupsLeavingFeaturesOut(t *testing.T) {
	fake, newClient := predictV1Model(t, nil)
	sc := startSidecar(t, newClient)
	bg := trainingRows()[:10]
	rows := testRows(3)
	edit := func(o *explainerv1.KernelShapOptions) {
		o.Labels = []uint32{1}
		o.Groups = []*explainerv1.FeatureGroup{{Features: []uint32{0, 1}, Name: "ab"}, {Features: []uint32{3}}}
	}
	resp, err := sc.client.Explain(context.Background(), toBatch(kernelSHAPRequest(nil, bg, edit), rows))
	if err != nil {
		t.Fatal(err)
	}
	// Features 2 and 4 are in no group: the background's rows take each
	// instance's values, and are scored per instance (1 + 10 × (1 + 2)).
	if want := 3 * (1 + 10*3); fake.Rows() != want {
		t.Errorf("scored %d rows, want %d", fake.Rows(), want)
	}
	s := resp.GetExplanation().GetBatch().GetSummaries()[0]
	if s.GetFeatures()[0].GetFeature() != "x3" && s.GetFeatures()[1].GetFeature() != "x3" {
		t.Errorf("summary features %v: the groups should be named", s.GetFeatures())
	}
	for i, got := range resp.GetExplanation().GetBatch().GetExplanations() {
		want, err := sc.client.Explain(context.Background(), kernelSHAPRequest(rows[i], bg, func(o *explainerv1.KernelShapOptions) {
			edit(o)
			o.Seed = seedOf(3 + uint64(i))
		}))
		if err != nil {
			t.Fatal(err)
		}
		sameExplanation(t, fmt.Sprintf("instance %d", i), got, want.GetExplanation())
	}
}

// TestBatchKernelSHAPBackgroundSummary: the background is summarised once,
// with the batch's seed s; instance i is the single request with seed
// s + i over that summary (background = the summary's rows and weights).
func TestBatchKernelSHAPBackgroundSummary(t *testing.T) {
	_, newClient := predictV1Model(t, nil)
	sc := startSidecar(t, newClient)
	bg := trainingRows()
	rows := testRows(3)
	resp, err := sc.client.Explain(context.Background(), toBatch(kernelSHAPRequest(nil, bg, func(o *explainerv1.KernelShapOptions) {
		o.Labels = []uint32{1}
		o.BackgroundSummary = &explainerv1.BackgroundSummary{Kind: &explainerv1.BackgroundSummary_Sample{Sample: 7}}
	}), rows))
	if err != nil {
		t.Fatal(err)
	}
	d := &dataset{}
	if err := d.add("bg", flat(bg), nil, nil, testFeatures, false); err != nil {
		t.Fatal(err)
	}
	sum, weights, err := summarizeBackground("s", &explainerv1.BackgroundSummary{Kind: &explainerv1.BackgroundSummary_Sample{Sample: 7}}, d, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i, got := range resp.GetExplanation().GetBatch().GetExplanations() {
		want, err := sc.client.Explain(context.Background(), kernelSHAPRequest(rows[i], sum, func(o *explainerv1.KernelShapOptions) {
			o.Labels, o.Seed = []uint32{1}, seedOf(3+uint64(i))
			o.Background.Weights = weights
		}))
		if err != nil {
			t.Fatal(err)
		}
		sameExplanation(t, fmt.Sprintf("instance %d", i), got, want.GetExplanation())
	}
}

func textBatchClient(t *testing.T) (*predictortest.PredictServer, ClientFunc) {
	fake := predictortest.NewPredictServer(nil)
	fake.TextScore = cueScore
	ts := predictortest.NewBufconnServer(fake)
	t.Cleanup(ts.Close)
	return fake, func(m string) predictor.Client { return predictor.NewPredictV1(ts.Conn, m) }
}

var batchTexts = []string{
	"The food was good, the service was good.",
	"Bad room, bad view, good price.",
	"Good good good.",
	"Nothing to say about it.",
	"The staff was good and the bar was good too.",
}

// TestBatchLIMETextSameAsSingleRequests: texts, each the single request
// with seed s + i and the picked label; the summary is by word.
func TestBatchLIMETextSameAsSingleRequests(t *testing.T) {
	_, newClient := textBatchClient(t)
	sc := startSidecar(t, newClient)
	opts := func(seed uint64, labels []uint32) *explainerv1.LimeTextOptions {
		return &explainerv1.LimeTextOptions{NumSamples: 300, NumFeatures: 3, Seed: &seed, Labels: labels}
	}
	resp, err := sc.client.Explain(context.Background(), &explainerv1.ExplainRequest{
		Model:  "model",
		Batch:  &explainerv1.InstanceBatch{Kind: &explainerv1.InstanceBatch_Text{Text: &explainerv1.TextBatch{Texts: batchTexts}}, SubmodularPick: 2},
		Method: &explainerv1.ExplainRequest_LimeText{LimeText: opts(4, nil)},
	})
	if err != nil {
		t.Fatal(err)
	}
	b := resp.GetExplanation().GetBatch()
	if !b.GetLabelPicked() || b.GetLabel() != 1 {
		t.Errorf("picked label %d (%v), want 1 (positive for 3 of 5 texts)", b.GetLabel(), b.GetLabelPicked())
	}
	for i, got := range b.GetExplanations() {
		want, err := sc.client.Explain(context.Background(), &explainerv1.ExplainRequest{
			Model:    "model",
			Instance: &explainerv1.Instance{Kind: &explainerv1.Instance_Text{Text: &explainerv1.TextInstance{Text: batchTexts[i]}}},
			Method:   &explainerv1.ExplainRequest_LimeText{LimeText: opts(4+uint64(i), []uint32{b.GetLabel()})},
		})
		if err != nil {
			t.Fatal(err)
		}
		sameExplanation(t, fmt.Sprintf("text %d", i), got, want.GetExplanation())
	}
	s := b.GetSummaries()[0]
	if top := s.GetFeatures()[0].GetFeature(); top != "good" && top != "bad" {
		t.Errorf("the most important word is %q, want good or bad", top)
	}
	if len(s.GetPicked()) != 2 || s.GetCoverage() <= 0 || s.GetCoverage() > s.GetTotalImportance() {
		t.Errorf("SP-LIME picked %v with coverage %g of %g", s.GetPicked(), s.GetCoverage(), s.GetTotalImportance())
	}
}

// TestBatchStream: on ExplainStream, each instance comes once, with its
// index, before the job's result, which carries the summaries but not the
// instances; the rows may stream as DataChunks. Everything equals the
// unary batch.
func TestBatchStream(t *testing.T) {
	_, newClient := predictV1Model(t, nil)
	sc := startSidecar(t, newClient)
	rows := testRows(9)
	edit := func(o *explainerv1.LimeOptions) { o.NumSamples, o.Labels = 300, nil }
	unary, err := sc.client.Explain(context.Background(), toBatch(limeRequest(nil, edit), rows))
	if err != nil {
		t.Fatal(err)
	}
	for _, streamed := range []bool{false, true} {
		t.Run(fmt.Sprintf("streamed rows %v", streamed), func(t *testing.T) {
			stream, err := sc.client.ExplainStream(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			req := toBatch(limeRequest(nil, edit), rows)
			if streamed {
				req.GetBatch().GetTabular().Rows = nil
				req.GetBatch().GetTabular().Streamed = true
			}
			if err := stream.Send(startJob("b", req)); err != nil {
				t.Fatal(err)
			}
			if streamed {
				for lo := 0; lo < len(rows); lo += 4 {
					hi := min(lo+4, len(rows))
					if err := stream.Send(dataChunk("b", rows[lo:hi], nil, hi == len(rows))); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := stream.CloseSend(); err != nil {
				t.Fatal(err)
			}
			seen := map[uint32]int{}
			var result *explainerv1.Explanation
			var lastProgress *explainerv1.Progress
			for {
				msg, err := stream.Recv()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				switch ev := msg.GetEvent().(type) {
				case *explainerv1.ExplainStreamResponse_Instance:
					if result != nil {
						t.Error("an instance after the job's result")
					}
					i := ev.Instance.GetIndex()
					seen[i]++
					sameExplanation(t, fmt.Sprintf("streamed instance %d", i), ev.Instance.GetExplanation(), unary.GetExplanation().GetBatch().GetExplanations()[i])
				case *explainerv1.ExplainStreamResponse_Progress:
					if ev.Progress.GetInstancesTotal() != 9 {
						t.Errorf("progress %v: want 9 instances in all", ev.Progress)
					}
					if lastProgress != nil && ev.Progress.GetSamplesScored() < lastProgress.GetSamplesScored() {
						t.Errorf("progress went back: %v after %v", ev.Progress, lastProgress)
					}
					lastProgress = ev.Progress
				case *explainerv1.ExplainStreamResponse_Result:
					result = ev.Result
				case *explainerv1.ExplainStreamResponse_Error:
					t.Fatalf("job failed: %v", ev.Error)
				}
			}
			for i := range uint32(9) {
				if seen[i] != 1 {
					t.Errorf("instance %d sent %d times", i, seen[i])
				}
			}
			if result == nil || len(result.GetBatch().GetExplanations()) != 0 {
				t.Fatalf("result %v: want one without the instances (they were streamed)", result)
			}
			if lastProgress == nil {
				t.Error("no progress")
			}
			got, want := result.GetBatch(), unary.GetExplanation().GetBatch()
			if !proto.Equal(got.GetSummaries()[0], want.GetSummaries()[0]) || got.GetLabel() != want.GetLabel() {
				t.Errorf("summary %v, want the unary batch's %v", got.GetSummaries(), want.GetSummaries())
			}
		})
	}
}

// TestBatchCancel: cancelling a batch stops every instance: no model call
// after the job's end.
func TestBatchCancel(t *testing.T) {
	fake, newClient := predictV1Model(t, func(p *predictortest.PredictServer) {
		p.MaxBatchSize = 10
		p.Delay = 20 * time.Millisecond
	})
	sc := startSidecar(t, newClient, WithInFlight(2))
	stream, err := sc.client.ExplainStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// 50 rows × 1000 samples in calls of 10, 2 at a time: minutes if
	// nothing stops it.
	if err := stream.Send(startJob("long", toBatch(limeRequest(nil, nil), testRows(50)))); err != nil {
		t.Fatal(err)
	}
	cancelOnFirstProgress(t, stream, "long", fake)
	if fake.Rows() >= 2000 {
		t.Errorf("the model scored %d rows despite the cancel", fake.Rows())
	}
}

// TestBatchRejects: requests a batch cannot run, with messages that say
// why.
func TestBatchRejects(t *testing.T) {
	_, newClient := predictV1Model(t, nil)
	sc := startSidecar(t, newClient)
	rows := testRows(3)
	tooMany := toBatch(limeRequest(nil, nil), make([][]float64, MaxBatchInstances+1))
	tooMany.GetBatch().GetTabular().GetRows().Values = make([]float64, (MaxBatchInstances+1)*testFeatures)
	for _, tc := range []struct {
		name string
		req  *explainerv1.ExplainRequest
		want string
	}{
		{"global method", toBatch(permutationRequest(nil, nil, false), rows), "batch: permutation does not explain instances"},
		{"instance too", func() *explainerv1.ExplainRequest {
			r := toBatch(limeRequest(nil, nil), rows)
			r.Instance = limeRequest(testInstance, nil).GetInstance()
			return r
		}(), "instance: leave it unset with batch"},
		{"too many", tooMany, "MaxBatchInstances"},
		{"pick", func() *explainerv1.ExplainRequest {
			r := toBatch(limeRequest(nil, nil), rows)
			r.Batch.SubmodularPick = 4
			return r
		}(), "batch.submodular_pick: 4 is more than the batch's 3 instances"},
		{"streamed on Explain", func() *explainerv1.ExplainRequest {
			r := toBatch(limeRequest(nil, nil), rows)
			r.GetBatch().GetTabular().Streamed = true
			return r
		}(), "batch.tabular.streamed: streamed rows need ExplainStream"},
		{"width", toBatch(limeRequest(nil, nil), [][]float64{{1, 2, 3}}), "batch.tabular.rows: rows have 3 features, model expects 5"},
		{"non-finite", toBatch(limeRequest(nil, nil), [][]float64{testInstance, {1, 2, math.NaN(), 4, 5}}), "batch.tabular.rows.values[7]: non-finite value"},
		{"lime of texts", &explainerv1.ExplainRequest{
			Model:  "model",
			Batch:  &explainerv1.InstanceBatch{Kind: &explainerv1.InstanceBatch_Text{Text: &explainerv1.TextBatch{Texts: []string{"a"}}}},
			Method: limeRequest(nil, nil).Method,
		}, "lime explains rows"},
		{"no kind", &explainerv1.ExplainRequest{Model: "model", Batch: &explainerv1.InstanceBatch{}, Method: limeRequest(nil, nil).Method}, "batch: set tabular, text or image"},
		{"evaluation", func() *explainerv1.ExplainRequest {
			r := toBatch(limeRequest(nil, nil), rows)
			r.Evaluation = &explainerv1.Evaluation{StabilityRuns: 2}
			return r
		}(), "evaluation: not with batch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sc.client.Explain(context.Background(), tc.req)
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), tc.want) {
				t.Errorf("err = %v, want INVALID_ARGUMENT containing %q", err, tc.want)
			}
		})
	}
}

// TestBatchInstanceError: an instance its method refuses fails the batch,
// naming the instance.
func TestBatchInstanceError(t *testing.T) {
	_, newClient := textBatchClient(t)
	sc := startSidecar(t, newClient)
	_, err := sc.client.Explain(context.Background(), &explainerv1.ExplainRequest{
		Model:  "model",
		Batch:  &explainerv1.InstanceBatch{Kind: &explainerv1.InstanceBatch_Text{Text: &explainerv1.TextBatch{Texts: []string{"good", "...", "bad"}}}},
		Method: &explainerv1.ExplainRequest_LimeText{LimeText: &explainerv1.LimeTextOptions{NumSamples: 50, Labels: []uint32{1}}},
	})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "batch instance 1: instance.text: has no words") {
		t.Errorf("err = %v, want INVALID_ARGUMENT naming instance 1", err)
	}
}

// TestBatchLIMEImage: images (CHW, both protocols), each the single
// request with seed s + i and the picked label; the label pass sends the
// images in the model's layout.
func TestBatchLIMEImage(t *testing.T) {
	const h, w, c = 16, 16, 3
	chw := explainerv1.ImageLayout_IMAGE_LAYOUT_CHW
	var images []*explainerv1.ImageInstance
	for i := range 4 {
		images = append(images, &explainerv1.ImageInstance{Height: h, Width: w, Channels: c, Layout: chw, Values: toCHW(testImage(h, w, c, uint64(i+1)), h, w, c)})
	}
	for name, m := range imageModels(t, (&quarterModel{chw: true}).score, h*w*c, nil) {
		t.Run(name, func(t *testing.T) {
			sc := startSidecar(t, m.newClient)
			req := limeImageRequest(nil, h, w, c, chw, func(o *explainerv1.LimeImageOptions) { o.Labels = nil })
			req.Instance = nil
			req.Batch = &explainerv1.InstanceBatch{Kind: &explainerv1.InstanceBatch_Image{Image: &explainerv1.ImageBatch{Images: images}}}
			resp, err := sc.client.Explain(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			b := resp.GetExplanation().GetBatch()
			if !b.GetLabelPicked() || len(b.GetExplanations()) != 4 {
				t.Fatalf("batch %v", b)
			}
			for i, got := range b.GetExplanations() {
				single := limeImageRequest(images[i].GetValues(), h, w, c, chw, func(o *explainerv1.LimeImageOptions) {
					o.Labels, o.Seed = []uint32{b.GetLabel()}, seedOf(7+uint64(i))
				})
				want, err := sc.client.Explain(context.Background(), single)
				if err != nil {
					t.Fatal(err)
				}
				sameExplanation(t, fmt.Sprintf("image %d", i), got, want.GetExplanation())
			}
			if s := b.GetSummaries()[0]; s.GetFeatures()[0].GetFeature() != "segment 0" {
				t.Errorf("the most important segment is %q, want segment 0 (the top-left quarter)", s.GetFeatures()[0].GetFeature())
			}
		})
	}
	t.Run("sizes differ", func(t *testing.T) {
		_, newClient := predictV1Model(t, func(p *predictortest.PredictServer) { p.NumFeatures = 0 })
		sc := startSidecar(t, newClient)
		req := limeImageRequest(nil, h, w, c, chw, nil)
		req.Instance = nil
		other := &explainerv1.ImageInstance{Height: 8, Width: 8, Channels: c, Values: testImage(8, 8, c, 1)}
		req.Batch = &explainerv1.InstanceBatch{Kind: &explainerv1.InstanceBatch_Image{Image: &explainerv1.ImageBatch{Images: []*explainerv1.ImageInstance{images[0], other}}}}
		_, err := sc.client.Explain(context.Background(), req)
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "batch.image.images[1]") {
			t.Errorf("err = %v, want INVALID_ARGUMENT naming images[1]", err)
		}
	})
}

// TestBatchConcurrency: by default, enough instances run at once for two
// rounds of full calls, at least 32; fewer when they would hold too much.
func TestBatchConcurrency(t *testing.T) {
	const capped, noCap = 64, 13107 // rows a call: a 64-row cap; 3 MiB of 30 values a row
	for _, tc := range []struct {
		name    string
		limit   int
		spec    jobSpec
		perCall int
		want    int
	}{
		{"lime 5000 × 30", 0, jobSpec{Spec: engine.Spec{Rows: 5000, Players: 30}}, capped, 32},
		{"lime 5000 × 30, no row cap", 0, jobSpec{Spec: engine.Spec{Rows: 5000, Players: 30}}, noCap, 32}, // 2 × 4 × 13107 ÷ 5000 = 21
		{"lime 500 × 30, no row cap", 0, jobSpec{Spec: engine.Spec{Rows: 500, Players: 30}}, noCap, 210},  // ⌈2 × 4 × 13107 ÷ 500⌉
		{"lime 500 × 5, 1000 rows a call", 0, jobSpec{Spec: engine.Spec{Rows: 500, Players: 5}}, 1000, 32},
		{"flag", 4, jobSpec{Spec: engine.Spec{Rows: 500, Players: 30}}, noCap, 4},
		{"lime 100000 × 200", 0, jobSpec{Spec: engine.Spec{Rows: 100000, Players: 200}}, capped, 1},
		{"lime 100000 × 100", 0, jobSpec{Spec: engine.Spec{Rows: 100000, Players: 100}}, capped, 3},
		{"lime 1000 × 100, no row cap: memory binds", 0, jobSpec{Spec: engine.Spec{Rows: 1000, Players: 100}}, 1 << 20, 335},
		{"kernel_shap 2048 coalitions × 100 rows × 30", 0, jobSpec{Spec: engine.Spec{Rows: 2048, Players: 30}, values: (1 + 100*2049) * 30}, capped, 5},
		{"lime_image 1000 × 16 of 224×224×3", 0, jobSpec{Spec: engine.Spec{Rows: 1000, Players: 16}, shape: []int{224, 224, 3}}, capped, 1},
		{"lime_image 1000 × 16 of 32×32×3", 0, jobSpec{Spec: engine.Spec{Rows: 1000, Players: 16}, shape: []int{32, 32, 3}}, capped, 10},
	} {
		if got := batchConcurrency(tc.limit, &tc.spec, tc.perCall, 4); got != tc.want {
			t.Errorf("%s: %d at once, want %d", tc.name, got, tc.want)
		}
	}
}

// TestCallRowsOf: the rows of a call are the batch size, or what the
// bytes limit lets through when it binds first (at 8 bytes a value; an
// FP32 input's 4 doubles the rows: TestBatchSizeFromModelServer).
func TestCallRowsOf(t *testing.T) {
	s := New(nil) // the default --max-batch-bytes, 3 MiB
	for _, tc := range []struct {
		name  string
		batch int
		spec  jobSpec
		want  int
	}{
		{"64-row cap", 64, jobSpec{Spec: engine.Spec{Players: 30}}, 64},
		{"no row cap, 30 features", 0, jobSpec{Spec: engine.Spec{Players: 30}}, 13107},
		{"no row cap, 32×32×3 images", 0, jobSpec{Spec: engine.Spec{Players: 16}, shape: []int{32, 32, 3}}, 128},
		{"no row cap, 1000×1000×3 images", 0, jobSpec{Spec: engine.Spec{Players: 16}, shape: []int{1000, 1000, 3}}, 1},
	} {
		info := predictor.ModelInfo{MaxBatchSize: tc.batch}
		if tc.batch == 0 {
			info.BatchRule = predictor.BatchNoLimit
		}
		if got := s.callRowsOf(info, &tc.spec, 8); got != tc.want {
			t.Errorf("%s: %d rows a call, want %d", tc.name, got, tc.want)
		}
	}
}
