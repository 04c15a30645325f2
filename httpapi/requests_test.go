package httpapi

import (
	"math"

	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// Requests of every method, seeded, for the fake model of startStack.

const features = 5

var row = []float64{0.5, 1, -0.5, 2, 0.3}

func dataRows(n int) [][]float64 {
	rows := make([][]float64, n)
	for i := range rows {
		rows[i] = make([]float64, features)
		for j := range rows[i] {
			rows[i][j] = math.Sin(float64(i*(j+3))+float64(j)) * float64(j+1) * 3
		}
	}
	return rows
}

func dataset(rows [][]float64, targets bool) *explainerv1.Dataset {
	ds := &explainerv1.Dataset{NumRows: uint32(len(rows))}
	for _, r := range rows {
		ds.Values = append(ds.Values, r...)
		if targets {
			p := modelScore([][]float64{r})[0][1]
			ds.Targets = append(ds.Targets, math.Round(p))
		}
	}
	return ds
}

func seed(s uint64) *uint64 { return &s }

func tabular(values []float64) *explainerv1.Instance {
	return &explainerv1.Instance{Kind: &explainerv1.Instance_Tabular{Tabular: &explainerv1.TabularInstance{Values: values}}}
}

// testImage is an h×w×3 image with values 0..255.
func testImage(h, w int) *explainerv1.ImageInstance {
	im := &explainerv1.ImageInstance{Height: uint32(h), Width: uint32(w), Channels: 3}
	for i := range h * w * 3 {
		im.Values = append(im.Values, float32((i*37)%256))
	}
	return im
}

func imageInstance(im *explainerv1.ImageInstance) *explainerv1.Instance {
	return &explainerv1.Instance{Kind: &explainerv1.Instance_Image{Image: im}}
}

const testText = "the good film was bad and good"

func textInstance(s string) *explainerv1.Instance {
	return &explainerv1.Instance{Kind: &explainerv1.Instance_Text{Text: &explainerv1.TextInstance{Text: s}}}
}

// methodRequests has one request per case of ExplainRequest.method.
func methodRequests() map[string]*explainerv1.ExplainRequest {
	return map[string]*explainerv1.ExplainRequest{
		"lime": {Instance: tabular(row), Method: &explainerv1.ExplainRequest_Lime{Lime: &explainerv1.LimeOptions{
			NumSamples: 500, NumFeatures: 3, Seed: seed(7),
			Training: &explainerv1.TrainingData{Source: &explainerv1.TrainingData_Dataset{Dataset: dataset(dataRows(60), false)}},
		}}},
		"kernel_shap": {Instance: tabular(row), Method: &explainerv1.ExplainRequest_KernelShap{KernelShap: &explainerv1.KernelShapOptions{
			Seed: seed(3), Background: dataset(dataRows(8), false), Labels: []uint32{1},
		}}},
		"permutation": {Method: &explainerv1.ExplainRequest_Permutation{Permutation: &explainerv1.PermutationOptions{
			Data: dataset(dataRows(40), true), Repeats: 3, Seed: seed(5),
		}}},
		"sensitivity": {Method: &explainerv1.ExplainRequest_Sensitivity{Sensitivity: &explainerv1.SensitivityOptions{
			Data: dataset(dataRows(20), false),
		}}},
		"lime_text": {Instance: textInstance(testText), Method: &explainerv1.ExplainRequest_LimeText{LimeText: &explainerv1.LimeTextOptions{
			NumSamples: 300, Seed: seed(9),
		}}},
		"lime_image": {Instance: imageInstance(testImage(8, 8)), Method: &explainerv1.ExplainRequest_LimeImage{LimeImage: &explainerv1.LimeImageOptions{
			NumSamples: 100, Seed: seed(4),
			Segmentation: &explainerv1.Segmentation{Kind: &explainerv1.Segmentation_Grid{Grid: &explainerv1.GridSegmentation{Rows: 2, Cols: 2}}},
		}}},
		"occlusion": {Instance: imageInstance(testImage(8, 8)), Method: &explainerv1.ExplainRequest_Occlusion{Occlusion: &explainerv1.OcclusionOptions{
			Window: []uint32{4, 4}, Strides: []uint32{2, 2},
		}}},
		"partial_dependence": {Method: &explainerv1.ExplainRequest_PartialDependence{PartialDependence: &explainerv1.PartialDependenceOptions{
			Data: dataset(dataRows(20), false), GridResolution: 5, Kind: explainerv1.PdpKind_PDP_KIND_BOTH,
			Features: []*explainerv1.PdpFeatures{{Features: []uint32{0}}, {Features: []uint32{1, 2}}},
		}}},
		"ale": {Method: &explainerv1.ExplainRequest_Ale{Ale: &explainerv1.AleOptions{
			Data: dataset(dataRows(20), false), Bins: 4,
		}}},
		"counterfactual": {Instance: tabular(row), Method: &explainerv1.ExplainRequest_Counterfactual{Counterfactual: &explainerv1.CounterfactualOptions{
			Data: dataset(dataRows(40), false), Count: 2, Population: 32, MaxGenerations: 20, Seed: seed(6),
		}}},
		"anchors": {Instance: tabular(row), Method: &explainerv1.ExplainRequest_Anchors{Anchors: &explainerv1.AnchorOptions{
			Seed: seed(6), CoverageSamples: 500, Training: dataset(dataRows(60), false),
		}}},
	}
}
