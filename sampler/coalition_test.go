package sampler

import (
	"math"
	"math/big"
	"math/rand/v2"
	"reflect"
	"strconv"
	"testing"
)

type kernelWeightsFixture struct {
	WeightsByM map[string][]struct {
		S                         int      `json:"s"`
		NCoalitions               int      `json:"n_coalitions"`
		PerCoalitionWeight        *float64 `json:"per_coalition_weight"`
		PerCoalitionWeightFrac    string   `json:"per_coalition_weight_fraction"`
		TotalWeightOfSize         float64  `json:"total_weight_of_size"`
		TotalWeightOfSizeFraction string   `json:"total_weight_of_size_fraction"`
	} `json:"weights_by_M"`
}

// ratFloat returns the double nearest to the fraction "a/b".
func ratFloat(t *testing.T, frac string) float64 {
	t.Helper()
	r, ok := new(big.Rat).SetString(frac)
	if !ok {
		t.Fatalf("bad fraction %q", frac)
	}
	f, _ := r.Float64()
	return f
}

func TestShapleyKernelWeightFixture(t *testing.T) {
	var fx kernelWeightsFixture
	readJSON(t, "testdata/shapley_kernel_weights.json", &fx)
	if len(fx.WeightsByM) != 2 {
		t.Fatalf("fixture has %d values of M, want 2 (5 and 11)", len(fx.WeightsByM))
	}
	for key, sizes := range fx.WeightsByM {
		m, err := strconv.Atoi(key)
		if err != nil {
			t.Fatal(err)
		}
		if len(sizes) != m+1 {
			t.Fatalf("M=%d: %d sizes, want %d", m, len(sizes), m+1)
		}
		for _, sz := range sizes {
			got := ShapleyKernelWeight(m, sz.S)
			if sz.PerCoalitionWeight == nil {
				if !math.IsInf(got, 1) {
					t.Errorf("M=%d s=%d: weight %v, want +Inf (a constraint)", m, sz.S, got)
				}
				continue
			}
			// Both are a single correctly rounded division of small
			// integers, so they must be the same double: exact.
			if got != *sz.PerCoalitionWeight || got != ratFloat(t, sz.PerCoalitionWeightFrac) {
				t.Errorf("M=%d s=%d: weight %v, want %v = %s", m, sz.S, got, *sz.PerCoalitionWeight, sz.PerCoalitionWeightFrac)
			}
			if c := binomial(m, sz.S); c != float64(sz.NCoalitions) {
				t.Errorf("M=%d s=%d: C(M,s) = %v, want %d", m, sz.S, c, sz.NCoalitions)
			}
			// C(M,s)·π is one more rounding away from the exact total:
			// relative 1e-15 (two half-ulps are 2.2e-16).
			total := binomial(m, sz.S) * got
			want := ratFloat(t, sz.TotalWeightOfSizeFraction)
			if want != sz.TotalWeightOfSize {
				t.Fatalf("M=%d s=%d: fixture total %v and fraction %s disagree", m, sz.S, sz.TotalWeightOfSize, sz.TotalWeightOfSizeFraction)
			}
			if math.Abs(total-want) > 1e-15*want {
				t.Errorf("M=%d s=%d: total weight of the size %v, want %v", m, sz.S, total, want)
			}
		}
	}
}

func TestShapleyKernelWeightLargeAndOutOfRange(t *testing.T) {
	for _, tc := range []struct{ m, s int }{{60, 1}, {60, 30}, {100, 7}, {100, 50}, {400, 200}} {
		// Exact value by rational arithmetic.
		c := new(big.Int).Binomial(int64(tc.m), int64(tc.s))
		den := new(big.Int).Mul(c, big.NewInt(int64(tc.s*(tc.m-tc.s))))
		want, _ := new(big.Rat).SetFrac(big.NewInt(int64(tc.m-1)), den).Float64()
		got := ShapleyKernelWeight(tc.m, tc.s)
		// C(m, s) beyond 2⁵³ is rounded at each of up to m/2 steps: allow
		// m ulps.
		if math.Abs(got-want) > float64(tc.m)*0x1p-52*want {
			t.Errorf("π(%d, %d) = %v, want %v", tc.m, tc.s, got, want)
		}
	}
	for _, tc := range []struct{ m, s int }{{5, -1}, {5, 6}, {0, 1}} {
		if got := ShapleyKernelWeight(tc.m, tc.s); got != 0 {
			t.Errorf("π(%d, %d) = %v, want 0 (no such coalition)", tc.m, tc.s, got)
		}
	}
}

// maskKey packs a mask into a string.
func maskKey(mask []bool) string {
	b := make([]byte, len(mask))
	for i, in := range mask {
		if in {
			b[i] = '1'
		} else {
			b[i] = '0'
		}
	}
	return string(b)
}

func countIn(mask []bool) int {
	s := 0
	for _, in := range mask {
		if in {
			s++
		}
	}
	return s
}

func isComplement(a, b []bool) bool {
	for i := range a {
		if a[i] == b[i] {
			return false
		}
	}
	return true
}

// checkCoalitions checks what holds for any result: m players per mask, no
// empty or full coalition, no coalition twice, positive weights summing to 1.
func checkCoalitions(t *testing.T, c *Coalitions, m, budget int) {
	t.Helper()
	if len(c.Masks) != len(c.Weights) || len(c.Masks) == 0 || len(c.Masks) > budget {
		t.Fatalf("%d masks, %d weights, budget %d", len(c.Masks), len(c.Weights), budget)
	}
	seen := map[string]bool{}
	sum := 0.0
	for k, mask := range c.Masks {
		if len(mask) != m || cap(mask) != m {
			t.Fatalf("mask %d has len %d cap %d, want %d", k, len(mask), cap(mask), m)
		}
		if s := countIn(mask); s == 0 || s == m {
			t.Fatalf("mask %d has %d of %d players", k, s, m)
		}
		key := maskKey(mask)
		if seen[key] {
			t.Fatalf("coalition %s appears twice", key)
		}
		seen[key] = true
		if !(c.Weights[k] > 0) {
			t.Fatalf("weight %d = %v", k, c.Weights[k])
		}
		sum += c.Weights[k]
	}
	// Sums of up to 10⁵ positive terms: relative error ≤ n·ε.
	if math.Abs(sum-1) > float64(len(c.Weights))*0x1p-52 {
		t.Errorf("weights sum to %v, want 1", sum)
	}
}

func TestSampleCoalitionsComplete(t *testing.T) {
	for m := 2; m <= 12; m++ {
		all := 1<<m - 2
		for _, budget := range []int{all, all + 1, 1 << 20} {
			c, err := SampleCoalitions(m, budget, rand.New(rand.NewPCG(1, 2)))
			if err != nil {
				t.Fatal(err)
			}
			checkCoalitions(t, c, m, all)
			if len(c.Masks) != all || c.Enumerated != all {
				t.Fatalf("m=%d budget=%d: %d coalitions (%d enumerated), want all %d", m, budget, len(c.Masks), c.Enumerated, all)
			}
			norm := 0.0
			for s := 1; s < m; s++ {
				norm += binomial(m, s) * ShapleyKernelWeight(m, s)
			}
			for k, mask := range c.Masks {
				want := ShapleyKernelWeight(m, countIn(mask)) / norm
				if math.Abs(c.Weights[k]-want) > 1e-15*want {
					t.Fatalf("m=%d: weight of %s = %v, want π/Σπ = %v", m, maskKey(mask), c.Weights[k], want)
				}
			}
		}
	}
}

func TestSampleCoalitionsWholeSizesThenDraws(t *testing.T) {
	// M = 11, budget 500: the size shares are ∝ 2·10/(s(11−s)) for
	// s = 1…5 (every size paired with 11 − s), normalised: 0.3756, 0.2086,
	// 0.1565, 0.1341, 0.1252. Size 1: 500·0.3756/22 = 8.5 ≥ 1, enumerated;
	// size 2 with the shares left: 478·0.3341/110 = 1.45 ≥ 1, enumerated;
	// size 3: 368·0.3764/330 = 0.42 < 1, drawn. So 22 + 110 = 132
	// coalitions are enumerated and 368 drawn.
	const m, budget = 11, 500
	c, err := SampleCoalitions(m, budget, rand.New(rand.NewPCG(7, 8)))
	if err != nil {
		t.Fatal(err)
	}
	checkCoalitions(t, c, m, budget)
	if c.Enumerated != 132 || len(c.Masks) != budget {
		t.Fatalf("%d enumerated of %d, want 132 of %d", c.Enumerated, len(c.Masks), budget)
	}
	// Enumerated: sizes 1 then 2 in lexicographic order, each followed by
	// its complement, with normalised kernel weights.
	norm := 0.0
	for s := 1; s < m; s++ {
		norm += binomial(m, s) * ShapleyKernelWeight(m, s)
	}
	var want [][]bool
	for a := range m {
		want = append(want, make([]bool, m))
		want[len(want)-1][a] = true
	}
	for a := range m {
		for b := a + 1; b < m; b++ {
			want = append(want, make([]bool, m))
			want[len(want)-1][a], want[len(want)-1][b] = true, true
		}
	}
	for i, mask := range want {
		k := 2 * i
		if !reflect.DeepEqual(c.Masks[k], mask) || !isComplement(c.Masks[k], c.Masks[k+1]) {
			t.Fatalf("coalition %d = %s (then %s), want %s and its complement", k, maskKey(c.Masks[k]), maskKey(c.Masks[k+1]), maskKey(mask))
		}
		w := ShapleyKernelWeight(m, countIn(mask)) / norm
		if math.Abs(c.Weights[k]-w) > 1e-15*w || c.Weights[k+1] != c.Weights[k] {
			t.Fatalf("coalition %d weighs %v and its complement %v, want %v", k, c.Weights[k], c.Weights[k+1], w)
		}
	}
	// Drawn: sizes 3…5, each followed by its complement (8…6), with the
	// weight the enumerated sizes left (the shares of sizes 3…5).
	left := 0.0
	for s := 3; s <= 8; s++ {
		left += binomial(m, s) * ShapleyKernelWeight(m, s) / norm
	}
	drawn := 0.0
	for k := c.Enumerated; k < len(c.Masks); k += 2 {
		if s := countIn(c.Masks[k]); s < 3 || s > 5 {
			t.Fatalf("drawn coalition %d has %d players, want 3 to 5", k, s)
		}
		if !isComplement(c.Masks[k], c.Masks[k+1]) {
			t.Fatalf("drawn coalition %d is not followed by its complement", k)
		}
		if c.Weights[k] != c.Weights[k+1] {
			t.Fatalf("drawn coalition %d and its complement weigh %v and %v", k, c.Weights[k], c.Weights[k+1])
		}
		drawn += c.Weights[k] + c.Weights[k+1]
	}
	if math.Abs(drawn-left) > 1e-13 {
		t.Errorf("drawn coalitions weigh %v, want what enumeration left, %v", drawn, left)
	}
}

func TestSampleCoalitionsUnpairedMiddleSize(t *testing.T) {
	// M = 10: size 5 is its own complement, so a drawn size-5 coalition is
	// not followed by its complement. Budget 300: sizes 1 (20 coalitions)
	// and 2 (90) are enumerated, 190 of sizes 3…7 drawn.
	const m, budget = 10, 300
	c, err := SampleCoalitions(m, budget, rand.New(rand.NewPCG(3, 4)))
	if err != nil {
		t.Fatal(err)
	}
	checkCoalitions(t, c, m, budget)
	if c.Enumerated != 110 {
		t.Fatalf("%d enumerated, want 110", c.Enumerated)
	}
	fives := 0
	for k := c.Enumerated; k < len(c.Masks); {
		s := countIn(c.Masks[k])
		switch {
		case s == 5:
			fives++
			k++
		case s == 3 || s == 4:
			if k+1 < len(c.Masks) && !isComplement(c.Masks[k], c.Masks[k+1]) {
				t.Fatalf("drawn coalition %d (size %d) is not followed by its complement", k, s)
			}
			k += 2
		default:
			t.Fatalf("coalition %d starts a draw with %d players", k, s)
		}
	}
	if fives == 0 {
		t.Error("no size-5 coalition drawn")
	}
}

func TestSampleCoalitionsDuplicatesAddWeight(t *testing.T) {
	// M = 6, budget 60 of 62: sizes 1 and 2 with their complements are
	// enumerated (42 coalitions), and 18 are drawn from the 20 of size 3,
	// so draws repeat often. M = 64 and 65 (the two ways drawn coalitions
	// are indexed), budget 3000: size 1 is enumerated and most draws are of
	// size 2, 2016 or 2080 coalitions, so they repeat too. A repeat adds 1
	// to the count: the drawn weights are counts scaled by one factor,
	// whole multiples of the smallest.
	for _, tc := range []struct{ m, budget int }{{6, 60}, {64, 3000}, {65, 3000}} {
		c, err := SampleCoalitions(tc.m, tc.budget, rand.New(rand.NewPCG(5, 6)))
		if err != nil {
			t.Fatal(err)
		}
		checkCoalitions(t, c, tc.m, tc.budget)
		unit := math.Inf(1)
		for _, w := range c.Weights[c.Enumerated:] {
			unit = math.Min(unit, w)
		}
		repeated := false
		for _, w := range c.Weights[c.Enumerated:] {
			q := w / unit
			if math.Abs(q-math.Round(q)) > 1e-9 {
				t.Fatalf("M=%d: drawn weight %v is not a whole multiple of %v", tc.m, w, unit)
			}
			repeated = repeated || math.Round(q) > 1
		}
		if !repeated {
			t.Errorf("M=%d: no coalition drawn twice: the test does not exercise repeats", tc.m)
		}
	}
}

func TestSampleCoalitionsSizeDistribution(t *testing.T) {
	// M = 20, budget 1000: only size 1 fits whole (40 coalitions), and each
	// draw picks size s ∈ 2…10 with probability ∝ its share, halved for
	// paired sizes. Over 20 seeds, compare the draws of each size (repeats
	// included, read from the weights) with those probabilities: the counts
	// are multinomial, and a 5σ band holds. The last draw of a seed may lose
	// its complement to the budget, which does not change the count.
	const m, budget = 20, 1000
	classes := sizeClasses(m)
	rest := make([]float64, 0, len(classes)-1)
	for _, cl := range classes[1:] {
		p := cl.weight
		if cl.paired {
			p /= 2
		}
		rest = append(rest, p)
	}
	total := 0.0
	for _, p := range rest {
		total += p
	}
	counts := make([]float64, len(rest))
	draws := 0.0
	for seed := range uint64(20) {
		c, err := SampleCoalitions(m, budget, rand.New(rand.NewPCG(seed, 0)))
		if err != nil {
			t.Fatal(err)
		}
		checkCoalitions(t, c, m, budget)
		if c.Enumerated != 40 {
			t.Fatalf("%d enumerated, want 40", c.Enumerated)
		}
		// A coalition's weight is its draw count times one factor, the
		// smallest weight (some coalition of size ≥ 3, out of ≥ 1140, is
		// surely drawn once).
		unit := math.Inf(1)
		for _, w := range c.Weights[c.Enumerated:] {
			unit = math.Min(unit, w)
		}
		for k := c.Enumerated; k < len(c.Masks); k++ {
			if s := countIn(c.Masks[k]); s <= m/2 {
				n := math.Round(c.Weights[k] / unit)
				counts[s-2] += n
				draws += n
			}
		}
	}
	for i, n := range counts {
		p := rest[i] / total
		mean, sd := draws*p, math.Sqrt(draws*p*(1-p))
		if math.Abs(n-mean) > 5*sd {
			t.Errorf("size %d drawn %v times, want %.0f ± %.0f", i+2, n, mean, 5*sd)
		}
	}
}

func TestSizeClassCounts(t *testing.T) {
	for _, m := range []int{2, 3, 11, 60, 1000} {
		for _, c := range sizeClasses(m) {
			want := binomial(m, c.size)
			if c.paired {
				want *= 2
			}
			if c.count != want {
				t.Fatalf("m=%d s=%d: %v coalitions, want %v", m, c.size, c.count, want)
			}
		}
	}
}

func TestSampleCoalitionsEnumeratedLikeShap(t *testing.T) {
	// The number of coalitions that shap's KernelExplainer enumerates
	// (nfixed_samples) for these (M, nsamples), from a line-by-line Python
	// replica of its subset-size loop (float64 arithmetic, the 1 − 1e-8
	// test, nsamples capped at 2^M − 2).
	tests := []struct{ m, budget, enumerated int }{
		{4, 1, 0}, {4, 5, 0}, {4, 6, 0}, {4, 7, 0}, {4, 8, 0}, {4, 13, 8}, {4, 14, 14},
		{5, 1, 0}, {5, 10, 0}, {5, 16, 0}, {5, 17, 10}, {5, 29, 10}, {5, 30, 30},
		{8, 16, 0}, {8, 40, 16}, {8, 60, 16}, {8, 100, 16}, {8, 200, 72}, {8, 253, 184}, {8, 254, 254},
		{11, 100, 22}, {11, 200, 22}, {11, 400, 132}, {11, 500, 132}, {11, 1000, 132},
		{11, 1500, 462}, {11, 2000, 1122}, {11, 2045, 1122}, {11, 2046, 2046},
		{16, 200, 32}, {16, 500, 32}, {16, 1000, 272}, {16, 2080, 272},
		{30, 2108, 60}, {30, 5000, 930}, {30, 100000, 9050},
	}
	for _, tt := range tests {
		c, err := SampleCoalitions(tt.m, tt.budget, rand.New(rand.NewPCG(uint64(tt.m), uint64(tt.budget))))
		if err != nil {
			t.Fatal(err)
		}
		checkCoalitions(t, c, tt.m, tt.budget)
		if c.Enumerated != tt.enumerated {
			t.Errorf("M=%d budget=%d: %d coalitions enumerated, shap enumerates %d", tt.m, tt.budget, c.Enumerated, tt.enumerated)
		}
		// The budget is used up unless repeats exhaust the 4× draws.
		if want := min(tt.budget, 1<<tt.m-2); len(c.Masks) != want && tt.budget < 1<<tt.m-2-2 {
			t.Errorf("M=%d budget=%d: %d coalitions, want %d", tt.m, tt.budget, len(c.Masks), want)
		}
	}
}

func TestSampleCoalitionsDeterministic(t *testing.T) {
	a, err := SampleCoalitions(15, 700, rand.New(rand.NewPCG(42, 1)))
	if err != nil {
		t.Fatal(err)
	}
	b, err := SampleCoalitions(15, 700, rand.New(rand.NewPCG(42, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed gave different coalitions")
	}
	c, err := SampleCoalitions(15, 700, rand.New(rand.NewPCG(43, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(a.Masks, c.Masks) {
		t.Fatal("different seeds gave the same coalitions")
	}
}

func TestSampleCoalitionsErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	tests := []struct {
		name      string
		m, budget int
		rng       *rand.Rand
	}{
		{"one player", 1, 10, rng},
		{"no players", 0, 10, rng},
		{"zero budget", 5, 0, rng},
		{"negative budget", 5, -1, rng},
		{"nil rng", 5, 10, nil},
		{"too many values", 1000, MaxValues/1000 + 1, rng},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if c, err := SampleCoalitions(tt.m, tt.budget, tt.rng); err == nil {
				t.Fatalf("got %d coalitions, want an error", len(c.Masks))
			}
		})
	}
}

func BenchmarkSampleCoalitions(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := SampleCoalitions(30, 2108, rng); err != nil {
			b.Fatal(err)
		}
	}
}
