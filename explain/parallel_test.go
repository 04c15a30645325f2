package explain

import (
	"context"
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"testing"

	"github.com/explainer-sidecar/explainer/sampler"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// TestGramMatchesDsyrk pins the Gram matrix's arithmetic: whatever the
// number of goroutines, each entry is the bits gonum's Dsyrk gives when
// called block after block of gramBlock rows.
func TestGramMatchesDsyrk(t *testing.T) {
	for _, size := range []struct{ n, p int }{{2, 1}, {7, 3}, {300, 5}, {5000, 30}, {1100, 64}} {
		rng := rand.New(rand.NewPCG(uint64(size.n), uint64(size.p)))
		data := make([][]float64, size.n)
		weights := make([]float64, size.n)
		for i := range data {
			data[i] = make([]float64, size.p)
			for j := range data[i] {
				data[i][j] = rng.NormFloat64() * float64(j+1)
			}
			weights[i] = rng.Float64()
		}
		for _, procs := range []int{1, 2, 3, 8} {
			prev := runtime.GOMAXPROCS(procs)
			nb, err := NewNeighborhood(data, weights)
			runtime.GOMAXPROCS(prev)
			if err != nil {
				t.Fatal(err)
			}
			n, p := size.n, size.p
			want := make([]float64, p*p)
			impl := blas64.Implementation()
			for c0 := 0; c0 < n; c0 += gramBlock {
				beta := 1.0
				if c0 == 0 {
					beta = 0
				}
				impl.Dsyrk(blas.Upper, blas.NoTrans, p, min(gramBlock, n-c0), 1, nb.xs[c0:], n, beta, want, p)
			}
			for j := range p {
				for k := j; k < p; k++ {
					if got := nb.gram[j*p+k]; math.Float64bits(got) != math.Float64bits(want[j*p+k]) || nb.gram[k*p+j] != got {
						t.Fatalf("n=%d p=%d GOMAXPROCS=%d: G[%d,%d] = %v (%v below), Dsyrk gives %v",
							n, p, procs, j, k, got, nb.gram[k*p+j], want[j*p+k])
					}
				}
			}
		}
	}
}

// TestLIMESameForAnyGOMAXPROCS: sampling and the fit use as many
// goroutines as GOMAXPROCS allows, and the explanation is the same bits.
func TestLIMESameForAnyGOMAXPROCS(t *testing.T) {
	const p = 30
	data := make([][]float64, 300)
	for i := range data {
		data[i] = make([]float64, p)
		for j := range data[i] {
			data[i][j] = math.Sin(float64(i*p+j)) * float64(j+1)
		}
	}
	w := make([]float64, p)
	for j := range w {
		w[j] = float64(j%5) - 2
	}
	for _, mode := range []string{"", "quartile"} {
		stats, err := sampler.StatsFromData(data, nil, nil, mode)
		if err != nil {
			t.Fatal(err)
		}
		req := LIMERequest{Instance: data[4], Stats: stats, Sampling: Sampling{NumSamples: 5000, Seed: 9}, SurrogateFit: SurrogateFit{NumFeatures: 5}, Targets: Targets{TopLabels: 2}}
		var want *Result
		for _, procs := range []int{1, 2, 5} {
			var got *Result
			prev := runtime.GOMAXPROCS(procs)
			got, err = LIME(context.Background(), &linearModel{w: w, logistic: true}, req)
			runtime.GOMAXPROCS(prev)
			if err != nil {
				t.Fatal(err)
			}
			if want == nil {
				want = got
			} else if !reflect.DeepEqual(got, want) {
				t.Fatalf("%q: GOMAXPROCS=%d gives %+v, GOMAXPROCS=1 %+v", mode, procs, got, want)
			}
		}
	}
}

// TestKernelWeightsToFirst: the weights are KernelWeights of each row's
// distance to row 0, summed in feature order (two rows at a time or not).
func TestKernelWeightsToFirst(t *testing.T) {
	for _, n := range []int{1, 2, 3, 10, 11} {
		data, _, _ := randomProblem(uint64(n), n, 7, n%2 == 0)
		d := make([]float64, n)
		for i, row := range data {
			var s float64
			for j, v := range row {
				s += (v - data[0][j]) * (v - data[0][j])
			}
			d[i] = math.Sqrt(s)
		}
		want := KernelWeights(nil, d, 1.3)
		got := kernelWeightsToFirst(data, 1.3)
		for i := range want {
			if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
				t.Fatalf("n=%d: weight %d = %v, want %v", n, i, got[i], want[i])
			}
		}
	}
}
