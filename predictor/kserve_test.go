package predictor_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"

	"github.com/explainer-sidecar/explainer/predictor"
	"github.com/explainer-sidecar/explainer/predictor/predictortest"
)

// kserveRows are values that FP32 cannot hold exactly and that INT64 rounds.
var kserveRows = [][]float64{{0.1, -2.4, 3.6}, {1e6 + 0.3, 7, -0.5000001}}

// TestKServeRoundTrip sends every input data type, raw and typed, and reads
// every output data type, raw and typed. The fake scores a row as
// [x_0, Σ x_j] of the values it decoded, so the expected scores are the
// float64 values rounded to the input type, summed in float64, then rounded
// to the output type.
func TestKServeRoundTrip(t *testing.T) {
	toInput := map[string]func(float64) float64{
		predictor.FP32:  func(v float64) float64 { return float64(float32(v)) },
		predictor.FP64:  func(v float64) float64 { return v },
		predictor.INT64: math.Round,
	}
	for _, in := range []string{predictor.FP32, predictor.FP64, predictor.INT64} {
		for _, rawIn := range []bool{true, false} {
			for _, fp64Out := range []bool{false, true} {
				for _, typedOut := range []bool{false, true} {
					name := fmt.Sprintf("in=%s/raw=%v/outFP64=%v/typedOut=%v", in, rawIn, fp64Out, typedOut)
					t.Run(name, func(t *testing.T) {
						fake := predictortest.NewKServeServer(firstAndSum)
						fake.InputDatatype = in
						fake.OutputFP64 = fp64Out
						fake.TypedOutput = typedOut
						s := serve(t, fake)
						// The data type comes from the metadata.
						c := predictor.NewKServeV2(s.Conn, "model", predictor.WithRawContents(rawIn))
						got, err := c.Score(context.Background(), kserveRows)
						if err != nil {
							t.Fatal(err)
						}
						sent := make([][]float64, len(kserveRows))
						for i, r := range kserveRows {
							for _, v := range r {
								sent[i] = append(sent[i], toInput[in](v))
							}
						}
						want := firstAndSum(sent)
						for i := range want {
							for j := range want[i] {
								w := want[i][j]
								if !fp64Out {
									w = float64(float32(w)) // FP32 output: the nearest float32
								}
								if got[i][j] != w {
									t.Errorf("score[%d][%d] = %v, want %v", i, j, got[i][j], w)
								}
							}
						}
					})
				}
			}
		}
	}
}

// halfAndByteRows fit FP16 and UINT8; halfOf gives each value's nearest
// half (numpy's float16 of it).
var (
	halfAndByteRows = [][]float64{{0.1, 2.4, 3.6}, {200.3, 7, 0.5000001}}
	halfOf          = map[float64]float64{0.1: 0.0999755859375, 2.4: 2.400390625, 3.6: 3.599609375, 200.3: 200.25, 7: 7, 0.5000001: 0.5}
)

// TestKServeHalfAndByteInputs: FP16 and UINT8 inputs (Triton's TensorRT
// and image models) reach the model as the nearest half and the nearest
// byte, raw or (UINT8) typed; FP16 typed, an FP16 value beyond ±65504 and
// a UINT8 value outside [0, 255] fail before anything is sent.
func TestKServeHalfAndByteInputs(t *testing.T) {
	for _, tc := range []struct {
		datatype string
		raw      bool
		convert  func(float64) float64
		bad      float64 // a value the type cannot hold
	}{
		{predictor.FP16, true, func(v float64) float64 { return halfOf[v] }, 7e4},
		{predictor.UINT8, true, math.Round, 255.5},
		{predictor.UINT8, false, math.Round, -1},
	} {
		t.Run(fmt.Sprintf("%s/raw=%v", tc.datatype, tc.raw), func(t *testing.T) {
			fake := predictortest.NewKServeServer(firstAndSum)
			fake.InputDatatype = tc.datatype
			fake.OutputFP64 = true
			c := predictor.NewKServeV2(serve(t, fake).Conn, "model", predictor.WithRawContents(tc.raw))
			got, err := c.Score(context.Background(), halfAndByteRows)
			if err != nil {
				t.Fatal(err)
			}
			sent := make([][]float64, len(halfAndByteRows))
			for i, r := range halfAndByteRows {
				for _, v := range r {
					sent[i] = append(sent[i], tc.convert(v))
				}
			}
			if want := firstAndSum(sent); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("scores %v, want %v", got, want)
			}
			if _, err := c.Score(context.Background(), [][]float64{{1, tc.bad, 2}}); !errors.Is(err, predictor.ErrInvalidInput) {
				t.Errorf("%v: %v, want ErrInvalidInput", tc.bad, err)
			}
			if fake.Calls() != 1 {
				t.Errorf("%d calls, want 1 (the bad row is not sent)", fake.Calls())
			}
		})
	}
	fake := predictortest.NewKServeServer(firstAndSum)
	fake.InputDatatype = predictor.FP16
	c := predictor.NewKServeV2(serve(t, fake).Conn, "model", predictor.WithRawContents(false))
	if _, err := c.Score(context.Background(), halfAndByteRows); !errors.Is(err, predictor.ErrInvalidInput) || fake.Calls() != 0 {
		t.Errorf("typed FP16: %v after %d calls, want ErrInvalidInput before any", err, fake.Calls())
	}
}

func TestKServeInt64InputRejectsNonFinite(t *testing.T) {
	fake := predictortest.NewKServeServer(firstAndSum)
	fake.InputDatatype = predictor.INT64
	s := serve(t, fake)
	for _, raw := range []bool{true, false} {
		c := predictor.NewKServeV2(s.Conn, "model", predictor.WithRawContents(raw))
		for _, v := range []float64{math.NaN(), math.Inf(-1), 1e19} {
			_, err := c.Score(context.Background(), [][]float64{{1, 2}, {3, v}})
			if !errors.Is(err, predictor.ErrInvalidInput) {
				t.Errorf("raw=%v, %v: err = %v, want ErrInvalidInput", raw, v, err)
			}
		}
	}
	if fake.Calls() != 0 {
		t.Errorf("%d calls sent", fake.Calls())
	}
}

// softmax closed form: logits log(p) of probabilities p give back p.
func TestKServeSoftmax(t *testing.T) {
	probs := func(rows [][]float64) [][]float64 {
		out := make([][]float64, len(rows))
		for i := range out {
			out[i] = []float64{0.2, 0.3, 0.5}
		}
		return out
	}
	for _, fp64 := range []bool{false, true} {
		fake := predictortest.NewKServeServer(probs)
		fake.Logits = true
		fake.OutputFP64 = fp64
		s := serve(t, fake)
		got, err := predictor.NewKServeV2(s.Conn, "model", predictor.WithSoftmax(true)).Score(context.Background(), table(3, 2))
		if err != nil {
			t.Fatal(err)
		}
		tol := 1e-15
		if !fp64 {
			tol = 1e-6 // log(p) rounded to float32: error ≤ 2^-24·|log p| in each logit
		}
		for _, r := range got {
			for j, want := range []float64{0.2, 0.3, 0.5} {
				if math.Abs(r[j]-want) > tol {
					t.Errorf("fp64=%v: p[%d] = %v, want %v", fp64, j, r[j], want)
				}
			}
		}
		// Without softmax the logits come back as they are.
		raw, err := predictor.NewKServeV2(s.Conn, "model").Score(context.Background(), table(1, 2))
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(raw[0][0]-math.Log(0.2)) > 1e-6 {
			t.Errorf("logit = %v, want log 0.2", raw[0][0])
		}
	}
}

// countingConn counts ModelMetadata calls.
func countingConn(t *testing.T, s *predictortest.Server, n *atomic.Int64) *grpc.ClientConn {
	t.Helper()
	opts := append(s.DialOptions(), grpc.WithUnaryInterceptor(
		func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			if method == "/inference.GRPCInferenceService/ModelMetadata" {
				n.Add(1)
			}
			return invoker(ctx, method, req, reply, cc, opts...)
		}))
	cc, err := grpc.NewClient(s.Target, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func TestKServeTensorNames(t *testing.T) {
	fake := predictortest.NewKServeServer(firstAndSum)
	fake.InputName, fake.OutputName = "features", "probabilities"
	s := serve(t, fake)
	tests := []struct {
		name         string
		opts         []predictor.KServeOption
		wantMetadata int64 // ModelMetadata calls for 3 Scores
		wantErr      error
	}{
		{"from metadata", nil, 1, nil},
		{"given", []predictor.KServeOption{predictor.WithInputName("features"), predictor.WithOutputName("probabilities"),
			predictor.WithInputDatatype(predictor.FP32)}, 0, nil},
		{"input given, type from metadata", []predictor.KServeOption{predictor.WithInputName("features")}, 1, nil},
		{"wrong input name", []predictor.KServeOption{predictor.WithInputName("x"), predictor.WithOutputName("probabilities"),
			predictor.WithInputDatatype(predictor.FP32)}, 0, predictor.ErrRejected},
		{"wrong output name", []predictor.KServeOption{predictor.WithOutputName("y")}, 1, predictor.ErrRejected},
		{"input not in metadata", []predictor.KServeOption{predictor.WithInputName("x")}, 3, predictor.ErrRejected},
		{"wrong data type", []predictor.KServeOption{predictor.WithInputDatatype(predictor.FP64)}, 1, predictor.ErrRejected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n atomic.Int64
			c := predictor.NewKServeV2(countingConn(t, s, &n), "model", tt.opts...)
			for range 3 {
				_, err := c.Score(context.Background(), table(2, 3))
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
			}
			if n.Load() != tt.wantMetadata {
				t.Errorf("%d ModelMetadata calls, want %d", n.Load(), tt.wantMetadata)
			}
		})
	}
}

func TestKServeUnsupportedInputType(t *testing.T) {
	fake := predictortest.NewKServeServer(firstAndSum)
	fake.InputDatatype = "BYTES"
	s := serve(t, fake)
	_, err := predictor.NewKServeV2(s.Conn, "model").Score(context.Background(), table(2, 3))
	if !errors.Is(err, predictor.ErrRejected) {
		t.Errorf("err = %v, want ErrRejected", err)
	}
}

func TestKServeDescribe(t *testing.T) {
	base := predictor.ModelInfo{Name: "model", NumFeatures: 30, NumClasses: 2, InputKind: predictor.InputTabular}
	with := func(rows int, rule predictor.BatchRule) predictor.ModelInfo {
		info := base
		info.MaxBatchSize, info.BatchRule = rows, rule
		return info
	}
	// The batch limit's rules (see predictor.BatchRule), one case each.
	tests := []struct {
		name     string
		maxBatch int   // ModelConfig's max_batch_size
		firstDim int64 // the input's first dimension; 0: -1
		noConfig bool  // ModelConfig is UNIMPLEMENTED
		want     predictor.ModelInfo
	}{
		{"triton max_batch_size 8", 8, 0, false, with(8, predictor.BatchMaxBatchSize)},
		{"triton max_batch_size 0, dims [-1, 30]", 0, 0, false, with(0, predictor.BatchVariableDim)},
		{"triton max_batch_size 0, dims [8, 30]", 0, 8, false, with(8, predictor.BatchFixedDim)},
		{"kserve without ModelConfig, [-1, 30]", 8, 0, true, with(0, predictor.BatchUnknown)},
		{"kserve without ModelConfig, [8, 30]", 0, 8, true, with(8, predictor.BatchFixedDim)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := predictortest.NewKServeServer(firstAndSum)
			fake.MaxBatchSize = tt.maxBatch
			fake.FirstDim = tt.firstDim
			fake.NumFeatures = 30
			fake.ClassNames = []string{"benign", "malignant"}
			fake.NoModelConfig = tt.noConfig
			s := serve(t, fake)
			got, err := predictor.NewKServeV2(s.Conn, "model").Describe(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got.Name != tt.want.Name || got.NumFeatures != tt.want.NumFeatures || got.NumClasses != tt.want.NumClasses ||
				got.MaxBatchSize != tt.want.MaxBatchSize || got.BatchRule != tt.want.BatchRule ||
				got.InputKind != tt.want.InputKind || got.ClassNames != nil {
				t.Errorf("Describe = %+v, want %+v", got, tt.want)
			}
			if got.BatchRule.Uncapped() != (tt.want.BatchRule == predictor.BatchVariableDim) {
				t.Errorf("%v: Uncapped() = %v", got.BatchRule, got.BatchRule.Uncapped())
			}
		})
	}
	// An image model's [-1, C, H, W] input: its instances have C·H·W values,
	// unknown when a dimension is variable.
	for _, tc := range []struct {
		shape []int64
		want  int
	}{{[]int64{3, 8, 8}, 192}, {[]int64{1, 8, 8}, 64}, {[]int64{3, -1, -1}, 0}} {
		fake := predictortest.NewKServeServer(firstAndSum)
		fake.InstanceShape = tc.shape
		got, err := predictor.NewKServeV2(serve(t, fake).Conn, "model").Describe(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got.NumFeatures != tc.want || got.InputKind != predictor.InputImage {
			t.Errorf("input %v: %d features, kind %q; want %d, image", tc.shape, got.NumFeatures, got.InputKind, tc.want)
		}
	}
	s := serve(t, predictortest.NewKServeServer(firstAndSum))
	if _, err := predictor.NewKServeV2(s.Conn, "nope").Describe(context.Background()); !errors.Is(err, predictor.ErrRejected) {
		t.Errorf("Describe of an unknown model: %v, want ErrRejected", err)
	}
}

// The Batcher splits by the max batch size that ModelConfig reports, and the
// fake (like Triton) would reject anything bigger.
func TestKServeBatcherUsesModelConfig(t *testing.T) {
	fake := predictortest.NewKServeServer(firstAndSum)
	fake.MaxBatchSize = 8
	s := serve(t, fake)
	c := predictor.NewKServeV2(s.Conn, "model")
	info, err := c.Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b := predictor.NewBatcher(c, predictor.WithMaxBatchSize(info.MaxBatchSize))
	rows := table(100, 3)
	got, err := b.Predict(context.Background(), rows)
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if got[i][0] != float64(i) {
			t.Fatalf("row %d out of order: %v", i, got[i])
		}
	}
	if fake.MaxBatch() != 8 || fake.Calls() != 13 {
		t.Errorf("biggest batch %d in %d calls, want 8 in 13", fake.MaxBatch(), fake.Calls())
	}

	// Without the limit the fake rejects the batch as Triton does.
	_, err = predictor.NewBatcher(c).Predict(context.Background(), rows)
	if !errors.Is(err, predictor.ErrRejected) {
		t.Errorf("err = %v, want ErrRejected", err)
	}
}

func TestKServeReady(t *testing.T) {
	fake := predictortest.NewKServeServer(firstAndSum)
	s := serve(t, fake)
	c := predictor.NewKServeV2(s.Conn, "model")
	if err := c.Ready(context.Background()); err != nil {
		t.Errorf("Ready: %v", err)
	}
	fake.SetReady(false)
	if err := c.Ready(context.Background()); !errors.Is(err, predictor.ErrUnavailable) {
		t.Errorf("Ready when not ready: %v, want ErrUnavailable", err)
	}
	fake.SetReady(true)
	if err := predictor.NewKServeV2(s.Conn, "other").Ready(context.Background()); !errors.Is(err, predictor.ErrRejected) {
		t.Errorf("Ready of an unknown model: %v, want ErrRejected", err)
	}
}
