package explain

import (
	"context"
	"testing"
	"time"
)

// BenchmarkSensitivity: 100,000 rows × 30 features (6,000,000 rows to
// score) against the latency model of BenchmarkPermutation, with the same
// metrics; the working copies are 2·N·p values, 48 MB.
func BenchmarkSensitivity(b *testing.B) {
	data, _ := benchData(100_000, 30)
	req := SensitivityRequest{Data: data}
	benchLatency(b, 1000, 4, time.Millisecond, func(m Model) error {
		_, err := Sensitivity(context.Background(), m, req)
		return err
	})
}

// BenchmarkSensitivityInstant is the sidecar's own cost on the same
// problem against a model that answers at once.
func BenchmarkSensitivityInstant(b *testing.B) {
	const n, p = 100_000, 30
	data, _ := benchData(n, p)
	m := newInstantModel(data)
	req := SensitivityRequest{Data: data}
	b.ReportAllocs()
	for range b.N {
		if _, err := Sensitivity(context.Background(), m, req); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(2*n*p), "ns/row")
	b.ReportMetric(measurePeak(10, func() { _, _ = Sensitivity(context.Background(), m, req) }), "live-MB")
}
