package sampler

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// k-means settings: scikit-learn's KMeans defaults, with shap.kmeans's
// n_init = 10.
const (
	// KMeansInits is the number of k-means++ starts; the run with the
	// lowest inertia is kept (n_init).
	KMeansInits = 10
	// KMeansMaxIter caps the Lloyd iterations of one start (max_iter).
	KMeansMaxIter = 300
	// KMeansTol stops a start once the centres move less than KMeansTol
	// times the mean feature variance, in total squared distance (tol).
	KMeansTol = 1e-4
)

// KMeans is a clustering of data rows into K clusters.
type KMeans struct {
	// Centres holds the K cluster means.
	Centres [][]float64
	// Labels gives each data row's cluster: the index of its nearest
	// centre (the first, on a tie).
	Labels []int
	// Sizes counts the rows of each cluster (of Labels). A cluster is empty
	// only in degenerate cases (two starts' centres on duplicate rows).
	Sizes []int
	// Inertia is Σ_i ‖x_i − c_{Labels[i]}‖².
	Inertia float64
	// Iterations is the number of Lloyd iterations of the kept start.
	Iterations int
}

// FitKMeans clusters data into k clusters as scikit-learn's
// KMeans(n_clusters=k, n_init=inits, algorithm="lloyd") does: each of the
// inits starts draws k centres by greedy k-means++ (the first row uniformly,
// each next one the best, by total squared distance, of 2 + ⌊ln k⌋ rows
// drawn with probability proportional to their squared distance to the
// nearest centre so far), then runs Lloyd's iterations, minimising
//
//	Σ_i ‖x_i − c_{l(i)}‖²
//
// by alternately assigning each row to its nearest centre and moving each
// centre to the mean of its rows, until no label changes or the centres move
// by at most KMeansTol × the mean feature variance in total squared
// distance, KMeansMaxIter iterations at most. A cluster left empty takes the
// row farthest from its centre (scikit-learn's relocation). The start with
// the lowest inertia is kept (the earliest, on a tie).
//
// The draws come from rng alone, so the same rng state gives the same
// clustering; scikit-learn's own draws differ, so on data whose clusters are
// ambiguous the two can settle in different local minima. data needs at
// least k distinct rows (SummarizeKMeans handles fewer); it is not
// modified. For n rows of p values, each start's k-means++ takes about
// (2 + ln k)·n·k·p multiply-adds and each Lloyd iteration up to n·k·p,
// much less once Hamerly's bounds (see hamerly) let rows skip the
// distances, and n·p for the means.
func FitKMeans(data [][]float64, k, inits int, rng *rand.Rand) (*KMeans, error) {
	if _, err := checkTable("k-means", data); err != nil {
		return nil, err
	}
	switch {
	case k < 1:
		return nil, fmt.Errorf("sampler: k-means: k = %d, want at least 1", k)
	case inits < 1:
		return nil, fmt.Errorf("sampler: k-means: %d starts, want at least 1", inits)
	}
	if d := countDistinct(data, k+1); d < k {
		return nil, fmt.Errorf("sampler: k-means: %d distinct rows, fewer than k = %d", d, k)
	}
	tol := KMeansTol * meanVariance(data)
	var best *KMeans
	for range inits {
		km := lloyd(data, kmeansPlusPlus(data, k, rng), tol, true)
		if best == nil || km.Inertia < best.Inertia {
			best = km
		}
	}
	return best, nil
}

// checkTable checks that data has rows of one positive width of finite
// values, and returns the row count.
func checkTable(op string, data [][]float64) (int, error) {
	if len(data) == 0 {
		return 0, fmt.Errorf("sampler: %s: no rows", op)
	}
	p := len(data[0])
	if p == 0 {
		return 0, fmt.Errorf("sampler: %s: rows of 0 values", op)
	}
	for i, r := range data {
		if len(r) != p {
			return 0, fmt.Errorf("sampler: %s: row %d has %d values, row 0 has %d", op, i, len(r), p)
		}
		for _, v := range r {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return 0, fmt.Errorf("sampler: %s: row %d has a non-finite value", op, i)
			}
		}
	}
	return len(data), nil
}

// rowKey is a row's bits, as a map key: rows with equal keys are equal
// (except for −0 against +0, which count as distinct rows here; k-means
// treats them alike, so at worst a summary keeps both).
func rowKey(r []float64) string {
	b := make([]byte, 8*len(r))
	for j, v := range r {
		u := math.Float64bits(v)
		for s := range 8 {
			b[8*j+s] = byte(u >> (8 * s))
		}
	}
	return string(b)
}

// countDistinct returns the number of distinct rows of data, or limit when
// there are at least that many.
func countDistinct(data [][]float64, limit int) int {
	seen := make(map[string]struct{}, min(len(data), limit))
	for _, r := range data {
		seen[rowKey(r)] = struct{}{}
		if len(seen) >= limit {
			return limit
		}
	}
	return len(seen)
}

// meanVariance is the mean over features of each column's population
// variance (scikit-learn's tolerance scale).
func meanVariance(data [][]float64) float64 {
	n, p := float64(len(data)), len(data[0])
	var total float64
	for j := range p {
		var mean float64
		for _, r := range data {
			mean += r[j]
		}
		mean /= n
		var ss float64
		for _, r := range data {
			d := r[j] - mean
			ss += d * d
		}
		total += ss / n
	}
	return total / float64(p)
}

// sqDist is ‖a − b‖².
func sqDist(a, b []float64) float64 {
	var s float64
	for j, v := range a {
		d := v - b[j]
		s += d * d
	}
	return s
}

// sqDistBelow is ‖a − b‖² when it is below bound, else some value ≥
// bound: the partial sums only grow, so it stops early.
func sqDistBelow(a, b []float64, bound float64) float64 {
	var s float64
	for j, v := range a {
		d := v - b[j]
		s += d * d
		if s >= bound {
			return s
		}
	}
	return s
}

// kmeansPlusPlus draws k initial centres from data by scikit-learn's greedy
// k-means++ (see FitKMeans). The centres are copies.
func kmeansPlusPlus(data [][]float64, k int, rng *rand.Rand) [][]float64 {
	n := len(data)
	trials := 2 + int(math.Log(float64(k)))
	centres := make([][]float64, 0, k)
	first := data[rng.IntN(n)]
	centres = append(centres, slices.Clone(first))
	closest := make([]float64, n) // squared distance to the nearest centre
	var pot float64
	for i, r := range data {
		closest[i] = sqDist(r, first)
		pot += closest[i]
	}
	cum := make([]float64, n)
	cand := make([]float64, n)
	bestDist := make([]float64, n)
	for len(centres) < k {
		var s float64
		for i, d := range closest {
			s += d
			cum[i] = s
		}
		bestPot, bestID := math.Inf(1), -1
		for range trials {
			// The first row whose cumulative potential reaches the draw
			// (numpy's searchsorted, side left), clipped to the last row.
			id, _ := slices.BinarySearch(cum, rng.Float64()*pot)
			id = min(id, n-1)
			c := data[id]
			var p float64
			for i, r := range data {
				cand[i] = min(closest[i], sqDistBelow(r, c, closest[i]))
				p += cand[i]
			}
			// The first trial always counts: with values so large that
			// squared distances overflow, every potential is +Inf (or NaN).
			if bestID < 0 || p < bestPot {
				bestPot, bestID = p, id
				bestDist, cand = cand, bestDist
			}
		}
		centres = append(centres, slices.Clone(data[bestID]))
		closest, bestDist = bestDist, closest
		pot = bestPot
	}
	return centres
}

// assign sets labels[i] to the index of the centre nearest to row i (the
// first, on a tie) and dist[i] to its squared distance. A label already in
// labels (the previous iteration's; −1 for none) is tried first: it is
// usually still the nearest, and its distance then cuts the others' sums
// short after a few features.
func assign(labels []int, dist []float64, data, centres [][]float64) {
	for i, r := range data {
		best := labels[i]
		if best < 0 {
			best = 0
		}
		bd := sqDist(r, centres[best])
		for c := range centres {
			switch {
			case c < best: // wins a tie: the first index
				if d := sqDistAtMost(r, centres[c], bd); d <= bd {
					best, bd = c, d
				}
			case c > best:
				if d := sqDistBelow(r, centres[c], bd); d < bd {
					best, bd = c, d
				}
			}
		}
		labels[i], dist[i] = best, bd
	}
}

// sqDistAtMost is ‖a − b‖² when it is at most bound, else some value above
// bound.
func sqDistAtMost(a, b []float64, bound float64) float64 {
	var s float64
	for j, v := range a {
		d := v - b[j]
		s += d * d
		if s > bound {
			return s
		}
	}
	return s
}

// lloyd runs Lloyd's iterations from centres (which it takes over) as
// scikit-learn's _kmeans_single_lloyd does. With bounded, each iteration's
// assignment skips the rows that Hamerly's bounds prove still nearest to
// their centre (see hamerly); the labels, centres and iterations are the
// same as without.
func lloyd(data, centres [][]float64, tol float64, bounded bool) *KMeans {
	n, k, p := len(data), len(centres), len(data[0])
	labels := make([]int, n)
	prev := make([]int, n)
	for i := range prev {
		labels[i], prev[i] = -1, -1
	}
	dist := make([]float64, n)
	sizes := make([]int, k)
	next := make([][]float64, k)
	for c := range next {
		next[c] = make([]float64, p)
	}
	var h *hamerly
	if bounded {
		h = newHamerly(data, k)
	}
	iter, strict := 0, false
	for iter < KMeansMaxIter {
		iter++
		if h != nil {
			h.assign(labels, data, centres)
		} else {
			assign(labels, dist, data, centres)
		}
		// Sums of each cluster's rows, then the means.
		clear(sizes)
		for c := range next {
			clear(next[c])
		}
		for i, r := range data {
			c := labels[i]
			sizes[c]++
			for j, v := range r {
				next[c][j] += v
			}
		}
		if h != nil && slices.Contains(sizes, 0) {
			for i, r := range data { // the relocation wants exact distances
				dist[i] = sqDist(r, centres[labels[i]])
			}
		}
		relocateEmpty(next, sizes, labels, dist, data)
		var shift float64
		for c := range next {
			if sizes[c] == 0 {
				// Emptied by a relocation (its one row was the farthest
				// from its centre): it stays where it was.
				copy(next[c], centres[c])
				continue
			}
			for j := range next[c] {
				next[c][j] /= float64(sizes[c])
			}
			shift += sqDist(next[c], centres[c])
		}
		if h != nil {
			h.moved(labels, centres, next)
		}
		centres, next = next, centres
		if slices.Equal(labels, prev) {
			strict = true
			break
		}
		if shift <= tol {
			break
		}
		copy(prev, labels)
	}
	if !strict {
		// The centres moved after the last assignment: assign again so that
		// the labels are the nearest centres'.
		assign(labels, dist, data, centres)
	}
	clear(sizes) // the labels' counts (a relocation changed the loop's)
	for _, c := range labels {
		sizes[c]++
	}
	var inertia float64
	for i, r := range data {
		inertia += sqDist(r, centres[labels[i]])
	}
	return &KMeans{Centres: centres, Labels: labels, Sizes: sizes, Inertia: inertia, Iterations: iter}
}

// hamerly keeps Hamerly's bounds (“Making k-means even faster”, 2010) for
// Lloyd's assignment step: for each row an upper bound u ≥ ‖x − c_a‖ on the
// distance to its centre a and a lower bound l ≤ min_{j≠a} ‖x − c_j‖ on the
// distance to any other, and for each centre half the distance to its
// nearest other centre, s_a. When u < max(s_a, l), the triangle inequality
// proves c_a strictly nearest and the row is skipped; else u is recomputed
// and, if still needed, every distance. When the centres move by δ_j, u
// grows by δ_a and l shrinks by the largest δ of the other centres. On data
// without clear clusters, where k-means takes hundreds of iterations whose
// centres barely move, most rows are skipped.
//
// The bounds carry rounding errors of about 1e-16 of the data's diameter D
// per update; a row is skipped only when the bounds clear each other by
// margin = 1e-9·D, so a skip is never wrong, and a near tie is decided by
// exact distances (the first centre wins), as without the bounds.
type hamerly struct {
	upper, lower []float64
	half         []float64
	delta        []float64
	margin       float64
	started      bool
}

func newHamerly(data [][]float64, k int) *hamerly {
	p := len(data[0])
	lo, hi := slices.Clone(data[0]), slices.Clone(data[0])
	for _, r := range data {
		for j, v := range r {
			lo[j], hi[j] = min(lo[j], v), max(hi[j], v)
		}
	}
	var diam float64
	for j := range p {
		diam += (hi[j] - lo[j]) * (hi[j] - lo[j])
	}
	return &hamerly{
		upper:  make([]float64, len(data)),
		lower:  make([]float64, len(data)),
		half:   make([]float64, k),
		delta:  make([]float64, k),
		margin: 1e-9 * math.Sqrt(diam),
	}
}

// assign sets labels to the nearest centres (the first on a tie), as
// assign does, using and maintaining the bounds.
func (h *hamerly) assign(labels []int, data, centres [][]float64) {
	if !h.started {
		h.started = true
		for i, r := range data {
			h.scan(i, r, labels, centres)
		}
		return
	}
	for c := range h.half {
		h.half[c] = math.Inf(1)
	}
	for c := range centres {
		for e := c + 1; e < len(centres); e++ {
			d := math.Sqrt(sqDist(centres[c], centres[e])) / 2
			h.half[c], h.half[e] = min(h.half[c], d), min(h.half[e], d)
		}
	}
	for i, r := range data {
		a := labels[i]
		m := max(h.half[a], h.lower[i])
		if h.upper[i]+h.margin < m {
			continue
		}
		h.upper[i] = math.Sqrt(sqDist(r, centres[a]))
		if h.upper[i]+h.margin < m {
			continue
		}
		h.scan(i, r, labels, centres)
	}
}

// scan labels row i by every distance and resets its bounds.
func (h *hamerly) scan(i int, r []float64, labels []int, centres [][]float64) {
	best, d1, d2 := 0, math.Inf(1), math.Inf(1)
	for c, centre := range centres {
		switch d := sqDist(r, centre); {
		case d < d1:
			best, d1, d2 = c, d, d1
		case d < d2:
			d2 = d
		}
	}
	labels[i], h.upper[i], h.lower[i] = best, math.Sqrt(d1), math.Sqrt(d2)
}

// moved updates the bounds for the centres' move from old to next.
func (h *hamerly) moved(labels []int, old, next [][]float64) {
	first, second, arg := 0.0, 0.0, -1
	for c := range old {
		d := math.Sqrt(sqDist(old[c], next[c]))
		h.delta[c] = d
		switch {
		case d > first:
			first, second, arg = d, first, c
		case d > second:
			second = d
		}
	}
	for i, a := range labels {
		h.upper[i] += h.delta[a]
		if a == arg {
			h.lower[i] -= second
		} else {
			h.lower[i] -= first
		}
	}
}

// relocateEmpty gives each empty cluster (in index order) one of the rows
// farthest from their centres (farthest first; the lower index on a tie),
// moving the row's values out of its old cluster's sum, as scikit-learn's
// _relocate_empty_clusters_dense does. sums and sizes are the clusters' sums
// and counts; the labels are left as they are.
func relocateEmpty(sums [][]float64, sizes, labels []int, dist []float64, data [][]float64) {
	var empty []int
	for c, s := range sizes {
		if s == 0 {
			empty = append(empty, c)
		}
	}
	if len(empty) == 0 {
		return
	}
	far := make([]int, len(data))
	for i := range far {
		far[i] = i
	}
	slices.SortStableFunc(far, func(a, b int) int {
		switch {
		case dist[a] > dist[b]:
			return -1
		case dist[a] < dist[b]:
			return 1
		}
		return 0
	})
	for e, c := range empty {
		i := far[e]
		old := labels[i]
		for j, v := range data[i] {
			sums[old][j] -= v
		}
		copy(sums[c], data[i])
		sizes[c], sizes[old] = 1, sizes[old]-1
	}
}

// SnapToData writes to dst each centre with every value replaced by the
// value of the same feature in data closest to it, the first such row's on a
// tie (shap.kmeans's round_values: numpy's argmin of |x_j − c_j| over the
// rows), and returns dst; nil dst allocates. centres and data are not
// modified. Each snapped value is one the feature takes in data, so a
// categorical or integer feature stays valid. The work is len(centres)·n·p.
func SnapToData(dst, centres, data [][]float64) [][]float64 {
	if dst == nil {
		dst = make([][]float64, len(centres))
	}
	for c, centre := range centres {
		if dst[c] == nil {
			dst[c] = make([]float64, len(centre))
		}
		for j, v := range centre {
			best, bd := data[0][j], math.Abs(data[0][j]-v)
			for _, r := range data[1:] {
				if d := math.Abs(r[j] - v); d < bd {
					best, bd = r[j], d
				}
			}
			dst[c][j] = best
		}
	}
	return dst
}

// ErrSummarySize is returned by the summaries for a k outside [1, rows].
var ErrSummarySize = errors.New("sampler: summary size outside [1, rows]")

// SummarizeKMeans summarises data by k weighted rows as shap.kmeans(data, k)
// does: FitKMeans with KMeansInits starts, each centre snapped to the data
// (SnapToData), weights the cluster sizes over the row count (shap's
// DenseData normalises them to sum to 1); a cluster left empty (see
// KMeans.Sizes) is dropped, so there are at most k rows. When data has at
// most k distinct
// rows, the summary is those rows (in order of first appearance) weighted by
// their counts: the exact answer, with zero inertia, that k-means would
// otherwise approach with duplicate centres. data is not modified; the rows
// returned are new.
func SummarizeKMeans(data [][]float64, k int, rng *rand.Rand) (rows [][]float64, weights []float64, err error) {
	n, err := checkTable("k-means summary", data)
	if err != nil {
		return nil, nil, err
	}
	if k < 1 || k > n {
		return nil, nil, fmt.Errorf("%w: k = %d for %d rows", ErrSummarySize, k, n)
	}
	if countDistinct(data, k+1) <= k {
		return distinctRows(data)
	}
	km, err := FitKMeans(data, k, KMeansInits, rng)
	if err != nil {
		return nil, nil, err
	}
	for c, s := range km.Sizes { // degenerate empty clusters weigh nothing
		if s > 0 {
			rows = append(rows, km.Centres[c])
			weights = append(weights, float64(s)/float64(n))
		}
	}
	return SnapToData(nil, rows, data), weights, nil
}

// distinctRows returns the distinct rows of data in order of first
// appearance, as copies, weighted by their counts over len(data).
func distinctRows(data [][]float64) ([][]float64, []float64, error) {
	index := map[string]int{}
	var rows [][]float64
	var counts []int
	for _, r := range data {
		key := rowKey(r)
		i, ok := index[key]
		if !ok {
			i = len(rows)
			index[key] = i
			rows = append(rows, slices.Clone(r))
			counts = append(counts, 0)
		}
		counts[i]++
	}
	weights := make([]float64, len(rows))
	for i, c := range counts {
		weights[i] = float64(c) / float64(len(data))
	}
	return rows, weights, nil
}

// SummarizeSample summarises data by k of its rows drawn uniformly without
// replacement, with equal weights 1/k, as shap.sample(data, k) does
// (scikit-learn's resample with replace=False: the first k of a uniform
// random permutation). The rows are kept in the order drawn; they are
// copies. data is not modified.
func SummarizeSample(data [][]float64, k int, rng *rand.Rand) (rows [][]float64, weights []float64, err error) {
	n, err := checkTable("sample summary", data)
	if err != nil {
		return nil, nil, err
	}
	if k < 1 || k > n {
		return nil, nil, fmt.Errorf("%w: k = %d for %d rows", ErrSummarySize, k, n)
	}
	// A partial Fisher–Yates shuffle: k swaps give the first k of a
	// uniform permutation.
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	rows = make([][]float64, k)
	weights = make([]float64, k)
	for i := range k {
		j := i + rng.IntN(n-i)
		idx[i], idx[j] = idx[j], idx[i]
		rows[i] = slices.Clone(data[idx[i]])
		weights[i] = 1 / float64(k)
	}
	return rows, weights, nil
}
