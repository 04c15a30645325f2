package e2e

import (
	"fmt"
	"slices"
	"testing"

	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// checkAnchor checks what every anchor must satisfy: the explained label
// is the model's prediction, the rule met the threshold with a precision
// of at least 0.95, each predicate's precision and coverage are in [0, 1]
// with coverage not growing as predicates are added, and there is at least
// one example where the rule holds and the model agrees.
func checkAnchor(t *testing.T, exp *explainerv1.Explanation, method string, want int) *explainerv1.Anchor {
	t.Helper()
	if exp.GetMethod() != method || len(exp.GetLabels()) != 1 || int(exp.GetLabels()[0].GetLabel()) != want {
		t.Fatalf("method %q labels %v, want %s of the model's prediction %d", exp.GetMethod(), exp.GetLabels(), method, want)
	}
	a := exp.GetLabels()[0].GetAnchor()
	if a == nil || !a.GetThresholdMet() || a.GetPrecision() < 0.95 || len(a.GetCoveredTrue()) == 0 {
		t.Fatalf("anchor %v: want the threshold met, precision >= 0.95 and examples", a)
	}
	cov := 1.0
	for _, p := range a.GetPredicates() {
		if p.GetPrecision() < 0 || p.GetPrecision() > 1 || p.GetCoverage() > cov+1e-12 {
			t.Errorf("predicate %v: precision outside [0, 1] or coverage above the previous %v", p, cov)
		}
		cov = p.GetCoverage()
	}
	t.Logf("%d predicates, precision %.3f, coverage %.3f; %d samples in %d model calls",
		len(a.GetPredicates()), a.GetPrecision(), a.GetCoverage(), exp.GetNumSamples(), exp.GetModelCalls())
	return a
}

// TestAnchorsTabular explains breast-cancer rows with anchors over the
// training data through predict.v1 (gRPC) and KServe v2 (HTTP): the
// explained class is the model's prediction, and the model server itself
// puts the covered_true examples in that class and the covered_false ones
// in the other.
func TestAnchorsTabular(t *testing.T) {
	t.Parallel()
	tab := loadBreastCancer(t)
	seed := uint64(5)
	req := func(row int, beam uint32, epsilon float64) *explainerv1.ExplainRequest {
		return &explainerv1.ExplainRequest{
			Instance: &explainerv1.Instance{Kind: &explainerv1.Instance_Tabular{Tabular: &explainerv1.TabularInstance{
				Values: tab.Rows[row], FeatureNames: tab.Names,
			}}},
			Method: &explainerv1.ExplainRequest_Anchors{Anchors: &explainerv1.AnchorOptions{
				Seed: &seed, CoverageSamples: 2000, BeamSize: beam, Epsilon: epsilon, Training: dataset(tab, allRows(len(tab.Rows))),
			}},
		}
	}
	check := func(t *testing.T, exp *explainerv1.Explanation, want int, score func([][]float64) [][]float64) {
		a := checkAnchor(t, exp, "anchors", want)
		var rows [][]float64
		for _, e := range slices.Concat(a.GetCoveredTrue(), a.GetCoveredFalse()) {
			rows = append(rows, e.GetValues())
		}
		for i, s := range score(rows) {
			if agrees := argmax(s) == want; agrees != (i < len(a.GetCoveredTrue())) {
				t.Errorf("example %d: the model scores it %v; covered_true has %d examples", i, s, len(a.GetCoveredTrue()))
			}
		}
	}
	t.Run("predict-v1", func(t *testing.T) {
		s := sklearnStack(t)
		direct := predictRows(t, s, tab.Rows[:20])
		for _, row := range []int{0, 19} {
			t.Run(fmt.Sprintf("row %d", row), func(t *testing.T) {
				exp, _ := explainStream(t, s.sidecar.client, req(row, 0, 0))
				checkBatching(t, exp, sklearnMaxBatch)
				check(t, exp, argmax(direct[row]), func(rows [][]float64) [][]float64 { return predictRows(t, s, rows) })
			})
		}
	})
	// Over HTTP, whose server takes 16 rows a call, one row with a narrower
	// search (beam 1, KL-LUCB tolerance 0.3): about 31000 samples, 1900
	// HTTP calls, instead of the default's 106000.
	t.Run("kserve-v2-http", func(t *testing.T) {
		s := getHTTPStack(t)
		direct := s.v1Predict(t, "breast_cancer", [][]float64{tab.Rows[0]})
		for i, row := range []int{0} {
			t.Run(fmt.Sprintf("row %d", row), func(t *testing.T) {
				exp, _ := explainStream(t, s.sidecars["kserve-v2-http"].client, req(row, 1, 0.3))
				checkBatching(t, exp, httpMaxBatch)
				check(t, exp, argmax(direct[i]), func(rows [][]float64) [][]float64 { return s.v1Predict(t, "breast_cancer", rows) })
			})
		}
	})
}

// TestAnchorsText explains the sentiment model's verdict through KServe
// v2 (BYTES): the rule's words are words of the sentence (with their
// spans), and the model server puts every covered_true example (the
// sentence with other words replaced by UNK) in the explained class.
func TestAnchorsText(t *testing.T) {
	t.Parallel()
	s := kserveStack(t)
	seed := uint64(8)
	for _, text := range []string{"the food was wonderful and the staff were friendly", "terrible service and awful food"} {
		t.Run(text, func(t *testing.T) {
			want := argmax(inferTexts(t, s, text)[0])
			exp, _ := explainStream(t, s.sidecar.client, &explainerv1.ExplainRequest{
				Model:    "sentiment",
				Instance: &explainerv1.Instance{Kind: &explainerv1.Instance_Text{Text: &explainerv1.TextInstance{Text: text}}},
				Method:   &explainerv1.ExplainRequest_Anchors{Anchors: &explainerv1.AnchorOptions{Seed: &seed}},
			})
			checkBatching(t, exp, kserveMaxBatch)
			a := checkAnchor(t, exp, "anchors_text", want)
			for _, p := range a.GetPredicates() {
				for _, sp := range p.GetSpans() {
					if text[sp.GetStart():sp.GetEnd()] != p.GetDescription() {
						t.Errorf("predicate %q has span %v", p.GetDescription(), sp)
					}
				}
			}
			var texts []string
			for _, e := range a.GetCoveredTrue() {
				texts = append(texts, e.GetText())
			}
			for i, sc := range inferTexts(t, s, texts...) {
				if argmax(sc) != want {
					t.Errorf("covered_true %q: the model scores it %v", texts[i], sc)
				}
			}
		})
	}
}

// TestAnchorsImage explains digits through KServe v2 over a 4×4 grid: the
// explained class is the model's, the result carries the segment map, and
// every predicate is a segment of it.
func TestAnchorsImage(t *testing.T) {
	t.Parallel()
	s := kserveStack(t)
	digits := loadDigits(t)
	seed := uint64(4)
	for _, d := range digits[:2] {
		t.Run(fmt.Sprintf("digit %d", d.Label), func(t *testing.T) {
			want := argmax(inferImages(t, s, [][]float64{d.Pixels})[0])
			exp, _ := explainStream(t, s.sidecar.client, &explainerv1.ExplainRequest{
				Model:    "digits_cnn",
				Instance: imageInstance(d),
				Method: &explainerv1.ExplainRequest_Anchors{Anchors: &explainerv1.AnchorOptions{
					Segmentation: &explainerv1.Segmentation{Kind: &explainerv1.Segmentation_Grid{Grid: &explainerv1.GridSegmentation{Rows: 4, Cols: 4}}},
					Fill:         &explainerv1.Fill{Kind: explainerv1.FillKind_FILL_KIND_CONSTANT},
					Seed:         &seed,
				}},
			})
			checkBatching(t, exp, kserveMaxBatch)
			a := checkAnchor(t, exp, "anchors_image", want)
			if seg := exp.GetSegments(); seg == nil || len(seg.GetLabels()) != d.Height*d.Width {
				t.Fatalf("segment map %v", seg)
			}
			for _, p := range a.GetPredicates() {
				if p.GetIndex() >= 16 {
					t.Errorf("predicate %v is no segment of the 4×4 grid", p)
				}
			}
		})
	}
}
