package sampler

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
)

// withProcs runs f with GOMAXPROCS set to procs.
func withProcs(procs int, f func()) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
	f()
}

// sameBits reports whether two neighbourhoods hold the same bits.
func sameBits(a, b *Neighborhood) error {
	if len(a.Raw) != len(b.Raw) {
		return fmt.Errorf("%d rows vs %d", len(a.Raw), len(b.Raw))
	}
	for i := range a.Raw {
		for f := range a.Raw[i] {
			if math.Float64bits(a.Raw[i][f]) != math.Float64bits(b.Raw[i][f]) ||
				math.Float64bits(a.Interpretable[i][f]) != math.Float64bits(b.Interpretable[i][f]) {
				return fmt.Errorf("row %d feature %d: %v/%v vs %v/%v", i, f,
					a.Raw[i][f], a.Interpretable[i][f], b.Raw[i][f], b.Interpretable[i][f])
			}
		}
	}
	return nil
}

type samplingCase struct {
	name string
	tab  *Tabular
}

// samplingCases are tabular samplers covering every kind of feature and of
// truncated normal lime's bins give: continuous (around the mean or the
// instance), categorical, quartile and decile bins, and a bin holding a
// single value (columns 5 and 6 are mostly 0 in the last case).
func samplingCases(t *testing.T) []samplingCase {
	t.Helper()
	data, names := breastCancer(t)
	var out []samplingCase
	for _, kind := range []string{"", "quartile", "decile"} {
		s, err := StatsFromData(data, names, []int{3, 17}, kind)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, samplingCase{"discretizer=" + kind, &Tabular{Stats: s}})
		if kind == "" {
			out = append(out, samplingCase{"around instance", &Tabular{Stats: s, SampleAroundInstance: true}})
		}
	}
	zeros := make([][]float64, len(data))
	for i, row := range data {
		zeros[i] = slices.Clone(row)
		if i%5 != 0 {
			zeros[i][5], zeros[i][6] = 0, 0
		}
	}
	s, err := StatsFromData(zeros, names, nil, "quartile")
	if err != nil {
		t.Fatal(err)
	}
	tab := &Tabular{Stats: s}
	_, _, bins := tab.plan(zeros[1])
	if !slices.ContainsFunc(bins, func(b binPlan) bool {
		return slices.ContainsFunc(b.bins, func(tn truncNormal) bool { return tn.method != tnReject })
	}) {
		t.Fatal("no bin is drawn other than by rejection")
	}
	return append(out, samplingCase{"point bins", tab})
}

// TestSampleSameForAnyGOMAXPROCS is the determinism contract: the same rng
// state gives the same bits, and leaves rng in the same state, whatever the
// number of goroutines filling the chunks.
func TestSampleSameForAnyGOMAXPROCS(t *testing.T) {
	data, _ := breastCancer(t)
	for _, tc := range samplingCases(t) {
		for _, n := range []int{1, 2, chunkRows, chunkRows + 1, chunkRows + 2, 2*chunkRows + 1, 5000} {
			t.Run(fmt.Sprintf("%s/n=%d", tc.name, n), func(t *testing.T) {
				var want *Neighborhood
				var wantNext uint64
				for _, procs := range []int{1, 2, 3, 8} {
					rng := rand.New(rand.NewPCG(17, uint64(n)))
					var nb *Neighborhood
					var err error
					withProcs(procs, func() { nb, err = tc.tab.Sample(data[7], n, rng) })
					if err != nil {
						t.Fatal(err)
					}
					next := rng.Uint64()
					if want == nil {
						want, wantNext = nb, next
						continue
					}
					if err := sameBits(nb, want); err != nil {
						t.Fatalf("GOMAXPROCS=%d differs from GOMAXPROCS=1: %v", procs, err)
					}
					if next != wantNext {
						t.Fatalf("GOMAXPROCS=%d leaves rng in another state", procs)
					}
				}
			})
		}
	}
}

// TestSampleChunkStreams checks the documented streams against a plain
// reference: chunk c of rows drawn, row after row, from
// rand.New(rand.NewPCG(a₂c, a₂c₊₁)) through the unoptimised methods (pick,
// truncNormal.draw).
func TestSampleChunkStreams(t *testing.T) {
	data, _ := breastCancer(t)
	const n = 3*chunkRows + 100
	for _, tc := range samplingCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			instance := data[11]
			got, err := tc.tab.Sample(instance, n, rand.New(rand.NewPCG(3, 4)))
			if err != nil {
				t.Fatal(err)
			}
			want, err := tc.tab.Sample(instance, 1, rand.New(rand.NewPCG(0, 0))) // row 0 only
			if err != nil {
				t.Fatal(err)
			}
			cont, cats, bins := tc.tab.plan(instance)
			rng := rand.New(rand.NewPCG(3, 4))
			rows := [][]float64{want.Raw[0]}
			zs := [][]float64{want.Interpretable[0]}
			var g *rand.Rand
			for i := 1; i < n; i++ {
				if (i-1)%chunkRows == 0 {
					g = rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
				}
				raw, z := make([]float64, len(instance)), make([]float64, len(instance))
				for _, c := range cont {
					x := float64(g.NormFloat64()*c.scale) + c.center
					raw[c.f], z[c.f] = x, (x-c.mean)/c.scale
				}
				for _, c := range cats {
					v := c.values[pick(c.cdf, g.Float64())]
					raw[c.f], z[c.f] = v, 0
					if v == c.instance {
						z[c.f] = 1
					}
				}
				for _, b := range bins {
					j := pick(b.cdf, g.Float64())
					raw[b.f], z[b.f] = b.bins[j].draw(g), 0
					if j == b.instBin {
						z[b.f] = 1
					}
				}
				rows, zs = append(rows, raw), append(zs, z)
			}
			if err := sameBits(got, &Neighborhood{Raw: rows, Interpretable: zs}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestSamplePrefix: a smaller n draws the first rows of a larger one.
func TestSamplePrefix(t *testing.T) {
	data, _ := breastCancer(t)
	for _, tc := range samplingCases(t) {
		long, err := tc.tab.Sample(data[2], 3000, rand.New(rand.NewPCG(8, 8)))
		if err != nil {
			t.Fatal(err)
		}
		short, err := tc.tab.Sample(data[2], 700, rand.New(rand.NewPCG(8, 8)))
		if err != nil {
			t.Fatal(err)
		}
		if err := sameBits(short, &Neighborhood{Raw: long.Raw[:700], Interpretable: long.Interpretable[:700]}); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
