package main

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
	"os"

	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// Colours of the PNG explanations: green for the label, red against it,
// yellow segment boundaries (as lime's mark_boundaries).
var (
	colorFor      = color.RGBA{0, 200, 0, 255}
	colorAgainst  = color.RGBA{220, 0, 0, 255}
	colorBoundary = color.RGBA{255, 255, 0, 255}
)

// Strongest blend of the tint (lime_image) and the heatmap (occlusion).
const (
	maxTint = 0.55
	maxHeat = 0.7
)

// writePNG draws an image explanation over the instance's image and
// writes it as a PNG: lime_image tints every segment by its weight for
// the first label and draws the boundaries; occlusion blends the first
// label's map as a diverging heatmap scaled to its largest |value|.
func writePNG(w io.Writer, exp *explainerv1.Explanation, inst *explainerv1.ImageInstance) error {
	if inst == nil {
		return errors.New("PNG output needs -image")
	}
	im, err := instanceHWC(inst)
	if err != nil {
		return err
	}
	img := displayImage(im)
	switch exp.GetMethod() {
	case "lime_image", "kernelshap_image":
		err = tintSegments(img, exp)
	case "occlusion":
		err = blendHeatmap(img, exp)
	default:
		err = fmt.Errorf("PNG output is for lime_image and occlusion explanations, not %q", exp.GetMethod())
	}
	if err != nil {
		return err
	}
	return png.Encode(w, img)
}

// displayImage turns model values into 8-bit RGB: values in 0..1 are
// scaled by 255, values in 0..255 kept, anything else (normalised
// tensors) stretched from its min to its max. One or two channels are
// grey; a fourth is ignored.
func displayImage(im *hwcImage) *image.RGBA {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range im.values {
		lo, hi = math.Min(lo, float64(v)), math.Max(hi, float64(v))
	}
	offset, scale := 0.0, 1.0
	switch {
	case lo >= 0 && hi <= 1:
		scale = 255
	case lo >= 0 && hi <= 255:
	case hi > lo:
		offset, scale = lo, 255/(hi-lo)
	default:
		offset, scale = lo, 0
	}
	to8 := func(v float32) uint8 {
		return uint8(math.Round(math.Max(0, math.Min(255, (float64(v)-offset)*scale))))
	}
	img := image.NewRGBA(image.Rect(0, 0, im.w, im.h))
	for y := range im.h {
		for x := range im.w {
			px := im.values[(y*im.w+x)*im.c:][:im.c]
			c := color.RGBA{A: 255}
			if im.c >= 3 {
				c.R, c.G, c.B = to8(px[0]), to8(px[1]), to8(px[2])
			} else {
				c.R = to8(px[0])
				c.G, c.B = c.R, c.R
			}
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

// blend mixes c towards to by alpha in [0,1].
func blend(c, to color.RGBA, alpha float64) color.RGBA {
	mix := func(a, b uint8) uint8 { return uint8(math.Round(float64(a)*(1-alpha) + float64(b)*alpha)) }
	return color.RGBA{mix(c.R, to.R), mix(c.G, to.G), mix(c.B, to.B), 255}
}

func tintSegments(img *image.RGBA, exp *explainerv1.Explanation) error {
	seg := exp.GetSegments()
	h, w := img.Bounds().Dy(), img.Bounds().Dx()
	if seg == nil || len(seg.GetLabels()) == 0 {
		return errors.New("the lime_image explanation has no segment map")
	}
	if int(seg.GetHeight()) != h || int(seg.GetWidth()) != w || len(seg.GetLabels()) != h*w {
		return fmt.Errorf("the segment map is %d×%d (%d labels), the image %d×%d", seg.GetHeight(), seg.GetWidth(), len(seg.GetLabels()), h, w)
	}
	weights := map[uint32]float64{}
	maxAbs := 0.0
	if labels := exp.GetLabels(); len(labels) > 0 {
		for _, a := range labels[0].GetAttributions() {
			weights[a.GetIndex()] = a.GetWeight()
			maxAbs = math.Max(maxAbs, math.Abs(a.GetWeight()))
		}
	}
	out := image.NewRGBA(img.Bounds())
	draw.Draw(out, out.Bounds(), img, image.Point{}, draw.Src)
	segs := seg.GetLabels()
	for y := range h {
		for x := range w {
			s := segs[y*w+x]
			if (x+1 < w && segs[y*w+x+1] != s) || (y+1 < h && segs[(y+1)*w+x] != s) {
				out.SetRGBA(x, y, colorBoundary)
				continue
			}
			wt := weights[s]
			if wt == 0 || maxAbs == 0 {
				continue
			}
			to := colorFor
			if wt < 0 {
				to = colorAgainst
			}
			out.SetRGBA(x, y, blend(img.RGBAAt(x, y), to, maxTint*math.Abs(wt)/maxAbs))
		}
	}
	draw.Draw(img, img.Bounds(), out, image.Point{}, draw.Src)
	return nil
}

func blendHeatmap(img *image.RGBA, exp *explainerv1.Explanation) error {
	maps := exp.GetMaps()
	h, w := img.Bounds().Dy(), img.Bounds().Dx()
	if len(maps) == 0 {
		return errors.New("the occlusion explanation has no attribution map")
	}
	m := maps[0]
	if int(m.GetHeight()) != h || int(m.GetWidth()) != w || len(m.GetValues()) != h*w {
		return fmt.Errorf("the attribution map is %d×%d (%d values), the image %d×%d", m.GetHeight(), m.GetWidth(), len(m.GetValues()), h, w)
	}
	maxAbs := 0.0
	for _, v := range m.GetValues() {
		maxAbs = math.Max(maxAbs, math.Abs(v))
	}
	if maxAbs == 0 || math.IsInf(maxAbs, 0) || math.IsNaN(maxAbs) {
		return nil
	}
	for y := range h {
		for x := range w {
			v := m.GetValues()[y*w+x]
			to := colorFor
			if v < 0 {
				to = colorAgainst
			}
			img.SetRGBA(x, y, blend(img.RGBAAt(x, y), to, maxHeat*math.Abs(v)/maxAbs))
		}
	}
	return nil
}

// writePNGFile writes the PNG explanation to path.
func writePNGFile(path string, exp *explainerv1.Explanation, inst *explainerv1.ImageInstance) error {
	file, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("-png: %w", err)
	}
	if err := writePNG(file, exp, inst); err != nil {
		file.Close()
		return fmt.Errorf("-png %s: %w", path, err)
	}
	return file.Close()
}
