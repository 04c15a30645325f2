package predictortest_test

import (
	"context"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
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
	// The context ends once the call hangs at the fake: were it a short
	// deadline, the call might end before it arrives, and the fake would
	// see nothing.
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	go func() {
		if fake.Await(ctx, func() bool { return fake.InFlight() == 1 }) == nil {
			cancel()
		}
	}()
	if _, err := predict(ctx, s, 1, 1); status.Code(err) != codes.Canceled {
		t.Errorf("err = %v, want Canceled", err)
	}
	if err := fake.Await(t.Context(), func() bool { return fake.Cancelled() == 1 }); err != nil {
		t.Fatalf("the fake did not see the context end: %v", err)
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
	// The old connection reconnects with backoff; a call that waits for
	// it to be ready goes through once it has.
	_, err = predictv1.NewPredictServiceClient(s.Conn).Predict(ctx, &predictv1.PredictRequest{NumInstances: 1, NumFeatures: 1, Values: []float64{0}},
		grpc.WaitForReady(true))
	if err != nil {
		t.Errorf("after the restart: %v", err)
	}
}

// TestSentAndAwait: the counters of the client's side follow a call from
// its start until it returns to its caller, and Await wakes on each change
// without polling.
func TestSentAndAwait(t *testing.T) {
	release := make(chan struct{})
	fake := predictortest.NewPredictServer(nil)
	fake.Fault = func(int, [][]float64) ([][]float64, error) {
		<-release
		return nil, nil
	}
	s := predictortest.NewBufconnServer(fake)
	defer s.Close()
	done := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := predict(context.Background(), s, 1, 1)
			done <- err
		}()
	}
	// Both calls reach the fake and wait there.
	if err := fake.Await(t.Context(), func() bool { return fake.InFlight() == 2 }); err != nil {
		t.Fatal(err)
	}
	if fake.Sent() != 2 || fake.Sending() != 2 {
		t.Errorf("sent %d, sending %d with two calls waiting; want 2, 2", fake.Sent(), fake.Sending())
	}
	close(release)
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	// Each call returned to its caller after its counters changed.
	if fake.Sent() != 2 || fake.Sending() != 0 || fake.Calls() != 2 {
		t.Errorf("sent %d, sending %d, calls %d after both returned; want 2, 0, 2", fake.Sent(), fake.Sending(), fake.Calls())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := fake.Await(ctx, func() bool { return false }); err != context.Canceled {
		t.Errorf("Await with an ended context: %v, want context.Canceled", err)
	}
}
