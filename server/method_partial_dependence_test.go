package server

import (
	"context"
	"io"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/explainer-sidecar/explainer/predictor"
	"github.com/explainer-sidecar/explainer/predictor/predictortest"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

var pdNames = []string{"a", "b", "c", "d", "e"}

func pdRequest(rows [][]float64, streamed bool, edit func(*explainerv1.PartialDependenceOptions)) *explainerv1.ExplainRequest {
	o := &explainerv1.PartialDependenceOptions{GridResolution: 7, Kind: explainerv1.PdpKind_PDP_KIND_BOTH}
	if streamed {
		o.Streamed, o.Data = true, &explainerv1.Dataset{FeatureNames: pdNames}
	} else {
		o.Data = &explainerv1.Dataset{NumRows: uint32(len(rows)), Values: flat(rows), FeatureNames: pdNames}
	}
	if edit != nil {
		edit(o)
	}
	return &explainerv1.ExplainRequest{Model: "model", Method: &explainerv1.ExplainRequest_PartialDependence{PartialDependence: o}}
}

func aleRequest(rows [][]float64, streamed bool, edit func(*explainerv1.AleOptions)) *explainerv1.ExplainRequest {
	o := &explainerv1.AleOptions{Bins: 6}
	if streamed {
		o.Streamed, o.Data = true, &explainerv1.Dataset{FeatureNames: pdNames}
	} else {
		o.Data = &explainerv1.Dataset{NumRows: uint32(len(rows)), Values: flat(rows), FeatureNames: pdNames}
	}
	if edit != nil {
		edit(o)
	}
	return &explainerv1.ExplainRequest{Model: "model", Method: &explainerv1.ExplainRequest_Ale{Ale: o}}
}

// streamWithData runs req on ExplainStream with rows sent in chunks of 64
// and returns the partial results and the final result.
func streamWithData(t *testing.T, sc *sidecar, req *explainerv1.ExplainRequest, rows [][]float64) ([]*explainerv1.Explanation, *explainerv1.Explanation) {
	t.Helper()
	stream, err := sc.client.ExplainStream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(startJob("j", req)); err != nil {
		t.Fatal(err)
	}
	for lo := 0; lo < len(rows); lo += 64 {
		hi := min(lo+64, len(rows))
		if err := stream.Send(dataChunk("j", rows[lo:hi], nil, hi == len(rows))); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	var partials []*explainerv1.Explanation
	var result *explainerv1.Explanation
	for {
		msg, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch ev := msg.GetEvent().(type) {
		case *explainerv1.ExplainStreamResponse_Partial:
			partials = append(partials, ev.Partial)
		case *explainerv1.ExplainStreamResponse_Result:
			result = ev.Result
		case *explainerv1.ExplainStreamResponse_Error:
			t.Fatalf("job failed: %v", ev.Error)
		}
	}
	if result == nil {
		t.Fatal("no result")
	}
	return partials, result
}

// TestPartialDependenceStreamed: a linear model's partial dependence at v
// is b + w_j v + Σ_{k≠j} w_k mean(x_k) (to 1e-9), every ICE curve is
// linear with slope w_j; the data streamed in chunks give the inline
// result; partial results count the finished features (1 or 2 of 3, in
// order, each holding that many curves); names come from the data set.
func TestPartialDependenceStreamed(t *testing.T) {
	w := []float64{2, -1, 0.5, 0, 3}
	fake := predictortest.NewPredictServer(linearScore(w, 1))
	fake.NumFeatures, fake.MaxBatchSize = testFeatures, 16
	ts := predictortest.NewBufconnServer(fake)
	defer ts.Close()
	sc := startSidecar(t, func(m string) predictor.Client { return predictor.NewPredictV1(ts.Conn, m) })
	rows := trainingRows()[:150]
	edit := func(o *explainerv1.PartialDependenceOptions) {
		o.Features = []*explainerv1.PdpFeatures{{Features: []uint32{0}}, {Features: []uint32{3, 1}}, {Features: []uint32{4}}}
	}
	inline, err := sc.client.Explain(context.Background(), pdRequest(rows, false, edit))
	if err != nil {
		t.Fatal(err)
	}
	partials, result := streamWithData(t, sc, pdRequest(nil, true, edit), rows)
	if !proto.Equal(result.GetLabels()[0], inline.GetExplanation().GetLabels()[0]) {
		t.Error("streamed and inline results differ")
	}
	if result.GetMethod() != "partial_dependence" || result.GetNumSamples() != 150*(7+49+7) {
		t.Errorf("method %q, %d samples", result.GetMethod(), result.GetNumSamples())
	}
	t.Logf("%d partial results", len(partials))
	if len(partials) == 0 {
		t.Error("no partial result (the stream coalesces them, but the first is always sent)")
	}
	last := uint32(0)
	for _, p := range partials {
		done := p.GetFeaturesDone()
		if done <= last || done >= 3 || p.GetFeaturesTotal() != 3 || len(p.GetLabels()[0].GetPartialDependence()) != int(done) {
			t.Errorf("partial: %d of %d features, %d curves", done, p.GetFeaturesTotal(), len(p.GetLabels()[0].GetPartialDependence()))
		}
		last = done
	}
	means := make([]float64, len(w))
	for _, r := range rows {
		for j, v := range r {
			means[j] += v / float64(len(rows))
		}
	}
	pds := result.GetLabels()[0].GetPartialDependence()
	if len(pds) != 3 || pds[1].GetFeature() != "d" || pds[1].GetSecondFeature() != "b" || pds[1].GetSecondFeatureIndex() != 1 || pds[2].GetFeature() != "e" {
		t.Fatalf("curves %v", pds)
	}
	for _, pd := range pds {
		j := int(pd.GetFeatureIndex())
		second := -1
		if pd.SecondFeatureIndex != nil {
			second = int(pd.GetSecondFeatureIndex())
		}
		n2 := max(1, len(pd.GetSecondGrid()))
		for g, avg := range pd.GetAverage() {
			want := 1.0
			for k := range w {
				switch k {
				case j:
					want += w[k] * pd.GetGrid()[g/n2]
				case second:
					want += w[k] * pd.GetSecondGrid()[g%n2]
				default:
					want += w[k] * means[k]
				}
			}
			if math.Abs(avg-want) > 1e-9 {
				t.Errorf("feature %d point %d: average %v, want %v", j, g, avg, want)
			}
		}
		if len(pd.GetIndividual()) != len(rows) {
			t.Fatalf("%d ICE curves", len(pd.GetIndividual()))
		}
		if second < 0 {
			c := pd.GetIndividual()[5].GetValues()
			slope := (c[len(c)-1] - c[0]) / (pd.GetGrid()[len(c)-1] - pd.GetGrid()[0])
			if math.Abs(slope-w[j]) > 1e-9 {
				t.Errorf("feature %d: ICE slope %v, want %v", j, slope, w[j])
			}
		}
	}
}

// TestALEStreamed: a linear model's ALE effects rise by w_j (z_k − z_{k−1})
// per non-empty bin, with zero standard errors; the constant is the mean
// prediction; streamed equals inline; partials count finished features.
func TestALEStreamed(t *testing.T) {
	w := []float64{2, -1, 0.5, 0, 3}
	fake := predictortest.NewPredictServer(linearScore(w, 1))
	fake.NumFeatures, fake.MaxBatchSize = testFeatures, 16
	ts := predictortest.NewBufconnServer(fake)
	defer ts.Close()
	sc := startSidecar(t, func(m string) predictor.Client { return predictor.NewPredictV1(ts.Conn, m) })
	rows := trainingRows()[:150]
	inline, err := sc.client.Explain(context.Background(), aleRequest(rows, false, nil))
	if err != nil {
		t.Fatal(err)
	}
	partials, result := streamWithData(t, sc, aleRequest(nil, true, nil), rows)
	if !proto.Equal(result.GetLabels()[0], inline.GetExplanation().GetLabels()[0]) {
		t.Error("streamed and inline results differ")
	}
	t.Logf("%d partial results", len(partials))
	for _, p := range partials {
		if p.GetFeaturesTotal() != 5 || len(p.GetLabels()[0].GetAccumulatedLocalEffects()) != int(p.GetFeaturesDone()) {
			t.Errorf("partial: %d of %d features", p.GetFeaturesDone(), p.GetFeaturesTotal())
		}
	}
	var mean float64
	for _, r := range rows {
		s := 1.0
		for j, v := range r {
			s += w[j] * v
		}
		mean += s / float64(len(rows))
	}
	ales := result.GetLabels()[0].GetAccumulatedLocalEffects()
	if len(ales) != 5 || ales[2].GetFeature() != "c" {
		t.Fatalf("%d curves", len(ales))
	}
	for _, a := range ales {
		j := a.GetFeatureIndex()
		if math.Abs(a.GetConstant()-mean) > 1e-9 {
			t.Errorf("feature %d: constant %v, want %v", j, a.GetConstant(), mean)
		}
		e, z := a.GetEffects(), a.GetEdges()
		for k := 1; k < len(z); k++ {
			want := 0.0
			if a.GetBinCounts()[k-1] > 0 {
				want = w[j] * (z[k] - z[k-1])
			}
			if math.Abs(e[k]-e[k-1]-want) > 1e-9 || a.GetStdErrors()[k] > 1e-9 {
				t.Errorf("feature %d bin %d: rise %v ± %v, want %v", j, k, e[k]-e[k-1], a.GetStdErrors()[k], want)
			}
		}
	}
}

// TestPartialDependenceCancel: a cancelled job stops sending batches and
// ends CANCELLED with no call in progress, for both methods.
func TestPartialDependenceCancel(t *testing.T) {
	rows := trainingRows()
	for _, req := range []*explainerv1.ExplainRequest{pdRequest(rows, false, nil), aleRequest(rows, false, nil)} {
		fake, newClient := predictV1Model(t, func(p *predictortest.PredictServer) {
			p.MaxBatchSize = 20
			p.Delay = 10 * time.Millisecond
		})
		sc := startSidecar(t, newClient, WithInFlight(2))
		stream, err := sc.client.ExplainStream(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(startJob("p", req)); err != nil {
			t.Fatal(err)
		}
		cancelOnFirstProgress(t, stream, "p", fake)
	}
}

// TestPartialDependenceLimits: each request over a limit or malformed is
// INVALID_ARGUMENT naming the field (and the limit), with no model call.
func TestPartialDependenceLimits(t *testing.T) {
	fake, newClient := predictV1Model(t, nil)
	sc := startSidecar(t, newClient)
	rows := trainingRows()[:40]
	big := make([][]float64, 20001)
	for i := range big {
		big[i] = rows[i%len(rows)]
	}
	lower, upper := 0.5, 0.4
	tests := []struct {
		name string
		req  *explainerv1.ExplainRequest
		want string
	}{
		{"grid resolution 1", pdRequest(rows, false, func(o *explainerv1.PartialDependenceOptions) { o.GridResolution = 1 }), "partial_dependence.grid_resolution: 1 is outside [2, 1000]"},
		{"grid resolution 1001", pdRequest(rows, false, func(o *explainerv1.PartialDependenceOptions) { o.GridResolution = 1001 }), "partial_dependence.grid_resolution: 1001 is outside [2, 1000]"},
		{"percentiles", pdRequest(rows, false, func(o *explainerv1.PartialDependenceOptions) { o.LowerPercentile, o.UpperPercentile = &lower, &upper }), "partial_dependence.lower_percentile, upper_percentile"},
		{"lower percentile alone above the default upper", pdRequest(rows, false, func(o *explainerv1.PartialDependenceOptions) { l := 0.97; o.LowerPercentile = &l }), "lower < upper"},
		{"kind", pdRequest(rows, false, func(o *explainerv1.PartialDependenceOptions) { o.Kind = 9 }), "partial_dependence.kind: unknown value 9"},
		{"feature out of range", pdRequest(rows, false, func(o *explainerv1.PartialDependenceOptions) {
			o.Features = []*explainerv1.PdpFeatures{{Features: []uint32{5}}}
		}), "partial_dependence.features[0]: feature 5 is out of range [0,5)"},
		{"three features", pdRequest(rows, false, func(o *explainerv1.PartialDependenceOptions) {
			o.Features = []*explainerv1.PdpFeatures{{Features: []uint32{0, 1, 2}}}
		}), "partial_dependence.features[0]: has 3 features, want 1 or 2"},
		{"grid of 1001 values", pdRequest(rows, false, func(o *explainerv1.PartialDependenceOptions) {
			o.Grids = []*explainerv1.FeatureGrid{{Feature: 1, Values: make([]float64, 1001)}}
		}), "partial_dependence.grids[0].values: 1001 values, want 1 to 1000"},
		{"grid twice", pdRequest(rows, false, func(o *explainerv1.PartialDependenceOptions) {
			o.Grids = []*explainerv1.FeatureGrid{{Feature: 1, Values: []float64{1}}, {Feature: 1, Values: []float64{2}}}
		}), "partial_dependence.grids[1].feature: feature 1 has a grid already"},
		{"categorical out of range", pdRequest(rows, false, func(o *explainerv1.PartialDependenceOptions) {
			o.CategoricalFeatures = []*explainerv1.CategoricalFeature{{Index: 7}}
		}), "partial_dependence.categorical_features[0].index: 7 is out of range [0,5)"},
		{"label", pdRequest(rows, false, func(o *explainerv1.PartialDependenceOptions) { o.Labels = []uint32{2} }), "partial_dependence.labels"},
		{"rows × grid points", pdRequest(big, false, func(o *explainerv1.PartialDependenceOptions) {
			o.Features = []*explainerv1.PdpFeatures{{Features: []uint32{0}}}
			o.Grids = []*explainerv1.FeatureGrid{{Feature: 0, Values: make([]float64, 1000)}}
		}), "= 20001000 rows to score (so far) exceeds limit 20000000"},
		{"no data", pdRequest(rows, false, func(o *explainerv1.PartialDependenceOptions) { o.Data = nil }), "partial_dependence.data: required"},
		{"features", pdRequest(rows, false, func(o *explainerv1.PartialDependenceOptions) {
			o.Features = make([]*explainerv1.PdpFeatures, 10001)
			for i := range o.Features {
				o.Features[i] = &explainerv1.PdpFeatures{Features: []uint32{0}}
			}
		}), "partial_dependence.features: 10001 features exceed limit 10000"},
		{"fidelity curves", func() *explainerv1.ExplainRequest {
			r := pdRequest(rows, false, nil)
			r.Evaluation = &explainerv1.Evaluation{FidelityCurves: true}
			return r
		}(), "evaluation.fidelity_curves: the method has no attributions to delete or insert"},
		{"stability", func() *explainerv1.ExplainRequest {
			r := aleRequest(rows, false, nil)
			r.Evaluation = &explainerv1.Evaluation{StabilityRuns: 3}
			return r
		}(), "evaluation.stability_runs: the method is deterministic"},
		{"ale bins", aleRequest(rows, false, func(o *explainerv1.AleOptions) { o.Bins = 1001 }), "ale.bins: 1001 exceeds limit 1000"},
		{"ale one row", aleRequest(rows[:1], false, nil), "ale.data: has 1 rows, needs at least 2"},
		{"ale feature", aleRequest(rows, false, func(o *explainerv1.AleOptions) { o.Features = []uint32{9} }), "ale.features[0]: feature 9 is out of range [0,5)"},
		{"ale repeated feature", aleRequest(rows, false, func(o *explainerv1.AleOptions) { o.Features = []uint32{1, 1} }), "ale.features[1]: repeats feature 1"},
		{"ale categorical feature", aleRequest(rows, false, func(o *explainerv1.AleOptions) {
			o.Features = []uint32{0, 2}
			o.CategoricalFeatures = []*explainerv1.CategoricalFeature{{Index: 2}}
		}), "ale.features[1]: feature 2 is categorical; ALE is defined for numeric features only"},
		{"ale categorical index", aleRequest(rows, false, func(o *explainerv1.AleOptions) {
			o.CategoricalFeatures = []*explainerv1.CategoricalFeature{{Index: 7}}
		}), "ale.categorical_features[0].index: 7 is out of range [0,5)"},
		{"ale min bin points", aleRequest(rows, false, func(o *explainerv1.AleOptions) { o.Bins, o.MinBinPoints = 0, 41 }), "ale.min_bin_points: 41 is outside [1, 40]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sc.client.Explain(context.Background(), tt.req)
			if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), tt.want) {
				t.Fatalf("err = %v, want INVALID_ARGUMENT containing %q", err, tt.want)
			}
		})
	}
	if n := fake.Sent(); n != 0 {
		t.Errorf("%d model calls for refused requests", n)
	}
}

// With features unset, ALE computes every feature but the categorical
// ones, which it has no order of values for.
func TestALESkipsCategoricalFeatures(t *testing.T) {
	_, newClient := predictV1Model(t, nil)
	sc := startSidecar(t, newClient)
	rows := trainingRows()[:40]
	req := aleRequest(rows, false, func(o *explainerv1.AleOptions) {
		o.CategoricalFeatures = []*explainerv1.CategoricalFeature{{Index: 1}, {Index: 3}}
	})
	resp, err := sc.client.Explain(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	var got []uint32
	for _, a := range resp.GetExplanation().GetLabels()[0].GetAccumulatedLocalEffects() {
		got = append(got, a.GetFeatureIndex())
	}
	if want := []uint32{0, 2, 4}; !slices.Equal(got, want) {
		t.Errorf("ALE of features %v, want %v (every feature but the categorical 1 and 3)", got, want)
	}
}
