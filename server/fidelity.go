package server

// How each method removes a feature for its deletion and insertion curves:
// the curves score the model on the instance (or data set) with some
// players absent, and a player is absent the way the method itself hides
// it, so that the curve tests the explanation against the same model
// behaviour it was fitted to.

import (
	"context"

	"github.com/explainer-sidecar/explainer/engine"
	"github.com/explainer-sidecar/explainer/explain"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
	"github.com/explainer-sidecar/explainer/sampler"
)

// labelWeights returns label's attribution weights by player index, 0 for
// players the explanation left out (LIME's unselected features); nil when
// res does not explain label.
func labelWeights(res *explain.Result, label, players int) []float64 {
	w, err := explain.LabelWeights([]*explain.Result{res}, label, players)
	if err != nil {
		return nil
	}
	return w[0]
}

// column returns column c of scores.
func column(scores [][]float64, c int) []float64 {
	out := make([]float64, len(scores))
	for i, s := range scores {
		out[i] = s[c]
	}
	return out
}

// tabularCurves removes a feature (or a group's features) by setting it to
// baseline: the training mean for LIME, the background mean for KernelSHAP.
func tabularCurves(instance []float64, groups [][]int, baseline []float64) engine.CurveFunc {
	players := playerCount(len(instance), groups)
	return func(m engine.Scorer, res *explain.Result, label int) ([]float64, explain.MaskScorer) {
		return labelWeights(res, label, players), func(ctx context.Context, present [][]bool) ([]float64, error) {
			rows := make([][]float64, len(present))
			for i, keep := range present {
				row := append([]float64(nil), instance...)
				for p, in := range keep {
					if in {
						continue
					}
					if len(groups) == 0 {
						row[p] = baseline[p]
						continue
					}
					for _, f := range groups[p] {
						row[f] = baseline[f]
					}
				}
				rows[i] = row
			}
			scores, err := m.Predict(ctx, rows)
			if err != nil {
				return nil, err
			}
			return column(scores, label), nil
		}
	}
}

// limeBaseline is each feature's training mean: Means when given, else the
// frequency-weighted mean of its bins' means; a categorical feature takes
// its most frequent value.
func limeBaseline(st *sampler.Stats, p int) []float64 {
	base := make([]float64, p)
	for f := range base {
		if fr, ok := st.Categorical[f]; ok {
			best := 0
			for k, q := range fr.Freqs {
				if q > fr.Freqs[best] {
					best = k
				}
			}
			if len(fr.Values) > 0 {
				base[f] = fr.Values[best]
			}
			continue
		}
		if f < len(st.Means) {
			base[f] = st.Means[f]
			continue
		}
		if d := st.Discretizer; d != nil && f < len(d.Means) && f < len(st.BinFrequencies) {
			for b, q := range st.BinFrequencies[f] {
				if b < len(d.Means[f]) {
					base[f] += q * d.Means[f][b]
				}
			}
		}
	}
	return base
}

// weightedMean is the column mean of rows, weighted when weights is not nil.
func weightedMean(rows [][]float64, weights []float64) []float64 {
	mean := make([]float64, len(rows[0]))
	total := 0.0
	for i, r := range rows {
		w := 1.0
		if weights != nil {
			w = weights[i]
		}
		total += w
		for j, v := range r {
			mean[j] += w * v
		}
	}
	for j := range mean {
		mean[j] /= total
	}
	return mean
}

// textMask is what an absent word becomes, as the text methods hide it:
// mask when set, else dropped in bag-of-words mode and lime's UNKWORDZ in
// positional mode.
func textMask(mask string, positional bool) string {
	if mask == "" && positional {
		return sampler.DefaultMaskString
	}
	return mask
}

// textCurves removes a word by rendering the text without it.
func textCurves(dom *sampler.TextDomain, mask string) engine.CurveFunc {
	return func(m engine.Scorer, res *explain.Result, label int) ([]float64, explain.MaskScorer) {
		return labelWeights(res, label, len(dom.Features)), func(ctx context.Context, present [][]bool) ([]float64, error) {
			keep := make([][]float64, len(present))
			for i, in := range present {
				keep[i] = make([]float64, len(in))
				for j, b := range in {
					if b {
						keep[i][j] = 1
					}
				}
			}
			scores, err := m.PredictText(ctx, dom.RenderAll(keep, mask))
			if err != nil {
				return nil, err
			}
			return column(scores, label), nil
		}
	}
}

// imageCurves removes a segment by showing fill in its place.
func imageCurves(img sampler.Image, layout explainerv1.ImageLayout, segments []int, n int, fill sampler.Image) engine.CurveFunc {
	return func(m engine.Scorer, res *explain.Result, label int) ([]float64, explain.MaskScorer) {
		return labelWeights(res, label, n), imageScorer(m, img, layout, segments, fill, label)
	}
}

// imageScorer scores masks over segments as images, the absent segments
// taken from fill.
func imageScorer(m engine.Scorer, img sampler.Image, layout explainerv1.ImageLayout, segments []int, fill sampler.Image, label int) explain.MaskScorer {
	model := imageModel(m, img, layout)
	return func(ctx context.Context, present [][]bool) ([]float64, error) {
		rows := make([][]float64, len(present))
		for i, keep := range present {
			row, err := sampler.MaskImage(nil, img, segments, keep, fill)
			if err != nil {
				return nil, err
			}
			rows[i] = row
		}
		scores, err := model.Predict(ctx, rows)
		if err != nil {
			return nil, err
		}
		return column(scores, label), nil
	}
}

// maxCurveRows caps the rows of a data set that its curves score at each
// point: a curve scores every point on all of them.
const maxCurveRows = 256

// datasetCurves removes a feature (or group) from a data set by setting it
// to its column mean in every row; a point's value is score over the first
// maxCurveRows rows (the data set's score: permutation importance).
func datasetCurves(data [][]float64, groups [][]int, score func(scores [][]float64, rows []int) (float64, error)) engine.CurveFunc {
	n := min(len(data), maxCurveRows)
	rowsUsed := make([]int, n)
	for i := range rowsUsed {
		rowsUsed[i] = i
	}
	mean := weightedMean(data, nil)
	players := playerCount(len(data[0]), groups)
	return func(m engine.Scorer, res *explain.Result, label int) ([]float64, explain.MaskScorer) {
		return labelWeights(res, label, players), func(ctx context.Context, present [][]bool) ([]float64, error) {
			out := make([]float64, len(present))
			rows := maskedData(data[:n], groups, mean, present)
			scores, err := m.Predict(ctx, rows)
			if err != nil {
				return nil, err
			}
			for i := range present {
				if out[i], err = score(scores[i*n:(i+1)*n], rowsUsed); err != nil {
					return nil, err
				}
			}
			return out, nil
		}
	}
}

// maskedData stacks, for each mask, data with the absent players' columns
// set to mean.
func maskedData(data [][]float64, groups [][]int, mean []float64, present [][]bool) [][]float64 {
	n := len(data)
	rows := make([][]float64, 0, len(present)*n)
	for _, keep := range present {
		for _, r := range data {
			row := append([]float64(nil), r...)
			for p, in := range keep {
				if in {
					continue
				}
				if len(groups) == 0 {
					row[p] = mean[p]
					continue
				}
				for _, f := range groups[p] {
					row[f] = mean[f]
				}
			}
			rows = append(rows, row)
		}
	}
	return rows
}

// sensitivityCurves removes features from a data set as datasetCurves
// does, ordered by mean absolute derivative; a point's value is the R² of
// the label's scores against the unmodified data's scores (1 with every
// feature present).
func sensitivityCurves(data [][]float64) engine.CurveFunc {
	n := min(len(data), maxCurveRows)
	mean := weightedMean(data, nil)
	return func(m engine.Scorer, res *explain.Result, label int) ([]float64, explain.MaskScorer) {
		var weights []float64
		for _, l := range res.Labels {
			if l.Label == label {
				weights = make([]float64, len(data[0]))
				for _, a := range l.Attributions {
					weights[a.Index] = a.MeanAbs
				}
			}
		}
		return weights, func(ctx context.Context, present [][]bool) ([]float64, error) {
			all := make([]bool, len(data[0]))
			for i := range all {
				all[i] = true
			}
			rows := maskedData(data[:n], nil, mean, append([][]bool{all}, present...))
			scores, err := m.Predict(ctx, rows)
			if err != nil {
				return nil, err
			}
			ref := column(scores[:n], label)
			out := make([]float64, len(present))
			for i := range present {
				out[i] = rSquared(ref, column(scores[(i+1)*n:(i+2)*n], label))
			}
			return out, nil
		}
	}
}

// rSquared is 1 − Σ(ref−got)²/Σ(ref−mean ref)²; for a constant ref, 1
// when got equals it and 0 otherwise (R² is undefined there, and a curve
// needs a finite value).
func rSquared(ref, got []float64) float64 {
	mean := 0.0
	for _, v := range ref {
		mean += v
	}
	mean /= float64(len(ref))
	var sse, sst float64
	for i, v := range ref {
		sse += (v - got[i]) * (v - got[i])
		sst += (v - mean) * (v - mean)
	}
	if sst == 0 {
		if sse == 0 {
			return 1
		}
		return 0
	}
	return 1 - sse/sst
}

// pick returns xs at the given indices; nil stays nil.
func pick(xs []float64, idx []int) []float64 {
	if xs == nil {
		return nil
	}
	out := make([]float64, len(idx))
	for i, j := range idx {
		out[i] = xs[j]
	}
	return out
}

// masksPerCall is how many masks the curves score per call when each
// becomes model input of rowValues values.
func masksPerCall(rowValues int) int { return max(1, explain.MaxBatchValues/max(1, rowValues)) }
