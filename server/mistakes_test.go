package server

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/explainer-sidecar/explainer/predictor/predictortest"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// TestClientMistakesAreNotInternal: requests the estimators refuse come
// back as INVALID_ARGUMENT (or FAILED_PRECONDITION when only the model's
// answer shows the mistake) naming the method's field, never as INTERNAL
// "internal error" with the cause only in the log (issue 14, item 5).
func TestClientMistakesAreNotInternal(t *testing.T) {
	oneOutput := func(rows [][]float64) [][]float64 {
		out := make([][]float64, len(rows))
		for i, r := range rows {
			out[i] = []float64{r[0]}
		}
		return out
	}
	rows, targets := permutationData(60)
	tests := []struct {
		name string
		// classes is what the model server reports: 0 leaves the class
		// count to the model's answer.
		classes int
		score   predictortest.ScoreFunc
		req     *explainerv1.ExplainRequest
		codes   []codes.Code
		field   string
	}{
		{
			name: "permutation targets beyond the model's classes",
			req: func() *explainerv1.ExplainRequest {
				bad := append([]float64(nil), targets...)
				bad[3] = 5
				return permutationRequest(rows, bad, false)
			}(),
			codes: []codes.Code{codes.InvalidArgument, codes.FailedPrecondition},
			field: "permutation.",
		},
		{
			name: "r2 on an output the model does not have",
			req: func() *explainerv1.ExplainRequest {
				r := permutationRequest(rows, targets, false)
				r.GetPermutation().Scoring = explainerv1.Scoring_SCORING_R2
				r.GetPermutation().Output = 7
				return r
			}(),
			codes: []codes.Code{codes.InvalidArgument, codes.FailedPrecondition},
			field: "permutation.",
		},
		{
			name:  "lime kernel width 1e-300",
			req:   limeRequest(testInstance, func(o *explainerv1.LimeOptions) { o.KernelWidth = 1e-300 }),
			codes: []codes.Code{codes.InvalidArgument, codes.FailedPrecondition},
			field: "lime.",
		},
		{
			name:  "accuracy on a one-output model",
			score: oneOutput,
			req:   permutationRequest(rows, targets, false),
			codes: []codes.Code{codes.FailedPrecondition},
			field: "permutation.",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, newClient := predictV1Model(t, func(p *predictortest.PredictServer) {
				p.ClassNames = nil
				if tt.score != nil {
					p.Score = tt.score
				}
			})
			sc := startSidecar(t, newClient)
			_, err := sc.client.Explain(context.Background(), tt.req)
			st := status.Convert(err)
			ok := false
			for _, c := range tt.codes {
				ok = ok || st.Code() == c
			}
			if !ok || !strings.Contains(st.Message(), tt.field) {
				t.Fatalf("got %v %q, want one of %v naming %q", st.Code(), st.Message(), tt.codes, tt.field)
			}
		})
	}
}
