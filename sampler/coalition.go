package sampler

// Coalitions of players for KernelSHAP: shap's KernelExplainer scheme of
// enumerating whole coalition sizes while the budget allows and drawing the
// rest. Players are abstract (tabular features or feature groups, text
// tokens, image segments); the caller decides what "present" means.

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Coalitions is a set of coalitions of m players, each with its weight in
// KernelSHAP's regression. No coalition is empty or full: those two carry
// infinite Shapley kernel weight and are constraints of the regression, not
// rows of it. Coalitions drawn more than once are held once, with their
// weight added up.
type Coalitions struct {
	// Masks[k][i] reports whether player i is in coalition k. The rows share
	// one backing array, each with its capacity clipped to the row.
	// A paired coalition is followed by its complement.
	Masks [][]bool
	// Weights[k] is coalition k's weight. The weights are positive and sum
	// to 1 (up to rounding).
	Weights []float64
	// Enumerated is the number of leading coalitions that come from the
	// coalition sizes enumerated whole; the rest were drawn. When every
	// proper coalition fits in the budget, Enumerated = len(Masks) = 2^m − 2
	// and Weights are ShapleyKernelWeight normalised to sum to 1.
	Enumerated int
}

// Complete reports whether c holds every proper coalition of its players
// (2^m − 2 of m), as it does when they fit the budget: KernelSHAP's values
// are then exact.
func (c *Coalitions) Complete() bool {
	if c == nil || len(c.Masks) == 0 {
		return false
	}
	m := len(c.Masks[0])
	return m < 63 && c.Enumerated == len(c.Masks) && len(c.Masks) == 1<<m-2
}

// ShapleyKernelWeight returns the Shapley kernel weight of one coalition of
// s players out of m,
//
//	π(m, s) = (m − 1) / (C(m, s) · s · (m − s)),   0 < s < m,
//
// the weight under which the weighted least-squares fit of a linear model to
// the coalition values, constrained to the values of the empty and the full
// coalition, gives the Shapley values. It is +Inf for s = 0 and s = m (the
// constraints) and 0 for s < 0 or s > m (no such coalition). The result is
// the correctly rounded quotient when C(m, s)·s·(m − s) < 2⁵³ (every m up to
// 50, for example), and within a few ulps otherwise.
func ShapleyKernelWeight(m, s int) float64 {
	switch {
	case s < 0 || s > m:
		return 0
	case s == 0 || s == m:
		return math.Inf(1)
	}
	return float64(m-1) / (binomial(m, s) * float64(s) * float64(m-s))
}

// binomial returns C(m, s) for 0 ≤ s ≤ m, exactly while C(m, s)·min(s, m−s)
// < 2⁵³ and to rounding beyond (+Inf past the float64 range).
func binomial(m, s int) float64 {
	s = min(s, m-s)
	c := 1.0
	for i := range s {
		// C(m, i+1) = C(m, i)·(m−i)/(i+1), an exact integer at every step.
		c = c * float64(m-i) / float64(i+1)
	}
	return c
}

// sizeClass is the coalitions of size s together with those of size m − s:
// shap's subset sizes, 1 ≤ s ≤ ⌈(m−1)/2⌉. A class is paired when
// s ≠ m − s: its coalitions are enumerated and drawn with their complements.
type sizeClass struct {
	size   int
	paired bool
	count  float64 // C(m, s), doubled when paired
	weight float64 // the class's share of the total kernel weight
}

// sizeClasses returns shap's weight_vector: class s holds the kernel weight
// (m−1)/(s(m−s)) of all coalitions of size s, doubled when paired, the
// classes normalised to sum to 1.
func sizeClasses(m int) []sizeClass {
	classes := make([]sizeClass, m/2) // ⌈(m−1)/2⌉ = ⌊m/2⌋
	total := 0.0
	binom := 1.0
	for i := range classes {
		s := i + 1
		// C(m, s) step by step, as binomial computes it (s ≤ m/2).
		binom = binom * float64(m-i) / float64(s)
		c := sizeClass{size: s, paired: s != m-s, count: binom}
		c.weight = float64(m-1) / float64(s*(m-s))
		if c.paired {
			c.count *= 2
			c.weight *= 2
		}
		total += c.weight
		classes[i] = c
	}
	for i := range classes {
		classes[i].weight /= total
	}
	return classes
}

// fullSizeTolerance is shap's slack in deciding that the budget covers a
// whole coalition size (budget·weight/count ≥ 1 − 1e-8), so that rounding
// in the weights does not leave out a size that fits exactly.
const fullSizeTolerance = 1e-8

// SampleCoalitions chooses up to budget coalitions of m players, and their
// regression weights, as shap's KernelExplainer does:
//
//  1. The coalition sizes are taken in pairs (s, m − s), s = 1, 2, …, with
//     shares w_s ∝ (m−1)/(s(m−s)) of the kernel weight (doubled for a pair
//     of two sizes), normalised to sum to 1. While budget·w_s/n_s ≥ 1 − 1e-8,
//     where n_s is the number of coalitions in the pair of sizes and budget
//     and the shares are what the previous sizes left (the shares
//     renormalised), every coalition of the pair is added, in lexicographic
//     order of its members, each followed by its complement (when the pair
//     has two sizes; m/2 is its own pair for an even m), with weight
//     π(m, s) / Σ_{0<|z|<m} π(m, |z|) (ShapleyKernelWeight normalised over
//     all proper coalitions).
//  2. The remaining budget is drawn: a size from the remaining pairs with
//     probabilities proportional to their shares (halved for a pair of two
//     sizes, which yields two coalitions per draw), then that many players
//     uniformly at random, then, for a pair of two sizes, the complement.
//     A coalition drawn again adds 1 to its count (and its complement's)
//     instead of taking budget; at most 4× the remaining budget draws are
//     made, so a budget near the number of coalitions can end with fewer.
//     The counts are then scaled so that the drawn coalitions share the
//     weight the enumerated ones left.
//
// A budget at or above 2^m − 2 enumerates every proper coalition (the
// weights are then exact Shapley kernel weights, normalised) and draws
// nothing. The result depends only on m, budget and rng's state: the same
// seed gives the same coalitions (the stream differs from numpy's, so the
// drawn coalitions agree with shap's in distribution, not one by one). rng
// is read only when something is drawn, on the caller's goroutine.
//
// It needs m ≥ 2 (with fewer players there is no proper coalition), budget
// ≥ 1, budget·m ≤ MaxValues after capping the budget at 2^m − 2, and a
// non-nil rng.
func SampleCoalitions(m, budget int, rng *rand.Rand) (*Coalitions, error) {
	switch {
	case m < 2:
		return nil, fmt.Errorf("sampler: coalitions need at least 2 players, got %d", m)
	case budget < 1:
		return nil, fmt.Errorf("sampler: coalition budget is %d, want at least 1", budget)
	case rng == nil:
		return nil, fmt.Errorf("sampler: rng is nil")
	}
	if m < 62 && budget > 1<<m-2 {
		budget = 1<<m - 2
	}
	if budget > MaxValues/m {
		return nil, fmt.Errorf("sampler: %d coalitions of %d players exceed the maximum of %d values", budget, m, MaxValues)
	}
	cs := newCoalitionSet(m, budget)
	classes := sizeClasses(m)
	norm := 0.0 // Σ over proper coalitions of π(m, |z|)
	for s := 1; s < m; s++ {
		norm += float64(m-1) / float64(s*(m-s))
	}

	// 1. Whole sizes while the budget covers them.
	left := budget
	remaining := make([]float64, len(classes))
	for i, c := range classes {
		remaining[i] = c.weight
	}
	full := 0
	for i, c := range classes {
		if float64(left)*remaining[i]/c.count < 1-fullSizeTolerance {
			break
		}
		full++
		left -= int(c.count)
		if r := remaining[i]; r < 1 {
			for j := range remaining {
				remaining[j] /= 1 - r
			}
		}
		w := ShapleyKernelWeight(m, c.size) / norm
		cs.enumerate(c.size, c.paired, w)
	}
	cs.enumerated = len(cs.weights)
	if full == len(classes) {
		return cs.result(), nil
	}

	// 2. Draw the rest from the sizes left.
	rest := make([]float64, 0, len(classes)-full)
	weightLeft := 0.0
	for _, c := range classes[full:] {
		p := c.weight
		if c.paired {
			p /= 2 // each draw yields two coalitions
		}
		rest = append(rest, p)
		weightLeft += c.weight
	}
	cdf := appendCDF(nil, rest)
	cs.draw(classes[full:], cdf, budget-len(cs.weights), rng)

	// Scale the drawn counts to the weight the enumerated sizes left.
	drawn := cs.weights[cs.enumerated:]
	sum := 0.0
	for _, w := range drawn {
		sum += w
	}
	for k := range drawn {
		drawn[k] *= weightLeft / sum
	}
	return cs.result(), nil
}

// coalitionSet accumulates coalitions into preallocated storage.
type coalitionSet struct {
	m          int
	buf        []bool // masks, row after row
	weights    []float64
	enumerated int
}

func newCoalitionSet(m, budget int) *coalitionSet {
	return &coalitionSet{m: m, buf: make([]bool, 0, budget*m), weights: make([]float64, 0, budget)}
}

// add appends mask (or its complement) with weight w and returns its index.
func (cs *coalitionSet) add(mask []bool, complement bool, w float64) int {
	for _, in := range mask {
		cs.buf = append(cs.buf, in != complement)
	}
	cs.weights = append(cs.weights, w)
	return len(cs.weights) - 1
}

// enumerate adds every coalition of s players in lexicographic order of
// their members, each followed by its complement when paired, all with
// weight w.
func (cs *coalitionSet) enumerate(s int, paired bool, w float64) {
	m := cs.m
	idx := make([]int, s) // the members, increasing
	for i := range idx {
		idx[i] = i
	}
	mask := make([]bool, m)
	for {
		clear(mask)
		for _, j := range idx {
			mask[j] = true
		}
		cs.add(mask, false, w)
		if paired {
			cs.add(mask, true, w)
		}
		// Next combination: advance the last member that can move.
		i := s - 1
		for i >= 0 && idx[i] == m-s+i {
			i--
		}
		if i < 0 {
			return
		}
		idx[i]++
		for j := i + 1; j < s; j++ {
			idx[j] = idx[j-1] + 1
		}
	}
}

// draw adds up to budget coalitions drawn from classes (probabilities cdf)
// with counts as weights, as step 2 of SampleCoalitions describes.
func (cs *coalitionSet) draw(classes []sizeClass, cdf []float64, budget int, rng *rand.Rand) {
	m := cs.m
	perm := make([]int, m)
	for i := range perm {
		perm[i] = i
	}
	mask := make([]bool, m)
	seen := newCoalitionIndex(m, budget)
	for draws := 4 * budget; budget > 0 && draws > 0; draws-- {
		c := classes[pick(cdf, rng.Float64())]
		// c.size players uniformly at random: a partial Fisher–Yates shuffle
		// (uniform whatever order perm is left in by earlier draws).
		clear(mask)
		for i := range c.size {
			j := i + rng.IntN(m-i)
			perm[i], perm[j] = perm[j], perm[i]
			mask[perm[i]] = true
		}
		// Only drawn coalitions are looked up: a complement has more than
		// m/2 players and is never drawn itself, so it cannot collide.
		k, dup := seen.lookup(mask)
		if dup {
			cs.weights[k]++
		} else {
			k = cs.add(mask, false, 1)
			seen.store(k)
			budget--
		}
		if budget > 0 && c.paired {
			if dup {
				cs.weights[k+1]++ // the complement follows its coalition
			} else {
				cs.add(mask, true, 1)
				budget--
			}
		}
	}
}

// coalitionIndex finds drawn coalitions again: keyed by their bitmask, a
// uint64 up to 64 players (no allocation per coalition), packed bytes in a
// string beyond.
type coalitionIndex struct {
	small  map[uint64]int
	large  map[string]int
	bits   uint64
	packed []byte
}

func newCoalitionIndex(m, size int) *coalitionIndex {
	if m <= 64 {
		return &coalitionIndex{small: make(map[uint64]int, size)}
	}
	return &coalitionIndex{large: make(map[string]int, size), packed: make([]byte, (m+7)/8)}
}

// lookup returns the index stored for mask, and remembers mask's key for
// a following store.
func (ix *coalitionIndex) lookup(mask []bool) (int, bool) {
	if ix.small != nil {
		ix.bits = 0
		for i, in := range mask {
			if in {
				ix.bits |= 1 << i
			}
		}
		k, ok := ix.small[ix.bits]
		return k, ok
	}
	clear(ix.packed)
	for i, in := range mask {
		if in {
			ix.packed[i/8] |= 1 << (i % 8)
		}
	}
	k, ok := ix.large[string(ix.packed)]
	return k, ok
}

// store records index k for the mask of the last lookup.
func (ix *coalitionIndex) store(k int) {
	if ix.small != nil {
		ix.small[ix.bits] = k
		return
	}
	ix.large[string(ix.packed)] = k
}

// result cuts the mask storage into rows.
func (cs *coalitionSet) result() *Coalitions {
	n, m := len(cs.weights), cs.m
	masks := make([][]bool, n)
	for k := range masks {
		masks[k] = cs.buf[k*m : (k+1)*m : (k+1)*m]
	}
	return &Coalitions{Masks: masks, Weights: cs.weights, Enumerated: cs.enumerated}
}
