package predictor

import (
	"fmt"
	"math"
)

// KServe v2 tensor data types of GPU models: half-precision inputs and
// outputs (TensorRT plans), and 8-bit pixels (image models with their
// preprocessing in the server, as Triton's DALI and ensembles do). They
// take 2 and 1 bytes a value instead of FP32's 4: more rows in a call
// under --max-batch-bytes, less to copy.
const (
	FP16  = "FP16"
	UINT8 = "UINT8"
)

// inputDatatypes are the input data types Score sends, in the order error
// messages list them.
var inputDatatypes = []string{FP32, FP64, INT64, FP16, UINT8}

// CheckInputDatatype returns an error naming the supported input data
// types (of Score: tabular and image inputs) unless datatype is one of
// them.
func CheckInputDatatype(datatype string) error {
	for _, d := range inputDatatypes {
		if d == datatype {
			return nil
		}
	}
	return fmt.Errorf("data type %q: want FP32, FP64, INT64, FP16 or UINT8", datatype)
}

// valueSize is the bytes of one raw value of datatype (8 for FP64 and
// INT64).
func valueSize(datatype string) int {
	switch datatype {
	case FP32:
		return 4
	case FP16:
		return 2
	case UINT8:
		return 1
	}
	return 8
}

// float16Bits returns v rounded to the nearest IEEE 754 half-precision
// value (ties to even), as its bits, and false when v is not finite or
// rounds beyond the largest half (65504): the model would see ±Inf. An
// image call converts millions of values, so it takes the hardware's
// float32 conversion, made round-to-odd so that rounding twice rounds as
// once, then F. Giesen's branch-light float32-to-half rounding.
func float16Bits(v float64) (uint16, bool) {
	f := float32(v)
	x := math.Float32bits(f)
	sign := x & 0x80000000
	x ^= sign
	if float64(f) != v && x < 0x7f800000 {
		// Round to odd: v's float32 truncation, its last bit set.
		if math.Abs(float64(f)) > math.Abs(v) {
			x--
		}
		x |= 1
	}
	var h uint32
	switch {
	case x >= (127+16)<<23: // 65536 or more, Inf, NaN
		return 0, false
	case x < (127-14)<<23: // below the smallest normal half: a subnormal or 0
		const magic = ((127 - 15) + (23 - 10) + 1) << 23 // 0.5, whose ulp is the smallest subnormal's
		h = math.Float32bits(math.Float32frombits(x)+math.Float32frombits(magic)) - magic
	default:
		odd := (x >> 13) & 1
		x -= (127 - 15) << 23 // rebias the exponent
		x += 0xfff + odd      // round to nearest even
		h = x >> 13
	}
	if h >= 0x7c00 {
		return 0, false
	}
	return uint16(sign>>16) | uint16(h), true
}

// float16Value is the value of the half-precision bits h.
func float16Value(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	e, m := int(h>>10)&0x1f, float64(h&0x3ff)
	switch e {
	case 0:
		return sign * m * 0x1p-24
	case 0x1f:
		if m == 0 {
			return math.Inf(int(sign))
		}
		return math.NaN()
	}
	return sign * math.Ldexp(1+m/1024, e-15)
}

// toUint8 rounds v to the nearest integer, which must be in [0, 255].
func toUint8(v float64, row int) (uint8, error) {
	r := math.Round(v)
	if !(r >= 0 && r <= 255) { // false for NaN too
		return 0, invalidInput("row %d of the batch: value %v cannot be sent as UINT8 (0 to 255)", row, v)
	}
	return uint8(r), nil
}

// toFloat16 is float16Bits, failing the batch for a value it cannot send.
func toFloat16(v float64, row int) (uint16, error) {
	h, ok := float16Bits(v)
	if !ok {
		return 0, errFloat16(v, row)
	}
	return h, nil
}

// errFloat16 is the error for a value of row that FP16 cannot hold.
func errFloat16(v float64, row int) error {
	return invalidInput("row %d of the batch: value %v cannot be sent as FP16 (beyond ±65504)", row, v)
}
