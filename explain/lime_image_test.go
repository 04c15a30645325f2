package explain

import (
	"context"
	"errors"
	"math"
	"reflect"
	"testing"

	"github.com/explainer-sidecar/explainer/sampler"
)

// limgSegmentMean scores an image by the mean of segment s's values:
// class 0 the mean, class 1 one minus it.
func limgSegmentMean(seg []int, s, c int) func([]float64) []float64 {
	return func(row []float64) []float64 {
		var sum float64
		var n int
		for p, l := range seg {
			if l == s {
				for ch := range c {
					sum += row[p*c+ch]
				}
				n += c
			}
		}
		mean := sum / float64(n)
		return []float64{mean, 1 - mean}
	}
}

func limgImage(h, w, c int) sampler.Image {
	img := sampler.NewImage(h, w, c)
	for i := range img.Pix {
		img.Pix[i] = 0.5 + 0.4*math.Sin(float64(i)*0.37)
	}
	return img
}

func TestLIMEImageRanksTheSegment(t *testing.T) {
	img := limgImage(16, 16, 3)
	seg, n := sampler.GridSegments(16, 16, 4, 4)
	// (With lime's default segment-mean fill this model cannot tell a
	// hidden segment from a shown one: see TestLIMEImageSegmentMeanFill.)
	for _, fillName := range []string{"zero", "mean", "blur"} {
		t.Run(fillName, func(t *testing.T) {
			var fill sampler.Image
			switch fillName {
			case "zero":
				fill = sampler.ConstantFill(img, 0)
			case "mean":
				fill = sampler.MeanFill(img)
			case "blur":
				fill = sampler.BlurFill(img, 2)
			}
			const target = 5
			m := &occModel{f: limgSegmentMean(seg, target, 3)}
			res, err := LIMEImage(context.Background(), m, LIMEImageRequest{
				Image: img, Segments: seg, NumSegments: n, Fill: fill, Sampling: Sampling{NumSamples: 300, Seed: 3}, Targets: Targets{Labels: []int{0, 1}}, BatchRows: 64,
			})
			if err != nil {
				t.Fatal(err)
			}
			if m.rows != 300 || m.maxBatch != 64 || m.calls != 5 {
				t.Fatalf("rows %d max batch %d calls %d; want 300, 64, 5", m.rows, m.maxBatch, m.calls)
			}
			if res.Method != "lime_image" || res.KernelWidth != 0.25 || len(res.Labels) != 2 {
				t.Fatalf("result %+v", res)
			}
			// The score is exactly linear in z_5: the surrogate puts all
			// weight there (ridge shrinks it a little; others ≈ 0).
			for li, sign := range []float64{1, -1} {
				attr := res.Labels[li].Attributions
				if len(attr) != n || attr[0].Index != target || sign*attr[0].Weight <= 0 {
					t.Fatalf("label %d: first attribution %+v", li, attr[0])
				}
				if math.Abs(attr[1].Weight) > 0.05*math.Abs(attr[0].Weight) {
					t.Errorf("label %d: second |weight| %v not below 5%% of the first %v", li, attr[1].Weight, attr[0].Weight)
				}
			}
		})
	}
}

func TestLIMEImageSegmentMeanFill(t *testing.T) {
	img := limgImage(16, 16, 3)
	seg, n := sampler.GridSegments(16, 16, 4, 4)
	res, err := LIMEImage(context.Background(), &occModel{f: limgSegmentMean(seg, 5, 3)}, LIMEImageRequest{
		Image: img, Segments: seg, NumSegments: n, Sampling: Sampling{NumSamples: 100, Seed: 3},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Filling a segment with its own mean keeps its mean: every weight is
	// zero (tolerance 1e-9).
	for _, a := range res.Labels[0].Attributions {
		if math.Abs(a.Weight) > 1e-9 {
			t.Fatalf("segment %d weight %v, want 0", a.Index, a.Weight)
		}
	}
}

func TestLIMEImageDeterministic(t *testing.T) {
	img := limgImage(12, 10, 1)
	seg, n := sampler.SLIC(img, 6, 0.1, 0)
	req := LIMEImageRequest{Image: img, Segments: seg, NumSegments: n, Sampling: Sampling{NumSamples: 100, Seed: 9}}
	f := func(row []float64) []float64 {
		s := math.Tanh(row[3] + 2*row[50] - row[100])
		return []float64{s, -s}
	}
	a, err := LIMEImage(context.Background(), &occModel{f: f}, req)
	if err != nil {
		t.Fatal(err)
	}
	req.BatchRows = 7 // batching must not change anything
	b, err := LIMEImage(context.Background(), &occModel{f: f}, req)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different results")
	}
	if reflect.DeepEqual(ImageMasks(50, 8, 1), ImageMasks(50, 8, 2)) {
		t.Fatal("different seeds, same masks")
	}
}

func TestImageMasks(t *testing.T) {
	const n, p = 2000, 70 // p > 64: two words of bits per row
	data := ImageMasks(n, p, 1)
	ones := 0.0
	for i, row := range data {
		for _, v := range row {
			if v != 0 && v != 1 {
				t.Fatalf("value %v", v)
			}
			if i == 0 && v != 1 {
				t.Fatal("row 0 is not all ones")
			}
			if i > 0 {
				ones += v
			}
		}
	}
	// Mean of (n−1)·p fair bits: standard error 0.0013; tolerance 0.01.
	if frac := ones / float64((n-1)*p); math.Abs(frac-0.5) > 0.01 {
		t.Fatalf("fraction of ones %v, want 0.5 ± 0.01", frac)
	}
}

func TestCosineDistancesToOnes(t *testing.T) {
	rows := [][]float64{{1, 1, 1, 1}, {1, 0, 0, 0}, {0, 1, 1, 0}, {0, 0, 0, 0}, {1, 1, 1, 0}}
	got := CosineDistancesToOnes(nil, rows)
	for i, row := range rows {
		// 1 − z·1/(‖z‖‖1‖), written out; 1 for z = 0 (scikit-learn).
		var dot, nz float64
		for _, v := range row {
			dot += v
			nz += v * v
		}
		want := 1.0
		if nz > 0 {
			want = 1 - dot/(math.Sqrt(nz)*math.Sqrt(float64(len(row))))
		}
		if math.Abs(got[i]-want) > 1e-15 {
			t.Errorf("row %v: %v, want %v", row, got[i], want)
		}
	}
	if got[1] != 0.5 {
		t.Errorf("one of four on: %v, want 1 − √(1/4) = 0.5", got[1])
	}
}

func TestLIMEImageInvalid(t *testing.T) {
	img := limgImage(4, 4, 1)
	seg, n := sampler.GridSegments(4, 4, 2, 2)
	tests := []struct {
		name  string
		req   LIMEImageRequest
		field string
	}{
		{"image", LIMEImageRequest{Image: sampler.Image{H: 4, W: 4, C: 1}, Segments: seg, NumSegments: n}, "image"},
		{"no segments", LIMEImageRequest{Image: img, NumSegments: n}, "segments"},
		{"label out of range", LIMEImageRequest{Image: img, Segments: seg, NumSegments: 3}, "segments"},
		{"fill shape", LIMEImageRequest{Image: img, Segments: seg, NumSegments: n, Fill: sampler.NewImage(4, 4, 3)}, "fill"},
		{"samples", LIMEImageRequest{Image: img, Segments: seg, NumSegments: n, Sampling: Sampling{NumSamples: 1}}, "num_samples"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LIMEImage(context.Background(), &occModel{f: func([]float64) []float64 { return []float64{1} }}, tt.req)
			var re *RequestError
			if !errors.As(err, &re) || re.Field != tt.field {
				t.Fatalf("err = %v, want a RequestError on %q", err, tt.field)
			}
		})
	}
}

func TestLIMEImageCancel(t *testing.T) {
	img := limgImage(8, 8, 1)
	seg, n := sampler.GridSegments(8, 8, 2, 2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := &occModel{f: func([]float64) []float64 { return []float64{1} }, onCall: func(int) { cancel() }}
	_, err := LIMEImage(ctx, m, LIMEImageRequest{Image: img, Segments: seg, NumSegments: n, Sampling: Sampling{NumSamples: 50}, BatchRows: 10})
	// The first call cancels; the second may be in flight already (two
	// calls are), but no third starts (5 calls without the cancel).
	if !errors.Is(err, context.Canceled) || m.calls > 2 {
		t.Fatalf("err = %v after %d calls, want context.Canceled after at most the 2 in flight", err, m.calls)
	}
}
