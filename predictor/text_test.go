package predictor_test

import (
	"context"
	"errors"
	"hash/fnv"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/explainer-sidecar/explainer/predictor"
	"github.com/explainer-sidecar/explainer/predictor/predictortest"
)

// Batcher satisfies explain.TextModel (not imported here).
var _ interface {
	PredictText(ctx context.Context, texts []string) ([][]float64, error)
} = (*predictor.Batcher)(nil)

// texts covers ASCII, Unicode, the empty string and NUL bytes.
var texts = []string{"hello", "héllo wörld ☃ 日本語 🙂", "", "a\x00b\x00", "\x00", "the end"}

// lenAndHash scores a text as [len, FNV-32a of its bytes]: exact in FP64,
// so any change to a text on the way shows.
func lenAndHash(texts []string) [][]float64 {
	out := make([][]float64, len(texts))
	for i, s := range texts {
		h := fnv.New32a()
		h.Write([]byte(s))
		out[i] = []float64{float64(len(s)), float64(h.Sum32())}
	}
	return out
}

// batchSizes records the size of each text batch a fake scores.
type batchSizes struct {
	mu    sync.Mutex
	sizes []int
}

func (b *batchSizes) score(texts []string) [][]float64 {
	b.mu.Lock()
	b.sizes = append(b.sizes, len(texts))
	b.mu.Unlock()
	return lenAndHash(texts)
}

func checkText(t *testing.T, texts []string, got [][]float64) {
	t.Helper()
	want := lenAndHash(texts)
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
	for i := range want {
		if len(got[i]) != 2 || got[i][0] != want[i][0] || got[i][1] != want[i][1] {
			t.Fatalf("row %d = %v, want %v", i, got[i], want[i])
		}
	}
}

func textClients(t *testing.T) map[string]predictor.TextClient {
	pf := predictortest.NewPredictServer(nil)
	pf.TextScore = lenAndHash
	ps := serve(t, pf)
	clients := map[string]predictor.TextClient{"predict.v1": predictor.NewPredictV1(ps.Conn, "")}
	for _, rank := range []int{1, 2} {
		kf := predictortest.NewKServeServer(nil)
		kf.TextScore = lenAndHash
		kf.TextRank = rank
		kf.OutputFP64 = true
		ks := serve(t, kf)
		name := map[int]string{1: "kserve/[N]", 2: "kserve/[N,1]"}[rank]
		clients[name+"/raw"] = predictor.NewKServeV2(ks.Conn, "model")
		clients[name+"/typed"] = predictor.NewKServeV2(ks.Conn, "model", predictor.WithRawContents(false))
	}
	return clients
}

func TestTextRoundTrip(t *testing.T) {
	for name, c := range textClients(t) {
		t.Run(name, func(t *testing.T) {
			got, err := c.ScoreText(context.Background(), texts)
			if err != nil {
				t.Fatal(err)
			}
			checkText(t, texts, got)
			got, err = predictor.NewBatcher(c, predictor.WithMaxBatchSize(4)).PredictText(context.Background(), texts)
			if err != nil {
				t.Fatal(err)
			}
			checkText(t, texts, got)
		})
	}
}

// KServe BYTES carry any bytes; predict.v1 strings must be UTF-8, and the
// client says so before sending.
func TestTextInvalidUTF8(t *testing.T) {
	bad := []string{"ok", "\xff\xfe"}
	for name, c := range textClients(t) {
		t.Run(name, func(t *testing.T) {
			got, err := c.ScoreText(context.Background(), bad)
			if name == "predict.v1" {
				if !errors.Is(err, predictor.ErrInvalidInput) {
					t.Fatalf("err = %v, want ErrInvalidInput", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkText(t, bad, got)
		})
	}
}

func TestKServeTextInputFromMetadata(t *testing.T) {
	fake := predictortest.NewKServeServer(nil)
	fake.TextScore = lenAndHash
	fake.OutputFP64 = true
	fake.TextInputName = "text"
	s := serve(t, fake)
	tests := []struct {
		name    string
		opts    []predictor.KServeOption
		wantErr error
	}{
		{"first BYTES input", nil, nil},
		{"named", []predictor.KServeOption{predictor.WithInputName("text")}, nil},
		{"named, not BYTES", []predictor.KServeOption{predictor.WithInputName("INPUT0")}, predictor.ErrRejected},
		{"named, absent", []predictor.KServeOption{predictor.WithInputName("x")}, predictor.ErrRejected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := predictor.NewKServeV2(s.Conn, "model", tt.opts...).ScoreText(context.Background(), texts)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
	// A model without a BYTES input.
	tab := serve(t, predictortest.NewKServeServer(nil))
	if _, err := predictor.NewKServeV2(tab.Conn, "model").ScoreText(context.Background(), texts); !errors.Is(err, predictor.ErrRejected) {
		t.Errorf("no BYTES input: err = %v, want ErrRejected", err)
	}
}

func TestBatcherPredictTextSplits(t *testing.T) {
	tests := []struct {
		name      string
		lens      []int // text lengths
		maxBatch  int
		maxBytes  int // 0: default
		wantSizes []int
	}{
		{"empty", nil, 4, 0, nil},
		{"one", []int{3}, 4, 0, []int{1}},
		{"by count", []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, 4, 0, []int{4, 4, 2}},
		{"by bytes", []int{10, 10, 10, 10, 10}, 64, 28, []int{2, 2, 1}},
		{"prefix counted", []int{10, 10, 10}, 64, 27, []int{1, 1, 1}},
		{"text over the cap alone", []int{1, 100, 1, 1}, 64, 20, []int{1, 1, 2}},
		{"empty texts count 4", []int{0, 0, 0, 0, 0}, 64, 8, []int{2, 2, 1}},
		{"no row cap: bytes only", []int{10, 10, 10, 10, 10}, predictor.NoRowCap, 28, []int{2, 2, 1}},
		{"no row cap: one batch", []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, predictor.NoRowCap, 0, []int{10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rec batchSizes
			fake := predictortest.NewPredictServer(nil)
			fake.TextScore = rec.score
			fake.MaxBatchSize = tt.maxBatch
			s := serve(t, fake)
			var observed atomic.Int64
			b := predictor.NewBatcher(predictor.NewPredictV1(s.Conn, ""), predictor.WithMaxBatchSize(tt.maxBatch),
				predictor.WithMaxBatchBytes(tt.maxBytes), predictor.WithInFlight(1),
				predictor.WithObserver(func(n int) { observed.Add(int64(n)) }))
			in := make([]string, len(tt.lens))
			for i, l := range tt.lens {
				for j := range l {
					in[i] += string(rune('a' + (i+j)%26))
				}
			}
			got, err := b.PredictText(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			checkText(t, in, got)
			if len(rec.sizes) != len(tt.wantSizes) || b.Calls() != int64(len(tt.wantSizes)) {
				t.Fatalf("batches %v (%d calls), want %v", rec.sizes, b.Calls(), tt.wantSizes)
			}
			for i := range rec.sizes {
				if rec.sizes[i] != tt.wantSizes[i] {
					t.Fatalf("batches %v, want %v", rec.sizes, tt.wantSizes)
				}
			}
			if observed.Load() != int64(len(in)) {
				t.Errorf("observer saw %d texts, want %d", observed.Load(), len(in))
			}
		})
	}
}

func manyTexts(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = string(rune('A'+i%26)) + "·" + string(rune('a'+i%7))
	}
	return out
}

func TestBatcherPredictTextOrderAndInFlight(t *testing.T) {
	for _, inFlight := range []int{1, 3, 8} {
		fake := predictortest.NewKServeServer(nil)
		fake.TextScore = lenAndHash
		fake.OutputFP64 = true
		fake.Delay = 10 * time.Millisecond
		s := serve(t, fake)
		b := predictor.NewBatcher(predictor.NewKServeV2(s.Conn, "model"),
			predictor.WithMaxBatchSize(3), predictor.WithInFlight(inFlight))
		in := manyTexts(100)
		got, err := b.PredictText(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		checkText(t, in, got)
		if m := fake.MaxConcurrent(); m > inFlight || (inFlight > 1 && m < 2) {
			t.Errorf("in flight %d: fake saw %d calls at once", inFlight, m)
		}
		if fake.Calls() != 34 || fake.MaxBatch() != 3 {
			t.Errorf("in flight %d: %d calls, biggest %d", inFlight, fake.Calls(), fake.MaxBatch())
		}
	}
}

func TestBatcherPredictTextCancel(t *testing.T) {
	fake := predictortest.NewPredictServer(nil)
	fake.TextScore = lenAndHash
	fake.Fault = func(int, [][]float64) ([][]float64, error) { return nil, predictortest.ErrHang }
	s := serve(t, fake)
	b := predictor.NewBatcher(predictor.NewPredictV1(s.Conn, ""), predictor.WithMaxBatchSize(2), predictor.WithInFlight(3))
	ctx, cancel := context.WithCancel(context.Background())
	// Cancel once the in-flight cap is reached: 3 calls hang at the fake.
	go func() {
		if fake.Await(ctx, func() bool { return fake.InFlight() == 3 }) == nil {
			cancel()
		}
	}()
	_, err := b.PredictText(ctx, manyTexts(20))
	cancel()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if b.Calls() != 3 {
		t.Errorf("%d batches sent, want 3 (the in-flight cap)", b.Calls())
	}
	waitFor(t, fake, func() bool { return fake.Cancelled() == 3 }, "the fake sees 3 calls cancelled")

	done, stop := context.WithCancel(context.Background())
	stop()
	if _, err := b.PredictText(done, texts); !errors.Is(err, context.Canceled) {
		t.Errorf("context done before: err = %v", err)
	}
}

// textFunc is an in-process TextClient.
type textFunc func(texts []string) ([][]float64, error)

func (f textFunc) ScoreText(_ context.Context, texts []string) ([][]float64, error) { return f(texts) }
func (textFunc) Score(context.Context, [][]float64) ([][]float64, error)            { return nil, nil }
func (textFunc) Describe(context.Context) (predictor.ModelInfo, error) {
	return predictor.ModelInfo{}, nil
}
func (textFunc) Ready(context.Context) error { return nil }

func TestBatcherPredictTextValidation(t *testing.T) {
	tests := []struct {
		name string
		c    predictor.Client
		opts []predictor.BatcherOption
		want error
	}{
		{"not a text client", funcClient(nil), nil, predictor.ErrRejected},
		{"row count", textFunc(func(t []string) ([][]float64, error) { return lenAndHash(t[1:]), nil }), nil, predictor.ErrBadOutput},
		{"NaN", textFunc(func(t []string) ([][]float64, error) {
			out := lenAndHash(t)
			out[0][1] = math.NaN()
			return out, nil
		}), nil, predictor.ErrBadOutput},
		{"class count", textFunc(lenAndHash2), []predictor.BatcherOption{predictor.WithNumClasses(3)}, predictor.ErrBadOutput},
		{"client error", textFunc(func([]string) ([][]float64, error) { return nil, predictor.ErrFailed }), nil, predictor.ErrFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := predictor.NewBatcher(tt.c, tt.opts...).PredictText(context.Background(), texts)
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
	got, err := predictor.NewBatcher(textFunc(nil)).PredictText(context.Background(), nil)
	if err != nil || got == nil || len(got) != 0 {
		t.Errorf("no texts: %v, %v", got, err)
	}

	// A model server without text: translated, not forwarded.
	s := serve(t, predictortest.NewPredictServer(nil))
	if _, err := predictor.NewBatcher(predictor.NewPredictV1(s.Conn, "")).PredictText(context.Background(), texts); !errors.Is(err, predictor.ErrRejected) {
		t.Errorf("model takes no text: err = %v, want ErrRejected", err)
	}
}

func lenAndHash2(t []string) ([][]float64, error) { return lenAndHash(t), nil }
