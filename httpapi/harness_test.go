package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/explainer-sidecar/explainer/predictor"
	"github.com/explainer-sidecar/explainer/predictor/predictortest"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
	"github.com/explainer-sidecar/explainer/server"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// modelScore is a binary classifier of rows of any width (tabular rows and
// flattened images): p = σ(Σ_j x_j sin(j+1) / (8 √width)).
func modelScore(rows [][]float64) [][]float64 {
	out := make([][]float64, len(rows))
	for i, r := range rows {
		z := 0.0
		for j, v := range r {
			z += v * math.Sin(float64(j+1))
		}
		z /= 8 * math.Sqrt(float64(len(r)))
		p := 1 / (1 + math.Exp(-z))
		out[i] = []float64{1 - p, p}
	}
	return out
}

// textScore likes "good" and dislikes "bad".
func textScore(texts []string) [][]float64 {
	out := make([][]float64, len(texts))
	for i, t := range texts {
		z := 0.3
		for _, w := range strings.Fields(t) {
			switch w {
			case "good":
				z += 1.2
			case "bad":
				z -= 1.5
			}
		}
		p := 1 / (1 + math.Exp(-z))
		out[i] = []float64{1 - p, p}
	}
	return out
}

// stack is a sidecar with its gRPC and HTTP listeners on loopback, in front
// of a fake predict.v1 model server.
type stack struct {
	fake    *predictortest.PredictServer
	grpc    explainerv1.ExplainerServiceClient
	srv     *server.Server
	url     string       // the HTTP listener, http://127.0.0.1:port
	client  *http.Client // HTTP/1.1
	h2c     *http.Client // HTTP/2 without TLS
	handler *Handler
}

type stackConfig struct {
	model     func(*predictortest.PredictServer)
	server    []server.Option
	grpc      []grpc.ServerOption
	handler   []Option
	modelName string
}

func startStack(t testing.TB, cfg stackConfig) *stack {
	t.Helper()
	fake := predictortest.NewPredictServer(modelScore)
	fake.TextScore = textScore
	fake.MaxBatchSize = 64
	if cfg.model != nil {
		cfg.model(fake)
	}
	ms := predictortest.NewServer(fake)
	t.Cleanup(ms.Close)
	if cfg.modelName == "" {
		cfg.modelName = "model"
	}
	srv := server.New(func(m string) predictor.Client { return predictor.NewPredictV1(ms.Conn, m) },
		append([]server.Option{server.WithDefaultModel(cfg.modelName)}, cfg.server...)...)
	gs := grpc.NewServer(append(server.GRPCServerOptions(nil), cfg.grpc...)...)
	srv.Register(gs)
	h, err := New(gs, append([]Option{WithModel(cfg.modelName), WithReady(srv.Ready), WithBatches(srv.BatchRequest)}, cfg.handler...)...)
	if err != nil {
		t.Fatal(err)
	}
	glis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gs.Serve(glis) }()
	hlis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	hs := &http.Server{Handler: h, Protocols: &protocols}
	go func() { _ = hs.Serve(hlis) }()
	conn, err := grpc.NewClient(glis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	var h2 http.Protocols
	h2.SetUnencryptedHTTP2(true)
	st := &stack{
		fake: fake, grpc: explainerv1.NewExplainerServiceClient(conn), srv: srv, handler: h,
		url:    "http://" + hlis.Addr().String(),
		client: &http.Client{Transport: &http.Transport{}},
		h2c:    &http.Client{Transport: &http.Transport{Protocols: &h2}},
	}
	t.Cleanup(func() {
		st.client.CloseIdleConnections()
		st.h2c.CloseIdleConnections()
		conn.Close()
		hs.Close()
		gs.Stop()
	})
	return st
}

// post sends body to path with content type ct and returns the status,
// the header and the body of the answer.
func (s *stack) post(t *testing.T, path, ct string, body []byte, header map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ct)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, out
}

// explainJSON calls Explain over the JSON API.
func (s *stack) explainJSON(t *testing.T, req *explainerv1.ExplainRequest, header map[string]string) (int, []byte) {
	t.Helper()
	body, err := marshalJSON.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	code, _, out := s.post(t, "/explainer.v1.ExplainerService/Explain", "application/json", body, header)
	return code, out
}

func decodeExplanation(t *testing.T, raw []byte) *explainerv1.Explanation {
	t.Helper()
	var resp explainerv1.ExplainResponse
	if err := protojson.Unmarshal(raw, &resp); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	return resp.GetExplanation()
}

func decodeError(t *testing.T, raw []byte) connectError {
	t.Helper()
	var e connectError
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	return e
}

func withoutElapsed(e *explainerv1.Explanation) *explainerv1.Explanation {
	e = proto.Clone(e).(*explainerv1.Explanation)
	e.Elapsed = nil
	return e
}

// withoutCalls is e without its elapsed time and model calls: jobs that
// run together share the model's calls (one scheduler per model), so each
// counts the calls that carried its rows, more than it would alone.
func withoutCalls(e *explainerv1.Explanation) *explainerv1.Explanation {
	e = withoutElapsed(e)
	e.ModelCalls = 0
	return e
}

func ctx(t *testing.T) context.Context { return t.Context() }
