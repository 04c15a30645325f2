package server

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/explainer-sidecar/explainer/predictor/predictortest"
)

// The model server's own message reaches the job's error and the sidecar's
// log, for predict.v1 and KServe v2; a model the server does not have is
// named with the models the server lists.
func TestModelServerMessageInJobErrorAndLog(t *testing.T) {
	const said = "this model takes tabular rows, not texts"
	fault := func(int, [][]float64) ([][]float64, error) {
		return nil, status.Error(codes.InvalidArgument, said+"\n\x1b[0m")
	}
	_, pv1 := predictV1Model(t, func(f *predictortest.PredictServer) { f.Fault = fault })
	_, kv2 := kserveModel(t, func(f *predictortest.KServeServer) { f.Fault = fault })
	_, named := predictV1Model(t, func(f *predictortest.PredictServer) { f.Name = "sentiment" })
	_, triton := kserveModel(t, func(f *predictortest.KServeServer) { f.Name, f.OtherModels = "sentiment", []string{"digits_cnn"} })
	for _, tc := range []struct {
		name      string
		newClient ClientFunc
		model     string
		want      string
	}{
		{"predict.v1", pv1, "model", "model server says: " + said + " [0m (InvalidArgument)"},
		{"KServe v2", kv2, "model", "model server says: " + said + " [0m (InvalidArgument)"},
		{"predict.v1 model not found", named, "sentimnet",
			`model server rejected the request: model "sentimnet" not found: model server says: unknown model 'sentimnet'; this server hosts ['sentiment'] (NotFound)`},
		{"KServe v2 model not found", triton, "sentimnet",
			`model server rejected the request: model "sentimnet" not found; the model server has "sentiment", "digits_cnn": model server says: Request for unknown model: 'sentimnet' is not found (NotFound)`},
	} {
		var buf syncBuffer
		sc := startObserved(t, tc.newClient, slog.New(slog.NewJSONHandler(&buf, nil)), nil)
		req := limeRequest(testInstance, nil)
		req.Model = tc.model
		_, err := sc.client.Explain(context.Background(), req)
		st := status.Convert(err)
		if st.Code() != codes.FailedPrecondition || !strings.HasSuffix(st.Message(), tc.want) {
			t.Errorf("%s: %v %q, want FailedPrecondition …%q", tc.name, st.Code(), st.Message(), tc.want)
		}
		if strings.ContainsAny(st.Message(), "\n\x1b") {
			t.Errorf("%s: control characters in %q", tc.name, st.Message())
		}
		if logs := buf.String(); !strings.Contains(logs, `"msg":"model call failed"`) || !strings.Contains(logs, strings.ReplaceAll(tc.want, `"`, `\"`)) {
			t.Errorf("%s: the log lacks the model server's message:\n%s", tc.name, logs)
		}
	}
}
