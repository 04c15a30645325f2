package explain

import (
	"context"
	"fmt"
	"math"

	"github.com/explainer-sidecar/explainer/internal/group"
)

// Limits of an occlusion request.
const (
	// MaxBatchValues bounds the values of the inputs an image estimator
	// (Occlusion, LIMEImage) holds and sends in one Predict call: 1<<24
	// values, 128 MiB of float64. The default batch size is
	// max(1, MaxBatchValues / len(input)).
	MaxBatchValues = 1 << 24
	// MaxOcclusionWindows caps the windows of one occlusion request.
	MaxOcclusionWindows = 1 << 20
)

// OcclusionRequest is one occlusion explanation of an input tensor.
type OcclusionRequest struct {
	// Input is the tensor to explain, flattened row-major over Shape; the
	// model gets it (and each occluded copy) as one row.
	Input []float64
	// Shape is Input's shape, e.g. [H, W, C] for an HWC image, [C, H, W]
	// channels first, [T] for tokens. Required; its product is len(Input).
	Shape []int
	// Window is the occluding window's shape, one extent per dimension,
	// 1 ≤ Window[d] ≤ Shape[d] (Captum's sliding_window_shapes). Use the
	// full extent to occlude all channels together.
	Window []int
	// Strides is the step between windows per dimension (Captum's
	// strides). Nil means 1 in every dimension. A stride that does not
	// divide Shape[d] − Window[d] leaves a last window that the edge crops,
	// as in Captum (see OcclusionWindowCount). Captum refuses a stride
	// larger than the window (unless the window spans the dimension);
	// here it leaves positions that no window covers.
	Strides []int
	// Baseline replaces the occluded values (Captum's scalar baselines).
	// Default 0.
	Baseline float64
	// BaselineInput, when set, replaces the occluded values position by
	// position (a baseline tensor, len(Input) values); Baseline is then
	// ignored.
	BaselineInput []float64
	// Targets are the classes to attribute. Empty means the class with the
	// highest score on Input.
	Targets []int
	// BatchRows is the most inputs sent in one Predict call. Two calls
	// are in flight at once (the next is built and sent while the model
	// answers the last), so 2·BatchRows inputs are held. Default
	// max(1, MaxBatchValues / (2·len(Input))); at most MaxOcclusionWindows.
	BatchRows int
	// Partial, when set, is called on the caller's goroutine after each
	// band of windows (the windows sharing the first dimension's position,
	// i.e. a row of window positions) has been scored, in order, with
	// done windows of total, and the attributions so far:
	// attributions[t][i] is the sum over the scored windows covering i of
	// (score(original) − score(occluded)) for Targets[t], divided by the
	// number of all windows covering i. Positions whose first coordinate is
	// below (band+1)·Strides[0] (all of them after the last band) hold
	// their final value. The slices are fresh copies the callee may keep.
	Partial func(done, total int, attributions [][]float64)
}

// OcclusionResult is an occlusion map.
type OcclusionResult struct {
	// Shape is the input's shape.
	Shape []int
	// Targets are the attributed classes, resolved.
	Targets []int
	// Attributions[t] is the map for Targets[t], len(Input) values:
	// the mean over the windows covering each position of
	// score(original) − score(occluded). A position no window covers (a
	// stride larger than the window skips it; Captum refuses such strides)
	// gets 0; Coverage tells it apart.
	Attributions [][]float64
	// StdErrs[t] is parallel to Attributions[t]: the standard error of each
	// position's mean, the sample standard deviation (ddof 1) of the score
	// drops of the m windows covering the position over √m, 0 where m ≤ 1.
	// The windows are fixed, not sampled, so it measures how much the drops
	// of the covering windows disagree (a large value: the mean hides
	// windows that matter much more than others), as if they were a random
	// sample of windows over the position.
	StdErrs [][]float64
	// Coverage[i] is the number of windows covering position i.
	Coverage []int
	// InstanceScores are the model's scores for Input.
	InstanceScores []float64
	// NumWindows is the number of occluded inputs scored, the product over
	// the dimensions of OcclusionWindowCount; the model scored
	// NumWindows + 1 rows (Input once).
	NumWindows int
}

// Occlusion explains m's scores for req.Input with Captum's Occlusion: a
// window of shape req.Window slides over the input with req.Strides (in
// each dimension d, at the starts j·s_d for j = 0 … ⌈(n_d − w_d)/s_d⌉, the
// last one cropped to the positions below n_d when s_d does not divide
// n_d − w_d; see OcclusionWindowCount), and each window position replaces
// the values it covers by the baseline. Windows are enumerated in
// row-major order of their start positions (Captum enumerates the same
// windows with the first dimension varying fastest). With
// f_t the model's score of target t, x the input and x^(j) the input with
// window j occluded, the attribution of position i is
//
//	A_t(i) = Σ_{j ∋ i} (f_t(x) − f_t(x^(j))) / |{j : j ∋ i}|.
//
// Its standard error (OcclusionResult.StdErrs) is the sample standard
// deviation (ddof 1) of those drops over √m, m = |{j : j ∋ i}|, 0 where
// m ≤ 1; it is accumulated as a sum of squares beside the sums, in the
// same pass over the windows.
//
// The model is called with at most req.BatchRows inputs per Predict call,
// each one flattened row; the first call also carries x itself, scored once.
// Two calls are in flight at once, so that the model (with its own
// batching) never waits while the next inputs are built; their answers are
// taken in order. Row buffers are reused from one call to the next but one,
// so m must not retain the rows it is given (the predictor package's
// clients do not), and must be safe for two concurrent Predict calls.
// Occlusion checks ctx before each call and stops at once when it is done,
// returning an error that wraps ctx.Err(); a failed call cancels the other.
// A panic in m fails the call like an error: Occlusion returns
// "explain: occlusion: " wrapping a *group.PanicError (this module's
// internal/group) with the value and the stack.
// Scores so large that the sums overflow (a map or a standard error that
// would not be finite) give a *RequestError with Precondition set.
func Occlusion(ctx context.Context, m Model, req OcclusionRequest) (*OcclusionResult, error) {
	g, err := req.geometry()
	if err != nil {
		return nil, err
	}
	size := len(req.Input)
	batch := req.BatchRows
	if batch == 0 {
		batch = max(1, MaxBatchValues/(2*size))
	}
	batch = min(batch, g.windows+1)

	// Baseline source: the tensor, or one run of the constant.
	base := req.BaselineInput
	var constRun []float64
	if base == nil {
		constRun = make([]float64, g.window[len(g.window)-1])
		for i := range constRun {
			constRun[i] = req.Baseline
		}
	}
	// Two buffers: the next call's inputs are built in one while the model
	// answers the other. Each is filled with copies of the input when first
	// used, so the second one's copying overlaps the first call.
	var buffers [2][][]float64
	buffer := func(b int) [][]float64 {
		if buffers[b] == nil {
			buffers[b] = make([][]float64, min(batch, g.windows+1))
			for i := range buffers[b] {
				buffers[b][i] = append(make([]float64, 0, size), req.Input...)
			}
		}
		return buffers[b]
	}
	// occlude writes the baseline (restore: the input) over window j in row.
	var occludeScratch windowScratch
	occlude := func(row []float64, j int, restore bool) {
		origin, runs, runLen := g.runsOf(j, &occludeScratch)
		for _, off := range runs {
			o := origin + off
			dst := row[o : o+runLen]
			switch {
			case restore:
				copy(dst, req.Input[o:o+runLen])
			case base != nil:
				copy(dst, base[o:o+runLen])
			default:
				copy(dst, constRun[:runLen])
			}
		}
	}

	var (
		instance []float64
		targets  []int
		sums     [][]float64
		sqs      [][]float64 // Σ (d − shift_t)² per position
		shift    []float64   // per target, window 0's drop
		diffs    []float64
		classes  int
	)
	perBand := g.windows / g.counts[0]

	// A call in flight: its inputs rows[:lead+k] hold windows start..start+k−1
	// (after the image itself when lead is 1).
	type call struct {
		rows        [][]float64
		lead, start int
		k           int
		scores      [][]float64
		err         error
		done        chan struct{}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// send calls the model on a goroutine of its own; a panic there, out
	// of the caller's reach, is recovered into c.err like a failed call.
	send := func(c *call) {
		c.done = make(chan struct{})
		go func() {
			defer close(c.done)
			c.err = group.Do(func() error {
				var err error
				c.scores, err = m.Predict(ctx, c.rows[:c.lead+c.k])
				return err
			})
		}()
	}
	// take waits for c's answer, restores its rows and adds its windows'
	// drops to the sums, in window order.
	var takeScratch windowScratch
	take := func(c *call) error {
		<-c.done
		if c.err != nil {
			return fmt.Errorf("explain: occlusion: %w", c.err)
		}
		scores, lead, k := c.scores, c.lead, c.k
		if len(scores) != lead+k {
			return fmt.Errorf("explain: model returned %d rows for %d inputs", len(scores), lead+k)
		}
		for r := range k {
			occlude(c.rows[lead+r], c.start+r, true)
		}
		if lead == 1 {
			instance = scores[0]
			classes = len(instance)
			var err error
			if targets, err = (Targets{Labels: req.Targets}).pick(instance); err != nil {
				return err
			}
			instance = append([]float64(nil), instance...)
			sums = make([][]float64, len(targets))
			sqs = make([][]float64, len(targets))
			for t := range sums {
				sums[t] = make([]float64, size)
				sqs[t] = make([]float64, size)
			}
			diffs = make([]float64, len(targets))
		}
		for r := range k {
			row := scores[lead+r]
			if len(row) != classes {
				return fmt.Errorf("explain: model returned %d scores for an occluded input, %d for the instance", len(row), classes)
			}
			for t, c := range targets {
				diffs[t] = instance[c] - row[c]
			}
			j := c.start + r
			if j == 0 {
				shift = append([]float64(nil), diffs...)
			}
			origin, runs, runLen := g.runsOf(j, &takeScratch)
			for _, off := range runs {
				o := origin + off
				for t, d := range diffs {
					s := sums[t][o : o+runLen]
					sq := sqs[t][o : o+runLen]
					e := d - shift[t]
					e *= e
					for i := range s {
						s[i] += d
						sq[i] += e
					}
				}
			}
			if req.Partial != nil && (j+1)%perBand == 0 {
				a := g.normalise(sums)
				for _, at := range a {
					if !finite(at...) {
						return errNonFiniteOcclusion()
					}
				}
				req.Partial(j+1, g.windows, a)
			}
		}
		return nil
	}

	var pending *call
	for next, n := 0, 0; next < g.windows || pending != nil; n++ {
		var cur *call
		if next < g.windows {
			if err := ctx.Err(); err != nil {
				if pending != nil {
					<-pending.done
				}
				return nil, fmt.Errorf("explain: occlusion: %w", err)
			}
			// This buffer's last call was taken in the previous round.
			cur = &call{rows: buffer(n % 2), start: next}
			if n == 0 {
				cur.lead = 1 // rows[0] is the unoccluded input
			}
			cur.k = min(len(cur.rows)-cur.lead, g.windows-next)
			for r := range cur.k {
				occlude(cur.rows[cur.lead+r], next+r, false)
			}
			send(cur)
			next += cur.k
		}
		if pending != nil {
			if err := take(pending); err != nil {
				cancel()
				if cur != nil {
					<-cur.done
				}
				return nil, err
			}
		}
		pending = cur
	}
	for t := range sums {
		g.stdErrs(sqs[t], sums[t], shift[t])
		g.divide(sums[t])
		if !finite(sums[t]...) || !finite(sqs[t]...) {
			return nil, errNonFiniteOcclusion()
		}
	}
	return &OcclusionResult{
		Shape:          append([]int(nil), req.Shape...),
		Targets:        targets,
		Attributions:   sums,
		StdErrs:        sqs,
		Coverage:       append([]int(nil), g.coverage()...),
		InstanceScores: instance,
		NumWindows:     g.windows,
	}, nil
}

// OcclusionWindowCount returns the number of positions Occlusion gives a
// window of w values along a dimension of n values with a stride of s, for
// 1 ≤ w ≤ n and s ≥ 1 (0 otherwise): Captum's ⌈(n − w)/s⌉ + 1. The windows
// start at 0, s, 2s, …; when s does not divide n − w the last one starts
// less than w before the end and is cropped there, so that every position
// is covered. Captum refuses s > w (unless w = n); here the count is then
// capped at ⌈n/s⌉, so that every window starts inside the input, and the
// positions between windows are left uncovered.
func OcclusionWindowCount(n, w, s int) int {
	if w < 1 || w > n || s < 1 {
		return 0
	}
	return min((n-w+s-1)/s+1, (n+s-1)/s)
}

// errNonFiniteOcclusion refuses a map whose sums overflow: score drops
// too large (beyond about 1e150, whose squares overflow) for the sums of
// the drops and of their squares.
func errNonFiniteOcclusion() error {
	return precondition("scores", "the occlusion map is not finite: the model's scores are too large for its sums")
}

// occlusionGeometry is the windows' layout over the flat tensor.
type occlusionGeometry struct {
	shape, window, strides []int
	counts                 []int // windows per dimension
	lastExtent             []int // the extent of the last window per dimension, cropped by the edge
	cropped                bool  // some lastExtent is below the window's
	windows                int
	elemStride             []int // row-major strides of the tensor
	runs                   []int // offsets of a whole window's contiguous runs from its origin
	runLen                 int   // a run's length, the window's last extent
	cover                  [][]int
	cov                    []int // coverage, computed once
}

// windowScratch holds the runs of a cropped window (see runsOf).
type windowScratch struct{ ext, runs []int }

func (req *OcclusionRequest) geometry() (*occlusionGeometry, error) {
	d := len(req.Shape)
	if d == 0 {
		return nil, invalid("shape", "must have at least 1 dimension")
	}
	size := 1
	for i, n := range req.Shape {
		if n <= 0 {
			return nil, invalid(fmt.Sprintf("shape[%d]", i), "must be positive")
		}
		if size > math.MaxInt32/n {
			return nil, invalid("shape", "too large")
		}
		size *= n
	}
	if len(req.Input) != size {
		return nil, invalid("input", "has %d values for shape of %d", len(req.Input), size)
	}
	if len(req.Window) != d {
		return nil, invalid("window", "has %d dimensions, the input %d", len(req.Window), d)
	}
	strides := req.Strides
	if strides == nil {
		strides = make([]int, d)
		for i := range strides {
			strides[i] = 1
		}
	} else if len(strides) != d {
		return nil, invalid("strides", "has %d dimensions, the input %d", len(strides), d)
	}
	g := &occlusionGeometry{shape: req.Shape, window: req.Window, strides: strides, counts: make([]int, d), windows: 1}
	for i := range d {
		if req.Window[i] < 1 || req.Window[i] > req.Shape[i] {
			return nil, invalid(fmt.Sprintf("window[%d]", i), "%d is outside [1, %d]", req.Window[i], req.Shape[i])
		}
		if strides[i] < 1 {
			return nil, invalid(fmt.Sprintf("strides[%d]", i), "must be at least 1")
		}
		g.counts[i] = OcclusionWindowCount(req.Shape[i], req.Window[i], strides[i])
		g.windows *= g.counts[i]
		if g.windows > MaxOcclusionWindows {
			return nil, invalid("window", "gives more than %d windows", MaxOcclusionWindows)
		}
	}
	switch {
	case math.IsNaN(req.Baseline) || math.IsInf(req.Baseline, 0):
		return nil, invalid("baseline", "must be finite")
	case req.BaselineInput != nil && len(req.BaselineInput) != size:
		return nil, invalid("baseline_input", "has %d values for an input of %d", len(req.BaselineInput), size)
	case req.BatchRows < 0 || req.BatchRows > MaxOcclusionWindows:
		return nil, invalid("batch_rows", "%d is outside [0, %d]", req.BatchRows, MaxOcclusionWindows)
	}
	for _, vs := range [][]float64{req.Input, req.BaselineInput} {
		for _, v := range vs {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, invalid("input", "non-finite value")
			}
		}
	}
	g.elemStride = make([]int, d)
	s := 1
	for i := d - 1; i >= 0; i-- {
		g.elemStride[i] = s
		s *= req.Shape[i]
	}
	g.runLen = req.Window[d-1]
	g.runs = []int{0}
	for i := d - 2; i >= 0; i-- {
		next := make([]int, 0, len(g.runs)*req.Window[i])
		for k := range req.Window[i] {
			for _, o := range g.runs {
				next = append(next, k*g.elemStride[i]+o)
			}
		}
		g.runs = next
	}
	// cover[d][p]: windows along dimension d covering coordinate p.
	g.cover = make([][]int, d)
	g.lastExtent = make([]int, d)
	for i := range d {
		g.cover[i] = make([]int, req.Shape[i])
		for j := range g.counts[i] {
			for p := j * strides[i]; p < min(j*strides[i]+req.Window[i], req.Shape[i]); p++ {
				g.cover[i][p]++
			}
		}
		g.lastExtent[i] = min(req.Window[i], req.Shape[i]-(g.counts[i]-1)*strides[i])
		g.cropped = g.cropped || g.lastExtent[i] < req.Window[i]
	}
	return g, nil
}

// runsOf returns window j's flat origin, the offsets of its contiguous
// runs from the origin and their length. A window that the edge crops
// gets its runs built in sc; the others share g.runs.
func (g *occlusionGeometry) runsOf(j int, sc *windowScratch) (origin int, runs []int, runLen int) {
	origin = g.origin(j)
	if !g.cropped {
		return origin, g.runs, g.runLen
	}
	d := len(g.counts)
	sc.ext = sc.ext[:0]
	crop := false
	for i := d - 1; i >= 0; i-- {
		e := g.window[i]
		if j%g.counts[i] == g.counts[i]-1 {
			e = g.lastExtent[i]
		}
		crop = crop || e < g.window[i]
		sc.ext = append(sc.ext, e) // reversed: sc.ext[d-1-i] is dimension i's
		j /= g.counts[i]
	}
	if !crop {
		return origin, g.runs, g.runLen
	}
	// The runs in row-major order of their coordinates in dimensions
	// 0 … d−2, as geometry builds g.runs.
	runs = append(sc.runs[:0], 0)
	for i := d - 2; i >= 0; i-- {
		n := len(runs)
		for k := 1; k < sc.ext[d-1-i]; k++ {
			for _, o := range runs[:n] {
				runs = append(runs, k*g.elemStride[i]+o)
			}
		}
	}
	sc.runs = runs
	return origin, runs, sc.ext[0]
}

// origin returns the flat offset of window j's first element.
func (g *occlusionGeometry) origin(j int) int {
	o := 0
	for i := len(g.counts) - 1; i >= 0; i-- {
		o += (j % g.counts[i]) * g.strides[i] * g.elemStride[i]
		j /= g.counts[i]
	}
	return o
}

// coverage returns the number of windows covering each position: the
// product over dimensions of the windows covering its coordinate.
func (g *occlusionGeometry) coverage() []int {
	if g.cov != nil {
		return g.cov
	}
	size := len(g.cover[0]) * g.elemStride[0]
	out := make([]int, size)
	for p := range out {
		c, q := 1, p
		for i := len(g.shape) - 1; i >= 0; i-- {
			c *= g.cover[i][q%g.shape[i]]
			q /= g.shape[i]
		}
		out[p] = c
	}
	g.cov = out
	return out
}

// divide divides sums by the coverage in place (0 where uncovered).
func (g *occlusionGeometry) divide(sums []float64) {
	for p, c := range g.coverage() {
		if c > 0 {
			sums[p] /= float64(c)
		} else {
			sums[p] = 0
		}
	}
}

// normalise returns copies of sums divided by the coverage.
func (g *occlusionGeometry) normalise(sums [][]float64) [][]float64 {
	out := make([][]float64, len(sums))
	for t, s := range sums {
		out[t] = append([]float64(nil), s...)
		g.divide(out[t])
	}
	return out
}

// stdErrs overwrites sq, the sums Σ(d − shift)² of the drops d of the
// windows covering each position, with the standard errors of their means
// (see OcclusionResult.StdErrs), from sums = Σd: with m windows and
// S = Σ(d − shift) = Σd − m·shift, the sample variance is
// (sq − S²/m)/(m − 1). The shift (window 0's drop) keeps the sums of
// squares near the spread of the drops, against cancellation.
func (g *occlusionGeometry) stdErrs(sq, sums []float64, shift float64) {
	for p, c := range g.coverage() {
		if c <= 1 {
			sq[p] = 0
			continue
		}
		m := float64(c)
		s := sums[p] - m*shift
		v := (sq[p] - s*s/m) / (m - 1)
		sq[p] = math.Sqrt(math.Max(0, v) / m)
	}
}
