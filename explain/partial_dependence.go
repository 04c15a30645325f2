package explain

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
)

// Limits and defaults of a partial dependence request.
const (
	// DefaultGridResolution is scikit-learn's grid_resolution default.
	DefaultGridResolution = 100
	// MaxGridResolution caps GridResolution and a custom grid's values.
	MaxGridResolution = 1000
	// MaxCurveFeatures caps the features (or pairs) of one partial
	// dependence or ALE request: each costs a curve per label in the
	// result.
	MaxCurveFeatures = 10_000
	// MaxDatasetRowsScored caps the rows a partial dependence or ALE
	// request makes the model score: rows × grid points summed over the
	// features (partial dependence), 2 × rows × features (ALE).
	MaxDatasetRowsScored = 20_000_000
)

// PDKind says which curves PartialDependence returns, as scikit-learn's
// partial_dependence(kind=...).
type PDKind int

const (
	// PDAverage returns the mean over the rows: the partial dependence.
	PDAverage PDKind = iota
	// PDIndividual returns every row's curve (ICE).
	PDIndividual
	// PDBoth returns both.
	PDBoth
)

// PartialDependenceRequest is one partial dependence (and ICE) request
// over a data set.
type PartialDependenceRequest struct {
	// Data holds N ≥ 1 rows of p features. It is not modified.
	Data [][]float64
	// FeatureNames name the features; nil gives "x0", "x1", ....
	FeatureNames []string
	// Features lists the curves (one feature) and surfaces (two features,
	// a pair) to compute. Nil: every feature on its own.
	Features [][]int
	// GridResolution is the grid size of a numeric feature with at least
	// that many distinct values. Default DefaultGridResolution; 2 to
	// MaxGridResolution.
	GridResolution int
	// Percentiles bound the computed grids, as scipy's mquantiles (with
	// its defaults alphap = betap = 0.4) computes them. The zero value
	// means scikit-learn's (0.05, 0.95); otherwise 0 ≤ lower < upper ≤ 1.
	Percentiles [2]float64
	// Grids gives features their own grid values, in the order the curve
	// visits them (1 to MaxGridResolution finite values).
	Grids map[int][]float64
	// Categorical marks categorical features, with optional category names
	// (code c is named Categorical[j][c]): their grid is every distinct
	// value in Data, whatever GridResolution.
	Categorical map[int][]string
	// Kind selects the curves; the zero value is PDAverage.
	Kind PDKind
	// Centered subtracts each row's score at the first grid point from its
	// curve (and so the average's value there from the average), as
	// scikit-learn's centered=True.
	Centered bool
	// Labels are the classes (model output columns) to report, each once.
	// Nil: all, in order.
	Labels []int
	// BatchRows packs the rows of k = max(1, BatchRows/N) grid points into
	// one Predict call (at most MaxBatchValues values), so that a model
	// with large batches scores many grid points at once. 0 (or less than
	// N) sends one grid point per call. The result does not depend on it.
	BatchRows int
	// Partial, when set, is called after each finished feature (or pair)
	// with the number finished, the number in all and a result holding the
	// finished ones, in request order. It runs on the caller's goroutine.
	Partial func(done, total int, res *Result)
}

// PDCurve is one label's partial dependence over one feature (a curve)
// or a pair of features (a surface, row-major over Grids[0]).
type PDCurve struct {
	// Features are the feature indices, one or two; Names their names.
	Features []int
	Names    []string
	// Grids are the features' grid values, one slice per feature.
	Grids [][]float64
	// GridLabels name the first feature's grid values when it is
	// categorical (its category names, or the codes written out); nil for
	// a numeric feature.
	GridLabels []string
	// Average is the mean score at each grid point (PDAverage, PDBoth),
	// AverageStdErr its standard error: the sample standard deviation
	// (ddof 1) of the rows' (centred) scores there over √N, 0 for N = 1.
	Average       []float64
	AverageStdErr []float64
	// Individual holds every row's curve, in row order (PDIndividual,
	// PDBoth).
	Individual [][]float64
	// Centered says the curves are centred at their first grid point.
	Centered bool
}

// pdEntry is one feature (or pair) of a request, with its grids.
type pdEntry struct {
	features []int
	grids    [][]float64
	labels   []string
	points   int // the product of the grids' lengths
	first    int // the index of its first grid point among all evaluations
}

// PartialDependence computes, as scikit-learn's
// partial_dependence(method="brute"), for each feature (or pair) S of the
// request and each point v of its grid (the cartesian product of the
// features' grids for a pair, row-major), the scores f_c(x_i with x_S = v)
// of every row x_i of the data, and reports per label c
//
//	average(v) = (1/N) Σ_i f_c(x_i with x_S = v)
//
// and each row's curve (ICE). With Centered, every row's score at the first
// grid point v₀ is subtracted from its curve, so the average becomes
// average(v) − average(v₀). A numeric feature's grid is, as scikit-learn's
// _grid_from_X makes it, its distinct values when it has fewer than
// GridResolution of them, else GridResolution evenly spaced values between
// the Percentiles of the column (np.linspace over mquantiles); a
// categorical feature's grid is every category in the data; Grids
// overrides either.
//
// The grid points' rows are scored in Predict calls of k points' N rows
// each (see BatchRows), two calls in flight; each call holds k working
// copies of the data, at most MaxBatchValues values in all unless one
// point's N rows are more. Memory beyond the caller's data is therefore
// 2·k·N·p values for the copies, the outputs of at most five calls, the
// result itself (N curves of the grid's length per label and feature with
// PDIndividual or PDBoth), and, for a centred request, each row's score at
// the first grid point of the features in progress.
//
// The result has Method "partial_dependence" and NumSamples the rows
// scored, N × Σ grid points. A request that cannot run is a *RequestError
// naming the field (a label out of range, found when the first scores come
// back, has Precondition set). When ctx is done no new call starts and
// ctx's error is returned. The result is the same, bit for bit, for the
// same request and model, whatever the scheduling.
func PartialDependence(ctx context.Context, m Model, req PartialDependenceRequest) (*Result, error) {
	entries, err := req.prepare()
	if err != nil {
		return nil, err
	}
	N, p := len(req.Data), len(req.Data[0])
	names := FeatureNames(req.FeatureNames, p)
	evals := 0
	for _, e := range entries {
		evals += e.points
	}
	res := &Result{Method: "partial_dependence", NumSamples: N * evals}
	average := req.Kind == PDAverage || req.Kind == PDBoth
	individual := req.Kind == PDIndividual || req.Kind == PDBoth

	var labels []int
	// curves[l][e] is label l's result for entry e; done[e] counts e's
	// finished grid points; base[e][l] holds each row's score at e's first
	// grid point (centred requests); pending[e] the outputs that came
	// before it.
	var curves [][]PDCurve
	done := make([]int, len(entries))
	base := make([][][]float64, len(entries))
	pending := make([][]pdOutput, len(entries))
	finished := 0
	entryOf := func(k int) int {
		e, _ := slices.BinarySearchFunc(entries, k, func(x pdEntry, k int) int {
			if x.first+x.points <= k {
				return -1
			}
			if x.first > k {
				return 1
			}
			return 0
		})
		return e
	}
	account := func(e, g int, out [][]float64) {
		for l, c := range labels {
			cv := &curves[l][e]
			var b []float64
			if req.Centered {
				b = base[e][l]
			}
			var sum float64
			for i, row := range out {
				v := row[c]
				if b != nil {
					v -= b[i]
				}
				sum += v
				if individual {
					cv.Individual[i][g] = v
				}
			}
			if !average {
				continue
			}
			mean := sum / float64(N)
			var ss float64
			for i, row := range out {
				v := row[c]
				if b != nil {
					v -= b[i]
				}
				ss += (v - mean) * (v - mean)
			}
			cv.Average[g] = mean
			if N > 1 {
				cv.AverageStdErr[g] = math.Sqrt(ss / float64(N-1) / float64(N))
			}
		}
	}
	collect := func(k int, out [][]float64) error {
		if labels == nil {
			if labels, err = resolveLabels(req.Labels, len(out[0])); err != nil {
				return err
			}
			curves = perLabel(labels, len(entries), func(e int) PDCurve {
				en := entries[e]
				cv := PDCurve{Features: en.features, Grids: en.grids, GridLabels: en.labels, Centered: req.Centered}
				for _, j := range en.features {
					cv.Names = append(cv.Names, names[j])
				}
				if average {
					cv.Average = make([]float64, en.points)
					cv.AverageStdErr = make([]float64, en.points)
				}
				if individual {
					backing := make([]float64, N*en.points)
					cv.Individual = make([][]float64, N)
					for i := range cv.Individual {
						cv.Individual[i] = backing[i*en.points : (i+1)*en.points : (i+1)*en.points]
					}
				}
				return cv
			})
		}
		e := entryOf(k)
		g := k - entries[e].first
		if req.Centered && base[e] == nil {
			if g != 0 {
				pending[e] = append(pending[e], pdOutput{g, out})
				return nil
			}
			base[e] = make([][]float64, len(labels))
			for l, c := range labels {
				base[e][l] = make([]float64, N)
				for i, row := range out {
					base[e][l][i] = row[c]
				}
			}
			account(e, g, out)
			for _, o := range pending[e] {
				account(e, o.g, o.out)
			}
			done[e] += 1 + len(pending[e])
			pending[e] = nil
		} else {
			account(e, g, out)
			done[e]++
		}
		if done[e] < entries[e].points {
			return nil
		}
		base[e] = nil
		finished++
		if req.Partial != nil && finished < len(entries) {
			req.Partial(finished, len(entries), pdResult(res, labels, curves, func(e int) bool { return done[e] == entries[e].points }))
		}
		return nil
	}
	err = runPacked(ctx, "partial_dependence", m, req.Data, evals, req.BatchRows,
		func(k int) []int { return entries[entryOf(k)].features },
		func(k int, rows [][]float64) {
			en := entries[entryOf(k)]
			g := k - en.first
			j := en.features[0]
			if len(en.features) == 2 {
				n2 := len(en.grids[1])
				j2, v2 := en.features[1], en.grids[1][g%n2]
				for _, row := range rows {
					row[j2] = v2
				}
				g /= n2
			}
			for _, row := range rows {
				row[j] = en.grids[0][g]
			}
		}, collect)
	if err != nil {
		return nil, err
	}
	final := pdResult(res, labels, curves, func(e int) bool { return done[e] == entries[e].points })
	if err := final.nonFinite(); err != nil {
		return nil, err
	}
	return final, nil
}

// pdOutput is a grid point's scores waiting for its feature's first point.
type pdOutput struct {
	g   int
	out [][]float64
}

// withFinished returns a copy of res with one LabelResult per label
// holding, through set, the curves of the finished features (done(a)), in
// request order.
func withFinished[T any](res *Result, labels []int, curves [][]T, done func(a int) bool, set func(*LabelResult, []T)) *Result {
	out := *res
	out.Labels = make([]LabelResult, len(labels))
	for l, c := range labels {
		out.Labels[l].Label = c
		var finished []T
		for a, cv := range curves[l] {
			if done(a) {
				finished = append(finished, cv)
			}
		}
		set(&out.Labels[l], finished)
	}
	return &out
}

// perLabel returns, for each of labels, the n curves mk(0), …, mk(n−1).
func perLabel[T any](labels []int, n int, mk func(a int) T) [][]T {
	curves := make([][]T, len(labels))
	for l := range labels {
		curves[l] = make([]T, n)
		for a := range n {
			curves[l][a] = mk(a)
		}
	}
	return curves
}

// prepare validates req and builds each feature's (or pair's) grids.
func (req *PartialDependenceRequest) prepare() ([]pdEntry, error) {
	p, err := checkDataset(req.Data, req.FeatureNames, 1)
	if err != nil {
		return nil, err
	}
	res := req.GridResolution
	if res == 0 {
		res = DefaultGridResolution
	}
	if res < 2 || res > MaxGridResolution {
		return nil, invalid("grid_resolution", "%d is outside [2, %d]", res, MaxGridResolution)
	}
	lo, hi := req.Percentiles[0], req.Percentiles[1]
	if lo == 0 && hi == 0 {
		lo, hi = 0.05, 0.95
	}
	if !(lo >= 0 && lo < hi && hi <= 1) {
		return nil, invalid("percentiles", "need 0 <= lower < upper <= 1")
	}
	if req.Kind < PDAverage || req.Kind > PDBoth {
		return nil, invalid("kind", "unknown kind %d", req.Kind)
	}
	if err := checkLabels(req.Labels); err != nil {
		return nil, err
	}
	for j, g := range req.Grids {
		field := fmt.Sprintf("grids[feature %d]", j)
		if j < 0 || j >= p {
			return nil, invalid(field, "feature %d is out of range [0,%d)", j, p)
		}
		if len(g) < 1 || len(g) > MaxGridResolution {
			return nil, invalid(field, "has %d values, want 1 to %d", len(g), MaxGridResolution)
		}
		for _, v := range g {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, invalid(field, "non-finite value")
			}
		}
	}
	for j := range req.Categorical {
		if j < 0 || j >= p {
			return nil, invalid("categorical_features", "feature %d is out of range [0,%d)", j, p)
		}
	}
	features := req.Features
	if features == nil {
		for j := range p {
			features = append(features, []int{j})
		}
	}
	if len(features) == 0 {
		return nil, invalid("features", "is empty; leave it unset for every feature")
	}
	if len(features) > MaxCurveFeatures {
		return nil, invalid("features", "%d features exceed limit %d; ask fewer", len(features), MaxCurveFeatures)
	}
	grids := map[int][]float64{}
	var labels map[int][]string
	gridOf := func(j int) ([]float64, error) {
		if g, ok := grids[j]; ok {
			return g, nil
		}
		g, ls, err := req.grid(j, res, lo, hi)
		if err != nil {
			return nil, err
		}
		grids[j] = g
		if ls != nil {
			if labels == nil {
				labels = map[int][]string{}
			}
			labels[j] = ls
		}
		return g, nil
	}
	entries := make([]pdEntry, len(features))
	total, first := 0, 0
	for i, fs := range features {
		field := fmt.Sprintf("features[%d]", i)
		if len(fs) != 1 && len(fs) != 2 {
			return nil, invalid(field, "has %d features, want 1 or 2", len(fs))
		}
		if len(fs) == 2 && fs[0] == fs[1] {
			return nil, invalid(field, "pairs feature %d with itself", fs[0])
		}
		en := pdEntry{features: fs, points: 1, first: first}
		for _, j := range fs {
			if j < 0 || j >= p {
				return nil, invalid(field, "feature %d is out of range [0,%d)", j, p)
			}
			g, err := gridOf(j)
			if err != nil {
				return nil, err
			}
			en.grids = append(en.grids, g)
			en.points *= len(g)
		}
		en.labels = labels[fs[0]]
		entries[i] = en
		first += en.points
		total += en.points * len(req.Data)
		if total > MaxDatasetRowsScored {
			return nil, invalid("features", "rows × grid points = %d rows to score (so far) exceeds limit %d; ask fewer features or a smaller grid_resolution, or send fewer rows", total, MaxDatasetRowsScored)
		}
	}
	return entries, nil
}

// PartialDependenceRows returns the rows req makes the model score, N ×
// the grid points summed over its features, or the error that refuses it.
func PartialDependenceRows(req PartialDependenceRequest) (int, error) {
	entries, err := req.prepare()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		n += e.points * len(req.Data)
	}
	return n, nil
}

// grid returns feature j's grid (scikit-learn's _grid_from_X) and, for a
// categorical feature, the grid values' names.
func (req *PartialDependenceRequest) grid(j, resolution int, lo, hi float64) ([]float64, []string, error) {
	catNames, categorical := req.Categorical[j]
	var g []float64
	if custom, ok := req.Grids[j]; ok {
		g = custom
	} else {
		col := make([]float64, len(req.Data))
		for i, row := range req.Data {
			col[i] = row[j]
		}
		slices.Sort(col)
		uniques := slices.Compact(slices.Clone(col))
		if categorical || len(uniques) < resolution {
			g = uniques
		} else {
			a, b := mquantile(col, lo), mquantile(col, hi)
			if math.Abs(a-b) <= 1e-8+1e-5*math.Abs(b) {
				return nil, nil, invalid("percentiles", "feature %d: the percentiles are too close to each other (equal up to numpy's allclose); widen them", j)
			}
			g = linspace(a, b, resolution)
		}
	}
	if !categorical {
		return g, nil, nil
	}
	labels := make([]string, len(g))
	for i, v := range g {
		if c := int(v); float64(c) == v && c >= 0 && c < len(catNames) {
			labels[i] = catNames[c]
		} else {
			labels[i] = strconv.FormatFloat(v, 'g', -1, 64)
		}
	}
	return g, labels, nil
}

// mquantile is scipy.stats.mstats.mquantiles(x, prob) with its defaults
// (alphap = betap = 0.4) for sorted x of n ≥ 2 values: with m = 0.4 + 0.2·prob,
// aleph = n·prob + m, k = ⌊clip(aleph, 1, n−1)⌋ and γ = clip(aleph − k,
// 0, 1), it is (1−γ)·x[k−1] + γ·x[k].
func mquantile(x []float64, prob float64) float64 {
	n := float64(len(x))
	aleph := n*prob + (0.4 + prob*(1-0.4-0.4))
	k := math.Floor(min(max(aleph, 1), n-1))
	gamma := min(max(aleph-k, 0), 1)
	return (1-gamma)*x[int(k)-1] + gamma*x[int(k)]
}

// linspace is np.linspace(a, b, n) for n ≥ 2: a + i·(b−a)/(n−1), the last
// value b exactly.
func linspace(a, b float64, n int) []float64 {
	out := make([]float64, n)
	step := (b - a) / float64(n-1)
	for i := range out {
		out[i] = float64(i)*step + a
	}
	out[n-1] = b
	return out
}

// checkDataset checks a global method's data set, at least minRows rows
// (rectangular and finite, see checkData) and its names, and returns the
// feature count.
func checkDataset(data [][]float64, names []string, minRows int) (int, error) {
	if len(data) == 0 {
		return 0, invalid("data", "has no rows")
	}
	if len(data) < minRows {
		return 0, invalid("data", "has %d rows, needs at least %d", len(data), minRows)
	}
	p, err := checkData(data)
	if err != nil {
		return 0, err
	}
	if names != nil && len(names) != p {
		return 0, invalid("feature_names", "has %d names for %d features", len(names), p)
	}
	return p, nil
}

// checkLabels checks requested labels: not empty when given, none
// negative, none twice.
func checkLabels(labels []int) error {
	if labels != nil && len(labels) == 0 {
		return invalid("labels", "is empty; leave it unset to report every class")
	}
	for i, c := range labels {
		if c < 0 {
			return invalid(fmt.Sprintf("labels[%d]", i), "must not be negative")
		}
		if slices.Contains(labels[:i], c) {
			return invalid(fmt.Sprintf("labels[%d]", i), "repeats class %d", c)
		}
	}
	return nil
}

// resolveLabels returns the labels to report for a model of width
// outputs: labels, checked against width, or every column when nil.
func resolveLabels(labels []int, width int) ([]int, error) {
	if labels == nil {
		labels = make([]int, width)
		for c := range labels {
			labels[c] = c
		}
		return labels, nil
	}
	for i, c := range labels {
		if c >= width {
			return nil, precondition(fmt.Sprintf("labels[%d]", i), "%d is out of range [0,%d)", c, width)
		}
	}
	return labels, nil
}

// runPacked scores evals evaluations of the data: evaluation k is data
// with the columns cols(k) rewritten by fill(k, rows) (the other columns
// as in data). The evaluations go to m in Predict calls of k =
// max(1, batchRows/N) evaluations' rows (at most MaxBatchValues values
// unless one evaluation has more), two calls in flight (runEvaluations);
// each in-flight call keeps k working copies of the data, in which only
// the columns the last evaluation rewrote are restored before the next
// fill. collect gets each evaluation's scores, on the caller's goroutine,
// in the order the calls finish; every evaluation's scores have the same
// width, checked here.
func runPacked(ctx context.Context, name string, m Model, data [][]float64, evals, batchRows int, cols func(k int) []int, fill func(k int, rows [][]float64), collect func(k int, out [][]float64) error) error {
	N, p := len(data), len(data[0])
	per := 1
	if batchRows > N {
		per = max(1, min(batchRows, MaxBatchValues/p)/N)
	}
	units := (evals + per - 1) / per
	width := 0
	collectUnit := func(u int, outs [][][]float64) error {
		for i, out := range outs {
			if w := len(out[0]); width == 0 {
				width = w
			} else if w != width {
				return fmt.Errorf("explain: model returned %d scores per row in one evaluation, %d in another", w, width)
			}
			if err := collect(u*per+i, out); err != nil {
				return err
			}
		}
		return nil
	}
	newWorker := func() func(context.Context, int) ([][][]float64, error) {
		var (
			wss    []*columnWorkspace
			packed [][]float64
		)
		return func(ctx context.Context, u int) ([][][]float64, error) {
			lo, hi := u*per, min((u+1)*per, evals)
			packed = packed[:0]
			for i, k := 0, lo; k < hi; i, k = i+1, k+1 {
				if i == len(wss) {
					wss = append(wss, newColumnWorkspace(data))
				}
				packed = append(packed, wss[i].set(cols(k), func(rows [][]float64) { fill(k, rows) })...)
			}
			out, err := predict(ctx, m, packed)
			if err != nil {
				return nil, err
			}
			split := make([][][]float64, hi-lo)
			for i := range split {
				split[i] = out.rows[i*N : (i+1)*N : (i+1)*N]
			}
			return split, nil
		}
	}
	return runEvaluations(ctx, name, units, newWorker, collectUnit)
}

// columnWorkspace is one evaluation's working copy of the data, with some
// columns rewritten.
type columnWorkspace struct {
	src     [][]float64
	rows    [][]float64 // the copy, in one backing array
	written []int       // the columns rewritten in rows
}

func newColumnWorkspace(src [][]float64) *columnWorkspace {
	n, p := len(src), len(src[0])
	backing := make([]float64, n*p)
	ws := &columnWorkspace{src: src, rows: make([][]float64, n)}
	for i, row := range src {
		ws.rows[i] = backing[i*p : (i+1)*p : (i+1)*p]
		copy(ws.rows[i], row)
	}
	return ws
}

// set restores the columns rewritten last, lets fill rewrite cols, and
// returns the copy.
func (ws *columnWorkspace) set(cols []int, fill func(rows [][]float64)) [][]float64 {
	for _, j := range ws.written {
		for i, dst := range ws.rows {
			dst[j] = ws.src[i][j]
		}
	}
	ws.written = append(ws.written[:0], cols...)
	fill(ws.rows)
	return ws.rows
}

// pdResult is withFinished for partial dependence curves.
func pdResult(res *Result, labels []int, curves [][]PDCurve, done func(e int) bool) *Result {
	return withFinished(res, labels, curves, done, func(l *LabelResult, cs []PDCurve) { l.PartialDependence = cs })
}
