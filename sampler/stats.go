package sampler

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
)

// freqTolerance is how far frequencies may sum from 1: numpy's
// random.choice rejects p when |Σp − 1| > √ε = 2⁻²⁶ for float64.
const freqTolerance = 0x1p-26

// Stats are the training statistics LIME samples from, computed from a
// background data set by StatsFromData or given directly by a client (check
// those with Validate). Every per-feature slice is indexed by feature.
//
// Stats are read-only while sampling and safe for concurrent use.
type Stats struct {
	// Means and Stds are lime's StandardScaler(with_mean=False) statistics:
	// column mean and population standard deviation, with a (near-)constant
	// column's std set to 1 as scikit-learn does, and 0 and 1 for
	// categorical features as lime sets them. Continuous features are
	// sampled as N(Means[f], Stds[f]²) and scaled as (x − Means[f])/Stds[f].
	// Categorical features ignore them (their interpretable value is the
	// 0/1 indicator, which lime's 0 and 1 leave unchanged). Required without
	// a Discretizer; with one, discretized features do not use them either
	// and they may be nil.
	Means, Stds []float64
	// Categorical holds, per categorical feature, the sorted distinct values
	// seen in training and their relative frequencies.
	Categorical map[int]Frequencies
	// Discretizer bins every non-categorical feature (lime's
	// discretize_continuous=True); nil samples them as gaussians.
	Discretizer *Discretizer
	// BinFrequencies[f][b] is the relative frequency of bin b of discretized
	// feature f in the training data (lime's feature_frequencies of the
	// discretized data; an empty bin has 0). It has len(Boundaries[f])+1
	// entries for a discretized feature and none otherwise.
	BinFrequencies [][]float64
}

// Frequencies is the training distribution of one categorical feature:
// strictly increasing Values and their relative frequencies, summing to 1.
type Frequencies struct{ Values, Freqs []float64 }

// StatsFromData computes lime's Stats from background rows (all of equal
// length, every value finite), as LimeTabularExplainer does in its
// constructor. featureNames names the columns (nil means "0", "1", …; the
// names appear in the discretizer's bin labels), categorical lists the
// categorical columns, and discretizer is "" (no discretization),
// "quartile" or "decile". data is not modified.
func StatsFromData(data [][]float64, featureNames []string, categorical []int, discretizer string) (*Stats, error) {
	var newDisc func([][]float64, []string, []int) (*Discretizer, error)
	switch discretizer {
	case "":
	case "quartile":
		newDisc = NewQuartileDiscretizer
	case "decile":
		newDisc = NewDecileDiscretizer
	default:
		return nil, fmt.Errorf(`sampler: unknown discretizer %q, want "", "quartile" or "decile"`, discretizer)
	}
	p, err := checkData(data)
	if err != nil {
		return nil, err
	}
	if _, err := checkFeatureNames(featureNames, p); err != nil {
		return nil, err
	}
	isCat, err := categoricalSet(categorical, p)
	if err != nil {
		return nil, err
	}
	s := &Stats{Categorical: make(map[int]Frequencies, len(categorical))}
	s.Means, s.Stds = scalerStats(data, p)
	n := float64(len(data))
	col := make([]float64, len(data))
	for f := range p {
		if !isCat[f] {
			continue
		}
		s.Means[f], s.Stds[f] = 0, 1
		for i, row := range data {
			col[i] = row[f]
		}
		slices.Sort(col)
		var fr Frequencies
		for i := 0; i < len(col); {
			j := i + 1
			for j < len(col) && col[j] == col[i] {
				j++
			}
			fr.Values = append(fr.Values, col[i])
			fr.Freqs = append(fr.Freqs, float64(j-i)/n)
			i = j
		}
		s.Categorical[f] = fr
	}
	if newDisc == nil {
		return s, nil
	}
	if s.Discretizer, err = newDisc(data, featureNames, categorical); err != nil {
		return nil, err
	}
	s.BinFrequencies = make([][]float64, p)
	for f, qts := range s.Discretizer.Boundaries {
		if len(qts) == 0 {
			continue
		}
		counts := make([]float64, len(qts)+1)
		for _, row := range data {
			counts[searchLeft(qts, row[f])]++
		}
		for b := range counts {
			counts[b] /= n
		}
		s.BinFrequencies[f] = counts
	}
	return s, nil
}

// scalerStats is scikit-learn 1.2's StandardScaler(with_mean=False).fit:
// column sums accumulated row by row (numpy's axis-0 reduction), the
// variance by the corrected two-pass formula
// (Σ(x−T)² − (Σ(x−T))²/n)/n with T = Σx/n, and scale = √var, replaced by 1
// for a near-constant column (var ≤ n·ε·var + (n·mean·ε)²).
func scalerStats(data [][]float64, p int) (means, scales []float64) {
	n := float64(len(data))
	sums := make([]float64, p)
	for _, row := range data {
		for f, v := range row {
			sums[f] += v
		}
	}
	means = make([]float64, p)
	for f := range means {
		means[f] = sums[f] / n
	}
	corr := make([]float64, p)
	sq := make([]float64, p)
	for _, row := range data {
		for f, v := range row {
			d := v - means[f]
			corr[f] += d
			sq[f] += float64(d * d)
		}
	}
	scales = make([]float64, p)
	const eps = 0x1p-52
	for f := range scales {
		v := (sq[f] - float64(corr[f]*corr[f])/n) / n
		bound := float64(n*eps)*v + float64(n*means[f]*eps)*float64(n*means[f]*eps)
		if v <= bound {
			scales[f] = 1
		} else {
			scales[f] = math.Sqrt(v)
		}
	}
	return means, scales
}

// NumFeatures is the number of features the statistics describe: the length
// of Means, or without them the discretizer's. It is 0 for empty Stats.
func (s *Stats) NumFeatures() int {
	switch {
	case s == nil:
		return 0
	case len(s.Means) > 0:
		return len(s.Means)
	case s.Discretizer != nil:
		return len(s.Discretizer.Boundaries)
	}
	return 0
}

// Validate checks that s describes numFeatures features consistently and can
// be sampled from: lengths, finite values, positive standard deviations,
// frequencies that are non-negative and sum to 1 (within √ε, numpy's
// tolerance), bins with min ≤ max, and, with a Discretizer, every feature
// either discretized or categorical (lime's discretized mode). Messages name
// the field and index, never the values.
func (s *Stats) Validate(numFeatures int) error {
	if s == nil {
		return fmt.Errorf("sampler: stats are nil")
	}
	p := numFeatures
	if p < 1 {
		return fmt.Errorf("sampler: number of features is %d, want at least 1", p)
	}
	needScaler := s.Discretizer == nil
	if needScaler || len(s.Means) > 0 || len(s.Stds) > 0 {
		if err := checkVector(field{"means", -1, ""}, s.Means, p, false); err != nil {
			return err
		}
		if err := checkVector(field{"stds", -1, ""}, s.Stds, p, true); err != nil {
			return err
		}
	}
	// In key order, so that the first error reported does not vary.
	for _, f := range slices.Sorted(maps.Keys(s.Categorical)) {
		fr := s.Categorical[f]
		if f < 0 || f >= p {
			return fmt.Errorf("sampler: categorical feature %d is out of range [0, %d)", f, p)
		}
		if s.Discretizer.Discretized(f) {
			return fmt.Errorf("sampler: feature %d is both categorical and discretized", f)
		}
		name := field{"categorical", f, ""}
		if len(fr.Values) == 0 {
			return fmt.Errorf("sampler: %s has no values", name)
		}
		if len(fr.Freqs) != len(fr.Values) {
			return fmt.Errorf("sampler: %s has %d frequencies for %d values", name, len(fr.Freqs), len(fr.Values))
		}
		for i, v := range fr.Values {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("sampler: %s.values[%d] is not finite", name, i)
			}
			if i > 0 && v <= fr.Values[i-1] {
				return fmt.Errorf("sampler: %s.values[%d] is not above values[%d]; values must be sorted and distinct", name, i, i-1)
			}
		}
		if err := checkFreqs(field{"categorical", f, ".freqs"}, fr.Freqs); err != nil {
			return err
		}
	}
	if s.Discretizer == nil {
		if len(s.BinFrequencies) > 0 {
			return fmt.Errorf("sampler: bin frequencies are set without a discretizer")
		}
		return nil
	}
	return s.validateDiscretizer(p)
}

func (s *Stats) validateDiscretizer(p int) error {
	d := s.Discretizer
	if len(d.Boundaries) != p {
		return fmt.Errorf("sampler: discretizer boundaries has %d features, want %d", len(d.Boundaries), p)
	}
	for _, c := range []struct {
		name string
		n    int
	}{
		{"means", len(d.Means)}, {"stds", len(d.Stds)}, {"mins", len(d.Mins)}, {"maxs", len(d.Maxs)},
		{"bin frequencies", len(s.BinFrequencies)},
	} {
		if c.n != p {
			return fmt.Errorf("sampler: discretizer %s has %d features, want %d", c.name, c.n, p)
		}
	}
	if d.Names != nil && len(d.Names) != p {
		return fmt.Errorf("sampler: discretizer names has %d features, want %d", len(d.Names), p)
	}
	for f := range p {
		qts := d.Boundaries[f]
		if len(qts) == 0 {
			if _, ok := s.Categorical[f]; !ok {
				return fmt.Errorf("sampler: feature %d is neither discretized nor categorical", f)
			}
			if len(d.Means[f])+len(d.Stds[f])+len(d.Mins[f])+len(d.Maxs[f])+len(s.BinFrequencies[f]) > 0 ||
				(d.Names != nil && len(d.Names[f]) > 0) {
				return fmt.Errorf("sampler: feature %d has bin statistics but no boundaries", f)
			}
			continue
		}
		for i, q := range qts {
			if math.IsNaN(q) || math.IsInf(q, 0) {
				return fmt.Errorf("sampler: boundaries[%d][%d] is not finite", f, i)
			}
			if i > 0 && q <= qts[i-1] {
				return fmt.Errorf("sampler: boundaries[%d][%d] is not above boundaries[%d][%d]; boundaries must be sorted and distinct", f, i, f, i-1)
			}
		}
		k := len(qts) + 1
		for _, c := range []struct {
			name     string
			v        []float64
			positive bool
		}{
			{"bin means", d.Means[f], false}, {"bin stds", d.Stds[f], true},
			{"bin mins", d.Mins[f], false}, {"bin maxs", d.Maxs[f], false},
		} {
			if err := checkVector(field{c.name, f, ""}, c.v, k, c.positive); err != nil {
				return err
			}
		}
		for b := range k {
			if d.Mins[f][b] > d.Maxs[f][b] {
				return fmt.Errorf("sampler: bin mins[%d][%d] is above bin maxs[%d][%d]", f, b, f, b)
			}
		}
		if d.Names != nil && len(d.Names[f]) != k {
			return fmt.Errorf("sampler: discretizer names[%d] has %d values, want %d", f, len(d.Names[f]), k)
		}
		if len(s.BinFrequencies[f]) != k {
			return fmt.Errorf("sampler: bin frequencies[%d] has %d values, want %d", f, len(s.BinFrequencies[f]), k)
		}
		if err := checkFreqs(field{"bin frequencies", f, ""}, s.BinFrequencies[f]); err != nil {
			return err
		}
	}
	return nil
}

// field names a Stats field in an error message: name[index]suffix, or
// name suffix when index < 0. It is formatted only when an error is built,
// so a successful Validate does not allocate.
type field struct {
	name   string
	index  int
	suffix string
}

func (f field) String() string {
	if f.index < 0 {
		return f.name + f.suffix
	}
	return f.name + "[" + strconv.Itoa(f.index) + "]" + f.suffix
}

// checkVector checks len(v) == n and that every value is finite (and
// positive when positive is set).
func checkVector(name field, v []float64, n int, positive bool) error {
	if len(v) != n {
		return fmt.Errorf("sampler: %s has %d values, want %d", name, len(v), n)
	}
	for i, x := range v {
		switch {
		case math.IsNaN(x) || math.IsInf(x, 0):
			return fmt.Errorf("sampler: %s[%d] is not finite", name, i)
		case positive && x < 0:
			return fmt.Errorf("sampler: %s[%d] is negative", name, i)
		case positive && x == 0:
			return fmt.Errorf("sampler: %s[%d] is zero", name, i)
		}
	}
	return nil
}

// checkFreqs checks that freqs are finite, non-negative and sum to 1.
func checkFreqs(name field, freqs []float64) error {
	sum := 0.0
	for i, x := range freqs {
		switch {
		case math.IsNaN(x) || math.IsInf(x, 0):
			return fmt.Errorf("sampler: %s[%d] is not finite", name, i)
		case x < 0:
			return fmt.Errorf("sampler: %s[%d] is negative", name, i)
		}
		sum += x
	}
	if math.Abs(sum-1) > freqTolerance {
		return fmt.Errorf("sampler: %s do not sum to 1", name)
	}
	return nil
}
