package server

import (
	"math"
	"regexp"

	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"

	"github.com/explainer-sidecar/explainer/explain"
	"github.com/explainer-sidecar/explainer/predictor"
	"github.com/explainer-sidecar/explainer/sampler"
)

// tabularInstance checks the instance of a local method.
func tabularInstance(req *explainerv1.ExplainRequest, info predictor.ModelInfo) ([]float64, []string, error) {
	tab := req.GetInstance().GetTabular()
	if tab == nil {
		return nil, nil, invalidArgument("instance.tabular: required")
	}
	values := tab.GetValues()
	switch p := len(values); {
	case p == 0:
		return nil, nil, invalidArgument("instance.tabular.values: must have at least 1 feature")
	case p > MaxFeatures:
		return nil, nil, invalidArgument("instance.tabular.values: %d features exceeds limit %d", p, MaxFeatures)
	case info.NumFeatures > 0 && p != info.NumFeatures:
		return nil, nil, invalidArgument("instance.tabular.values: instance has %d features, model expects %d", p, info.NumFeatures)
	}
	for i, v := range values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, nil, invalidArgument("instance.tabular.values[%d]: non-finite value", i)
		}
	}
	names := tab.GetFeatureNames()
	if len(names) != 0 && len(names) != len(values) {
		return nil, nil, invalidArgument("instance.tabular.feature_names: %d names for %d features", len(names), len(values))
	}
	for i, n := range names {
		if len(n) > MaxNameLength {
			return nil, nil, invalidArgument("instance.tabular.feature_names[%d]: longer than %d bytes", i, MaxNameLength)
		}
	}
	if len(names) == 0 {
		names = defaultFeatureNames(len(values))
	}
	return values, names, nil
}

// groups converts feature groups; nil when none are given.
func groups(field string, gs []*explainerv1.FeatureGroup, p int) ([][]int, []string, error) {
	if len(gs) == 0 {
		return nil, nil, nil
	}
	seen := make([]bool, p)
	out := make([][]int, len(gs))
	names := make([]string, len(gs))
	for i, g := range gs {
		if len(g.GetFeatures()) == 0 {
			return nil, nil, invalidArgument("%s.groups[%d].features: empty group", field, i)
		}
		for k, f := range g.GetFeatures() {
			if int(f) >= p {
				return nil, nil, invalidArgument("%s.groups[%d].features[%d]: %d is out of range [0,%d)", field, i, k, f, p)
			}
			if seen[f] {
				return nil, nil, invalidArgument("%s.groups[%d].features[%d]: feature %d is in two groups", field, i, k, f)
			}
			seen[f] = true
			out[i] = append(out[i], int(f))
		}
		if len(g.GetName()) > MaxNameLength {
			return nil, nil, invalidArgument("%s.groups[%d].name: longer than %d bytes", field, i, MaxNameLength)
		}
		names[i] = g.GetName()
	}
	return out, names, nil
}

// nameGroups replaces the descriptions of named groups.
func nameGroups(res *explain.Result, names []string) {
	for li := range res.Labels {
		for ai := range res.Labels[li].Attributions {
			a := &res.Labels[li].Attributions[ai]
			if a.Index < len(names) && names[a.Index] != "" {
				a.Description = names[a.Index]
			}
		}
	}
}

func labelsOf(field string, ls []uint32, classes int) ([]int, error) {
	labels := labelInts(ls)
	if err := (explain.Targets{Labels: labels}).Validate(classes); err != nil {
		return nil, requestError(field, err)
	}
	return labels, nil
}

// labelInts converts the API's labels; nil when there are none.
func labelInts(ls []uint32) []int {
	if len(ls) == 0 {
		return nil
	}
	out := make([]int, len(ls))
	for i, l := range ls {
		out[i] = int(l)
	}
	return out
}

// textDomain checks a text instance and tokenizes it, as the text methods
// will: the features are words, or token positions when positional.
func textDomain(txt *explainerv1.TextInstance, positional bool) (*sampler.TextDomain, error) {
	if txt == nil {
		return nil, invalidArgument("instance.text: required")
	}
	if len(txt.GetSplitExpression()) > explain.MaxSplitExpressionLen {
		return nil, invalidArgument("instance.text.split_expression: longer than %d bytes", explain.MaxSplitExpressionLen)
	}
	var split *regexp.Regexp
	if e := txt.GetSplitExpression(); e != "" {
		var err error
		if split, err = regexp.Compile(e); err != nil {
			return nil, invalidArgument("instance.text.split_expression: not a valid RE2 expression")
		}
	}
	dom, err := sampler.NewTextDomain(txt.GetText(), split, positional, explain.MaxTextTokens)
	if err != nil {
		return nil, invalidArgument("instance.text: %v", err)
	}
	return dom, nil
}

// playerCount is the number of players of p features, or of the groups.
func playerCount(p int, groups [][]int) int {
	if len(groups) > 0 {
		return len(groups)
	}
	return p
}
