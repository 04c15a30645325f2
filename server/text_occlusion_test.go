package server

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/explainer-sidecar/explainer/engine"
	"github.com/explainer-sidecar/explainer/predictor"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// distinctWords is a text of n distinct words of about size bytes each.
func distinctWords(n, size int) string {
	words := make([]string, n)
	for i := range words {
		w := fmt.Sprintf("w%d", i)
		words[i] = w + strings.Repeat("x", max(0, size-len(w)))
	}
	return strings.Join(words, " ")
}

func textOcclusionRequest(text string, window uint32) *explainerv1.ExplainRequest {
	return &explainerv1.ExplainRequest{
		Model:    "model",
		Instance: &explainerv1.Instance{Kind: &explainerv1.Instance_Text{Text: &explainerv1.TextInstance{Text: text}}},
		Method:   &explainerv1.ExplainRequest_Occlusion{Occlusion: &explainerv1.OcclusionOptions{Window: []uint32{window}}},
	}
}

// TestTextOcclusionRefusesWhatItCannotHold: windows × text bytes above
// MaxTextSampleBytes is refused up front with INVALID_ARGUMENT naming the
// limit, instead of building every occluded text (issue 14, item 1: a
// 60 MB text of 2,000 words killed the process).
func TestTextOcclusionRefusesWhatItCannotHold(t *testing.T) {
	srv := New(func(string) predictor.Client { return nil })
	defer srv.Shutdown()
	text := distinctWords(2000, 200) // 400 kB: 2001 texts are 800 MB
	_, _, err := srv.parseJob(context.Background(), textOcclusionRequest(text, 1), predictor.ModelInfo{NumClasses: 2}, nil)
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), fmt.Sprint(MaxTextSampleBytes)) {
		t.Fatalf("got %v %q, want INVALID_ARGUMENT naming the limit %d", st.Code(), st.Message(), MaxTextSampleBytes)
	}
}

// recordingScorer scores texts by their length and records the bytes of
// the largest call.
type recordingScorer struct {
	mu       sync.Mutex
	maxBytes int
	texts    int
}

func (r *recordingScorer) Predict(context.Context, [][]float64) ([][]float64, error) {
	return nil, fmt.Errorf("rows: not a text model")
}

func (r *recordingScorer) PredictText(_ context.Context, texts []string) ([][]float64, error) {
	bytes := 0
	out := make([][]float64, len(texts))
	for i, s := range texts {
		bytes += len(s)
		out[i] = []float64{0, float64(len(s))}
	}
	r.mu.Lock()
	r.maxBytes = max(r.maxBytes, bytes)
	r.texts += len(texts)
	r.mu.Unlock()
	return out, nil
}

// TestTextOcclusionRendersPerCall: the occluded texts are rendered a
// call's worth at a time, at most maxRenderBytes of them, not all at once.
func TestTextOcclusionRendersPerCall(t *testing.T) {
	srv := New(func(string) predictor.Client { return nil })
	defer srv.Shutdown()
	text := distinctWords(200, 2<<10) // 400 kB, 201 texts: 80 MB in all
	_, spec, err := srv.parseJob(context.Background(), textOcclusionRequest(text, 1), predictor.ModelInfo{NumClasses: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordingScorer{}
	res, err := spec.Run(context.Background(), rec, engine.Run{})
	if err != nil {
		t.Fatal(err)
	}
	if rec.texts != 201 || res.NumSamples != 201 {
		t.Fatalf("scored %d texts, result says %d, want the text and 200 windows", rec.texts, res.NumSamples)
	}
	if rec.maxBytes > maxRenderBytes {
		t.Errorf("one call rendered %d bytes of text, want at most %d", rec.maxBytes, maxRenderBytes)
	}
	if all := 201 * len(text); rec.maxBytes >= all/2 {
		t.Errorf("one call rendered %d of the %d bytes in all: not per call", rec.maxBytes, all)
	}
}

// TestWideLIMETextFitMemory: lime_text on a 4,400-word text is refused at
// 4,400 samples, within samples × features ≤ MaxSampleValues, since its
// fit would hold 1.1 GB (Gram matrices of 4,400²), and admitted at 2,000,
// where the fit is solved in the samples' dimension (issue 14, item 2).
func TestWideLIMETextFitMemory(t *testing.T) {
	srv := New(func(string) predictor.Client { return nil })
	defer srv.Shutdown()
	text := distinctWords(4400, 4)
	for _, tt := range []struct {
		samples uint32
		code    codes.Code
	}{{4400, codes.InvalidArgument}, {2000, codes.OK}} {
		req := &explainerv1.ExplainRequest{
			Instance: &explainerv1.Instance{Kind: &explainerv1.Instance_Text{Text: &explainerv1.TextInstance{Text: text}}},
			Method:   &explainerv1.ExplainRequest_LimeText{LimeText: &explainerv1.LimeTextOptions{NumSamples: tt.samples}},
		}
		_, _, err := srv.parseJob(context.Background(), req, predictor.ModelInfo{NumClasses: 2}, nil)
		if st := status.Convert(err); st.Code() != tt.code || (tt.code != codes.OK && !strings.Contains(st.Message(), "over the limit")) {
			t.Errorf("%d samples: got %v %q, want %v", tt.samples, st.Code(), st.Message(), tt.code)
		}
	}
}

// heapScorer scores texts by their length and records the largest live
// heap seen during a call: measured after a collection, so that it counts
// what the job holds (the texts of the calls in flight), not garbage.
type heapScorer struct {
	recordingScorer
	mu      sync.Mutex
	maxHeap uint64
}

func (h *heapScorer) PredictText(ctx context.Context, texts []string) ([][]float64, error) {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(sample)
	h.mu.Lock()
	h.maxHeap = max(h.maxHeap, sample[0].Value.Uint64())
	h.mu.Unlock()
	return h.recordingScorer.PredictText(ctx, texts)
}

// TestTextOcclusionUnderMemoryLimit runs the largest text occlusion job
// the limits allow in kind (2,000 windows of a 122 kB text: 244 MB of
// occluded texts in all) under a 96 MiB soft memory limit: the job raises
// the live heap by less than 128 MiB, where rendering every text at once
// would hold them all (issue 14, item 1).
func TestTextOcclusionUnderMemoryLimit(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(96 << 20))
	srv := New(func(string) predictor.Client { return nil })
	defer srv.Shutdown()
	text := distinctWords(2000, 60)
	_, spec, err := srv.parseJob(context.Background(), textOcclusionRequest(text, 1), predictor.ModelInfo{NumClasses: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Other tests of the package may hold memory of their own: what
	// counts is how far the job raises the live heap.
	runtime.GC()
	before := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(before)
	h := &heapScorer{}
	if _, err := spec.Run(context.Background(), h, engine.Run{}); err != nil {
		t.Fatal(err)
	}
	if all := 2001 * len(text); h.texts != 2001 || all < 200<<20 {
		t.Fatalf("scored %d texts of %d bytes in all, want 2001 and over 200 MB", h.texts, all)
	}
	// Two calls of at most 16 MiB of texts are in flight: 32 MiB and
	// their scores; every text at once would be 244 MB.
	grown := h.maxHeap - min(h.maxHeap, before[0].Value.Uint64())
	t.Logf("the job raised the live heap by %d MiB", grown>>20)
	if grown >= 128<<20 {
		t.Errorf("the job raised the live heap by %d MiB, want under 128 MiB", grown>>20)
	}
}
