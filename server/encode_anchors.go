package server

import (
	"github.com/explainer-sidecar/explainer/explain"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// anchorProto encodes an anchor; nil for results of other methods.
func anchorProto(a *explain.Anchor) *explainerv1.Anchor {
	if a == nil {
		return nil
	}
	out := &explainerv1.Anchor{Precision: a.Precision, Coverage: a.Coverage, ThresholdMet: a.ThresholdMet}
	for _, p := range a.Predicates {
		pp := &explainerv1.AnchorPredicate{
			Index: uint32(p.Index), Description: p.Description, Precision: p.Precision, Coverage: p.Coverage,
		}
		for _, sp := range p.Spans {
			pp.Spans = append(pp.Spans, &explainerv1.TextSpan{Start: uint32(sp[0]), End: uint32(sp[1])})
		}
		out.Predicates = append(out.Predicates, pp)
	}
	out.CoveredTrue = anchorExamples(a.CoveredTrue)
	out.CoveredFalse = anchorExamples(a.CoveredFalse)
	return out
}

func anchorExamples(es []explain.AnchorExample) []*explainerv1.AnchorExample {
	out := make([]*explainerv1.AnchorExample, len(es))
	for i, e := range es {
		pe := &explainerv1.AnchorExample{Values: e.Values, Text: e.Text}
		for _, s := range e.Segments {
			pe.Segments = append(pe.Segments, uint32(s))
		}
		out[i] = pe
	}
	return out
}
