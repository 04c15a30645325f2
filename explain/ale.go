package explain

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
)

// DefaultMinBinPoints is alibi's min_bin_points default: ALE's default
// rule makes rows / DefaultMinBinPoints bins.
const DefaultMinBinPoints = 4

// ALERequest is one accumulated local effects request over a data set.
type ALERequest struct {
	// Data holds N ≥ 2 rows of p features. It is not modified.
	Data [][]float64
	// FeatureNames name the features; nil gives "x0", "x1", ....
	FeatureNames []string
	// Features are the features to compute, each once. Nil: every feature.
	Features []int
	// Bins is the number of quantile bins per feature (fewer where
	// quantiles coincide), 1 to MaxGridResolution. 0: ⌊N / MinBinPoints⌋,
	// at least 1 and at most MaxGridResolution.
	Bins int
	// MinBinPoints sets the default rule's bins, 1 to N; 0 means
	// DefaultMinBinPoints.
	MinBinPoints int
	// Categorical lists the categorical features; ALE is defined for
	// numeric ones only, and a request asking one of these is refused.
	Categorical []int
	// Labels are the classes (model output columns) to report, each once.
	// Nil: all, in order.
	Labels []int
	// BatchRows packs evaluations (the N rows with one feature at its bins'
	// lower or upper edges) into Predict calls as
	// PartialDependenceRequest.BatchRows does.
	BatchRows int
	// Partial, when set, is called after each finished feature with the
	// number finished, the number in all and a result holding the finished
	// ones, in request order. It runs on the caller's goroutine.
	Partial func(done, total int, res *Result)
}

// ALECurve is one label's accumulated local effects over one feature.
type ALECurve struct {
	// Feature is the feature's index, Name its name.
	Feature int
	Name    string
	// Edges are the K+1 bin edges z_0 < … < z_K.
	Edges []float64
	// Effects are the centred accumulated effects at the edges.
	Effects []float64
	// StdErrs are the effects' standard errors: at edge k, the bins'
	// standard errors up to k added in quadrature, sqrt(Σ_{m≤k} s_m²/n_m)
	// with s_m the sample standard deviation (ddof 1) of bin m's
	// differences (0 for a bin of one row); 0 at edge 0. The centring's
	// own uncertainty is left out.
	StdErrs []float64
	// BinCounts are the rows n_1 … n_K in each bin.
	BinCounts []int
	// Constant is the mean score of the label over the data: the ALE
	// model's zeroth-order term.
	Constant float64
}

// aleFeature is one feature of a request: its edges and its rows' bins.
type aleFeature struct {
	j     int
	edges []float64
	bin   []int // bin[i] in 1..K: row i lies in (z_{k−1}, z_k], the minimum in bin 1
	count []int // count[k−1] = n_k
	first int   // its first evaluation (lower edges; first+1 upper), −1 without
}

// ALE computes first-order accumulated local effects (Apley and Zhu 2016)
// as alibi's ALE does for numeric features. Feature j's bin edges z_0 < …
// < z_K are the distinct values among its np.percentile (linear) at K+1
// evenly spaced levels from 0 to 100, K = Bins; row i lies in bin k when
// z_{k−1} < x_ij ≤ z_k (the column's minimum in bin 1). Each row is scored
// with x_j at its bin's lower and upper edge, and, per label c,
//
//	Δ_k = (1/n_k) Σ_{i in bin k} f_c(x_i with x_j = z_k) − f_c(x_i with x_j = z_{k−1})
//	A_k = Σ_{m≤k} Δ_m   (A_0 = 0)
//	effect_k = A_k − (1/N) Σ_{k=1..K} n_k (A_{k−1} + A_k)/2
//
// so that the effects' mean over the rows, each bin at the mean of its two
// edges, is 0 (alibi's ale0). An empty bin has Δ_k = 0. A feature with one
// distinct value has one edge, effect 0 and no bins, and costs nothing.
// Constant is the mean of f_c over the data, which the model scores once.
//
// The result has Method "ale" and NumSamples N + 2·N·(features with bins).
// Calls are packed as in PartialDependence. A request that cannot run is a
// *RequestError naming the field (a categorical feature; a label out of
// range, found when the first scores come back, has Precondition set).
// When ctx is done no new call starts and ctx's error is returned. The
// result is the same, bit for bit, for the same request and model.
func ALE(ctx context.Context, m Model, req ALERequest) (*Result, error) {
	feats, evals, err := req.prepare()
	if err != nil {
		return nil, err
	}
	N, p := len(req.Data), len(req.Data[0])
	names := FeatureNames(req.FeatureNames, p)
	res := &Result{Method: "ale", NumSamples: N * evals}

	var labels []int
	var curves [][]ALECurve // [label][feature]
	var constant []float64  // per label, once the data's own scores are in
	outs := make([][2][][]float64, len(feats))
	computed := make([]bool, len(feats))
	done := make([]bool, len(feats))
	finished := 0
	owner := make([]int, evals) // evaluation → feature; 0 is the data's own
	for a, f := range feats {
		if f.first > 0 {
			owner[f.first], owner[f.first+1] = a, a
		}
	}
	collect := func(k int, out [][]float64) error {
		if labels == nil {
			if labels, err = resolveLabels(req.Labels, len(out[0])); err != nil {
				return err
			}
			curves = perLabel(labels, len(feats), func(a int) ALECurve {
				f := feats[a]
				return ALECurve{Feature: f.j, Name: names[f.j], Edges: f.edges, BinCounts: f.count, Effects: []float64{0}, StdErrs: []float64{0}}
			})
		}
		if k == 0 {
			constant = make([]float64, len(labels))
			for l, c := range labels {
				var s float64
				for _, row := range out {
					s += row[c]
				}
				constant[l] = s / float64(N)
				for a := range feats {
					curves[l][a].Constant = constant[l]
				}
			}
		} else {
			a := owner[k]
			outs[a][k-feats[a].first] = out
			if outs[a][0] != nil && outs[a][1] != nil {
				for l, c := range labels {
					curves[l][a].Effects, curves[l][a].StdErrs = aleCurve(feats[a], c, outs[a][0], outs[a][1])
				}
				outs[a] = [2][][]float64{}
				computed[a] = true
			}
		}
		before := finished
		for a, f := range feats {
			if !done[a] && constant != nil && (computed[a] || f.first < 0) {
				done[a] = true
				finished++
			}
		}
		if req.Partial != nil && finished > before && finished < len(feats) {
			req.Partial(finished, len(feats), aleResult(res, labels, curves, done))
		}
		return nil
	}
	err = runPacked(ctx, "ale", m, req.Data, evals, req.BatchRows,
		func(k int) []int {
			if k == 0 {
				return nil
			}
			return []int{feats[owner[k]].j}
		},
		func(k int, rows [][]float64) {
			if k == 0 {
				return
			}
			f := feats[owner[k]]
			side := k - f.first // 0: lower edges, 1: upper
			for i, row := range rows {
				row[f.j] = f.edges[f.bin[i]-1+side]
			}
		}, collect)
	if err != nil {
		return nil, err
	}
	final := aleResult(res, labels, curves, done)
	if err := final.nonFinite(); err != nil {
		return nil, err
	}
	return final, nil
}

// aleCurve returns label c's centred effects and their standard errors at
// f's edges from each row's scores at its bin's lower and upper edges.
func aleCurve(f aleFeature, c int, lowOut, highOut [][]float64) (effects, stdErrs []float64) {
	K := len(f.edges) - 1
	sums := make([]float64, K)
	for i := range lowOut {
		sums[f.bin[i]-1] += highOut[i][c] - lowOut[i][c]
	}
	means := make([]float64, K)
	for k, n := range f.count {
		if n > 0 {
			means[k] = sums[k] / float64(n)
		}
	}
	ss := make([]float64, K)
	for i := range lowOut {
		k := f.bin[i] - 1
		d := highOut[i][c] - lowOut[i][c] - means[k]
		ss[k] += d * d
	}
	effects = make([]float64, K+1)
	stdErrs = make([]float64, K+1)
	var ale0, se2 float64
	for k := 1; k <= K; k++ {
		effects[k] = effects[k-1] + means[k-1]
		n := f.count[k-1]
		ale0 += 0.5 * (effects[k-1] + effects[k]) * float64(n)
		if n > 1 {
			se2 += ss[k-1] / float64(n-1) / float64(n)
		}
		stdErrs[k] = math.Sqrt(se2)
	}
	ale0 /= float64(len(lowOut))
	for k := range effects {
		effects[k] -= ale0
	}
	return effects, stdErrs
}

// aleResult is withFinished for ALE curves.
func aleResult(res *Result, labels []int, curves [][]ALECurve, done []bool) *Result {
	return withFinished(res, labels, curves, func(a int) bool { return done[a] }, func(l *LabelResult, cs []ALECurve) { l.ALE = cs })
}

// prepare validates req, bins each feature's rows and numbers the
// evaluations: 0 is the data itself, then each feature with bins has its
// lower-edge and upper-edge evaluations.
func (req *ALERequest) prepare() ([]aleFeature, int, error) {
	N := len(req.Data)
	p, err := checkDataset(req.Data, req.FeatureNames, 2)
	if err != nil {
		return nil, 0, err
	}
	if req.Bins < 0 || req.Bins > MaxGridResolution {
		return nil, 0, invalid("bins", "%d is outside [1, %d]", req.Bins, MaxGridResolution)
	}
	// An explicit min_bin_points above the rows is a mistake; the default
	// on fewer than 4 rows makes one bin.
	if req.MinBinPoints < 0 || req.MinBinPoints > N {
		return nil, 0, invalid("min_bin_points", "%d is outside [1, %d] (the rows)", req.MinBinPoints, N)
	}
	mbp := req.MinBinPoints
	if mbp == 0 {
		mbp = DefaultMinBinPoints
	}
	bins := req.Bins
	if bins == 0 {
		bins = min(max(1, N/mbp), MaxGridResolution)
	}
	if err := checkLabels(req.Labels); err != nil {
		return nil, 0, err
	}
	features := req.Features
	if features == nil {
		for j := range p {
			features = append(features, j)
		}
	}
	if len(features) == 0 {
		return nil, 0, invalid("features", "is empty; leave it unset for every feature")
	}
	if len(features) > MaxCurveFeatures {
		return nil, 0, invalid("features", "%d features exceed limit %d; ask fewer", len(features), MaxCurveFeatures)
	}
	if rows := 2 * N * len(features); rows > MaxDatasetRowsScored {
		return nil, 0, invalid("features", "2 × rows × features = %d rows to score exceeds limit %d; ask fewer features or send fewer rows", rows, MaxDatasetRowsScored)
	}
	feats := make([]aleFeature, len(features))
	evals := 1
	for a, j := range features {
		field := fmt.Sprintf("features[%d]", a)
		if j < 0 || j >= p {
			return nil, 0, invalid(field, "feature %d is out of range [0,%d)", j, p)
		}
		if slices.Contains(features[:a], j) {
			return nil, 0, invalid(field, "repeats feature %d", j)
		}
		if slices.Contains(req.Categorical, j) {
			return nil, 0, invalid(field, "feature %d is categorical; ALE is defined for numeric features only (use partial_dependence for categorical ones)", j)
		}
		col := make([]float64, N)
		for i, row := range req.Data {
			col[i] = row[j]
		}
		f := aleFeature{j: j, edges: aleEdges(col, bins), first: -1}
		if K := len(f.edges) - 1; K > 0 {
			f.bin = make([]int, N)
			f.count = make([]int, K)
			for i, v := range col {
				k := max(1, sort.SearchFloat64s(f.edges, v))
				f.bin[i] = k
				f.count[k-1]++
			}
			f.first = evals
			evals += 2
		}
		feats[a] = f
	}
	return feats, evals, nil
}

// aleEdges returns the distinct values of np.percentile(col, levels) with
// linear interpolation at the bins+1 levels np.linspace(0, 100, bins+1),
// in increasing order. col is not modified.
func aleEdges(col []float64, bins int) []float64 {
	col = slices.Sorted(slices.Values(col))
	n := len(col)
	levels := linspace(0, 100, bins+1)
	edges := make([]float64, 0, bins+1)
	for _, q := range levels {
		h := float64(n-1) * (q / 100)
		lo := int(math.Floor(h))
		if lo >= n-1 {
			edges = append(edges, col[n-1])
			continue
		}
		t := h - float64(lo)
		a, b := col[lo], col[lo+1]
		// numpy's _lerp: exact at both ends.
		v := a + (b-a)*t
		if t >= 0.5 {
			v = b - (b-a)*(1-t)
		}
		edges = append(edges, v)
	}
	slices.Sort(edges)
	return slices.Compact(edges)
}

// aleFinite reports whether every value of cs is finite.
func aleFinite(cs []ALECurve) bool {
	for _, c := range cs {
		if !finite(c.Effects...) || !finite(c.StdErrs...) || !finite(c.Constant) {
			return false
		}
	}
	return true
}

// pdFinite reports whether every value of cs is finite.
func pdFinite(cs []PDCurve) bool {
	for _, c := range cs {
		if !finite(c.Average...) || !finite(c.AverageStdErr...) {
			return false
		}
		for _, v := range c.Individual {
			if !finite(v...) {
				return false
			}
		}
	}
	return true
}

// ALERows returns the rows req makes the model score, N + 2·N·(features
// with more than one distinct value), or the error that refuses it.
func ALERows(req ALERequest) (int, error) {
	_, evals, err := req.prepare()
	if err != nil {
		return 0, err
	}
	return evals * len(req.Data), nil
}
