package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // b64 instances may be JPEG
	_ "image/png"  // or PNG
	"math"

	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// maxImagePixels is the sidecar's limit on an image's height × width.
const maxImagePixels = 4194304

// decodeInstance decodes one instance of KServe's v1 protocol:
//
//   - an array of numbers: a tabular row;
//   - a string: a text;
//   - an array of arrays of numbers: a grey image, H×W (one channel);
//   - an array of arrays of arrays of numbers: an image, H×W×C, or C×H×W
//     with layout CHW;
//   - {"b64": "..."}: a base64 PNG or JPEG image, RGB values 0..255 (alpha
//     dropped), sent to the model in layout.
//
// Images go to the model in the layout of their values (layout).
func decodeInstance(raw json.RawMessage, layout explainerv1.ImageLayout) (*explainerv1.Instance, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, errors.New("empty")
	}
	switch raw[0] {
	case '"':
		var text string
		if err := json.Unmarshal(raw, &text); err != nil {
			return nil, err
		}
		return &explainerv1.Instance{Kind: &explainerv1.Instance_Text{Text: &explainerv1.TextInstance{Text: text}}}, nil
	case '{':
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil {
			return nil, err
		}
		b64, ok := obj["b64"]
		if !ok || len(obj) != 1 {
			return nil, errors.New(`an object must be {"b64": "<base64 PNG or JPEG>"}`)
		}
		var s string
		if err := json.Unmarshal(b64, &s); err != nil {
			return nil, errors.New("b64: want a string")
		}
		im, err := decodeB64Image(s, layout)
		if err != nil {
			return nil, fmt.Errorf("b64: %w", err)
		}
		return &explainerv1.Instance{Kind: &explainerv1.Instance_Image{Image: im}}, nil
	case '[':
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, err
		}
		return arrayInstance(v.([]any), layout)
	}
	return nil, errors.New("want an array of numbers (a row), a string (a text), nested arrays or {\"b64\": ...} (an image)")
}

// arrayInstance is a row (numbers) or an image (nested arrays).
func arrayInstance(a []any, layout explainerv1.ImageLayout) (*explainerv1.Instance, error) {
	if len(a) == 0 {
		return nil, errors.New("empty array")
	}
	dims, values, err := nested(a)
	if err != nil {
		return nil, err
	}
	switch len(dims) {
	case 1:
		row := make([]float64, len(values))
		copy(row, values)
		return &explainerv1.Instance{Kind: &explainerv1.Instance_Tabular{Tabular: &explainerv1.TabularInstance{Values: row}}}, nil
	case 2:
		dims = append(dims, 1)
		if layout == explainerv1.ImageLayout_IMAGE_LAYOUT_CHW {
			dims = []int{1, dims[0], dims[1]}
		}
	case 3:
	default:
		return nil, fmt.Errorf("%d nested arrays: want a row (1), a grey image (2) or an image (3)", len(dims))
	}
	h, w, c := dims[0], dims[1], dims[2]
	if layout == explainerv1.ImageLayout_IMAGE_LAYOUT_CHW {
		c, h, w = dims[0], dims[1], dims[2]
	}
	if err := checkImage(h, w, c); err != nil {
		return nil, err
	}
	px := make([]float32, len(values))
	for i, v := range values {
		if f := float32(v); math.IsInf(float64(f), 0) {
			return nil, fmt.Errorf("value %d out of float32 range", i)
		} else {
			px[i] = f
		}
	}
	return &explainerv1.Instance{Kind: &explainerv1.Instance_Image{Image: &explainerv1.ImageInstance{
		Height: uint32(h), Width: uint32(w), Channels: uint32(c), Layout: layout, Values: px,
	}}}, nil
}

// nested returns the dimensions of rectangular nested arrays of numbers
// and their values in row-major order.
func nested(a []any) ([]int, []float64, error) {
	if len(a) == 0 {
		return nil, nil, errors.New("empty array")
	}
	if _, ok := a[0].([]any); !ok {
		values := make([]float64, len(a))
		for i, v := range a {
			f, ok := v.(float64)
			if !ok {
				return nil, nil, fmt.Errorf("[%d]: not a number", i)
			}
			values[i] = f
		}
		return []int{len(a)}, values, nil
	}
	var dims []int
	var values []float64
	for i, v := range a {
		sub, ok := v.([]any)
		if !ok {
			return nil, nil, fmt.Errorf("[%d]: not an array like [0]", i)
		}
		d, vs, err := nested(sub)
		if err != nil {
			return nil, nil, fmt.Errorf("[%d]%w", i, err)
		}
		if i == 0 {
			dims = d
		} else if !equalDims(d, dims) {
			return nil, nil, fmt.Errorf("[%d]: shape %v, [0] has %v", i, d, dims)
		}
		values = append(values, vs...)
	}
	return append([]int{len(a)}, dims...), values, nil
}

func equalDims(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func checkImage(h, w, c int) error {
	switch {
	case h*w > maxImagePixels:
		return fmt.Errorf("the image has %d×%d pixels, more than %d", h, w, maxImagePixels)
	case c < 1 || c > 4:
		return fmt.Errorf("the image has %d channels: want 1 to 4", c)
	}
	return nil
}

// decodeB64Image decodes a base64 PNG or JPEG into RGB values 0..255.
func decodeB64Image(s string, layout explainerv1.ImageLayout) (*explainerv1.ImageInstance, error) {
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New("not base64")
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("not a PNG or JPEG image: %w", err)
	}
	if err := checkImage(cfg.Height, cfg.Width, 3); err != nil {
		return nil, err
	}
	src, _, err := image.Decode(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("not a PNG or JPEG image: %w", err)
	}
	b := src.Bounds()
	h, w := b.Dy(), b.Dx()
	values := make([]float32, 3*h*w)
	for y := range h {
		for x := range w {
			rgb := nrgbAt(src, b.Min.X+x, b.Min.Y+y)
			for c := range 3 {
				i := (y*w+x)*3 + c // HWC
				if layout == explainerv1.ImageLayout_IMAGE_LAYOUT_CHW {
					i = (c*h+y)*w + x
				}
				values[i] = float32(rgb[c])
			}
		}
	}
	return &explainerv1.ImageInstance{Height: uint32(h), Width: uint32(w), Channels: 3, Layout: layout, Values: values}, nil
}

// nrgbAt is a pixel's colour, not premultiplied by its alpha (so that a
// translucent pixel keeps its colour), as the CLI reads PNGs.
func nrgbAt(src image.Image, x, y int) [3]uint8 {
	r, g, b, a := src.At(x, y).RGBA()
	if a == 0 {
		return [3]uint8{}
	}
	if a != 0xffff {
		r, g, b = r*0xffff/a, g*0xffff/a, b*0xffff/a
	}
	return [3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8)}
}
