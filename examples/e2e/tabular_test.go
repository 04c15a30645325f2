package e2e

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/explainer-sidecar/explainer/internal/table"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// The breast-cancer model behind the predict.v1 server: scikit-learn's
// StandardScaler + LogisticRegression, classes 0 malignant and 1 benign.

func dataset(tab *table.Table, rows []int) *explainerv1.Dataset {
	d := &explainerv1.Dataset{NumRows: uint32(len(rows)), FeatureNames: tab.Names}
	for _, i := range rows {
		d.Values = append(d.Values, tab.Rows[i]...)
	}
	return d
}

func allRows(n int) []int {
	rows := make([]int, n)
	for i := range rows {
		rows[i] = i
	}
	return rows
}

// borderlineRow is the row the model is least sure about: the test that
// the explained class is the model's own means most there.
func borderlineRow(scores [][]float64) int {
	best := 0
	for i, s := range scores {
		if math.Abs(s[0]-0.5) < math.Abs(scores[best][0]-0.5) {
			best = i
		}
	}
	return best
}

// logOdds of class label against the other class, from both columns so
// that a probability of 1 − 1e-12 keeps its precision.
func logOdds(p []float64, label int) float64 {
	return math.Log(p[label]) - math.Log(p[1-label])
}

// tabularRows are the rows the local methods explain: a clearly malignant
// one, a clearly benign one, and the one nearest the decision boundary.
func tabularRows(scores [][]float64) []struct {
	name string
	row  int
} {
	return []struct {
		name string
		row  int
	}{
		{"malignant row 0", 0},
		{"benign row 19", 19},
		{fmt.Sprintf("borderline row %d", borderlineRow(scores)), borderlineRow(scores)},
	}
}

// TestTabularLIME explains rows with LIME over the training data: the
// explained class is the model's own prediction, the reported scores are the
// model's, and the explanation is faithful to the model: moving the five
// features LIME says push hardest toward the class to their training means
// lowers the model's log-odds of that class, and by more than moving the
// five LIME ranks last.
func TestTabularLIME(t *testing.T) {
	t.Parallel()
	s := sklearnStack(t)
	tab := loadBreastCancer(t)
	scores := predictRows(t, s, tab.Rows)
	means := make([]float64, len(tab.Names))
	for _, r := range tab.Rows {
		for j, v := range r {
			means[j] += v / float64(len(tab.Rows))
		}
	}
	training := &explainerv1.TrainingData{Source: &explainerv1.TrainingData_Dataset{Dataset: dataset(tab, allRows(len(tab.Rows)))}}
	for _, tc := range tabularRows(scores) {
		t.Run(tc.name, func(t *testing.T) {
			x := tab.Rows[tc.row]
			want := argmax(scores[tc.row])
			seed := uint64(7)
			exp, st := explainStream(t, s.sidecar.client, &explainerv1.ExplainRequest{
				Instance: &explainerv1.Instance{Kind: &explainerv1.Instance_Tabular{Tabular: &explainerv1.TabularInstance{
					Values: x, FeatureNames: tab.Names,
				}}},
				// Every feature's weight (selection none), for the model's
				// top label (no labels asked for).
				Method: &explainerv1.ExplainRequest_Lime{Lime: &explainerv1.LimeOptions{
					NumSamples:       1500,
					FeatureSelection: explainerv1.FeatureSelection_FEATURE_SELECTION_NONE,
					Seed:             &seed,
					Training:         training,
				}},
			})
			if st.progress == 0 {
				t.Error("no progress event on the stream")
			}
			checkBatching(t, exp, sklearnMaxBatch)
			if exp.GetMethod() != "lime" || !slices.Equal(exp.GetClassNames(), []string{"malignant", "benign"}) {
				t.Errorf("method %q, class names %q: want lime, [malignant benign] from Describe", exp.GetMethod(), exp.GetClassNames())
			}
			checkScores(t, "instance_scores", exp.GetInstanceScores(), scores[tc.row], 1e-6)
			if len(exp.GetLabels()) != 1 {
				t.Fatalf("%d labels explained, want the top one", len(exp.GetLabels()))
			}
			le := exp.GetLabels()[0]
			if int(le.GetLabel()) != want || math.Abs(le.GetPrediction()-scores[tc.row][want]) > 1e-6 {
				t.Fatalf("explained label %d (prediction %v); the model predicts %d (%v)", le.GetLabel(), le.GetPrediction(), want, scores[tc.row][want])
			}
			atts := le.GetAttributions()
			if len(atts) != len(x) {
				t.Fatalf("%d attributions, want all %d features", len(atts), len(x))
			}
			for i := 1; i < len(atts); i++ {
				if math.Abs(atts[i].GetWeight()) > math.Abs(atts[i-1].GetWeight()) {
					t.Fatalf("attributions not ordered by |weight|: %v then %v", atts[i-1].GetWeight(), atts[i].GetWeight())
				}
			}

			// The faithfulness check, on the model itself.
			var pro []int
			for _, a := range atts {
				if a.GetWeight() > 0 && len(pro) < 5 {
					pro = append(pro, int(a.GetIndex()))
				}
			}
			var last []int
			for _, a := range atts[len(atts)-5:] {
				last = append(last, int(a.GetIndex()))
			}
			moved := func(features []int) []float64 {
				r := slices.Clone(x)
				for _, j := range features {
					r[j] = means[j]
				}
				return r
			}
			got := predictRows(t, s, [][]float64{moved(pro), moved(last)})
			base := logOdds(scores[tc.row], want)
			dropPro, dropLast := base-logOdds(got[0], want), base-logOdds(got[1], want)
			if len(pro) < 5 || dropPro <= 0 || dropPro <= dropLast {
				t.Errorf("moving LIME's top features %v toward the training mean lowers the log-odds of class %d by %.3f, "+
					"moving its last five %v by %.3f: want a positive drop, larger for the top features", pro, want, dropPro, last, dropLast)
			}
			t.Logf("class %d p=%.6f; top features %q; log-odds drop %.2f (top 5) vs %.2f (last 5); %d samples in %d calls",
				want, scores[tc.row][want], atts[0].GetFeature(), dropPro, dropLast, exp.GetNumSamples(), exp.GetModelCalls())
		})
	}
}

// TestTabularKernelSHAP: the Shapley values of a row add up to f(x) −
// E[f(background)], where f(x) and the background's mean are what the model
// server itself returns (identity link), or their log-odds (logit link).
func TestTabularKernelSHAP(t *testing.T) {
	t.Parallel()
	s := sklearnStack(t)
	tab := loadBreastCancer(t)
	scores := predictRows(t, s, tab.Rows)
	// A background of 12 rows spread over the data set (KernelSHAP wants a
	// small summary: every coalition is scored over every row).
	var bg []int
	for i := 0; i < len(tab.Rows); i += len(tab.Rows) / 12 {
		bg = append(bg, i)
	}
	bg = bg[:12]
	rows := tabularRows(scores)
	for _, tc := range []struct {
		name string
		row  int
		link explainerv1.Link
	}{
		{rows[0].name + ", identity", rows[0].row, explainerv1.Link_LINK_IDENTITY},
		{rows[2].name + ", identity", rows[2].row, explainerv1.Link_LINK_IDENTITY},
		{rows[1].name + ", logit", rows[1].row, explainerv1.Link_LINK_LOGIT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := argmax(scores[tc.row])
			seed := uint64(3)
			ctx := ctxTimeout(t)
			resp, err := s.sidecar.client.Explain(ctx, &explainerv1.ExplainRequest{
				Instance: &explainerv1.Instance{Kind: &explainerv1.Instance_Tabular{Tabular: &explainerv1.TabularInstance{
					Values: tab.Rows[tc.row], FeatureNames: tab.Names,
				}}},
				Method: &explainerv1.ExplainRequest_KernelShap{KernelShap: &explainerv1.KernelShapOptions{
					NumSamples: 800,
					Link:       tc.link,
					Background: dataset(tab, bg),
					Seed:       &seed,
				}},
			})
			if err != nil {
				t.Fatal(err)
			}
			exp := resp.GetExplanation()
			checkBatching(t, exp, sklearnMaxBatch)
			checkScores(t, "instance_scores", exp.GetInstanceScores(), scores[tc.row], 1e-6)
			if len(exp.GetLabels()) != 1 || int(exp.GetLabels()[0].GetLabel()) != want {
				t.Fatalf("labels %v, want the model's prediction %d", exp.GetLabels(), want)
			}
			le := exp.GetLabels()[0]
			var phi []float64
			for _, a := range le.GetAttributions() {
				phi = append(phi, a.GetWeight())
			}
			if len(phi) != len(tab.Names) {
				t.Fatalf("%d attributions, want %d", len(phi), len(tab.Names))
			}
			if d := sum(phi) - (le.GetModelValue() - le.GetBaseValue()); math.Abs(d) > 1e-6 {
				t.Errorf("Σφ = %v, model_value − base_value = %v: off by %v", sum(phi), le.GetModelValue()-le.GetBaseValue(), d)
			}
			var meanP float64
			for _, i := range bg {
				meanP += scores[i][want] / float64(len(bg))
			}
			fx, base := scores[tc.row][want], meanP
			if tc.link == explainerv1.Link_LINK_LOGIT {
				// shap's KernelExplainer: the link of the model's output, and
				// the link of the background's mean output.
				fx, base = logOdds(scores[tc.row], want), math.Log(meanP/(1-meanP))
			}
			if math.Abs(le.GetModelValue()-fx) > 1e-6 || math.Abs(le.GetBaseValue()-base) > 1e-6 {
				t.Errorf("model_value %v, base_value %v; from the model server: f(x) %v, E[f(background)] %v",
					le.GetModelValue(), le.GetBaseValue(), fx, base)
			}
		})
	}
}

// TestPermutationImportance streams the data set in chunks: the baseline is
// the model's accuracy as the model server's own predictions give it, and
// the most important features are truly important: permuting them costs
// accuracy.
func TestPermutationImportance(t *testing.T) {
	t.Parallel()
	s := sklearnStack(t)
	tab := loadBreastCancer(t)
	scores := predictRows(t, s, tab.Rows)
	var right int
	for i, sc := range scores {
		if argmax(sc) == int(tab.Target[i]) {
			right++
		}
	}
	accuracy := float64(right) / float64(len(scores))

	const repeats = 2
	seed := uint64(1)
	var chunks []*explainerv1.DataChunk
	for lo := 0; lo < len(tab.Rows); lo += 100 {
		hi := min(lo+100, len(tab.Rows))
		c := &explainerv1.DataChunk{Targets: tab.Target[lo:hi], Last: hi == len(tab.Rows)}
		for _, r := range tab.Rows[lo:hi] {
			c.Values = append(c.Values, r...)
		}
		chunks = append(chunks, c)
	}
	exp, st := explainStream(t, s.sidecar.client, &explainerv1.ExplainRequest{
		Method: &explainerv1.ExplainRequest_Permutation{Permutation: &explainerv1.PermutationOptions{
			Streamed: true,
			Data:     &explainerv1.Dataset{FeatureNames: tab.Names},
			Scoring:  explainerv1.Scoring_SCORING_ACCURACY,
			Repeats:  repeats,
			Seed:     &seed,
		}},
	}, chunks...)
	checkBatching(t, exp, sklearnMaxBatch)
	if want := uint64(len(tab.Rows) * (1 + repeats*len(tab.Names))); exp.GetNumSamples() != want {
		t.Errorf("%d rows scored, want %d (the data, then every feature on every repeat)", exp.GetNumSamples(), want)
	}
	if math.Abs(exp.GetBaselineScore()-accuracy) > 1e-12 {
		t.Errorf("baseline_score %v, the model server's predictions give accuracy %v", exp.GetBaselineScore(), accuracy)
	}
	for _, p := range st.partials {
		if p.GetRepeatsDone() < 1 || p.GetRepeatsDone() > repeats {
			t.Errorf("partial result after %d repeats, want 1 to %d", p.GetRepeatsDone(), repeats)
		}
	}
	if len(exp.GetLabels()) != 1 {
		t.Fatalf("%d label entries, want 1", len(exp.GetLabels()))
	}
	atts := slices.Clone(exp.GetLabels()[0].GetAttributions())
	if len(atts) != len(tab.Names) {
		t.Fatalf("%d importances, want %d", len(atts), len(tab.Names))
	}
	slices.SortFunc(atts, func(a, b *explainerv1.Attribution) int {
		return cmp.Compare(b.GetWeight(), a.GetWeight())
	})
	for _, a := range atts[:3] {
		if a.GetWeight() <= 0 || len(a.GetValues()) != repeats {
			t.Errorf("top feature %q: importance %v over repeats %v, want positive, %d repeats", a.GetFeature(), a.GetWeight(), a.GetValues(), repeats)
		}
	}
	t.Logf("accuracy %.4f; top features %q %.4f, %q %.4f, %q %.4f; %d partial results",
		accuracy, atts[0].GetFeature(), atts[0].GetWeight(), atts[1].GetFeature(), atts[1].GetWeight(), atts[2].GetFeature(), atts[2].GetWeight(), len(st.partials))
}

// TestCancelJob cancels a long job on the stream with CancelJob after its
// first progress event: the job ends CANCELLED long before its last batch
// and the sidecar sends the model server no more batches. It runs alone (not parallel), so
// that the calls the sidecar makes are this job's.
func TestCancelJob(t *testing.T) {
	s := sklearnStack(t)
	tab := loadBreastCancer(t)
	var bg []int
	for i := range 100 {
		bg = append(bg, i*5)
	}
	seed := uint64(1)
	ctx := ctxTimeout(t)
	stream, err := s.sidecar.client.ExplainStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// 5000 coalitions × 100 background rows: 500000 rows, thousands of
	// batches, many seconds of work.
	if err := stream.Send(&explainerv1.ExplainStreamRequest{Kind: &explainerv1.ExplainStreamRequest_Start{Start: &explainerv1.StartJob{
		JobId: "long",
		Request: &explainerv1.ExplainRequest{
			Instance: &explainerv1.Instance{Kind: &explainerv1.Instance_Tabular{Tabular: &explainerv1.TabularInstance{Values: tab.Rows[0]}}},
			Method: &explainerv1.ExplainRequest_KernelShap{KernelShap: &explainerv1.KernelShapOptions{
				NumSamples: 5000, Background: dataset(tab, bg), Seed: &seed,
			}},
		},
	}}}); err != nil {
		t.Fatal(err)
	}
	cancelled := false
	before, calls := s.sidecar.batches.calls.Load(), int64(0)
	for {
		msg, err := stream.Recv()
		if err != nil {
			t.Fatalf("the stream ended: %v", err)
		}
		if p := msg.GetProgress(); p != nil && !cancelled {
			if p.GetSamplesScored() >= p.GetSamplesTotal() {
				t.Fatalf("progress %d/%d: the job is not long enough to cancel", p.GetSamplesScored(), p.GetSamplesTotal())
			}
			cancelled = true
			if err := stream.Send(&explainerv1.ExplainStreamRequest{Kind: &explainerv1.ExplainStreamRequest_Cancel{
				Cancel: &explainerv1.CancelJob{JobId: "long"},
			}}); err != nil {
				t.Fatal(err)
			}
		}
		if msg.GetResult() != nil {
			t.Fatal("the job finished: want it cancelled")
		}
		if e := msg.GetError(); e != nil {
			if codes.Code(e.GetCode()) != codes.Canceled || !cancelled {
				t.Fatalf("job error %d %q, want CANCELLED after the cancel", e.GetCode(), e.GetMessage())
			}
			// A job ends once every model call it made has returned.
			calls = s.sidecar.batches.calls.Load()
			if n := s.sidecar.batches.inFlight.Load(); n != 0 {
				t.Errorf("%d model calls still in progress when the job ended", n)
			}
			break
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Errorf("after the job: %v, want the stream to end cleanly", err)
	}
	// The stream's handler has returned with the job's goroutines: no
	// call can start any more, and none started since the job ended.
	if now := s.sidecar.batches.calls.Load(); now != calls {
		t.Errorf("the sidecar made %d more model calls after the job was cancelled", now-calls)
	}
	if total := int64(500001 / sklearnMaxBatch); calls-before >= total/2 {
		t.Errorf("the job made %d of its %d model calls: the cancel did not stop it early", calls-before, total)
	}
	t.Logf("cancelled after %d of about %d model calls", calls-before, 500001/sklearnMaxBatch)
}
