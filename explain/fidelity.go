package explain

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

const (
	// DefaultCurveSteps is the most steps of a fidelity curve when
	// CurveOptions.Steps is 0: min(p, DefaultCurveSteps) for p players.
	DefaultCurveSteps = 20
	// MaxCurveSteps caps CurveOptions.Steps.
	MaxCurveSteps = 100
	// DefaultRandomOrders is the number of random orders averaged into the
	// baseline curves when CurveOptions.RandomOrders is 0.
	DefaultRandomOrders = 5
	// MaxRandomOrders caps CurveOptions.RandomOrders.
	MaxRandomOrders = 50

	curveSeedStream = 0x666964656c697479 // "fidelity"
)

// MaskScorer scores masks over p players (features, feature groups, words,
// image segments, pixels): present[r][j] tells whether player j is present
// in mask r, and the answer holds one score per mask, in order: the
// quantity the curves follow, such as the explained label's probability
// with the absent players replaced by the method's baseline, or a data
// set's score with the absent features' columns replaced.
//
// The masks are valid only during the call and share one buffer: a
// MaskScorer must neither modify nor retain them. It may send them to the
// model in as many batches as it likes.
type MaskScorer func(ctx context.Context, present [][]bool) ([]float64, error)

// CurveOptions configures [FidelityCurves]. The zero value is usable.
type CurveOptions struct {
	// Steps is the number of points of each curve besides the start: the
	// players are removed (inserted) in this many steps of as equal a size
	// as possible. 0 means min(p, DefaultCurveSteps); more than p means p;
	// at most MaxCurveSteps.
	Steps int
	// RandomOrders is the number of random orders whose curves are averaged,
	// point by point, into the random baselines. 0 means
	// DefaultRandomOrders; at most MaxRandomOrders.
	RandomOrders int
	// Seed seeds the random orders (a PCG); the same seed and scorer give
	// the same curves.
	Seed uint64
	// BatchSize is the most masks sent in one MaskScorer call. 0 means
	// max(1, MaxBatchValues / p): every mask in one call unless the masks
	// would hold more than MaxBatchValues values.
	BatchSize int
}

// Curves are the deletion and insertion curves of one explanation with
// their random baselines. Point i of each curve is at Fractions[i].
type Curves struct {
	// Fractions[i] is the fraction of the players removed (deletion) or
	// present (insertion) at point i: k_i/p, from 0 to 1.
	Fractions []float64
	// Deletion[i] is the score with the first k_i players of the
	// explanation's order absent and the others present.
	Deletion []float64
	// RandomDeletion is the deletion curve averaged over the random orders.
	RandomDeletion []float64
	// Insertion[i] is the score with only the first k_i players of the
	// explanation's order present.
	Insertion []float64
	// RandomInsertion is the insertion curve averaged over the random
	// orders.
	RandomInsertion []float64
	// The areas under the four curves by the trapezoid rule over
	// Fractions, in units of the score.
	DeletionArea        float64
	RandomDeletionArea  float64
	InsertionArea       float64
	RandomInsertionArea float64
	// Order is the explanation's order: the players by decreasing weight,
	// ties by index.
	Order []int
	// Steps and RandomOrders are the values used, defaults resolved.
	Steps        int
	RandomOrders int
	// Seed is the seed used.
	Seed uint64
	// NumSamples is the number of masks scored: distinct masks are scored
	// once however many curves share them.
	NumSamples int
	// ScorerCalls is the number of MaskScorer calls.
	ScorerCalls int
}

// FidelityCurves scores the deletion and insertion curves of an
// explanation (Petsiuk et al. 2018, "RISE"; Captum's and Quantus'
// faithfulness metrics), generic over how players are removed: score
// values the masks.
//
// weights[j] is player j's attribution for the explained label, signed:
// the order π sorts the players by decreasing weight (those that support
// the label first), ties by index. With S steps (opts.Steps) and
// k_i = ⌊i·p/S⌋ for i = 0..S, the curves are
//
//	Deletion[i]  = s(all players except π_1..π_{k_i})
//	Insertion[i] = s(π_1..π_{k_i} only)
//
// where s is the score of a mask; the random baselines are the same curves
// for opts.RandomOrders uniformly random orders, averaged point by point.
// The area under a curve y is Σ_i (x_{i+1} − x_i)(y_i + y_{i+1})/2 with
// x_i = k_i/p.
//
// A faithful explanation puts first the players whose removal lowers the
// score most, so the score falls faster than along a random order and
// rises faster when they are inserted: the deletion area is below the
// random deletion area and the insertion area above the random insertion
// area. For an additive model s(z) = c + Σ_j z_j w_j and weights w, the
// deletion curve is the lowest and the insertion curve the highest of any
// order, point by point.
//
// All the masks of all the curves are deduplicated (the full and the empty
// mask are shared by every curve; different orders often share prefixes
// for small p) and sent in as few MaskScorer calls as opts.BatchSize
// allows, one by default. FidelityCurves checks ctx before each call and
// stops at once when it is done, returning an error that wraps ctx.Err();
// a scorer error is wrapped, and an answer of the wrong length or with a
// non-finite score is an error. Invalid options or weights give a
// *RequestError naming the field; scores so large that the averages or
// the areas overflow, one with Precondition set.
func FidelityCurves(ctx context.Context, score MaskScorer, weights []float64, opts CurveOptions) (*Curves, error) {
	p := len(weights)
	steps, orders, batch, err := opts.resolve(p)
	if err != nil {
		return nil, err
	}
	switch {
	case score == nil:
		return nil, invalid("score", "must not be nil")
	case p == 0:
		return nil, invalid("weights", "must not be empty")
	}
	for j, w := range weights {
		if math.IsNaN(w) || math.IsInf(w, 0) {
			return nil, invalid(fmt.Sprintf("weights[%d]", j), "non-finite value")
		}
	}

	counts := make([]int, steps+1)
	fractions := make([]float64, steps+1)
	for i := range counts {
		counts[i] = i * p / steps
		fractions[i] = float64(counts[i]) / float64(p)
	}

	order := make([]int, p)
	for j := range order {
		order[j] = j
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(weights[b], weights[a]) })

	// Every curve point's mask, as a bit set of the present players, maps
	// to one row to score: rows[c][i] for curve 2o (deletion along order
	// o) and 2o+1 (insertion); order 0 is the explanation's.
	ms := newMaskSet(p)
	rows := make([][]int, 2*(1+orders))
	rng := rand.New(rand.NewPCG(opts.Seed, curveSeedStream))
	perm := order
	for o := range 1 + orders {
		if o > 0 {
			perm = rng.Perm(p)
		}
		del, ins := make([]int, steps+1), make([]int, steps+1)
		ms.clear()
		for i, k := range counts {
			if i > 0 {
				for _, j := range perm[counts[i-1]:k] {
					ms.set(j)
				}
			}
			ins[i] = ms.row(false)
			del[i] = ms.row(true)
		}
		rows[2*o], rows[2*o+1] = del, ins
	}

	values, calls, err := ms.score(ctx, score, batch)
	if err != nil {
		return nil, err
	}

	c := &Curves{
		Fractions:       fractions,
		Deletion:        make([]float64, steps+1),
		Insertion:       make([]float64, steps+1),
		RandomDeletion:  make([]float64, steps+1),
		RandomInsertion: make([]float64, steps+1),
		Order:           order,
		Steps:           steps,
		RandomOrders:    orders,
		Seed:            opts.Seed,
		NumSamples:      len(values),
		ScorerCalls:     calls,
	}
	for i := range counts {
		c.Deletion[i] = values[rows[0][i]]
		c.Insertion[i] = values[rows[1][i]]
		var d, in float64
		for o := 1; o <= orders; o++ {
			d += values[rows[2*o][i]]
			in += values[rows[2*o+1][i]]
		}
		c.RandomDeletion[i] = d / float64(orders)
		c.RandomInsertion[i] = in / float64(orders)
	}
	c.DeletionArea = trapezoid(fractions, c.Deletion)
	c.RandomDeletionArea = trapezoid(fractions, c.RandomDeletion)
	c.InsertionArea = trapezoid(fractions, c.Insertion)
	c.RandomInsertionArea = trapezoid(fractions, c.RandomInsertion)
	if !finite(c.DeletionArea, c.RandomDeletionArea, c.InsertionArea, c.RandomInsertionArea) ||
		!finite(c.RandomDeletion...) || !finite(c.RandomInsertion...) {
		return nil, precondition("scores", "the fidelity curves are not finite: the scores are too large for their sums")
	}
	return c, nil
}

// resolve validates the options and fills in the defaults for p players.
func (o CurveOptions) resolve(p int) (steps, orders, batch int, err error) {
	switch {
	case o.Steps < 0 || o.Steps > MaxCurveSteps:
		return 0, 0, 0, invalid("curve_steps", "%d is outside [0, %d] (0 means the default)", o.Steps, MaxCurveSteps)
	case o.RandomOrders < 0 || o.RandomOrders > MaxRandomOrders:
		return 0, 0, 0, invalid("random_orders", "%d is outside [0, %d] (0 means the default)", o.RandomOrders, MaxRandomOrders)
	case o.BatchSize < 0:
		return 0, 0, 0, invalid("batch_size", "must not be negative")
	}
	steps = o.Steps
	if steps == 0 {
		steps = DefaultCurveSteps
	}
	steps = max(1, min(steps, p))
	orders = o.RandomOrders
	if orders == 0 {
		orders = DefaultRandomOrders
	}
	batch = o.BatchSize
	if batch == 0 {
		batch = max(1, MaxBatchValues/max(1, p))
	}
	return steps, orders, batch, nil
}

// trapezoid is the area under the piecewise linear curve through (x_i, y_i).
func trapezoid(x, y []float64) float64 {
	var a float64
	for i := 1; i < len(x); i++ {
		a += (x[i] - x[i-1]) * (y[i] + y[i-1]) / 2
	}
	return a
}

// maskSet collects distinct masks over p players as packed bit sets.
type maskSet struct {
	p     int
	bits  []byte // the mask being built: bit j set when player j is in
	tmp   []byte
	index map[string]int
	keys  []string // distinct masks, in order of first appearance
}

func newMaskSet(p int) *maskSet {
	n := (p + 7) / 8
	return &maskSet{p: p, bits: make([]byte, n), tmp: make([]byte, n), index: make(map[string]int)}
}

func (m *maskSet) clear()    { clear(m.bits) }
func (m *maskSet) set(j int) { m.bits[j>>3] |= 1 << (j & 7) }

// row returns the row of the mask whose present players are the set bits,
// or (complement) the others, adding it when it is new.
func (m *maskSet) row(complement bool) int {
	b := m.bits
	if complement {
		b = m.tmp
		for i, v := range m.bits {
			b[i] = ^v
		}
		if r := m.p & 7; r != 0 {
			b[len(b)-1] &= 1<<r - 1
		}
	}
	if r, ok := m.index[string(b)]; ok {
		return r
	}
	k := string(b)
	m.index[k] = len(m.keys)
	m.keys = append(m.keys, k)
	return len(m.keys) - 1
}

// score scores every distinct mask, at most batch per call.
func (m *maskSet) score(ctx context.Context, score MaskScorer, batch int) (values []float64, calls int, err error) {
	n := len(m.keys)
	batch = min(batch, n)
	buf := make([]bool, batch*m.p)
	present := make([][]bool, batch)
	for r := range present {
		present[r] = buf[r*m.p : (r+1)*m.p : (r+1)*m.p]
	}
	values = make([]float64, 0, n)
	for start := 0; start < n; start += batch {
		if err := ctx.Err(); err != nil {
			return nil, calls, fmt.Errorf("explain: fidelity curves: %w", err)
		}
		rows := present[:min(batch, n-start)]
		for r, row := range rows {
			key := m.keys[start+r]
			for j := range row {
				row[j] = key[j>>3]>>(j&7)&1 == 1
			}
		}
		calls++
		got, err := score(ctx, rows)
		if err != nil {
			return nil, calls, fmt.Errorf("explain: fidelity curves: %w", err)
		}
		if len(got) != len(rows) {
			return nil, calls, fmt.Errorf("explain: fidelity curves: scorer returned %d scores for %d masks", len(got), len(rows))
		}
		for r, v := range got {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, calls, fmt.Errorf("explain: fidelity curves: scorer returned a non-finite score for mask %d", start+r)
			}
		}
		values = append(values, got...)
	}
	return values, calls, nil
}
