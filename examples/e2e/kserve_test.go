package e2e

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
	kservev2 "github.com/explainer-sidecar/explainer/proto/kserve/v2"
	predictv1 "github.com/explainer-sidecar/explainer/proto/predict/v1"
)

// The KServe v2 server hosts digits_cnn (FP32 [N, 1, 8, 8] images) and
// sentiment (BYTES [N, 1] texts), each with max_batch_size kserveMaxBatch.

// TestTextSentiment explains the sentiment model's verdict on two obvious
// sentences with each text method: the explained class is the model's own
// prediction, the scores are the model's, and the word that pushes hardest
// toward the verdict is one of the sentence's sentiment words.
func TestTextSentiment(t *testing.T) {
	t.Parallel()
	s := kserveStack(t)
	sentences := []struct {
		text  string
		label int
		words []string
	}{
		{"the food was wonderful and the staff were friendly", 1, []string{"wonderful", "friendly"}},
		{"terrible service and awful food", 0, []string{"terrible", "awful"}},
	}
	seed := uint64(11)
	methods := []struct {
		name string
		set  func(*explainerv1.ExplainRequest)
	}{
		{"lime_text", func(r *explainerv1.ExplainRequest) {
			r.Method = &explainerv1.ExplainRequest_LimeText{LimeText: &explainerv1.LimeTextOptions{NumSamples: 500, Seed: &seed}}
		}},
		{"occlusion", func(r *explainerv1.ExplainRequest) {
			r.Method = &explainerv1.ExplainRequest_Occlusion{Occlusion: &explainerv1.OcclusionOptions{}}
		}},
		{"kernelshap_text", func(r *explainerv1.ExplainRequest) {
			r.Method = &explainerv1.ExplainRequest_KernelShap{KernelShap: &explainerv1.KernelShapOptions{Seed: &seed}}
		}},
	}
	for _, sen := range sentences {
		direct := inferTexts(t, s, sen.text)[0]
		if argmax(direct) != sen.label || direct[sen.label] <= 0.9 {
			t.Fatalf("the model server scores %q as %v: want class %d above 0.9 (the server's contract)", sen.text, direct, sen.label)
		}
		for _, m := range methods {
			t.Run(fmt.Sprintf("%s/%s", m.name, strings.Fields(sen.text)[0]), func(t *testing.T) {
				req := &explainerv1.ExplainRequest{
					Model:    "sentiment",
					Instance: &explainerv1.Instance{Kind: &explainerv1.Instance_Text{Text: &explainerv1.TextInstance{Text: sen.text}}},
				}
				m.set(req)
				exp, _ := explainStream(t, s.sidecar.client, req)
				checkBatching(t, exp, kserveMaxBatch)
				checkScores(t, "instance_scores", exp.GetInstanceScores(), direct, 1e-6)
				if len(exp.GetLabels()) != 1 || int(exp.GetLabels()[0].GetLabel()) != sen.label {
					t.Fatalf("explained labels %v, want the model's prediction %d", exp.GetLabels(), sen.label)
				}
				le := exp.GetLabels()[0]
				top := slices.MaxFunc(le.GetAttributions(), cmpWeight)
				if top.GetWeight() <= 0 || !slices.Contains(sen.words, top.GetFeature()) {
					t.Errorf("top attribution %q (%v), want one of %q, positive", top.GetFeature(), top.GetWeight(), sen.words)
				}
				for _, a := range le.GetAttributions() {
					for _, sp := range a.GetSpans() {
						if sp.GetEnd() > uint32(len(sen.text)) || sen.text[sp.GetStart():sp.GetEnd()] != a.GetFeature() {
							t.Errorf("attribution %q has span %v", a.GetFeature(), sp)
						}
					}
				}
				if m.name == "kernelshap_text" {
					var phi float64
					for _, a := range le.GetAttributions() {
						phi += a.GetWeight()
					}
					if d := phi - (le.GetModelValue() - le.GetBaseValue()); math.Abs(d) > 1e-6 ||
						math.Abs(le.GetModelValue()-direct[sen.label]) > 1e-6 {
						t.Errorf("Σφ %v, model_value %v, base_value %v: want Σφ = model_value − base_value and model_value %v",
							phi, le.GetModelValue(), le.GetBaseValue(), direct[sen.label])
					}
				}
				t.Logf("top %q %.4f; %d samples in %d calls", top.GetFeature(), top.GetWeight(), exp.GetNumSamples(), exp.GetModelCalls())
			})
		}
	}
}

// cmpWeight orders attributions by weight, for slices.MaxFunc.
func cmpWeight(a, b *explainerv1.Attribution) int { return cmp.Compare(a.GetWeight(), b.GetWeight()) }

func imageInstance(d digit) *explainerv1.Instance {
	vals := make([]float32, len(d.Pixels))
	for i, v := range d.Pixels {
		vals[i] = float32(v)
	}
	return &explainerv1.Instance{Kind: &explainerv1.Instance_Image{Image: &explainerv1.ImageInstance{
		Height: uint32(d.Height), Width: uint32(d.Width), Channels: 1,
		Layout: explainerv1.ImageLayout_IMAGE_LAYOUT_CHW, Values: vals,
	}}}
}

// TestImageDigits explains the CNN's verdict on digit images with LIME and
// occlusion, sent as FP32 NCHW tensors: the explained class is the model's
// own prediction and the true digit, the scores are the model's, and the
// attribution sits where the digit's ink is. Hidden and occluded pixels
// take the value 0, the background's, so covering blank paper changes
// nothing the model sees: all the attribution must come from the ink.
func TestImageDigits(t *testing.T) {
	t.Parallel()
	s := kserveStack(t)
	digits := loadDigits(t)
	var images [][]float64
	for _, d := range digits {
		images = append(images, d.Pixels)
	}
	direct := inferImages(t, s, images)
	for i, d := range digits {
		if got := argmax(direct[i]); got != d.Label {
			t.Fatalf("the model server classifies digits image %d (a %d) as %d: %v", d.Index, d.Label, got, direct[i])
		}
	}
	seed := uint64(5)
	for i, d := range digits {
		t.Run(fmt.Sprintf("lime_image/%d", d.Label), func(t *testing.T) {
			exp, _ := explainStream(t, s.sidecar.client, &explainerv1.ExplainRequest{
				Model:    "digits_cnn",
				Instance: imageInstance(d),
				Method: &explainerv1.ExplainRequest_LimeImage{LimeImage: &explainerv1.LimeImageOptions{
					Segmentation: &explainerv1.Segmentation{Kind: &explainerv1.Segmentation_Grid{Grid: &explainerv1.GridSegmentation{Rows: 4, Cols: 4}}},
					Fill:         &explainerv1.Fill{Kind: explainerv1.FillKind_FILL_KIND_CONSTANT, Value: 0},
					NumSamples:   400,
					Seed:         &seed,
				}},
			})
			checkBatching(t, exp, kserveMaxBatch)
			checkScores(t, "instance_scores", exp.GetInstanceScores(), direct[i], 1e-6)
			if len(exp.GetLabels()) != 1 || int(exp.GetLabels()[0].GetLabel()) != d.Label {
				t.Fatalf("explained labels %v, want the model's prediction %d", exp.GetLabels(), d.Label)
			}
			seg := exp.GetSegments().GetLabels()
			if len(seg) != len(d.Pixels) {
				t.Fatalf("segment map of %d pixels, want %d", len(seg), len(d.Pixels))
			}
			ink := map[uint32]float64{}
			for p, sgm := range seg {
				ink[sgm] += d.Pixels[p]
			}
			atts := exp.GetLabels()[0].GetAttributions()
			top := slices.MaxFunc(atts, cmpWeight)
			var onInk, onBlank float64
			for _, a := range atts {
				if ink[a.GetIndex()] > 0 {
					onInk += math.Abs(a.GetWeight())
				} else {
					onBlank += math.Abs(a.GetWeight())
				}
			}
			if top.GetWeight() <= 0 || ink[top.GetIndex()] == 0 || onInk <= onBlank {
				t.Errorf("top segment %d (weight %v, ink %v); Σ|weight| on inked segments %v, on blank ones %v: "+
					"want the top segment inked and most weight on ink", top.GetIndex(), top.GetWeight(), ink[top.GetIndex()], onInk, onBlank)
			}
			t.Logf("top segment %d weight %.4f; Σ|w| ink %.4f blank %.4f; %d samples in %d calls",
				top.GetIndex(), top.GetWeight(), onInk, onBlank, exp.GetNumSamples(), exp.GetModelCalls())
		})
		t.Run(fmt.Sprintf("occlusion/%d", d.Label), func(t *testing.T) {
			exp, _ := explainStream(t, s.sidecar.client, &explainerv1.ExplainRequest{
				Model:    "digits_cnn",
				Instance: imageInstance(d),
				Method: &explainerv1.ExplainRequest_Occlusion{Occlusion: &explainerv1.OcclusionOptions{
					Window: []uint32{2, 2}, Strides: []uint32{1, 1}, Baseline: 0,
				}},
			})
			checkBatching(t, exp, kserveMaxBatch)
			if exp.GetNumSamples() != 1+7*7 {
				t.Errorf("%d samples, want the image and 49 windows", exp.GetNumSamples())
			}
			checkScores(t, "instance_scores", exp.GetInstanceScores(), direct[i], 1e-6)
			if len(exp.GetMaps()) != 1 || int(exp.GetMaps()[0].GetLabel()) != d.Label {
				t.Fatalf("%d maps, want one for the model's prediction %d", len(exp.GetMaps()), d.Label)
			}
			attr := exp.GetMaps()[0].GetValues()
			if len(attr) != len(d.Pixels) {
				t.Fatalf("map of %d values, want %d", len(attr), len(d.Pixels))
			}
			// blank: no window covering the pixel holds ink, so occluding
			// any of them leaves the image as it is.
			blankAround := func(p int) bool {
				y, x := p/8, p%8
				for yy := max(0, y-1); yy <= min(7, y+1); yy++ {
					for xx := max(0, x-1); xx <= min(7, x+1); xx++ {
						if d.Pixels[yy*8+xx] > 0 {
							return false
						}
					}
				}
				return true
			}
			var inkMass, blankMass float64
			var inkN, blankN int
			for p, v := range attr {
				switch {
				case d.Pixels[p] > 0:
					inkMass += v
					inkN++
				default:
					blankMass += math.Abs(v)
					blankN++
				}
				if blankAround(p) && math.Abs(v) > 1e-4 {
					t.Errorf("pixel %d: no window covering it holds ink, yet its attribution is %v", p, v)
				}
			}
			if inkN == 0 || blankN == 0 || inkMass/float64(inkN) <= blankMass/float64(blankN) {
				t.Errorf("mean attribution on ink %v (%d pixels), mean |attribution| on blank %v (%d pixels): want more on the ink",
					inkMass/float64(inkN), inkN, blankMass/float64(blankN), blankN)
			}
			t.Logf("mean attribution ink %.4f, blank |.| %.4f; %d samples in %d calls",
				inkMass/float64(inkN), blankMass/float64(blankN), exp.GetNumSamples(), exp.GetModelCalls())
		})
	}
}

// TestMaxBatchSize: both model servers really reject a batch above their
// limit, and the sidecar never sent one: every job passed, and the calls
// it made (seen on its channel to the model server) were all within it.
func TestMaxBatchSize(t *testing.T) {
	t.Parallel()
	ks, sk := kserveStack(t), sklearnStack(t)
	cfg, err := kservev2.NewGRPCInferenceServiceClient(ks.sidecar.model).ModelConfig(ctxTimeout(t), &kservev2.ModelConfigRequest{Name: "digits_cnn"})
	if err != nil || cfg.GetConfig().GetMaxBatchSize() != kserveMaxBatch {
		t.Fatalf("ModelConfig: %v, %v: want max_batch_size %d", cfg, err, kserveMaxBatch)
	}
	d, err := predictv1.NewPredictServiceClient(sk.sidecar.model).Describe(ctxTimeout(t), &predictv1.DescribeRequest{})
	if err != nil || d.GetMaxBatchSize() != sklearnMaxBatch {
		t.Fatalf("Describe: %v, %v: want max_batch_size %d", d, err, sklearnMaxBatch)
	}

	// A batch one above the limit, sent directly, is refused.
	img := make([]byte, 4*64*(kserveMaxBatch+1))
	_, err = kservev2.NewGRPCInferenceServiceClient(ks.sidecar.model).ModelInfer(ctxTimeout(t), &kservev2.ModelInferRequest{
		ModelName: "digits_cnn",
		Inputs: []*kservev2.ModelInferRequest_InferInputTensor{{
			Name: "input__0", Datatype: "FP32", Shape: []int64{kserveMaxBatch + 1, 1, 8, 8},
		}},
		RawInputContents: [][]byte{img},
	})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("ModelInfer of %d images: %v, want INVALID_ARGUMENT", kserveMaxBatch+1, err)
	}
	rows := make([]float64, 30*(sklearnMaxBatch+1))
	_, err = predictv1.NewPredictServiceClient(sk.sidecar.model).Predict(ctxTimeout(t), &predictv1.PredictRequest{
		NumInstances: sklearnMaxBatch + 1, NumFeatures: 30, Values: rows,
	})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("Predict of %d rows: %v, want INVALID_ARGUMENT", sklearnMaxBatch+1, err)
	}

	// A job of many samples on each, through the sidecar; the other tests
	// run theirs in parallel, and the recorders see every call.
	seed := uint64(1)
	exp, _ := explainStream(t, ks.sidecar.client, &explainerv1.ExplainRequest{
		Model:    "digits_cnn",
		Instance: imageInstance(loadDigits(t)[0]),
		Method: &explainerv1.ExplainRequest_LimeImage{LimeImage: &explainerv1.LimeImageOptions{
			NumSamples: 300, Seed: &seed,
		}},
	})
	if exp.GetNumSamples() != 300 || exp.GetModelCalls() < 300/kserveMaxBatch {
		t.Errorf("%d samples in %d model calls, want 300 in at least %d", exp.GetNumSamples(), exp.GetModelCalls(), 300/kserveMaxBatch)
	}
	tab := loadBreastCancer(t)
	exp, _ = explainStream(t, sk.sidecar.client, &explainerv1.ExplainRequest{
		Instance: &explainerv1.Instance{Kind: &explainerv1.Instance_Tabular{Tabular: &explainerv1.TabularInstance{Values: tab.Rows[5]}}},
		Method: &explainerv1.ExplainRequest_Lime{Lime: &explainerv1.LimeOptions{
			NumSamples: 1000, Seed: &seed,
			Training: &explainerv1.TrainingData{Source: &explainerv1.TrainingData_Dataset{Dataset: dataset(tab, allRows(len(tab.Rows)))}},
		}},
	})
	if exp.GetNumSamples() != 1000 || exp.GetModelCalls() < 1000/sklearnMaxBatch {
		t.Errorf("%d samples in %d model calls, want 1000 in at least %d", exp.GetNumSamples(), exp.GetModelCalls(), 1000/sklearnMaxBatch)
	}
	for _, c := range []struct {
		name  string
		s     *stack
		limit int64
	}{{"kserve", ks, kserveMaxBatch}, {"sklearn", sk, sklearnMaxBatch}} {
		if m := c.s.sidecar.batches.maxBatch.Load(); m > c.limit || c.s.sidecar.batches.calls.Load() == 0 {
			t.Errorf("%s: the sidecar sent batches of up to %d rows in %d calls: want at most %d", c.name, m, c.s.sidecar.batches.calls.Load(), c.limit)
		}
	}
}

// TestImageDigitsHalfAndBytes explains a digit on the Python server's
// digits_uint8 (the CNN behind a UINT8 input of the digits' own 0..16
// pixels) and digits_fp16 (behind FP16 input and output tensors, as a
// TensorRT FP16 plan) with occlusion, against digits_cnn's FP32 map. The
// occluded pixels are 0 and the others whole sixteenths: exact in all
// three types, so the UINT8 model sees the FP32 model's input (its pixels
// × 16) and gives its scores; FP16 rounds the scores to halves (about 5e-4
// near 1).
func TestImageDigitsHalfAndBytes(t *testing.T) {
	t.Parallel()
	s := kserveStack(t)
	d := loadDigits(t)[0]
	occlusion := func(model string, scale float64) *explainerv1.Explanation {
		in := imageInstance(d)
		for i, v := range d.Pixels {
			in.GetImage().Values[i] = float32(v * scale)
		}
		exp, _ := explainStream(t, s.sidecar.client, &explainerv1.ExplainRequest{
			Model: model, Instance: in,
			Method: &explainerv1.ExplainRequest_Occlusion{Occlusion: &explainerv1.OcclusionOptions{
				Window: []uint32{2, 2}, Strides: []uint32{1, 1}, Labels: []uint32{uint32(d.Label)},
			}},
		})
		checkBatching(t, exp, kserveMaxBatch)
		if len(exp.GetMaps()) != 1 || len(exp.GetMaps()[0].GetValues()) != len(d.Pixels) {
			t.Fatalf("%s: maps %v", model, exp.GetMaps())
		}
		return exp
	}
	want := occlusion("digits_cnn", 1)
	for _, tc := range []struct {
		model string
		scale float64
		tol   float64
	}{{"digits_uint8", 16, 1e-6}, {"digits_fp16", 1, 2e-3}} {
		t.Run(tc.model, func(t *testing.T) {
			got := occlusion(tc.model, tc.scale)
			checkScores(t, "instance_scores", got.GetInstanceScores(), want.GetInstanceScores(), tc.tol)
			worst := 0.0
			for p, v := range got.GetMaps()[0].GetValues() {
				worst = max(worst, math.Abs(v-want.GetMaps()[0].GetValues()[p]))
			}
			if worst > tc.tol {
				t.Errorf("the map differs from the FP32 model's by up to %v, want ≤ %v", worst, tc.tol)
			}
			t.Logf("worst |Δ| from the FP32 map %.2g; %d images in %d calls", worst, got.GetNumSamples(), got.GetModelCalls())
		})
	}
}
