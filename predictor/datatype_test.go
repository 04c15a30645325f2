package predictor

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// TestFloat16Bits checks the conversion to half precision against values
// whose bits IEEE 754 fixes: exact values, the largest and smallest
// halves, ties to even, and what rounds beyond the largest.
func TestFloat16Bits(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want uint16
		ok   bool
	}{
		{0, 0x0000, true},
		{math.Copysign(0, -1), 0x8000, true},
		{1, 0x3c00, true},
		{-2, 0xc000, true},
		{0.5, 0x3800, true},
		{65504, 0x7bff, true},         // the largest half
		{65519.99, 0x7bff, true},      // below the tie: rounds down
		{65520, 0, false},             // the tie between 65504 and 2^16: to even, 2^16, Inf
		{0x1p-14, 0x0400, true},       // the smallest normal
		{0x1p-24, 0x0001, true},       // the smallest subnormal
		{0x1p-25, 0x0000, true},       // half of it: a tie, to even (0)
		{0x1.8p-25, 0x0001, true},     // above the tie
		{0x3ffp-24, 0x03ff, true},     // the largest subnormal
		{0x3ff.8p-24, 0x0400, true},   // a tie between it and the smallest normal: to even
		{1 + 0x1p-11, 0x3c00, true},   // the tie between 1 and its successor: to even (1)
		{1 + 3*0x1p-11, 0x3c02, true}, // the next tie: to even (up)
		{0.1, 0x2e66, true},           // 0.0999755859375
		{1.0 / 3, 0x3555, true},       // 0.333251953125
		{math.Inf(1), 0, false},
		{math.NaN(), 0, false},
		{-70000, 0, false},
		{2047.5, 0x6800, true},                // the tie between 2047 and 2048: to even (2048)
		{1 + 0x1p-11 + 0x1p-40, 0x3c01, true}, // just above a tie, which float32 would round onto it
		{1 + 0x1p-11 - 0x1p-40, 0x3c00, true}, // just below
		{65519.999999, 0x7bff, true},          // float32 rounds it to 65520, a tie that overflows
		{0x1p-25 + 0x1p-60, 0x0001, true},     // just above half the smallest subnormal
	} {
		got, ok := float16Bits(tc.v)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("float16Bits(%v) = %#04x, %v; want %#04x, %v", tc.v, got, ok, tc.want, tc.ok)
		}
	}
}

// TestFloat16RoundTrip: every finite half decodes to a value that encodes
// back to the same bits, and a value just off a half rounds to it.
func TestFloat16RoundTrip(t *testing.T) {
	for h := range 1 << 16 {
		bits := uint16(h)
		v := float16Value(bits)
		if bits&0x7c00 == 0x7c00 { // Inf, NaN
			if !math.IsInf(v, 0) && !math.IsNaN(v) {
				t.Fatalf("%#04x decodes to %v", bits, v)
			}
			continue
		}
		if got, ok := float16Bits(v); !ok || got != bits {
			t.Fatalf("%#04x → %v → %#04x, %v", bits, v, got, ok)
		}
		// A quarter of the gap to the next half away from zero still rounds to it.
		if bits&0x7fff != 0x7bff {
			next := float16Value(bits + 1)
			if got, _ := float16Bits(v + (next-v)/4); got != bits {
				t.Fatalf("%v (a quarter gap above %#04x) rounds to %#04x", v+(next-v)/4, bits, got)
			}
		}
	}
}

func TestToUint8(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want uint8
		ok   bool
	}{
		{0, 0, true}, {255, 255, true}, {2.5, 3, true}, {2.49, 2, true}, {-0.4, 0, true}, {255.4, 255, true},
		{255.5, 0, false}, {-0.5, 0, false}, {math.NaN(), 0, false}, {math.Inf(1), 0, false},
	} {
		got, err := toUint8(tc.v, 0)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("toUint8(%v) = %d, %v; want %d, ok %v", tc.v, got, err, tc.want, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidInput) {
			t.Errorf("toUint8(%v): %v is not ErrInvalidInput", tc.v, err)
		}
	}
}

// TestEncodeRawHalfAndBytes: FP16 and UINT8 rows are little-endian halves
// and single bytes, row after row.
func TestEncodeRawHalfAndBytes(t *testing.T) {
	rows := [][]float64{{1, 0.5}, {-2, 65504}}
	raw, err := encodeRaw(rows, 2, FP16)
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{0x00, 0x3c, 0x00, 0x38, 0x00, 0xc0, 0xff, 0x7b}; string(raw) != string(want) {
		t.Errorf("FP16: % x, want % x", raw, want)
	}
	raw, err = encodeRaw([][]float64{{0, 1.4}, {254.6, 255}}, 2, UINT8)
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{0, 1, 255, 255}; string(raw) != string(want) {
		t.Errorf("UINT8: % x, want % x", raw, want)
	}
	if _, err := encodeRaw([][]float64{{1e5}}, 1, FP16); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("FP16 of 1e5: %v, want ErrInvalidInput", err)
	}
	if _, err := encodeTyped([][]float64{{1}}, 1, FP16); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("typed FP16: %v, want ErrInvalidInput (raw only)", err)
	}
	c, err := encodeTyped([][]float64{{3, 7.6}}, 2, UINT8)
	if err != nil || len(c.GetUintContents()) != 2 || c.GetUintContents()[1] != 8 {
		t.Errorf("typed UINT8: %v, %v; want uint_contents [3 8]", c, err)
	}
}

// halfReference rounds v to a half by its exponent and fraction, one
// rounding in float64 (math.RoundToEven): the oracle of TestFloat16Random.
func halfReference(v float64) (uint16, bool) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false
	}
	var sign uint16
	if math.Signbit(v) {
		sign = 0x8000
	}
	a := math.Abs(v)
	if a < 0x1p-14 {
		return sign | uint16(math.RoundToEven(a*0x1p24)), true
	}
	frac, exp := math.Frexp(a)
	e := exp - 1
	m := math.RoundToEven((2*frac - 1) * 1024)
	if m == 1024 {
		m, e = 0, e+1
	}
	if e > 15 {
		return 0, false
	}
	return sign | uint16(e+15)<<10 | uint16(m), true
}

// TestFloat16Random: a million float64 values spread over the halves'
// range (and past it), and as many just off the midpoints between halves,
// where rounding twice would go wrong, round as the oracle rounds them.
func TestFloat16Random(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	check := func(v float64) {
		got, ok := float16Bits(v)
		want, wantOK := halfReference(v)
		if ok != wantOK || (ok && got != want) {
			t.Fatalf("float16Bits(%v) = %#04x, %v; the oracle %#04x, %v", v, got, ok, want, wantOK)
		}
	}
	for range 1_000_000 {
		v := math.Ldexp(rng.Float64(), rng.IntN(50)-30) // 2^-31 to 2^20
		if rng.IntN(2) == 0 {
			v = -v
		}
		check(v)
		h := uint16(rng.IntN(0x7bff))
		mid := (float16Value(h) + float16Value(h+1)) / 2
		check(math.Nextafter(mid, math.Inf(1)))
		check(math.Nextafter(mid, math.Inf(-1)))
		check(mid)
	}
}
