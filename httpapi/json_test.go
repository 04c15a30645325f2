package httpapi

import (
	"context"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/explainer-sidecar/explainer/predictor/predictortest"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
	"github.com/explainer-sidecar/explainer/server"
)

func TestJSONGivesTheNumbersOfGRPC(t *testing.T) {
	st := startStack(t, stackConfig{})
	reqs := methodRequests()
	// One request per method: the test fails when a method has none.
	cases := (&explainerv1.ExplainRequest{}).ProtoReflect().Descriptor().Oneofs().ByName("method").Fields()
	for i := range cases.Len() {
		if _, ok := reqs[string(cases.Get(i).Name())]; !ok {
			t.Errorf("no request for method %s", cases.Get(i).Name())
		}
	}
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range reqs {
			if !yield(k) {
				return
			}
		}
	}) {
		req := reqs[name]
		t.Run(name, func(t *testing.T) {
			want, err := st.grpc.Explain(ctx(t), req)
			if err != nil {
				t.Fatal(err)
			}
			code, body := st.explainJSON(t, req, nil)
			if code != http.StatusOK {
				t.Fatalf("HTTP %d: %s", code, body)
			}
			got := decodeExplanation(t, body)
			// Sensitivity and permutation keep two evaluations in flight,
			// whose rows the scheduler packs as they come: the calls vary.
			if !proto.Equal(withoutCalls(got), withoutCalls(want.GetExplanation())) {
				t.Errorf("JSON:\n%v\ngRPC:\n%v", got, want.GetExplanation())
			}
			if len(got.GetLabels()) == 0 && len(got.GetMaps()) == 0 && len(got.GetCounterfactuals()) == 0 {
				t.Errorf("empty explanation %v", got)
			}
			// The JSON spells fields as the .proto does, zeros included.
			if !strings.Contains(string(body), `"instance_scores"`) && !strings.Contains(string(body), `"num_samples"`) {
				t.Errorf("the answer does not use the proto names: %.200s", body)
			}
			if name == "kernel_shap" && !regexp.MustCompile(`"index":\s*0\b`).Match(body) {
				t.Errorf("feature 0's index is left out: %.300s", body)
			}
		})
	}
}

// blockingModel makes the fake's calls wait until release is closed.
func blockingModel(release <-chan struct{}, started chan<- struct{}) func(*predictortest.PredictServer) {
	var once sync.Once
	return func(p *predictortest.PredictServer) {
		p.Fault = func(int, [][]float64) ([][]float64, error) {
			once.Do(func() { close(started) })
			<-release
			return nil, nil
		}
	}
}

func TestJSONErrorsMapToHTTPCodes(t *testing.T) {
	noTraining := methodRequests()["lime"]
	noTraining.GetLime().Training = nil
	tooWide := methodRequests()["kernel_shap"]
	tooWide.Instance = tabular(append(row, 1))

	for _, tc := range []struct {
		name   string
		cfg    stackConfig
		req    *explainerv1.ExplainRequest
		before func(t *testing.T, st *stack) // runs before the calls
		header map[string]string
		code   codes.Code
		http   int
		msg    string // the message, when the gRPC client's differs
	}{
		{name: "invalid argument", req: noTraining, code: codes.InvalidArgument, http: 400},
		{name: "invalid argument, found by the method", req: tooWide, code: codes.InvalidArgument, http: 400},
		{name: "no method", req: &explainerv1.ExplainRequest{}, code: codes.InvalidArgument, http: 400},
		{name: "model server unavailable", req: methodRequests()["lime"],
			cfg:  stackConfig{model: func(p *predictortest.PredictServer) { p.Fault = predictortest.FailFirst(1000, codes.Unavailable) }},
			code: codes.Unavailable, http: 503},
		{name: "model server rejects", req: methodRequests()["lime"],
			cfg:  stackConfig{model: func(p *predictortest.PredictServer) { p.Fault = predictortest.FailFirst(1000, codes.InvalidArgument) }},
			code: codes.FailedPrecondition, http: 400},
		{name: "model server returns NaN", req: methodRequests()["lime"],
			cfg: stackConfig{model: func(p *predictortest.PredictServer) {
				p.MaxBatchSize = 1000 // one call: the same row fails every time
				p.Score = func(rows [][]float64) [][]float64 {
					out := modelScore(rows)
					out[0][0] = math.NaN()
					return out
				}
			}},
			code: codes.Internal, http: 500},
		{name: "deadline", req: methodRequests()["lime"], header: map[string]string{"Connect-Timeout-Ms": "100"},
			cfg: stackConfig{model: func(p *predictortest.PredictServer) { p.Delay = 2 * time.Second }},
			// The gRPC client's deadline ends the call on its side first.
			code: codes.DeadlineExceeded, http: 504, msg: "job deadline exceeded before the model server answered"},
		{name: "unauthenticated", req: methodRequests()["lime"],
			cfg:  stackConfig{grpc: server.AuthServerOptions(server.NewStaticTokens("s3cret"))},
			code: codes.Unauthenticated, http: 401},
		{name: "wrong token", req: methodRequests()["lime"], header: map[string]string{"Authorization": "Bearer nope"},
			cfg:  stackConfig{grpc: server.AuthServerOptions(server.NewStaticTokens("s3cret"))},
			code: codes.Unauthenticated, http: 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := startStack(t, tc.cfg)
			md := metadata.New(nil)
			for k, v := range tc.header {
				if k != "Connect-Timeout-Ms" {
					md.Set(k, v)
				}
			}
			gctx := metadata.NewOutgoingContext(ctx(t), md)
			if ms, ok := tc.header["Connect-Timeout-Ms"]; ok {
				d, _ := time.ParseDuration(ms + "ms")
				var cancel func()
				gctx, cancel = context.WithTimeout(gctx, d)
				defer cancel()
			}
			_, gerr := st.grpc.Explain(gctx, tc.req)
			want := status.Convert(gerr)
			if want.Code() != tc.code {
				t.Fatalf("gRPC: %v, want code %v", gerr, tc.code)
			}
			msg := want.Message()
			if tc.msg != "" {
				msg = tc.msg
			}
			code, body := st.explainJSON(t, tc.req, tc.header)
			e := decodeError(t, body)
			if code != tc.http || e.Code != codeNames[tc.code] || e.Message != msg {
				t.Errorf("JSON: HTTP %d %+v\nwant HTTP %d %s %q", code, e, tc.http, codeNames[tc.code], msg)
			}
		})
	}
}

func TestJSONTooManyJobs(t *testing.T) {
	release, started := make(chan struct{}), make(chan struct{})
	st := startStack(t, stackConfig{
		model:  blockingModel(release, started),
		server: []server.Option{server.WithMaxConcurrentJobs(1), server.WithMaxQueuedJobs(0)},
	})
	done := make(chan error, 1)
	go func() {
		_, err := st.grpc.Explain(t.Context(), methodRequests()["lime"])
		done <- err
	}()
	<-started
	_, gerr := st.grpc.Explain(ctx(t), methodRequests()["lime"])
	code, body := st.explainJSON(t, methodRequests()["lime"], nil)
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	e := decodeError(t, body)
	want := status.Convert(gerr)
	if want.Code() != codes.ResourceExhausted || code != http.StatusTooManyRequests || e.Code != "resource_exhausted" || e.Message != want.Message() {
		t.Errorf("JSON: HTTP %d %+v; gRPC: %v", code, e, gerr)
	}
}

func TestJSONCarriesRequestIDsAndTokens(t *testing.T) {
	// The interceptors of the gRPC server see the HTTP call: the request id
	// comes back, the token is checked, the handler sees both.
	var seen []string
	var mu sync.Mutex
	spy := grpc.ChainUnaryInterceptor(func(c context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		mu.Lock()
		seen = append(seen, info.FullMethod+" "+server.RequestID(c))
		mu.Unlock()
		return handler(c, req)
	})
	st := startStack(t, stackConfig{grpc: append(server.AuthServerOptions(server.NewStaticTokens("s3cret")), spy)})
	body, _ := marshalJSON.Marshal(methodRequests()["sensitivity"])
	code, header, out := st.post(t, "/explainer.v1.ExplainerService/Explain", "application/json", body,
		map[string]string{"Authorization": "Bearer s3cret", "X-Request-Id": "abc-123"})
	if code != http.StatusOK {
		t.Fatalf("HTTP %d: %s", code, out)
	}
	if got := header.Get("X-Request-Id"); got != "abc-123" {
		t.Errorf("x-request-id %q, want abc-123", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || seen[0] != "/explainer.v1.ExplainerService/Explain abc-123" {
		t.Errorf("the interceptors saw %v", seen)
	}
}

func TestJSONHealthAndUnknownFields(t *testing.T) {
	st := startStack(t, stackConfig{})
	code, _, body := st.post(t, "/grpc.health.v1.Health/Check", "application/json", []byte(`{"service":""}`), nil)
	if code != http.StatusOK || !strings.Contains(string(body), "SERVING") {
		t.Errorf("health: HTTP %d %s", code, body)
	}
	// A misspelt option is an error, not silently ignored.
	code, _, body = st.post(t, "/explainer.v1.ExplainerService/Explain", "application/json", []byte(`{"lime":{"num_sample":5}}`), nil)
	if e := decodeError(t, body); code != http.StatusBadRequest || e.Code != "invalid_argument" || !strings.Contains(e.Message, "num_sample") {
		t.Errorf("HTTP %d %+v, want 400 naming the unknown field", code, e)
	}
	// The JSON names are accepted too.
	code, _, body = st.post(t, "/explainer.v1.ExplainerService/Explain", "application/json",
		[]byte(`{"sensitivity":{"data":{"numRows":2,"values":[1,2,3,4,5,6,7,8,9,10]}}}`), nil)
	if code != http.StatusOK {
		t.Errorf("JSON names: HTTP %d %s", code, body)
	}
}
