package predictor_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/explainer-sidecar/explainer/predictor"
	"github.com/explainer-sidecar/explainer/predictor/predictortest"
)

func ExampleNewBatcher() {
	// A fake model server standing in for the user's: p = σ(x_0 − x_1).
	fake := predictortest.NewPredictServer(predictortest.Logistic([]float64{1, -1}, 0))
	fake.MaxBatchSize = 100
	s := predictortest.NewBufconnServer(fake)
	defer s.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := predictor.NewPredictV1(s.Conn, "")
	info, err := client.Describe(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}

	var scored atomic.Int64
	model := predictor.NewBatcher(client,
		predictor.WithMaxBatchSize(info.MaxBatchSize), // as the server reports it
		predictor.WithInFlight(4),
		predictor.WithObserver(func(n int) { scored.Add(int64(n)) }), // called concurrently
	)
	rows := make([][]float64, 1000)
	for i := range rows {
		rows[i] = []float64{float64(i % 3), 1}
	}
	scores, err := model.Predict(ctx, rows)
	switch {
	case errors.Is(err, predictor.ErrBadOutput):
		fmt.Println("the model server is faulty:", err)
	case err != nil:
		fmt.Println(err)
	default:
		fmt.Printf("row 2: [%.3f %.3f]\n", scores[2][0], scores[2][1])
		fmt.Println("rows scored:", scored.Load(), "in", model.Calls(), "calls")
	}
	// Output:
	// row 2: [0.269 0.731]
	// rows scored: 1000 in 10 calls
}

func ExampleDial() {
	s := predictortest.NewServer(predictortest.NewKServeServer(predictortest.Logistic([]float64{1}, 0)))
	defer s.Close()

	// In production: predictor.Dial("dns:///triton.models.svc:8001") for TLS
	// to every replica; plaintext has to be asked for.
	cc, err := predictor.Dial(s.Target, predictor.WithInsecure())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cc.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := predictor.NewKServeV2(cc, "model")
	if err := client.Ready(ctx); err != nil {
		fmt.Println("not ready:", err)
		return
	}
	scores, err := predictor.NewBatcher(client).Predict(ctx, [][]float64{{0}, {2}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%.3f %.3f\n", scores[0][1], scores[1][1])
	// Output: 0.500 0.881
}
