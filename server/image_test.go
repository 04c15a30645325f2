package server

import (
	"context"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/explainer-sidecar/explainer/predictor"
	"github.com/explainer-sidecar/explainer/predictor/predictortest"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// testImage returns an h×w×c image of values in [0, 1) (float32-exact) in
// HWC order.
func testImage(h, w, c int, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 1))
	v := make([]float32, h*w*c)
	for i := range v {
		v[i] = float32(rng.IntN(255)+1) / 256 // never 0: see quarterModel
	}
	return v
}

// toCHW reorders HWC values channels first.
func toCHW(hwc []float32, h, w, c int) []float32 {
	out := make([]float32, len(hwc))
	for p := range h * w {
		for ch := range c {
			out[ch*h*w+p] = hwc[p*c+ch]
		}
	}
	return out
}

// quarterModel scores class 1 as the mean of the top-left quarter of a
// 16×16×3 image given in layout, class 0 as 1 minus it; it keeps a row
// without zeros (with a constant 0 fill, the image itself).
type quarterModel struct {
	chw   bool
	mu    sync.Mutex
	first []float64
}

func (q *quarterModel) score(rows [][]float64) [][]float64 {
	const h, w, c = 16, 16, 3
	q.mu.Lock()
	for _, r := range rows {
		if q.first == nil && !slices.Contains(r, 0) {
			q.first = slices.Clone(r)
		}
	}
	q.mu.Unlock()
	out := make([][]float64, len(rows))
	for i, r := range rows {
		var s float64
		for y := range h / 2 {
			for x := range w / 2 {
				for ch := range c {
					if q.chw {
						s += r[(ch*h+y)*w+x]
					} else {
						s += r[(y*w+x)*c+ch]
					}
				}
			}
		}
		s /= h / 2 * w / 2 * c
		out[i] = []float64{1 - s, s}
	}
	return out
}

// imageModels starts a fake of each protocol scoring with score and
// returns, per protocol, the fake's counters and the client factory.
func imageModels(t *testing.T, score predictortest.ScoreFunc, features int, configure func(*predictortest.Model)) map[string]struct {
	fake      *predictortest.Model
	newClient ClientFunc
} {
	out := map[string]struct {
		fake      *predictortest.Model
		newClient ClientFunc
	}{}
	pv, pc := predictV1Model(t, func(p *predictortest.PredictServer) {
		p.Score, p.NumFeatures = score, features
		if configure != nil {
			configure(&p.Model)
		}
	})
	out["predictv1"] = struct {
		fake      *predictortest.Model
		newClient ClientFunc
	}{&pv.Model, pc}
	ks, kc := kserveModel(t, func(k *predictortest.KServeServer) {
		k.Score, k.NumFeatures = score, features
		if configure != nil {
			configure(&k.Model)
		}
	})
	out["kserve"] = struct {
		fake      *predictortest.Model
		newClient ClientFunc
	}{&ks.Model, kc}
	return out
}

func limeImageRequest(values []float32, h, w, c int, layout explainerv1.ImageLayout, edit func(*explainerv1.LimeImageOptions)) *explainerv1.ExplainRequest {
	seed := uint64(7)
	o := &explainerv1.LimeImageOptions{
		Segmentation: &explainerv1.Segmentation{Kind: &explainerv1.Segmentation_Grid{Grid: &explainerv1.GridSegmentation{Rows: 2, Cols: 2}}},
		Fill:         &explainerv1.Fill{Kind: explainerv1.FillKind_FILL_KIND_CONSTANT},
		NumSamples:   300,
		Labels:       []uint32{1},
		Seed:         &seed,
	}
	if edit != nil {
		edit(o)
	}
	return &explainerv1.ExplainRequest{
		Model: "model",
		Instance: &explainerv1.Instance{Kind: &explainerv1.Instance_Image{Image: &explainerv1.ImageInstance{
			Height: uint32(h), Width: uint32(w), Channels: uint32(c), Layout: layout, Values: values,
		}}},
		Method: &explainerv1.ExplainRequest_LimeImage{LimeImage: o},
	}
}

func TestLIMEImageRanksTopLeftSegment(t *testing.T) {
	const h, w, c = 16, 16, 3
	hwc := testImage(h, w, c, 1)
	for _, layout := range []explainerv1.ImageLayout{explainerv1.ImageLayout_IMAGE_LAYOUT_HWC, explainerv1.ImageLayout_IMAGE_LAYOUT_CHW} {
		chw := layout == explainerv1.ImageLayout_IMAGE_LAYOUT_CHW
		q := &quarterModel{chw: chw}
		for proto, mdl := range imageModels(t, q.score, h*w*c, nil) {
			t.Run(layout.String()+"/"+proto, func(t *testing.T) {
				q.mu.Lock()
				q.first = nil
				q.mu.Unlock()
				values := hwc
				if chw {
					values = toCHW(hwc, h, w, c)
				}
				// Metrics on: the metered client must still send shapes.
				sc := startObserved(t, mdl.newClient, nil, NewMetrics(prometheus.NewRegistry()))
				resp, err := sc.client.Explain(context.Background(), limeImageRequest(values, h, w, c, layout, nil))
				if err != nil {
					t.Fatal(err)
				}
				exp := resp.GetExplanation()
				if exp.GetMethod() != "lime_image" || exp.GetNumSamples() != 300 || len(exp.GetLabels()) != 1 {
					t.Fatalf("explanation %v", exp)
				}
				atts := exp.GetLabels()[0].GetAttributions()
				if len(atts) != 4 || atts[0].GetIndex() != 0 || atts[0].GetWeight() <= 0 {
					t.Fatalf("attributions %v: want segment 0 first and positive", atts)
				}
				for _, a := range atts[1:] {
					if math.Abs(a.GetWeight()) > 0.1*atts[0].GetWeight() {
						t.Errorf("segment %d weight %v vs top-left %v", a.GetIndex(), a.GetWeight(), atts[0].GetWeight())
					}
				}
				seg := exp.GetSegments()
				if seg.GetHeight() != h || seg.GetWidth() != w || len(seg.GetLabels()) != h*w {
					t.Fatalf("segments %dx%d with %d labels", seg.GetHeight(), seg.GetWidth(), len(seg.GetLabels()))
				}
				for y := range h {
					for x := range w {
						if want := uint32(y/8*2 + x/8); seg.GetLabels()[y*w+x] != want {
							t.Fatalf("segment of (%d,%d) = %d, want %d", y, x, seg.GetLabels()[y*w+x], want)
						}
					}
				}
				wantShape := []int{h, w, c}
				if chw {
					wantShape = []int{c, h, w}
				}
				if got := mdl.fake.LastShape(); !slices.Equal(got, wantShape) {
					t.Errorf("model saw instance shape %v, want %v", got, wantShape)
				}
				// The first row is the image itself, in the request's layout:
				// e.g. channel 2 of pixel (3, 5) at (2·16+3)·16+5 in CHW.
				q.mu.Lock()
				first := q.first
				q.mu.Unlock()
				for i, v := range values {
					if first[i] != float64(v) {
						t.Fatalf("model row 0 value %d = %v, want %v", i, first[i], v)
					}
				}
				pix := hwc[(3*w+5)*c+2]
				at := (3*w+5)*c + 2
				if chw {
					at = (2*h+3)*w + 5
				}
				if first[at] != float64(pix) {
					t.Errorf("pixel (3,5) channel 2 at %d = %v, want %v", at, first[at], pix)
				}
			})
		}
	}
}

// imageLinearScore scores class 1 as Σ wᵢxᵢ and class 0 as 0.
func imageLinearScore(weights []float64) predictortest.ScoreFunc {
	return func(rows [][]float64) [][]float64 {
		out := make([][]float64, len(rows))
		for i, r := range rows {
			var s float64
			for j, v := range r {
				s += weights[j] * v
			}
			out[i] = []float64{0, s}
		}
		return out
	}
}

func occlusionRequest(values []float32, h, w, c int, edit func(*explainerv1.OcclusionOptions)) *explainerv1.ExplainRequest {
	o := &explainerv1.OcclusionOptions{Window: []uint32{1, 1}, Labels: []uint32{1}}
	if edit != nil {
		edit(o)
	}
	return &explainerv1.ExplainRequest{
		Model: "model",
		Instance: &explainerv1.Instance{Kind: &explainerv1.Instance_Image{Image: &explainerv1.ImageInstance{
			Height: uint32(h), Width: uint32(w), Channels: uint32(c), Values: values,
		}}},
		Method: &explainerv1.ExplainRequest_Occlusion{Occlusion: o},
	}
}

// closedForm is the occlusion map of the linear model with 1×1 windows and
// baseline 0: each pixel's Σ_c w·x.
func closedForm(weights []float64, values []float32, h, w, c int) []float64 {
	want := make([]float64, h*w)
	for p := range want {
		for ch := range c {
			want[p] += weights[p*c+ch] * float64(values[p*c+ch])
		}
	}
	return want
}

func TestOcclusionLinearClosedForm(t *testing.T) {
	const h, w, c = 4, 5, 2
	values := testImage(h, w, c, 2)
	rng := rand.New(rand.NewPCG(3, 4))
	weights := make([]float64, h*w*c)
	for i := range weights {
		weights[i] = rng.Float64()*2 - 1
	}
	want := closedForm(weights, values, h, w, c)
	// predict.v1 carries float64 scores: exact but for the order of sums.
	// KServe's FP32 output rounds each score (|f| < 10) to about 1e-6.
	tol := map[string]float64{"predictv1": 1e-9, "kserve": 1e-5}
	for proto, mdl := range imageModels(t, imageLinearScore(weights), h*w*c, nil) {
		t.Run(proto, func(t *testing.T) {
			sc := startSidecar(t, mdl.newClient)
			resp, err := sc.client.Explain(context.Background(), occlusionRequest(values, h, w, c, nil))
			if err != nil {
				t.Fatal(err)
			}
			exp := resp.GetExplanation()
			if exp.GetMethod() != "occlusion" || len(exp.GetMaps()) != 1 || exp.GetNumSamples() != h*w+1 {
				t.Fatalf("explanation %v", exp)
			}
			if l := exp.GetLabels(); len(l) != 1 || l[0].GetLabel() != 1 {
				t.Fatalf("labels %v", l)
			}
			if exp.GetBandsDone() != h || exp.GetBandsTotal() != h {
				t.Errorf("bands %d/%d, want %d/%d", exp.GetBandsDone(), exp.GetBandsTotal(), h, h)
			}
			m := exp.GetMaps()[0]
			if m.GetLabel() != 1 || m.GetHeight() != h || m.GetWidth() != w || len(m.GetValues()) != h*w {
				t.Fatalf("map %v", m)
			}
			for p, v := range m.GetValues() {
				if math.Abs(v-want[p]) > tol[proto] {
					t.Errorf("pixel %d = %v, want %v", p, v, want[p])
				}
			}
			if got := mdl.fake.LastShape(); !slices.Equal(got, []int{h, w, c}) {
				t.Errorf("model saw instance shape %v, want [%d %d %d]", got, h, w, c)
			}
		})
	}
}

func TestOcclusionStreamsBands(t *testing.T) {
	const h, w, c = 6, 5, 2
	values := testImage(h, w, c, 5)
	weights := make([]float64, h*w*c)
	for i := range weights {
		weights[i] = float64(i%7+1) / 7
	}
	_, newClient := predictV1Model(t, func(p *predictortest.PredictServer) {
		p.Score, p.NumFeatures = imageLinearScore(weights), h*w*c
		p.MaxBatchSize = 5
		p.Delay = 10 * time.Millisecond
	})
	sc := startSidecar(t, newClient, WithInFlight(1))
	// Default target: the top label (class 1 here, its score is positive).
	req := occlusionRequest(values, h, w, c, func(o *explainerv1.OcclusionOptions) { o.Labels = nil })
	unary, err := sc.client.Explain(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if unary.GetExplanation().GetInstanceScores()[1] <= 0 {
		t.Fatal("test model must score class 1 above class 0")
	}
	stream, err := sc.client.ExplainStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(startJob("occ", req)); err != nil {
		t.Fatal(err)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	var partials []*explainerv1.Explanation
	var final *explainerv1.Explanation
	for {
		msg, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch ev := msg.GetEvent().(type) {
		case *explainerv1.ExplainStreamResponse_Partial:
			partials = append(partials, ev.Partial)
		case *explainerv1.ExplainStreamResponse_Result:
			final = ev.Result
		case *explainerv1.ExplainStreamResponse_Error:
			t.Fatalf("job failed: %v", ev.Error)
		}
	}
	if final == nil {
		t.Fatal("no result")
	}
	if len(partials) < 2 {
		t.Fatalf("%d partial results, want several", len(partials))
	}
	want := unary.GetExplanation().GetMaps()[0].GetValues()
	if got := final.GetMaps()[0].GetValues(); !slices.Equal(got, want) {
		t.Errorf("streamed maps %v, unary %v", got, want)
	}
	last := uint32(0)
	for _, p := range partials {
		if p.GetBandsTotal() != h || p.GetBandsDone() <= last || p.GetBandsDone() > h {
			t.Fatalf("partial bands %d/%d after %d", p.GetBandsDone(), p.GetBandsTotal(), last)
		}
		last = p.GetBandsDone()
		m := p.GetMaps()[0]
		if m.GetLabel() != 1 {
			t.Errorf("partial map label %d, want 1", m.GetLabel())
		}
		// Rows of finished bands are final.
		done := int(p.GetBandsDone()) * w
		if !slices.Equal(m.GetValues()[:done], want[:done]) {
			t.Errorf("partial at band %d: finished rows differ from the result", p.GetBandsDone())
		}
	}
}

func TestImageRequestsRejected(t *testing.T) {
	const h, w, c = 8, 8, 3
	good := testImage(h, w, c, 9)
	nan := slices.Clone(good)
	nan[5] = float32(math.NaN())
	image := func(r *explainerv1.ExplainRequest) *explainerv1.ImageInstance { return r.GetInstance().GetImage() }
	tests := []struct {
		name string
		req  func() *explainerv1.ExplainRequest
		msg  string
	}{
		{"no image", func() *explainerv1.ExplainRequest {
			r := limeImageRequest(good, h, w, c, 0, nil)
			r.Instance = nil
			return r
		}, "instance.image: required"},
		{"zero height", func() *explainerv1.ExplainRequest {
			r := limeImageRequest(good, h, w, c, 0, nil)
			image(r).Height = 0
			return r
		}, "instance.image.height"},
		{"too many pixels", func() *explainerv1.ExplainRequest {
			r := occlusionRequest(good, h, w, c, nil)
			image(r).Height, image(r).Width = 4096, 4096
			return r
		}, "instance.image: height × width"},
		{"channels", func() *explainerv1.ExplainRequest {
			r := occlusionRequest(good, h, w, c, nil)
			image(r).Channels = 5
			return r
		}, "instance.image.channels"},
		{"value count", func() *explainerv1.ExplainRequest {
			return occlusionRequest(good[:10], h, w, c, nil)
		}, "instance.image.values: has 10 values"},
		{"NaN", func() *explainerv1.ExplainRequest {
			return limeImageRequest(nan, h, w, c, 0, nil)
		}, "instance.image.values[5]: not finite"},
		{"window larger than the image", func() *explainerv1.ExplainRequest {
			return occlusionRequest(good, h, w, c, func(o *explainerv1.OcclusionOptions) { o.Window = []uint32{9, 2} })
		}, "occlusion.window[0]: 9 is outside [1, 8]"},
		{"stride zero", func() *explainerv1.ExplainRequest {
			return occlusionRequest(good, h, w, c, func(o *explainerv1.OcclusionOptions) { o.Strides = []uint32{1, 0} })
		}, "occlusion.strides[1]"},
		{"occlusion label", func() *explainerv1.ExplainRequest {
			return occlusionRequest(good, h, w, c, func(o *explainerv1.OcclusionOptions) { o.Labels = []uint32{2} })
		}, "occlusion.labels[0]"},
		{"too many samples", func() *explainerv1.ExplainRequest {
			return limeImageRequest(good, h, w, c, 0, func(o *explainerv1.LimeImageOptions) { o.NumSamples = 200000 })
		}, "lime_image.num_samples: 200000 is outside [2, 100000]"},
		{"too many mask values", func() *explainerv1.ExplainRequest {
			return limeImageRequest(testImage(100, 100, 1, 1), 100, 100, 1, 0, func(o *explainerv1.LimeImageOptions) {
				o.NumSamples = 2001
				o.Segmentation = &explainerv1.Segmentation{Kind: &explainerv1.Segmentation_Grid{Grid: &explainerv1.GridSegmentation{Rows: 100, Cols: 100}}}
			})
		}, "lime_image.num_samples: 2001 samples × 10000 segments exceeds limit 20000000"},
		{"slic compactness", func() *explainerv1.ExplainRequest {
			return limeImageRequest(good, h, w, c, 0, func(o *explainerv1.LimeImageOptions) {
				o.Segmentation = &explainerv1.Segmentation{Kind: &explainerv1.Segmentation_Slic{Slic: &explainerv1.SlicSegmentation{Compactness: math.Inf(1)}}}
			})
		}, "lime_image.segmentation.slic.compactness"},
		{"window shape", func() *explainerv1.ExplainRequest {
			return occlusionRequest(good, h, w, c, func(o *explainerv1.OcclusionOptions) { o.Window = []uint32{1, 1, 3} })
		}, "occlusion.window: has 3 values"},
		{"grid rows", func() *explainerv1.ExplainRequest {
			return limeImageRequest(good, h, w, c, 0, func(o *explainerv1.LimeImageOptions) {
				o.Segmentation = &explainerv1.Segmentation{Kind: &explainerv1.Segmentation_Grid{Grid: &explainerv1.GridSegmentation{Rows: 9, Cols: 2}}}
			})
		}, "lime_image.segmentation.grid.rows"},
		{"slic segments", func() *explainerv1.ExplainRequest {
			return limeImageRequest(good, h, w, c, 0, func(o *explainerv1.LimeImageOptions) {
				o.Segmentation = &explainerv1.Segmentation{Kind: &explainerv1.Segmentation_Slic{Slic: &explainerv1.SlicSegmentation{NumSegments: 20000}}}
			})
		}, "lime_image.segmentation.slic.num_segments"},
		{"blur sigma", func() *explainerv1.ExplainRequest {
			return limeImageRequest(good, h, w, c, 0, func(o *explainerv1.LimeImageOptions) {
				o.Fill = &explainerv1.Fill{Kind: explainerv1.FillKind_FILL_KIND_BLUR, Value: -1}
			})
		}, "lime_image.fill.value"},
		{"lime label", func() *explainerv1.ExplainRequest {
			return limeImageRequest(good, h, w, c, 0, func(o *explainerv1.LimeImageOptions) { o.Labels = []uint32{3} })
		}, "lime_image.labels[0]"},
	}
	fake, newClient := predictV1Model(t, func(p *predictortest.PredictServer) { p.NumFeatures = 0 })
	sc := startSidecar(t, newClient)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sc.client.Explain(context.Background(), tc.req())
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), tc.msg) {
				t.Errorf("err = %v, want INVALID_ARGUMENT containing %q", err, tc.msg)
			}
		})
	}
	if fake.Calls() != 0 {
		t.Errorf("rejected requests made %d model calls", fake.Calls())
	}
}

func TestImageMethodsOtherFills(t *testing.T) {
	const h, w, c = 16, 16, 3
	q := &quarterModel{}
	_, newClient := predictV1Model(t, func(p *predictortest.PredictServer) { p.Score, p.NumFeatures = q.score, h*w*c })
	sc := startSidecar(t, newClient)
	values := testImage(h, w, c, 11)
	for _, fill := range []*explainerv1.Fill{
		{Kind: explainerv1.FillKind_FILL_KIND_MEAN},
		{Kind: explainerv1.FillKind_FILL_KIND_BLUR},
		{Kind: explainerv1.FillKind_FILL_KIND_SEGMENT_MEAN},
	} {
		req := limeImageRequest(values, h, w, c, 0, func(o *explainerv1.LimeImageOptions) {
			o.Fill = fill
			o.Segmentation = &explainerv1.Segmentation{Kind: &explainerv1.Segmentation_Slic{Slic: &explainerv1.SlicSegmentation{NumSegments: 8}}}
		})
		resp, err := sc.client.Explain(context.Background(), req)
		if err != nil {
			t.Fatalf("fill %v: %v", fill.GetKind(), err)
		}
		if n := len(resp.GetExplanation().GetSegments().GetLabels()); n != h*w {
			t.Errorf("fill %v: %d segment labels", fill.GetKind(), n)
		}
	}
}

func TestOcclusionCancelLeavesModelIdle(t *testing.T) {
	// 24×24 pixels with 1×1 windows: 577 images in batches of 4, two at a
	// time, 10 ms each — seconds of work unless the cancel stops it.
	fake := predictortest.NewPredictServer(predictortest.Logistic([]float64{0.01}, 0))
	fake.MaxBatchSize = 4
	fake.Delay = 10 * time.Millisecond
	ts := predictortest.NewBufconnServer(fake)
	defer ts.Close()
	sc := startSidecar(t, func(m string) predictor.Client { return predictor.NewPredictV1(ts.Conn, m) }, WithInFlight(2))
	stream, err := sc.client.ExplainStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(startJob("occ", occlusionRequest(testImage(24, 24, 1, 1), 24, 24, 1, nil))); err != nil {
		t.Fatal(err)
	}
	cancelOnFirstProgress(t, stream, "occ", fake)
	if fake.Rows() >= 577 {
		t.Errorf("the model scored all %d images despite the cancel", fake.Rows())
	}
}

// TestMaxBatchBytesSplitsImageBatches: a 64×64×3 image counts 98 304 bytes
// per row (8 per value), so the default 3 MiB carries 32 rows per model
// call and a 200 000-byte cap carries 2.
func TestMaxBatchBytesSplitsImageBatches(t *testing.T) {
	const h, w, c, samples = 64, 64, 3, 40
	for _, tc := range []struct {
		name      string
		opts      []Option
		wantCalls int
	}{
		{"default 3 MiB", nil, 2},                                  // ⌈40/32⌉
		{"200000 bytes", []Option{WithMaxBatchBytes(200_000)}, 20}, // ⌈40/2⌉
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake, newClient := predictV1Model(t, func(p *predictortest.PredictServer) {
				p.Score, p.NumFeatures, p.MaxBatchSize = imageLinearScore(make([]float64, h*w*c)), h*w*c, 64
			})
			sc := startSidecar(t, newClient, tc.opts...)
			req := limeImageRequest(testImage(h, w, c, 2), h, w, c, explainerv1.ImageLayout_IMAGE_LAYOUT_HWC, func(o *explainerv1.LimeImageOptions) { o.NumSamples = samples })
			if _, err := sc.client.Explain(context.Background(), req); err != nil {
				t.Fatal(err)
			}
			if got := fake.Calls(); got != tc.wantCalls {
				t.Errorf("%d model calls for %d images, want %d", got, samples, tc.wantCalls)
			}
		})
	}
}

// TestImageSizeCheckedAgainstTritonShape: a KServe model whose input is
// [-1, 1, 8, 8] takes 64 values per image, and a 7×7 image is refused by
// the sidecar, naming both sizes, before any model call.
func TestImageSizeCheckedAgainstTritonShape(t *testing.T) {
	fake, newClient := kserveModel(t, func(k *predictortest.KServeServer) {
		k.InstanceShape, k.NumFeatures, k.Score = []int64{1, 8, 8}, 0, imageLinearScore(make([]float64, 64))
	})
	sc := startSidecar(t, newClient)
	_, err := sc.client.Explain(context.Background(), occlusionRequest(testImage(7, 7, 1, 1), 7, 7, 1, nil))
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "has 49 values, the model takes 64") {
		t.Fatalf("got %v, want INVALID_ARGUMENT naming 49 and 64 values", err)
	}
	if fake.Calls() != 0 {
		t.Errorf("%d model calls for a refused image", fake.Calls())
	}
	if _, err := sc.client.Explain(context.Background(), occlusionRequest(testImage(8, 8, 1, 1), 8, 8, 1, nil)); err != nil {
		t.Errorf("an 8×8 image: %v", err)
	}
}

// TestImageMethodsOnHalfAndByteModels: image models on Triton often take
// UINT8 pixels or FP16 tensors. LIME and occlusion run on both; with whole
// pixel values (exact in all three types) the explanations equal those of
// an FP32 model, and a call of the same bytes carries twice (FP16) or four
// times (UINT8) the images.
func TestImageMethodsOnHalfAndByteModels(t *testing.T) {
	const h, w = 8, 8
	img := testImage(h, w, 1, 3)
	for i := range img {
		img[i] = float32(math.Round(float64(img[i]) * 255))
	}
	weights := make([]float64, h*w)
	for i := range weights {
		weights[i] = float64(i%5-2) / 100
	}
	requests := map[string]*explainerv1.ExplainRequest{
		"lime_image": limeImageRequest(img, h, w, 1, explainerv1.ImageLayout_IMAGE_LAYOUT_HWC, func(o *explainerv1.LimeImageOptions) { o.NumSamples = 200 }),
		"occlusion":  occlusionRequest(img, h, w, 1, nil),
	}
	want := map[string]*explainerv1.Explanation{}
	for _, tc := range []struct {
		datatype string
		perCall  int // images in a call of 64 × 4 × 10 bytes
	}{
		{predictor.FP32, 10}, {predictor.FP16, 20}, {predictor.UINT8, 40},
	} {
		t.Run(tc.datatype, func(t *testing.T) {
			for _, method := range []string{"lime_image", "occlusion"} {
				fake, newClient := kserveModel(t, func(k *predictortest.KServeServer) {
					k.InstanceShape, k.NumFeatures, k.Score = []int64{h, w, 1}, 0, imageLinearScore(weights)
					k.InputDatatype = tc.datatype
				})
				sc := startSidecar(t, newClient, WithMaxBatchBytes(h*w*4*10))
				resp, err := sc.client.Explain(context.Background(), requests[method])
				if err != nil {
					t.Fatalf("%s: %v", method, err)
				}
				got := resp.GetExplanation()
				if fake.MaxBatch() != tc.perCall {
					t.Errorf("%s: calls of up to %d images, want %d", method, fake.MaxBatch(), tc.perCall)
				}
				if tc.datatype == predictor.FP32 {
					want[method] = got
				} else if want[method] != nil {
					sameExplanation(t, method, got, want[method])
				}
			}
		})
	}
}
