package explain

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkOcclusionLatency is the figure: a 224×224×3 image, a
// 16×16 window at stride 8 (729 windows + the image), against a model that
// takes 5 ms per batch of 16 images, 4 batches in flight; wall/ideal is
// the wall time over batches × latency ÷ in flight.
//
// rows= is BatchRows: the default (half of MaxBatchValues' worth of images
// per call, as two calls are in flight), half the batches in flight (32,
// what the server asks for), and all of them (64).
func BenchmarkOcclusionLatency(b *testing.B) {
	for _, rows := range []int{0, 32, 64} {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			req := OcclusionRequest{Input: occRamp(224*224*3, 1), Shape: []int{224, 224, 3}, Window: []int{16, 16, 3}, Strides: []int{8, 8, 3}, BatchRows: rows}
			benchLatency(b, 16, 4, 5*time.Millisecond, func(m Model) error {
				_, err := Occlusion(context.Background(), m, req)
				return err
			})
		})
	}
}
