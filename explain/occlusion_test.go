package explain

import (
	"context"
	"errors"
	"math"
	"slices"
	"sync"
	"testing"
)

// occModel is a Model from a function of one row; it counts calls and the
// largest batch. Occlusion keeps two calls in flight, so it locks.
type occModel struct {
	f        func(row []float64) []float64
	mu       sync.Mutex
	calls    int
	rows     int
	maxBatch int
	onCall   func(call int)
}

func (m *occModel) Predict(ctx context.Context, rows [][]float64) ([][]float64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.calls++
	call := m.calls
	m.rows += len(rows)
	m.maxBatch = max(m.maxBatch, len(rows))
	m.mu.Unlock()
	out := make([][]float64, len(rows))
	for i, r := range rows {
		out[i] = m.f(r)
	}
	if m.onCall != nil {
		m.onCall(call)
	}
	return out, nil
}

// occLinear returns f(x) = (w·x, 3 − 2·w·x).
func occLinear(w []float64) func([]float64) []float64 {
	return func(x []float64) []float64 {
		var s float64
		for i, v := range x {
			s += w[i] * v
		}
		return []float64{s, 3 - 2*s}
	}
}

func occRamp(n int, scale float64) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = scale * math.Sin(float64(i)*0.7+0.3)
	}
	return x
}

// TestOcclusionWindowOneIsAblation: a 1-wide window with stride 1 is
// single-feature ablation, A(i) = f(x) − f(x with x_i = b), on a
// non-linear model.
func TestOcclusionWindowOneIsAblation(t *testing.T) {
	f := func(x []float64) []float64 {
		var s float64
		for i, v := range x {
			s += float64(i+1) * v * v
		}
		p := 1 / (1 + math.Exp(-s+x[0]*x[len(x)-1]))
		return []float64{p, 1 - p}
	}
	x := occRamp(7, 1.3)
	for _, batch := range []int{1, 2, 100} {
		res, err := Occlusion(context.Background(), &occModel{f: f}, OcclusionRequest{
			Input: x, Shape: []int{7}, Window: []int{1}, Baseline: 0.5, Targets: []int{0, 1}, BatchRows: batch,
		})
		if err != nil {
			t.Fatal(err)
		}
		f0 := f(x)
		for i := range x {
			z := slices.Clone(x)
			z[i] = 0.5
			fz := f(z)
			for t2, c := range []int{0, 1} {
				want := f0[c] - fz[c]
				if got := res.Attributions[t2][i]; math.Abs(got-want) > 1e-15 {
					t.Errorf("batch %d target %d position %d: %v, want %v (tolerance 1e-15)", batch, c, i, got, want)
				}
			}
		}
	}
}

// TestOcclusionLinearClosedForm: for f(x) = w·x the score drop of window J
// is S_J = Σ_{k∈J} w_k (x_k − b_k), so A(i) = Σ_{J∋i} S_J / |{J ∋ i}|,
// and −2 times that for the second class. The reference sums the windows
// directly, by its own enumeration.
func TestOcclusionLinearClosedForm(t *testing.T) {
	tests := []struct {
		name            string
		shape, win, str []int
		baseTensor      bool
	}{
		{"1d k=3 s=1", []int{12}, []int{3}, nil, false},
		{"1d k=4 s=3 cropped last window", []int{12}, []int{4}, []int{3}, false},
		{"1d k=2 s=3 gaps", []int{11}, []int{2}, []int{3}, false},
		{"2d 3x3 s=2 over HWC", []int{9, 8, 2}, []int{3, 3, 2}, []int{2, 2, 2}, false},
		{"2d per channel, baseline tensor", []int{6, 7, 3}, []int{2, 3, 1}, []int{1, 2, 1}, true},
		{"whole input", []int{4, 5}, []int{4, 5}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			size := 1
			for _, n := range tt.shape {
				size *= n
			}
			x, w := occRamp(size, 2), occRamp(size+3, 1)[3:]
			b := make([]float64, size)
			req := OcclusionRequest{Input: x, Shape: tt.shape, Window: tt.win, Strides: tt.str, Baseline: 0.25, Targets: []int{0, 1}, BatchRows: 5}
			for i := range b {
				b[i] = 0.25
			}
			if tt.baseTensor {
				b = occRamp(size, 0.5)
				req.BaselineInput = b
			}
			res, err := Occlusion(context.Background(), &occModel{f: occLinear(w)}, req)
			if err != nil {
				t.Fatal(err)
			}
			sum, cnt := occReference(tt.shape, tt.win, tt.str, func(i int) float64 { return w[i] * (x[i] - b[i]) })
			for i := range x {
				want := 0.0
				if cnt[i] > 0 {
					want = sum[i] / float64(cnt[i])
				}
				if res.Coverage[i] != cnt[i] {
					t.Fatalf("coverage[%d] = %d, want %d", i, res.Coverage[i], cnt[i])
				}
				if got := res.Attributions[0][i]; math.Abs(got-want) > 1e-12 {
					t.Fatalf("A0[%d] = %v, want %v (tolerance 1e-12)", i, got, want)
				}
				if got := res.Attributions[1][i]; math.Abs(got+2*want) > 1e-12 {
					t.Fatalf("A1[%d] = %v, want %v (tolerance 1e-12)", i, got, -2*want)
				}
			}
		})
	}
}

// occReference enumerates every window start directly, as Captum does
// (⌈(n − w)/s⌉ + 1 starts per dimension, the last window cropped at the
// edge; starts past the end, possible only with s > w, which Captum
// refuses, are skipped), and returns, per position, the sum over covering
// windows of the window's total of term, and the number of covering
// windows.
func occReference(shape, win, str []int, term func(int) float64) ([]float64, []int) {
	d := len(shape)
	if str == nil {
		str = make([]int, d)
		for i := range str {
			str[i] = 1
		}
	}
	size := 1
	for _, n := range shape {
		size *= n
	}
	coord := func(p int) []int {
		c := make([]int, d)
		for i := d - 1; i >= 0; i-- {
			c[i] = p % shape[i]
			p /= shape[i]
		}
		return c
	}
	var starts [][]int
	var rec func(prefix []int)
	rec = func(prefix []int) {
		if len(prefix) == d {
			starts = append(starts, slices.Clone(prefix))
			return
		}
		i := len(prefix)
		count := int(math.Ceil(float64(shape[i]-win[i])/float64(str[i]))) + 1
		for j := range count {
			if s := j * str[i]; s < shape[i] {
				rec(append(prefix, s))
			}
		}
	}
	rec(nil)
	inside := func(c, s []int) bool {
		for i := range c {
			if c[i] < s[i] || c[i] >= min(s[i]+win[i], shape[i]) {
				return false
			}
		}
		return true
	}
	sum, cnt := make([]float64, size), make([]int, size)
	for _, s := range starts {
		var total float64
		var members []int
		for p := range size {
			if inside(coord(p), s) {
				total += term(p)
				members = append(members, p)
			}
		}
		for _, p := range members {
			sum[p] += total
			cnt[p]++
		}
	}
	return sum, cnt
}

// TestOcclusionStrideCoverage: n = 10, k = 3, s = 2 gives Captum's
// ⌈7/2⌉ + 1 = 5 windows, at 0, 2, 4, 6 and 8, the last cropped to 8…9, so
// that position 9 is covered; a stride larger than the window (which
// Captum refuses) leaves gaps, and no window starts past the end.
func TestOcclusionStrideCoverage(t *testing.T) {
	tests := []struct {
		name     string
		win, str int
		windows  int
		coverage []int
	}{
		{"k=3 s=2", 3, 2, 5, []int{1, 1, 2, 1, 2, 1, 2, 1, 2, 1}},
		{"k=2 s=4 gaps", 2, 4, 3, []int{1, 1, 0, 0, 1, 1, 0, 0, 1, 1}},
		{"k=1 s=5", 1, 5, 2, []int{1, 0, 0, 0, 0, 1, 0, 0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Occlusion(context.Background(), &occModel{f: occLinear(occRamp(10, 1))}, OcclusionRequest{
				Input: occRamp(10, 1), Shape: []int{10}, Window: []int{tt.win}, Strides: []int{tt.str},
			})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(res.Coverage, tt.coverage) {
				t.Fatalf("coverage %v, want %v", res.Coverage, tt.coverage)
			}
			if res.NumWindows != tt.windows || OcclusionWindowCount(10, tt.win, tt.str) != tt.windows || !slices.Equal(res.Targets, []int{0}) {
				t.Fatalf("windows %d (count %d), want %d; targets %v", res.NumWindows, OcclusionWindowCount(10, tt.win, tt.str), tt.windows, res.Targets)
			}
			for i, c := range res.Coverage {
				if c == 0 && (res.Attributions[0][i] != 0 || res.StdErrs[0][i] != 0) {
					t.Fatalf("uncovered position %d: attribution %v, standard error %v, want 0", i, res.Attributions[0][i], res.StdErrs[0][i])
				}
				if c > 0 && res.Attributions[0][i] == 0 {
					t.Fatalf("covered position %d has attribution 0", i)
				}
			}
		})
	}
}

func TestOcclusionPartialBatchingAndDeterminism(t *testing.T) {
	const h, w = 8, 8
	x := occRamp(h*w, 1)
	m := &occModel{f: occLinear(occRamp(h*w+1, 1)[1:])}
	type call struct {
		done, total int
		a           []float64
	}
	var calls []call
	req := OcclusionRequest{
		Input: x, Shape: []int{h, w}, Window: []int{2, 2}, Strides: []int{2, 2}, BatchRows: 3,
		Partial: func(done, total int, a [][]float64) { calls = append(calls, call{done, total, a[0]}) },
	}
	res, err := Occlusion(context.Background(), m, req)
	if err != nil {
		t.Fatal(err)
	}
	// 16 windows + the input, at most 3 per call: ⌈17/3⌉ = 6 calls.
	if m.rows != 17 || m.maxBatch != 3 || m.calls != 6 {
		t.Fatalf("rows %d, max batch %d, calls %d; want 17, 3, 6", m.rows, m.maxBatch, m.calls)
	}
	if len(calls) != 4 {
		t.Fatalf("%d partial calls, want 4 bands", len(calls))
	}
	prevFinal := 0
	for b, c := range calls {
		if c.done != 4*(b+1) || c.total != 16 {
			t.Fatalf("band %d: done %d of %d", b, c.done, c.total)
		}
		final := 0
		for i, v := range c.a {
			if v == res.Attributions[0][i] && v != 0 {
				final++
			}
			if i/w < 2*(b+1) && v != res.Attributions[0][i] {
				t.Fatalf("band %d: position %d below row %d not final", b, i, 2*(b+1))
			}
		}
		if final <= prevFinal {
			t.Fatalf("band %d: map did not grow (%d final, before %d)", b, final, prevFinal)
		}
		prevFinal = final
	}
	again, err := Occlusion(context.Background(), &occModel{f: m.f}, OcclusionRequest{
		Input: x, Shape: []int{h, w}, Window: []int{2, 2}, Strides: []int{2, 2}, BatchRows: 7,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(again.Attributions[0], res.Attributions[0]) {
		t.Fatal("a different batch size changed the result")
	}
}

func TestOcclusionCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := &occModel{f: occLinear(occRamp(100, 1)), onCall: func(int) { cancel() }}
	_, err := Occlusion(ctx, m, OcclusionRequest{Input: occRamp(100, 1), Shape: []int{100}, Window: []int{1}, BatchRows: 10})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	// The first call cancels; the second may be in flight already (two
	// calls are), but no third starts (11 calls without the cancel).
	if m.calls > 2 {
		t.Fatalf("%d model calls, want at most the 2 in flight at the cancel", m.calls)
	}
}

func TestOcclusionInvalid(t *testing.T) {
	x := occRamp(6, 1)
	tests := []struct {
		name  string
		req   OcclusionRequest
		field string
	}{
		{"no shape", OcclusionRequest{Input: x, Window: []int{1}}, "shape"},
		{"shape mismatch", OcclusionRequest{Input: x, Shape: []int{2, 2}, Window: []int{1, 1}}, "input"},
		{"window rank", OcclusionRequest{Input: x, Shape: []int{2, 3}, Window: []int{1}}, "window"},
		{"window too big", OcclusionRequest{Input: x, Shape: []int{2, 3}, Window: []int{1, 4}}, "window[1]"},
		{"stride 0", OcclusionRequest{Input: x, Shape: []int{6}, Window: []int{1}, Strides: []int{0}}, "strides[0]"},
		{"baseline NaN", OcclusionRequest{Input: x, Shape: []int{6}, Window: []int{1}, Baseline: math.NaN()}, "baseline"},
		{"baseline tensor", OcclusionRequest{Input: x, Shape: []int{6}, Window: []int{1}, BaselineInput: x[:2]}, "baseline_input"},
		{"target", OcclusionRequest{Input: x, Shape: []int{6}, Window: []int{1}, Targets: []int{5}}, "labels[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Occlusion(context.Background(), &occModel{f: occLinear(x)}, tt.req)
			var re *RequestError
			if !errors.As(err, &re) || re.Field != tt.field {
				t.Fatalf("err = %v, want a RequestError on %q", err, tt.field)
			}
		})
	}
}

// BenchmarkOcclusion224 measures the sidecar's own cost of occluding a
// 224×224×3 image with a 16×16 window and stride 8 (729 windows) against a
// model that answers at once.
func BenchmarkOcclusion224(b *testing.B) {
	x := occRamp(224*224*3, 1)
	one := []float64{1}
	m := occFunc(func(rows [][]float64) [][]float64 {
		out := make([][]float64, len(rows))
		for i := range out {
			out[i] = one
		}
		return out
	})
	req := OcclusionRequest{Input: x, Shape: []int{224, 224, 3}, Window: []int{16, 16, 3}, Strides: []int{8, 8, 3}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Occlusion(context.Background(), m, req); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/730, "ns/row")
}

// occFunc adapts a function to Model (test only).
type occFunc func(rows [][]float64) [][]float64

func (f occFunc) Predict(_ context.Context, rows [][]float64) ([][]float64, error) {
	return f(rows), nil
}
