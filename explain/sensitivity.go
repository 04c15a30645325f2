package explain

import (
	"context"
	"fmt"
	"math"
)

// DefaultStep is Sensitivity's finite-difference step, in population
// standard deviations of each feature.
const DefaultStep = 0.01

// SensitivityRequest is one sensitivity analysis: the mean partial
// derivatives of the model's class scores over a data set.
type SensitivityRequest struct {
	// Data holds N ≥ 1 rows of p features. It is not modified.
	Data [][]float64
	// FeatureNames name the features; nil gives "x0", "x1", ....
	FeatureNames []string
	// Step sets each feature's step h_j = Step·σ_j, σ_j the population
	// standard deviation of feature j over Data (1 when it is 0). Default
	// DefaultStep; in (0, 1].
	Step float64
	// Labels are the classes (model output columns) to report, each once.
	// Nil: all, in order.
	Labels []int
	// BatchRows packs the evaluations into Predict calls of at most
	// BatchRows rows: k = max(1, BatchRows/N) evaluations per call, so
	// that a model with large batches scores many at once instead of one
	// call per evaluation. 0 (or less than N) sends one evaluation per
	// call. Each evaluation in flight then holds k working copies of the
	// data; at most MaxBatchValues values are packed. The result does not
	// depend on it.
	BatchRows int
}

// Sensitivity estimates, for each reported class c and feature j, the
// partial derivative of the model's score f_c by central differences at
// every row x_i of req.Data,
//
//	d_ij = (f_c(x_i + h_j e_j) − f_c(x_i − h_j e_j)) / (2h_j),
//
// and reports one LabelResult per class with one Attribution per feature:
// Weight = (1/N) Σ_i d_ij, MeanAbs = (1/N) Σ_i |d_ij| and Std the
// population standard deviation of d_ij over the rows. StdErr is the
// standard error of Weight as the mean of the N derivatives, the sample
// standard deviation (ddof 1) over √N, sqrt(Σ_i (d_ij − Weight)² /
// ((N − 1)·N)), 0 for N = 1: the uncertainty of the average effect from
// the rows at hand, as if they were a random sample of the data the
// average is meant over (the finite-difference error is not in it).
// Central differences are exact, up to rounding, for scores linear or
// quadratic in x_j; the error is O(h_j²) otherwise.
//
// Each of the 2p evaluations (x + h_j e_j and x − h_j e_j for every j)
// sends the N rows, modified in column j, to the model, k evaluations per
// Predict call (see BatchRows), two calls at a time (evalsInFlight) so
// that the model always has batches to score; each evaluation uses a
// working copy of req.Data in which only the shifted column is rewritten
// between evaluations. Peak memory beyond the caller's data is therefore
// 2·k·N·p float64 values for the working copies plus the outputs of at
// most 4k + 2 evaluations ((4k + 2)·N·classes values: two calls at the
// model, two waiting to be combined, and the first of each pair waiting
// for the second). Rows sent to the model must not be used by it after
// Predict returns.
//
// The result has Method "sensitivity" and NumSamples = 2·N·p, the rows
// the model scored. A request that cannot run is a *RequestError naming
// the field (a label out of range is found when the first outputs come
// back, and has Precondition set); a model output that cannot be read (wrong row count or width,
// non-finite scores) is another error. When ctx is done no new evaluation
// starts and ctx's error is returned. A panic in m, which runs on the
// estimator's goroutines, is an error too: "explain: sensitivity: "
// wrapping a *group.PanicError (this module's internal/group) that holds
// the value and the stack. The result is the same, bit for bit,
// for the same request and model, whatever the scheduling.
func Sensitivity(ctx context.Context, m Model, req SensitivityRequest) (*Result, error) {
	steps, err := req.prepare()
	if err != nil {
		return nil, err
	}
	N, p := len(req.Data), len(req.Data[0])
	names := FeatureNames(req.FeatureNames, p)
	res := &Result{Method: "sensitivity", NumSamples: 2 * N * p}
	// outs[2j] and outs[2j+1] hold the outputs at x + h_j e_j and
	// x − h_j e_j until both are in.
	outs := make([][][]float64, 2*p)
	width := 0
	collect := func(k int, out [][]float64) error {
		w := len(out[0])
		if width == 0 {
			width = w
			labels, err := resolveLabels(req.Labels, width)
			if err != nil {
				return err
			}
			for _, c := range labels {
				res.Labels = append(res.Labels, LabelResult{Label: c, Attributions: make([]Attribution, p)})
			}
		} else if w != width {
			return fmt.Errorf("explain: model returned %d scores per row in one evaluation, %d in another", w, width)
		}
		outs[k] = out
		j := k / 2
		plus, minus := outs[2*j], outs[2*j+1]
		if plus == nil || minus == nil {
			return nil
		}
		twoH := 2 * steps[j]
		for l := range res.Labels {
			c := res.Labels[l].Label
			var sum, sumAbs float64
			for i := range plus {
				d := (plus[i][c] - minus[i][c]) / twoH
				sum += d
				sumAbs += math.Abs(d)
			}
			mean := sum / float64(N)
			var ss float64
			for i := range plus {
				e := (plus[i][c]-minus[i][c])/twoH - mean
				ss += e * e
			}
			res.Labels[l].Attributions[j] = Attribution{
				Index:       j,
				Description: names[j],
				Weight:      mean,
				MeanAbs:     sumAbs / float64(N),
				Std:         math.Sqrt(ss / float64(N)),
			}
			if N > 1 {
				res.Labels[l].Attributions[j].StdErr = math.Sqrt(ss / float64(N-1) / float64(N))
			}
		}
		outs[2*j], outs[2*j+1] = nil, nil
		return nil
	}
	// Evaluation k shifts column k/2, up for even k; runPacked packs
	// several into each Predict call.
	err = runPacked(ctx, "sensitivity", m, req.Data, 2*p, req.BatchRows,
		func(k int) []int { return []int{k / 2} },
		func(k int, rows [][]float64) {
			j, h := k/2, steps[k/2]
			if k%2 == 1 {
				h = -h
			}
			for i, row := range rows {
				row[j] = req.Data[i][j] + h
			}
		}, collect)
	if err != nil {
		return nil, err
	}
	if err := res.nonFinite(); err != nil {
		return nil, err
	}
	return res, nil
}

// prepare validates req and returns each feature's step h_j.
func (req *SensitivityRequest) prepare() ([]float64, error) {
	p, err := checkDataset(req.Data, req.FeatureNames, 1)
	if err != nil {
		return nil, err
	}
	step := req.Step
	if step == 0 {
		step = DefaultStep
	}
	if !(step > 0 && step <= 1) {
		return nil, invalid("step", "must be in (0, 1]")
	}
	if err := checkLabels(req.Labels); err != nil {
		return nil, err
	}
	N := float64(len(req.Data))
	steps := make([]float64, p)
	for _, row := range req.Data {
		for j, v := range row {
			steps[j] += v
		}
	}
	for j := range steps {
		mean := steps[j] / N
		var ss float64
		for _, row := range req.Data {
			d := row[j] - mean
			ss += d * d
		}
		sd := math.Sqrt(ss / N)
		if sd == 0 {
			sd = 1
		}
		steps[j] = step * sd
	}
	return steps, nil
}
