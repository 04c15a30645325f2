package explain

import (
	"context"
	"errors"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/explainer-sidecar/explainer/sampler"
)

// The conformance suite runs the same checks on every estimator, in the
// manner of gonum's distuv tests: one table, confCases, lists them, and
// each TestConformance... function is one property with a subtest per
// estimator. An estimator added to the package gets a row here.

// confProbe counts what a fake model is asked to score and plays the
// cancellation scenarios. It is shared by the row and text fakes, and safe
// for the concurrent calls of the pipelined estimators.
type confProbe struct {
	calls atomic.Int64 // Predict calls entered
	rows  atomic.Int64 // rows (or texts) scored and returned

	// cancel, when set, is called at the start of the first call; that
	// call then returns ctx's error, or its scores when answer is set (the
	// answer crossed the cancel).
	cancel context.CancelFunc
	answer bool
	// cancelled is set once cancel has returned; afterCancel counts the
	// calls entered from then on. (Set before the cancel, it would count
	// calls an estimator made with ctx not yet done.)
	cancelled   atomic.Bool
	afterCancel atomic.Int64
}

// enter records a call of n rows and reports whether it fails: with ctx's
// error once ctx is done, as a real client's call would.
func (p *confProbe) enter(ctx context.Context, n int) error {
	call := p.calls.Add(1)
	if p.cancelled.Load() {
		p.afterCancel.Add(1)
	}
	if call == 1 && p.cancel != nil {
		p.cancel()
		p.cancelled.Store(true)
		if !p.answer {
			return ctx.Err()
		}
	} else if err := ctx.Err(); err != nil {
		return err
	}
	p.rows.Add(int64(n))
	return nil
}

// confRows is a Model scoring each row with f.
type confRows struct {
	*confProbe
	f func(row []float64) []float64
}

func (m confRows) Predict(ctx context.Context, rows [][]float64) ([][]float64, error) {
	if err := m.enter(ctx, len(rows)); err != nil {
		return nil, err
	}
	out := make([][]float64, len(rows))
	for i, r := range rows {
		out[i] = m.f(r)
	}
	return out, nil
}

// confTexts is a TextModel scoring each text with f.
type confTexts struct {
	*confProbe
	f func(text string) []float64
}

func (m confTexts) PredictText(ctx context.Context, texts []string) ([][]float64, error) {
	if err := m.enter(ctx, len(texts)); err != nil {
		return nil, err
	}
	out := make([][]float64, len(texts))
	for i, s := range texts {
		out[i] = m.f(s)
	}
	return out, nil
}

// twoClasses returns the two class scores [1 − σ(s), σ(s)]. The logistic keeps
// every model below non-additive, so that the regressions have residuals
// and the standard errors something to measure.
func twoClasses(s float64) []float64 {
	p := 1 / (1 + math.Exp(-s))
	return []float64{1 - p, p}
}

// confLogistic is a logistic model of a linear score of any number of
// features, with weights that differ from feature to feature.
func confLogistic(row []float64) []float64 {
	s := 0.2
	for j, v := range row {
		s += math.Sin(0.9*float64(j)+0.3) * v
	}
	return twoClasses(s)
}

// confWords is a bag-of-words model: a logistic of the weights of the
// words present (unknown words and mask tokens weigh 0).
func confWords(text string) []float64 {
	weights := map[string]float64{
		"great": 1.5, "awful": -2, "plot": 0.3, "acting": 0.8, "boring": -1.2,
		"loved": 1.1, "music": 0.4, "slow": -0.7, "ending": 0.2, "cast": 0.6,
	}
	s := -0.1
	for _, w := range strings.Fields(text) {
		s += weights[w]
	}
	return twoClasses(s)
}

// Image fixtures: an 8×8×3 HWC image in a 4×4 grid of 16 segments.
const confH, confW, confC = 8, 8, 3

// confImageModel averages each pixel's channels and weighs the means by
// position, through a logistic.
func confImageModel(row []float64) []float64 {
	s := 0.0
	for px := range len(row) / confC {
		mean := (row[px*confC] + row[px*confC+1] + row[px*confC+2]) / confC
		s += math.Cos(0.7*float64(px)) * mean
	}
	return twoClasses(s)
}

func confImage() sampler.Image {
	img := sampler.NewImage(confH, confW, confC)
	for i := range img.Pix {
		img.Pix[i] = 0.5 + 0.4*math.Sin(float64(i)*0.37)
	}
	return img
}

// confData returns n rows of p features, spread around 0.
func confData(n, p int) [][]float64 {
	data := make([][]float64, n)
	for i := range data {
		data[i] = make([]float64, p)
		for j := range data[i] {
			data[i][j] = math.Sin(1.7*float64(i)+2.3*float64(j)) + 0.3*math.Cos(float64(i*j))
		}
	}
	return data
}

// confInstance is the tabular instance the local methods explain.
var confInstance = []float64{0.8, -0.4, 1.2, 0.1, -0.9, 0.5}

// The base requests of the six estimators with shared options; the
// conformance cases set the seed, TestSharedOptionsRejected breaks one
// option at a time.

func confLIMERequest() LIMERequest {
	p := len(confInstance)
	st := &sampler.Stats{Means: make([]float64, p), Stds: make([]float64, p)}
	for j := range st.Stds {
		st.Stds[j] = 1
	}
	return LIMERequest{Instance: confInstance, Stats: st, Sampling: Sampling{NumSamples: 200}}
}

const confText = "great plot but slow acting and boring music with a loved cast and an awful ending"

func confLIMETextRequest() LIMETextRequest {
	return LIMETextRequest{Text: confText, Sampling: Sampling{NumSamples: 200}}
}

func confLIMEImageRequest() LIMEImageRequest {
	segs, n := sampler.GridSegments(confH, confW, 4, 4)
	// BatchRows makes several Predict calls.
	return LIMEImageRequest{Image: confImage(), Segments: segs, NumSegments: n, Sampling: Sampling{NumSamples: 100}, BatchRows: 16}
}

func confKernelSHAPRequest() KernelSHAPRequest {
	// 6 players have 62 proper coalitions; 30 are sampled.
	return KernelSHAPRequest{Instance: confInstance, Background: confData(5, len(confInstance)), Sampling: Sampling{NumSamples: 30}}
}

func confKernelSHAPTextRequest() KernelSHAPTextRequest {
	return KernelSHAPTextRequest{Text: confText, Sampling: Sampling{NumSamples: 60}}
}

func confKernelSHAPImageRequest() KernelSHAPImageRequest {
	segs, n := sampler.GridSegments(confH, confW, 4, 4)
	return KernelSHAPImageRequest{Image: confImage(), Segments: segs, NumSegments: n, Sampling: Sampling{NumSamples: 60}}
}

// confOutcome is what the checks look at in a result.
type confOutcome struct {
	result  any       // everything the estimator returned, for reflect.DeepEqual
	weights []float64 // every attribution, in the result's order
	stdErrs []float64 // parallel to weights
	rows    int       // the rows the result says the model scored
}

func outcomeOf(res *Result, extra any) confOutcome {
	o := confOutcome{result: []any{res, extra}, rows: res.NumSamples}
	for _, l := range res.Labels {
		for _, a := range l.Attributions {
			o.weights = append(o.weights, a.Weight)
			o.stdErrs = append(o.stdErrs, a.StdErr)
		}
	}
	return o
}

// pdOutcome takes the averages as the weights, their standard errors as
// the errors.
func pdOutcome(res *Result) confOutcome {
	o := confOutcome{result: res, rows: res.NumSamples}
	for _, l := range res.Labels {
		for _, pd := range l.PartialDependence {
			o.weights = append(o.weights, pd.Average...)
			o.stdErrs = append(o.stdErrs, pd.AverageStdErr...)
		}
	}
	return o
}

// aleOutcome takes the effects as the weights, their standard errors as
// the errors.
func aleOutcome(res *Result) confOutcome {
	o := confOutcome{result: res, rows: res.NumSamples}
	for _, l := range res.Labels {
		for _, c := range l.ALE {
			o.weights = append(o.weights, c.Effects...)
			o.stdErrs = append(o.stdErrs, c.StdErrs...)
		}
	}
	return o
}

func occlusionOutcome(res *OcclusionResult) confOutcome {
	// The input is scored once beside the windows.
	o := confOutcome{result: res, rows: res.NumWindows + 1}
	for t := range res.Attributions {
		o.weights = append(o.weights, res.Attributions[t]...)
		o.stdErrs = append(o.stdErrs, res.StdErrs[t]...)
	}
	return o
}

// How an estimator's result depends on Sampling.Seed.
type seedUse int

const (
	seedChanges seedUse = iota // another seed draws other samples: other attributions
	seedUnused                 // the request takes a seed but draws nothing with it
	noSeed                     // the request has no seed
)

type confCase struct {
	name string
	// run explains the case's fixed input with a fresh fake model around
	// p, drawing with seed.
	run  func(ctx context.Context, p *confProbe, seed uint64) (confOutcome, error)
	seed seedUse
	// inFlight is the most Predict calls the estimator keeps running at
	// once: after the cancel, inFlight − 1 calls may already be on their
	// way.
	inFlight int
	// zeroStdErr, when set, says why every StdErr is 0 by design; the
	// others must estimate at least one positive StdErr.
	zeroStdErr string
}

var confCases = []confCase{
	{
		name: "LIME",
		run: func(ctx context.Context, p *confProbe, seed uint64) (confOutcome, error) {
			req := confLIMERequest()
			req.Seed = seed
			res, err := LIME(ctx, confRows{p, confLogistic}, req)
			if err != nil {
				return confOutcome{}, err
			}
			return outcomeOf(res, nil), nil
		},
		inFlight: 1,
	},
	{
		name: "LIMEText",
		run: func(ctx context.Context, p *confProbe, seed uint64) (confOutcome, error) {
			req := confLIMETextRequest()
			req.Seed = seed
			res, tf, err := LIMEText(ctx, confTexts{p, confWords}, req)
			if err != nil {
				return confOutcome{}, err
			}
			return outcomeOf(res, tf), nil
		},
		inFlight: 1,
	},
	{
		name: "LIMEImage",
		run: func(ctx context.Context, p *confProbe, seed uint64) (confOutcome, error) {
			req := confLIMEImageRequest()
			req.Seed = seed
			res, err := LIMEImage(ctx, confRows{p, confImageModel}, req)
			if err != nil {
				return confOutcome{}, err
			}
			return outcomeOf(res, nil), nil
		},
		inFlight: 2, // LIMEImage builds the next call while the model answers one
	},
	{
		name: "KernelSHAP",
		run: func(ctx context.Context, p *confProbe, seed uint64) (confOutcome, error) {
			req := confKernelSHAPRequest()
			req.Seed = seed
			res, err := KernelSHAP(ctx, confRows{p, confLogistic}, req)
			if err != nil {
				return confOutcome{}, err
			}
			return outcomeOf(res, nil), nil
		},
		inFlight: 1,
	},
	{
		name: "KernelSHAP/enumerated",
		run: func(ctx context.Context, p *confProbe, seed uint64) (confOutcome, error) {
			req := confKernelSHAPRequest()
			req.NumSamples = 0 // the default budget covers all 62 coalitions
			req.Seed = seed
			res, err := KernelSHAP(ctx, confRows{p, confLogistic}, req)
			if err != nil {
				return confOutcome{}, err
			}
			return outcomeOf(res, nil), nil
		},
		seed:       seedUnused,
		inFlight:   1,
		zeroStdErr: "every coalition is enumerated: the values are the exact Shapley values, nothing was sampled",
	},
	{
		name: "KernelSHAPText",
		run: func(ctx context.Context, p *confProbe, seed uint64) (confOutcome, error) {
			req := confKernelSHAPTextRequest()
			req.Seed = seed
			res, tf, err := KernelSHAPText(ctx, confTexts{p, confWords}, req)
			if err != nil {
				return confOutcome{}, err
			}
			return outcomeOf(res, tf), nil
		},
		inFlight: 1,
	},
	{
		name: "KernelSHAPImage",
		run: func(ctx context.Context, p *confProbe, seed uint64) (confOutcome, error) {
			req := confKernelSHAPImageRequest()
			req.Seed = seed
			res, err := KernelSHAPImage(ctx, confRows{p, confImageModel}, req)
			if err != nil {
				return confOutcome{}, err
			}
			return outcomeOf(res, nil), nil
		},
		inFlight: 1,
	},
	{
		name: "Permutation",
		run: func(ctx context.Context, p *confProbe, seed uint64) (confOutcome, error) {
			data := confData(30, 4)
			target := make([]float64, len(data))
			for i, row := range data {
				if (confLogistic(row)[1] > 0.5) != (i%5 == 0) { // a few labels the model gets wrong
					target[i] = 1
				}
			}
			res, err := Permutation(ctx, confRows{p, confLogistic}, PermutationRequest{
				Data: data, Target: target, Scoring: ScoreNegLogLoss, Repeats: 3, Seed: seed,
			})
			if err != nil {
				return confOutcome{}, err
			}
			return outcomeOf(res, nil), nil
		},
		inFlight: evalsInFlight,
	},
	{
		name: "Sensitivity",
		run: func(ctx context.Context, p *confProbe, _ uint64) (confOutcome, error) {
			res, err := Sensitivity(ctx, confRows{p, confLogistic}, SensitivityRequest{Data: confData(20, 4)})
			if err != nil {
				return confOutcome{}, err
			}
			return outcomeOf(res, nil), nil
		},
		seed:     noSeed,
		inFlight: evalsInFlight,
	},
	{
		name: "PartialDependence",
		run: func(ctx context.Context, p *confProbe, _ uint64) (confOutcome, error) {
			res, err := PartialDependence(ctx, confRows{p, confLogistic}, PartialDependenceRequest{
				Data: confData(12, 3), Features: [][]int{{0}, {1, 2}}, GridResolution: 4, Kind: PDBoth, BatchRows: 24,
			})
			if err != nil {
				return confOutcome{}, err
			}
			return pdOutcome(res), nil
		},
		seed:     noSeed,
		inFlight: evalsInFlight,
	},
	{
		name: "ALE",
		run: func(ctx context.Context, p *confProbe, _ uint64) (confOutcome, error) {
			res, err := ALE(ctx, confRows{p, confLogistic}, ALERequest{Data: confData(20, 3), Bins: 4, BatchRows: 20})
			if err != nil {
				return confOutcome{}, err
			}
			return aleOutcome(res), nil
		},
		seed:     noSeed,
		inFlight: evalsInFlight,
	},
	{
		name: "Occlusion/image",
		run: func(ctx context.Context, p *confProbe, _ uint64) (confOutcome, error) {
			img := confImage()
			res, err := Occlusion(ctx, confRows{p, confImageModel}, OcclusionRequest{
				Input: img.Pix, Shape: []int{confH, confW, confC}, Window: []int{2, 2, confC}, Strides: []int{1, 1, confC},
				BatchRows: 8,
			})
			if err != nil {
				return confOutcome{}, err
			}
			return occlusionOutcome(res), nil
		},
		seed:     noSeed,
		inFlight: 2, // Occlusion builds the next call while the model answers one
	},
	{
		name: "Occlusion/1-D",
		run: func(ctx context.Context, p *confProbe, _ uint64) (confOutcome, error) {
			input := confData(1, 12)[0]
			res, err := Occlusion(ctx, confRows{p, confLogistic}, OcclusionRequest{
				Input: input, Shape: []int{len(input)}, Window: []int{3}, BatchRows: 4, Targets: []int{0, 1},
			})
			if err != nil {
				return confOutcome{}, err
			}
			return occlusionOutcome(res), nil
		},
		seed:     noSeed,
		inFlight: 2, // Occlusion builds the next call while the model answers one
	},
	{
		name: "Counterfactuals",
		run: func(ctx context.Context, p *confProbe, seed uint64) (confOutcome, error) {
			res, err := Counterfactuals(ctx, confRows{p, confLogistic}, CounterfactualRequest{
				Instance: confInstance, Data: confData(30, len(confInstance)), DesiredClass: OtherClass,
				Population: 16, MaxGenerations: 5, Seed: seed,
			})
			if err != nil {
				return confOutcome{}, err
			}
			// The counterfactuals' values stand in for attributions.
			o := confOutcome{result: res, rows: res.NumSamples}
			for _, cf := range res.Counterfactuals.Rows {
				o.weights = append(o.weights, cf.Values...)
				o.stdErrs = append(o.stdErrs, make([]float64, len(cf.Values))...)
			}
			return o, nil
		},
		inFlight:   1,
		zeroStdErr: "a counterfactual is a row the model scored, not an estimate",
	},
	{
		name: "AnchorsTabular",
		run: func(ctx context.Context, p *confProbe, seed uint64) (confOutcome, error) {
			res, err := AnchorsTabular(ctx, confRows{p, confLogistic}, AnchorTabularRequest{
				Instance: confInstance, Training: confData(40, len(confInstance)),
				AnchorConfig: AnchorConfig{Seed: seed, BatchSize: 20, CoverageSamples: 200},
			})
			return anchorOutcome(res, nil, err)
		},
		inFlight:   1,
		zeroStdErr: anchorNoStdErr,
	},
	{
		name: "AnchorsText",
		run: func(ctx context.Context, p *confProbe, seed uint64) (confOutcome, error) {
			res, tf, err := AnchorsText(ctx, confTexts{p, confWords}, AnchorTextRequest{
				Text: confText, AnchorConfig: AnchorConfig{Seed: seed, BatchSize: 20, CoverageSamples: 200},
			})
			return anchorOutcome(res, tf, err)
		},
		inFlight:   1,
		zeroStdErr: anchorNoStdErr,
	},
	{
		name: "AnchorsImage",
		run: func(ctx context.Context, p *confProbe, seed uint64) (confOutcome, error) {
			segs, n := sampler.GridSegments(confH, confW, 4, 4)
			// BatchRows makes a step's samples go in several calls.
			res, err := AnchorsImage(ctx, confRows{p, confImageModel}, AnchorImageRequest{
				Image: confImage(), Segments: segs, NumSegments: n, BatchRows: 16,
				AnchorConfig: AnchorConfig{Seed: seed, BatchSize: 20, CoverageSamples: 200},
			})
			return anchorOutcome(res, nil, err)
		},
		inFlight:   1,
		zeroStdErr: anchorNoStdErr,
	},
}

// anchorNoStdErr is why anchors report no standard error.
const anchorNoStdErr = "an anchor has no attributions: its precision comes with KL-LUCB's bounds, not a standard error"

// anchorOutcome compares anchors by their precision, coverage and samples.
func anchorOutcome(res *Result, extra any, err error) (confOutcome, error) {
	if err != nil {
		return confOutcome{}, err
	}
	a := res.Labels[0].Anchor
	o := confOutcome{result: []any{res, extra}, rows: res.NumSamples}
	o.weights = []float64{a.Precision, a.Coverage, float64(res.NumSamples)}
	o.stdErrs = []float64{0}
	return o, nil
}

// TestConformanceDeterminism: the same seed gives the same result, bit for
// bit, whatever the scheduling; another seed other attributions, where the
// estimator draws with it.
func TestConformanceDeterminism(t *testing.T) {
	for _, c := range confCases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			a, err := c.run(ctx, &confProbe{}, 1)
			if err != nil {
				t.Fatal(err)
			}
			b, err := c.run(ctx, &confProbe{}, 1)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(a.result, b.result) {
				t.Error("two runs with the same seed differ")
			}
			if c.seed == noSeed {
				return
			}
			other, err := c.run(ctx, &confProbe{}, 2)
			if err != nil {
				t.Fatal(err)
			}
			switch same := slices.Equal(a.weights, other.weights); {
			case c.seed == seedChanges && same:
				t.Error("seeds 1 and 2 give the same attributions")
			case c.seed == seedUnused && !same:
				t.Error("the seed is documented as unused, but seeds 1 and 2 give different attributions")
			}
		})
	}
}

// TestConformanceCancellation: a done ctx stops the estimator with an error
// that wraps context.Canceled, and no Predict call starts once the
// estimator can know.
func TestConformanceCancellation(t *testing.T) {
	for _, c := range confCases {
		t.Run(c.name, func(t *testing.T) {
			t.Run("already cancelled", func(t *testing.T) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				p := &confProbe{}
				_, err := c.run(ctx, p, 1)
				if !errors.Is(err, context.Canceled) {
					t.Errorf("err = %v, want one wrapping context.Canceled", err)
				}
				if n := p.calls.Load(); n != 0 {
					t.Errorf("%d Predict calls with a cancelled ctx, want none", n)
				}
			})
			for _, answer := range []bool{false, true} {
				name := "in the first call, which fails"
				if answer {
					name = "in the first call, which answers"
				}
				t.Run(name, func(t *testing.T) {
					ctx, cancel := context.WithCancel(context.Background())
					defer cancel()
					p := &confProbe{cancel: cancel, answer: answer}
					_, err := c.run(ctx, p, 1)
					// A call already on its way when the first one
					// cancelled may start after it; no later one may.
					if n := p.afterCancel.Load(); n > int64(c.inFlight-1) {
						t.Errorf("%d Predict calls after the cancel, want at most %d", n, c.inFlight-1)
					}
					switch {
					case errors.Is(err, context.Canceled):
					case err == nil && answer && p.calls.Load() == 1:
						// The one call it needed answered: the result
						// is complete.
					default:
						t.Errorf("err = %v after %d calls, want one wrapping context.Canceled", err, p.calls.Load())
					}
				})
			}
		})
	}
}

// TestConformanceAccounting: the rows a result says the model scored are
// the rows it scored.
func TestConformanceAccounting(t *testing.T) {
	for _, c := range confCases {
		t.Run(c.name, func(t *testing.T) {
			p := &confProbe{}
			o, err := c.run(context.Background(), p, 1)
			if err != nil {
				t.Fatal(err)
			}
			if p.calls.Load() < 1 {
				t.Errorf("%d Predict calls", p.calls.Load())
			}
			if rows := p.rows.Load(); int64(o.rows) != rows {
				t.Errorf("the result counts %d rows, the model scored %d in %d calls", o.rows, rows, p.calls.Load())
			}
		})
	}
}

// TestConformanceStdErr: every StdErr is finite and not negative, and
// where the estimator estimates one, at least one is positive.
func TestConformanceStdErr(t *testing.T) {
	for _, c := range confCases {
		t.Run(c.name, func(t *testing.T) {
			o, err := c.run(context.Background(), &confProbe{}, 1)
			if err != nil {
				t.Fatal(err)
			}
			if len(o.stdErrs) == 0 {
				t.Fatal("no attributions")
			}
			positive := 0
			for i, se := range o.stdErrs {
				if !(se >= 0) || math.IsInf(se, 1) {
					t.Fatalf("StdErr[%d] = %v, want finite and not negative", i, se)
				}
				if se > 0 {
					positive++
				}
			}
			switch {
			case c.zeroStdErr == "" && positive == 0:
				t.Error("every StdErr is 0, want an estimate")
			case c.zeroStdErr != "" && positive > 0:
				t.Errorf("%d positive StdErr, want 0: %s", positive, c.zeroStdErr)
			}
		})
	}
}
