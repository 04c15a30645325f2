package sampler

import "math"

// SLIC defaults (scikit-image's slic).
const (
	DefaultSLICSegments    = 100
	DefaultSLICCompactness = 10.0
	DefaultSLICIterations  = 10
	// slicMinSizeFactor is scikit-image's min_size_factor: connected
	// fragments smaller than this fraction of the expected segment size
	// H·W/K are merged into a neighbour.
	slicMinSizeFactor = 0.5
)

// SLIC segments img into superpixels with simple linear iterative clustering
// (Achanta et al., "SLIC superpixels compared to state-of-the-art superpixel
// methods", TPAMI 2012) and returns the label map (H·W labels, row-major, in
// [0, n)) and the number of segments n.
//
// With N = H·W pixels and K requested segments, the grid interval is
// S = √(N/K). Centres start on a regular grid of round(H/S)×round(W/S)
// cells (at the cells' middles), each moved to the lowest gradient
// position in its 3×3 neighbourhood, the gradient being
// ‖I(y, x+1) − I(y, x−1)‖² + ‖I(y+1, x) − I(y−1, x)‖² (edges clamped). Each
// iteration assigns every pixel within the 2S×2S window around a centre
// to the centre of least
//
//	D = √(d_c² + (d_s/S)²·m²),
//
// d_c the euclidean distance of the pixel's channels to the centre's,
// d_s the spatial distance and m the compactness, then moves each centre to
// the mean position and colour of its pixels. It stops after maxIter
// iterations or when no label changes. Last, connectivity is enforced
// (Achanta's EnforceLabelConnectivity, scikit-image's
// enforce_connectivity): 4-connected fragments are relabelled in raster
// order, and a fragment smaller than 0.5·N/K pixels is merged into the
// fragment adjacent to its first pixel. Every returned segment is
// 4-connected; n can differ from K a little (the grid rounds, fragments are
// merged or split).
//
// The distance is taken in img's own colour space: there is no conversion
// to CIELAB as in scikit-image (convert first if wanted). Compactness is
// relative to the colour scale: scikit-image's default 10 suits Lab values
// in [0, 100]; for values in [0, 1] use about 0.1. A larger m gives more
// regular, grid-like segments.
//
// nSegments ≤ 0 means DefaultSLICSegments, compactness ≤ 0 or not finite
// DefaultSLICCompactness, maxIter ≤ 0 DefaultSLICIterations. An image that
// fails Validate gives (nil, 0). The result is deterministic.
func SLIC(img Image, nSegments int, compactness float64, maxIter int) (labels []int, n int) {
	if img.Validate() != nil {
		return nil, 0
	}
	if nSegments <= 0 {
		nSegments = DefaultSLICSegments
	}
	if !(compactness > 0) || math.IsInf(compactness, 0) {
		compactness = DefaultSLICCompactness
	}
	if maxIter <= 0 {
		maxIter = DefaultSLICIterations
	}
	h, w, c := img.H, img.W, img.C
	npix := h * w
	nSegments = min(nSegments, npix)
	step := math.Sqrt(float64(npix) / float64(nSegments))
	ny := min(max(int(math.Round(float64(h)/step)), 1), h)
	nx := min(max(int(math.Round(float64(w)/step)), 1), w)
	k := ny * nx

	// Centres: y, x, then c channel values.
	dim := 2 + c
	centres := make([]float64, k*dim)
	grad := func(y, x int) float64 {
		l, r := img.Pix[(y*w+max(x-1, 0))*c:], img.Pix[(y*w+min(x+1, w-1))*c:]
		u, d := img.Pix[(max(y-1, 0)*w+x)*c:], img.Pix[(min(y+1, h-1)*w+x)*c:]
		var g float64
		for ch := range c {
			dx, dy := r[ch]-l[ch], d[ch]-u[ch]
			g += dx*dx + dy*dy
		}
		return g
	}
	for i := range ny {
		for j := range nx {
			cy := int((float64(i) + 0.5) * float64(h) / float64(ny))
			cx := int((float64(j) + 0.5) * float64(w) / float64(nx))
			by, bx, best := cy, cx, grad(cy, cx)
			for y := max(cy-1, 0); y <= min(cy+1, h-1); y++ {
				for x := max(cx-1, 0); x <= min(cx+1, w-1); x++ {
					if g := grad(y, x); g < best {
						by, bx, best = y, x, g
					}
				}
			}
			ctr := centres[(i*nx+j)*dim:]
			ctr[0], ctr[1] = float64(by), float64(bx)
			copy(ctr[2:dim], img.Pix[(by*w+bx)*c:(by*w+bx+1)*c])
		}
	}

	labels = make([]int, npix)
	for i := range labels {
		labels[i] = -1
	}
	dist := make([]float64, npix)
	sums := make([]float64, k*dim)
	counts := make([]int, k)
	spatial := compactness * compactness / (step * step) // m²/S²
	radius := int(math.Ceil(step))
	distance := func(ctr []float64, y, x int) float64 {
		px := img.Pix[(y*w+x)*c : (y*w+x+1)*c]
		var dc float64
		for ch, v := range px {
			d := v - ctr[2+ch]
			dc += d * d
		}
		dy, dx := float64(y)-ctr[0], float64(x)-ctr[1]
		return dc + (dy*dy+dx*dx)*spatial
	}
	for range maxIter {
		for i := range dist {
			dist[i] = math.Inf(1)
		}
		changed := false
		for ki := range k {
			ctr := centres[ki*dim : (ki+1)*dim]
			cy, cx := int(math.Round(ctr[0])), int(math.Round(ctr[1]))
			for y := max(cy-radius, 0); y < min(cy+radius+1, h); y++ {
				for x := max(cx-radius, 0); x < min(cx+radius+1, w); x++ {
					p := y*w + x
					if d := distance(ctr, y, x); d < dist[p] {
						dist[p] = d
						if labels[p] != ki {
							labels[p] = ki
							changed = true
						}
					}
				}
			}
		}
		// A pixel no window reached (centres drift apart) takes the
		// nearest centre of all.
		for p, d := range dist {
			if !math.IsInf(d, 1) {
				continue
			}
			best, bk := math.Inf(1), 0
			for ki := range k {
				if d := distance(centres[ki*dim:(ki+1)*dim], p/w, p%w); d < best {
					best, bk = d, ki
				}
			}
			if labels[p] != bk {
				labels[p] = bk
				changed = true
			}
		}
		if !changed {
			break
		}
		clear(sums)
		clear(counts)
		for p, l := range labels {
			s := sums[l*dim : (l+1)*dim]
			s[0] += float64(p / w)
			s[1] += float64(p % w)
			for ch := range c {
				s[2+ch] += img.Pix[p*c+ch]
			}
			counts[l]++
		}
		for ki, cnt := range counts {
			if cnt == 0 {
				continue // an empty cluster keeps its centre
			}
			for d := range dim {
				centres[ki*dim+d] = sums[ki*dim+d] / float64(cnt)
			}
		}
	}
	minSize := int(slicMinSizeFactor * float64(npix) / float64(k))
	return enforceConnectivity(labels, h, w, minSize)
}

// enforceConnectivity relabels the 4-connected fragments of labels in raster
// order, merging a fragment of fewer than minSize pixels into the fragment
// adjacent to its first pixel (when there is one). It returns the new
// labels, in [0, n), and n.
func enforceConnectivity(labels []int, h, w, minSize int) ([]int, int) {
	out := make([]int, len(labels))
	for i := range out {
		out[i] = -1
	}
	var stack, members []int
	n := 0
	for start := range labels {
		if out[start] >= 0 {
			continue
		}
		x := start % w
		adj := -1
		for _, q := range [4]int{start - 1, start - w, start + 1, start + w} {
			if q < 0 || q >= len(labels) || (q == start-1 && x == 0) || (q == start+1 && x == w-1) {
				continue
			}
			if out[q] >= 0 {
				adj = out[q]
			}
		}
		orig := labels[start]
		members = members[:0]
		stack = append(stack[:0], start)
		out[start] = n
		for len(stack) > 0 {
			p := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			members = append(members, p)
			px := p % w
			if px > 0 && out[p-1] < 0 && labels[p-1] == orig {
				out[p-1] = n
				stack = append(stack, p-1)
			}
			if px < w-1 && out[p+1] < 0 && labels[p+1] == orig {
				out[p+1] = n
				stack = append(stack, p+1)
			}
			if p >= w && out[p-w] < 0 && labels[p-w] == orig {
				out[p-w] = n
				stack = append(stack, p-w)
			}
			if p+w < len(labels) && out[p+w] < 0 && labels[p+w] == orig {
				out[p+w] = n
				stack = append(stack, p+w)
			}
		}
		if len(members) < minSize && adj >= 0 {
			for _, p := range members {
				out[p] = adj
			}
			continue
		}
		n++
	}
	return out, n
}
