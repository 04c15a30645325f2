package explain

import "math"

// KernelWeights writes lime's exponential kernel of each distance,
//
//	π(d) = sqrt(exp(−d²/w²)),
//
// into dst and returns it, w being width. It evaluates the expression in
// lime's order (square, divide, exp, sqrt) rather than the equivalent
// exp(−d²/(2w²)), so the weights agree with lime's to the last bit or two.
//
// dst is reused when its capacity holds len(distances) values, else a new
// slice is allocated (a nil dst always allocates). distances is not
// modified; dst may be distances itself. width should be positive and
// finite: as in lime, a zero width gives 0 for d > 0 and NaN for d = 0.
func KernelWeights(dst, distances []float64, width float64) []float64 {
	if cap(dst) < len(distances) {
		dst = make([]float64, len(distances))
	}
	dst = dst[:len(distances)]
	w2 := width * width
	for i, d := range distances {
		dst[i] = math.Sqrt(math.Exp(-(d * d) / w2))
	}
	return dst
}
