package sampler

import (
	"math"
	"slices"
	"testing"
)

// imgRamp returns an h×w×c image with distinct values.
func imgRamp(h, w, c int) Image {
	img := NewImage(h, w, c)
	for i := range img.Pix {
		img.Pix[i] = float64(i%97) / 7
	}
	return img
}

func TestImageCHWRoundTrip(t *testing.T) {
	img := imgRamp(3, 4, 2)
	chw := img.CHW(nil)
	// Channel 1 of pixel (2, 3) sits at 1·12 + 2·4 + 3 in CHW.
	if got, want := chw[1*12+2*4+3], img.Pix[(2*4+3)*2+1]; got != want {
		t.Fatalf("CHW value = %v, want %v", got, want)
	}
	back, err := ImageFromCHW(2, 3, 4, chw)
	if err != nil {
		t.Fatal(err)
	}
	if back.H != 3 || back.W != 4 || back.C != 2 || !slices.Equal(back.Pix, img.Pix) {
		t.Fatalf("round trip differs: %+v", back)
	}
	if _, err := ImageFromCHW(2, 3, 4, chw[1:]); err == nil {
		t.Fatal("short tensor accepted")
	}
}

func TestGridSegments(t *testing.T) {
	tests := []struct {
		name             string
		h, w, rows, cols int
		want             []int
		n                int
	}{
		{"2x2 of 4x4", 4, 4, 2, 2, []int{
			0, 0, 1, 1,
			0, 0, 1, 1,
			2, 2, 3, 3,
			2, 2, 3, 3}, 4},
		{"uneven 3x5 into 2x2", 3, 5, 2, 2, []int{
			0, 0, 0, 1, 1,
			0, 0, 0, 1, 1,
			2, 2, 2, 3, 3}, 4},
		{"one cell", 2, 3, 1, 1, []int{0, 0, 0, 0, 0, 0}, 1},
		{"clamped to pixels", 2, 2, 5, 0, []int{0, 0, 1, 1}, 2},
		{"empty", 0, 3, 2, 2, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, n := GridSegments(tt.h, tt.w, tt.rows, tt.cols)
			if n != tt.n || !slices.Equal(got, tt.want) {
				t.Fatalf("GridSegments = %v, %d; want %v, %d", got, n, tt.want, tt.n)
			}
		})
	}
}

func TestFills(t *testing.T) {
	img := imgRamp(5, 6, 3)
	t.Run("constant", func(t *testing.T) {
		f := ConstantFill(img, 0.25)
		for _, v := range f.Pix {
			if v != 0.25 {
				t.Fatalf("value %v", v)
			}
		}
	})
	t.Run("mean is the per-channel mean", func(t *testing.T) {
		f := MeanFill(img)
		for c := range 3 {
			var want float64
			for p := range 30 {
				want += img.Pix[p*3+c]
			}
			want /= 30
			for p := range 30 {
				if got := f.Pix[p*3+c]; math.Abs(got-want) > 1e-12 {
					t.Fatalf("channel %d pixel %d: %v, want %v", c, p, got, want)
				}
			}
		}
	})
	t.Run("segment mean", func(t *testing.T) {
		seg, n := GridSegments(5, 6, 1, 2)
		f, err := SegmentMeanFill(img, seg, n)
		if err != nil {
			t.Fatal(err)
		}
		var want float64
		for p, s := range seg {
			if s == 1 {
				want += img.Pix[p*3+2] / 15
			}
		}
		if got := f.Pix[(4*6+5)*3+2]; math.Abs(got-want) > 1e-12 {
			t.Fatalf("segment 1 channel 2: %v, want %v", got, want)
		}
	})
	t.Run("blur of a constant is the constant", func(t *testing.T) {
		for _, sigma := range []float64{0.5, 1, 3, 20} { // 20: radius far past the image
			f := BlurFill(ConstantFill(img, 0.7), sigma)
			for _, v := range f.Pix {
				if math.Abs(v-0.7) > 1e-12 {
					t.Fatalf("sigma %v: value %v, want 0.7 (tolerance 1e-12)", sigma, v)
				}
			}
		}
	})
	t.Run("blur keeps the mean of a reflected line, smooths an impulse", func(t *testing.T) {
		imp := NewImage(9, 9, 1)
		imp.Pix[4*9+4] = 1
		f := BlurFill(imp, 1)
		var sum float64
		for _, v := range f.Pix {
			sum += v
		}
		// The kernel (radius 4) stays inside the image, so mass is kept.
		if math.Abs(sum-1) > 1e-12 || f.Pix[4*9+4] >= 1 || f.Pix[4*9+5] <= 0 {
			t.Fatalf("sum %v centre %v neighbour %v", sum, f.Pix[40], f.Pix[41])
		}
		// Symmetric.
		if math.Abs(f.Pix[4*9+3]-f.Pix[3*9+4]) > 1e-15 {
			t.Fatal("blur is not symmetric")
		}
	})
	t.Run("blur sigma 0 copies", func(t *testing.T) {
		if f := BlurFill(img, 0); !slices.Equal(f.Pix, img.Pix) {
			t.Fatal("sigma 0 changed the image")
		}
	})
}

func TestReflectIndex(t *testing.T) {
	// scipy's "reflect" of a b c: ... c b a | a b c | c b a | a ...
	want := map[int]int{-4: 2, -3: 2, -2: 1, -1: 0, 0: 0, 2: 2, 3: 2, 4: 1, 5: 0, 6: 0}
	for i, w := range want {
		if got := reflectIndex(i, 3); got != w {
			t.Errorf("reflectIndex(%d, 3) = %d, want %d", i, got, w)
		}
	}
}

func TestMaskImage(t *testing.T) {
	img := imgRamp(4, 4, 2)
	fill := ConstantFill(img, -1)
	seg, n := GridSegments(4, 4, 2, 2)
	tests := []struct {
		name string
		keep []bool
	}{
		{"all kept", []bool{true, true, true, true}},
		{"none kept", []bool{false, false, false, false}},
		{"diagonal", []bool{true, false, false, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := make([]float64, 1) // too small: reallocated
			got, err := MaskImage(dst, img, seg, tt.keep, fill)
			if err != nil {
				t.Fatal(err)
			}
			for p, s := range seg {
				for c := range 2 {
					want := -1.0
					if tt.keep[s] {
						want = img.Pix[p*2+c]
					}
					if got[p*2+c] != want {
						t.Fatalf("pixel %d channel %d: %v, want %v", p, c, got[p*2+c], want)
					}
				}
			}
		})
	}
	if _, err := MaskImage(nil, img, seg, make([]bool, n-1), fill); err == nil {
		t.Error("label outside keep accepted")
	}
	if _, err := MaskImage(nil, img, seg, make([]bool, n), NewImage(4, 4, 1)); err == nil {
		t.Error("fill of another shape accepted")
	}
}
