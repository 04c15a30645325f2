package server

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/explainer-sidecar/explainer/predictor"
	"github.com/explainer-sidecar/explainer/predictor/predictortest"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

func TestBatchRows(t *testing.T) {
	capped := func(rows int, rule predictor.BatchRule) predictor.ModelInfo {
		return predictor.ModelInfo{MaxBatchSize: rows, BatchRule: rule}
	}
	tests := []struct {
		name     string
		override int
		info     predictor.ModelInfo
		want     int
		rule     string // a substring of the rule
	}{
		{"max_batch_size", 0, capped(8, predictor.BatchMaxBatchSize), 8, "max_batch_size"},
		{"fixed first dimension", 0, capped(8, predictor.BatchFixedDim), 8, "fixed first input dimension"},
		{"a Client that sets only MaxBatchSize", 0, capped(8, predictor.BatchUnknown), 8, "max_batch_size"},
		{"flag lowers the cap", 4, capped(8, predictor.BatchMaxBatchSize), 4, "--max-batch-size, under"},
		{"flag never raises the cap", 100, capped(8, predictor.BatchMaxBatchSize), 8, "the model's max_batch_size"},
		{"triton: no cap", 0, capped(0, predictor.BatchVariableDim), predictor.NoRowCap, "no row cap"},
		{"predict.v1: no cap", 0, capped(0, predictor.BatchNoLimit), predictor.NoRowCap, "no row cap"},
		{"flag over no cap", 500, capped(0, predictor.BatchNoLimit), 500, "--max-batch-size"},
		{"unknown", 0, predictor.ModelInfo{}, DefaultMaxBatchSize, "default"},
		{"flag over unknown", 500, predictor.ModelInfo{}, 500, "--max-batch-size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, rule := batchRows(tt.override, tt.info)
			if got != tt.want || !strings.Contains(rule, tt.rule) {
				t.Errorf("batchRows(%d, %+v) = %d, %q; want %d, %q", tt.override, tt.info, got, rule, tt.want, tt.rule)
			}
		})
	}
}

// lockedBuffer is a log sink that the server's goroutines and the test
// share.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// records returns the log records whose msg is msg.
func (b *lockedBuffer) records(t *testing.T, msg string) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for line := range strings.Lines(b.buf.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		if rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// wideLIME is a LIME request on 30 features (the breast-cancer width) with
// n samples.
func wideLIME(n uint32) *explainerv1.ExplainRequest {
	const p = 30
	rows := 200
	values := make([]float64, rows*p)
	for i := range values {
		values[i] = math.Sin(float64(i)) * float64(i%p+1)
	}
	seed := uint64(3)
	return &explainerv1.ExplainRequest{
		Model:    "model",
		Instance: &explainerv1.Instance{Kind: &explainerv1.Instance_Tabular{Tabular: &explainerv1.TabularInstance{Values: values[:p]}}},
		Method: &explainerv1.ExplainRequest_Lime{Lime: &explainerv1.LimeOptions{
			NumSamples: n, NumFeatures: 5, Seed: &seed, Labels: []uint32{1},
			Training: &explainerv1.TrainingData{Source: &explainerv1.TrainingData_Dataset{
				Dataset: &explainerv1.Dataset{NumRows: uint32(rows), Values: values},
			}},
		}},
	}
}

// The batch size follows what the model server says: a KServe model that
// takes any number of rows gets as few calls as --max-batch-bytes allows,
// one with a fixed first dimension gets batches of that size, one whose
// server has no ModelConfig gets the default, a predict.v1 model with
// max_batch_size 0 has no cap; the log says which rule
// applied, once per model.
func TestBatchSizeFromModelServer(t *testing.T) {
	tests := []struct {
		name        string
		samples     uint32
		maxBatch    int   // ModelConfig's max_batch_size
		firstDim    int64 // the input's first dimension; 0: -1
		noConfig    bool
		predictV1   bool // a predict.v1 server, reporting max_batch_size maxBatch
		opts        []Option
		wantCalls   int
		wantLargest int
		wantRows    string // max_batch_rows in the log
		wantRule    string // a substring of batch_rule
	}{
		// 5000 × 30 float64 = 1.2 MB, under the default 3 MiB: one call.
		{"max_batch_size 0, dims [-1, 30]", 5000, 0, 0, false, false, nil, 1, 5000, "no cap", "variable first input dimension"},
		// The bytes cap splits, counting the 4 bytes an FP32 input value
		// takes: 2000 rows of 30 values per call (1000 at 8 bytes a value).
		{"no cap, --max-batch-bytes 240000", 5000, 0, 0, false, false, []Option{WithMaxBatchBytes(1000 * 30 * 8)}, 3, 2000, "no cap", "no row cap"},
		{"max_batch_size 0, dims [8, 30]", 1000, 0, 8, false, false, nil, 125, 8, "8", "fixed first input dimension"},
		{"ModelConfig UNIMPLEMENTED", 1000, 0, 0, true, false, nil, 16, 64, "64", "default: the model server does not say"},
		{"max_batch_size 100", 1000, 100, 0, false, false, nil, 10, 100, "100", "max_batch_size"},
		{"predict.v1 max_batch_size 0", 5000, 0, 0, false, true, nil, 1, 5000, "no cap", "max_batch_size 0: no row cap"},
		{"predict.v1 max_batch_size 0, --max-batch-size 1000", 5000, 0, 0, false, true, []Option{WithMaxBatchSize(1000)}, 5, 1000, "1000", "--max-batch-size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			score := predictortest.Logistic([]float64{0.5, -0.3, 0.2}, 0.1)
			var fake *predictortest.Model
			var newClient ClientFunc
			if tt.predictV1 {
				var p *predictortest.PredictServer
				p, newClient = predictV1Model(t, func(p *predictortest.PredictServer) {
					p.NumFeatures, p.Score, p.MaxBatchSize = 30, score, tt.maxBatch
				})
				fake = &p.Model
			} else {
				var k *predictortest.KServeServer
				k, newClient = kserveModel(t, func(k *predictortest.KServeServer) {
					k.NumFeatures, k.Score, k.MaxBatchSize = 30, score, tt.maxBatch
					k.FirstDim = tt.firstDim
					k.NoModelConfig = tt.noConfig
				})
				fake = &k.Model
			}
			var log lockedBuffer
			sc := startObserved(t, newClient, slog.New(slog.NewJSONHandler(&log, nil)), nil, tt.opts...)
			for range 2 { // the second job finds the model described
				resp, err := sc.client.Explain(context.Background(), wideLIME(tt.samples))
				if err != nil {
					t.Fatal(err)
				}
				if got := resp.GetExplanation().GetModelCalls(); got != uint64(tt.wantCalls) {
					t.Errorf("%d model calls for %d samples, want %d", got, tt.samples, tt.wantCalls)
				}
			}
			t.Logf("%d samples: %d calls per job, largest %d rows", tt.samples, fake.Calls()/2, fake.MaxBatch())
			if fake.Calls() != 2*tt.wantCalls || fake.MaxBatch() != tt.wantLargest || fake.Rows() != 2*int(tt.samples) {
				t.Errorf("the fake saw %d calls of %d rows, the largest %d; want %d, %d, %d",
					fake.Calls(), fake.Rows(), fake.MaxBatch(), 2*tt.wantCalls, 2*tt.samples, tt.wantLargest)
			}
			recs := log.records(t, "model described")
			if len(recs) != 1 {
				t.Fatalf("%d \"model described\" records for two jobs, want 1", len(recs))
			}
			rule, _ := recs[0]["batch_rule"].(string)
			if recs[0]["model"] != "model" || recs[0]["max_batch_rows"] != tt.wantRows || !strings.Contains(rule, tt.wantRule) {
				t.Errorf("log %v: want max_batch_rows %q, batch_rule containing %q", recs[0], tt.wantRows, tt.wantRule)
			}
		})
	}
}
