package explain

import (
	"context"
	"testing"
	"time"

	"github.com/explainer-sidecar/explainer/sampler"
)

// BenchmarkLIMEImage is the sidecar's cost per sample of image LIME: a
// 224×224×3 image, an 8×8 grid (64 segments), 1000 samples, a model that
// answers at once.
func BenchmarkLIMEImage(b *testing.B) {
	img := sampler.Image{H: 224, W: 224, C: 3, Pix: occRamp(224*224*3, 1)}
	seg, n := sampler.GridSegments(224, 224, 8, 8)
	one := []float64{0.3, 0.7}
	m := occFunc(func(rows [][]float64) [][]float64 {
		out := make([][]float64, len(rows))
		for i := range out {
			out[i] = one
		}
		return out
	})
	req := LIMEImageRequest{Image: img, Segments: seg, NumSegments: n, Sampling: Sampling{NumSamples: 1000, Seed: 1}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := LIMEImage(context.Background(), m, req); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/sample")
}

// BenchmarkLIMEImageLatency is BenchmarkLIMEImage against a model taking
// 20 ms a call: building the next call's images while the model answers
// hides the building (compare ms/op with 1000 samples ÷ BatchRows calls ×
// 20 ms).
func BenchmarkLIMEImageLatency(b *testing.B) {
	img := sampler.Image{H: 224, W: 224, C: 3, Pix: occRamp(224*224*3, 1)}
	seg, n := sampler.GridSegments(224, 224, 8, 8)
	one := []float64{0.3, 0.7}
	m := occFunc(func(rows [][]float64) [][]float64 {
		time.Sleep(20 * time.Millisecond)
		out := make([][]float64, len(rows))
		for i := range out {
			out[i] = one
		}
		return out
	})
	req := LIMEImageRequest{Image: img, Segments: seg, NumSegments: n, Sampling: Sampling{NumSamples: 1000, Seed: 1}, BatchRows: 50}
	for b.Loop() {
		if _, err := LIMEImage(context.Background(), m, req); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/op")
}
