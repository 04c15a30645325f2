package server

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/explainer-sidecar/explainer/predictor/predictortest"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
	"github.com/explainer-sidecar/explainer/sampler"
)

// separatedBackground is sampler's integerBlobs(2000, 30, 10) (the
// scikit-learn fixture's data): 10 clusters of 200 rows, at least 40 apart
// against a noise within ±1, so that every good k-means run finds the same
// clusters whatever its seed.
func separatedBackground() [][]float64 {
	const n, p, k = 2000, 30, 10
	x := make([][]float64, n)
	for i := range x {
		c := i % k
		x[i] = make([]float64, p)
		for j := range x[i] {
			x[i][j] = float64(40*((c*7+j*3)%11)) + float64((i*7919+j*104729+c*15485863)%2001-1000)/1000
		}
	}
	return x
}

// KernelSHAP with a kmeans:10 summary of a 2000-row background scores 10
// background rows per coalition, and its attributions still add up to
// f(x) − E_w[f(summary)].
func TestKernelSHAPBackgroundSummary(t *testing.T) {
	bg := separatedBackground()
	w := make([]float64, 30)
	for j := range w {
		w[j] = 0.004 * float64(j%5-2) // keeps σ(w·x) away from 0 and 1 on these data
	}
	score := predictortest.Logistic(w, 0.1)
	instance := []float64{200, 10, 390, 40, 120, 0, 300, 80, 5, 160, 240, 30, 0, 400, 70, 10, 200, 350, 90, 20, 0, 100, 260, 330, 50, 60, 180, 210, 15, 390}
	const coalitions = 200
	// On these data the summary is unique: computed here with any seed, it
	// is the server's.
	rows, weights, err := sampler.SummarizeKMeans(bg, 10, rand.New(rand.NewPCG(99, 99)))
	if err != nil {
		t.Fatal(err)
	}
	var base float64
	for i, s := range score(rows) {
		base += weights[i] * s[1]
	}

	for _, tc := range []struct {
		name    string
		summary *explainerv1.BackgroundSummary
		base    float64 // NaN: not known here
	}{
		{"kmeans:10", &explainerv1.BackgroundSummary{Kind: &explainerv1.BackgroundSummary_Kmeans{Kmeans: 10}}, base},
		{"sample:10", &explainerv1.BackgroundSummary{Kind: &explainerv1.BackgroundSummary_Sample{Sample: 10}}, math.NaN()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake, newClient := predictV1Model(t, func(p *predictortest.PredictServer) {
				p.NumFeatures, p.Score, p.MaxBatchSize = 30, score, 0
			})
			sc := startSidecar(t, newClient)
			resp, err := sc.client.Explain(context.Background(), kernelSHAPRequest(instance, bg, func(o *explainerv1.KernelShapOptions) {
				o.BackgroundSummary = tc.summary
				o.NumSamples = coalitions
				o.Labels = []uint32{1}
			}))
			if err != nil {
				t.Fatal(err)
			}
			// The instance, the summary (the base value), then the summary
			// once per coalition.
			n := fake.Rows()
			if (n-1)%10 != 0 || (n-1)/10-1 < 1 || (n-1)/10-1 > coalitions {
				t.Errorf("the model scored %d rows: want 1 + 10·(1 + coalitions) for at most %d coalitions", n, coalitions)
			}
			t.Logf("%d rows in %d calls: %d coalitions × 10 summary rows (without the summary: %d rows)", n, fake.Calls(), (n-1)/10-1, 1+2000*((n-1)/10))
			exp := resp.GetExplanation()
			l := exp.GetLabels()[0]
			fx := score([][]float64{instance})[0][1]
			// float64 on the wire both ways: f(x) exactly; the base value is a
			// weighted sum of 10 terms in another order: relative 1e-12.
			if l.GetModelValue() != fx {
				t.Errorf("f(x) = %v, want %v", l.GetModelValue(), fx)
			}
			if !math.IsNaN(tc.base) && math.Abs(l.GetBaseValue()-tc.base) > 1e-12*math.Abs(tc.base) {
				t.Errorf("base value %v, want E_w[f(summary)] = %v", l.GetBaseValue(), tc.base)
			}
			var sum float64
			for _, a := range l.GetAttributions() {
				sum += a.GetWeight()
			}
			// The solve enforces Σφ = f(x) − base as a constraint: only
			// rounding is left (the project's 1e-9 for efficiency).
			if d := math.Abs(sum - (l.GetModelValue() - l.GetBaseValue())); d > 1e-9 {
				t.Errorf("Σφ = %v, f(x) − E_w[f(summary)] = %v", sum, l.GetModelValue()-l.GetBaseValue())
			}
		})
	}
}

func TestKernelSHAPBackgroundSummaryRejects(t *testing.T) {
	kmeans := func(k uint32) *explainerv1.BackgroundSummary {
		return &explainerv1.BackgroundSummary{Kind: &explainerv1.BackgroundSummary_Kmeans{Kmeans: k}}
	}
	sample := func(k uint32) *explainerv1.BackgroundSummary {
		return &explainerv1.BackgroundSummary{Kind: &explainerv1.BackgroundSummary_Sample{Sample: k}}
	}
	rows := func(n int) [][]float64 {
		out := make([][]float64, n)
		for i := range out {
			out[i] = []float64{float64(i), float64(i % 7), 1, 2, float64(i % 3)}
		}
		return out
	}
	tabular := func(n int, s *explainerv1.BackgroundSummary, edit func(*explainerv1.KernelShapOptions)) func() *explainerv1.ExplainRequest {
		return func() *explainerv1.ExplainRequest {
			return kernelSHAPRequest(testInstance, rows(n), func(o *explainerv1.KernelShapOptions) {
				o.BackgroundSummary = s
				if edit != nil {
					edit(o)
				}
			})
		}
	}
	tests := []struct {
		name string
		req  func() *explainerv1.ExplainRequest
		msg  string
	}{
		{"a large background without a summary", tabular(1001, nil, nil),
			"kernel_shap.background.num_rows: 1001 is outside [1, 1000]; summarise a larger background with background_summary"},
		{"a background over the summary's limit", tabular(MaxSummarizedBackgroundRows+1, sample(10), nil),
			"kernel_shap.background.num_rows: 100001 is outside [1, 100000] with background_summary"},
		{"kmeans 0", tabular(50, kmeans(0), nil), "kernel_shap.background_summary.kmeans: 0 is outside [1, 1000]"},
		{"sample 1001", tabular(2000, sample(1001), nil), "kernel_shap.background_summary.sample: 1001 is outside [1, 1000]"},
		{"K above the rows", tabular(50, kmeans(51), nil), "kernel_shap.background_summary.kmeans: 51 is more than the background's 50 rows"},
		{"weights with a summary", tabular(50, sample(5), func(o *explainerv1.KernelShapOptions) {
			o.Background.Weights = make([]float64, 50)
			o.Background.Weights[0] = 1
		}), "kernel_shap.background.weights: must be empty with background_summary"},
		{"k-means over its work cap", tabular(100_000, kmeans(21), nil),
			"kernel_shap.background_summary.kmeans: rows × K × features = 100000 × 21 × 5 exceeds 10000000"},
		{"a text", func() *explainerv1.ExplainRequest {
			return &explainerv1.ExplainRequest{
				Model:    "model",
				Instance: &explainerv1.Instance{Kind: &explainerv1.Instance_Text{Text: &explainerv1.TextInstance{Text: "good food"}}},
				Method:   &explainerv1.ExplainRequest_KernelShap{KernelShap: &explainerv1.KernelShapOptions{BackgroundSummary: kmeans(2)}},
			}
		}, "kernel_shap.background_summary: only for tabular instances"},
		{"an image", func() *explainerv1.ExplainRequest {
			return &explainerv1.ExplainRequest{
				Model:    "model",
				Instance: &explainerv1.Instance{Kind: &explainerv1.Instance_Image{Image: &explainerv1.ImageInstance{Height: 4, Width: 4, Channels: 1, Values: make([]float32, 16)}}},
				Method:   &explainerv1.ExplainRequest_KernelShap{KernelShap: &explainerv1.KernelShapOptions{BackgroundSummary: sample(2)}},
			}
		}, "kernel_shap.background_summary: only for tabular instances"},
	}
	fake, newClient := predictV1Model(t, func(p *predictortest.PredictServer) {
		p.NumFeatures = 0 // the image and the text too
		p.TextScore = func(texts []string) [][]float64 { return make([][]float64, len(texts)) }
	})
	sc := startSidecar(t, newClient)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sc.client.Explain(context.Background(), tt.req())
			st := status.Convert(err)
			if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), tt.msg) {
				t.Fatalf("got %v %q, want InvalidArgument containing %q", st.Code(), st.Message(), tt.msg)
			}
			if fake.Calls() != 0 {
				t.Errorf("a rejected request cost %d model calls", fake.Calls())
			}
		})
	}
}
