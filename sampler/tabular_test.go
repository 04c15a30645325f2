package sampler

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"
)

// checkShape asserts n × p matrices, each backed by one contiguous array with
// every row's capacity clipped, and row 0 equal to the instance.
func checkShape(t *testing.T, nb *Neighborhood, instance []float64, n int) {
	t.Helper()
	p := len(instance)
	for _, m := range []struct {
		name string
		rows [][]float64
	}{{"raw", nb.Raw}, {"interpretable", nb.Interpretable}} {
		if len(m.rows) != n {
			t.Fatalf("%s has %d rows, want %d", m.name, len(m.rows), n)
		}
		base := uintptr(unsafe.Pointer(&m.rows[0][0]))
		for i, row := range m.rows {
			if len(row) != p || cap(row) != p {
				t.Fatalf("%s row %d has len %d cap %d, want %d", m.name, i, len(row), cap(row), p)
			}
			if uintptr(unsafe.Pointer(&row[0]))-base != uintptr(i*p)*8 {
				t.Fatalf("%s row %d is not contiguous with row 0", m.name, i)
			}
		}
	}
	if !slices.Equal(nb.Raw[0], instance) {
		t.Errorf("raw row 0 = %v, want the instance %v", nb.Raw[0], instance)
	}
}

func TestSampleContinuous(t *testing.T) {
	data, names := breastCancer(t)
	s, err := StatsFromData(data, names, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	instance := data[0]
	const n = 20000
	for _, around := range []bool{false, true} {
		t.Run(fmt.Sprintf("SampleAroundInstance=%v", around), func(t *testing.T) {
			tab := Tabular{Stats: s, SampleAroundInstance: around}
			nb, err := tab.Sample(instance, n, rand.New(rand.NewPCG(42, 7)))
			if err != nil {
				t.Fatal(err)
			}
			checkShape(t, nb, instance, n)
			for f := range instance {
				// lime's scaled_data, bit for bit: (x − mean)/scale on every
				// row, row 0 included (the scaled instance, not zero).
				for i, row := range nb.Raw {
					if want := (row[f] - s.Means[f]) / s.Stds[f]; nb.Interpretable[i][f] != want {
						t.Fatalf("interpretable[%d][%d] = %v, want (raw−mean)/std = %v", i, f, nb.Interpretable[i][f], want)
					}
				}
				// Rows 1.. are N(c, std²) with c the training mean or the
				// instance's value. Tolerances are 5 standard errors of the
				// n−1 draws: σ/√n for the mean, σ/√(2n) for the std of a
				// normal; fixed seed, so the test is deterministic, and a
				// correct sampler would fail it for about one seed in 10⁵.
				center := s.Means[f]
				if around {
					center = instance[f]
				}
				m, sd := meanStd(column(nb.Raw[1:], f))
				se := s.Stds[f] / math.Sqrt(n-1)
				if math.Abs(m-center) > 5*se {
					t.Errorf("feature %d: sample mean %v, want %v ± %v", f, m, center, 5*se)
				}
				if math.Abs(sd-s.Stds[f]) > 5*s.Stds[f]/math.Sqrt(2*(n-1)) {
					t.Errorf("feature %d: sample std %v, want %v", f, sd, s.Stds[f])
				}
			}
		})
	}
}

func TestSampleDiscretized(t *testing.T) {
	data, names := breastCancer(t)
	instance := data[0]
	const n = 20000
	for _, kind := range []string{"quartile", "decile"} {
		t.Run(kind, func(t *testing.T) {
			s, err := StatsFromData(data, names, nil, kind)
			if err != nil {
				t.Fatal(err)
			}
			d := s.Discretizer
			nb, err := (&Tabular{Stats: s}).Sample(instance, n, rand.New(rand.NewPCG(9, 9)))
			if err != nil {
				t.Fatal(err)
			}
			checkShape(t, nb, instance, n)
			for f := range instance {
				if nb.Interpretable[0][f] != 1 {
					t.Errorf("interpretable row 0 feature %d = %v, want 1", f, nb.Interpretable[0][f])
				}
				k := len(d.Boundaries[f]) + 1
				counts := make([]float64, k)
				vals := make([][]float64, k)
				instBin := d.Bin(f, instance[f])
				for i := 1; i < n; i++ {
					x := nb.Raw[i][f]
					// The truncated normal's draws lie in (min, max] of their
					// bin; a draw landing exactly on the lower boundary (which
					// would re-bin one lower) has probability ~1e-16 and
					// would fail here.
					b := d.Bin(f, x)
					if x < d.Mins[f][b] || x > d.Maxs[f][b] {
						t.Fatalf("row %d feature %d: %v outside its bin [%v, %v]", i, f, x, d.Mins[f][b], d.Maxs[f][b])
					}
					same := 0.0
					if b == instBin {
						same = 1
					}
					if nb.Interpretable[i][f] != same {
						t.Fatalf("row %d feature %d: interpretable %v, but bin %d vs instance bin %d", i, f, nb.Interpretable[i][f], b, instBin)
					}
					counts[b]++
					vals[b] = append(vals[b], x)
				}
				for b := range k {
					// Bin frequencies to 5 binomial standard errors.
					p := s.BinFrequencies[f][b]
					if got := counts[b] / (n - 1); math.Abs(got-p) > 5*math.Sqrt(p*(1-p)/(n-1)) {
						t.Errorf("feature %d bin %d: frequency %v, want %v", f, b, got, p)
					}
					if len(vals[b]) < 100 {
						continue
					}
					// Per-bin values: the mean of the normal N(mean_b, std_b²)
					// truncated to [min_b, max_b], to 5 standard errors. (The
					// truncated normal's mean is not the bin's training mean
					// exactly: lime truncates a normal fitted to the bin.)
					mb, sb := d.Means[f][b], d.Stds[f][b]
					tm, ts := truncMoments((d.Mins[f][b]-mb)/sb, (d.Maxs[f][b]-mb)/sb)
					got, _ := meanStd(vals[b])
					if want := mb + sb*tm; math.Abs(got-want) > 5*sb*ts/math.Sqrt(float64(len(vals[b]))) {
						t.Errorf("feature %d bin %d: sample mean %v, want %v", f, b, got, want)
					}
					// And near the bin's training mean: within a quarter of
					// the bin's width, a loose check that the right bin's
					// statistics were used.
					if math.Abs(got-mb) > (d.Maxs[f][b]-d.Mins[f][b])/4 {
						t.Errorf("feature %d bin %d: sample mean %v far from bin mean %v", f, b, got, mb)
					}
				}
			}
		})
	}
}

func TestSampleCategorical(t *testing.T) {
	// Feature 0 continuous, 1 categorical (values 0, 1, 2 with frequencies
	// 0.5, 0.3, 0.2), 2 continuous. The instance's category is 1.
	var data [][]float64
	for i := range 100 {
		c := 0.0
		switch {
		case i%10 >= 8:
			c = 2
		case i%10 >= 5:
			c = 1
		}
		data = append(data, []float64{float64(i), c, float64(i%7) * 0.5})
	}
	instance := []float64{10, 1, 2}
	const n = 20000
	for _, kind := range []string{"", "quartile"} {
		t.Run("discretizer="+kind, func(t *testing.T) {
			s, err := StatsFromData(data, []string{"x", "colour", "y"}, []int{1}, kind)
			if err != nil {
				t.Fatal(err)
			}
			nb, err := (&Tabular{Stats: s}).Sample(instance, n, rand.New(rand.NewPCG(11, 12)))
			if err != nil {
				t.Fatal(err)
			}
			checkShape(t, nb, instance, n)
			if nb.Interpretable[0][1] != 1 {
				t.Errorf("row 0 categorical interpretable = %v, want 1", nb.Interpretable[0][1])
			}
			counts := map[float64]float64{}
			for i := 1; i < n; i++ {
				v := nb.Raw[i][1]
				counts[v]++
				want := 0.0
				if v == instance[1] {
					want = 1
				}
				if nb.Interpretable[i][1] != want {
					t.Fatalf("row %d: value %v gives interpretable %v", i, v, nb.Interpretable[i][1])
				}
			}
			fr := s.Categorical[1]
			if len(counts) != len(fr.Values) {
				t.Errorf("drew values %v, want only %v", counts, fr.Values)
			}
			for j, v := range fr.Values {
				// 5 binomial standard errors, as for the bins.
				p := fr.Freqs[j]
				if got := counts[v] / (n - 1); math.Abs(got-p) > 5*math.Sqrt(p*(1-p)/(n-1)) {
					t.Errorf("value %v: frequency %v, want %v", v, got, p)
				}
			}
		})
	}
}

func TestSampleZeroFrequencyNeverDrawn(t *testing.T) {
	s := &Stats{
		Means: []float64{0, 0}, Stds: []float64{1, 1},
		Categorical: map[int]Frequencies{
			0: {Values: []float64{0, 1, 2, 3}, Freqs: []float64{0, 0.5, 0, 0.5}},
			1: {Values: []float64{5}, Freqs: []float64{1}},
		},
	}
	nb, err := (&Tabular{Stats: s}).Sample([]float64{0, 5}, 5000, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(nb.Raw); i++ {
		if v := nb.Raw[i][0]; v != 1 && v != 3 {
			t.Fatalf("row %d drew %v, which has frequency 0", i, v)
		}
		// The instance's value (0) is never drawn, so only row 0 has a 1.
		if nb.Interpretable[i][0] != 0 || nb.Raw[i][1] != 5 || nb.Interpretable[i][1] != 1 {
			t.Fatalf("row %d = %v / %v", i, nb.Raw[i], nb.Interpretable[i])
		}
	}
}

func TestSampleDeterministic(t *testing.T) {
	data, names := breastCancer(t)
	for _, kind := range []string{"", "quartile"} {
		s, err := StatsFromData(data, names, nil, kind)
		if err != nil {
			t.Fatal(err)
		}
		tab := &Tabular{Stats: s}
		draw := func(seed uint64) *Neighborhood {
			nb, err := tab.Sample(data[3], 500, rand.New(rand.NewPCG(seed, 0)))
			if err != nil {
				t.Fatal(err)
			}
			return nb
		}
		a, b, c := draw(1), draw(1), draw(2)
		equal := func(x, y *Neighborhood) bool {
			for i := range x.Raw {
				if !slices.Equal(x.Raw[i], y.Raw[i]) || !slices.Equal(x.Interpretable[i], y.Interpretable[i]) {
					return false
				}
			}
			return true
		}
		if !equal(a, b) {
			t.Errorf("%q: the same seed gave different neighbourhoods", kind)
		}
		if equal(a, c) {
			t.Errorf("%q: different seeds gave the same neighbourhood", kind)
		}
		if !slices.Equal(a.Raw[0], c.Raw[0]) {
			t.Errorf("%q: row 0 depends on the seed", kind)
		}
	}
}

func TestSampleSingleRow(t *testing.T) {
	s := &Stats{Means: []float64{1, 2}, Stds: []float64{2, 4}}
	nb, err := (&Tabular{Stats: s}).Sample([]float64{3, 2}, 1, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	checkShape(t, nb, []float64{3, 2}, 1)
	if want := []float64{1, 0}; !slices.Equal(nb.Interpretable[0], want) {
		t.Errorf("interpretable row 0 = %v, want %v", nb.Interpretable[0], want)
	}
}

func TestSampleErrors(t *testing.T) {
	good := &Stats{Means: []float64{0, 0}, Stds: []float64{1, 1}}
	rng := rand.New(rand.NewPCG(1, 1))
	for _, tc := range []struct {
		name     string
		tab      *Tabular
		instance []float64
		n        int
		rng      *rand.Rand
		want     string
	}{
		{"nil tabular", nil, []float64{1, 2}, 10, rng, "sampler: stats are nil"},
		{"nil stats", &Tabular{}, []float64{1, 2}, 10, rng, "sampler: stats are nil"},
		{"empty instance", &Tabular{Stats: good}, nil, 10, rng, "sampler: instance has no features"},
		{"short instance", &Tabular{Stats: good}, []float64{1}, 10, rng, "sampler: instance has 1 features, stats have 2"},
		{"zero n", &Tabular{Stats: good}, []float64{1, 2}, 0, rng, "sampler: number of samples is 0, want at least 1"},
		{"huge n", &Tabular{Stats: good}, []float64{1, 2}, MaxValues, rng, "sampler: 67108864 samples of 2 features exceed the maximum of 67108864 values"},
		{"nil rng", &Tabular{Stats: good}, []float64{1, 2}, 10, nil, "sampler: rng is nil"},
		{"nan instance", &Tabular{Stats: good}, []float64{1, math.NaN()}, 10, rng, "sampler: instance[1] is not finite"},
		{"invalid stats", &Tabular{Stats: &Stats{Means: []float64{0, 0}, Stds: []float64{1, -1}}}, []float64{1, 2}, 10, rng, "sampler: stds[1] is negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nb, err := tc.tab.Sample(tc.instance, tc.n, tc.rng)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error = %v, want %q", err, tc.want)
			}
			if nb != nil {
				t.Errorf("neighbourhood returned with an error")
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	data := [][]float64{{1, 0, 10}, {2, 1, 20}, {3, 2, 30}, {4, 1, 40}, {5, 0, 50}}
	names := []string{"age", "colour", "income"}
	cont, err := StatsFromData(data, names, []int{1}, "")
	if err != nil {
		t.Fatal(err)
	}
	disc, err := StatsFromData(data, names, []int{1}, "quartile")
	if err != nil {
		t.Fatal(err)
	}
	colours := map[int][]string{1: {"red", "green", "blue"}}
	for _, tc := range []struct {
		name     string
		tab      *Tabular
		instance []float64
		names    []string
		cats     map[int][]string
		want     []string
	}{
		{"continuous", &Tabular{Stats: cont}, []float64{2, 2, 25}, names, colours, []string{"age", "colour=blue", "income"}},
		{"no category names", &Tabular{Stats: cont}, []float64{2, 1, 25}, names, nil, []string{"age", "colour=1", "income"}},
		{"non-integer category", &Tabular{Stats: cont}, []float64{2, 1.5, 25}, names, colours, []string{"age", "colour=1.5", "income"}},
		{"category out of range", &Tabular{Stats: cont}, []float64{2, 3, 25}, names, colours, []string{"age", "colour=3", "income"}},
		{"missing names", &Tabular{Stats: cont}, []float64{2, 0, 25}, names[:1], colours, []string{"age", "1=red", "2"}},
		// Quartiles of 1..5: 2, 3, 4; of 10..50: 20, 30, 40. Labels come
		// from the discretizer (built with names), so the names argument
		// only affects the categorical feature.
		{"discretized", &Tabular{Stats: disc}, []float64{2, 0, 45}, []string{"a", "b", "c"}, colours,
			[]string{"age <= 2.00", "b=red", "income > 40.00"}},
		{"discretized middle", &Tabular{Stats: disc}, []float64{2.5, 2, 30}, names, nil,
			[]string{"2.00 < age <= 3.00", "colour=2", "20.00 < income <= 30.00"}},
		{"no stats", &Tabular{}, []float64{1, 2}, names, nil, []string{"age", "colour"}},
		{"nil tabular", nil, []float64{1}, nil, nil, []string{"0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.tab.Describe(tc.instance, tc.names, tc.cats); !slices.Equal(got, tc.want) {
				t.Errorf("Describe = %q, want %q", got, tc.want)
			}
		})
	}
}

// BenchmarkTabularSample measures lime's default neighbourhood, 5000
// samples of the 30 breast-cancer features; "reuse" is SampleInto on a
// recycled Neighborhood (no 2.4 MB allocation per call).
func BenchmarkTabularSample(b *testing.B) {
	data, names := breastCancer(b)
	for _, kind := range []string{"", "quartile"} {
		name := kind
		if name == "" {
			name = "continuous"
		}
		s, err := StatsFromData(data, names, nil, kind)
		if err != nil {
			b.Fatal(err)
		}
		tab := &Tabular{Stats: s}
		b.Run(name+"/5000x30", func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tab.Sample(data[0], 5000, rng); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/5000x30/reuse", func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			var nb *Neighborhood
			b.ReportAllocs()
			for b.Loop() {
				if nb, err = tab.SampleInto(nb, data[0], 5000, rng); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestSampleConcurrent shares one Tabular between goroutines, each with its
// own rng, as the package documents; run with -race.
func TestSampleConcurrent(t *testing.T) {
	data, names := breastCancer(t)
	s, err := StatsFromData(data, names, nil, "quartile")
	if err != nil {
		t.Fatal(err)
	}
	tab := &Tabular{Stats: s}
	want, err := tab.Sample(data[5], 200, rand.New(rand.NewPCG(5, 5)))
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			nb, err := tab.Sample(data[5], 200, rand.New(rand.NewPCG(5, 5)))
			if err == nil {
				for i := range nb.Raw {
					if !slices.Equal(nb.Raw[i], want.Raw[i]) || !slices.Equal(nb.Interpretable[i], want.Interpretable[i]) {
						err = fmt.Errorf("row %d differs from the sequential draw", i)
						break
					}
				}
			}
			_ = tab.Describe(data[5], names, nil)
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestSampleIntoReuses(t *testing.T) {
	data, names := breastCancer(t)
	s, err := StatsFromData(data, names, nil, "quartile")
	if err != nil {
		t.Fatal(err)
	}
	tab := &Tabular{Stats: s}
	fresh, err := tab.Sample(data[1], 300, rand.New(rand.NewPCG(3, 3)))
	if err != nil {
		t.Fatal(err)
	}
	// Fill a larger neighbourhood first, so that stale ones and zeros sit
	// where the smaller draw writes.
	dst, err := tab.SampleInto(nil, data[2], 500, rand.New(rand.NewPCG(4, 4)))
	if err != nil {
		t.Fatal(err)
	}
	first := &dst.Raw[0][0]
	got, err := tab.SampleInto(dst, data[1], 300, rand.New(rand.NewPCG(3, 3)))
	if err != nil {
		t.Fatal(err)
	}
	if got != dst || &got.Raw[0][0] != first {
		t.Errorf("SampleInto did not reuse dst's storage")
	}
	checkShape(t, got, data[1], 300)
	for i := range fresh.Raw {
		if !slices.Equal(got.Raw[i], fresh.Raw[i]) || !slices.Equal(got.Interpretable[i], fresh.Interpretable[i]) {
			t.Fatalf("row %d differs from a fresh Sample", i)
		}
	}
}
