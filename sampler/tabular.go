package sampler

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"

	"github.com/explainer-sidecar/explainer/internal/parallel"
)

// chunkRows is the number of perturbed rows drawn from one random stream,
// the unit of work of one goroutine (see Tabular.Sample). It is part of
// what a seed means: changing it changes every neighbourhood.
const chunkRows = 512

// MaxValues caps n·p, the size of each matrix Sample returns (512 MiB of
// float64 apiece), so that a bad request cannot ask for unbounded memory.
const MaxValues = 1 << 26

// Tabular draws lime's tabular neighbourhood around an instance. The zero
// value has no Stats and every Sample fails; set Stats first.
//
// A Tabular is safe for concurrent use as long as Stats is not modified and
// each goroutine passes its own rng. Sample itself may draw on several
// goroutines (see Sample); its result does not depend on how many.
type Tabular struct {
	// Stats are the training statistics to sample from.
	Stats *Stats
	// SampleAroundInstance centres the gaussian of a continuous,
	// non-discretized feature on the instance's value instead of the
	// training mean (lime's sample_around_instance). Other features ignore it.
	SampleAroundInstance bool
}

// Neighborhood is n perturbed samples of p features; row 0 is the instance
// itself. Each matrix's rows are backed by one contiguous []float64, row
// after row, with capacity clipped to the row.
type Neighborhood struct {
	// Raw holds the values to send to the model (lime's "inverse").
	Raw [][]float64
	// Interpretable is what the surrogate is fitted on and distances are
	// measured in (lime's scaled_data): (x − Means[f])/Stds[f] for a
	// continuous feature, and for a categorical or discretized one 1 when the
	// sample has the instance's value or bin, else 0. Row 0 is the
	// instance's own: its scaled values and ones.
	Interpretable [][]float64

	// The storage behind both matrices, kept for SampleInto.
	buf  []float64
	rows [][]float64
}

// reuseNeighborhood returns a Neighborhood of n × p matrices, on dst's
// storage when it is large enough.
func reuseNeighborhood(dst *Neighborhood, n, p int) *Neighborhood {
	nb := dst
	if nb == nil {
		nb = new(Neighborhood)
	}
	if cap(nb.buf) < 2*n*p {
		nb.buf = make([]float64, 2*n*p)
	}
	if cap(nb.rows) < 2*n {
		nb.rows = make([][]float64, 2*n)
	}
	buf, rows := nb.buf[:2*n*p], nb.rows[:2*n]
	for i := range rows {
		rows[i] = buf[i*p : (i+1)*p : (i+1)*p]
	}
	nb.Raw, nb.Interpretable = rows[:n:n], rows[n:]
	return nb
}

// contPlan samples a continuous feature as N(0,1)·std + center.
type contPlan struct {
	f                   int
	center, mean, scale float64
}

// catPlan samples a categorical feature from its training frequencies.
type catPlan struct {
	f        int
	values   []float64
	cdf      []float64
	instance float64
}

// binPlan samples a discretized feature: a bin by training frequency, then a
// value inside it from the bin's truncated normal.
type binPlan struct {
	f       int
	cdf     []float64
	bins    []truncNormal
	instBin int
	// fewBins is set when there are at most 4 bins (lime's quartiles):
	// cuts then holds cdf without its last entry, padded with +Inf, and
	// pick(cdf, u) is the number of cuts ≤ u, three comparisons and no loop.
	fewBins bool
	cuts    [3]float64
}

// Sample draws n samples (the instance plus n−1 perturbations) as
// LimeTabularExplainer's __data_inverse does:
//
//   - continuous feature f (no discretizer): x = z·Stds[f] + Means[f]
//     (instance[f] in place of Means[f] with SampleAroundInstance),
//     z ~ N(0,1); interpretable (x − Means[f])/Stds[f];
//   - categorical feature: a value drawn with the training frequencies;
//     interpretable 1 when it equals the instance's value;
//   - discretized feature: a bin drawn with the training bin frequencies,
//     then x from the normal with the bin's mean and std truncated to the
//     bin's [min, max] (scipy.stats.truncnorm; the bin's min when min = max);
//     interpretable 1 when the bin is the instance's bin.
//
// Row 0 is instance exactly, with its scaled values and ones. instance is
// not modified.
//
// The draws depend only on rng's state and n, so a seeded rng gives the
// same neighbourhood, bit for bit, whatever GOMAXPROCS and the scheduling
// (the stream differs from numpy's: values agree with lime in
// distribution, not sample by sample). Rows 1…n−1 are cut into chunks of
// 512 rows, the last one shorter, and chunk c (rows 512c+1 to 512(c+1)) is
// drawn row after row from its own generator,
// rand.New(rand.NewPCG(a₂c, a₂c₊₁)), where a₀, a₁, … are the values
// rng.Uint64() returns in the call. Sample takes these 2⌈(n−1)/512⌉ values
// on the caller's goroutine before it draws any row, and uses rng for
// nothing else; so a smaller n draws the first rows of a larger one. The
// chunks are filled on up to runtime.GOMAXPROCS(0) goroutines, the
// caller's included, all finished before Sample returns; a neighbourhood
// of one chunk (n ≤ 513) is drawn on the caller's goroutine alone.
func (t *Tabular) Sample(instance []float64, n int, rng *rand.Rand) (*Neighborhood, error) {
	return t.SampleInto(nil, instance, n, rng)
}

// SampleInto is Sample writing into dst's storage when it is large enough;
// a nil dst allocates. The result is dst itself when dst is not nil, and
// its previous contents are overwritten: reuse a Neighborhood only once
// nothing reads the old samples.
func (t *Tabular) SampleInto(dst *Neighborhood, instance []float64, n int, rng *rand.Rand) (*Neighborhood, error) {
	if t == nil || t.Stats == nil {
		return nil, fmt.Errorf("sampler: stats are nil")
	}
	s := t.Stats
	p := len(instance)
	switch {
	case p == 0:
		return nil, fmt.Errorf("sampler: instance has no features")
	case s.NumFeatures() != p:
		return nil, fmt.Errorf("sampler: instance has %d features, stats have %d", p, s.NumFeatures())
	case n < 1:
		return nil, fmt.Errorf("sampler: number of samples is %d, want at least 1", n)
	case n > MaxValues/p:
		return nil, fmt.Errorf("sampler: %d samples of %d features exceed the maximum of %d values", n, p, MaxValues)
	case rng == nil:
		return nil, fmt.Errorf("sampler: rng is nil")
	}
	if err := s.Validate(p); err != nil {
		return nil, err
	}
	for f, v := range instance {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("sampler: instance[%d] is not finite", f)
		}
	}
	cont, cats, bins := t.plan(instance)
	nb := reuseNeighborhood(dst, n, p)

	raw, z := nb.Raw[0], nb.Interpretable[0]
	copy(raw, instance)
	for f := range z {
		z[f] = 1
	}
	for _, c := range cont {
		z[c.f] = (instance[c.f] - c.mean) / c.scale
	}

	// Rows 1..n−1 by chunks of chunkRows, chunk c from its own PCG seeded
	// with values 2c and 2c+1 of rng. They are all taken here, in chunk
	// order, before any row is drawn: the rows depend neither on which
	// goroutine fills a chunk nor on when.
	chunks := (n - 1 + chunkRows - 1) / chunkRows
	seeds := make([]uint64, 2*chunks)
	for i := range seeds {
		seeds[i] = rng.Uint64()
	}
	parallel.For(chunks, func(c int) {
		lo := 1 + c*chunkRows
		hi := min(lo+chunkRows, n)
		fillRows(nb.Raw[lo:hi], nb.Interpretable[lo:hi], cont, cats, bins, rand.New(rand.NewPCG(seeds[2*c], seeds[2*c+1])))
	})
	return nb, nil
}

// fillRows draws one perturbed sample into each row of raw and its
// interpretable representation into the same row of z, from g alone: row
// after row, and in each row the continuous, then the categorical, then the
// discretized features, each in feature order.
func fillRows(raw, z [][]float64, cont []contPlan, cats []catPlan, bins []binPlan, g *rand.Rand) {
	for i, raw := range raw {
		z := z[i]
		for _, c := range cont {
			v := g.NormFloat64()
			// Two roundings, as numpy's data*scale + mean: no FMA.
			x := float64(v*c.scale) + c.center
			raw[c.f] = x
			z[c.f] = (x - c.mean) / c.scale
		}
		for k := range cats {
			c := &cats[k]
			v := c.values[pick(c.cdf, g.Float64())]
			raw[c.f] = v
			z[c.f] = indicator(v == c.instance)
		}
		for k := range bins {
			b := &bins[k]
			var j int
			if u := g.Float64(); b.fewBins {
				j = b2i(b.cuts[0] <= u) + b2i(b.cuts[1] <= u) + b2i(b.cuts[2] <= u) // pick(b.cdf, u)
			} else {
				j = pick(b.cdf, u)
			}
			tn := &b.bins[j]
			if tn.method != tnReject {
				raw[b.f] = tn.draw(g)
			} else {
				// tn.reject(g), inlined.
				for {
					v := g.NormFloat64()
					if tn.a <= v && v <= tn.b {
						raw[b.f] = tn.fromStd(v)
						break
					}
				}
			}
			z[b.f] = indicator(j == b.instBin)
		}
	}
}

// b2i is 1 for true and 0 for false, without a branch.
func b2i(b bool) int {
	i := 0
	if b {
		i = 1
	}
	return i
}

// indicator is 1 for true and 0 for false, without a branch: the outcome
// is random (a quarter of quartile draws land in the instance's bin), so a
// branch would often mispredict.
func indicator(b bool) float64 {
	i := 0
	if b {
		i = 1
	}
	return float64(i)
}

// plan precomputes each feature's sampler from validated stats.
func (t *Tabular) plan(instance []float64) ([]contPlan, []catPlan, []binPlan) {
	s := t.Stats
	d := s.Discretizer
	// One backing array for every cumulative distribution, one for every
	// bin's truncated normal.
	nCDF, nBins := 0, 0
	for _, fr := range s.Categorical {
		nCDF += len(fr.Freqs)
	}
	for _, fr := range s.BinFrequencies {
		nCDF += len(fr)
		nBins += len(fr)
	}
	cdfs := make([]float64, 0, nCDF)
	tns := make([]truncNormal, 0, nBins)
	nDisc := len(s.BinFrequencies) // an upper bound; only discretized features have entries
	if d == nil {
		nDisc = 0
	}
	cats := make([]catPlan, 0, len(s.Categorical))
	bins := make([]binPlan, 0, nDisc)
	cont := make([]contPlan, 0, len(instance)-len(s.Categorical))
	for f, v := range instance {
		if fr, ok := s.Categorical[f]; ok {
			cdfs = appendCDF(cdfs, fr.Freqs)
			cats = append(cats, catPlan{f: f, values: fr.Values, cdf: cdfs[len(cdfs)-len(fr.Freqs):], instance: v})
			continue
		}
		if d.Discretized(f) {
			freqs := s.BinFrequencies[f]
			cdfs = appendCDF(cdfs, freqs)
			for b := range freqs {
				tns = append(tns, newTruncNormal(d.Means[f][b], d.Stds[f][b], d.Mins[f][b], d.Maxs[f][b]))
			}
			bp := binPlan{
				f: f, cdf: cdfs[len(cdfs)-len(freqs):], bins: tns[len(tns)-len(freqs):], instBin: d.Bin(f, v),
				fewBins: len(freqs) <= len(binPlan{}.cuts)+1,
				cuts:    [3]float64{math.Inf(1), math.Inf(1), math.Inf(1)},
			}
			if bp.fewBins {
				copy(bp.cuts[:], bp.cdf[:len(bp.cdf)-1])
			}
			bins = append(bins, bp)
			continue
		}
		c := contPlan{f: f, center: s.Means[f], mean: s.Means[f], scale: s.Stds[f]}
		if t.SampleAroundInstance {
			c.center = v
		}
		cont = append(cont, c)
	}
	return cont, cats, bins
}

// appendCDF appends the cumulative sums of freqs divided by their total, as
// numpy's random.choice builds its table.
func appendCDF(dst, freqs []float64) []float64 {
	start := len(dst)
	sum := 0.0
	for _, x := range freqs {
		sum += x
		dst = append(dst, sum)
	}
	for i := start; i < len(dst); i++ {
		dst[i] /= sum
	}
	return dst
}

// pick returns the first index with cdf[i] > u (numpy's
// searchsorted(cdf, u, side='right')), so a zero-frequency entry is never
// drawn. cdf is non-decreasing, ends in 1, and u is in [0, 1).
func pick(cdf []float64, u float64) int {
	if len(cdf) > 16 {
		return pickSearch(cdf, u)
	}
	// Count the entries ≤ u without branching on them: the outcome is
	// random, so a branch would mispredict on most draws. The last entry
	// is 1 > u, or at least the answer's cap, so it is not looked at.
	i := 0
	for _, c := range cdf[:len(cdf)-1] {
		le := 0
		if c <= u {
			le = 1
		}
		i += le
	}
	return i
}

// pickSearch is pick by binary search, for long tables.
func pickSearch(cdf []float64, u float64) int {
	i := sort.Search(len(cdf), func(i int) bool { return cdf[i] > u })
	return min(i, len(cdf)-1)
}

// Describe returns lime's readable name of each feature for this instance:
// the instance's bin label for a discretized feature ("mean radius > 15.78",
// taken from the discretizer's Names, which carry the names it was built
// with); "name=value" for a categorical one, the value's text taken from
// categoricalNames[f][value] when the value is an integer index into it and
// otherwise formatted with %g (lime requires integer categories and
// truncates); and the plain name for a continuous one. featureNames[f]
// names feature f; a missing name is its index ("3"), lime's default. The
// result has one entry per instance value and Describe never fails: without
// stats every feature reads as continuous.
func (t *Tabular) Describe(instance []float64, featureNames []string, categoricalNames map[int][]string) []string {
	var s *Stats
	if t != nil {
		s = t.Stats
	}
	out := make([]string, len(instance))
	for f, v := range instance {
		name := strconv.Itoa(f)
		if f < len(featureNames) {
			name = featureNames[f]
		}
		switch {
		case s == nil:
			out[f] = name
		case s.Discretizer.Discretized(f):
			out[f] = s.Discretizer.binName(f, s.Discretizer.Bin(f, v), name)
		case isCategorical(s, f):
			text := strconv.FormatFloat(v, 'g', -1, 64)
			if names := categoricalNames[f]; v == math.Trunc(v) && v >= 0 && v < float64(len(names)) {
				text = names[int(v)]
			}
			out[f] = name + "=" + text
		default:
			out[f] = name
		}
	}
	return out
}

func isCategorical(s *Stats, f int) bool {
	_, ok := s.Categorical[f]
	return ok
}
