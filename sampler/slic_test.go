package sampler

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// slicRects returns an h×w×3 image of flat-coloured rectangles cut at rows
// ys and columns xs, and the rectangle index of each pixel.
func slicRects(h, w int, ys, xs []int) (Image, []int) {
	img := NewImage(h, w, 3)
	rect := make([]int, h*w)
	band := func(v int, cuts []int) int {
		i := 0
		for i < len(cuts) && v >= cuts[i] {
			i++
		}
		return i
	}
	ncol := len(xs) + 1
	for y := range h {
		for x := range w {
			r := band(y, ys)*ncol + band(x, xs)
			rect[y*w+x] = r
			// Distinct colours, at least 0.2 apart in some channel.
			img.Pix[(y*w+x)*3+0] = float64(r%3) * 0.4
			img.Pix[(y*w+x)*3+1] = float64(r/3%3) * 0.4
			img.Pix[(y*w+x)*3+2] = float64(r%2) * 0.2
		}
	}
	return img, rect
}

// slicNatural returns a smooth image with noise, for counts and
// connectivity.
func slicNatural(h, w int, seed uint64) Image {
	rng := rand.New(rand.NewPCG(seed, 1))
	img := NewImage(h, w, 3)
	for y := range h {
		for x := range w {
			fy, fx := float64(y)/float64(h), float64(x)/float64(w)
			img.Pix[(y*w+x)*3+0] = 0.5 + 0.4*math.Sin(6*fx+3*fy) + 0.05*rng.NormFloat64()
			img.Pix[(y*w+x)*3+1] = 0.5 + 0.4*math.Cos(5*fy*fx*4) + 0.05*rng.NormFloat64()
			img.Pix[(y*w+x)*3+2] = fx*fy + 0.05*rng.NormFloat64()
		}
	}
	return img
}

// checkLabelMap asserts labels cover [0, n), each used and each
// 4-connected.
func checkLabelMap(t *testing.T, labels []int, n, h, w int) {
	t.Helper()
	if len(labels) != h*w {
		t.Fatalf("%d labels for %d pixels", len(labels), h*w)
	}
	seen := make([]bool, n)
	for _, l := range labels {
		if l < 0 || l >= n {
			t.Fatalf("label %d outside [0, %d)", l, n)
		}
		seen[l] = true
	}
	for l, s := range seen {
		if !s {
			t.Fatalf("label %d unused", l)
		}
	}
	// Count 4-connected components: one per label iff every label is
	// connected.
	comp, m := enforceConnectivity(labels, h, w, 0)
	_ = comp
	if m != n {
		t.Fatalf("%d labels form %d connected components", n, m)
	}
}

func TestSLICRecoversRectangles(t *testing.T) {
	tests := []struct {
		name   string
		h, w   int
		ys, xs []int
	}{
		// Cuts off the initial grid lines (30, 30/60), so centres must move.
		{"2x3", 60, 90, []int{27}, []int{33, 58}},
		{"3x3", 90, 90, []int{25, 62}, []int{35, 61}},
		{"1x2", 40, 80, nil, []int{45}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, rect := slicRects(tt.h, tt.w, tt.ys, tt.xs)
			k := (len(tt.ys) + 1) * (len(tt.xs) + 1)
			// Compactness 0.01: colour dominates (colours differ by ≥ 0.2,
			// spatial term ≤ 0.01·2√2).
			labels, n := SLIC(img, k, 0.01, 10)
			checkLabelMap(t, labels, n, tt.h, tt.w)
			if n != k {
				t.Fatalf("n = %d segments, want %d", n, k)
			}
			// Each segment inside one rectangle: the segment → rectangle map
			// is a bijection and no pixel is off (tolerance: pixels within 1
			// of a cut may differ; expected none).
			owner := make([]int, n)
			for i := range owner {
				owner[i] = -1
			}
			off := 0
			for p, l := range labels {
				if owner[l] < 0 {
					owner[l] = rect[p]
				}
				if owner[l] != rect[p] {
					off++
					y, x := p/tt.w, p%tt.w
					near := false
					for _, c := range tt.ys {
						near = near || abs(y-c) <= 1 || abs(y+1-c) <= 1
					}
					for _, c := range tt.xs {
						near = near || abs(x-c) <= 1 || abs(x+1-c) <= 1
					}
					if !near {
						t.Fatalf("pixel (%d,%d) of rectangle %d in segment of rectangle %d, away from any cut", y, x, rect[p], owner[l])
					}
				}
			}
			if off != 0 {
				t.Errorf("%d boundary pixels off by one", off)
			}
			sorted := slices.Clone(owner)
			slices.Sort(sorted)
			for i, r := range sorted {
				if r != i {
					t.Fatalf("segments cover rectangles %v", owner)
				}
			}
		})
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func TestSLICCountAndConnectivity(t *testing.T) {
	tests := []struct {
		h, w, k     int
		compactness float64
	}{
		{64, 64, 16, 0.1},
		{100, 80, 50, 0.1},
		{224, 224, 100, 0.1},
		{224, 224, 100, 10}, // near-grid
		{50, 120, 7, 0.05},
		{31, 17, 200, 0.1}, // segments of ~2.6 pixels: count not bounded
	}
	for _, tt := range tests {
		img := slicNatural(tt.h, tt.w, uint64(tt.k))
		labels, n := SLIC(img, tt.k, tt.compactness, 0)
		checkLabelMap(t, labels, n, tt.h, tt.w)
		// Count near the request: ≤ k·(1+0.15), ≥ k/2, when segments have
		// at least 25 pixels (noise splits tinier ones into more fragments
		// than the merge size, 0.5·N/K < 2 pixels, can absorb).
		if tt.h*tt.w/tt.k >= 25 && float64(n) > float64(tt.k)*1.15 || float64(n) < float64(tt.k)/2 {
			t.Errorf("%dx%d, k=%d, m=%v: %d segments", tt.h, tt.w, tt.k, tt.compactness, n)
		}
		again, n2 := SLIC(img, tt.k, tt.compactness, 0)
		if n2 != n || !slices.Equal(again, labels) {
			t.Errorf("%dx%d k=%d: not deterministic", tt.h, tt.w, tt.k)
		}
	}
}

func TestSLICDegenerate(t *testing.T) {
	if l, n := SLIC(Image{H: 2, W: 2, C: 1, Pix: []float64{1}}, 4, 1, 1); l != nil || n != 0 {
		t.Fatal("invalid image segmented")
	}
	// A single pixel, a single segment.
	l, n := SLIC(NewImage(1, 1, 1), 10, 1, 1)
	if n != 1 || !slices.Equal(l, []int{0}) {
		t.Fatalf("1x1: %v %d", l, n)
	}
	// A flat image: segments still cover and are connected.
	img := ConstantFill(NewImage(20, 30, 3), 0.5)
	l, n = SLIC(img, 6, 0.1, 0)
	checkLabelMap(t, l, n, 20, 30)
}

func BenchmarkSLIC224(b *testing.B) {
	img := slicNatural(224, 224, 7)
	b.ReportAllocs()
	for b.Loop() {
		SLIC(img, 100, 0.1, 10)
	}
}
