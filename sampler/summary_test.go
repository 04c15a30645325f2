package sampler

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// kmeansFixture is testdata/kmeans_summary.json (see kmeans_summary.py).
type kmeansFixture struct {
	Cases []struct {
		Name           string      `json:"name"`
		K              int         `json:"k"`
		N              int         `json:"n"`
		P              int         `json:"p"`
		Data           [][]float64 `json:"data"`
		Centers        [][]float64 `json:"sklearn_centers"`
		Labels         []int       `json:"sklearn_labels"`
		Inertia        float64     `json:"sklearn_inertia"`
		Sizes          []int       `json:"cluster_sizes"`
		SnappedCenters [][]float64 `json:"shap_snapped_centers"`
		Weights        []float64   `json:"shap_weights"`
	} `json:"cases"`
}

// integerBlobs is the script's integer_blobs(n, p, k): every value is an
// integer multiple of 40 plus an integer over 1000, exact in float64 on
// both sides.
func integerBlobs(n, p, k int) [][]float64 {
	x := make([][]float64, n)
	for i := range x {
		c := i % k
		x[i] = make([]float64, p)
		for j := range x[i] {
			x[i][j] = float64(40*((c*7+j*3)%11)) + float64((i*7919+j*104729+c*15485863)%2001-1000)/1000
		}
	}
	return x
}

// clusterMap maps the clusters of got to those of want when the two
// labellings are the same partition, else fails.
func clusterMap(t *testing.T, got, want []int, k int) []int {
	t.Helper()
	m := make([]int, k)
	for i := range m {
		m[i] = -1
	}
	for i, g := range got {
		switch {
		case m[g] == -1:
			m[g] = want[i]
		case m[g] != want[i]:
			t.Fatalf("row %d: cluster %d holds rows of sklearn's clusters %d and %d", i, g, m[g], want[i])
		}
	}
	if s := slices.Sorted(slices.Values(m)); !slices.Equal(s, seq(k)) {
		t.Fatalf("cluster map %v is not a permutation", m)
	}
	return m
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// On well-separated clusters every good k-means run finds the same
// partition (the script checks scikit-learn's random_state 0..19), so the Go
// k-means must find scikit-learn's, whatever its seed. Centres are means of
// the same rows summed in another order: relative 1e-12 (the data are
// O(10)–O(400), 30–2000 rows; the rounding of such sums is ~1e-15). The
// inertia sums n squared distances, each with its own rounding, and
// scikit-learn's are computed as ‖x‖² − 2x·c + ‖c‖², which cancels: 1e-9.
func TestFitKMeansMatchesScikitLearn(t *testing.T) {
	var fx kmeansFixture
	readJSON(t, "testdata/kmeans_summary.json", &fx)
	for _, tc := range fx.Cases {
		data := tc.Data
		if data == nil {
			data = integerBlobs(tc.N, tc.P, tc.K)
		}
		for seed := range uint64(4) {
			t.Run(fmt.Sprintf("%s/seed=%d", tc.Name, seed), func(t *testing.T) {
				km, err := FitKMeans(data, tc.K, KMeansInits, rand.New(rand.NewPCG(seed, 1)))
				if err != nil {
					t.Fatal(err)
				}
				m := clusterMap(t, km.Labels, tc.Labels, tc.K)
				for c, centre := range km.Centres {
					for j, v := range centre {
						if w := tc.Centers[m[c]][j]; !closeTo(v, w, 1e-12) {
							t.Fatalf("centre %d (sklearn's %d) feature %d = %v, want %v", c, m[c], j, v, w)
						}
					}
					if km.Sizes[c] != tc.Sizes[m[c]] {
						t.Errorf("cluster %d has %d rows, sklearn's %d has %d", c, km.Sizes[c], m[c], tc.Sizes[m[c]])
					}
				}
				if !closeTo(km.Inertia, tc.Inertia, 1e-9) {
					t.Errorf("inertia %v, want %v", km.Inertia, tc.Inertia)
				}
			})
		}
	}
}

// shap.kmeans's summary: the snapped centres are values of the data, so
// they match exactly (a centre 1e-15 away could only pick another value if
// two data values were equidistant from it to that precision), and the
// weights are the same divisions of integers.
func TestSummarizeKMeansMatchesShap(t *testing.T) {
	var fx kmeansFixture
	readJSON(t, "testdata/kmeans_summary.json", &fx)
	for _, tc := range fx.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			data := tc.Data
			if data == nil {
				data = integerBlobs(tc.N, tc.P, tc.K)
			}
			rows, weights, err := SummarizeKMeans(data, tc.K, rand.New(rand.NewPCG(7, 7)))
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != tc.K || len(weights) != tc.K {
				t.Fatalf("%d rows, %d weights, want %d", len(rows), len(weights), tc.K)
			}
			// Match each row to shap's by the snapped values themselves.
			used := make([]bool, tc.K)
			for c, r := range rows {
				w := slices.IndexFunc(tc.SnappedCenters, func(s []float64) bool { return slices.Equal(s, r) })
				if w < 0 || used[w] {
					t.Fatalf("row %d = %v is not one of shap's snapped centres (or is matched twice)", c, r)
				}
				used[w] = true
				if weights[c] != tc.Weights[w] {
					t.Errorf("row %d: weight %v, shap's %v", c, weights[c], tc.Weights[w])
				}
			}
		})
	}
}

func TestSnapToData(t *testing.T) {
	data := [][]float64{{1, 10}, {2, 30}, {4, 20}, {2, -5}}
	tests := []struct {
		name    string
		centres [][]float64
		want    [][]float64
	}{
		{"exact values stay", [][]float64{{4, 20}}, [][]float64{{4, 20}}},
		{"nearest per feature", [][]float64{{3.9, 24.9}}, [][]float64{{4, 20}}},
		// |1.5 − 1| = |1.5 − 2|: numpy's argmin takes the first row, 1;
		// |25 − 20| = |25 − 30|: row 1's 30 comes before row 2's 20.
		{"tie: the first row's", [][]float64{{1.5, 25}}, [][]float64{{1, 30}}},
		{"beyond the range", [][]float64{{-100, 100}}, [][]float64{{1, 30}}},
		{"several centres", [][]float64{{0, 0}, {5, 12}}, [][]float64{{1, -5}, {4, 10}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := cloneRows(tt.centres)
			got := SnapToData(nil, tt.centres, data)
			for i := range tt.want {
				if !slices.Equal(got[i], tt.want[i]) {
					t.Errorf("centre %d: %v, want %v", i, got[i], tt.want[i])
				}
			}
			if !equalRows(tt.centres, before) {
				t.Error("SnapToData modified the centres")
			}
			dst := [][]float64{make([]float64, 2), make([]float64, 2)}[:len(tt.centres)]
			if got := SnapToData(dst, tt.centres, data); &got[0][0] != &dst[0][0] || !slices.Equal(got[0], tt.want[0]) {
				t.Error("SnapToData did not write to dst")
			}
		})
	}
}

func cloneRows(rows [][]float64) [][]float64 {
	out := make([][]float64, len(rows))
	for i, r := range rows {
		out[i] = slices.Clone(r)
	}
	return out
}

func equalRows(a, b [][]float64) bool {
	return slices.EqualFunc(a, b, func(x, y []float64) bool { return slices.Equal(x, y) })
}

// overlapping is data without cluster structure, where k-means runs end in
// different local minima: the checks below hold for any of them.
func overlapping(n, p int, seed uint64) [][]float64 {
	rng := rand.New(rand.NewPCG(seed, 2))
	x := make([][]float64, n)
	for i := range x {
		x[i] = make([]float64, p)
		for j := range x[i] {
			x[i][j] = rng.NormFloat64()
		}
	}
	return x
}

// Closed-form properties of any k-means result: each label is the nearest
// centre (the first on a tie), the inertia is the sum of those squared
// distances, the sizes count the labels, and the same seed gives the same
// clustering, bit for bit, without touching the data.
func TestFitKMeansInvariants(t *testing.T) {
	for _, tc := range []struct{ n, p, k int }{{200, 3, 1}, {200, 3, 7}, {500, 10, 20}, {50, 2, 50}} {
		t.Run(fmt.Sprintf("n=%d/p=%d/k=%d", tc.n, tc.p, tc.k), func(t *testing.T) {
			data := overlapping(tc.n, tc.p, 1)
			before := cloneRows(data)
			km, err := FitKMeans(data, tc.k, 3, rand.New(rand.NewPCG(5, 5)))
			if err != nil {
				t.Fatal(err)
			}
			if !equalRows(data, before) {
				t.Fatal("FitKMeans modified the data")
			}
			sizes := make([]int, tc.k)
			var inertia float64
			for i, r := range data {
				l := km.Labels[i]
				sizes[l]++
				d := sqDist(r, km.Centres[l])
				inertia += d
				for c, centre := range km.Centres {
					if e := sqDist(r, centre); e < d || (e == d && c < l) {
						t.Fatalf("row %d is labelled %d (distance² %v) but centre %d is at %v", i, l, d, c, e)
					}
				}
			}
			if !slices.Equal(sizes, km.Sizes) || inertia != km.Inertia {
				t.Errorf("sizes %v, inertia %v; the labels give %v, %v", km.Sizes, km.Inertia, sizes, inertia)
			}
			if tc.k == tc.n && inertia != 0 {
				t.Errorf("k = n: inertia %v, want 0", inertia)
			}
			again, _ := FitKMeans(data, tc.k, 3, rand.New(rand.NewPCG(5, 5)))
			if !slices.Equal(again.Labels, km.Labels) || !equalRows(again.Centres, km.Centres) {
				t.Error("the same seed gave another clustering")
			}
		})
	}
}

// Hamerly's bounds only skip work: from the same starts, Lloyd's
// iterations with and without them give the same labels, centres (bit for
// bit: the same sums) and iterations, on data without clusters (hundreds of
// iterations of small moves), with duplicates (ties), and with one cluster.
func TestLloydBoundsChangeNothing(t *testing.T) {
	dup := overlapping(300, 2, 6)
	dup = append(dup, dup[:100]...)
	for _, tc := range []struct {
		name string
		data [][]float64
		k    int
	}{
		{"no clusters", overlapping(2000, 5, 2), 12},
		{"many clusters in 2-d", overlapping(1000, 2, 3), 60},
		{"duplicates", dup, 9},
		{"grid ties", func() [][]float64 {
			var g [][]float64
			for i := range 12 {
				for j := range 12 {
					g = append(g, []float64{float64(i), float64(j)})
				}
			}
			return g
		}(), 7},
		{"one cluster", overlapping(100, 3, 4), 1},
		{"separated", integerBlobs(500, 30, 10), 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tol := KMeansTol * meanVariance(tc.data)
			for seed := range uint64(3) {
				start := kmeansPlusPlus(tc.data, tc.k, rand.New(rand.NewPCG(seed, 0)))
				plain := lloyd(tc.data, cloneRows(start), tol, false)
				bounded := lloyd(tc.data, cloneRows(start), tol, true)
				if !slices.Equal(plain.Labels, bounded.Labels) || !equalRows(plain.Centres, bounded.Centres) ||
					plain.Iterations != bounded.Iterations || plain.Inertia != bounded.Inertia {
					t.Fatalf("seed %d: with bounds %d iterations, inertia %v; without %d, %v",
						seed, bounded.Iterations, bounded.Inertia, plain.Iterations, plain.Inertia)
				}
			}
		})
	}
}

// k = 1: the one centre is the mean of the data (a sum of 200 values of
// O(1): relative 1e-12), snapped per feature to the closest data value, with
// weight 1.
func TestSummarizeKMeansOneCluster(t *testing.T) {
	data := overlapping(200, 4, 3)
	rows, weights, err := SummarizeKMeans(data, 1, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	mean := make([]float64, 4)
	for _, r := range data {
		for j, v := range r {
			mean[j] += v / 200
		}
	}
	want := SnapToData(nil, [][]float64{mean}, data)
	if len(rows) != 1 || !slices.Equal(rows[0], want[0]) || !slices.Equal(weights, []float64{1}) {
		t.Errorf("k = 1: %v, %v; want %v, [1]", rows, weights, want)
	}
}

// K at least the distinct rows gives the data back: each distinct row once,
// weighted by its count over the rows.
func TestSummarizeKMeansDataBack(t *testing.T) {
	distinct := overlapping(30, 3, 4)
	dup := append(cloneRows(distinct), distinct[0], distinct[5], distinct[0])
	tests := []struct {
		name    string
		data    [][]float64
		k       int
		weights map[int]float64 // index in distinct → weight
	}{
		{"k = rows, distinct", distinct, 30, nil},
		{"k = rows with duplicates", dup, 33, map[int]float64{0: 3.0 / 33, 5: 2.0 / 33}},
		{"k = distinct rows", dup, 30, map[int]float64{0: 3.0 / 33, 5: 2.0 / 33}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, weights, err := SummarizeKMeans(tt.data, tt.k, rand.New(rand.NewPCG(1, 1)))
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != len(distinct) {
				t.Fatalf("%d rows, want the %d distinct ones", len(rows), len(distinct))
			}
			n := float64(len(tt.data))
			for i, r := range rows {
				d := slices.IndexFunc(distinct, func(x []float64) bool { return slices.Equal(x, r) })
				if d < 0 {
					t.Fatalf("row %d is not a data row", i)
				}
				want, ok := tt.weights[d]
				if !ok {
					want = 1 / n
				}
				if weights[i] != want {
					t.Errorf("row %d (data row %d): weight %v, want %v", i, d, weights[i], want)
				}
			}
		})
	}
	// FitKMeans itself refuses k above the distinct rows.
	if _, err := FitKMeans(dup, 31, 1, rand.New(rand.NewPCG(1, 1))); err == nil {
		t.Error("FitKMeans with k above the distinct rows: no error")
	}
}

// With duplicates and overlapping data the weights are still the cluster
// sizes over n and sum to 1 (to rounding: k divisions, relative 1e-15 each).
func TestSummarizeKMeansWeightsAreClusterSizes(t *testing.T) {
	data := overlapping(300, 2, 6)
	data = append(data, data[:50]...)
	const k = 8
	rows, weights, err := SummarizeKMeans(data, k, rand.New(rand.NewPCG(9, 9)))
	if err != nil {
		t.Fatal(err)
	}
	km, _ := FitKMeans(data, k, KMeansInits, rand.New(rand.NewPCG(9, 9)))
	var sum float64
	for c := range k {
		if want := float64(km.Sizes[c]) / float64(len(data)); weights[c] != want {
			t.Errorf("weight %d = %v, want size %d / %d", c, weights[c], km.Sizes[c], len(data))
		}
		sum += weights[c]
	}
	if math.Abs(sum-1) > 1e-14 {
		t.Errorf("weights sum to %v", sum)
	}
	if want := SnapToData(nil, km.Centres, data); !equalRows(rows, want) {
		t.Error("rows are not the snapped centres of the same clustering")
	}
}

func TestSummarizeSample(t *testing.T) {
	data := overlapping(10, 2, 8)
	rows, weights, err := SummarizeSample(data, 3, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for i, r := range rows {
		d := slices.IndexFunc(data, func(x []float64) bool { return slices.Equal(x, r) })
		if d < 0 || seen[d] {
			t.Fatalf("row %d is not a data row or repeats one", i)
		}
		seen[d] = true
		if weights[i] != 1.0/3 {
			t.Errorf("weight %d = %v, want 1/3", i, weights[i])
		}
		if &r[0] == &data[d][0] {
			t.Error("the summary shares a row with the data")
		}
	}
	again, _, _ := SummarizeSample(data, 3, rand.New(rand.NewPCG(1, 2)))
	if !equalRows(rows, again) {
		t.Error("the same seed drew other rows")
	}
	all, _, _ := SummarizeSample(data, 10, rand.New(rand.NewPCG(1, 2)))
	for _, r := range data {
		if !slices.ContainsFunc(all, func(x []float64) bool { return slices.Equal(x, r) }) {
			t.Fatal("k = rows does not give every row")
		}
	}
}

// Each row is drawn with probability k/n: over 30000 draws of 3 of 10 rows
// a row's count is Binomial(30000, 0.3), sd 79; 5 sd (400) fails a correct
// sampler with probability ~6e-7 per row.
func TestSummarizeSampleUniform(t *testing.T) {
	data := make([][]float64, 10)
	for i := range data {
		data[i] = []float64{float64(i)}
	}
	rng := rand.New(rand.NewPCG(3, 3))
	counts := make([]int, 10)
	const draws = 30000
	for range draws {
		rows, _, _ := SummarizeSample(data, 3, rng)
		for _, r := range rows {
			counts[int(r[0])]++
		}
	}
	for i, c := range counts {
		if math.Abs(float64(c)-0.3*draws) > 400 {
			t.Errorf("row %d drawn %d times, want %v ± 400", i, c, 0.3*draws)
		}
	}
}

func TestSummaryErrors(t *testing.T) {
	good := overlapping(5, 2, 1)
	tests := []struct {
		name string
		data [][]float64
		k    int
		size bool // ErrSummarySize
	}{
		{"k = 0", good, 0, true},
		{"k above rows", good, 6, true},
		{"no rows", nil, 1, false},
		{"ragged", [][]float64{{1, 2}, {3}}, 1, false},
		{"NaN", [][]float64{{1, math.NaN()}}, 1, false},
		{"empty rows", [][]float64{{}, {}}, 1, false},
	}
	for _, tt := range tests {
		for name, f := range map[string]func([][]float64, int, *rand.Rand) ([][]float64, []float64, error){
			"kmeans": SummarizeKMeans, "sample": SummarizeSample,
		} {
			t.Run(tt.name+"/"+name, func(t *testing.T) {
				_, _, err := f(tt.data, tt.k, rand.New(rand.NewPCG(1, 1)))
				if err == nil || errors.Is(err, ErrSummarySize) != tt.size {
					t.Errorf("err = %v, want an error (ErrSummarySize: %v)", err, tt.size)
				}
			})
		}
	}
}

func BenchmarkSummarizeKMeans(b *testing.B) {
	for _, bc := range []struct{ n, p, k int }{{2000, 30, 10}, {10000, 30, 10}, {10000, 30, 100}} {
		data := integerBlobs(bc.n, bc.p, 10)
		b.Run(fmt.Sprintf("n=%d/p=%d/k=%d", bc.n, bc.p, bc.k), func(b *testing.B) {
			for b.Loop() {
				if _, _, err := SummarizeKMeans(data, bc.k, rand.New(rand.NewPCG(1, 1))); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Any table of finite values and any k in [1, rows]: no panic, at most k
// rows whose every value is one the feature takes in the data, weights that
// are positive multiples of 1/n summing to 1.
func FuzzSummarizeKMeans(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9}, uint8(2), uint8(3))
	f.Add([]byte{0, 0, 0, 0, 0, 0}, uint8(1), uint8(2))
	f.Add([]byte{9, 9, 1, 1, 9, 9, 1, 2}, uint8(4), uint8(1))
	f.Fuzz(func(t *testing.T, b []byte, width, k uint8) {
		p := int(width%4) + 1
		n := min(len(b)/p, 40)
		if n == 0 {
			return
		}
		data := make([][]float64, n)
		for i := range data {
			data[i] = make([]float64, p)
			for j := range data[i] {
				data[i][j] = float64(int8(b[i*p+j])) / 4
			}
		}
		kk := int(k)%n + 1
		rows, weights, err := SummarizeKMeans(data, kk, rand.New(rand.NewPCG(uint64(k), 0)))
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) == 0 || len(rows) > kk || len(weights) != len(rows) {
			t.Fatalf("%d rows, %d weights for k = %d", len(rows), len(weights), kk)
		}
		var sum float64
		for c, r := range rows {
			for j, v := range r {
				if !slices.ContainsFunc(data, func(x []float64) bool { return x[j] == v }) {
					t.Fatalf("row %d feature %d = %v: not a data value", c, j, v)
				}
			}
			if cnt := weights[c] * float64(n); weights[c] <= 0 || math.Abs(cnt-math.Round(cnt)) > 1e-9 {
				t.Fatalf("weight %v is not a positive count over %d", weights[c], n)
			}
			sum += weights[c]
		}
		if math.Abs(sum-1) > 1e-12 {
			t.Fatalf("weights sum to %v", sum)
		}
	})
}

// Values so large that squared distances overflow make every k-means++
// potential +Inf: the summary is still made (FuzzParseLIME found an index
// of −1 here), of at most k rows whose values are values of the data's
// columns (shap snaps each feature), weighing 1 together.
func TestKMeansOverflowingDistances(t *testing.T) {
	data := [][]float64{{1e200, 0}, {-1e200, 0}, {0, 1e200}, {0, -1e200}, {1e200, 1e200}, {3, 4}}
	for _, k := range []int{2, 4} {
		rows, weights, err := SummarizeKMeans(data, k, rand.New(rand.NewPCG(1, 2)))
		if err != nil {
			t.Fatalf("k=%d: %v", k, err)
		}
		if len(rows) == 0 || len(rows) > k || len(weights) != len(rows) {
			t.Fatalf("k=%d: %d rows, %d weights", k, len(rows), len(weights))
		}
		var total float64
		for i, r := range rows {
			for j, v := range r {
				if !slices.ContainsFunc(data, func(d []float64) bool { return d[j] == v }) {
					t.Errorf("k=%d: row %d's value %v is not in column %d", k, i, v, j)
				}
			}
			total += weights[i]
		}
		if math.Abs(total-1) > 1e-12 {
			t.Errorf("k=%d: weights sum to %v, want 1", k, total)
		}
	}
}
