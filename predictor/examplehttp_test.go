package predictor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/explainer-sidecar/explainer/predictor"
)

func ExampleNewKServeV1HTTP() {
	// A KServe v1 model server standing in for the user's: it scores each
	// instance [x] as [1-x, x].
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Instances [][]float64 }
		_ = json.NewDecoder(r.Body).Decode(&req)
		preds := make([][]float64, len(req.Instances))
		for i, in := range req.Instances {
			preds[i] = []float64{1 - in[0], in[0]}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"predictions": preds})
	}))
	defer srv.Close()

	// In production: "http://NAME-predictor.NAMESPACE" inside the cluster,
	// or https:// with predictor.WithHTTPTLS.
	client, err := predictor.NewKServeV1HTTP(srv.URL, "iris")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	model := predictor.NewBatcher(client, predictor.WithMaxBatchSize(2))
	scores, err := model.Predict(ctx, [][]float64{{0.25}, {0.5}, {1}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(scores, "in", model.Calls(), "calls")
	// Output:
	// [[0.75 0.25] [0.5 0.5] [0 1]] in 2 calls
}

func ExampleNewKServeV2HTTP() {
	f := &fakeHTTP{} // an Open Inference Protocol server, in this package's tests
	srv := httptest.NewServer(f)
	defer srv.Close()

	client, err := predictor.NewKServeV2HTTP(srv.URL, "m",
		predictor.WithOutputName("p"),     // a KServeOption works here too
		predictor.WithBinaryOutputs(true), // when the server has the extension
		predictor.WithHTTPHeader("Authorization", "Bearer TOKEN"),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := client.Describe(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d features, %d classes, max batch %d\n", info.NumFeatures, info.NumClasses, info.MaxBatchSize)
	// Output:
	// 3 features, 2 classes, max batch 0
}
