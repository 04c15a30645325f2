package predictor

import "testing"

// BenchmarkEncodeRaw encodes 1000 rows of 3072 values (1000 32×32×3
// images, lime_image's default samples) as KServe v2 raw contents.
func BenchmarkEncodeRaw(b *testing.B) {
	rows := make([][]float64, 1000)
	for i := range rows {
		rows[i] = make([]float64, 3072)
		for j := range rows[i] {
			rows[i][j] = float64((i+j)%1785) / 7 // in [0, 255): UINT8 takes them too
		}
	}
	for _, dt := range []string{FP32, FP64, INT64, FP16, UINT8} {
		b.Run(dt, func(b *testing.B) {
			b.SetBytes(int64(len(rows) * 3072 * 8))
			for b.Loop() {
				if _, err := encodeRaw(rows, 3072, dt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
