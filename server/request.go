package server

import (
	"fmt"

	"github.com/explainer-sidecar/explainer/explain"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// Limits on request fields, named in the errors that enforce them.
const (
	MaxFeatures    = 10_000
	MaxDatasetRows = 100_000
	MaxNameLength  = 256
	MaxCategories  = 10_000
)

func defaultFeatureNames(p int) []string {
	out := make([]string, p)
	for i := range out {
		out[i] = fmt.Sprintf("x%d", i)
	}
	return out
}

func featureSelection(fs explainerv1.FeatureSelection) (explain.FeatureSelection, error) {
	switch fs {
	case explainerv1.FeatureSelection_FEATURE_SELECTION_UNSPECIFIED, explainerv1.FeatureSelection_FEATURE_SELECTION_AUTO:
		return explain.SelectAuto, nil
	case explainerv1.FeatureSelection_FEATURE_SELECTION_NONE:
		return explain.SelectNone, nil
	case explainerv1.FeatureSelection_FEATURE_SELECTION_HIGHEST_WEIGHTS:
		return explain.SelectHighestWeights, nil
	case explainerv1.FeatureSelection_FEATURE_SELECTION_FORWARD_SELECTION:
		return explain.SelectForward, nil
	case explainerv1.FeatureSelection_FEATURE_SELECTION_LASSO_PATH:
		return explain.SelectLassoPath, nil
	}
	return 0, invalidArgument("lime.feature_selection: unknown value %d", int32(fs))
}
