package explain

import (
	"math"
	"reflect"
	"testing"
)

func TestSummarizeAnchors(t *testing.T) {
	anchor := func(met bool, prec, cov float64, preds ...AnchorPredicate) *Result {
		return &Result{Method: "anchors", Labels: []LabelResult{{Label: 1, Anchor: &Anchor{Predicates: preds, Precision: prec, Coverage: cov, ThresholdMet: met}}}}
	}
	p := func(i int, d string) AnchorPredicate { return AnchorPredicate{Index: i, Description: d} }
	tests := []struct {
		name    string
		results []*Result
		key     SummaryKey
		names   []string
		want    *AnchorSummary
	}{
		{"no anchors", []*Result{{Method: "lime"}}, KeyIndex, nil, nil},
		{
			// Feature 2 in two bins counts once for instance 0; ties keep
			// the order of first appearance.
			"rows by index",
			[]*Result{
				anchor(true, 0.96, 0.2, p(2, "c <= 1"), p(0, "a > 3"), p(2, "c > 0")),
				anchor(false, 0.90, 0.1, p(1, "b <= 2")),
				anchor(true, 1, 0.3, p(2, "c > 1"), p(1, "b > 2")),
			},
			KeyIndex, []string{"a", "b", "c"},
			&AnchorSummary{
				Anchors: 3, ThresholdMet: 2,
				MeanPrecision: (0.96 + 0.90 + 1) / 3, MeanCoverage: (0.2 + 0.1 + 0.3) / 3, MeanPredicates: 2,
				Features: []RuleFeature{{Index: 2, Name: "c", Count: 2}, {Index: 1, Name: "b", Count: 2}, {Index: 0, Name: "a", Count: 1}},
			},
		},
		{
			// A word is the same feature at any index.
			"words by description",
			[]*Result{
				anchor(true, 1, 0.5, p(3, "good")),
				anchor(true, 1, 0.5, p(0, "good"), p(2, "food")),
			},
			KeyDescription, nil,
			&AnchorSummary{
				Anchors: 2, ThresholdMet: 2, MeanPrecision: 1, MeanCoverage: 0.5, MeanPredicates: 1.5,
				Features: []RuleFeature{{Index: 3, Name: "good", Count: 2}, {Index: 2, Name: "food", Count: 1}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SummarizeAnchors(tt.results, tt.key, tt.names)
			if got != nil && tt.want != nil {
				// Means within a few ulps: the sums run in instance order.
				for _, m := range [][2]*float64{{&got.MeanPrecision, &tt.want.MeanPrecision}, {&got.MeanCoverage, &tt.want.MeanCoverage}} {
					if math.Abs(*m[0]-*m[1]) < 1e-15 {
						*m[0] = *m[1]
					}
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestSummarizeCounterfactuals(t *testing.T) {
	row := func(valid bool, prox float64, changes ...FeatureChange) Counterfactual {
		return Counterfactual{Valid: valid, Proximity: prox, Changes: changes}
	}
	ch := func(i int, name string, scaled float64) FeatureChange {
		return FeatureChange{Index: i, Feature: name, Scaled: scaled}
	}
	results := []*Result{
		// The closest valid row is the second: the first is invalid.
		{Counterfactuals: &CounterfactualResult{Rows: []Counterfactual{
			row(false, 0.5, ch(0, "a", 0.5)),
			row(true, 3, ch(1, "b", -2), ch(2, "c", 1)),
			row(true, 4, ch(0, "a", 4)),
		}}},
		{Counterfactuals: &CounterfactualResult{Rows: []Counterfactual{row(true, 1, ch(1, "b", -1))}}},
		// None found: searched, not found, no features.
		{Counterfactuals: &CounterfactualResult{Rows: []Counterfactual{row(false, 2, ch(2, "c", 2))}}},
		{Counterfactuals: &CounterfactualResult{}},
	}
	want := &CounterfactualSummary{
		Searched: 4, Found: 2, MeanSparsity: 1.5, MeanProximity: 2,
		Features: []RuleFeature{{Index: 1, Name: "b", Count: 2, MeanScaled: -1.5}, {Index: 2, Name: "c", Count: 1, MeanScaled: 1}},
	}
	if got := SummarizeCounterfactuals(results); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if got := SummarizeCounterfactuals([]*Result{{Method: "lime"}}); got != nil {
		t.Errorf("no search: %+v, want nil", got)
	}
}
