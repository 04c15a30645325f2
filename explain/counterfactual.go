package explain

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Defaults and limits of a counterfactual search.
const (
	DefaultCounterfactuals      = 3
	MaxCounterfactuals          = 100
	DefaultPopulation           = 256
	MinPopulation               = 8
	MaxPopulation               = 100_000
	DefaultMaxGenerations       = 100
	MaxGenerations              = 10_000
	MinCounterfactualDataRows   = 2
	counterfactualPatience      = 10    // generations without improvement before the search stops
	counterfactualImprovement   = 1e-3  // relative drop of the objective that counts as an improvement
	counterfactualFirstRadius   = 0.5   // the first growing sphere's radius, in MAD units
	counterfactualMutationScale = 0.2   // a mutation's standard deviation, per unit of the best proximity
	counterfactualShrinkSteps   = 16    // points of each line search towards the instance
	counterfactualProbe         = 0.1   // the share of children that change one feature of the instance
	counterfactualSparsityCost  = 0.1   // the extra proximity a sparser variant of a row may cost
	counterfactualSeedStream    = 0xCF1 // the PCG stream of the search's draws
)

// counterfactualPush are the factors sparsification pushes rows away
// from the instance by before it reverts features.
var counterfactualPush = [...]float64{1.1, 1.3, 1.6}

// OtherClass is CounterfactualRequest.DesiredClass for "any class but the
// one the model predicts for the instance".
const OtherClass = -1

// FeatureRange bounds the values one feature may take in a counterfactual.
type FeatureRange struct {
	Feature  int
	Min, Max float64
}

// CounterfactualRequest is one counterfactual search: rows close to
// Instance that the model puts in another class.
type CounterfactualRequest struct {
	// Instance is the row to change; it is not modified.
	Instance []float64
	// Data holds N ≥ 2 rows of the instance's width: it gives each
	// feature's scale (its median absolute deviation), its default range
	// and a categorical feature's categories. It is not modified.
	Data [][]float64
	// FeatureNames name the features in FeatureChange; nil gives "x0",
	// "x1", ....
	FeatureNames []string
	// Categorical lists the categorical features: they take only the
	// values Data has in their column (or the instance's), and a change
	// costs 1 in the proximity, whatever the codes.
	Categorical []int
	// DesiredClass is the class the counterfactuals must be in (its score
	// the row's largest, ties going to the lower class); OtherClass: any
	// class but the instance's predicted one. The zero value is class 0.
	DesiredClass int
	// MinProbability is the least score the counterfactual's class must
	// have, in [0, 1); 0 asks only that it be the top class.
	MinProbability float64
	// Count is the number of counterfactuals wanted. Default
	// DefaultCounterfactuals; 1 to MaxCounterfactuals.
	Count int
	// Immutable features keep the instance's value.
	Immutable []int
	// Ranges bound features' values (inclusive); the instance must be
	// inside. A feature without one ranges over [min, max] of its column
	// in Data, widened to take the instance's value.
	Ranges []FeatureRange
	// Population is the rows scored per generation, in one Predict call
	// each. Default DefaultPopulation; MinPopulation to MaxPopulation.
	Population int
	// MaxGenerations bounds the generations (growing spheres' shells
	// included). Default DefaultMaxGenerations; 1 to MaxGenerations.
	MaxGenerations int
	// Seed seeds every draw of the search.
	Seed uint64
	// Partial, when set, is called after each generation with the best
	// counterfactuals so far (before sparsification), on the caller's
	// goroutine.
	Partial func(generation int, r *Result)
}

// CounterfactualResult is what a counterfactual search found
// (Result.Counterfactuals).
type CounterfactualResult struct {
	// Rows are the counterfactuals, closest first.
	Rows []Counterfactual
	// Generations is the number of generations the search ran (growing
	// spheres' shells included); 0 when the instance was already valid.
	Generations int
}

// Counterfactual is one row the model puts in the desired class.
type Counterfactual struct {
	// Values is the row.
	Values []float64
	// Scores are the model's scores for it.
	Scores []float64
	// Label is its top class.
	Label int
	// Valid reports that it meets the desired class and MinProbability.
	Valid bool
	// Changes are the features it changes, by index; their number is the
	// counterfactual's sparsity.
	Changes []FeatureChange
	// Proximity is the L1 distance to the instance in MAD units:
	// Σ_j |Scaled_j| over the changes.
	Proximity float64
}

// FeatureChange is one feature a counterfactual changes.
type FeatureChange struct {
	Index    int
	Feature  string
	From, To float64
	// Scaled is (To − From) / scale_j (see Counterfactuals), ±1 for a
	// categorical feature.
	Scaled float64
}

// cfSearch is a prepared counterfactual search.
type cfSearch struct {
	req     CounterfactualRequest
	x0      []float64
	names   []string
	scale   []float64   // MAD (or fallback) per feature
	lo, hi  []float64   // the box
	cats    [][]float64 // allowed values of categorical features (nil: continuous)
	cont    []int       // mutable continuous features
	catMut  []int       // mutable categorical features
	mutable []int       // cont then catMut
	rng     *rand.Rand

	m       Model
	rows    int // rows scored
	width   int // scores per row
	target  int // the desired class, OtherClass resolved to "not predicted"
	predict int // the instance's predicted class
}

// cfCand is a scored row.
type cfCand struct {
	x      []float64
	scores []float64
	valid  bool
	gap    float64 // how far the scores are from valid, 0 when valid
	dist   float64 // proximity
	key    string  // the set of changed features
}

// Counterfactuals searches for the req.Count rows x closest to the
// instance x⁰ in
//
//	d(x) = Σ_{j continuous} |x_j − x⁰_j| / s_j + Σ_{j categorical} [x_j ≠ x⁰_j]
//
// that the model puts in the desired class with at least MinProbability,
// within the ranges, with the immutable features at x⁰'s values. s_j is
// the median absolute deviation of feature j over Data (Wachter et al.;
// alibi's CounterfactualProto), its population standard deviation when
// the MAD is 0 (a feature mostly at one value), and 1 when that is 0 too.
//
// The model gives no gradients, so the search is black-box:
//
//  1. Growing spheres (Laugel et al. 2018): generation k draws Population
//     rows uniformly in the shell a_k ≤ ‖(x − x⁰)/s‖₂ ≤ b_k over the
//     mutable continuous features (b_0 = 0.5, a_k = b_{k−1}, b_k = 2b_{k−1}),
//     clipped to the ranges; each mutable categorical feature moves to
//     another allowed category with probability min(½, b_k / mutable
//     features). The first call scores the instance with them. Shells grow
//     until a valid row appears or the shell leaves the box.
//  2. A genetic search from that population: each generation keeps the
//     best eighth (valid rows by d, then invalid rows by their gap to
//     validity: how far the desired class's score is below the others' and
//     below MinProbability) and the best row of every change set the
//     final answer would take, and fills the rest with children of binary
//     tournaments: uniform crossover over the mutable features, a
//     Gaussian mutation of each with probability 1/|mutable| (standard
//     deviation 0.2 × the best proximity found, times s_j; a categorical
//     feature takes another allowed category), and, each with probability
//     0.3 and 0.2, a pull towards x⁰ (x⁰ + t(x − x⁰), t ~ U(½, 1)) and the
//     reset of one changed feature to x⁰'s value. Children are clipped to
//     the ranges and scored in one Predict call per generation.
//  3. The search stops after MaxGenerations generations, or when for 10
//     generations in a row the objective has not dropped by 0.1%: the
//     number of distinct change sets found (up to Count) first, then the
//     sum of the proximities of the counterfactuals it would return (the
//     smallest gap while none is valid).
//  4. Sparsification: each of the up to 2·Count best rows of distinct
//     change sets is taken as found and pushed away from x⁰ by 1.1, 1.3
//     and 1.6 (x⁰ + f(x − x⁰), clipped; the pushed rows that stay valid),
//     since a row on the decision boundary can revert no feature. Each
//     variant moves changed features back to x⁰'s value, one at a time,
//     each time taking the revert that keeps it valid and lowers d most,
//     until none does; then a line search towards x⁰ (x⁰ + t(x − x⁰) for t
//     on a grid of 16, then 16 more between the last invalid and the
//     first valid t) keeps the closest valid point. Of a row's variants
//     the one with the fewest changes wins among those within 10% of the
//     closest one's d. Each round scores every variant's rows together.
//
// The result's Counterfactuals are at most Count valid rows, closest
// first, chosen to change different sets of features where the search
// found enough (the rows sparsification chose first, then the other
// variants), then distinct rows; fewer when it found fewer. Every
// Predict call sends at most Population rows. The model scores at most
// B = Population × MaxGenerations rows in the search, 3·2·Count pushed
// rows, at most B in the reverts (a round that would pass B is not
// started, so that a row changing thousands of features costs no more
// than the search), and 2 × 15 rows per variant (at most 2·Count × 5) in
// the line search: CounterfactualMaxRows. If the instance itself is valid (DesiredClass is
// its predicted class with score ≥ MinProbability) it is the only
// counterfactual, with no changes. The search is deterministic for a
// seed. ctx is checked before every call; when done, its error is
// returned. A request that cannot run is a *RequestError naming the
// field; a desired class beyond the model's outputs is found on the
// first call (Precondition set).
func Counterfactuals(ctx context.Context, m Model, req CounterfactualRequest) (*Result, error) {
	s, err := newCFSearch(m, req)
	if err != nil {
		return nil, err
	}
	return s.run(ctx)
}

// CounterfactualMaxRows is the most rows Counterfactuals has the model
// score for req (defaults applied): the search's Population ×
// MaxGenerations, as many again for the reverts, and the pushes and line
// searches of at most 2·Count rows found.
func CounterfactualMaxRows(req CounterfactualRequest) int {
	r := req.withDefaults()
	found := 2 * r.Count
	variants := found * (1 + len(counterfactualPush) + 1) // as found, pushed, and the originals rejoining
	return 2*r.Population*r.MaxGenerations + found*len(counterfactualPush) + 2*(counterfactualShrinkSteps-1)*variants
}

// withDefaults fills the zero values with the defaults.
func (r CounterfactualRequest) withDefaults() CounterfactualRequest {
	if r.Count == 0 {
		r.Count = DefaultCounterfactuals
	}
	if r.Population == 0 {
		r.Population = DefaultPopulation
	}
	if r.MaxGenerations == 0 {
		r.MaxGenerations = DefaultMaxGenerations
	}
	return r
}

// Validate checks the request as Counterfactuals will, defaults applied,
// without calling a model: a *RequestError naming the field, or nil. The
// desired class is checked against the model's outputs only by
// Counterfactuals.
func (r CounterfactualRequest) Validate() error { return r.withDefaults().validate() }

// validate checks the request's sizes and indices.
func (r CounterfactualRequest) validate() error {
	p := len(r.Instance)
	switch {
	case p == 0:
		return invalid("instance", "must have at least 1 feature")
	case len(r.Data) < MinCounterfactualDataRows:
		return invalid("data", "has %d rows, needs at least %d", len(r.Data), MinCounterfactualDataRows)
	case r.Count < 1 || r.Count > MaxCounterfactuals:
		return invalid("count", "%d is outside [1, %d]", r.Count, MaxCounterfactuals)
	case r.Population < MinPopulation || r.Population > MaxPopulation:
		return invalid("population", "%d is outside [%d, %d]", r.Population, MinPopulation, MaxPopulation)
	case r.MaxGenerations < 1 || r.MaxGenerations > MaxGenerations:
		return invalid("max_generations", "%d is outside [1, %d]", r.MaxGenerations, MaxGenerations)
	case r.DesiredClass < OtherClass:
		return invalid("desired_class", "%d is negative", r.DesiredClass)
	case !(r.MinProbability >= 0 && r.MinProbability < 1):
		return invalid("min_probability", "must be in [0, 1)")
	case r.FeatureNames != nil && len(r.FeatureNames) != p:
		return invalid("feature_names", "%d names for %d features", len(r.FeatureNames), p)
	}
	if !finite(r.Instance...) {
		return invalid("instance", "has a non-finite value")
	}
	for i, row := range r.Data {
		if len(row) != p {
			return invalid("data", "row %d has %d values, the instance %d", i, len(row), p)
		}
		if !finite(row...) {
			return invalid("data", "row %d has a non-finite value", i)
		}
	}
	for i, j := range r.Categorical {
		if j < 0 || j >= p {
			return invalid("categorical", "[%d]: feature %d is out of range [0,%d)", i, j, p)
		}
	}
	for i, j := range r.Immutable {
		if j < 0 || j >= p {
			return invalid("immutable_features", "[%d]: feature %d is out of range [0,%d)", i, j, p)
		}
	}
	seen := make(map[int]bool, len(r.Ranges))
	for i, rg := range r.Ranges {
		f := fmt.Sprintf("ranges[%d]", i)
		switch {
		case rg.Feature < 0 || rg.Feature >= p:
			return invalid(f+".feature", "%d is out of range [0,%d)", rg.Feature, p)
		case seen[rg.Feature]:
			return invalid(f+".feature", "feature %d has two ranges", rg.Feature)
		case !finite(rg.Min, rg.Max) || rg.Min > rg.Max:
			return invalid(f, "min must be finite and <= max")
		case r.Instance[rg.Feature] < rg.Min || r.Instance[rg.Feature] > rg.Max:
			return invalid(f, "the instance's value of feature %d is outside [min, max]; widen the range", rg.Feature)
		}
		seen[rg.Feature] = true
	}
	return nil
}

func newCFSearch(m Model, req CounterfactualRequest) (*cfSearch, error) {
	req = req.withDefaults()
	if err := req.validate(); err != nil {
		return nil, err
	}
	p := len(req.Instance)
	s := &cfSearch{
		req: req, m: m, x0: req.Instance, names: FeatureNames(req.FeatureNames, p),
		scale: make([]float64, p), lo: make([]float64, p), hi: make([]float64, p), cats: make([][]float64, p),
		rng: rand.New(rand.NewPCG(req.Seed, counterfactualSeedStream)),
	}
	isCat := make([]bool, p)
	for _, j := range req.Categorical {
		isCat[j] = true
	}
	immutable := make([]bool, p)
	for _, j := range req.Immutable {
		immutable[j] = true
	}
	col := make([]float64, len(req.Data))
	for j := range p {
		for i, row := range req.Data {
			col[i] = row[j]
		}
		slices.Sort(col)
		s.lo[j], s.hi[j] = min(col[0], s.x0[j]), max(col[len(col)-1], s.x0[j])
		s.scale[j] = madScale(col)
	}
	for _, rg := range req.Ranges {
		s.lo[rg.Feature], s.hi[rg.Feature] = rg.Min, rg.Max
	}
	for j := range p {
		if isCat[j] {
			allowed := []float64{s.x0[j]}
			for _, row := range req.Data {
				if v := row[j]; v >= s.lo[j] && v <= s.hi[j] {
					allowed = append(allowed, v)
				}
			}
			slices.Sort(allowed)
			s.cats[j] = slices.Compact(allowed)
		}
		switch {
		case immutable[j]:
		case isCat[j] && len(s.cats[j]) > 1:
			s.catMut = append(s.catMut, j)
		case !isCat[j] && s.hi[j] > s.lo[j]:
			s.cont = append(s.cont, j)
		}
	}
	s.mutable = append(slices.Clone(s.cont), s.catMut...)
	if len(s.mutable) == 0 {
		return nil, invalid("immutable_features", "every feature is immutable or has a single allowed value: nothing can change")
	}
	return s, nil
}

// madScale is the median absolute deviation of the sorted column col
// (which it reuses as scratch), its population standard deviation when
// that is 0, and 1 when both are.
func madScale(col []float64) float64 {
	med := median(col)
	_, sd := meanStd(col)
	for i, v := range col {
		col[i] = math.Abs(v - med)
	}
	slices.Sort(col)
	if mad := median(col); mad > 0 {
		return mad
	}
	if sd > 0 {
		return sd
	}
	return 1
}

// median of a sorted slice.
func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// score scores rows in calls of at most Population rows.
func (s *cfSearch) score(ctx context.Context, rows [][]float64) ([][]float64, error) {
	out := make([][]float64, 0, len(rows))
	for lo := 0; lo < len(rows); lo += s.req.Population {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		batch := rows[lo:min(lo+s.req.Population, len(rows))]
		got, err := s.m.Predict(ctx, batch)
		if err != nil {
			return nil, err
		}
		if len(got) != len(batch) {
			return nil, fmt.Errorf("explain: model returned %d rows for %d samples", len(got), len(batch))
		}
		for i, row := range got {
			if s.width == 0 {
				s.width = len(row)
			}
			if len(row) != s.width {
				return nil, fmt.Errorf("explain: model returned %d scores in row %d, %d in another", len(row), i, s.width)
			}
			if !finite(row...) {
				return nil, fmt.Errorf("explain: model returned a non-finite score in row %d", i)
			}
		}
		s.rows += len(batch)
		out = append(out, got...)
	}
	return out, nil
}

// gapTo is how far scores are from putting class c on top with at least
// MinProbability: the lead of the best other class plus the shortfall.
func (s *cfSearch) gapTo(scores []float64, c int) float64 {
	other := math.Inf(-1)
	for k, v := range scores {
		if k != c {
			other = max(other, v)
		}
	}
	return max(0, other-scores[c]) + max(0, s.req.MinProbability-scores[c])
}

// judge sets c's validity, gap, distance and change set.
func (s *cfSearch) judge(c *cfCand) {
	label := argmax(c.scores)
	if s.target >= 0 {
		c.valid = label == s.target && c.scores[s.target] >= s.req.MinProbability
		c.gap = s.gapTo(c.scores, s.target)
	} else {
		c.valid = label != s.predict && c.scores[label] >= s.req.MinProbability
		c.gap = math.Inf(1)
		for k := range c.scores {
			if k != s.predict {
				c.gap = min(c.gap, s.gapTo(c.scores, k))
			}
		}
	}
	if c.valid {
		c.gap = 0
	}
	c.dist, c.key = s.distance(c.x)
}

// distance is d(x) and the set of features x changes, as a key.
func (s *cfSearch) distance(x []float64) (float64, string) {
	key := make([]byte, (len(x)+7)/8)
	d := 0.0
	for _, j := range s.mutable {
		if x[j] == s.x0[j] {
			continue
		}
		key[j/8] |= 1 << (j % 8)
		if s.cats[j] != nil {
			d++
		} else {
			d += math.Abs(x[j]-s.x0[j]) / s.scale[j]
		}
	}
	return d, string(key)
}

// better orders candidates: valid before invalid, valid by distance,
// invalid by gap then distance.
func better(a, b *cfCand) int {
	if a.valid != b.valid {
		if a.valid {
			return -1
		}
		return 1
	}
	if !a.valid {
		if c := cmp.Compare(a.gap, b.gap); c != 0 {
			return c
		}
	}
	return cmp.Compare(a.dist, b.dist)
}

// evaluate scores rows and judges them.
func (s *cfSearch) evaluate(ctx context.Context, rows [][]float64) ([]*cfCand, error) {
	scores, err := s.score(ctx, rows)
	if err != nil {
		return nil, err
	}
	out := make([]*cfCand, len(rows))
	for i := range rows {
		out[i] = &cfCand{x: rows[i], scores: scores[i]}
		s.judge(out[i])
	}
	return out, nil
}

// resolveTarget reads the instance's scores: its class, and the desired
// class checked against the model's width.
func (s *cfSearch) resolveTarget(scores []float64) error {
	s.predict = argmax(scores)
	s.target = s.req.DesiredClass
	if len(scores) < 2 {
		return precondition("scores", "the model returns %d score per row: counterfactuals need a score per class", len(scores))
	}
	if s.target >= len(scores) {
		return precondition("desired_class", "%d is out of range [0,%d)", s.target, len(scores))
	}
	return nil
}

// shell draws n rows in growing sphere k.
func (s *cfSearch) shell(k, n int) [][]float64 {
	b := counterfactualFirstRadius * math.Pow(2, float64(k))
	a := 0.0
	if k > 0 {
		a = b / 2
	}
	d := float64(len(s.cont))
	alpha := math.Pow(a/b, d)
	q := min(0.5, b/float64(len(s.mutable)))
	rows := make([][]float64, n)
	z := make([]float64, len(s.cont))
	for i := range rows {
		x := slices.Clone(s.x0)
		if len(s.cont) > 0 {
			norm := 0.0
			for t := range z {
				z[t] = s.rng.NormFloat64()
				norm += z[t] * z[t]
			}
			norm = math.Sqrt(norm)
			r := b * math.Pow(alpha+s.rng.Float64()*(1-alpha), 1/d)
			for t, j := range s.cont {
				x[j] = s.clip(j, s.x0[j]+r*z[t]/norm*s.scale[j])
			}
		}
		for _, j := range s.catMut {
			if s.rng.Float64() < q {
				x[j] = s.otherCategory(j, x[j])
			}
		}
		rows[i] = x
	}
	return rows
}

// covered reports whether growing sphere k's inner radius is past every
// corner of the box.
func (s *cfSearch) covered(k int) bool {
	diam := 0.0
	for _, j := range s.cont {
		w := max(s.hi[j]-s.x0[j], s.x0[j]-s.lo[j]) / s.scale[j]
		diam += w * w
	}
	a := counterfactualFirstRadius * math.Pow(2, float64(k-1))
	if math.IsInf(4*a, 1) { // shell k's radii would overflow: every box is covered
		return true
	}
	return a > math.Sqrt(diam) && (len(s.catMut) == 0 || a >= 2*float64(len(s.mutable)))
}

func (s *cfSearch) clip(j int, v float64) float64 { return min(max(v, s.lo[j]), s.hi[j]) }

// otherCategory draws an allowed category of j other than v.
func (s *cfSearch) otherCategory(j int, v float64) float64 {
	cats := s.cats[j] // sorted, distinct, with v
	i := s.rng.IntN(len(cats) - 1)
	if k, _ := slices.BinarySearch(cats, v); i >= k {
		i++ // skip v
	}
	return cats[i]
}

// archive keeps the best valid row of each change set.
type cfArchive map[string]*cfCand

func (a cfArchive) add(cs []*cfCand) {
	for _, c := range cs {
		if !c.valid {
			continue
		}
		if old, ok := a[c.key]; !ok || c.dist < old.dist {
			a[c.key] = c
		}
	}
}

// best returns the archive's rows by distance, at most n.
func (a cfArchive) best(n int) []*cfCand {
	out := make([]*cfCand, 0, len(a))
	for _, c := range a {
		out = append(out, c)
	}
	slices.SortFunc(out, func(x, y *cfCand) int {
		if c := cmp.Compare(x.dist, y.dist); c != 0 {
			return c
		}
		return slices.Compare(x.x, y.x) // map order must not matter
	})
	return out[:min(n, len(out))]
}

// prune keeps the archive's n best change sets.
func (a cfArchive) prune(n int) {
	if len(a) <= 2*n {
		return
	}
	keep := a.best(n)
	clear(a)
	a.add(keep)
}

// objective is what the stopping rule watches: change sets found (up to
// count) and the sum of their proximities, or the smallest gap.
func objective(arch cfArchive, pop []*cfCand, count int) (int, float64) {
	if len(arch) == 0 {
		g := math.Inf(1)
		for _, c := range pop {
			g = min(g, c.gap)
		}
		return 0, g
	}
	best := arch.best(count)
	sum := 0.0
	for _, c := range best {
		sum += c.dist
	}
	return len(best), sum
}

func (s *cfSearch) run(ctx context.Context) (*Result, error) {
	P, count := s.req.Population, s.req.Count
	res := &Result{Method: "counterfactual", Seed: s.req.Seed}
	// Generation 0: the instance and the first shell, in one call.
	rows := append([][]float64{slices.Clone(s.x0)}, s.shell(0, P-1)...)
	scores, err := s.score(ctx, rows)
	if err != nil {
		return nil, err
	}
	if err := s.resolveTarget(scores[0]); err != nil {
		return nil, err
	}
	res.InstanceScores = scores[0]
	self := &cfCand{x: rows[0], scores: scores[0]}
	s.judge(self)
	if self.valid {
		res.Counterfactuals = &CounterfactualResult{Rows: []Counterfactual{s.counterfactual(self)}}
		res.NumSamples = s.rows
		return res, nil
	}
	pop := make([]*cfCand, 0, P)
	for i := 1; i < len(rows); i++ {
		c := &cfCand{x: rows[i], scores: scores[i]}
		s.judge(c)
		pop = append(pop, c)
	}
	arch := cfArchive{}
	arch.add(pop)
	s.partial(res, 1, arch)
	gen := 1
	// Growing spheres until a valid row appears.
	for k := 1; len(arch) == 0 && gen < s.req.MaxGenerations && !s.covered(k); k++ {
		if pop, err = s.evaluate(ctx, s.shell(k, P)); err != nil {
			return nil, err
		}
		arch.add(pop)
		gen++
		s.partial(res, gen, arch)
	}
	// The genetic search.
	n, obj := objective(arch, pop, count)
	stale := 0
	for ; gen < s.req.MaxGenerations && stale < counterfactualPatience; gen++ {
		slices.SortStableFunc(pop, better)
		elite := s.elite(pop, arch)
		children := s.children(pop, arch, P-len(elite))
		kids, err := s.evaluate(ctx, children)
		if err != nil {
			return nil, err
		}
		arch.add(kids)
		arch.prune(max(count, 32))
		pop = append(elite, kids...)
		s.partial(res, gen+1, arch)
		if n2, obj2 := objective(arch, pop, count); n2 > n || n2 == n && obj2 < obj*(1-counterfactualImprovement) {
			n, obj, stale = n2, obj2, 0
		} else {
			stale++
		}
	}
	chosen, rest, err := s.sparsify(ctx, arch.best(2*count))
	if err != nil {
		return nil, err
	}
	res.Counterfactuals = &CounterfactualResult{Rows: s.pick(count, chosen, rest), Generations: gen}
	res.NumSamples = s.rows
	if err := res.nonFinite(); err != nil {
		return nil, err
	}
	return res, nil
}

// elite is what a generation carries over unchanged: the best eighth of
// the population and the archive's rows the answer would take.
func (s *cfSearch) elite(sorted []*cfCand, arch cfArchive) []*cfCand {
	out := slices.Clone(sorted[:max(1, len(sorted)/8)])
	for _, c := range arch.best(s.req.Count) {
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out[:min(len(out), s.req.Population/2)]
}

// children breeds n rows from the sorted population by binary tournament,
// crossover and mutation.
func (s *cfSearch) children(sorted []*cfCand, arch cfArchive, n int) [][]float64 {
	sigma := 0.0
	if best := arch.best(1); len(best) > 0 {
		sigma = counterfactualMutationScale * best[0].dist
	}
	if sigma == 0 {
		sigma = counterfactualMutationScale * sorted[0].dist
	}
	if sigma == 0 {
		sigma = counterfactualFirstRadius
	}
	pick := func() *cfCand {
		i, j := s.rng.IntN(len(sorted)), s.rng.IntN(len(sorted))
		return sorted[min(i, j)]
	}
	pm := 1 / float64(len(s.mutable))
	out := make([][]float64, n)
	for i := range out {
		if s.rng.Float64() < counterfactualProbe {
			out[i] = s.probe()
			continue
		}
		a, b := pick(), pick()
		x := slices.Clone(s.x0)
		for _, j := range s.mutable {
			if s.rng.IntN(2) == 0 {
				x[j] = a.x[j]
			} else {
				x[j] = b.x[j]
			}
			if s.rng.Float64() < pm {
				if s.cats[j] != nil {
					x[j] = s.otherCategory(j, x[j])
				} else {
					x[j] = s.clip(j, x[j]+s.rng.NormFloat64()*sigma*s.scale[j])
				}
			}
		}
		if s.rng.Float64() < 0.3 {
			t := 0.5 + 0.5*s.rng.Float64()
			for _, j := range s.cont {
				x[j] = s.x0[j] + t*(x[j]-s.x0[j])
			}
		}
		if s.rng.Float64() < 0.2 {
			j := s.mutable[s.rng.IntN(len(s.mutable))]
			x[j] = s.x0[j]
		}
		out[i] = x
	}
	return out
}

// probe is the instance with one mutable feature drawn uniformly in its
// range (a categorical feature: another allowed category): it finds the
// counterfactuals that change one feature, which crossovers of rows that
// change many rarely reach.
func (s *cfSearch) probe() []float64 {
	x := slices.Clone(s.x0)
	j := s.mutable[s.rng.IntN(len(s.mutable))]
	if s.cats[j] != nil {
		x[j] = s.otherCategory(j, x[j])
	} else {
		x[j] = s.lo[j] + s.rng.Float64()*(s.hi[j]-s.lo[j])
	}
	return x
}

// sparsify moves the candidates' changed features back to the instance's
// values while they stay valid, then searches the line towards the
// instance for the closest valid point. Each round scores every
// candidate's rows together, in calls of at most Population rows; there
// are at most p revert rounds (each takes a feature back in at least one
// candidate) and two line-search rounds.
func (s *cfSearch) sparsify(ctx context.Context, found []*cfCand) (chosen, rest []*cfCand, err error) {
	// Variants: each row as found, and pushed away from the instance
	// (x⁰ + f(x − x⁰), clipped) where that stays valid: a row on the
	// decision boundary can revert no feature, a pushed one can, and the
	// line search below pulls it back.
	cands := slices.Clone(found)
	family := make([]int, len(found))
	for i := range family {
		family[i] = i
	}
	push := counterfactualPush[:]
	err = s.scoreEach(ctx, len(found)*len(push), func(i int) []float64 {
		c, f := found[i/len(push)], push[i%len(push)]
		x := slices.Clone(c.x)
		for _, j := range s.cont {
			x[j] = s.clip(j, s.x0[j]+f*(c.x[j]-s.x0[j]))
		}
		return x
	}, func(i int, c *cfCand) {
		if c.valid {
			cands = append(cands, c)
			family = append(family, i/len(push))
		}
	})
	if err != nil {
		return nil, nil, err
	}
	type revert struct{ cand, feature int }
	budget := s.req.Population * s.req.MaxGenerations
	for {
		var items []revert
		for ci, c := range cands {
			if ch := s.changed(c.x); len(ch) > 1 {
				for _, j := range ch {
					items = append(items, revert{ci, j})
				}
			}
		}
		if budget -= len(items); budget < 0 {
			break
		}
		// Every revert of a round starts from the round's rows; the best
		// of each candidate is taken after the round.
		next := slices.Clone(cands)
		err := s.scoreEach(ctx, len(items), func(i int) []float64 {
			x := slices.Clone(cands[items[i].cand].x)
			x[items[i].feature] = s.x0[items[i].feature]
			return x
		}, func(i int, c *cfCand) {
			if o := items[i].cand; c.valid && c.dist < next[o].dist {
				next[o] = c
			}
		})
		if err != nil {
			return nil, nil, err
		}
		if slices.Equal(next, cands) {
			break
		}
		cands = next
	}
	// The rows as found join the sparsified ones, so that the change sets
	// stay as diverse as the search found them.
	for i, c := range found {
		if c != cands[i] {
			cands = append(cands, c)
			family = append(family, i)
		}
	}
	// Line search along x⁰ + t(x − x⁰): t on a grid in (lo, hi), hi the
	// smallest t known valid, lo the largest invalid t below it.
	lo := make([]float64, len(cands))
	hi := make([]float64, len(cands))
	for i := range hi {
		hi[i] = 1
	}
	base := slices.Clone(cands)
	const k = counterfactualShrinkSteps - 1 // points per candidate
	for range 2 {
		ts := make([]float64, len(base)*k)
		valid := make([]bool, len(ts))
		err := s.scoreEach(ctx, len(ts), func(i int) []float64 {
			o := i / k
			ts[i] = lo[o] + float64(i%k+1)*(hi[o]-lo[o])/counterfactualShrinkSteps
			x := slices.Clone(base[o].x)
			for _, j := range s.cont {
				x[j] = s.x0[j] + ts[i]*(base[o].x[j]-s.x0[j])
			}
			return x
		}, func(i int, c *cfCand) {
			valid[i] = c.valid
			if o := i / k; c.valid && c.dist < cands[o].dist {
				cands[o] = c
			}
		})
		if err != nil {
			return nil, nil, err
		}
		for o := range base {
			for i := o * k; i < (o+1)*k; i++ {
				if valid[i] {
					hi[o] = ts[i]
					break
				}
			}
			for i := o * k; i < (o+1)*k && ts[i] < hi[o]; i++ {
				if !valid[i] {
					lo[o] = ts[i]
				}
			}
		}
	}
	// Per found row, the variant with the fewest changes among those
	// within counterfactualSparsityCost of the family's closest.
	best := make([]int, len(found))
	closest := make([]float64, len(found))
	for i := range closest {
		best[i], closest[i] = -1, math.Inf(1)
	}
	for i, c := range cands {
		closest[family[i]] = min(closest[family[i]], c.dist)
	}
	for i, c := range cands {
		f := family[i]
		if c.dist > closest[f]*(1+counterfactualSparsityCost) {
			continue
		}
		if b := best[f]; b < 0 || len(s.changed(c.x)) < len(s.changed(cands[b].x)) ||
			len(s.changed(c.x)) == len(s.changed(cands[b].x)) && c.dist < cands[b].dist {
			best[f] = i
		}
	}
	for i, c := range cands {
		if slices.Contains(best, i) {
			chosen = append(chosen, c)
		} else {
			rest = append(rest, c)
		}
	}
	return chosen, rest, nil
}

// scoreEach scores rows row(0), …, row(n−1), building and scoring at
// most Population at a time, and hands each scored row to take in order.
func (s *cfSearch) scoreEach(ctx context.Context, n int, row func(i int) []float64, take func(i int, c *cfCand)) error {
	for lo := 0; lo < n; lo += s.req.Population {
		hi := min(lo+s.req.Population, n)
		rows := make([][]float64, hi-lo)
		for i := range rows {
			rows[i] = row(lo + i)
		}
		got, err := s.evaluate(ctx, rows)
		if err != nil {
			return err
		}
		for i, c := range got {
			take(lo+i, c)
		}
	}
	return nil
}

// changed lists the features x changes.
func (s *cfSearch) changed(x []float64) []int {
	var out []int
	for _, j := range s.mutable {
		if x[j] != s.x0[j] {
			out = append(out, j)
		}
	}
	return out
}

// pick chooses count rows, closest first: rows of change sets not yet
// taken, from the first pool to the last, each pool closest first; then
// rows not yet taken.
func (s *cfSearch) pick(count int, pools ...[]*cfCand) []Counterfactual {
	var chosen []*cfCand
	keys := map[string]bool{}
	for pass := range 2 {
		for _, pool := range pools {
			sorted := slices.Clone(pool)
			slices.SortStableFunc(sorted, func(a, b *cfCand) int { return cmp.Compare(a.dist, b.dist) })
			for _, c := range sorted {
				switch {
				case len(chosen) >= count || !c.valid:
				case pass == 0 && !keys[c.key]:
					keys[c.key] = true
					chosen = append(chosen, c)
				case pass == 1 && !slices.ContainsFunc(chosen, func(o *cfCand) bool { return slices.Equal(o.x, c.x) }):
					chosen = append(chosen, c)
				}
			}
		}
	}
	slices.SortStableFunc(chosen, func(a, b *cfCand) int { return cmp.Compare(a.dist, b.dist) })
	out := make([]Counterfactual, len(chosen))
	for i, c := range chosen {
		out[i] = s.counterfactual(c)
	}
	return out
}

// counterfactual describes c.
func (s *cfSearch) counterfactual(c *cfCand) Counterfactual {
	cf := Counterfactual{Values: c.x, Scores: c.scores, Label: argmax(c.scores), Valid: c.valid, Proximity: c.dist}
	for _, j := range s.changed(c.x) {
		ch := FeatureChange{Index: j, Feature: s.names[j], From: s.x0[j], To: c.x[j], Scaled: (c.x[j] - s.x0[j]) / s.scale[j]}
		if s.cats[j] != nil {
			ch.Scaled = 1
		}
		cf.Changes = append(cf.Changes, ch)
	}
	return cf
}

// nonFinite refuses proximities that overflow: values far outside the
// data set's scale (a nil r has none).
func (r *CounterfactualResult) nonFinite() error {
	if r == nil {
		return nil
	}
	for i, cf := range r.Rows {
		ok := finite(cf.Proximity)
		for _, ch := range cf.Changes {
			ok = ok && finite(ch.Scaled)
		}
		if !ok {
			return precondition("ranges", "counterfactual %d: its distance in MAD units is not finite: the values are too large for the data set's scale", i)
		}
	}
	return nil
}

// partial reports the best counterfactuals after a generation.
func (s *cfSearch) partial(res *Result, gen int, arch cfArchive) {
	if s.req.Partial == nil {
		return
	}
	r := *res
	r.NumSamples = s.rows
	r.Counterfactuals = &CounterfactualResult{Rows: s.pick(s.req.Count, arch.best(2*s.req.Count)), Generations: gen}
	s.req.Partial(gen, &r)
}
