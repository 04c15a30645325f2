package explain

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
)

// fieldOf returns the field a *RequestError names, "" for nil and "?" for
// another error.
func fieldOf(err error) string {
	var re *RequestError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &re):
		return re.Field
	}
	return "?"
}

func TestTargetsValidate(t *testing.T) {
	many := make([]int, MaxLabels+1)
	tests := []struct {
		name    string
		targets Targets
		classes int
		field   string
	}{
		{"zero", Targets{}, 0, ""},
		{"labels, classes unknown", Targets{Labels: []int{0, 7}}, 0, ""},
		{"labels in range", Targets{Labels: []int{2, 0}}, 3, ""},
		{"top labels over the classes", Targets{TopLabels: 5}, 3, ""},
		{"MaxLabels labels", Targets{Labels: many[:MaxLabels]}, 1, ""},
		{"negative label, classes unknown", Targets{Labels: []int{0, -1}}, 0, "labels[1]"},
		{"negative label", Targets{Labels: []int{-1}}, 3, "labels[0]"},
		{"label at the class count", Targets{Labels: []int{1, 3}}, 3, "labels[1]"},
		{"ignored labels are checked too", Targets{Labels: []int{3}, TopLabels: 1}, 3, "labels[0]"},
		{"too many labels", Targets{Labels: many}, 1, "labels"},
		{"negative top labels", Targets{TopLabels: -1}, 0, "top_labels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fieldOf(tt.targets.Validate(tt.classes)); got != tt.field {
				t.Errorf("Validate(%d) names %q, want %q", tt.classes, got, tt.field)
			}
		})
	}
}

func TestSamplingValidate(t *testing.T) {
	tests := []struct {
		n, min int
		ok     bool
	}{
		{0, limeMinSamples, true},
		{0, shapMinSamples, true},
		{1, limeMinSamples, false},
		{1, shapMinSamples, true},
		{2, limeMinSamples, true},
		{MaxNumSamples, limeMinSamples, true},
		{MaxNumSamples + 1, shapMinSamples, false},
		{-1, shapMinSamples, false},
		{-1, 0, false}, // the bound is at least 1
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d samples, at least %d", tt.n, tt.min), func(t *testing.T) {
			err := Sampling{NumSamples: tt.n, Seed: 9}.Validate(tt.min)
			if want := map[bool]string{true: "", false: "num_samples"}[tt.ok]; fieldOf(err) != want {
				t.Errorf("err %v, want a RequestError on %q", err, want)
			}
		})
	}
}

func TestSurrogateFitValidate(t *testing.T) {
	tests := []struct {
		name  string
		fit   SurrogateFit
		field string
	}{
		{"zero", SurrogateFit{}, ""},
		{"set", SurrogateFit{NumFeatures: 3, Selection: SelectLassoPath, KernelWidth: 0.5, Surrogate: SurrogateConfig{Alpha: -1, L1: 0.1}}, ""},
		{"negative features", SurrogateFit{NumFeatures: -1}, "num_features"},
		{"unknown selection", SurrogateFit{Selection: SelectLassoPath + 1}, "feature_selection"},
		{"negative selection", SurrogateFit{Selection: -1}, "feature_selection"},
		{"negative width", SurrogateFit{KernelWidth: -0.1}, "kernel_width"},
		{"NaN width", SurrogateFit{KernelWidth: math.NaN()}, "kernel_width"},
		{"infinite width", SurrogateFit{KernelWidth: math.Inf(1)}, "kernel_width"},
		{"NaN alpha", SurrogateFit{Surrogate: SurrogateConfig{Alpha: math.NaN()}}, "ridge_alpha"},
		{"infinite alpha", SurrogateFit{Surrogate: SurrogateConfig{Alpha: math.Inf(-1)}}, "ridge_alpha"},
		{"negative L1", SurrogateFit{Surrogate: SurrogateConfig{L1: -1}}, "l1_penalty"},
		{"NaN L1", SurrogateFit{Surrogate: SurrogateConfig{L1: math.NaN()}}, "l1_penalty"},
		{"infinite L1", SurrogateFit{Surrogate: SurrogateConfig{L1: math.Inf(1)}}, "l1_penalty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fieldOf(tt.fit.Validate()); got != tt.field {
				t.Errorf("Validate names %q, want %q", got, tt.field)
			}
		})
	}
}

// TestSharedOptionsRejected breaks one shared option at a time in each
// request that embeds it: the estimator must name the field before calling
// the model, or, for a label the model has no class for, once the model has
// answered.
func TestSharedOptionsRejected(t *testing.T) {
	// edit changes the options of a request; fit is nil for the requests
	// without a surrogate.
	type edit func(s *Sampling, tg *Targets, fit *SurrogateFit)
	estimators := []struct {
		name string
		lime bool // LIME's rules: SurrogateFit, at least 2 samples
		run  func(p *confProbe, e edit) error
	}{
		{"LIME", true, func(p *confProbe, e edit) error {
			req := confLIMERequest()
			e(&req.Sampling, &req.Targets, &req.SurrogateFit)
			_, err := LIME(context.Background(), confRows{p, confLogistic}, req)
			return err
		}},
		{"LIMEText", true, func(p *confProbe, e edit) error {
			req := confLIMETextRequest()
			e(&req.Sampling, &req.Targets, &req.SurrogateFit)
			_, _, err := LIMEText(context.Background(), confTexts{p, confWords}, req)
			return err
		}},
		{"LIMEImage", true, func(p *confProbe, e edit) error {
			req := confLIMEImageRequest()
			e(&req.Sampling, &req.Targets, &req.SurrogateFit)
			_, err := LIMEImage(context.Background(), confRows{p, confImageModel}, req)
			return err
		}},
		{"KernelSHAP", false, func(p *confProbe, e edit) error {
			req := confKernelSHAPRequest()
			e(&req.Sampling, &req.Targets, nil)
			_, err := KernelSHAP(context.Background(), confRows{p, confLogistic}, req)
			return err
		}},
		{"KernelSHAPText", false, func(p *confProbe, e edit) error {
			req := confKernelSHAPTextRequest()
			e(&req.Sampling, &req.Targets, nil)
			_, _, err := KernelSHAPText(context.Background(), confTexts{p, confWords}, req)
			return err
		}},
		{"KernelSHAPImage", false, func(p *confProbe, e edit) error {
			req := confKernelSHAPImageRequest()
			e(&req.Sampling, &req.Targets, nil)
			_, err := KernelSHAPImage(context.Background(), confRows{p, confImageModel}, req)
			return err
		}},
	}
	breaks := []struct {
		name     string
		limeOnly bool
		field    string
		edit     edit
	}{
		{"too many samples", false, "num_samples", func(s *Sampling, _ *Targets, _ *SurrogateFit) { s.NumSamples = MaxNumSamples + 1 }},
		{"negative samples", false, "num_samples", func(s *Sampling, _ *Targets, _ *SurrogateFit) { s.NumSamples = -1 }},
		{"one sample", true, "num_samples", func(s *Sampling, _ *Targets, _ *SurrogateFit) { s.NumSamples = 1 }},
		{"negative top labels", false, "top_labels", func(_ *Sampling, tg *Targets, _ *SurrogateFit) { tg.TopLabels = -2 }},
		{"negative label", false, "labels[1]", func(_ *Sampling, tg *Targets, _ *SurrogateFit) { tg.Labels = []int{0, -1} }},
		{"too many labels", false, "labels", func(_ *Sampling, tg *Targets, _ *SurrogateFit) { tg.Labels = make([]int, MaxLabels+1) }},
		{"negative features", true, "num_features", func(_ *Sampling, _ *Targets, f *SurrogateFit) { f.NumFeatures = -1 }},
		{"unknown selection", true, "feature_selection", func(_ *Sampling, _ *Targets, f *SurrogateFit) { f.Selection = 42 }},
		{"negative kernel width", true, "kernel_width", func(_ *Sampling, _ *Targets, f *SurrogateFit) { f.KernelWidth = -1 }},
		{"NaN kernel width", true, "kernel_width", func(_ *Sampling, _ *Targets, f *SurrogateFit) { f.KernelWidth = math.NaN() }},
		{"infinite kernel width", true, "kernel_width", func(_ *Sampling, _ *Targets, f *SurrogateFit) { f.KernelWidth = math.Inf(1) }},
		{"NaN ridge alpha", true, "ridge_alpha", func(_ *Sampling, _ *Targets, f *SurrogateFit) { f.Surrogate.Alpha = math.NaN() }},
		{"negative L1", true, "l1_penalty", func(_ *Sampling, _ *Targets, f *SurrogateFit) { f.Surrogate.L1 = -0.5 }},
	}
	for _, est := range estimators {
		t.Run(est.name, func(t *testing.T) {
			for _, b := range breaks {
				if b.limeOnly && !est.lime {
					continue
				}
				t.Run(b.name, func(t *testing.T) {
					p := &confProbe{}
					err := est.run(p, b.edit)
					if got := fieldOf(err); got != b.field {
						t.Errorf("err %v, want a RequestError on %q", err, b.field)
					}
					if n := p.calls.Load(); n != 0 {
						t.Errorf("%d Predict calls, want none", n)
					}
				})
			}
			// The fakes score 2 classes.
			t.Run("label out of range", func(t *testing.T) {
				p := &confProbe{}
				err := est.run(p, func(_ *Sampling, tg *Targets, _ *SurrogateFit) { tg.Labels = []int{1, 2} })
				if got := fieldOf(err); got != "labels[1]" {
					t.Errorf("err %v, want a RequestError on labels[1]", err)
				}
			})
			t.Run("shared options accepted", func(t *testing.T) {
				err := est.run(&confProbe{}, func(s *Sampling, tg *Targets, f *SurrogateFit) {
					s.NumSamples, s.Seed = 20, 3
					tg.Labels, tg.TopLabels = []int{1, 0}, 0
					if f != nil {
						*f = SurrogateFit{NumFeatures: 2, Selection: SelectNone, KernelWidth: 0.3, Surrogate: SurrogateConfig{Alpha: 0.5}}
					}
				})
				if err != nil {
					t.Error(err)
				}
			})
		})
	}
}

// FuzzTargets checks that the labels pick returns are the ones Validate
// accepts: in range, as many as asked, and an error exactly when Validate
// gives one for the class count.
func FuzzTargets(f *testing.F) {
	f.Add([]byte{0, 2}, 0, 3)
	f.Add([]byte{}, 2, 3)
	f.Add([]byte{255}, 0, 2)
	f.Add([]byte{1}, -1, 1)
	f.Fuzz(func(t *testing.T, raw []byte, top, classes int) {
		if classes < 1 || classes > 64 {
			return
		}
		tg := Targets{TopLabels: top}
		for _, b := range raw {
			tg.Labels = append(tg.Labels, int(int8(b))) // negative labels too
		}
		scores := make([]float64, classes)
		for c := range scores {
			scores[c] = math.Sin(float64(c)*1.3 + float64(len(raw)))
		}
		labels, err := tg.pick(scores)
		if verr := tg.Validate(classes); (err == nil) != (verr == nil) {
			t.Fatalf("pick err %v, Validate err %v", err, verr)
		}
		if err != nil {
			return
		}
		switch {
		case top > 0 && len(labels) != min(top, classes):
			t.Fatalf("%d labels for top %d of %d classes", len(labels), top, classes)
		case top == 0 && len(tg.Labels) > 0 && len(labels) != len(tg.Labels):
			t.Fatalf("%d labels for %d asked", len(labels), len(tg.Labels))
		case top == 0 && len(tg.Labels) == 0 && len(labels) != 1:
			t.Fatalf("%d labels by default, want the top one", len(labels))
		}
		for _, l := range labels {
			if l < 0 || l >= classes {
				t.Fatalf("label %d out of range [0,%d)", l, classes)
			}
		}
	})
}
