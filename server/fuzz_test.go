package server

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// FuzzParseLIME feeds arbitrary ExplainRequest encodings to the validator:
// it must never panic, and every refusal must be INVALID_ARGUMENT.
func FuzzParseLIME(f *testing.F) {
	seeds := []*explainerv1.ExplainRequest{
		limeRequest(testInstance, nil),
		limeRequest(testInstance, func(o *explainerv1.LimeOptions) { o.DiscretizeContinuous = new(bool) }),
		limeRequest(testInstance, func(o *explainerv1.LimeOptions) {
			o.Training = &explainerv1.TrainingData{Source: &explainerv1.TrainingData_Statistics{Statistics: &explainerv1.TrainingStatistics{
				Bins: []*explainerv1.FeatureBins{{Feature: 0, Boundaries: []float64{0}, Means: []float64{-1, 1}, Stds: []float64{1, 1},
					Mins: []float64{-2, 0}, Maxs: []float64{0, 2}, Frequencies: []float64{0.5, 0.5}}},
			}}}
		}),
		{},
	}
	for _, s := range seeds {
		b, err := proto.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var req explainerv1.ExplainRequest
		if proto.Unmarshal(b, &req) != nil {
			return
		}
		job, err := parseLIME(&req, &limeDefaults{classes: 2, randomSeed: func() uint64 { return 1 }})
		if err != nil {
			if c := status.Code(err); c != codes.InvalidArgument {
				t.Fatalf("refusal with %v (%v), want InvalidArgument", c, err)
			}
			return
		}
		if job.req.Stats == nil || len(job.req.Instance) == 0 {
			t.Fatal("accepted a request without statistics or instance")
		}
	})
}
