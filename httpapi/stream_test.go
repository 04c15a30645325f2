package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/explainer-sidecar/explainer/predictor/predictortest"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// jobEvents reads an NDJSON answer of ExplainJob.
func jobEvents(t *testing.T, body io.Reader) []*explainerv1.ExplainJobResponse {
	t.Helper()
	var out []*explainerv1.ExplainJobResponse
	sc := bufio.NewScanner(body)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		ev := &explainerv1.ExplainJobResponse{}
		if err := protojson.Unmarshal(sc.Bytes(), ev); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		out = append(out, ev)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestExplainJobNDJSON(t *testing.T) {
	st := startStack(t, stackConfig{model: func(p *predictortest.PredictServer) { p.MaxBatchSize = 50 }})
	req := methodRequests()["lime"]
	want, err := st.grpc.Explain(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := marshalJSON.Marshal(&explainerv1.ExplainJobRequest{Request: req})
	code, header, out := st.post(t, "/explainer.v1.ExplainerService/ExplainJob", "application/json", body, map[string]string{"X-Request-Id": "job-1"})
	if code != http.StatusOK || header.Get("Content-Type") != NDJSONContentType || header.Get("X-Request-Id") != "job-1" {
		t.Fatalf("HTTP %d, %v: %s", code, header, out)
	}
	events := jobEvents(t, bytes.NewReader(out))
	if len(events) < 2 {
		t.Fatalf("%d events, want progress then the result:\n%s", len(events), out)
	}
	for i, ev := range events[:len(events)-1] {
		if ev.GetProgress() == nil && ev.GetPartial() == nil {
			t.Errorf("event %d: %v, want progress", i, ev)
		}
	}
	got := events[len(events)-1].GetResult()
	if !proto.Equal(withoutElapsed(got), withoutElapsed(want.GetExplanation())) {
		t.Errorf("result %v\nwant %v", got, want.GetExplanation())
	}
}

func TestExplainJobNDJSONErrors(t *testing.T) {
	st := startStack(t, stackConfig{})
	noTraining := methodRequests()["lime"]
	noTraining.GetLime().Training = nil
	_, gerr := st.grpc.Explain(ctx(t), noTraining)
	body, _ := marshalJSON.Marshal(&explainerv1.ExplainJobRequest{Request: noTraining})
	for _, tc := range []struct {
		name, body string
		code       int
		want       connectError
	}{
		{"invalid request", string(body), 400, connectError{Code: "invalid_argument", Message: status.Convert(gerr).Message()}},
		{"unknown field", `{"request":{"lime":{"num_sample":3}}}`, 400, connectError{Code: "invalid_argument", Message: `request body: unknown field "num_sample"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, header, out := st.post(t, "/explainer.v1.ExplainerService/ExplainJob", "application/json", []byte(tc.body), nil)
			e := decodeError(t, out)
			if code != tc.code || e != tc.want || header.Get("Content-Type") != "application/json" {
				t.Errorf("HTTP %d %s %+v, want %d %+v", code, header.Get("Content-Type"), e, tc.code, tc.want)
			}
		})
	}
}

func TestExplainJobConnectStreamingOverHTTP1(t *testing.T) {
	// Permutation packs its evaluations into what the model takes at once;
	// calls that take a while leave the stream time to send each repeat's
	// partial result before the final one replaces it.
	st := startStack(t, stackConfig{model: func(p *predictortest.PredictServer) { p.MaxBatchSize, p.Delay = 20, 30*time.Millisecond }})
	req := methodRequests()["permutation"]
	want, err := st.grpc.Explain(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	client := connect.NewClient[explainerv1.ExplainJobRequest, explainerv1.ExplainJobResponse](st.client, st.url+"/explainer.v1.ExplainerService/ExplainJob", connect.WithProtoJSON())
	stream, err := client.CallServerStream(ctx(t), connect.NewRequest(&explainerv1.ExplainJobRequest{Request: req}))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	var events []*explainerv1.ExplainJobResponse
	for stream.Receive() {
		events = append(events, proto.Clone(stream.Msg()).(*explainerv1.ExplainJobResponse))
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if len(events) == 0 {
		t.Fatal("no events")
	}
	partials := 0
	for _, ev := range events {
		if ev.GetPartial() != nil {
			partials++
		}
	}
	got := events[len(events)-1].GetResult()
	if !proto.Equal(withoutElapsed(got), withoutElapsed(want.GetExplanation())) {
		t.Errorf("result %v\nwant %v", got, want.GetExplanation())
	}
	if partials == 0 {
		t.Errorf("no partial result among %d events (permutation reports each repeat)", len(events))
	}
}

func TestExplainStreamNeedsHTTP2(t *testing.T) {
	st := startStack(t, stackConfig{})
	req := methodRequests()["kernel_shap"]
	want, err := st.grpc.Explain(ctx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	url := st.url + "/explainer.v1.ExplainerService/ExplainStream"

	t.Run("HTTP/2 without TLS", func(t *testing.T) {
		client := connect.NewClient[explainerv1.ExplainStreamRequest, explainerv1.ExplainStreamResponse](st.h2c, url, connect.WithProtoJSON())
		stream := client.CallBidiStream(ctx(t))
		start := &explainerv1.ExplainStreamRequest{Kind: &explainerv1.ExplainStreamRequest_Start{Start: &explainerv1.StartJob{JobId: "a", Request: req}}}
		if err := stream.Send(start); err != nil {
			t.Fatal(err)
		}
		if err := stream.CloseRequest(); err != nil {
			t.Fatal(err)
		}
		var got *explainerv1.Explanation
		for {
			msg, err := stream.Receive()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if msg.GetError() != nil {
				t.Fatalf("job error %v", msg.GetError())
			}
			if r := msg.GetResult(); r != nil {
				got = r
			}
		}
		if err := stream.CloseResponse(); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(withoutElapsed(got), withoutElapsed(want.GetExplanation())) {
			t.Errorf("result %v\nwant %v", got, want.GetExplanation())
		}
	})
	t.Run("HTTP/1.1 is refused", func(t *testing.T) {
		code, _, out := st.post(t, "/explainer.v1.ExplainerService/ExplainStream", "application/connect+json", []byte{0, 0, 0, 0, 2, '{', '}'}, nil)
		if code != http.StatusHTTPVersionNotSupported {
			t.Errorf("HTTP %d %s, want 505", code, out)
		}
	})
}

func TestExplainJobCancelledWhenTheClientGoesAway(t *testing.T) {
	st := startStack(t, stackConfig{model: func(p *predictortest.PredictServer) {
		p.MaxBatchSize = 10
		p.Delay = 20 * time.Millisecond
		// Calls after the first two hang until cancelled, so a call is in
		// flight whenever the client goes away, however slow the machine.
		p.Fault = func(call int, _ [][]float64) ([][]float64, error) {
			if call >= 2 {
				return nil, predictortest.ErrHang
			}
			return nil, nil
		}
	}})
	body, _ := marshalJSON.Marshal(&explainerv1.ExplainJobRequest{Request: methodRequests()["lime"]}) // 500 rows: about 1 s
	cctx, cancel := context.WithCancel(ctx(t))
	defer cancel()
	req, _ := http.NewRequestWithContext(cctx, http.MethodPost, st.url+"/explainer.v1.ExplainerService/ExplainJob", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := st.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || !strings.Contains(line, `"progress"`) {
		t.Fatalf("first line %q, %v: want progress", line, err)
	}
	cancel()
	stopped := time.Now()
	deadline := time.Now().Add(2 * time.Second)
	for st.fake.Cancelled() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if st.fake.Cancelled() == 0 {
		t.Error("the model server never saw a call cancelled")
	}
	time.Sleep(150 * time.Millisecond)
	if n := st.fake.CallsAfter(stopped.Add(50 * time.Millisecond)); n != 0 {
		t.Errorf("the model server received %d batches after the client went away", n)
	}
	if st.fake.Rows() >= 500 {
		t.Errorf("the model scored all %d rows", st.fake.Rows())
	}
}
