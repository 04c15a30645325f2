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
	const n, p, batch, inFlight = 100_000, 30, 1000, 4
	const latency = time.Millisecond
	data, _ := benchData(n, p)
	req := SensitivityRequest{Data: data}
	var wall, ideal, busy time.Duration
	var peak float64
	b.ResetTimer()
	for range b.N {
		m := newLatencyModel(batch, inFlight, latency)
		start := time.Now()
		var err error
		peak = max(peak, measurePeak(100, func() { _, err = Sensitivity(context.Background(), m, req) }))
		if err != nil {
			b.Fatal(err)
		}
		wall += time.Since(start)
		ideal += time.Duration(m.batches.Load()) * latency / inFlight
		busy += time.Duration(m.busy.Load()) / inFlight
	}
	b.StopTimer()
	live := measurePeak(10, func() { _, _ = Sensitivity(context.Background(), newLatencyModel(batch, inFlight, latency), req) })
	b.ReportMetric(wall.Seconds()/ideal.Seconds(), "wall/ideal")
	b.ReportMetric(wall.Seconds()/busy.Seconds(), "wall/busy")
	b.ReportMetric(peak, "peak-MB")
	b.ReportMetric(live, "live-MB")
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
