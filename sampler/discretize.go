package sampler

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
)

// stdFloor is what lime's BaseDiscretizer adds to every bin's standard
// deviation, so that a bin holding one distinct value still has a positive
// scale for its truncated normal.
const stdFloor = 1e-11

// Discretizer bins continuous features like lime's QuartileDiscretizer and
// DecileDiscretizer. Every slice is indexed by feature; a feature that is not
// discretized (a categorical one) has nil entries everywhere.
//
// A Discretizer is read-only after construction and safe for concurrent use.
type Discretizer struct {
	// Boundaries[f] are the sorted distinct percentiles of feature f:
	// np.unique(np.percentile(column, [25, 50, 75])) for quartiles,
	// [10, 20, …, 90] for deciles, with numpy's default 'linear'
	// interpolation. Bin b of feature f holds the values v with
	// Boundaries[f][b−1] < v ≤ Boundaries[f][b] (see Bin), so a feature has
	// len(Boundaries[f])+1 bins.
	Boundaries [][]float64
	// Means[f][b] and Stds[f][b] are the mean and population standard
	// deviation (ddof 0) of the training values in bin b, plus 1e-11 on the
	// std as lime adds; an empty bin has mean 0 and std 1e-11.
	// Mins[f] is [column minimum, Boundaries[f]...] and Maxs[f] is
	// [Boundaries[f]..., column maximum]: the bin's range for sampling.
	Means, Stds, Mins, Maxs [][]float64
	// Names[f][b] is lime's label of bin b, with two decimals:
	// "name <= 11.70", "11.70 < name <= 13.37", "name > 15.78".
	// Names may be nil for statistics supplied by a client; Describe then
	// formats the same labels from Boundaries.
	Names [][]string
}

// NewQuartileDiscretizer returns lime's QuartileDiscretizer fitted on data
// (rows of equal length; every value finite). featureNames names the
// columns (nil means "0", "1", …) and categorical lists the columns left
// alone. data is not modified.
func NewQuartileDiscretizer(data [][]float64, featureNames []string, categorical []int) (*Discretizer, error) {
	return newDiscretizer(data, featureNames, categorical, []float64{25, 50, 75})
}

// NewDecileDiscretizer returns lime's DecileDiscretizer fitted on data; see
// NewQuartileDiscretizer for the arguments.
func NewDecileDiscretizer(data [][]float64, featureNames []string, categorical []int) (*Discretizer, error) {
	return newDiscretizer(data, featureNames, categorical, []float64{10, 20, 30, 40, 50, 60, 70, 80, 90})
}

// Bin returns the bin of value v for feature f: the number of boundaries
// strictly below v (np.searchsorted(boundaries, v, side='left')), so a value
// equal to a boundary falls in the lower bin. It returns −1 when f is out of
// range or not discretized (categorical).
func (d *Discretizer) Bin(f int, v float64) int {
	if d == nil || f < 0 || f >= len(d.Boundaries) || len(d.Boundaries[f]) == 0 {
		return -1
	}
	return searchLeft(d.Boundaries[f], v)
}

// Discretized reports whether feature f is binned.
func (d *Discretizer) Discretized(f int) bool {
	return d != nil && f >= 0 && f < len(d.Boundaries) && len(d.Boundaries[f]) > 0
}

// binName is lime's label of bin b of feature f: Names when present,
// otherwise formatted from the boundaries and name.
func (d *Discretizer) binName(f, b int, name string) string {
	if f < len(d.Names) && b >= 0 && b < len(d.Names[f]) {
		return d.Names[f][b]
	}
	return limeBinName(d.Boundaries[f], b, name)
}

// limeBinName formats lime's label of bin b over the sorted boundaries qts.
// Go's %.2f rounds the exact binary value half to even, as Python's does.
func limeBinName(qts []float64, b int, name string) string {
	switch {
	case b <= 0:
		return fmt.Sprintf("%s <= %.2f", name, qts[0])
	case b >= len(qts):
		return fmt.Sprintf("%s > %.2f", name, qts[len(qts)-1])
	default:
		return fmt.Sprintf("%.2f < %s <= %.2f", qts[b-1], name, qts[b])
	}
}

// searchLeft is np.searchsorted(qts, v, side='left'): the first index i with
// qts[i] ≥ v. A NaN lands past the end, as in numpy.
func searchLeft(qts []float64, v float64) int {
	if len(qts) <= 16 {
		// Linear scan: lime's bins are few and this sits on the hot path.
		for i, q := range qts {
			if q >= v {
				return i
			}
		}
		return len(qts)
	}
	return sort.SearchFloat64s(qts, v)
}

func newDiscretizer(data [][]float64, featureNames []string, categorical []int, percentiles []float64) (*Discretizer, error) {
	p, err := checkData(data)
	if err != nil {
		return nil, err
	}
	names, err := checkFeatureNames(featureNames, p)
	if err != nil {
		return nil, err
	}
	isCat, err := categoricalSet(categorical, p)
	if err != nil {
		return nil, err
	}
	n := len(data)
	d := &Discretizer{
		Boundaries: make([][]float64, p),
		Means:      make([][]float64, p),
		Stds:       make([][]float64, p),
		Mins:       make([][]float64, p),
		Maxs:       make([][]float64, p),
		Names:      make([][]string, p),
	}
	col := make([]float64, n)
	bins := make([]int, n)
	sel := make([]float64, 0, n)
	for f := range p {
		if isCat[f] {
			continue
		}
		for i, row := range data {
			col[i] = row[f]
		}
		slices.Sort(col)
		qts := make([]float64, len(percentiles))
		for i, pc := range percentiles {
			qts[i] = percentileSorted(col, pc)
		}
		slices.Sort(qts)
		qts = slices.Clip(slices.Compact(qts)) // np.unique
		k := len(qts) + 1

		for i, row := range data {
			bins[i] = searchLeft(qts, row[f])
		}
		means, stds := make([]float64, k), make([]float64, k)
		for b := range k {
			// The bin's values in row order, as lime's boolean mask selects
			// them, so the pairwise sums below round as numpy's do.
			sel = sel[:0]
			for i, row := range data {
				if bins[i] == b {
					sel = append(sel, row[f])
				}
			}
			means[b], stds[b] = numpyMeanStd(sel)
			stds[b] += stdFloor
		}
		d.Boundaries[f] = qts
		d.Means[f], d.Stds[f] = means, stds
		d.Mins[f] = append([]float64{col[0]}, qts...)
		d.Maxs[f] = append(slices.Clone(qts), col[n-1])
		d.Names[f] = make([]string, k)
		for b := range k {
			d.Names[f][b] = limeBinName(qts, b, names[f])
		}
	}
	return d, nil
}

// percentileSorted is np.percentile(x, pc) with numpy's default 'linear'
// method on the ascending slice x, reproducing numpy 1.24's arithmetic:
// virtual index (n−1)·(pc/100), then _lerp, which interpolates from the
// nearer end.
func percentileSorted(x []float64, pc float64) float64 {
	n := len(x)
	vi := float64(n-1) * (pc / 100)
	switch {
	case vi >= float64(n-1):
		return x[n-1]
	case vi < 0:
		return x[0]
	}
	prev := math.Floor(vi)
	i := int(prev)
	a, b := x[i], x[i+1]
	t := vi - prev
	diff := b - a
	// Explicit float64 conversions forbid fusing into FMA, which numpy
	// does not do.
	if t >= 0.5 {
		return b - float64(diff*(1-t))
	}
	return a + float64(diff*t)
}

// numpyMeanStd returns np.mean(x) and np.std(x) (ddof 0) with numpy's
// arithmetic: a pairwise sum divided by n, then the pairwise sum of squared
// deviations divided by n. An empty x gives 0, 0 (lime's rule for empty bins).
// x is overwritten.
func numpyMeanStd(x []float64) (mean, std float64) {
	if len(x) == 0 {
		return 0, 0
	}
	n := float64(len(x))
	mean = pairwiseSum(x) / n
	for i, v := range x {
		dv := v - mean
		x[i] = float64(dv * dv)
	}
	return mean, math.Sqrt(pairwiseSum(x) / n)
}

// pairwiseSum is numpy's pairwise summation of a contiguous float64 array
// (add.reduce): blocks of at most 128 values summed with 8 interleaved
// accumulators, larger arrays split in halves rounded to multiples of 8.
func pairwiseSum(x []float64) float64 {
	n := len(x)
	switch {
	case n < 8:
		s := 0.0
		for _, v := range x {
			s += v
		}
		return s
	case n <= 128:
		var r [8]float64
		copy(r[:], x[:8])
		i := 8
		for ; i < n-n%8; i += 8 {
			r[0] += x[i]
			r[1] += x[i+1]
			r[2] += x[i+2]
			r[3] += x[i+3]
			r[4] += x[i+4]
			r[5] += x[i+5]
			r[6] += x[i+6]
			r[7] += x[i+7]
		}
		s := ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
		for ; i < n; i++ {
			s += x[i]
		}
		return s
	default:
		n2 := n / 2
		n2 -= n2 % 8
		return pairwiseSum(x[:n2]) + pairwiseSum(x[n2:])
	}
}

// checkData checks that data is a non-empty matrix of finite values and
// returns its number of columns.
func checkData(data [][]float64) (int, error) {
	if len(data) == 0 {
		return 0, fmt.Errorf("sampler: data has no rows")
	}
	p := len(data[0])
	if p == 0 {
		return 0, fmt.Errorf("sampler: data row 0 has no features")
	}
	for i, row := range data {
		if len(row) != p {
			return 0, fmt.Errorf("sampler: data row %d has %d features, row 0 has %d", i, len(row), p)
		}
		for f, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return 0, fmt.Errorf("sampler: data row %d feature %d is not finite", i, f)
			}
		}
	}
	return p, nil
}

// checkFeatureNames returns names, or lime's default "0", "1", … when nil.
func checkFeatureNames(names []string, p int) ([]string, error) {
	if names == nil {
		names = make([]string, p)
		for i := range names {
			names[i] = strconv.Itoa(i)
		}
		return names, nil
	}
	if len(names) != p {
		return nil, fmt.Errorf("sampler: feature names has %d entries, want %d", len(names), p)
	}
	return names, nil
}

// categoricalSet turns a list of categorical column indices into a mask.
func categoricalSet(categorical []int, p int) ([]bool, error) {
	isCat := make([]bool, p)
	for i, f := range categorical {
		if f < 0 || f >= p {
			return nil, fmt.Errorf("sampler: categorical[%d] is feature %d, want 0 to %d", i, f, p-1)
		}
		if isCat[f] {
			return nil, fmt.Errorf("sampler: categorical[%d] repeats feature %d", i, f)
		}
		isCat[f] = true
	}
	return isCat, nil
}
