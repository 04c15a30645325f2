package predictortest_test

import (
	"context"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/explainer-sidecar/explainer/predictor/predictortest"
	predictv1 "github.com/explainer-sidecar/explainer/proto/predict/v1"
)

func ExampleNewBufconnServer() {
	fake := predictortest.NewPredictServer(predictortest.Logistic([]float64{2}, 0))
	fake.Fault = predictortest.FailFirst(1, codes.Unavailable)
	s := predictortest.NewBufconnServer(fake)
	defer s.Close()

	c := predictv1.NewPredictServiceClient(s.Conn)
	req := &predictv1.PredictRequest{NumInstances: 2, NumFeatures: 1, Values: []float64{0, 1}}
	_, err := c.Predict(context.Background(), req)
	fmt.Println(status.Code(err))
	resp, err := c.Predict(context.Background(), req)
	fmt.Printf("%v %.3f\n", err, resp.GetScores())
	fmt.Println("calls:", fake.Calls(), "rows:", fake.Rows())
	// Output:
	// Unavailable
	// <nil> [0.500 0.500 0.119 0.881]
	// calls: 2 rows: 4
}
