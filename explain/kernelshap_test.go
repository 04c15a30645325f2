package explain

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// shapMultiModel scores each row with f (any number of columns) and keeps
// every row it was sent.
type shapMultiModel struct {
	f    func(x []float64) []float64
	mu   sync.Mutex
	seen [][]float64
}

func (m *shapMultiModel) Predict(_ context.Context, rows [][]float64) ([][]float64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([][]float64, len(rows))
	for i, r := range rows {
		out[i] = m.f(r)
		m.seen = append(m.seen, append([]float64(nil), r...))
	}
	return out, nil
}

// bruteShapley returns the Shapley values of the m-player game v (v(S) for
// the bitmask S) by the formula
// φ_i = Σ_{S ∌ i} |S|!(m−|S|−1)!/m! · (v(S∪{i}) − v(S)).
func bruteShapley(m int, v func(s uint) float64) []float64 {
	fact := func(n int) float64 {
		f := 1.0
		for i := 2; i <= n; i++ {
			f *= float64(i)
		}
		return f
	}
	phi := make([]float64, m)
	for i := range m {
		for s := uint(0); s < 1<<m; s++ {
			if s&(1<<i) != 0 {
				continue
			}
			k := 0
			for j := range m {
				if s&(1<<j) != 0 {
					k++
				}
			}
			phi[i] += fact(k) * fact(m-k-1) / fact(m) * (v(s|1<<i) - v(s))
		}
	}
	return phi
}

// shapInterventional returns the brute-force value function of a game whose
// player i moves the features players[i]; features in no player are taken
// from x; the link is applied to the weighted mean of column label.
func shapInterventional(f func([]float64) []float64, x []float64, bg [][]float64, w []float64, players [][]int, label int, link Link) func(s uint) float64 {
	return func(s uint) float64 {
		fromX := make([]bool, len(x))
		for f := range fromX {
			fromX[f] = true
		}
		for i, members := range players {
			for _, f := range members {
				fromX[f] = s&(1<<i) != 0
			}
		}
		var num, den float64
		for b, row := range bg {
			h := make([]float64, len(x))
			for f := range h {
				h[f] = row[f]
				if fromX[f] {
					h[f] = x[f]
				}
			}
			wb := 1.0
			if w != nil {
				wb = w[b]
			}
			num += wb * f(h)[label]
			den += wb
		}
		return link.apply(num / den)
	}
}

func shapTestBackground(seed uint64, n, p int) [][]float64 {
	rng := rand.New(rand.NewPCG(seed, 99))
	bg := make([][]float64, n)
	for b := range bg {
		bg[b] = make([]float64, p)
		for f := range bg[b] {
			bg[b][f] = rng.NormFloat64()
		}
	}
	return bg
}

func TestKernelSHAPGroups(t *testing.T) {
	// Six features: players {0,1,2}, {3}, {4}; feature 5 is in no group, so
	// it is always the instance's. Two outputs with interactions across
	// groups and with feature 5; weighted background.
	f := func(x []float64) []float64 {
		s := x[0]*x[3] + math.Sin(x[1])*x[4] + x[2]*x[2] + x[5]*x[0] - 0.5*x[4]*x[5]
		p := shapSigmoid(s)
		return []float64{1 - p, p}
	}
	x := []float64{0.8, -1.2, 0.5, 1.1, -0.4, 2.0}
	bg := shapTestBackground(1, 7, 6)
	w := []float64{1, 2, 0.5, 3, 1, 0, 1.5}
	groups := [][]int{{0, 1, 2}, {3}, {4}}
	model := &shapMultiModel{f: f}
	res, err := KernelSHAP(context.Background(), model, KernelSHAPRequest{
		Instance: x, Background: bg, BackgroundWeights: w, Groups: groups,
		FeatureNames: []string{"a", "b", "c", "d", "e", "f"},
		Targets:      Targets{TopLabels: 2}, Link: LinkLogit,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range model.seen {
		if row[5] != x[5] {
			t.Fatalf("the model saw feature 5 = %v, want the instance's %v (in no group: always present)", row[5], x[5])
		}
	}
	// 2³ − 2 coalitions on 7 rows, the instance and the background.
	if want := 1 + 7*(1+6); res.NumSamples != want || len(model.seen) != want {
		t.Fatalf("%d rows scored (%d seen), want %d", res.NumSamples, len(model.seen), want)
	}
	if len(res.Labels) != 2 {
		t.Fatalf("%d labels, want 2", len(res.Labels))
	}
	for _, l := range res.Labels {
		v := shapInterventional(f, x, bg, w, groups, l.Label, LinkLogit)
		want := bruteShapley(3, v)
		var wr shapWorst
		wr.check(t, "base value", l.BaseValue, v(0))
		wr.check(t, "model value", l.ModelValue, LinkLogit.apply(f(x)[l.Label]))
		if l.Prediction != res.InstanceScores[l.Label] {
			t.Errorf("prediction %v, instance score %v", l.Prediction, res.InstanceScores[l.Label])
		}
		descriptions := []string{"a+b+c", "d", "e"}
		for i, a := range l.Attributions {
			wr.check(t, "phi", a.Weight, want[i])
			if a.Index != i || !reflect.DeepEqual(a.Features, groups[i]) || a.Description != descriptions[i] {
				t.Errorf("attribution %d: index %d, features %v, description %q", i, a.Index, a.Features, a.Description)
			}
		}
		t.Logf("label %d: shapWorst relative error vs brute force %.2g", l.Label, wr.rel)
	}
	// Label 1 is the top class (p > 0.5); class 0's log-odds are the
	// negatives of class 1's.
	if res.Labels[0].Label != 1 || res.Labels[1].Label != 0 {
		t.Errorf("labels %d, %d; want 1 then 0", res.Labels[0].Label, res.Labels[1].Label)
	}
}

func TestKernelSHAPVaryingPlayers(t *testing.T) {
	f := func(x []float64) []float64 {
		return []float64{x[0]*x[1] + math.Exp(0.3*x[2]) - x[3]*x[0] + x[2]*x[3]}
	}
	bg := shapTestBackground(2, 5, 4)
	tests := []struct {
		name     string
		constant []int // features set equal to the instance in every background row
		groups   [][]int
		coals    int
	}{
		{name: "one feature constant", constant: []int{2}, coals: 1<<3 - 2},
		{name: "two features constant", constant: []int{1, 3}, coals: 1<<2 - 2},
		{name: "one feature varies", constant: []int{0, 1, 3}, coals: 0},
		{name: "nothing varies", constant: []int{0, 1, 2, 3}, coals: 0},
		{name: "a constant group", constant: []int{0, 3}, groups: [][]int{{0, 3}, {1}, {2}}, coals: 1<<2 - 2},
		{name: "a group that varies in one feature", constant: []int{0}, groups: [][]int{{0, 3}, {1}, {2}}, coals: 1<<3 - 2},
	}
	x := []float64{0.7, -0.3, 1.4, 0.9}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := make([][]float64, len(bg))
			for i := range bg {
				b[i] = append([]float64(nil), bg[i]...)
				for _, f := range tt.constant {
					b[i][f] = x[f]
				}
			}
			res, err := KernelSHAP(context.Background(), &shapMultiModel{f: f}, KernelSHAPRequest{Instance: x, Background: b, Groups: tt.groups})
			if err != nil {
				t.Fatal(err)
			}
			if want := 1 + len(b)*(1+tt.coals); res.NumSamples != want {
				t.Errorf("%d rows scored, want %d", res.NumSamples, want)
			}
			players := tt.groups
			if players == nil {
				players = [][]int{{0}, {1}, {2}, {3}}
			}
			// In the full game a player that never changes anything has
			// Shapley value exactly 0 by the formula too.
			v := shapInterventional(f, x, b, nil, players, 0, LinkIdentity)
			want := bruteShapley(len(players), v)
			l := res.Labels[0]
			var wr shapWorst
			sum := 0.0
			for i, a := range l.Attributions {
				wr.check(t, "phi", a.Weight, want[i])
				sum += a.Weight
			}
			for i, members := range players {
				constant := true
				for _, f := range members {
					constant = constant && shapContains(tt.constant, f)
				}
				if constant && l.Attributions[i].Weight != 0 {
					t.Errorf("player %d never varies: φ = %v, want exactly 0", i, l.Attributions[i].Weight)
				}
			}
			if d := sum - (l.ModelValue - l.BaseValue); math.Abs(d) > 1e-12 {
				t.Errorf("Σφ − (model − base) = %g", d)
			}
		})
	}
}

func shapContains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestShapleySolverSingular: with fewer coalitions than unknowns the normal
// equations are singular and the solver falls back to the minimum-norm
// least-squares solution. For one coalition z and k = M − 1 unknowns that
// is φ' = r·y₂/‖r‖², r_j = z_j − z_M and y₂ = y − z_M·Δ (any weight).
func TestShapleySolverSingular(t *testing.T) {
	tests := []struct {
		mask     []bool
		y, delta float64
	}{
		{[]bool{true, false, true, false, false}, 0.7, 2},
		{[]bool{true, false, false, false, true}, -0.4, 1.5},
		{[]bool{false, true, true, true, true}, 3, -1},
	}
	for _, tt := range tests {
		s, _ := newShapleySolver([][]bool{tt.mask}, []float64{0.3}, nil)
		phi := s.solve(make([]float64, len(tt.mask)), []float64{tt.y}, tt.delta)
		k := len(tt.mask) - 1
		zm := shapBit(tt.mask[k])
		y2 := tt.y - zm*tt.delta
		rr := 0.0
		for j := range k {
			r := shapBit(tt.mask[j]) - zm
			rr += r * r
		}
		sum := 0.0
		for j := range k {
			want := (shapBit(tt.mask[j]) - zm) * y2 / rr
			if math.Abs(phi[j]-want) > 1e-14 {
				t.Errorf("mask %v: φ_%d = %v, want %v (minimum norm)", tt.mask, j, phi[j], want)
			}
			sum += phi[j]
		}
		if math.Abs(phi[k]-(tt.delta-sum)) > 1e-15 {
			t.Errorf("mask %v: φ_M = %v, want Δ − Σ = %v", tt.mask, phi[k], tt.delta-sum)
		}
	}
}

// TestKernelSHAPTinyBudgets: budgets too small for a full-rank fit still
// give finite attributions that satisfy the constraint.
func TestKernelSHAPTinyBudgets(t *testing.T) {
	fx := loadShapFixture(t, "exact_shapley_nonlinear_m11")
	for _, samples := range []int{1, 2, 3, 5, 10} {
		for _, link := range []Link{LinkIdentity, LinkLogit} {
			res, err := KernelSHAP(context.Background(), &shapRowModel{f: shapFixtureModels["exact_shapley_nonlinear_m11"]},
				KernelSHAPRequest{Instance: fx.X, Background: fx.Background, Sampling: Sampling{NumSamples: samples, Seed: 3}, Link: link})
			if err != nil {
				t.Fatal(err)
			}
			l := res.Labels[0]
			sum := 0.0
			for _, a := range l.Attributions {
				if math.IsNaN(a.Weight) || math.IsInf(a.Weight, 0) {
					t.Fatalf("%d samples, %v: φ = %v", samples, link, a.Weight)
				}
				sum += a.Weight
			}
			if d := sum - (l.ModelValue - l.BaseValue); math.Abs(d) > 1e-12 {
				t.Errorf("%d samples, %v: Σφ − (model − base) = %g", samples, link, d)
			}
		}
	}
}

func TestKernelSHAPDeterministic(t *testing.T) {
	fx := loadShapFixture(t, "exact_shapley_nonlinear_m11")
	model := &shapRowModel{f: shapFixtureModels["exact_shapley_nonlinear_m11"]}
	req := KernelSHAPRequest{Instance: fx.X, Background: fx.Background, Sampling: Sampling{NumSamples: 300, Seed: 42}}
	a, err := KernelSHAP(context.Background(), model, req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := KernelSHAP(context.Background(), model, req)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed gave different results")
	}
	if a.Seed != 42 || a.Method != "kernelshap" {
		t.Errorf("seed %d, method %q", a.Seed, a.Method)
	}
	req.Seed = 43
	c, err := KernelSHAP(context.Background(), model, req)
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(a.Labels, c.Labels) {
		t.Fatal("different seeds gave identical results")
	}
}

// TestKernelSHAPSameForAnyGOMAXPROCS: the rows of large jobs are built on
// several goroutines; the explanation is the same bits.
func TestKernelSHAPSameForAnyGOMAXPROCS(t *testing.T) {
	fx := loadShapFixture(t, "exact_shapley_nonlinear_m11")
	bg := shapTestBackground(3, 40, fx.M)
	for _, samples := range []int{0, 700} {
		req := KernelSHAPRequest{Instance: fx.X, Background: bg, Sampling: Sampling{NumSamples: samples, Seed: 5}}
		var want *Result
		for _, procs := range []int{1, 2, 7} {
			prev := runtime.GOMAXPROCS(procs)
			got, err := KernelSHAP(context.Background(), &shapRowModel{f: shapFixtureModels["exact_shapley_nonlinear_m11"]}, req)
			runtime.GOMAXPROCS(prev)
			if err != nil {
				t.Fatal(err)
			}
			if want == nil {
				want = got
			} else if !reflect.DeepEqual(got, want) {
				t.Fatalf("samples %d: GOMAXPROCS=%d differs from GOMAXPROCS=1", samples, procs)
			}
		}
	}
}

func TestKernelSHAPDoesNotModifyInputs(t *testing.T) {
	x := []float64{1, 2, 3}
	bg := [][]float64{{0, 0, 0}, {1, -1, 2}}
	w := []float64{2, 1}
	groups := [][]int{{0, 2}}
	xc, bgc, wc, gc := append([]float64(nil), x...), [][]float64{{0, 0, 0}, {1, -1, 2}}, append([]float64(nil), w...), [][]int{{0, 2}}
	res, err := KernelSHAP(context.Background(), &shapMultiModel{f: func(r []float64) []float64 { return []float64{r[0] + r[1]*r[2]} }},
		KernelSHAPRequest{Instance: x, Background: bg, BackgroundWeights: w, Groups: groups})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(x, xc) || !reflect.DeepEqual(bg, bgc) || !reflect.DeepEqual(w, wc) || !reflect.DeepEqual(groups, gc) {
		t.Fatal("inputs modified")
	}
	res.Labels[0].Attributions[0].Features[0] = 99
	if groups[0][0] != 0 {
		t.Fatal("result aliases the request's groups")
	}
}

func TestKernelSHAPLabels(t *testing.T) {
	f := func(x []float64) []float64 {
		return []float64{0.2 + 0.01*x[0], 0.5 - 0.01*x[1], 0.3 - 0.01*x[0] + 0.01*x[1]}
	}
	base := KernelSHAPRequest{Instance: []float64{1, 2}, Background: [][]float64{{0, 0}, {1, 1}}}
	tests := []struct {
		name   string
		labels []int
		top    int
		want   []int
	}{
		{name: "default is the predicted class", want: []int{1}},
		{name: "explicit", labels: []int{2, 0}, want: []int{2, 0}},
		{name: "top labels, highest first", top: 2, want: []int{1, 2}},
		{name: "top labels win over labels", labels: []int{0}, top: 1, want: []int{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := base
			req.Labels, req.TopLabels = tt.labels, tt.top
			res, err := KernelSHAP(context.Background(), &shapMultiModel{f: f}, req)
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, l := range res.Labels {
				got = append(got, l.Label)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("labels %v, want %v", got, tt.want)
			}
		})
	}
}

func TestKernelSHAPRejectsBadRequests(t *testing.T) {
	const secret = 12345.678 // must never appear in a message
	good := func() KernelSHAPRequest {
		return KernelSHAPRequest{
			Instance:   []float64{secret, 2, 3},
			Background: [][]float64{{0, 0, 0}, {1, secret, 1}},
		}
	}
	big := make([][]float64, MaxBackgroundRows+1)
	for i := range big {
		big[i] = []float64{0, 0, 0}
	}
	tests := []struct {
		name  string
		edit  func(*KernelSHAPRequest)
		field string
	}{
		{"empty instance", func(r *KernelSHAPRequest) { r.Instance = nil }, "instance"},
		{"non-finite instance", func(r *KernelSHAPRequest) { r.Instance[1] = math.NaN() }, "instance[1]"},
		{"no background", func(r *KernelSHAPRequest) { r.Background = nil }, "background"},
		{"too many background rows", func(r *KernelSHAPRequest) { r.Background = big }, "background"},
		{"short background row", func(r *KernelSHAPRequest) { r.Background[1] = []float64{1, 2} }, "background[1]"},
		{"non-finite background", func(r *KernelSHAPRequest) { r.Background[0][2] = math.Inf(-1) }, "background[0][2]"},
		{"weights length", func(r *KernelSHAPRequest) { r.BackgroundWeights = []float64{1} }, "background_weights"},
		{"negative weight", func(r *KernelSHAPRequest) { r.BackgroundWeights = []float64{1, -secret} }, "background_weights[1]"},
		{"NaN weight", func(r *KernelSHAPRequest) { r.BackgroundWeights = []float64{math.NaN(), 1} }, "background_weights[0]"},
		{"infinite weight", func(r *KernelSHAPRequest) { r.BackgroundWeights = []float64{math.Inf(1), 1} }, "background_weights[0]"},
		{"zero weights", func(r *KernelSHAPRequest) { r.BackgroundWeights = []float64{0, 0} }, "background_weights"},
		{"group feature out of range", func(r *KernelSHAPRequest) { r.Groups = [][]int{{0, 3}} }, "groups[0][1]"},
		{"negative group feature", func(r *KernelSHAPRequest) { r.Groups = [][]int{{0}, {-1}} }, "groups[1][0]"},
		{"feature in two groups", func(r *KernelSHAPRequest) { r.Groups = [][]int{{0, 1}, {1, 2}} }, "groups[1][0]"},
		{"feature twice in a group", func(r *KernelSHAPRequest) { r.Groups = [][]int{{2, 2}} }, "groups[0][1]"},
		{"empty group", func(r *KernelSHAPRequest) { r.Groups = [][]int{{0}, {}} }, "groups[1]"},
		{"too many features", func(r *KernelSHAPRequest) { r.Instance = make([]float64, MaxKernelSHAPPlayers+1) }, "instance"},
		{"too many groups", func(r *KernelSHAPRequest) {
			r.Instance = make([]float64, MaxKernelSHAPPlayers+1)
			r.Background = [][]float64{make([]float64, MaxKernelSHAPPlayers+1)}
			r.Groups = make([][]int, MaxKernelSHAPPlayers+1)
			for i := range r.Groups {
				r.Groups[i] = []int{i}
			}
		}, "groups"},
		{"feature names length", func(r *KernelSHAPRequest) { r.FeatureNames = []string{"a"} }, "feature_names"},
		{"negative samples", func(r *KernelSHAPRequest) { r.NumSamples = -1 }, "num_samples"},
		{"too many samples", func(r *KernelSHAPRequest) { r.NumSamples = MaxNumSamples + 1 }, "num_samples"},
		{"unknown link", func(r *KernelSHAPRequest) { r.Link = 7 }, "link"},
		{"negative top labels", func(r *KernelSHAPRequest) { r.TopLabels = -1 }, "top_labels"},
		{"negative label", func(r *KernelSHAPRequest) { r.Labels = []int{-1} }, "labels[0]"},
		{"label out of range", func(r *KernelSHAPRequest) { r.Labels = []int{0, 1} }, "labels[1]"},
		{"logit of a certainty", func(r *KernelSHAPRequest) { r.Link = LinkLogit; r.Instance[0] = 1e6 }, "link"},
	}
	// f(x) = σ(x0 − 1): exactly 1.0 when x0 is large.
	model := &shapMultiModel{f: func(x []float64) []float64 { return []float64{shapSigmoid(x[0] - 1)} }}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := good()
			tt.edit(&req)
			_, err := KernelSHAP(context.Background(), model, req)
			var re *RequestError
			if !errors.As(err, &re) || re.Field != tt.field {
				t.Fatalf("err = %v, want a RequestError on field %q", err, tt.field)
			}
			if strings.Contains(err.Error(), "12345") {
				t.Fatalf("message %q contains a data value", err)
			}
		})
	}
}

func TestKernelSHAPValueCap(t *testing.T) {
	// 1000 background rows × 30 features: 667 coalitions fit in 2·10⁷
	// values, the default 2·30 + 2048 do not.
	bg := make([][]float64, MaxBackgroundRows)
	for b := range bg {
		bg[b] = make([]float64, 30)
		bg[b][0] = float64(b)
	}
	inst := make([]float64, 30)
	inst[0] = -1
	for j := 1; j < 30; j++ {
		inst[j] = 1
	}
	model := &shapRowModel{f: func(x []float64) float64 { return x[0] }}
	_, err := KernelSHAP(context.Background(), model, KernelSHAPRequest{Instance: inst, Background: bg})
	var re *RequestError
	if !errors.As(err, &re) || re.Field != "num_samples" || !strings.Contains(re.Reason, "summarise the background") {
		t.Fatalf("err = %v, want a RequestError on num_samples telling to summarise the background", err)
	}
	if model.calls != 0 {
		t.Fatal("the model was called")
	}
	// 1 + 1000·(1 + 665) rows of 30 values fit.
	if _, err := KernelSHAP(context.Background(), model, KernelSHAPRequest{Instance: inst, Background: bg, Sampling: Sampling{NumSamples: 665}}); err != nil {
		t.Fatalf("665 coalitions: %v", err)
	}
}

type shapCountingModel struct {
	Model
	calls int
}

func (m *shapCountingModel) Predict(ctx context.Context, rows [][]float64) ([][]float64, error) {
	m.calls++
	return m.Model.Predict(ctx, rows)
}

func TestKernelSHAPModelFaults(t *testing.T) {
	req := KernelSHAPRequest{Instance: []float64{1, 2}, Background: [][]float64{{0, 0}}}
	down := errors.New("model down")
	tests := []struct {
		name  string
		model Model
		want  error
	}{
		{"error", shapModelFunc(func([][]float64) ([][]float64, error) { return nil, down }), down},
		{"too few rows", shapModelFunc(func(rows [][]float64) ([][]float64, error) { return make([][]float64, len(rows)-1), nil }), nil},
		{"ragged rows", shapModelFunc(func(rows [][]float64) ([][]float64, error) {
			out := make([][]float64, len(rows))
			for i := range out {
				out[i] = make([]float64, 1+i%2)
			}
			return out, nil
		}), nil},
		{"NaN score", shapModelFunc(func(rows [][]float64) ([][]float64, error) {
			out := make([][]float64, len(rows))
			for i := range out {
				out[i] = []float64{float64(i)}
			}
			out[2][0] = math.NaN()
			return out, nil
		}), nil},
		{"no classes", shapModelFunc(func(rows [][]float64) ([][]float64, error) { return make([][]float64, len(rows)), nil }), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := KernelSHAP(context.Background(), tt.model, req)
			var re *RequestError
			if err == nil || errors.As(err, &re) || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("err = %v, want a model error (wrapping %v)", err, tt.want)
			}
		})
	}
}

type shapModelFunc func(rows [][]float64) ([][]float64, error)

func (f shapModelFunc) Predict(_ context.Context, rows [][]float64) ([][]float64, error) {
	return f(rows)
}

// shapBlockingModel blocks until its context is done, as a model server that
// never answers.
type shapBlockingModel struct{ started chan struct{} }

func (m shapBlockingModel) Predict(ctx context.Context, _ [][]float64) ([][]float64, error) {
	close(m.started)
	<-ctx.Done()
	return nil, ctx.Err()
}

func TestKernelSHAPCancel(t *testing.T) {
	req := KernelSHAPRequest{Instance: []float64{1, 2, 3}, Background: [][]float64{{0, 0, 0}, {1, 1, 1}}}
	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		m := shapBlockingModel{started: make(chan struct{})}
		done := make(chan error, 1)
		go func() {
			_, err := KernelSHAP(ctx, m, req)
			done <- err
		}()
		<-m.started
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("KernelSHAP did not return after cancellation")
		}
	})
	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		_, err := KernelSHAP(ctx, shapBlockingModel{started: make(chan struct{})}, req)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want context.DeadlineExceeded", err)
		}
	})
	t.Run("already cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		m := &shapCountingModel{Model: &shapRowModel{f: func([]float64) float64 { return 0 }}}
		_, err := KernelSHAP(ctx, m, req)
		if !errors.Is(err, context.Canceled) || m.calls != 0 {
			t.Fatalf("err = %v after %d calls, want context.Canceled before any", err, m.calls)
		}
	})
}

func TestParseLink(t *testing.T) {
	for _, l := range []Link{LinkIdentity, LinkLogit} {
		got, err := ParseLink(l.String())
		if err != nil || got != l {
			t.Errorf("ParseLink(%q) = %v, %v", l.String(), got, err)
		}
	}
	if _, err := ParseLink("probit"); err == nil {
		t.Error("ParseLink(probit) succeeded")
	}
	if s := Link(9).String(); s != "Link(9)" {
		t.Errorf("Link(9).String() = %q", s)
	}
}

// shapBenchModel is an instant in-process model: a linear score and its
// shapSigmoid, two columns, one allocation for the scores and one for the rows.
type shapBenchModel struct{ w []float64 }

func (m shapBenchModel) Predict(_ context.Context, rows [][]float64) ([][]float64, error) {
	out := make([][]float64, len(rows))
	buf := make([]float64, 2*len(rows))
	for i, r := range rows {
		s := 0.0
		for j, v := range r {
			s += m.w[j] * v
		}
		p := shapSigmoid(s)
		out[i] = buf[2*i : 2*i+2 : 2*i+2]
		out[i][0], out[i][1] = 1-p, p
	}
	return out, nil
}

func BenchmarkKernelSHAP(b *testing.B) {
	// The sidecar's own cost of one explanation: 30 features, 2048
	// coalitions on a 10-row background (20491 rows scored), with an instant
	// in-process model. The model's own time (a 30-term dot product and a
	// shapSigmoid per row) is included.
	const p = 30
	w := make([]float64, p)
	inst := make([]float64, p)
	for j := range w {
		w[j] = float64(j%7-3) / 10
		inst[j] = float64(j) / 10
	}
	bg := shapTestBackground(4, 10, p)
	for _, link := range []Link{LinkIdentity, LinkLogit} {
		b.Run(link.String(), func(b *testing.B) {
			req := KernelSHAPRequest{Instance: inst, Background: bg, Sampling: Sampling{NumSamples: 2048, Seed: 1}, Link: link}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := KernelSHAP(context.Background(), shapBenchModel{w}, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzKernelSHAP builds small requests, valid or not, from the fuzzer's
// bytes: KernelSHAP must not panic, and when it succeeds the attributions
// (one per player) add up to ModelValue − BaseValue.
func FuzzKernelSHAP(f *testing.F) {
	f.Add([]byte{3, 2, 10, 20, 30, 1, 2, 3, 4, 5, 6, 0, 0, 0})
	f.Add([]byte{4, 1, 1, 2, 3, 4, 1, 2, 3, 4, 255, 1, 2, 7})
	f.Add([]byte{2, 3, 0, 0, 9, 9, 0, 0, 1, 0, 3, 1, 0, 200})
	f.Fuzz(func(t *testing.T, data []byte) {
		next, value := fuzzBytes(data)
		p, n := int(next()%5), int(next()%4)
		req := KernelSHAPRequest{Instance: make([]float64, p), Background: make([][]float64, n)}
		for j := range req.Instance {
			req.Instance[j] = value()
		}
		for b := range req.Background {
			req.Background[b] = make([]float64, p)
			for j := range req.Background[b] {
				req.Background[b][j] = value()
			}
		}
		flags := next()
		if flags&1 != 0 {
			req.BackgroundWeights = make([]float64, n)
			for b := range req.BackgroundWeights {
				req.BackgroundWeights[b] = value()
			}
		}
		if flags&2 != 0 {
			for range int(next() % 4) {
				g := make([]int, int(next()%3))
				for i := range g {
					g[i] = int(next()%6) - 1
				}
				req.Groups = append(req.Groups, g)
			}
		}
		if flags&4 != 0 {
			req.Link = LinkLogit
		}
		if flags&8 != 0 {
			req.Labels = []int{int(next()%4) - 1}
		}
		req.NumSamples = int(next()%40) - 1
		req.Seed = uint64(next())
		model := &shapMultiModel{f: func(x []float64) []float64 {
			s := 0.0
			for j, v := range x {
				s += float64(j+1) * v * (1 + 0.1*v)
			}
			q := shapSigmoid(s)
			return []float64{q, 1 - q}
		}}
		res, err := KernelSHAP(context.Background(), model, req)
		if err != nil {
			return
		}
		players := len(req.Groups)
		if players == 0 {
			players = p
		}
		for _, l := range res.Labels {
			if len(l.Attributions) != players {
				t.Fatalf("%d attributions for %d players", len(l.Attributions), players)
			}
			sum := 0.0
			for _, a := range l.Attributions {
				sum += a.Weight
			}
			if d := sum - (l.ModelValue - l.BaseValue); !(math.Abs(d) <= 1e-9*(1+math.Abs(l.ModelValue)+math.Abs(l.BaseValue))) {
				t.Fatalf("Σφ − (model − base) = %g", d)
			}
		}
	})
}
