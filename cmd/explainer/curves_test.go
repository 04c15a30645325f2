package main

import (
	"bytes"
	"image/png"
	"math"
	"strings"
	"testing"

	"gonum.org/v1/plot/vg"

	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// sampleCurves: a faithful explanation of an additive model of five
// features with weights 5, 4, 3, 2, 1.
func sampleCurves() *explainerv1.FidelityCurves {
	return &explainerv1.FidelityCurves{
		Label:           1,
		Fractions:       []float64{0, 0.2, 0.4, 0.6, 0.8, 1},
		Deletion:        []float64{15, 10, 6, 3, 1, 0},
		RandomDeletion:  []float64{15, 12, 9, 6, 3, 0},
		Insertion:       []float64{0, 5, 9, 12, 14, 15},
		RandomInsertion: []float64{0, 3, 6, 9, 12, 15},
		DeletionArea:    5.5, RandomDeletionArea: 7.5,
		InsertionArea: 9.5, RandomInsertionArea: 7.5,
	}
}

func TestWriteCurvesPNG(t *testing.T) {
	flat := sampleCurves()
	for i := range flat.Deletion {
		flat.Deletion[i], flat.RandomDeletion[i], flat.Insertion[i], flat.RandomInsertion[i] = 0.5, 0.5, 0.5, 0.5
	}
	for name, c := range map[string]*explainerv1.FidelityCurves{"faithful": sampleCurves(), "flat": flat} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := writeCurvesPNG(&buf, c, "lime, label 1"); err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(&buf)
			if err != nil {
				t.Fatal(err)
			}
			wantW := int(math.Round(float64(curvesWidth/vg.Inch) * curvesDPI))
			wantH := int(math.Round(float64(curvesHeight/vg.Inch) * curvesDPI))
			if b := img.Bounds(); b.Dx() != wantW || b.Dy() != wantH || wantW != 960 || wantH != 384 {
				t.Errorf("size %v, want %d×%d", b, wantW, wantH)
			}
			// Something was drawn: not every pixel is the background.
			b := img.Bounds()
			first := img.At(b.Min.X, b.Min.Y)
			varied := false
			for y := b.Min.Y; y < b.Max.Y && !varied; y += 3 {
				for x := b.Min.X; x < b.Max.X; x += 3 {
					if img.At(x, y) != first {
						varied = true
						break
					}
				}
			}
			if !varied {
				t.Errorf("blank image")
			}
		})
	}
}

func TestWriteCurvesPNGErrors(t *testing.T) {
	short := sampleCurves()
	short.RandomInsertion = short.RandomInsertion[:3]
	nan := sampleCurves()
	nan.Deletion[2] = math.NaN()
	tests := []struct {
		name string
		c    *explainerv1.FidelityCurves
		want string
	}{
		{"nil", nil, "no fidelity curves"},
		{"empty", &explainerv1.FidelityCurves{Label: 3}, "have 0 points"},
		{"one point", &explainerv1.FidelityCurves{Fractions: []float64{0}, Deletion: []float64{1}}, "have 1 points"},
		{"lengths differ", short, "random_insertion has 3 points for 6 fractions"},
		{"nan", nan, "deletion has a non-finite value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := writeCurvesPNG(&buf, tt.c, "x")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
			if buf.Len() != 0 {
				t.Errorf("wrote %d bytes despite the error", buf.Len())
			}
		})
	}
}
