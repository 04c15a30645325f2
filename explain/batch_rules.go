package explain

import (
	"cmp"
	"slices"
)

// A batch's global views of the methods without attributions: which
// features the anchors of a validation set rest on, and which features
// its counterfactuals change to flip the model's decisions.

// AnchorSummary is a batch's global view of its anchors.
type AnchorSummary struct {
	// Anchors is the number of results with an anchor; ThresholdMet of
	// them reached the precision threshold.
	Anchors, ThresholdMet int
	// Means over the anchors of their precision, coverage and number of
	// predicates.
	MeanPrecision, MeanCoverage, MeanPredicates float64
	// Features are the features the anchors use (a tabular feature in
	// any of its bins, a word, a segment), by decreasing Count.
	Features []RuleFeature
}

// RuleFeature is a feature and the instances whose rule uses it.
type RuleFeature struct {
	Index int
	Name  string
	// Count is the number of instances whose anchor (or closest valid
	// counterfactual) has the feature, each counted once.
	Count int
	// MeanScaled is the mean of the counterfactuals' scaled changes of
	// the feature over those instances (counterfactuals only): its sign
	// says which way the feature moves to change the decision.
	MeanScaled float64
}

// SummarizeAnchors returns the anchors' global view, or nil when no result
// has an anchor. key tells the features apart as in Summarize: by index
// (tabular rows, named by names; image segments, by their description)
// or by description (words).
func SummarizeAnchors(results []*Result, key SummaryKey, names []string) *AnchorSummary {
	s := &AnchorSummary{}
	var feats ruleFeatures
	for i, res := range results {
		for _, lr := range res.Labels {
			a := lr.Anchor
			if a == nil {
				continue
			}
			s.Anchors++
			if a.ThresholdMet {
				s.ThresholdMet++
			}
			s.MeanPrecision += a.Precision
			s.MeanCoverage += a.Coverage
			s.MeanPredicates += float64(len(a.Predicates))
			for _, p := range a.Predicates {
				var k any = p.Index
				name := p.Description
				if key == KeyDescription {
					k = p.Description
				} else if p.Index < len(names) {
					name = names[p.Index]
				}
				feats.add(i, k, p.Index, name, 0)
			}
		}
	}
	if s.Anchors == 0 {
		return nil
	}
	n := float64(s.Anchors)
	s.MeanPrecision /= n
	s.MeanCoverage /= n
	s.MeanPredicates /= n
	s.Features = feats.sorted()
	return s
}

// CounterfactualSummary is a batch's global view of its counterfactuals.
type CounterfactualSummary struct {
	// Searched is the number of results of a counterfactual search; Found
	// of them have a valid counterfactual.
	Searched, Found int
	// Means over the instances with one of their closest valid
	// counterfactual's sparsity (features changed) and proximity (MAD
	// units).
	MeanSparsity, MeanProximity float64
	// Features are the features the closest valid counterfactuals change,
	// by decreasing Count, with the mean scaled change.
	Features []RuleFeature
}

// SummarizeCounterfactuals returns the counterfactuals' global view, or
// nil when no result holds a counterfactual search. Each instance counts
// its closest valid counterfactual (rows are closest first).
func SummarizeCounterfactuals(results []*Result) *CounterfactualSummary {
	s := &CounterfactualSummary{}
	var feats ruleFeatures
	for i, res := range results {
		cr := res.Counterfactuals
		if cr == nil {
			continue
		}
		s.Searched++
		k := slices.IndexFunc(cr.Rows, func(c Counterfactual) bool { return c.Valid })
		if k < 0 {
			continue
		}
		cf := cr.Rows[k]
		s.Found++
		s.MeanSparsity += float64(len(cf.Changes))
		s.MeanProximity += cf.Proximity
		for _, ch := range cf.Changes {
			feats.add(i, ch.Index, ch.Index, ch.Feature, ch.Scaled)
		}
	}
	if s.Searched == 0 {
		return nil
	}
	if s.Found > 0 {
		s.MeanSparsity /= float64(s.Found)
		s.MeanProximity /= float64(s.Found)
	}
	s.Features = feats.sorted()
	return s
}

// ruleFeatures counts features over instances, each instance once.
type ruleFeatures struct {
	order []*RuleFeature
	byKey map[any]*RuleFeature
	last  map[any]int // the last instance counted, per key
}

func (f *ruleFeatures) add(instance int, key any, index int, name string, scaled float64) {
	if f.byKey == nil {
		f.byKey, f.last = map[any]*RuleFeature{}, map[any]int{}
	}
	rf := f.byKey[key]
	if rf == nil {
		rf = &RuleFeature{Index: index, Name: name}
		f.byKey[key] = rf
		f.order = append(f.order, rf)
	} else if f.last[key] == instance {
		return
	}
	f.last[key] = instance
	rf.Count++
	rf.MeanScaled += scaled
}

// sorted returns the features by decreasing Count, ties in order of first
// appearance, with MeanScaled divided by Count.
func (f *ruleFeatures) sorted() []RuleFeature {
	out := make([]RuleFeature, len(f.order))
	for i, rf := range f.order {
		out[i] = *rf
		out[i].MeanScaled /= float64(rf.Count)
	}
	slices.SortStableFunc(out, func(a, b RuleFeature) int { return cmp.Compare(b.Count, a.Count) })
	return out
}
