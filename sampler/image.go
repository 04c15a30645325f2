package sampler

// Images: a dense float image, segmentations (label maps) and the fills that
// stand in for hidden segments, as lime's LimeImageExplainer and Captum's
// occlusion use them.

import (
	"fmt"
	"math"
)

// Image is a dense image of H rows, W columns and C channels. Pix holds
// H·W·C values in HWC row-major order: the value of channel c at row y,
// column x is Pix[(y·W+x)·C+c]. Images are read-only to every function of
// this package.
type Image struct {
	H, W, C int
	Pix     []float64
}

// NewImage returns a zero image of the given shape.
func NewImage(h, w, c int) Image {
	return Image{H: h, W: w, C: c, Pix: make([]float64, h*w*c)}
}

// Validate reports whether img has a positive shape, len(Pix) = H·W·C and
// finite values. The message names no value.
func (img Image) Validate() error {
	switch {
	case img.H <= 0 || img.W <= 0 || img.C <= 0:
		return fmt.Errorf("sampler: image shape %dx%dx%d must be positive", img.H, img.W, img.C)
	case len(img.Pix) != img.H*img.W*img.C:
		return fmt.Errorf("sampler: image has %d values for shape %dx%dx%d", len(img.Pix), img.H, img.W, img.C)
	}
	for i, v := range img.Pix {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("sampler: image value %d is not finite", i)
		}
	}
	return nil
}

// sameShape reports whether a and b have the same H, W and C.
func (img Image) sameShape(o Image) bool { return img.H == o.H && img.W == o.W && img.C == o.C }

// ImageFromCHW copies a channels-first tensor (c×h×w, row-major, as PyTorch
// models take it) into an HWC Image.
func ImageFromCHW(c, h, w int, chw []float64) (Image, error) {
	if c <= 0 || h <= 0 || w <= 0 {
		return Image{}, fmt.Errorf("sampler: image shape %dx%dx%d must be positive", c, h, w)
	}
	if len(chw) != c*h*w {
		return Image{}, fmt.Errorf("sampler: image has %d values for shape %dx%dx%d", len(chw), c, h, w)
	}
	img := NewImage(h, w, c)
	for ch := range c {
		plane := chw[ch*h*w : (ch+1)*h*w]
		for p, v := range plane {
			img.Pix[p*c+ch] = v
		}
	}
	return img, nil
}

// CHW writes img channels first (C×H×W, row-major) into dst and returns it;
// dst is reused when its capacity holds H·W·C values, else a new slice is
// allocated.
func (img Image) CHW(dst []float64) []float64 {
	n := img.H * img.W * img.C
	if cap(dst) < n {
		dst = make([]float64, n)
	}
	dst = dst[:n]
	hw := img.H * img.W
	for p := range hw {
		for ch := range img.C {
			dst[ch*hw+p] = img.Pix[p*img.C+ch]
		}
	}
	return dst
}

// GridSegments segments an h×w image into a rows×cols grid of rectangles and
// returns the label map (h·w labels, row-major) and the number of segments,
// rows·cols. Pixel (y, x) gets label ⌊y·rows/h⌋·cols + ⌊x·cols/w⌋, so the
// cells' sizes differ by at most one pixel per axis and labels increase in
// row-major order of the cells. rows is clamped to [1, h] and cols to
// [1, w]; a non-positive h or w gives (nil, 0).
func GridSegments(h, w, rows, cols int) ([]int, int) {
	if h <= 0 || w <= 0 {
		return nil, 0
	}
	rows = min(max(rows, 1), h)
	cols = min(max(cols, 1), w)
	labels := make([]int, h*w)
	for y := range h {
		r := y * rows / h
		for x := range w {
			labels[y*w+x] = r*cols + x*cols/w
		}
	}
	return labels, rows * cols
}

// ConstantFill returns an image of img's shape with every value v: lime's
// hide_color, Captum's scalar baseline.
func ConstantFill(img Image, v float64) Image {
	out := NewImage(img.H, img.W, img.C)
	for i := range out.Pix {
		out.Pix[i] = v
	}
	return out
}

// MeanFill returns an image of img's shape whose every pixel is img's
// per-channel mean, mean_c = Σ_p img(p, c) / (H·W).
func MeanFill(img Image) Image {
	out := NewImage(img.H, img.W, img.C)
	hw := img.H * img.W
	if hw == 0 || img.C <= 0 {
		return out
	}
	means := make([]float64, img.C)
	for p := range hw {
		for c := range img.C {
			means[c] += img.Pix[p*img.C+c]
		}
	}
	for c := range means {
		means[c] /= float64(hw)
	}
	for p := range hw {
		copy(out.Pix[p*img.C:(p+1)*img.C], means)
	}
	return out
}

// SegmentMeanFill returns an image of img's shape where each pixel holds the
// per-channel mean of its segment: lime's default fill (hide_color=None).
// segments is a label map of H·W labels in [0, n).
func SegmentMeanFill(img Image, segments []int, n int) (Image, error) {
	if err := checkSegments(img, segments, n); err != nil {
		return Image{}, err
	}
	sums := make([]float64, n*img.C)
	counts := make([]int, n)
	for p, s := range segments {
		counts[s]++
		for c := range img.C {
			sums[s*img.C+c] += img.Pix[p*img.C+c]
		}
	}
	for s, k := range counts {
		for c := range img.C {
			if k > 0 {
				sums[s*img.C+c] /= float64(k)
			}
		}
	}
	out := NewImage(img.H, img.W, img.C)
	for p, s := range segments {
		copy(out.Pix[p*img.C:(p+1)*img.C], sums[s*img.C:(s+1)*img.C])
	}
	return out, nil
}

// BlurTruncate is the gaussian kernel's radius in standard deviations
// (scipy.ndimage.gaussian_filter's truncate): the kernel has radius
// ⌊BlurTruncate·σ + 0.5⌋.
const BlurTruncate = 4.0

// BlurFill returns a gaussian-blurred copy of img, each channel filtered
// separately, first along rows then along columns, with the kernel
//
//	k(t) = exp(−t²/(2σ²)) / Σ_{|u|≤r} exp(−u²/(2σ²)),   |t| ≤ r = ⌊4σ + 0.5⌋,
//
// and the image extended by reflection about the edge (scipy's "reflect":
// … c b a | a b c … x y z | z y x …), which is what
// scipy.ndimage.gaussian_filter(img, sigma=(σ, σ, 0)) computes. A constant
// image stays constant (to rounding). sigma ≤ 0 or not finite returns an
// unblurred copy.
func BlurFill(img Image, sigma float64) Image {
	out := NewImage(img.H, img.W, img.C)
	copy(out.Pix, img.Pix)
	if !(sigma > 0) || math.IsInf(sigma, 0) || len(img.Pix) != img.H*img.W*img.C || len(img.Pix) == 0 {
		return out
	}
	r := int(BlurTruncate*sigma + 0.5)
	kernel := make([]float64, 2*r+1)
	var sum float64
	for t := -r; t <= r; t++ {
		kernel[t+r] = math.Exp(-float64(t*t) / (2 * sigma * sigma))
		sum += kernel[t+r]
	}
	for i := range kernel {
		kernel[i] /= sum
	}
	tmp := make([]float64, len(img.Pix))
	h, w, c := img.H, img.W, img.C
	// Along x (within each row).
	for y := range h {
		row := img.Pix[y*w*c : (y+1)*w*c]
		dst := tmp[y*w*c : (y+1)*w*c]
		for x := range w {
			for ch := range c {
				var s float64
				for t := -r; t <= r; t++ {
					s += kernel[t+r] * row[reflectIndex(x+t, w)*c+ch]
				}
				dst[x*c+ch] = s
			}
		}
	}
	// Along y.
	for y := range h {
		dst := out.Pix[y*w*c : (y+1)*w*c]
		for i := range dst {
			dst[i] = 0
		}
		for t := -r; t <= r; t++ {
			k := kernel[t+r]
			src := tmp[reflectIndex(y+t, h)*w*c:]
			for i := range dst {
				dst[i] += k * src[i]
			}
		}
	}
	return out
}

// reflectIndex maps i to [0, n) by half-sample symmetric reflection, periodic
// with period 2n.
func reflectIndex(i, n int) int {
	m := 2 * n
	i %= m
	if i < 0 {
		i += m
	}
	if i >= n {
		i = m - 1 - i
	}
	return i
}

// MaskImage writes into dst img with the hidden segments replaced: pixel p
// keeps img's values when keep[segments[p]] and takes fill's otherwise.
// segments is a label map of H·W labels in [0, len(keep)); fill has img's
// shape. dst is reused when its capacity holds H·W·C values, else a new
// slice is allocated; it is returned flattened HWC. img and fill are not
// modified.
func MaskImage(dst []float64, img Image, segments []int, keep []bool, fill Image) ([]float64, error) {
	if err := checkSegments(img, segments, len(keep)); err != nil {
		return nil, err
	}
	if !img.sameShape(fill) || len(fill.Pix) != len(img.Pix) {
		return nil, fmt.Errorf("sampler: fill shape %dx%dx%d differs from the image's %dx%dx%d", fill.H, fill.W, fill.C, img.H, img.W, img.C)
	}
	n := len(img.Pix)
	if cap(dst) < n {
		dst = make([]float64, n)
	}
	dst = dst[:n]
	c := img.C
	// Runs of equal labels along a row are copied at once.
	for p := 0; p < len(segments); {
		s := segments[p]
		q := p + 1
		for q < len(segments) && segments[q] == s {
			q++
		}
		src := fill.Pix
		if keep[s] {
			src = img.Pix
		}
		copy(dst[p*c:q*c], src[p*c:q*c])
		p = q
	}
	return dst, nil
}

// checkSegments checks that segments is a label map of img with labels in
// [0, n).
func checkSegments(img Image, segments []int, n int) error {
	if len(img.Pix) != img.H*img.W*img.C || img.C <= 0 {
		return fmt.Errorf("sampler: image has %d values for shape %dx%dx%d", len(img.Pix), img.H, img.W, img.C)
	}
	if len(segments) != img.H*img.W {
		return fmt.Errorf("sampler: segment map has %d labels for %dx%d pixels", len(segments), img.H, img.W)
	}
	for _, s := range segments {
		if s < 0 || s >= n {
			return fmt.Errorf("sampler: segment label outside [0, %d)", n)
		}
	}
	return nil
}
