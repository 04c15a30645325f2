package explain

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/explainer-sidecar/explainer/internal/parallel"
	"github.com/explainer-sidecar/explainer/sampler"
)

// Link maps the model's output to the space the Shapley values add up in
// (shap's link).
type Link int

const (
	// LinkIdentity explains the model's scores as they are.
	LinkIdentity Link = iota
	// LinkLogit explains log(p/(1−p)) of the scores (log-odds), applied to
	// each coalition's mean score over the background, as shap does. Every
	// such mean must lie strictly between 0 and 1.
	LinkLogit
)

var linkNames = [...]string{LinkIdentity: "identity", LinkLogit: "logit"}

// ParseLink returns the link shap names s: "identity" or "logit".
func ParseLink(s string) (Link, error) {
	for l, name := range linkNames {
		if s == name {
			return Link(l), nil
		}
	}
	return 0, invalid("link", "unknown link (want identity or logit)")
}

// String returns shap's name of l.
func (l Link) String() string {
	if l >= 0 && int(l) < len(linkNames) {
		return linkNames[l]
	}
	return fmt.Sprintf("Link(%d)", int(l))
}

// apply returns the link of v, as shap's IdentityLink and LogitLink compute it.
func (l Link) apply(v float64) float64 {
	if l == LinkLogit {
		return math.Log(v / (1 - v))
	}
	return v
}

// Limits of a KernelSHAP request.
const (
	// MaxBackgroundRows caps KernelSHAPRequest.Background: each coalition is
	// scored on every background row. Summarise a larger background (a
	// sample, k-means centres) first, as shap advises.
	MaxBackgroundRows = 1000
	// MaxKernelSHAPValues caps the values one explanation sends to the
	// model, (1 + N·(1 + coalitions))·p for N background rows and p
	// features: the instance, the background and one copy of the background
	// per coalition, all held in memory at once (20,000,000 float64 are
	// 160 MB).
	MaxKernelSHAPValues = 20_000_000
	// MaxKernelSHAPPlayers caps the players (groups, or features when there
	// are no groups): the regression's normal equations hold M² values and
	// their factorisation takes M³/3 operations. Group the features of a
	// wider instance.
	MaxKernelSHAPPlayers = 1000
)

// KernelSHAPRequest is one tabular KernelSHAP explanation. Zero values are
// shap's KernelExplainer defaults where shap has one.
type KernelSHAPRequest struct {
	// Instance is the row to explain, in the model's feature order.
	Instance []float64
	// Background holds the rows that stand in for absent features: a
	// player absent from a coalition takes each background row's values in
	// turn. Required: 1 to MaxBackgroundRows rows of len(Instance) values.
	Background [][]float64
	// BackgroundWeights weight the background rows (nil: uniform). They
	// must be finite, non-negative, with a positive sum; they are
	// normalised to sum to 1.
	BackgroundWeights []float64
	// Groups are the players: the features of a group are present or absent
	// together. Nil or empty makes every feature its own player. A feature
	// may be in at most one group; features in no group are always present
	// (taken from the instance, in the base value's rows too). At most
	// MaxKernelSHAPPlayers players.
	Groups [][]int
	// FeatureNames name the features in descriptions; nil gives "x0",
	// "x1", … A group's description is its members' names joined by "+".
	FeatureNames []string
	// Link is the space the attributions add up in (default identity).
	Link Link
	// Sampling sets the coalitions: NumSamples of them are scored, each on
	// every background row. Zero means shap's default, 2M + 2048 for M
	// players that vary; any value is capped at 2^M − 2, where every
	// coalition is enumerated and the Shapley values are exact. 0 to
	// MaxNumSamples, and see MaxKernelSHAPValues. Seed seeds the coalition
	// sampler (unused when every coalition is enumerated).
	Sampling
	// Targets chooses the classes (default the instance's top class).
	Targets
	// BackgroundScores, when not nil, are the model's scores of Background
	// (one row per background row), computed once for many instances over
	// the same background (a batch): the model is then not sent the
	// background again. They apply only when SharesBackground; the result
	// is the same as without them when the model scores a row the same
	// whatever else is in its call, and NumSamples still counts the
	// background rows.
	BackgroundScores [][]float64
}

// MaxRows is the most rows KernelSHAP scores for req, every player
// varying: the instance, the background and a copy of the background per
// coalition. It holds MaxRows × len(Instance) values at once.
func (req *KernelSHAPRequest) MaxRows() int {
	players := playerCount(len(req.Instance), req.Groups)
	return 1 + len(req.Background)*(1+shapBudget(players, req.NumSamples))
}

func playerCount(p int, groups [][]int) int {
	if len(groups) > 0 {
		return len(groups)
	}
	return p
}

// SharesBackground reports whether the rows of req's empty coalition are
// the background rows themselves, whatever the instance: every feature is
// in a player (no groups, or groups that cover every feature). Instances
// over one such background can share its scores (BackgroundScores);
// otherwise the features in no group take each instance's values.
func (req *KernelSHAPRequest) SharesBackground() bool {
	if len(req.Groups) == 0 {
		return true
	}
	in := 0
	for _, g := range req.Groups {
		in += len(g)
	}
	return in == len(req.Instance) // validate: groups are disjoint and in range
}

// KernelSHAP explains the model's prediction for req.Instance with shap's
// KernelExplainer (tabular, interventional) semantics.
//
// The players i = 1…M are req.Groups (or the features). For a coalition
// z ∈ {0,1}^M, row b of the background gives the row h(z, b) with feature f
// taken from the instance x when f's player is in z (or f is in no player)
// and from b otherwise, and the coalition's value is the linked weighted
// mean over the background,
//
//	v(z) = link(Σ_b w_b f(h(z, b))),   Σ_b w_b = 1,
//
// so that v(1) = link(f(x)) (ModelValue) and v(0) = link(E_w f(background))
// (BaseValue). The attributions φ solve shap's constrained weighted least
// squares over the chosen coalitions Z,
//
//	minimise Σ_{z∈Z} π_z (v(z) − v(0) − Σ_i z_i φ_i)²   subject to   Σ_i φ_i = v(1) − v(0),
//
// where π_z is the Shapley kernel weight
//
//	π(z) = (M − 1) / (C(M, |z|) · |z| · (M − |z|)),   0 < |z| < M,
//
// for enumerated coalitions, and the rescaled draw counts for sampled ones
// (see sampler.SampleCoalitions, which chooses Z exactly as shap does). The
// constraint is applied, as in shap, by eliminating the last varying player:
// with X_zj = z_j − z_M and y_z = v(z) − v(0) − z_M (v(1) − v(0)),
// φ_{1…M−1} solve the normal equations (XᵀΠX) φ = XᵀΠy (Cholesky), or, when
// they are singular (fewer distinct coalitions than players, say), the
// minimum-norm least-squares solution (SVD, numpy lstsq's cutoff), and
// φ_M = v(1) − v(0) − Σ_{j<M} φ_j. When Z holds every proper coalition (the
// budget covers 2^M − 2), φ are exactly the Shapley values of v,
//
//	φ_i = Σ_{S ⊆ N∖{i}} |S|! (M − |S| − 1)! / M! · (v(S ∪ {i}) − v(S)).
//
// A player whose features equal the instance's in every background row
// (exactly; shap compares with np.isclose) cannot change any v: it gets 0
// and is left out of the game, so M counts the others. With M = 0 every φ
// is 0; with M = 1 the varying player gets v(1) − v(0).
//
// There is no L1 feature selection: the result is shap's with
// l1_reg=False (shap's default "auto" switches to an AIC lasso selection
// when fewer than 20% of the coalitions are sampled). Unlike shap, values
// below 1e-10 are not rounded to 0, so the attributions add up to
// ModelValue − BaseValue to rounding.
//
// Standard errors. Attribution.StdErr is the heteroskedasticity-robust
// sandwich (HC1) standard error of φ_i from the regression's own residuals
// (no further model calls): with A_zj = √π_z (z_j − z_M) the rescaled
// design of the eliminated problem (k = M − 1 columns, n = |Z| rows),
// e_z = √π_z (y_z − X_z φ) its residuals and G = AᵀA,
//
//	Cov(φ_{1…k}) = G⁻¹ (Σ_z e_z² A_z A_zᵀ) G⁻¹ · n/(n − k),
//
// and the eliminated player's variance is Var(Δ − Σ_{j≤k} φ_j) = 1ᵀCov 1,
// Δ = v(1) − v(0) being known. It treats each coalition's deviation from
// additivity as independent noise. The sampling scheme makes it
// conservative: the enumerated sizes are not random but their residuals
// count, a coalition drawn c times enters as one row of weight ∝ c (c²
// in the meat where independent draws would give c) and complementary
// pairs are drawn together. When every coalition is enumerated the values
// are the exact Shapley values, nothing was sampled, and it is 0 (the
// residuals would measure the model's non-additivity, not an error of the
// estimate). It is also 0 with fewer than 2 varying players, when n ≤ k, and when the normal
// equations are singular (the minimum-norm solution is not identified).
//
// The model is called once, on 1 + N(1 + |Z|) rows: the instance, the
// background (with the features in no group taken from the instance), and N
// rows per coalition (m splits and pipelines them). The result holds, per
// label, one attribution per player in player order, Weight = φ_i. The same
// request, seed and model give the same result.
//
// An invalid request, a budget over MaxKernelSHAPValues and, with the logit
// link, a mean score at 0 or 1 (with Precondition set, as for a label
// beyond the model's classes) give a *RequestError naming the field. The
// model's error is returned as it is (ctx's error when ctx ends first); an
// answer of the wrong shape or with non-finite scores is an error that
// says so.
func KernelSHAP(ctx context.Context, m Model, req KernelSHAPRequest) (*Result, error) {
	if err := req.validate(); err != nil {
		return nil, err
	}
	g := newShapGame(&req)
	n, p, players := len(g.absent), len(g.instance), len(g.varying)

	budget := shapBudget(players, req.NumSamples)
	// The instance, the background and a copy of the background per
	// coalition (budget bounds the coalitions).
	if rows := 1 + n*(1+budget); rows > MaxKernelSHAPValues/p {
		return nil, invalid("num_samples", "%d coalitions × %d background rows × %d features exceed the maximum of %d values; lower num_samples or summarise the background (fewer rows, e.g. k-means centres)",
			budget, n, p, MaxKernelSHAPValues)
	}
	coal, err := shapCoalitions(players, budget, req.Seed)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows := g.rows(coal)
	scores, err := g.score(ctx, m, rows, req.BackgroundScores)
	if err != nil {
		return nil, err
	}
	if err := checkShapScores(scores, len(rows)); err != nil {
		return nil, err
	}
	labels, err := req.Targets.pick(scores[0])
	if err != nil {
		return nil, err
	}

	var solver *shapleySolver
	var y []float64
	if coal != nil {
		if solver, err = newShapleySolver(coal.Masks, coal.Weights, ctx.Err); err != nil {
			return nil, err
		}
		solver.complete = coal.Complete()
		y = make([]float64, len(coal.Masks))
	}
	res := &Result{
		Method:         "kernelshap",
		InstanceScores: append([]float64(nil), scores[0]...),
		NumSamples:     len(rows),
		Seed:           req.Seed,
		Labels:         make([]LabelResult, 0, len(labels)),
	}
	names := FeatureNames(req.FeatureNames, p)
	phi := make([]float64, players)
	se := make([]float64, players)
	for _, label := range labels {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		fx := scores[0][label]
		base := req.Link.apply(g.mean(scores[1:1+n], label))
		full := req.Link.apply(fx)
		if math.IsNaN(base) || math.IsInf(base, 0) || math.IsNaN(full) || math.IsInf(full, 0) {
			return nil, shapLinkErr(req.Link, label)
		}
		switch players {
		case 0:
		case 1:
			phi[0] = full - base
		default:
			for k := range y {
				lo := 1 + n*(1+k)
				v := req.Link.apply(g.mean(scores[lo:lo+n], label))
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return nil, shapLinkErr(req.Link, label)
				}
				y[k] = v - base
			}
			solver.solve(phi, y, full-base)
			if se, err = solver.stdErrs(se, phi, ctx.Err); err != nil {
				return nil, err
			}
		}
		lr := LabelResult{
			Label:        label,
			Prediction:   fx,
			BaseValue:    base,
			ModelValue:   full,
			Attributions: make([]Attribution, len(g.players)),
		}
		for i, members := range g.players {
			a := Attribution{Index: i, Description: shapDescribe(members, names)}
			if len(req.Groups) > 0 {
				a.Features = append([]int(nil), members...)
			}
			lr.Attributions[i] = a
		}
		for v, i := range g.varying {
			lr.Attributions[i].Weight = phi[v]
			lr.Attributions[i].StdErr = se[v]
		}
		res.Labels = append(res.Labels, lr)
	}
	if err := res.nonFinite(); err != nil {
		return nil, err
	}
	return res, nil
}

func shapLinkErr(l Link, label int) error {
	if l != LinkLogit {
		return precondition("scores", "label %d: the mean scores overflow", label)
	}
	return precondition("link", "logit needs the mean scores of label %d strictly between 0 and 1", label)
}

// checkShapScores checks the model's answer: one row per input row, all of the
// same width, every score finite.
func checkShapScores(scores [][]float64, rows int) error {
	if len(scores) != rows {
		return fmt.Errorf("explain: model returned %d rows for %d samples", len(scores), rows)
	}
	classes := len(scores[0])
	for i, row := range scores {
		if len(row) != classes {
			return fmt.Errorf("explain: model returned %d scores in row %d, %d in row 0", len(row), i, classes)
		}
		for _, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("explain: model returned a non-finite score in row %d", i)
			}
		}
	}
	return nil
}

func shapDescribe(members []int, names []string) string {
	if len(members) == 1 {
		return names[members[0]]
	}
	parts := make([]string, len(members))
	for i, f := range members {
		parts[i] = names[f]
	}
	return strings.Join(parts, "+")
}

func (req *KernelSHAPRequest) validate() error {
	p := len(req.Instance)
	n := len(req.Background)
	switch {
	case p == 0:
		return invalid("instance", "must have at least 1 feature")
	case n == 0:
		return invalid("background", "at least 1 row is required")
	case n > MaxBackgroundRows:
		return invalid("background", "has %d rows, more than the maximum of %d; summarise it (a sample or k-means centres)", n, MaxBackgroundRows)
	case req.BackgroundWeights != nil && len(req.BackgroundWeights) != n:
		return invalid("background_weights", "has %d weights for %d background rows", len(req.BackgroundWeights), n)
	case req.FeatureNames != nil && len(req.FeatureNames) != p:
		return invalid("feature_names", "has %d names for %d features", len(req.FeatureNames), p)
	case req.Link != LinkIdentity && req.Link != LinkLogit:
		return invalid("link", "unknown link %d", int(req.Link))
	}
	if err := req.Sampling.Validate(shapMinSamples); err != nil {
		return err
	}
	if req.BackgroundScores != nil && len(req.BackgroundScores) != n {
		return invalid("background_scores", "has %d rows for %d background rows", len(req.BackgroundScores), n)
	}
	if err := req.Targets.Validate(0); err != nil {
		return err
	}
	switch players := len(req.Groups); {
	case players == 0 && p > MaxKernelSHAPPlayers:
		return invalid("instance", "has %d features, more than the maximum of %d players; group them (groups)", p, MaxKernelSHAPPlayers)
	case players > MaxKernelSHAPPlayers:
		return invalid("groups", "has %d groups, more than the maximum of %d players", players, MaxKernelSHAPPlayers)
	}
	for i, v := range req.Instance {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return invalid(fmt.Sprintf("instance[%d]", i), "non-finite value")
		}
	}
	for b, row := range req.Background {
		if len(row) != p {
			return invalid(fmt.Sprintf("background[%d]", b), "has %d features, the instance has %d", len(row), p)
		}
		for f, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return invalid(fmt.Sprintf("background[%d][%d]", b, f), "non-finite value")
			}
		}
	}
	if req.BackgroundWeights != nil {
		sum := 0.0
		for b, w := range req.BackgroundWeights {
			if !(w >= 0) || math.IsInf(w, 1) {
				return invalid(fmt.Sprintf("background_weights[%d]", b), "must be finite and non-negative")
			}
			sum += w
		}
		if !(sum > 0) || math.IsInf(sum, 1) {
			return invalid("background_weights", "must have a positive, finite sum")
		}
	}
	owner := make(map[int]int) // feature → its group
	for gi, group := range req.Groups {
		if len(group) == 0 {
			return invalid(fmt.Sprintf("groups[%d]", gi), "is empty")
		}
		for k, f := range group {
			field := fmt.Sprintf("groups[%d][%d]", gi, k)
			if f < 0 || f >= p {
				return invalid(field, "feature %d is out of range [0,%d)", f, p)
			}
			if prev, ok := owner[f]; ok {
				return invalid(field, "feature %d is already in group %d", f, prev)
			}
			owner[f] = gi
		}
	}
	if req.BackgroundScores != nil && !req.SharesBackground() {
		return invalid("background_scores", "only apply when every feature is in a group: the features in no group take the instance's values in the background's rows")
	}
	return nil
}

// shapGame is the game KernelSHAP explains: which features each player
// moves, and the rows that make up a coalition.
type shapGame struct {
	instance []float64
	// absent[b] is background row b with every feature that is always
	// present (in no player, or in a player that does not vary) taken from
	// the instance: the rows of the empty coalition.
	absent [][]float64
	// weights are the background weights, normalised to sum to 1.
	weights []float64
	// players[i] lists player i's features, in the request's order.
	players [][]int
	// varying lists the players whose features differ from the instance's
	// in some background row, increasing; these are the game's players.
	varying []int
}

func newShapGame(req *KernelSHAPRequest) *shapGame {
	p, n := len(req.Instance), len(req.Background)
	x := req.Instance
	g := &shapGame{instance: x, players: req.Groups}
	if len(g.players) == 0 {
		g.players = make([][]int, p)
		for f := range g.players {
			g.players[f] = []int{f}
		}
	}
	g.weights = make([]float64, n)
	sum := 0.0
	for b := range g.weights {
		w := 1.0
		if req.BackgroundWeights != nil {
			w = req.BackgroundWeights[b]
		}
		g.weights[b] = w
		sum += w
	}
	for b := range g.weights {
		g.weights[b] /= sum
	}

	present := make([]bool, p) // always present
	for f := range present {
		present[f] = true
	}
	for i, members := range g.players {
		varies := false
		for _, f := range members {
			present[f] = false
			for _, row := range req.Background {
				varies = varies || row[f] != x[f]
			}
		}
		if varies {
			g.varying = append(g.varying, i)
		}
	}
	buf := make([]float64, n*p)
	g.absent = make([][]float64, n)
	for b, row := range req.Background {
		r := buf[b*p : (b+1)*p : (b+1)*p]
		for f, v := range row {
			if present[f] {
				v = x[f]
			}
			r[f] = v
		}
		g.absent[b] = r
	}
	return g
}

// rows returns the rows to score: the instance, the empty coalition's rows
// (absent), then for each coalition of coal (nil: none) its len(absent)
// rows. Every row has its own capacity-clipped slice of one backing array.
func (g *shapGame) rows(coal *sampler.Coalitions) [][]float64 {
	p, n := len(g.instance), len(g.absent)
	var masks [][]bool
	if coal != nil {
		masks = coal.Masks
	}
	total := 1 + n*(1+len(masks))
	buf := make([]float64, total*p)
	rows := make([][]float64, total)
	for i := range rows {
		rows[i] = buf[i*p : (i+1)*p : (i+1)*p]
	}
	copy(rows[0], g.instance)
	for b, r := range g.absent {
		copy(rows[1+b], r)
	}
	// Coalitions by blocks of about 2¹⁶ values, on several goroutines when
	// there are many; each row is written by one task, so the rows do not
	// depend on how the work is split.
	per := max(1, (1<<16)/(n*p))
	tasks := (len(masks) + per - 1) / per
	if len(masks)*n*p < minParallelWork {
		per, tasks = len(masks), min(1, len(masks))
	}
	parallel.For(tasks, func(t int) {
		var features []int
		for k := t * per; k < min((t+1)*per, len(masks)); k++ {
			features = g.present(features[:0], masks[k])
			g.fill(rows[1+n*(1+k):1+n*(2+k)], features)
		}
	})
	return rows
}

// score scores rows (g.rows's) with m. With bg, the background's scores,
// the empty coalition's rows are not sent: their scores are bg's.
func (g *shapGame) score(ctx context.Context, m Model, rows, bg [][]float64) ([][]float64, error) {
	if bg == nil {
		return m.Predict(ctx, rows)
	}
	n := len(g.absent)
	send := make([][]float64, 0, len(rows)-n)
	send = append(append(send, rows[0]), rows[1+n:]...)
	got, err := m.Predict(ctx, send)
	if err != nil {
		return nil, err
	}
	if len(got) != len(send) {
		return nil, fmt.Errorf("explain: model returned %d rows for %d samples", len(got), len(send))
	}
	scores := make([][]float64, 0, len(rows))
	scores = append(append(append(scores, got[0]), bg...), got[1:]...)
	return scores, nil
}

// present appends to dst the features of the varying players in mask
// (mask[v] is varying player v).
func (g *shapGame) present(dst []int, mask []bool) []int {
	for v, in := range mask {
		if in {
			dst = append(dst, g.players[g.varying[v]]...)
		}
	}
	return dst
}

// fill writes the coalition whose present features (beyond the always
// present ones) are features into dst, one row per background row.
func (g *shapGame) fill(dst [][]float64, features []int) {
	for b, row := range dst {
		copy(row, g.absent[b])
		for _, f := range features {
			row[f] = g.instance[f]
		}
	}
}

// mean returns the weighted mean Σ_b w_b scores[b][label] over the
// background rows of one coalition.
func (g *shapGame) mean(scores [][]float64, label int) float64 {
	s := 0.0
	for b, w := range g.weights {
		s += w * scores[b][label]
	}
	return s
}
