package server

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/explainer-sidecar/explainer/predictor"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// TestBatchRulesSameAsSingleRequests: anchors (rows and texts) and
// counterfactuals take batches; instance i is the single request with
// seed s + i, bit for bit; no label is picked (anchors explain each
// instance's own prediction, counterfactuals move away from it), so the
// model scores no label pass; and the batch's rows count the instances'.
func TestBatchRulesSameAsSingleRequests(t *testing.T) {
	rows := testRows(4)
	cfRows := make([][]float64, 3)
	for i := range cfRows {
		cfRows[i] = append([]float64(nil), cfInstance...)
		cfRows[i][4] += 0.1 * float64(i) // still class 0
	}
	textBatch := func(req *explainerv1.ExplainRequest, texts []string) *explainerv1.ExplainRequest {
		req.Instance = nil
		req.Batch = &explainerv1.InstanceBatch{Kind: &explainerv1.InstanceBatch_Text{Text: &explainerv1.TextBatch{Texts: texts}}}
		return req
	}
	tests := []struct {
		name   string
		text   bool
		batch  *explainerv1.ExplainRequest
		single func(i int, seed uint64) *explainerv1.ExplainRequest
	}{
		{"anchors of rows", false, toBatch(anchorsRequest(tabularInst(testInstance), nil), rows), func(i int, seed uint64) *explainerv1.ExplainRequest {
			return anchorsRequest(tabularInst(rows[i]), func(o *explainerv1.AnchorOptions) { o.Seed = &seed })
		}},
		{"anchors of texts", true, textBatch(anchorsRequest(textInst("x"), nil), batchTexts[:3]), func(i int, seed uint64) *explainerv1.ExplainRequest {
			return anchorsRequest(textInst(batchTexts[i]), func(o *explainerv1.AnchorOptions) { o.Seed = &seed })
		}},
		{"counterfactuals", false, toBatch(counterfactualRequest(cfInstance, nil), cfRows), func(i int, seed uint64) *explainerv1.ExplainRequest {
			return counterfactualRequest(cfRows[i], func(o *explainerv1.CounterfactualOptions) { o.Seed = &seed })
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var newClient ClientFunc
			var rowsScored func() int
			if tt.text {
				fake, c := textBatchClient(t)
				newClient, rowsScored = c, fake.Rows
			} else {
				fake, c := predictV1Model(t, nil)
				newClient, rowsScored = c, fake.Rows
			}
			sc := startSidecar(t, newClient)
			resp, err := sc.client.Explain(context.Background(), tt.batch)
			if err != nil {
				t.Fatal(err)
			}
			exp := resp.GetExplanation()
			b := exp.GetBatch()
			n := len(b.GetExplanations())
			if b.GetLabelPicked() || b.GetInstances() != uint32(n) || n == 0 {
				t.Fatalf("%d instances, %d explanations, label picked %v", b.GetInstances(), n, b.GetLabelPicked())
			}
			if len(b.GetSummaries()) != 0 {
				t.Errorf("summaries %v: these methods have no attributions to summarise", b.GetSummaries())
			}
			// Every row the model scored is an instance's: no label pass.
			var samples uint64
			for i, e := range b.GetExplanations() {
				samples += e.GetNumSamples()
				if len(e.GetCounterfactuals()) == 0 && (len(e.GetLabels()) == 0 || e.GetLabels()[0].GetAnchor() == nil) {
					t.Errorf("instance %d has neither anchor nor counterfactuals: %v", i, e)
				}
			}
			if got := rowsScored(); uint64(got) != exp.GetNumSamples() || samples != exp.GetNumSamples() {
				t.Errorf("the model scored %d rows, the batch says %d, its instances %d", got, exp.GetNumSamples(), samples)
			}
			checkRuleSummary(t, b, tt.text)
			before := rowsScored()
			for i, got := range b.GetExplanations() {
				want, err := sc.client.Explain(context.Background(), tt.single(i, exp.GetSeed()+uint64(i)))
				if err != nil {
					t.Fatal(err)
				}
				sameExplanation(t, fmt.Sprintf("instance %d", i), got, want.GetExplanation())
			}
			if rowsScored() == before {
				t.Error("the single requests scored nothing")
			}
		})
	}
}

// TestBatchRulesRefusePick: SP-LIME picks instances by their attributions,
// which anchors and counterfactuals do not have.
func TestBatchRulesRefusePick(t *testing.T) {
	_, newClient := predictV1Model(t, nil)
	sc := startSidecar(t, newClient)
	for _, req := range []*explainerv1.ExplainRequest{
		toBatch(anchorsRequest(tabularInst(testInstance), nil), testRows(3)),
		toBatch(counterfactualRequest(cfInstance, nil), testRows(3)),
	} {
		req.Batch.SubmodularPick = 2
		_, err := sc.client.Explain(context.Background(), req)
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "batch.submodular_pick: ") {
			t.Errorf("%T: err = %v, want INVALID_ARGUMENT naming batch.submodular_pick", req.GetMethod(), err)
		}
	}
}

// checkRuleSummary recounts a batch's anchor or counterfactual summary
// from its instances' explanations.
func checkRuleSummary(t *testing.T, b *explainerv1.BatchExplanation, byWord bool) {
	t.Helper()
	counts := map[string]uint32{}
	scaled := map[string]float64{}
	var met, found uint32
	var precision, proximity float64
	for _, e := range b.GetExplanations() {
		seen := map[string]bool{}
		count := func(key string, s float64) {
			if !seen[key] {
				seen[key] = true
				counts[key]++
				scaled[key] += s
			}
		}
		for _, l := range e.GetLabels() {
			a := l.GetAnchor()
			precision += a.GetPrecision()
			if a.GetThresholdMet() {
				met++
			}
			for _, p := range a.GetPredicates() {
				key := fmt.Sprintf("x%d", p.GetIndex())
				if byWord {
					key = p.GetDescription()
				}
				count(key, 0)
			}
		}
		for _, cf := range e.GetCounterfactuals() {
			if cf.GetValid() {
				found++
				proximity += cf.GetProximity()
				for _, c := range cf.GetChanges() {
					count(c.GetFeature(), c.GetScaled())
				}
				break
			}
		}
	}
	n := len(b.GetExplanations())
	var feats []*explainerv1.RuleFeature
	if a := b.GetAnchors(); a != nil {
		feats = a.GetFeatures()
		if a.GetAnchors() != uint32(n) || a.GetThresholdMet() != met || math.Abs(a.GetMeanPrecision()-precision/float64(n)) > 1e-12 {
			t.Errorf("anchors summary %v: want %d anchors, %d met, mean precision %g", a, n, met, precision/float64(n))
		}
	} else if c := b.GetCounterfactuals(); c != nil {
		feats = c.GetFeatures()
		if c.GetSearched() != uint32(n) || c.GetFound() != found || found == 0 || math.Abs(c.GetMeanProximity()-proximity/float64(found)) > 1e-12 {
			t.Errorf("counterfactuals summary %v: want %d searched, %d found, mean proximity %g", c, n, found, proximity/float64(max(found, 1)))
		}
	} else {
		t.Fatal("no anchors or counterfactuals summary")
	}
	if len(feats) != len(counts) || len(feats) == 0 {
		t.Errorf("summary features %v, want %d: %v", feats, len(counts), counts)
	}
	for i, f := range feats {
		if f.GetCount() != counts[f.GetFeature()] || math.Abs(f.GetMeanScaled()-scaled[f.GetFeature()]/float64(f.GetCount())) > 1e-12 {
			t.Errorf("feature %v: want count %d, mean scaled %g", f, counts[f.GetFeature()], scaled[f.GetFeature()]/float64(counts[f.GetFeature()]))
		}
		if i > 0 && f.GetCount() > feats[i-1].GetCount() {
			t.Errorf("features not by decreasing count: %v", feats)
		}
	}
}

// TestCounterfactualBatchSharesTheDataSet: a counterfactual batch loads
// its data set once; each instance's parse then allocates a small part of
// one data set's copy (20 000 rows × 5 features, 800 kB), where a parse
// of the single request (as each instance was parsed before) copies it
// whole.
func TestCounterfactualBatchSharesTheDataSet(t *testing.T) {
	const n = 20_000
	big := make([][]float64, n)
	for i := range big {
		big[i] = []float64{float64(i % 7), float64(i % 11), float64(i % 13), float64(i % 17), float64(i % 19)}
	}
	req := toBatch(counterfactualRequest(cfInstance, func(o *explainerv1.CounterfactualOptions) {
		o.Data = &explainerv1.Dataset{NumRows: n, Values: flat(big)}
	}), [][]float64{cfInstance, cfInstance, cfInstance})
	ctx := context.Background()
	info := predictor.ModelInfo{NumFeatures: 5, NumClasses: 2}
	b, err := loadBatch(ctx, req.GetBatch(), info, nil)
	if err != nil {
		t.Fatal(err)
	}
	in := &parseInput{req: req, info: info, seed: 1, callRows: 64}
	bj, err := counterfactualBatch(ctx, in, b)
	if err != nil {
		t.Fatal(err)
	}
	copyBytes := float64(n * 5 * 8)
	perParse := func(parse func(i int) error) float64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for i := range 3 {
			if err := parse(i); err != nil {
				t.Fatal(err)
			}
		}
		runtime.ReadMemStats(&after)
		return float64(after.TotalAlloc-before.TotalAlloc) / 3
	}
	shared := perParse(func(i int) error { _, err := bj.Instance(ctx, i, nil); return err })
	alone := perParse(func(i int) error {
		_, err := parseCounterfactualJob(ctx, &parseInput{req: singleRequest(req, b.instance(i), uint64(1+i), nil), info: info, seed: uint64(1 + i)})
		return err
	})
	t.Logf("allocated per instance: %.0f bytes in the batch, %.0f parsed alone (the data set: %.0f)", shared, alone, copyBytes)
	if shared > copyBytes/10 || alone < copyBytes {
		t.Errorf("allocated per instance %.0f bytes in the batch, %.0f alone; want under %.0f and over %.0f", shared, alone, copyBytes/10, copyBytes)
	}
}

// TestBatchSkipFailed: with skip_failed, texts without words are left out
// with their error (unary: an empty explanation and a failure; stream: an
// instance event with the error), the others are explained as their single
// requests with seed s + i, and the summary counts only them. Without it
// the first such text ends the batch, naming it.
func TestBatchSkipFailed(t *testing.T) {
	_, newClient := textBatchClient(t)
	sc := startSidecar(t, newClient)
	texts := []string{batchTexts[0], "!!! ...", batchTexts[1], "— ?", batchTexts[2]}
	seed := uint64(9)
	req := func(skip bool) *explainerv1.ExplainRequest {
		return &explainerv1.ExplainRequest{
			Model: "model",
			Batch: &explainerv1.InstanceBatch{Kind: &explainerv1.InstanceBatch_Text{Text: &explainerv1.TextBatch{Texts: texts}}, SkipFailed: skip},
			Method: &explainerv1.ExplainRequest_LimeText{LimeText: &explainerv1.LimeTextOptions{
				NumSamples: 200, NumFeatures: 3, Seed: &seed, Labels: []uint32{1},
			}},
		}
	}
	failed := map[int]bool{1: true, 3: true}

	if _, err := sc.client.Explain(context.Background(), req(false)); status.Code(err) != codes.InvalidArgument ||
		!regexp.MustCompile(`^batch instance [13]: instance.text: has no words`).MatchString(status.Convert(err).Message()) {
		t.Fatalf("without skip_failed: %v, want INVALID_ARGUMENT naming instance 1 or 3 (they run at once)", err)
	}

	resp, err := sc.client.Explain(context.Background(), req(true))
	if err != nil {
		t.Fatal(err)
	}
	b := resp.GetExplanation().GetBatch()
	if len(b.GetExplanations()) != len(texts) || len(b.GetFailures()) != 2 {
		t.Fatalf("%d explanations, failures %v; want %d and instances 1, 3", len(b.GetExplanations()), b.GetFailures(), len(texts))
	}
	for k, f := range b.GetFailures() {
		if want := []uint32{1, 3}[k]; f.GetIndex() != want || f.GetCode() != "INVALID_ARGUMENT" || !strings.Contains(f.GetMessage(), "has no words") ||
			strings.Contains(f.GetMessage(), "batch instance") {
			t.Errorf("failure %d: %v, want instance %d, INVALID_ARGUMENT, no words (the index in its own field)", k, f, want)
		}
	}
	for i, got := range b.GetExplanations() {
		if failed[i] {
			if len(got.GetLabels()) != 0 {
				t.Errorf("instance %d left out, yet explained: %v", i, got)
			}
			continue
		}
		s := seed + uint64(i)
		want, err := sc.client.Explain(context.Background(), &explainerv1.ExplainRequest{
			Model: "model", Instance: textInst(texts[i]),
			Method: &explainerv1.ExplainRequest_LimeText{LimeText: &explainerv1.LimeTextOptions{NumSamples: 200, NumFeatures: 3, Seed: &s, Labels: []uint32{1}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		sameExplanation(t, fmt.Sprintf("instance %d", i), got, want.GetExplanation())
	}
	for _, f := range b.GetSummaries()[0].GetFeatures() {
		if f.GetCount() > 3 {
			t.Errorf("summary feature %q counted in %d instances, 3 were explained", f.GetFeature(), f.GetCount())
		}
	}

	run := runStream(t, context.Background(), sc, req(true))
	if run.code != codes.OK {
		t.Fatalf("stream: %v %s", run.code, run.msg)
	}
	events := map[uint32]*explainerv1.InstanceExplanation{}
	for _, e := range run.instances {
		events[e.GetIndex()] = e
	}
	for i := range texts {
		e := events[uint32(i)]
		switch {
		case e == nil:
			t.Errorf("stream: no event for instance %d", i)
		case failed[i] && (e.GetError().GetCode() != "INVALID_ARGUMENT" || e.GetExplanation() != nil):
			t.Errorf("stream: instance %d: %v, want its error alone", i, e)
		case !failed[i] && (e.GetError() != nil || e.GetExplanation() == nil):
			t.Errorf("stream: instance %d: %v, want its explanation", i, e)
		}
	}
}
