package explain

import (
	"context"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/explainer-sidecar/explainer/sampler"
)

// linearModel scores f(x) = b + w·x as a one-column output, or as two
// complementary columns σ(...) when logistic is set.
type linearModel struct {
	w        []float64
	b        float64
	logistic bool
	calls    int
}

func (m *linearModel) Predict(_ context.Context, rows [][]float64) ([][]float64, error) {
	m.calls++
	width := 1
	if m.logistic {
		width = 2
	}
	out := make([][]float64, len(rows))
	backing := make([]float64, width*len(rows))
	for i, r := range rows {
		out[i] = backing[i*width : (i+1)*width]
		s := m.b
		for j, v := range r {
			s += m.w[j] * v
		}
		if m.logistic {
			p := 1 / (1 + math.Exp(-s))
			out[i][0], out[i][1] = 1-p, p
		} else {
			out[i][0] = s
		}
	}
	return out, nil
}

// unitStats samples every feature as N(0, 1).
func unitStats(p int) *sampler.Stats {
	s := &sampler.Stats{Means: make([]float64, p), Stds: make([]float64, p)}
	for j := range s.Stds {
		s.Stds[j] = 1
	}
	return s
}

func TestLIMERecoversLinearModel(t *testing.T) {
	// With continuous sampling the interpretable features are (x − mean)/std
	// = x here, so a linear model is its own surrogate: ridge with α = 1 on
	// 5000 samples shrinks each coefficient by about 1/(1 + 1/Σπ), far below
	// the 1% tolerance.
	w := []float64{3, -2, 0.5, 0, -1, 4}
	m := &linearModel{w: w, b: 0.7}
	res, err := LIME(context.Background(), m, LIMERequest{
		Instance:     []float64{0.3, -0.2, 1, 0.5, 0, -1},
		Stats:        unitStats(len(w)),
		SurrogateFit: SurrogateFit{Selection: SelectNone, NumFeatures: len(w)},
		Sampling:     Sampling{Seed: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	if m.calls != 1 {
		t.Errorf("model called %d times, want 1 (batching is the model's job)", m.calls)
	}
	l := res.Labels[0]
	wantOrder := []int{5, 0, 1, 4, 2, 3} // by decreasing |w|
	for i, a := range l.Attributions {
		if a.Index != wantOrder[i] {
			t.Fatalf("attribution %d is feature %d, want %d (order by |weight|)", i, a.Index, wantOrder[i])
		}
		if math.Abs(a.Weight-w[a.Index]) > 0.01*math.Abs(w[a.Index])+1e-3 {
			t.Errorf("weight of feature %d = %v, want ≈ %v", a.Index, a.Weight, w[a.Index])
		}
	}
	if l.Score < 0.9999 {
		t.Errorf("weighted R² = %v, want ≈ 1 for a linear model", l.Score)
	}
	if math.Abs(l.LocalPrediction-l.Prediction) > 1e-2 {
		t.Errorf("local prediction %v, model %v", l.LocalPrediction, l.Prediction)
	}
}

func TestLIMEDiscretizedSignsFollowModel(t *testing.T) {
	// Quartile mode on data where feature 0 pushes class 1 up and feature 2
	// pushes it down: the instance sits in the top bin of both, so "being in
	// that bin" carries the sign of the coefficient.
	const n, p = 400, 4
	data := make([][]float64, n)
	for i := range data {
		data[i] = []float64{float64(i % 97), float64((i * 7) % 89), float64((i * 13) % 83), float64((i * 3) % 79)}
	}
	stats, err := sampler.StatsFromData(data, []string{"a", "b", "c", "d"}, nil, "quartile")
	if err != nil {
		t.Fatal(err)
	}
	m := &linearModel{w: []float64{0.08, 0, -0.08, 0.001}, b: 0, logistic: true}
	res, err := LIME(context.Background(), m, LIMERequest{
		Instance:     []float64{95, 40, 80, 10},
		FeatureNames: []string{"a", "b", "c", "d"},
		Stats:        stats,
		SurrogateFit: SurrogateFit{NumFeatures: 2},
		Targets:      Targets{Labels: []int{1}},
		Sampling:     Sampling{Seed: 3},
	})
	if err != nil {
		t.Fatal(err)
	}
	attrs := res.Labels[0].Attributions
	got := map[int]float64{}
	for _, a := range attrs {
		got[a.Index] = a.Weight
	}
	if len(attrs) != 2 || got[0] <= 0 || got[2] >= 0 {
		t.Fatalf("attributions %+v: want features 0 (positive) and 2 (negative)", attrs)
	}
	if res.Selection != SelectForward {
		t.Errorf("auto with 2 features resolved to %v, want forward_selection (lime's rule)", res.Selection)
	}
	for _, a := range attrs {
		if a.Index == 0 && !strings.HasPrefix(a.Description, "a > ") {
			t.Errorf("description %q, want lime's top-bin label \"a > ...\"", a.Description)
		}
	}
}

func TestLIMEDeterministic(t *testing.T) {
	req := LIMERequest{Instance: []float64{1, 2, 3}, Stats: unitStats(3), Sampling: Sampling{Seed: 42, NumSamples: 500}}
	m := &linearModel{w: []float64{1, -1, 0.1}, logistic: true}
	a, err := LIME(context.Background(), m, req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LIME(context.Background(), m, req)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed gave different results")
	}
	req.Seed = 43
	c, err := LIME(context.Background(), m, req)
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(a.Labels, c.Labels) {
		t.Fatal("different seeds gave identical results")
	}
}

func TestLIMELabels(t *testing.T) {
	m := &linearModel{w: []float64{2, 0}, b: 1, logistic: true} // instance scores ≈ [0.05, 0.95]
	base := LIMERequest{Instance: []float64{1, 0}, Stats: unitStats(2), Sampling: Sampling{Seed: 1, NumSamples: 100}}
	tests := []struct {
		name   string
		labels []int
		top    int
		want   []int
	}{
		{name: "default is the predicted class", want: []int{1}},
		{name: "explicit", labels: []int{0, 1}, want: []int{0, 1}},
		{name: "top labels, highest first", top: 2, want: []int{1, 0}},
		{name: "top labels beyond the class count", top: 5, want: []int{1, 0}},
		{name: "top labels win over labels", labels: []int{0}, top: 1, want: []int{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := base
			req.Labels, req.TopLabels = tt.labels, tt.top
			res, err := LIME(context.Background(), m, req)
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, l := range res.Labels {
				got = append(got, l.Label)
				if l.Prediction != res.InstanceScores[l.Label] {
					t.Errorf("label %d prediction %v, instance score %v", l.Label, l.Prediction, res.InstanceScores[l.Label])
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("labels %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLIMERejectsBadRequests(t *testing.T) {
	good := func() LIMERequest {
		return LIMERequest{Instance: []float64{1, 2}, Stats: unitStats(2), Sampling: Sampling{NumSamples: 10}}
	}
	tests := []struct {
		name  string
		edit  func(*LIMERequest)
		field string
	}{
		{"empty instance", func(r *LIMERequest) { r.Instance = nil }, "instance"},
		{"non-finite instance", func(r *LIMERequest) { r.Instance[1] = math.Inf(1) }, "instance[1]"},
		{"no stats", func(r *LIMERequest) { r.Stats = nil }, "training"},
		{"stats for another width", func(r *LIMERequest) { r.Stats = unitStats(3) }, "training"},
		{"one sample", func(r *LIMERequest) { r.NumSamples = 1 }, "num_samples"},
		{"too many samples", func(r *LIMERequest) { r.NumSamples = MaxNumSamples + 1 }, "num_samples"},
		{"negative kernel width", func(r *LIMERequest) { r.KernelWidth = -1 }, "kernel_width"},
		{"feature names length", func(r *LIMERequest) { r.FeatureNames = []string{"a"} }, "feature_names"},
		{"label out of range", func(r *LIMERequest) { r.Labels = []int{2} }, "labels[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := good()
			tt.edit(&req)
			m := &linearModel{w: []float64{1, 1}, logistic: true}
			_, err := LIME(context.Background(), m, req)
			var re *RequestError
			if !errors.As(err, &re) || re.Field != tt.field {
				t.Fatalf("err = %v, want a RequestError on field %q", err, tt.field)
			}
		})
	}
}

func TestLIMEStopsOnModelError(t *testing.T) {
	want := errors.New("model down")
	_, err := LIME(context.Background(), failingModel{want}, LIMERequest{Instance: []float64{1}, Stats: unitStats(1), Sampling: Sampling{NumSamples: 10}})
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want the model's error", err)
	}
}

type failingModel struct{ err error }

func (f failingModel) Predict(context.Context, [][]float64) ([][]float64, error) { return nil, f.err }

func BenchmarkLIME(b *testing.B) {
	// The sidecar's own cost of one 5000-sample, 30-feature explanation
	// (sampling + distances + kernel + fit) with an instant in-process model.
	const p = 30
	w := make([]float64, p)
	inst := make([]float64, p)
	for j := range w {
		w[j] = float64(j%7) - 3
		inst[j] = float64(j) / 10
	}
	data := make([][]float64, 569)
	for i := range data {
		data[i] = make([]float64, p)
		for j := range data[i] {
			data[i][j] = math.Sin(float64(i*p+j)) * float64(j+1)
		}
	}
	for _, mode := range []string{"", "quartile"} {
		stats, err := sampler.StatsFromData(data, nil, nil, mode)
		if err != nil {
			b.Fatal(err)
		}
		name := mode
		if name == "" {
			name = "continuous"
		}
		b.Run(name, func(b *testing.B) {
			m := &linearModel{w: w, logistic: true}
			req := LIMERequest{Instance: inst, Stats: stats, Sampling: Sampling{NumSamples: 5000, Seed: 1}, SurrogateFit: SurrogateFit{NumFeatures: 10}}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := LIME(context.Background(), m, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
