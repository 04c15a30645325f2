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

// FuzzParseLIME feeds arbitrary ExplainRequest encodings to the validators
// of every method: they must never panic, and every refusal must be
// INVALID_ARGUMENT. (The name is kept for the corpus in testdata/fuzz.)
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
		permutationRequest(rows, targets, false),
		{Method: &explainerv1.ExplainRequest_Sensitivity{Sensitivity: &explainerv1.SensitivityOptions{
			Data: &explainerv1.Dataset{NumRows: 2, Values: flat(rows[:2])},
		}}},
		{
			Instance: &explainerv1.Instance{Kind: &explainerv1.Instance_Text{Text: &explainerv1.TextInstance{Text: "good food, bad service"}}},
			Method:   &explainerv1.ExplainRequest_LimeText{LimeText: &explainerv1.LimeTextOptions{NumSamples: 50}},
		},
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
	seed := func() uint64 { return 1 }
	f.Fuzz(func(t *testing.T, b []byte) {
		var req explainerv1.ExplainRequest
		if proto.Unmarshal(b, &req) != nil {
			return
		}
		var err error
		switch req.GetMethod().(type) {
		case *explainerv1.ExplainRequest_KernelShap:
			if req.GetInstance().GetText() != nil {
				_, err = parseKernelSHAPText(&req, info, seed)
			} else {
				_, _, err = parseKernelSHAP(&req, info, seed)
			}
		case *explainerv1.ExplainRequest_Permutation:
			_, _, err = parsePermutation(context.Background(), req.GetPermutation(), info, nil, seed)
		case *explainerv1.ExplainRequest_Sensitivity:
			_, err = parseSensitivity(context.Background(), req.GetSensitivity(), info, nil)
		case *explainerv1.ExplainRequest_LimeText:
			_, err = parseLIMEText(&req, info, seed)
		default:
			var job *limeJob
			job, err = parseLIME(&req, &limeDefaults{classes: 2, randomSeed: seed})
			if err == nil && (job.req.Stats == nil || len(job.req.Instance) == 0) {
				t.Fatal("accepted a LIME request without statistics or instance")
			}
		}
		if err != nil {
			if c := status.Code(err); c != codes.InvalidArgument {
				t.Fatalf("refusal with %v (%v), want InvalidArgument", c, err)
			}
		}
	})
}
