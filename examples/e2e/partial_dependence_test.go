package e2e

import (
	"math"
	"slices"
	"sort"
	"testing"

	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// Partial dependence and ALE through a real sidecar, over both protocols:
// the breast-cancer classifier on the predict.v1 server, and the digits
// CNN on the KServe v2 server (it hosts no tabular model: each image's 64
// pixels are a row). The curves are recomputed from the model server's own
// answers to the rows the methods define, sent directly (predictRows,
// inferImages).

// scoreFunc scores rows directly on a model server.
type scoreFunc func(rows [][]float64) [][]float64

// checkPD recomputes every average and ICE value of pd from the model
// server: the data with the feature (pair) set to each grid point.
func checkPD(t *testing.T, score scoreFunc, data [][]float64, label int, pd *explainerv1.PartialDependence, tol float64) {
	t.Helper()
	j := int(pd.GetFeatureIndex())
	n2 := max(1, len(pd.GetSecondGrid()))
	var worst float64
	for g, avg := range pd.GetAverage() {
		rows := make([][]float64, len(data))
		for i, r := range data {
			rows[i] = slices.Clone(r)
			rows[i][j] = pd.GetGrid()[g/n2]
			if pd.SecondFeatureIndex != nil {
				rows[i][pd.GetSecondFeatureIndex()] = pd.GetSecondGrid()[g%n2]
			}
		}
		scores := score(rows)
		var mean float64
		for i, s := range scores {
			mean += s[label] / float64(len(scores))
			if ice := pd.GetIndividual(); len(ice) > 0 {
				worst = math.Max(worst, math.Abs(ice[i].GetValues()[g]-s[label]))
			}
		}
		worst = math.Max(worst, math.Abs(avg-mean))
	}
	if worst > tol {
		t.Errorf("feature %s: the curves differ from the model server's scores by up to %.3g (tolerance %.g)", pd.GetFeature(), worst, tol)
	}
	t.Logf("feature %s: %d grid points, largest difference from the model server's scores %.3g", pd.GetFeature(), len(pd.GetAverage()), worst)
}

// checkALE recomputes an ALE curve from the model server: each row scored
// with the feature at its bin's edges (the bin found from the reported
// edges), the mean difference per bin accumulated and centred, and the
// constant as the mean score of the data.
func checkALE(t *testing.T, score scoreFunc, data [][]float64, label int, a *explainerv1.AccumulatedLocalEffects, tol float64) {
	t.Helper()
	j, z := int(a.GetFeatureIndex()), a.GetEdges()
	K := len(z) - 1
	low, high := make([][]float64, len(data)), make([][]float64, len(data))
	bin := make([]int, len(data))
	for i, r := range data {
		k := max(1, sort.SearchFloat64s(z, r[j]))
		bin[i] = k
		low[i], high[i] = slices.Clone(r), slices.Clone(r)
		low[i][j], high[i][j] = z[k-1], z[k]
	}
	sl, sh, s0 := score(low), score(high), score(data)
	sums, counts := make([]float64, K), make([]int, K)
	var constant float64
	for i := range data {
		sums[bin[i]-1] += sh[i][label] - sl[i][label]
		counts[bin[i]-1]++
		constant += s0[i][label] / float64(len(data))
	}
	acc := make([]float64, K+1)
	var mean0 float64
	for k := 1; k <= K; k++ {
		acc[k] = acc[k-1]
		if counts[k-1] > 0 {
			acc[k] += sums[k-1] / float64(counts[k-1])
		}
		mean0 += float64(counts[k-1]) * (acc[k-1] + acc[k]) / 2 / float64(len(data))
		if int(a.GetBinCounts()[k-1]) != counts[k-1] {
			t.Errorf("feature %s bin %d: %d rows, the edges put %d there", a.GetFeature(), k, a.GetBinCounts()[k-1], counts[k-1])
		}
	}
	worst := math.Abs(a.GetConstant() - constant)
	for k := range acc {
		worst = math.Max(worst, math.Abs(a.GetEffects()[k]-(acc[k]-mean0)))
	}
	if worst > tol {
		t.Errorf("feature %s: the ALE curve differs from the model server's by up to %.3g (tolerance %.g)", a.GetFeature(), worst, tol)
	}
	t.Logf("feature %s: %d bins, largest difference from the model server's %.3g", a.GetFeature(), K, worst)
}

// chunksOf cuts rows into DataChunks of 100 rows, the last one marked.
func chunksOf(rows [][]float64) []*explainerv1.DataChunk {
	var chunks []*explainerv1.DataChunk
	for lo := 0; lo < len(rows); lo += 100 {
		hi := min(lo+100, len(rows))
		c := &explainerv1.DataChunk{Last: hi == len(rows)}
		for _, r := range rows[lo:hi] {
			c.Values = append(c.Values, r...)
		}
		chunks = append(chunks, c)
	}
	return chunks
}

// runCurves runs req with data streamed and checks the model calls the
// job reports are the calls the sidecar made (the test runs alone, not in
// parallel) and that they kept to the server's batch limit.
func runCurves(t *testing.T, s *stack, req *explainerv1.ExplainRequest, data [][]float64, maxBatch int) *explainerv1.Explanation {
	t.Helper()
	before := s.sidecar.batches.calls.Load()
	exp, st := explainStream(t, s.sidecar.client, req, chunksOf(data)...)
	calls := s.sidecar.batches.calls.Load() - before
	checkBatching(t, exp, maxBatch)
	if uint64(calls) != exp.GetModelCalls() {
		t.Errorf("the job reports %d model calls, the sidecar made %d", exp.GetModelCalls(), calls)
	}
	// Full batches but for each call's tail: packed grid points or bins
	// fill the calls.
	if full := (exp.GetNumSamples() + uint64(maxBatch) - 1) / uint64(maxBatch); exp.GetModelCalls() > 2*full {
		t.Errorf("%d rows in %d calls of at most %d: fewer than half full", exp.GetNumSamples(), exp.GetModelCalls(), maxBatch)
	}
	for _, p := range st.partials {
		if p.GetFeaturesTotal() == 0 || p.GetFeaturesDone() >= p.GetFeaturesTotal() {
			t.Errorf("partial result with %d of %d features done", p.GetFeaturesDone(), p.GetFeaturesTotal())
		}
	}
	t.Logf("%s: %d rows in %d model calls, %d partial results", exp.GetMethod(), exp.GetNumSamples(), exp.GetModelCalls(), len(st.partials))
	return exp
}

// TestPartialDependenceAndALEPredictV1: on the breast-cancer classifier,
// partial dependence of one feature and of a pair (ICE included) and ALE
// of two features equal what the model server's own scores give, to 1e-9
// (the server's float64 scores, summed in another order).
func TestPartialDependenceAndALEPredictV1(t *testing.T) {
	s := sklearnStack(t)
	tab := loadBreastCancer(t)
	score := func(rows [][]float64) [][]float64 { return predictRows(t, s, rows) }
	names := &explainerv1.Dataset{FeatureNames: tab.Names}

	exp := runCurves(t, s, &explainerv1.ExplainRequest{Method: &explainerv1.ExplainRequest_PartialDependence{PartialDependence: &explainerv1.PartialDependenceOptions{
		Streamed: true, Data: names, GridResolution: 8, Kind: explainerv1.PdpKind_PDP_KIND_BOTH, Labels: []uint32{1},
		Features: []*explainerv1.PdpFeatures{{Features: []uint32{0}}, {Features: []uint32{7, 27}}},
	}}}, tab.Rows, sklearnMaxBatch)
	if want := uint64(len(tab.Rows) * (8 + 64)); exp.GetNumSamples() != want {
		t.Errorf("%d rows scored, want %d", exp.GetNumSamples(), want)
	}
	pds := exp.GetLabels()[0].GetPartialDependence()
	if len(pds) != 2 || pds[0].GetFeature() != "mean radius" || pds[1].GetSecondFeature() != "worst concave points" {
		t.Fatalf("curves %v", pds)
	}
	for _, pd := range pds {
		checkPD(t, score, tab.Rows, 1, pd, 1e-9)
	}

	exp = runCurves(t, s, &explainerv1.ExplainRequest{Method: &explainerv1.ExplainRequest_Ale{Ale: &explainerv1.AleOptions{
		Streamed: true, Data: names, Features: []uint32{0, 27}, Bins: 12,
	}}}, tab.Rows, sklearnMaxBatch)
	if want := uint64(len(tab.Rows) * 5); exp.GetNumSamples() != want {
		t.Errorf("%d rows scored, want %d", exp.GetNumSamples(), want)
	}
	for _, l := range exp.GetLabels() {
		for _, a := range l.GetAccumulatedLocalEffects() {
			checkALE(t, score, tab.Rows, int(l.GetLabel()), a, 1e-9)
		}
	}
}

// TestPartialDependenceAndALEKServe: on the digits CNN, with 60 images'
// pixels as rows (the fixture's four digits, perturbed), partial dependence (both kinds, a centre pixel) and ALE
// equal what the model server's own scores give, to 1e-5 (FP32 scores;
// the CNN's sums may round differently in batches of another size).
func TestPartialDependenceAndALEKServe(t *testing.T) {
	s := kserveStack(t)
	// testdata holds four digits: 60 rows are those four with each pixel
	// moved by a fixed pattern, kept in [0, 1].
	digits := loadDigits(t)
	var data [][]float64
	for i := range 60 {
		row := slices.Clone(digits[i%len(digits)].Pixels)
		for j := range row {
			row[j] = math.Min(1, math.Max(0, row[j]+0.3*math.Sin(1.3*float64(i)+0.7*float64(j))))
		}
		data = append(data, row)
	}
	score := func(rows [][]float64) [][]float64 {
		var out [][]float64
		for lo := 0; lo < len(rows); lo += kserveMaxBatch {
			out = append(out, inferImages(t, s, rows[lo:min(lo+kserveMaxBatch, len(rows))])...)
		}
		return out
	}

	exp := runCurves(t, s, &explainerv1.ExplainRequest{Model: "digits_cnn", Method: &explainerv1.ExplainRequest_PartialDependence{PartialDependence: &explainerv1.PartialDependenceOptions{
		Streamed: true, Data: &explainerv1.Dataset{}, GridResolution: 5, Kind: explainerv1.PdpKind_PDP_KIND_BOTH, Labels: []uint32{0, 3},
		Features: []*explainerv1.PdpFeatures{{Features: []uint32{27}}, {Features: []uint32{36}}},
	}}}, data, kserveMaxBatch)
	for _, l := range exp.GetLabels() {
		for _, pd := range l.GetPartialDependence() {
			checkPD(t, score, data, int(l.GetLabel()), pd, 1e-5)
		}
	}

	exp = runCurves(t, s, &explainerv1.ExplainRequest{Model: "digits_cnn", Method: &explainerv1.ExplainRequest_Ale{Ale: &explainerv1.AleOptions{
		Streamed: true, Data: &explainerv1.Dataset{}, Features: []uint32{27}, Bins: 4, Labels: []uint32{3},
	}}}, data, kserveMaxBatch)
	ales := exp.GetLabels()[0].GetAccumulatedLocalEffects()
	if len(ales) != 1 || len(ales[0].GetEdges()) < 2 {
		t.Fatalf("ALE %v", ales)
	}
	checkALE(t, score, data, 3, ales[0], 1e-5)
}
