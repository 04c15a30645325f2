package explain

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Scoring is a score of model outputs against targets, named as
// scikit-learn's scoring strings name them. Higher is better for every
// Scoring: losses are negated, as scikit-learn's neg_ scorers do.
//
// Every score takes sample weights w_i (uniform when none are given) and
// reads the model's outputs s_i (one row of class scores, or of regression
// outputs, per data row) as scikit-learn 1.2's scorer of that name reads an
// estimator's predict / predict_proba; the constants give the formulas.
// Classification targets y_i are class indices (output columns); unlike
// scikit-learn, not every class has to appear among them.
type Scoring int

const (
	// ScoreAccuracy is accuracy_score of the predicted class ŷ_i = argmax_c
	// s_ic (the lowest class on ties, as numpy's argmax):
	// Σ w_i [ŷ_i = y_i] / Σ w_i.
	ScoreAccuracy Scoring = iota
	// ScoreBalancedAccuracy is balanced_accuracy_score of the argmax class:
	// the mean, over the classes c with Σ_{y_i=c} w_i > 0, of the weighted
	// recall Σ_{y_i=c} w_i [ŷ_i = c] / Σ_{y_i=c} w_i.
	ScoreBalancedAccuracy
	// ScoreNegLogLoss is −log_loss with eps = 2⁻⁵² (float64 machine
	// epsilon, scikit-learn 1.2's eps="auto"): −Σ w_i ℓ_i / Σ w_i. With two
	// columns it reads column 1 as P(class 1), as the neg_log_loss scorer
	// passes it for binary targets: p = clip(s_i1, eps, 1−eps) and ℓ_i =
	// −log(p/((1−p)+p)) for y_i = 1, −log((1−p)/((1−p)+p)) for y_i = 0.
	// With more columns every score is clipped to [eps, 1−eps] and the row
	// renormalised: ℓ_i = −log(q_{i,y_i} / Σ_c q_ic), q = clip(s, eps, 1−eps).
	ScoreNegLogLoss
	// ScoreROCAUC is roc_auc_score of column 1 for binary targets 0/1: the
	// area under the weighted ROC curve, ties counted as one half (the
	// trapezoidal curve), which is
	// Σ_{y_i=1, y_k=0} w_i w_k ([s_i1 > s_k1] + ½[s_i1 = s_k1]) / (W₁ W₀).
	ScoreROCAUC
	// ScoreNegMSE is −mean_squared_error of column Output:
	// −Σ w_i (y_i − s_i,out)² / Σ w_i.
	ScoreNegMSE
	// ScoreR2 is r2_score of column Output: 1 − Σ w_i (y_i − s_i,out)² /
	// Σ w_i (y_i − ȳ)², ȳ = Σ w_i y_i / Σ w_i; 1 when both sums are 0 and 0
	// when only the denominator is (scikit-learn's force_finite).
	ScoreR2
)

var scoringNames = [...]string{"accuracy", "balanced_accuracy", "neg_log_loss", "roc_auc", "neg_mean_squared_error", "r2"}

// logLossEps is scikit-learn 1.2's log_loss eps="auto" for float64
// probabilities: np.finfo(np.float64).eps.
const logLossEps = 0x1p-52

// ParseScoring returns the Scoring scikit-learn names s: "accuracy",
// "balanced_accuracy", "neg_log_loss", "roc_auc", "neg_mean_squared_error"
// or "r2".
func ParseScoring(s string) (Scoring, error) {
	for i, name := range scoringNames {
		if s == name {
			return Scoring(i), nil
		}
	}
	return 0, invalid("scoring", "unknown scoring (want %s)", strings.Join(scoringNames[:], ", "))
}

// String returns scikit-learn's name of s.
func (s Scoring) String() string {
	if s.valid() {
		return scoringNames[s]
	}
	return fmt.Sprintf("Scoring(%d)", int(s))
}

func (s Scoring) valid() bool { return s >= 0 && int(s) < len(scoringNames) }

// classification reports whether s scores class predictions (targets are
// class indices) rather than a regression output.
func (s Scoring) classification() bool { return s <= ScoreROCAUC }

// Score scores model outputs against targets: scores holds one row of
// class scores (or regression outputs) per data row, target the true class
// index (classification) or value (regression) of each row, weights the
// sample weights (nil: uniform). Classification scores use the argmax
// class (accuracy, balanced accuracy), the probabilities (log loss) or
// column 1 (ROC AUC, targets 0/1); regression scores use column output.
// Higher is better for every Scoring; see the constants for the formulas.
//
// A request the score cannot take (lengths, non-finite or negative values,
// targets that are not valid for s) is a *RequestError naming the
// argument; so are outputs too narrow for valid arguments (fewer columns
// than the targets' classes, or than 2 for a classification score; no
// column output), with Precondition set. Outputs the score cannot read
// (ragged rows, non-finite scores) are other errors.
// Score modifies none of its arguments.
func Score(s Scoring, scores [][]float64, target, weights []float64, output int) (float64, error) {
	sc, err := newScorer(s, target, weights, output, "target", "weights")
	if err != nil {
		return 0, err
	}
	if len(scores) != len(target) {
		return 0, invalid("scores", "has %d rows for %d targets", len(scores), len(target))
	}
	width, err := outputWidth(scores)
	if err != nil {
		return 0, err
	}
	return sc.score(scores, width)
}

// scorer is a Scoring bound to validated targets and weights, ready to
// score any number of model outputs for them.
type scorer struct {
	kind    Scoring
	target  []float64
	weights []float64 // nil: uniform
	wsum    float64   // Σ w_i (the row count when uniform)
	output  int
	// maxClass is the largest target class (classification).
	maxClass int
	// tss is Σ w_i (y_i − ȳ)² (r2).
	tss float64
	// rocScratch is reused from one score to the next: a scorer scores
	// one output at a time.
	rocScratch [2][]rocPoint
}

// maxClassIndex bounds a classification target: no model has more classes.
const maxClassIndex = 1 << 24

// newScorer validates target, weights and output for kind; targetField and
// weightsField name them in errors.
func newScorer(kind Scoring, target, weights []float64, output int, targetField, weightsField string) (*scorer, error) {
	n := len(target)
	switch {
	case !kind.valid():
		return nil, invalid("scoring", "unknown scoring %d", int(kind))
	case n == 0:
		return nil, invalid(targetField, "is empty")
	case weights != nil && len(weights) != n:
		return nil, invalid(weightsField, "has %d weights for %d targets", len(weights), n)
	case !kind.classification() && output < 0:
		return nil, invalid("output", "must not be negative")
	}
	sc := &scorer{kind: kind, target: target, weights: weights, wsum: float64(n), output: output}
	if weights != nil {
		sc.wsum = 0
		for i, w := range weights {
			if !(w >= 0) || math.IsInf(w, 0) {
				return nil, invalid(fmt.Sprintf("%s[%d]", weightsField, i), "must be finite and not negative")
			}
			sc.wsum += w
		}
		if !(sc.wsum > 0) || math.IsInf(sc.wsum, 0) {
			return nil, invalid(weightsField, "must have a positive, finite sum")
		}
	}
	for i, y := range target {
		if math.IsNaN(y) || math.IsInf(y, 0) {
			return nil, invalid(fmt.Sprintf("%s[%d]", targetField, i), "non-finite value")
		}
		if !kind.classification() {
			continue
		}
		if y < 0 || y != math.Trunc(y) || y >= maxClassIndex {
			return nil, invalid(fmt.Sprintf("%s[%d]", targetField, i), "must be a class index, an integer in [0, %d)", maxClassIndex)
		}
		if kind == ScoreROCAUC && y > 1 {
			return nil, invalid(fmt.Sprintf("%s[%d]", targetField, i), "roc_auc needs binary targets, 0 or 1")
		}
		sc.maxClass = max(sc.maxClass, int(y))
	}
	switch kind {
	case ScoreROCAUC:
		var w [2]float64
		for i, y := range target {
			w[int(y)] += sc.weight(i)
		}
		if !(w[0] > 0 && w[1] > 0) {
			return nil, invalid(targetField, "roc_auc needs both classes, 0 and 1, with positive weight")
		}
	case ScoreR2:
		var s float64
		for i, y := range target {
			s += y * sc.weight(i)
		}
		mean := s / sc.wsum
		for i, y := range target {
			d := y - mean
			sc.tss += sc.weight(i) * (d * d)
		}
	}
	return sc, nil
}

func (sc *scorer) weight(i int) float64 {
	if sc.weights == nil {
		return 1
	}
	return sc.weights[i]
}

// outputWidth checks that every row of a model's outputs has the same,
// positive number of finite scores and returns that number.
func outputWidth(scores [][]float64) (int, error) {
	if len(scores) == 0 {
		return 0, fmt.Errorf("explain: model returned no rows")
	}
	width := len(scores[0])
	if width == 0 {
		return 0, fmt.Errorf("explain: model returned no scores")
	}
	for i, row := range scores {
		if len(row) != width {
			return 0, fmt.Errorf("explain: model returned %d scores in row %d, %d in row 0", len(row), i, width)
		}
		for _, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return 0, fmt.Errorf("explain: model returned a non-finite score in row %d", i)
			}
		}
	}
	return width, nil
}

// score scores outputs already checked by outputWidth (width columns, one
// row per target).
func (sc *scorer) score(scores [][]float64, width int) (float64, error) {
	// The request was valid; what fails here is the model's answer to it.
	if sc.kind.classification() {
		if width < 2 {
			// One column has no argmax to speak of, and no probability of
			// the other class.
			return 0, precondition("scoring", "%s needs at least 2 class scores per row, the model returned %d", sc.kind, width)
		}
		if sc.maxClass >= width {
			return 0, precondition("target", "has %d classes, more than the %d class scores per row the model returned", sc.maxClass+1, width)
		}
	} else if sc.output >= width {
		return 0, precondition("output", "%d is out of range: the model returned %d outputs per row", sc.output, width)
	}
	var s float64
	switch sc.kind {
	case ScoreAccuracy:
		s = sc.accuracy(scores)
	case ScoreBalancedAccuracy:
		s = sc.balancedAccuracy(scores, width)
	case ScoreNegLogLoss:
		s = -sc.logLoss(scores, width)
	case ScoreROCAUC:
		s = sc.rocAUC(scores)
	case ScoreNegMSE:
		s = -sc.sse(scores) / sc.wsum
	default: // ScoreR2
		s = r2(sc.sse(scores), sc.tss)
	}
	if !finite(s) {
		// Regression outputs (or targets) whose squared errors overflow.
		return 0, precondition("scores", "the %s score is not finite: the model's outputs are too large for its sums", sc.kind)
	}
	return s, nil
}

// argmax returns the index of the largest value, the first on ties.
func argmax(row []float64) int {
	best := 0
	for c, v := range row {
		if v > row[best] {
			best = c
		}
	}
	return best
}

func (sc *scorer) accuracy(scores [][]float64) float64 {
	var hit float64
	for i, row := range scores {
		if argmax(row) == int(sc.target[i]) {
			hit += sc.weight(i)
		}
	}
	return hit / sc.wsum
}

func (sc *scorer) balancedAccuracy(scores [][]float64, width int) float64 {
	total := make([]float64, width)
	hit := make([]float64, width)
	for i, row := range scores {
		y, w := int(sc.target[i]), sc.weight(i)
		total[y] += w
		if argmax(row) == y {
			hit[y] += w
		}
	}
	var sum float64
	var classes int
	for c, t := range total {
		if t > 0 {
			sum += hit[c] / t
			classes++
		}
	}
	return sum / float64(classes)
}

// logLoss is scikit-learn 1.2's log_loss as its neg_log_loss scorer calls
// it: column 1 alone for two columns, every column otherwise.
func (sc *scorer) logLoss(scores [][]float64, width int) float64 {
	clip := func(v float64) float64 { return min(max(v, logLossEps), 1-logLossEps) }
	var sum float64
	for i, row := range scores {
		var l float64
		y := int(sc.target[i])
		if width == 2 {
			p := clip(row[1])
			q := 1 - p
			if y == 1 {
				l = -math.Log(p / (q + p))
			} else {
				l = -math.Log(q / (q + p))
			}
		} else {
			var rowSum float64
			for _, v := range row {
				rowSum += clip(v)
			}
			l = -math.Log(clip(row[y]) / rowSum)
		}
		sum += l * sc.weight(i)
	}
	return sum / sc.wsum
}

// rocAUC walks the scores of column 1 from the highest down, one group of
// tied scores at a time, adding the trapezoid each group spans.
func (sc *scorer) rocAUC(scores [][]float64) float64 {
	pts := sc.rocScratch[0][:0]
	for i, row := range scores {
		pts = append(pts, rocPoint{row[1], sc.weight(i), sc.target[i]})
	}
	sc.rocScratch[1] = slices.Grow(sc.rocScratch[1][:0], len(pts))[:len(pts)]
	sc.rocScratch[0] = pts
	pts = sortDescending(pts, sc.rocScratch[1])
	var area, tp, fp float64
	for i := 0; i < len(pts); {
		var dtp, dfp float64
		j := i
		for ; j < len(pts) && pts[j].s == pts[i].s; j++ {
			if pts[j].y == 1 {
				dtp += pts[j].w
			} else {
				dfp += pts[j].w
			}
		}
		area += dfp * (tp + dtp/2)
		tp += dtp
		fp += dfp
		i = j
	}
	return area / (tp * fp)
}

// sortDescending sorts finite pts by s, highest first, and returns them,
// in pts or in tmp (of the same length). It is a least-significant-digit
// radix sort on the bits of s, a byte at a time, skipping the bytes all
// scores share: O(n), where a comparison sort of a large data set is the
// slowest part of scoring.
func sortDescending(pts, tmp []rocPoint) []rocPoint {
	// key orders floats as unsigned integers, highest float first; −0 and
	// +0 get adjacent keys, so ties stay together.
	key := func(s float64) uint64 {
		b := math.Float64bits(s)
		if b>>63 == 1 {
			return b
		}
		return ^b &^ (1 << 63)
	}
	var counts [8][256]int
	for _, p := range pts {
		k := key(p.s)
		for d := range counts {
			counts[d][byte(k>>(8*d))]++
		}
	}
	for d := range counts {
		if slices.Contains(counts[d][:], len(pts)) {
			continue // every key has the same byte d
		}
		offset := 0
		for b, c := range counts[d] {
			counts[d][b] = offset
			offset += c
		}
		for _, p := range pts {
			b := byte(key(p.s) >> (8 * d))
			tmp[counts[d][b]] = p
			counts[d][b]++
		}
		pts, tmp = tmp, pts
	}
	return pts
}

// rocPoint is one row as ROC AUC sees it.
type rocPoint struct{ s, w, y float64 }

// sse is Σ w_i (y_i − s_i,out)².
func (sc *scorer) sse(scores [][]float64) float64 {
	var s float64
	for i, row := range scores {
		d := sc.target[i] - row[sc.output]
		s += sc.weight(i) * (d * d)
	}
	return s
}
