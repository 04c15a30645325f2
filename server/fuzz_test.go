package server

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/explainer-sidecar/explainer/predictor"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// FuzzParseLIME feeds arbitrary ExplainRequest encodings to the validation
// of every method, of auto sampling and of the checks: they must never
// panic, and every refusal must be INVALID_ARGUMENT. (The name is kept for
// the corpus in testdata/fuzz.)
func FuzzParseLIME(f *testing.F) {
	rows, targets := permutationData(20)
	seeds := []*explainerv1.ExplainRequest{
		limeRequest(testInstance, nil),
		limeRequest(testInstance, func(o *explainerv1.LimeOptions) { o.DiscretizeContinuous = new(bool) }),
		limeRequest(testInstance, func(o *explainerv1.LimeOptions) {
			o.Training = &explainerv1.TrainingData{Source: &explainerv1.TrainingData_Statistics{Statistics: &explainerv1.TrainingStatistics{
				Bins: []*explainerv1.FeatureBins{{Feature: 0, Boundaries: []float64{0}, Means: []float64{-1, 1}, Stds: []float64{1, 1},
					Mins: []float64{-2, 0}, Maxs: []float64{0, 2}, Frequencies: []float64{0.5, 0.5}}},
			}}}
		}),
		kernelSHAPRequest(testInstance, trainingRows()[:3], func(o *explainerv1.KernelShapOptions) {
			o.Groups = []*explainerv1.FeatureGroup{{Features: []uint32{0, 1}}}
		}),
		kernelSHAPRequest(testInstance, trainingRows()[:40], func(o *explainerv1.KernelShapOptions) {
			o.BackgroundSummary = &explainerv1.BackgroundSummary{Kind: &explainerv1.BackgroundSummary_Kmeans{Kmeans: 4}}
		}),
		permutationRequest(rows, targets, false),
		{Method: &explainerv1.ExplainRequest_Sensitivity{Sensitivity: &explainerv1.SensitivityOptions{
			Data: &explainerv1.Dataset{NumRows: 2, Values: flat(rows[:2])},
		}}},
		{
			Instance: &explainerv1.Instance{Kind: &explainerv1.Instance_Text{Text: &explainerv1.TextInstance{Text: "good food, bad service"}}},
			Method:   &explainerv1.ExplainRequest_LimeText{LimeText: &explainerv1.LimeTextOptions{NumSamples: 50}},
		},
		func() *explainerv1.ExplainRequest {
			r := limeRequest(testInstance, func(o *explainerv1.LimeOptions) { o.NumSamples = 0 })
			r.AutoSampling = &explainerv1.AutoSampling{Tolerance: 0.01, TopK: 3}
			r.Evaluation = &explainerv1.Evaluation{StabilityRuns: 3, FidelityCurves: true}
			return r
		}(),
		limeImageRequest(testImage(4, 4, 3, 1), 4, 4, 3, explainerv1.ImageLayout_IMAGE_LAYOUT_CHW, nil),
		occlusionRequest(testImage(4, 4, 1, 1), 4, 4, 1, nil),
		pdRequest(rows[:6], false, func(o *explainerv1.PartialDependenceOptions) {
			o.Features = []*explainerv1.PdpFeatures{{Features: []uint32{0, 1}}}
			o.Grids = []*explainerv1.FeatureGrid{{Feature: 1, Values: []float64{0, 1}}}
			o.CategoricalFeatures = []*explainerv1.CategoricalFeature{{Index: 2}}
		}),
		aleRequest(rows[:6], false, nil),
		{},
	}
	for _, s := range seeds {
		b, err := proto.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	info := predictor.ModelInfo{NumClasses: 2}
	srv := New(func(string) predictor.Client { return nil })
	defer srv.Shutdown()
	f.Fuzz(func(t *testing.T, b []byte) {
		var req explainerv1.ExplainRequest
		if proto.Unmarshal(b, &req) != nil {
			return
		}
		// Every method's validation as a job runs it, then auto sampling's
		// and the checks'; nothing here calls the model.
		_, spec, err := srv.parseJob(context.Background(), &req, info, nil)
		if err == nil {
			if _, ok := req.GetMethod().(*explainerv1.ExplainRequest_Lime); ok && spec.Players == 0 {
				t.Fatal("accepted a LIME request without features")
			}
			_, err = jobOptions(&req, spec)
		}
		if err != nil {
			if c := status.Code(err); c != codes.InvalidArgument {
				t.Fatalf("refusal with %v (%v), want InvalidArgument", c, err)
			}
		}
	})
}

// FuzzParseBatch feeds arbitrary ExplainRequest encodings to a batch
// job's validation and to the parse of its first instances: they must
// never panic, and every refusal must be INVALID_ARGUMENT.
func FuzzParseBatch(f *testing.F) {
	rows := testRows(3)
	text := func(m *explainerv1.ExplainRequest) *explainerv1.ExplainRequest {
		m.Instance = nil
		m.Batch = &explainerv1.InstanceBatch{Kind: &explainerv1.InstanceBatch_Text{Text: &explainerv1.TextBatch{Texts: []string{"good food", "bad", "x y z"}}}, SubmodularPick: 1}
		return m
	}
	seeds := []*explainerv1.ExplainRequest{
		toBatch(limeRequest(nil, nil), rows),
		toBatch(limeRequest(nil, func(o *explainerv1.LimeOptions) { o.Labels = nil }), rows),
		toBatch(kernelSHAPRequest(nil, trainingRows()[:3], nil), rows),
		toBatch(kernelSHAPRequest(nil, trainingRows()[:40], func(o *explainerv1.KernelShapOptions) {
			o.BackgroundSummary = &explainerv1.BackgroundSummary{Kind: &explainerv1.BackgroundSummary_Sample{Sample: 4}}
		}), rows),
		text(&explainerv1.ExplainRequest{Method: &explainerv1.ExplainRequest_LimeText{LimeText: &explainerv1.LimeTextOptions{NumSamples: 20}}}),
		text(&explainerv1.ExplainRequest{Method: &explainerv1.ExplainRequest_Occlusion{Occlusion: &explainerv1.OcclusionOptions{}}}),
		func() *explainerv1.ExplainRequest {
			r := limeImageRequest(testImage(4, 4, 3, 1), 4, 4, 3, explainerv1.ImageLayout_IMAGE_LAYOUT_CHW, nil)
			img := r.GetInstance().GetImage()
			r.Instance = nil
			r.Batch = &explainerv1.InstanceBatch{Kind: &explainerv1.InstanceBatch_Image{Image: &explainerv1.ImageBatch{Images: []*explainerv1.ImageInstance{img, img}}}}
			return r
		}(),
		{Batch: &explainerv1.InstanceBatch{}},
	}
	for _, s := range seeds {
		b, err := proto.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	info := predictor.ModelInfo{NumClasses: 2}
	srv := New(func(string) predictor.Client { return nil })
	defer srv.Shutdown()
	f.Fuzz(func(t *testing.T, b []byte) {
		var req explainerv1.ExplainRequest
		if proto.Unmarshal(b, &req) != nil || req.GetBatch() == nil {
			return
		}
		_, bj, bi, _, err := srv.parseBatch(context.Background(), &req, info, nil)
		for i := 0; err == nil && i < min(bi.n, 3); i++ {
			_, err = bj.Instance(context.Background(), i, []int{1})
		}
		if err != nil {
			if c := status.Code(err); c != codes.InvalidArgument {
				t.Fatalf("refusal with %v (%v), want InvalidArgument", c, err)
			}
		}
	})
}
