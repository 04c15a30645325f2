package predictortest_test

import (
	"context"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/explainer-sidecar/explainer/predictor/predictortest"
	kservev2 "github.com/explainer-sidecar/explainer/proto/kserve/v2"
	predictv1 "github.com/explainer-sidecar/explainer/proto/predict/v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func predict(ctx context.Context, s *predictortest.Server, n, f int) (*predictv1.PredictResponse, error) {
	return predictv1.NewPredictServiceClient(s.Conn).Predict(ctx, &predictv1.PredictRequest{
		NumInstances: uint32(n), NumFeatures: uint32(f), Values: make([]float64, n*f),
	})
}

func TestMaxBatchSizeRejectedLikeTriton(t *testing.T) {
	fake := predictortest.NewKServeServer(nil)
	fake.MaxBatchSize = 8
	s := predictortest.NewBufconnServer(fake)
	defer s.Close()
	c := kservev2.NewGRPCInferenceServiceClient(s.Conn)
	infer := func(n int64) error {
		_, err := c.ModelInfer(context.Background(), &kservev2.ModelInferRequest{
			ModelName: "model",
			Inputs: []*kservev2.ModelInferRequest_InferInputTensor{{
				Name: "INPUT0", Datatype: "FP32", Shape: []int64{n, 1},
				Contents: &kservev2.InferTensorContents{Fp32Contents: make([]float32, n)},
			}},
		})
		return err
	}
	if err := infer(8); err != nil {
		t.Fatal(err)
	}
	err := infer(9)
	if st := status.Convert(err); st.Code() != codes.InvalidArgument || st.Message() != "inference request batch-size must be <= 8" {
		t.Errorf("a batch of 9: %v", err)
	}
	if fake.MaxBatch() != 9 || fake.Calls() != 2 || fake.Rows() != 17 {
		t.Errorf("counters: max batch %d, calls %d, rows %d", fake.MaxBatch(), fake.Calls(), fake.Rows())
	}
	cfg, err := c.ModelConfig(context.Background(), &kservev2.ModelConfigRequest{Name: "model"})
	if err != nil || cfg.GetConfig().GetMaxBatchSize() != 8 {
		t.Errorf("ModelConfig = %v, %v", cfg, err)
	}
}

func TestFaults(t *testing.T) {
	fake := predictortest.NewPredictServer(nil)
	fake.Fault = predictortest.FailEvery(3, codes.Unavailable)
	s := predictortest.NewBufconnServer(fake)
	defer s.Close()
	var got []codes.Code
	for range 6 {
		_, err := predict(context.Background(), s, 2, 1)
		got = append(got, status.Code(err))
	}
	want := []codes.Code{codes.OK, codes.OK, codes.Unavailable, codes.OK, codes.OK, codes.Unavailable}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("codes %v, want %v", got, want)
		}
	}
}

func TestHangEndsWithTheContext(t *testing.T) {
	fake := predictortest.NewPredictServer(nil)
	fake.Fault = func(int, [][]float64) ([][]float64, error) { return nil, predictortest.ErrHang }
	s := predictortest.NewBufconnServer(fake)
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := predict(ctx, s, 1, 1); status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("err = %v", err)
	}
	for deadline := time.Now().Add(time.Second); fake.Cancelled() != 1; {
		if time.Now().After(deadline) {
			t.Fatal("the fake did not see the context end")
		}
		time.Sleep(time.Millisecond)
	}
	if fake.CallsWithoutDeadline() != 0 || fake.LatestDeadline().IsZero() {
		t.Error("the deadline was not recorded")
	}
}

// Stop, then Start on the same address: the model server comes back and the
// same connection reaches it again.
func TestStopAndRestart(t *testing.T) {
	fake := predictortest.NewPredictServer(nil)
	s := predictortest.NewServer(fake)
	defer s.Close()
	if _, err := predict(context.Background(), s, 1, 1); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	if _, err := predict(context.Background(), s, 1, 1); status.Code(err) != codes.Unavailable {
		t.Errorf("after Stop: %v, want Unavailable", err)
	}
	lis, err := net.Listen("tcp", s.Target)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", s.Target, err)
	}
	again := predictortest.Start(lis, fake)
	defer again.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// The old connection reconnects with backoff; WaitForReady-free calls
	// may fail until it has.
	for {
		if _, err = predict(ctx, s, 1, 1); err == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Errorf("after the restart: %v", err)
	}
}
