package explain

import (
	"fmt"
	"math"
	"slices"
	"testing"
)

func TestKernelWeightsFixtures(t *testing.T) {
	fx := loadFitFixtures(t)
	tol := &tolerance{rel: 1e-12}
	for _, name := range fitFixtureNames {
		f := fx[name]
		dist := slices.Clone(f.Inputs.Distances)
		got := KernelWeights(nil, dist, f.KernelWidth)
		if !slices.Equal(dist, f.Inputs.Distances) {
			t.Fatalf("%s: KernelWeights modified its input", name)
		}
		if len(got) != len(f.KernelWeights) {
			t.Fatalf("%s: %d weights, want %d", name, len(got), len(f.KernelWeights))
		}
		for i := range got {
			tol.check(t, fmt.Sprintf("%s: weight[%d]", name, i), got[i], f.KernelWeights[i])
		}
	}
	t.Logf("%d kernel weights, worst relative error %.3g", tol.checked, tol.worstRel)
}

func TestKernelWeightsDst(t *testing.T) {
	d := []float64{0, 1, 2}
	want := []float64{1, math.Exp(-0.5), math.Exp(-2)}
	buf := make([]float64, 1, 8)
	got := KernelWeights(buf, d, 1)
	if &got[0] != &buf[0] {
		t.Error("KernelWeights did not reuse dst with enough capacity")
	}
	in := slices.Clone(d)
	inPlace := KernelWeights(in, in, 1)
	for i := range want {
		for _, g := range [][]float64{got, inPlace} {
			if math.Abs(g[i]-want[i]) > 1e-15 {
				t.Errorf("weight[%d] = %v, want %v", i, g[i], want[i])
			}
		}
	}
	if got := KernelWeights(make([]float64, 5), d, 1); len(got) != 3 {
		t.Errorf("len = %d, want 3", len(got))
	}
}
