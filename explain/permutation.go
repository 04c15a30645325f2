package explain

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strings"
)

// Defaults and limits of a permutation importance request.
const (
	DefaultRepeats = 5
	MaxRepeats     = 100
)

// PermutationRequest is one permutation importance run (scikit-learn's
// sklearn.inspection.permutation_importance). Zero values are
// scikit-learn's defaults.
type PermutationRequest struct {
	// Data holds N rows of p features, N ≥ 2. It is not modified.
	Data [][]float64
	// Target holds each row's true class index (classification scores) or
	// value (regression scores).
	Target []float64
	// Weights are the sample weights of the score (scikit-learn's
	// sample_weight): non-negative with a positive sum. Nil: uniform.
	Weights []float64
	// FeatureNames name the features; nil gives "x0", "x1", .... A group's
	// Description joins its members' names with "+".
	FeatureNames []string
	// Groups lists features permuted together (with the same row order),
	// one importance per group; a feature may be in several groups. Nil:
	// every feature on its own.
	Groups [][]int
	// Scoring is the score whose drop is measured. Default ScoreAccuracy.
	Scoring Scoring
	// Output is the model output column regression scores read.
	Output int
	// Repeats is the number of permutations of each group. Default
	// DefaultRepeats; 1 to MaxRepeats. With Permutations set, 0 takes
	// their count.
	Repeats int
	// MaxSamples is scikit-learn's max_samples: the rows the permuted data
	// is drawn from (without replacement, once for every group and
	// repeat). 0: all rows; in (0, 1]: that fraction of N, truncated; > 1:
	// that many rows, a whole number at most N. At least 2 rows.
	MaxSamples float64
	// Seed seeds the row sample and the permutations.
	Seed uint64
	// Permutations, when set, gives the row orders explicitly:
	// Permutations[g][r] is a permutation of the n (sub)sampled rows for
	// group g on repeat r; the permuted copy's row i takes the group's
	// values from sampled row Permutations[g][r][i]. It lets tests
	// reproduce scikit-learn's permutations exactly.
	Permutations [][][]int
	// Partial, when set, is called after each finished repeat (every group
	// permuted once more) with the result so far: each Attribution's Values
	// hold the repeatsDone repeats done. It is called from the goroutine
	// that called Permutation, never concurrently, and may keep r.
	Partial func(repeatsDone int, r *Result)
	// BatchRows packs the evaluations of the sampled rows into Predict
	// calls of at most BatchRows rows: k = max(1, BatchRows/n) evaluations
	// per call, so that a model with large batches scores many at once
	// instead of one call per evaluation; the first call also carries the
	// baseline's N rows, with as many evaluations as fit beside them (none:
	// the baseline goes alone). 0 (or less than n) sends one evaluation per
	// call. Each evaluation in flight then holds k working copies of the
	// sampled rows; at most MaxBatchValues values are packed. The result
	// does not depend on it.
	BatchRows int
}

// Permutation measures how much the model's score drops when a feature
// (or a group of features) is permuted across rows, as scikit-learn's
// permutation_importance does. The baseline is the score s₀ of the model's
// outputs on all N rows. Then n rows are sampled (all of them unless
// MaxSamples says otherwise) and, for each repeat r and group g, a copy of
// the sampled rows whose columns in g are permuted (row i takes the
// group's values from row π_gr(i)) is scored: s_gr. The importance of g on
// repeat r is s₀ − s_gr; an Attribution per group, in group order, holds
// them in Values, their mean in Weight and their population standard
// deviation (ddof 0, numpy's np.std) in Std; StdErr is the standard error
// of the mean over the repeats, the sample standard deviation (ddof 1)
// over √R, sqrt(Σ_r (v_r − mean)² / ((R − 1)·R)), 0 with one repeat. It
// is the error from the permutations drawn, given the rows (no further
// model calls). Like scikit-learn, the
// baseline is scored on all N rows even when the permuted copies are
// subsampled; unlike scikit-learn 1.2, the weights are subsampled with the
// rows (as in 1.4.1 and later).
//
// The permutations are drawn from req.Seed: π_gr is uniformly random and
// depends only on (Seed, g, r), so the first r repeats of a run do not
// depend on Repeats, and groups get independent row orders
// (scikit-learn's random_state gives every feature the same ones). The
// result is the same, bit for bit, for the same request and model,
// whatever the scheduling.
//
// Work is repeat-major: every group on repeat 0, then on repeat 1, and so
// on, so that req.Partial can report each finished repeat. Two
// evaluations (evalsInFlight) run at once, so that the model always has
// batches to score; each uses a working copy of the sampled rows in which
// only the permuted group's columns are rewritten between evaluations.
// Scoring runs in the calling goroutine while the next evaluations are at
// the model. Peak memory beyond the caller's data is therefore 2·n·p
// float64 values for the working copies (48 MB for n = 100,000 rows of
// p = 30), the outputs of at most five evaluations (two at the model, two
// waiting to be scored, one being scored: 5·N·classes values) and O(n)
// indices and column buffers; never a copy per group or repeat. Rows sent
// to the model must not be used by it after Predict returns.
//
// The result has Method "permutation", the scoring's name, BaselineScore
// s₀, Seed, and NumSamples = N + G·R·n, the rows the model scored; it has
// one LabelResult (Label 0).
//
// A request that cannot run is a *RequestError naming the field; so is a
// valid request that the model's answer cannot serve (fewer class columns
// than the targets' classes, or than 2 for a classification score; no
// column Output), with Precondition set. A model output the score cannot
// read (wrong row count or width, non-finite scores) is another error.
// When ctx is done no new evaluation starts and ctx's error is returned. A
// panic in m, which runs on the estimator's goroutines, is an error too:
// "explain: permutation: " wrapping a *group.PanicError (this module's
// internal/group) that holds the value and the stack; a panic in
// req.Partial stays on the caller's goroutine.
func Permutation(ctx context.Context, m Model, req PermutationRequest) (*Result, error) {
	run, err := req.prepare()
	if err != nil {
		return nil, err
	}
	G, R := len(run.groups), run.repeats
	run.scores = make([]float64, G*R)
	finished := make([]int, R) // groups finished per repeat
	reported := 0
	baseDone := false
	width := 0
	collectOne := func(k int, out outputs) error {
		if width == 0 {
			width = out.width
		} else if out.width != width {
			return fmt.Errorf("explain: model returned %d scores per row in one evaluation, %d in another", out.width, width)
		}
		if k == 0 {
			s, err := run.full.score(out.rows, out.width)
			if err != nil {
				return err
			}
			run.baseline, baseDone = s, true
		} else {
			s, err := run.sub.score(out.rows, out.width)
			if err != nil {
				return err
			}
			run.scores[k-1] = s
			finished[(k-1)/G]++
		}
		for baseDone && reported < R && finished[reported] == G {
			reported++
			if req.Partial != nil {
				res := run.result(reported)
				if err := res.nonFinite(); err != nil {
					return err
				}
				req.Partial(reported, res)
			}
		}
		return nil
	}
	// Evaluation k = 0 is the baseline over all N rows; evaluation k ≥ 1
	// permutes group (k−1) mod G on repeat (k−1)/G over the n sampled
	// rows. Unit 0 packs the baseline and evaluations 1, …, first into one
	// Predict call; unit u ≥ 1 packs evaluations first + (u−1)·per + 1, …,
	// first + u·per. first is 0 without packing, and when no evaluation
	// fits beside the baseline: the baseline then goes alone. Otherwise it
	// rides in the first call instead of a call of its own, which a model
	// without a row cap would score in a round of its own.
	n, N := len(run.rows), len(req.Data)
	per, first := 1, 0
	if req.BatchRows > n {
		limit := min(req.BatchRows, MaxBatchValues/max(1, len(run.rows[0])))
		per = max(1, limit/n)
		if limit > N {
			first = (limit - N) / n
		}
	}
	evals := G * R
	first = min(first, evals)
	units := 1 + (evals-first+per-1)/per
	// span is the evaluations (k ≥ 1) of unit u: [lo, hi).
	span := func(u int) (lo, hi int) {
		if u == 0 {
			return 1, first + 1
		}
		lo = first + (u-1)*per + 1
		return lo, min(lo+per, evals+1)
	}
	collect := func(u int, outs []outputs) error {
		lo, _ := span(u)
		if u == 0 {
			lo = 0
		}
		for i, out := range outs {
			if err := collectOne(lo+i, out); err != nil {
				return err
			}
		}
		return nil
	}
	newWorker := func() func(context.Context, int) ([]outputs, error) {
		var (
			wss    []*permWorkspace // one working copy per packed evaluation
			packed [][]float64
		)
		return func(ctx context.Context, u int) ([]outputs, error) {
			lo, hi := span(u)
			if u == 0 && lo == hi {
				out, err := predict(ctx, m, req.Data)
				return []outputs{out}, err
			}
			packed = packed[:0]
			if u == 0 {
				packed = append(packed, req.Data...)
			}
			for i, k := 0, lo; k < hi; i, k = i+1, k+1 {
				if i == len(wss) {
					wss = append(wss, newPermWorkspace(run.rows))
				}
				g, r := (k-1)%G, (k-1)/G
				packed = append(packed, wss[i].permute(run.groups[g], run.permutation(wss[i], g, r))...)
			}
			out, err := predict(ctx, m, packed)
			if err != nil {
				return nil, err
			}
			var outs []outputs
			rows := out.rows
			if u == 0 {
				outs = append(outs, outputs{rows[:N:N], out.width})
				rows = rows[N:]
			}
			for i := range hi - lo {
				outs = append(outs, outputs{rows[i*n : (i+1)*n : (i+1)*n], out.width})
			}
			return outs, nil
		}
	}
	if err := runEvaluations(ctx, "permutation", units, newWorker, collect); err != nil {
		return nil, err
	}
	res := run.result(R)
	if err := res.nonFinite(); err != nil {
		return nil, err
	}
	return res, nil
}

// permutationRun is a validated PermutationRequest, resolved.
type permutationRun struct {
	req          *PermutationRequest
	groups       [][]int
	descriptions []string
	repeats      int
	rows         [][]float64 // the sampled rows (of req.Data)
	full, sub    *scorer     // all rows (baseline), sampled rows
	baseline     float64
	scores       []float64 // s_gr at r·G + g
}

// outputs are the model's scores of one evaluation's rows, checked.
type outputs struct {
	rows  [][]float64
	width int
}

// predict scores rows with m and checks the outputs' shape.
func predict(ctx context.Context, m Model, rows [][]float64) (outputs, error) {
	out, err := m.Predict(ctx, rows)
	if err != nil {
		return outputs{}, err
	}
	if len(out) != len(rows) {
		return outputs{}, fmt.Errorf("explain: model returned %d rows for %d", len(out), len(rows))
	}
	width, err := outputWidth(out)
	return outputs{out, width}, err
}

func (req *PermutationRequest) prepare() (*permutationRun, error) {
	N := len(req.Data)
	if N < 2 {
		return nil, invalid("data", "has %d rows, needs at least 2", N)
	}
	p, err := checkData(req.Data)
	if err != nil {
		return nil, err
	}
	if req.FeatureNames != nil && len(req.FeatureNames) != p {
		return nil, invalid("feature_names", "has %d names for %d features", len(req.FeatureNames), p)
	}
	names := FeatureNames(req.FeatureNames, p)
	run := &permutationRun{req: req}
	if req.Groups == nil {
		for j := range p {
			run.groups = append(run.groups, []int{j})
			run.descriptions = append(run.descriptions, names[j])
		}
	} else {
		if len(req.Groups) == 0 {
			return nil, invalid("groups", "is empty; leave it unset to permute every feature on its own")
		}
		for g, members := range req.Groups {
			if len(members) == 0 {
				return nil, invalid(fmt.Sprintf("groups[%d]", g), "is empty")
			}
			parts := make([]string, len(members))
			for i, j := range members {
				if j < 0 || j >= p {
					return nil, invalid(fmt.Sprintf("groups[%d]", g), "feature %d is out of range [0,%d)", j, p)
				}
				if slices.Contains(members[:i], j) {
					return nil, invalid(fmt.Sprintf("groups[%d]", g), "lists feature %d twice", j)
				}
				parts[i] = names[j]
			}
			run.groups = append(run.groups, members)
			run.descriptions = append(run.descriptions, strings.Join(parts, "+"))
		}
	}
	if len(req.Target) != N {
		return nil, invalid("target", "has %d values for %d rows", len(req.Target), N)
	}
	if run.full, err = newScorer(req.Scoring, req.Target, req.Weights, req.Output, "target", "weights"); err != nil {
		return nil, err
	}

	run.repeats = req.Repeats
	if run.repeats == 0 {
		run.repeats = DefaultRepeats
		if len(req.Permutations) > 0 {
			run.repeats = len(req.Permutations[0])
		}
	}
	if run.repeats < 1 || run.repeats > MaxRepeats {
		return nil, invalid("repeats", "%d is outside [1, %d]", run.repeats, MaxRepeats)
	}

	n, err := resolveMaxSamples(req.MaxSamples, N)
	if err != nil {
		return nil, err
	}
	run.rows, run.sub = req.Data, run.full
	if n < N {
		idx := make([]int, N)
		for i := range idx {
			idx[i] = i
		}
		shuffle(rand.NewPCG(req.Seed, sampleStream), idx, n)
		idx = idx[:n]
		slices.Sort(idx)
		run.rows = make([][]float64, n)
		target := make([]float64, n)
		var weights []float64
		if req.Weights != nil {
			weights = make([]float64, n)
		}
		for i, k := range idx {
			run.rows[i], target[i] = req.Data[k], req.Target[k]
			if weights != nil {
				weights[i] = req.Weights[k]
			}
		}
		// The targets and weights are valid; only what the sample lacks
		// (a class, a positive weight) can fail, and that is max_samples's
		// doing.
		if run.sub, err = newScorer(req.Scoring, target, weights, req.Output, "target", "weights"); err != nil {
			reason := err.Error()
			if re, ok := errors.AsType[*RequestError](err); ok {
				reason = re.Field + " " + re.Reason
			}
			return nil, invalid("max_samples", "the %d sampled rows cannot be scored: %s", n, reason)
		}
	}

	if req.Permutations != nil {
		if err := checkPermutations(req.Permutations, len(run.groups), run.repeats, n); err != nil {
			return nil, err
		}
	}
	return run, nil
}

// checkData checks that rows are rectangular, with at least one feature,
// and finite, and returns the feature count.
func checkData(rows [][]float64) (int, error) {
	p := len(rows[0])
	if p == 0 {
		return 0, invalid("data", "rows have no features")
	}
	for i, row := range rows {
		if len(row) != p {
			return 0, invalid(fmt.Sprintf("data[%d]", i), "has %d features, row 0 has %d", len(row), p)
		}
		for j, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return 0, invalid(fmt.Sprintf("data[%d][%d]", i, j), "non-finite value")
			}
		}
	}
	return p, nil
}

// resolveMaxSamples returns the rows max_samples asks for out of N.
func resolveMaxSamples(ms float64, N int) (int, error) {
	var n int
	switch {
	case ms == 0:
		return N, nil
	case !(ms > 0) || math.IsInf(ms, 0):
		return 0, invalid("max_samples", "must be a fraction in (0, 1] or a row count in [2, %d]", N)
	case ms <= 1:
		n = int(ms * float64(N))
	case ms != math.Trunc(ms) || ms > float64(N):
		return 0, invalid("max_samples", "a row count must be a whole number at most the %d rows", N)
	default:
		n = int(ms)
	}
	if n < 2 {
		return 0, invalid("max_samples", "selects %d rows, needs at least 2", n)
	}
	return n, nil
}

// checkPermutations checks that perms holds, for each of groups groups and
// repeats repeats, a permutation of [0, n).
func checkPermutations(perms [][][]int, groups, repeats, n int) error {
	if len(perms) != groups {
		return invalid("permutations", "has %d groups, want %d", len(perms), groups)
	}
	seen := make([]bool, n)
	for g, byRepeat := range perms {
		if len(byRepeat) != repeats {
			return invalid(fmt.Sprintf("permutations[%d]", g), "has %d repeats, want %d", len(byRepeat), repeats)
		}
		for r, perm := range byRepeat {
			field := fmt.Sprintf("permutations[%d][%d]", g, r)
			if len(perm) != n {
				return invalid(field, "has %d indices for %d rows", len(perm), n)
			}
			clear(seen)
			for _, i := range perm {
				if i < 0 || i >= n || seen[i] {
					return invalid(field, "is not a permutation of [0,%d)", n)
				}
				seen[i] = true
			}
		}
	}
	return nil
}

// Streams of the PCG generators, one per use: the row sample, and one
// per (group, repeat) permutation (permStream).
const sampleStream = 0x73616d706c65 << 16

// permStream is the PCG stream of group g's permutation on repeat r: a
// bijection of (g, r), mixed so that neighbouring streams start far apart.
func permStream(g, r int) uint64 {
	return splitmix64(uint64(g)*MaxRepeats + uint64(r))
}

// splitmix64 is the finaliser of Steele et al.'s SplitMix64, a bijection.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// permutation returns π_gr: the request's, or one drawn into ws.perm.
func (run *permutationRun) permutation(ws *permWorkspace, g, r int) []int {
	if run.req.Permutations != nil {
		return run.req.Permutations[g][r]
	}
	perm := ws.perm
	for i := range perm {
		perm[i] = i
	}
	shuffle(rand.NewPCG(run.req.Seed, permStream(g, r)), perm, len(perm))
	return perm
}

// shuffle puts a uniformly random choice of k of the values of x, in
// random order, in x[:k] (Fisher–Yates; all of x shuffled for k = len(x)).
// It draws from src alone, by a fixed algorithm, so that the same seed
// gives the same permutations on every Go version.
func shuffle(src *rand.PCG, x []int, k int) {
	n := len(x)
	for i := range min(k, n-1) {
		j := i + int(uniform(src, uint64(n-i)))
		x[i], x[j] = x[j], x[i]
	}
}

// uniform returns a uniform integer in [0, n), n > 0, by Lemire's
// multiply-and-reject method.
func uniform(src *rand.PCG, n uint64) uint64 {
	hi, lo := bits.Mul64(src.Uint64(), n)
	if lo < n {
		threshold := -n % n
		for lo < threshold {
			hi, lo = bits.Mul64(src.Uint64(), n)
		}
	}
	return hi
}

// result is the result after the first done repeats.
func (run *permutationRun) result(done int) *Result {
	G := len(run.groups)
	res := &Result{
		Method:        "permutation",
		Scoring:       run.req.Scoring.String(),
		BaselineScore: run.baseline,
		NumSamples:    len(run.req.Data) + G*done*len(run.rows),
		Seed:          run.req.Seed,
	}
	attrs := make([]Attribution, G)
	for g := range attrs {
		values := make([]float64, done)
		for r := range values {
			values[r] = run.baseline - run.scores[r*G+g]
		}
		mean, std := meanStd(values)
		attrs[g] = Attribution{Index: g, Description: run.descriptions[g], Weight: mean, Std: std, Values: values,
			StdErr: stdErrOfMean(values, mean)}
		if run.req.Groups != nil {
			attrs[g].Features = slices.Clone(run.groups[g])
		}
	}
	res.Labels = []LabelResult{{Label: 0, Attributions: attrs}}
	return res
}

// meanStd returns the mean and the population standard deviation (ddof 0)
// of x, computed as numpy's mean and std are: Σx/n, then
// sqrt(Σ(x−mean)²/n).
func meanStd(x []float64) (mean, std float64) {
	if len(x) == 0 {
		return 0, 0
	}
	var s float64
	for _, v := range x {
		s += v
	}
	mean = s / float64(len(x))
	var ss float64
	for _, v := range x {
		d := v - mean
		ss += d * d
	}
	return mean, math.Sqrt(ss / float64(len(x)))
}

// permWorkspace is one evaluation's working copy of the sampled rows: the
// rows with at most one group's columns permuted.
type permWorkspace struct {
	src     [][]float64 // the sampled rows
	rows    [][]float64 // the copy, in one backing array
	applied []int       // the columns permuted in rows, nil for none
	perm    []int       // scratch for drawn permutations
	bufs    [][]float64 // scratch: columns of src
	moves   []colMove   // scratch
}

// permChunk is the number of columns permute moves per pass over the
// rows: 2 covers restoring one feature and permuting the next.
const permChunk = 2

func newPermWorkspace(src [][]float64) *permWorkspace {
	n, p := len(src), len(src[0])
	backing := make([]float64, n*p)
	ws := &permWorkspace{src: src, rows: make([][]float64, n), perm: make([]int, n)}
	for range permChunk {
		ws.bufs = append(ws.bufs, make([]float64, n))
	}
	for i, row := range src {
		// The capacity stops a model that appends to a row from writing
		// into the next one.
		ws.rows[i] = backing[i*p : (i+1)*p : (i+1)*p]
		copy(ws.rows[i], row)
	}
	return ws
}

// permute restores the columns permuted last, then gives the copy's row i
// the values of cols from sampled row perm[i], and returns the copy.
//
// Rows are laid out one after the other, so touching one column touches
// every cache line of the data: the work is memory-bound. Each chunk of
// columns is therefore read from the sampled rows into contiguous
// buffers in one pass and written into the copy, gathered through perm
// from buffers that stay in cache, in a second.
func (ws *permWorkspace) permute(cols, perm []int) [][]float64 {
	moves := ws.moves[:0]
	for _, c := range ws.applied {
		if !slices.Contains(cols, c) {
			moves = append(moves, colMove{c, false})
		}
	}
	for _, c := range cols {
		moves = append(moves, colMove{c, true})
	}
	ws.moves = moves
	for len(moves) > 0 {
		chunk := moves[:min(len(moves), len(ws.bufs))]
		moves = moves[len(chunk):]
		for i, row := range ws.src {
			for b, mv := range chunk {
				ws.bufs[b][i] = row[mv.col]
			}
		}
		for i, dst := range ws.rows {
			for b, mv := range chunk {
				if mv.permuted {
					dst[mv.col] = ws.bufs[b][perm[i]]
				} else {
					dst[mv.col] = ws.bufs[b][i]
				}
			}
		}
	}
	ws.applied = cols
	return ws.rows
}

// colMove is a column permute writes: permuted, or restored as sampled.
type colMove struct {
	col      int
	permuted bool
}
