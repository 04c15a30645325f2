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

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

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

// Geometry of an image explanation's PNG, in pixels: the image is scaled
// up by a whole factor (nearest neighbour, so pixels stay square) until
// its longer side is at least minImageSide; panels are figMargin apart
// under a title band; the colour legend is on the right.
const (
	minImageSide = 256
	figMargin    = 12
	figTitle     = 20
	legendWidth  = 16
	legendText   = 80
	legendMin    = 120 // the legend's least height, for its labels
)

// figureLayout says where imageFigure drew what.
type figureLayout struct {
	// scale is the factor the image was scaled up by.
	scale int
	// panels are the image alone, then one panel per label with the map
	// over the image, each scale × the image's size.
	panels []image.Rectangle
	// legend is the colour bar: +maxAbs at the top, −maxAbs at the bottom.
	legend image.Rectangle
	// maxAbs is the |value| of the legend's ends.
	maxAbs float64
}

// writePNG writes an image explanation as a PNG: see imageFigure.
func writePNG(w io.Writer, exp *explainerv1.Explanation, inst *explainerv1.ImageInstance) error {
	img, _, err := imageFigure(exp, inst)
	if err != nil {
		return err
	}
	return png.Encode(w, img)
}

// imageFigure draws an image explanation: the image on the left, then for
// every explained label the image with the label's map over it (lime_image
// and kernelshap_image: each segment tinted by its weight, green for and
// red against the label, boundaries in yellow, as lime's mark_boundaries;
// occlusion: each pixel blended towards green or red by its attribution),
// on one colour scale, the largest |value| over the labels, drawn in the
// legend on the right. Everything is scaled up to at least minImageSide.
func imageFigure(exp *explainerv1.Explanation, inst *explainerv1.ImageInstance) (*image.RGBA, figureLayout, error) {
	var lay figureLayout
	if inst == nil {
		return nil, lay, errors.New("PNG output of an image explanation needs -image")
	}
	im, err := instanceHWC(inst)
	if err != nil {
		return nil, lay, err
	}
	base := displayImage(im)
	var (
		maps   []*image.RGBA
		titles []string
		alpha  = maxTint
		what   = "weight"
	)
	switch exp.GetMethod() {
	case "lime_image", "kernelshap_image":
		maps, titles, lay.maxAbs, err = segmentOverlays(base, exp)
	case "occlusion":
		maps, titles, lay.maxAbs, err = heatmapOverlays(base, exp)
		alpha, what = maxHeat, "score drop"
	default:
		err = fmt.Errorf("an image PNG is for lime_image, kernelshap_image and occlusion explanations, not %q", exp.GetMethod())
	}
	if err != nil {
		return nil, lay, err
	}

	h, w := im.h, im.w
	lay.scale = max(1, (minImageSide+max(h, w)-1)/max(h, w))
	ph, pw := h*lay.scale, w*lay.scale
	panels := 1 + len(maps)
	width := figMargin + panels*(pw+figMargin) + legendWidth + legendText
	height := figMargin + figTitle + max(ph, legendMin) + figMargin
	out := image.NewRGBA(image.Rect(0, 0, width, height))
	draw.Draw(out, out.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)

	top := figMargin + figTitle
	place := func(i int, src *image.RGBA, title string) {
		r := image.Rect(figMargin+i*(pw+figMargin), top, figMargin+i*(pw+figMargin)+pw, top+ph)
		lay.panels = append(lay.panels, r)
		upscale(out, r, src, lay.scale)
		drawText(out, r.Min.X, top-6, fitText(title, pw))
	}
	place(0, base, fmt.Sprintf("%s - %s", exp.GetModel(), exp.GetMethod()))
	for i, m := range maps {
		place(i+1, m, titles[i])
	}
	if seg := exp.GetSegments(); seg != nil && exp.GetMethod() != "occlusion" {
		for _, r := range lay.panels[1:] {
			drawBoundaries(out, r, seg, lay.scale)
		}
	}
	lx := figMargin + panels*(pw+figMargin)
	lay.legend = image.Rect(lx, top, lx+legendWidth, top+max(ph, legendMin))
	drawLegend(out, lay.legend, lay.maxAbs, alpha, what)
	return out, lay, nil
}

// upscale draws src into r of dst, each pixel a scale × scale block.
func upscale(dst *image.RGBA, r image.Rectangle, src *image.RGBA, scale int) {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			dst.SetRGBA(x, y, src.RGBAAt((x-r.Min.X)/scale, (y-r.Min.Y)/scale))
		}
	}
}

// drawBoundaries marks in yellow the last pixel of a segment before
// another one, right and down, on the scaled-up panel r.
func drawBoundaries(dst *image.RGBA, r image.Rectangle, seg *explainerv1.SegmentMap, scale int) {
	w, segs := int(seg.GetWidth()), seg.GetLabels()
	at := func(x, y int) uint32 { return segs[(y/scale)*w+x/scale] }
	for y := 0; y < r.Dy(); y++ {
		for x := 0; x < r.Dx(); x++ {
			s := at(x, y)
			if (x+1 < r.Dx() && at(x+1, y) != s) || (y+1 < r.Dy() && at(x, y+1) != s) {
				dst.SetRGBA(r.Min.X+x, r.Min.Y+y, colorBoundary)
			}
		}
	}
}

// legendNeutral is the grey the legend's colours are blended from.
var legendNeutral = color.RGBA{128, 128, 128, 255}

// drawLegend draws the colour bar in r: the colour of +maxAbs at the top,
// of 0 (no tint) in the middle, of −maxAbs at the bottom, as blended over
// a mid grey, with the values beside it and what they are above.
func drawLegend(dst *image.RGBA, r image.Rectangle, maxAbs, alpha float64, what string) {
	mid := float64(r.Min.Y+r.Max.Y-1) / 2
	half := float64(r.Dy()-1) / 2
	for y := r.Min.Y; y < r.Max.Y; y++ {
		v := (mid - float64(y)) / half // +1 at the top, −1 at the bottom
		c := blend(legendNeutral, colorFor, alpha*math.Abs(v))
		if v < 0 {
			c = blend(legendNeutral, colorAgainst, alpha*math.Abs(v))
		}
		for x := r.Min.X; x < r.Max.X; x++ {
			dst.SetRGBA(x, y, c)
		}
	}
	tx := r.Max.X + 4
	drawText(dst, r.Min.X, r.Min.Y-6, what)
	drawText(dst, tx, r.Min.Y+10, fmt.Sprintf("%+.3g", maxAbs))
	drawText(dst, tx, int(mid)+5, "0")
	drawText(dst, tx, r.Max.Y-2, fmt.Sprintf("%+.3g", -maxAbs))
}

// drawText writes s in black with its baseline at (x, y).
func drawText(dst *image.RGBA, x, y int, s string) {
	d := font.Drawer{Dst: dst, Src: image.NewUniform(color.Black), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

// fitText cuts s to what fits in width pixels of basicfont's 7-pixel
// glyphs (ASCII only), ending it with "...".
func fitText(s string, width int) string {
	n := max(1, width/7)
	if r := []rune(s); len(r) > n {
		return string(r[:max(0, n-3)]) + "..."
	}
	return s
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

// segmentOverlays tints a copy of img per explained label: each segment
// blended towards green (positive weight) or red by maxTint × |weight| /
// maxAbs, maxAbs the largest |weight| over the labels.
func segmentOverlays(img *image.RGBA, exp *explainerv1.Explanation) ([]*image.RGBA, []string, float64, error) {
	seg := exp.GetSegments()
	h, w := img.Bounds().Dy(), img.Bounds().Dx()
	if seg == nil || len(seg.GetLabels()) == 0 {
		return nil, nil, 0, fmt.Errorf("the %s explanation has no segment map", exp.GetMethod())
	}
	if int(seg.GetHeight()) != h || int(seg.GetWidth()) != w || len(seg.GetLabels()) != h*w {
		return nil, nil, 0, fmt.Errorf("the segment map is %d×%d (%d labels), the image %d×%d", seg.GetHeight(), seg.GetWidth(), len(seg.GetLabels()), h, w)
	}
	maxAbs := 0.0
	for _, l := range exp.GetLabels() {
		for _, a := range l.GetAttributions() {
			maxAbs = math.Max(maxAbs, math.Abs(a.GetWeight()))
		}
	}
	var maps []*image.RGBA
	var titles []string
	segs := seg.GetLabels()
	for _, l := range exp.GetLabels() {
		weights := map[uint32]float64{}
		for _, a := range l.GetAttributions() {
			weights[a.GetIndex()] = a.GetWeight()
		}
		out := image.NewRGBA(img.Bounds())
		draw.Draw(out, out.Bounds(), img, image.Point{}, draw.Src)
		for y := range h {
			for x := range w {
				if wt := weights[segs[y*w+x]]; wt != 0 && maxAbs > 0 {
					out.SetRGBA(x, y, blend(img.RGBAAt(x, y), tintColor(wt), maxTint*math.Abs(wt)/maxAbs))
				}
			}
		}
		maps = append(maps, out)
		titles = append(titles, fmt.Sprintf("label %d (%s): %.4f", l.GetLabel(), className(exp, l.GetLabel(), l.GetClassName()), l.GetPrediction()))
	}
	if len(maps) == 0 {
		return nil, nil, 0, fmt.Errorf("the %s explanation has no labels", exp.GetMethod())
	}
	return maps, titles, maxAbs, nil
}

// heatmapOverlays blends each label's occlusion map over a copy of img:
// each pixel towards green or red by maxHeat × |value| / maxAbs, maxAbs
// the largest |value| over the maps.
func heatmapOverlays(img *image.RGBA, exp *explainerv1.Explanation) ([]*image.RGBA, []string, float64, error) {
	h, w := img.Bounds().Dy(), img.Bounds().Dx()
	if len(exp.GetMaps()) == 0 {
		return nil, nil, 0, errors.New("the occlusion explanation has no attribution map")
	}
	maxAbs := 0.0
	for _, m := range exp.GetMaps() {
		if int(m.GetHeight()) != h || int(m.GetWidth()) != w || len(m.GetValues()) != h*w {
			return nil, nil, 0, fmt.Errorf("the attribution map is %d×%d (%d values), the image %d×%d", m.GetHeight(), m.GetWidth(), len(m.GetValues()), h, w)
		}
		for _, v := range m.GetValues() {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				maxAbs = math.Max(maxAbs, math.Abs(v))
			}
		}
	}
	names, scores := map[uint32]string{}, exp.GetInstanceScores()
	for _, l := range exp.GetLabels() {
		names[l.GetLabel()] = l.GetClassName()
	}
	var maps []*image.RGBA
	var titles []string
	for _, m := range exp.GetMaps() {
		out := image.NewRGBA(img.Bounds())
		draw.Draw(out, out.Bounds(), img, image.Point{}, draw.Src)
		for i, v := range m.GetValues() {
			if maxAbs > 0 && !math.IsNaN(v) && !math.IsInf(v, 0) {
				x, y := i%w, i/w
				out.SetRGBA(x, y, blend(img.RGBAAt(x, y), tintColor(v), maxHeat*math.Abs(v)/maxAbs))
			}
		}
		title := fmt.Sprintf("label %d (%s)", m.GetLabel(), className(exp, m.GetLabel(), names[m.GetLabel()]))
		if int(m.GetLabel()) < len(scores) {
			title += fmt.Sprintf(": %.4f", scores[m.GetLabel()])
		}
		maps = append(maps, out)
		titles = append(titles, title)
	}
	return maps, titles, maxAbs, nil
}

// tintColor is green for the label, red against it.
func tintColor(v float64) color.RGBA {
	if v < 0 {
		return colorAgainst
	}
	return colorFor
}

// writePNGFile writes the PNG explanation to path: see
// writeExplanationPNG.
func writePNGFile(path string, exp *explainerv1.Explanation, v view) error {
	file, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("-png: %w", err)
	}
	if err := writeExplanationPNG(file, exp, v); err != nil {
		file.Close()
		return fmt.Errorf("-png %s: %w", path, err)
	}
	return file.Close()
}
