package server

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"strings"

	"github.com/explainer-sidecar/explainer/explain"
	"github.com/explainer-sidecar/explainer/predictor"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
	"github.com/explainer-sidecar/explainer/sampler"
)

// Limits of the global methods' data sets, named in the errors that
// enforce them.
const (
	MaxDataRows   = 1_000_000
	MaxDataValues = 20_000_000
)

// dataset is a validated data set for a global method.
type dataset struct {
	rows    [][]float64
	targets []float64
	weights []float64
	names   []string
}

// loadDataset returns the job's data set: given inline, or received in
// chunks on the stream. field names the options field in errors; the width
// comes from the model's description or the data set's feature names.
func loadDataset(ctx context.Context, field string, ds *explainerv1.Dataset, streamed bool, chunks <-chan *explainerv1.DataChunk, info predictor.ModelInfo, needTargets bool) (*dataset, error) {
	names := ds.GetFeatureNames()
	if !streamed {
		if ds == nil {
			return nil, invalidArgument("%s.data: required (or set streamed and send DataChunk messages on ExplainStream)", field)
		}
		n := int(ds.GetNumRows())
		if n < 1 || n > MaxDataRows {
			return nil, invalidArgument("%s.data.num_rows: %d is outside [1, %d]", field, n, MaxDataRows)
		}
		if len(ds.GetValues())%n != 0 || len(ds.GetValues()) == 0 {
			return nil, invalidArgument("%s.data.values: %d values do not make %d whole rows", field, len(ds.GetValues()), n)
		}
		p := len(ds.GetValues()) / n
		if err := checkWidth(field, p, names, info); err != nil {
			return nil, err
		}
		d := &dataset{names: names}
		if err := d.add(field+".data", ds.GetValues(), ds.GetTargets(), ds.GetWeights(), p, needTargets); err != nil {
			return nil, err
		}
		return d.finish(field, p)
	}
	if chunks == nil {
		return nil, invalidArgument("%s.streamed: streamed data needs ExplainStream; Explain takes the data inline", field)
	}
	p := info.NumFeatures
	if p == 0 {
		p = len(names)
	}
	if p == 0 {
		return nil, invalidArgument("%s.data.feature_names: required with streamed data when the model server does not report its feature count", field)
	}
	if err := checkWidth(field, p, names, info); err != nil {
		return nil, err
	}
	d := &dataset{names: names}
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case c, ok := <-chunks:
			if !ok {
				return nil, invalidArgument("data: the stream ended before the chunk with last set")
			}
			if err := d.add(fmt.Sprintf("data chunk %d", i), c.GetValues(), c.GetTargets(), c.GetWeights(), p, needTargets); err != nil {
				return nil, err
			}
			if c.GetLast() {
				return d.finish(field, p)
			}
		}
	}
}

func checkWidth(field string, p int, names []string, info predictor.ModelInfo) error {
	if info.NumFeatures > 0 && p != info.NumFeatures {
		return invalidArgument("%s.data: rows have %d features, model expects %d", field, p, info.NumFeatures)
	}
	if len(names) != 0 && len(names) != p {
		return invalidArgument("%s.data.feature_names: %d names for %d features", field, len(names), p)
	}
	return nil
}

// add appends whole rows (values row-major, p per row) with their targets
// and weights, checking every count and value.
func (d *dataset) add(where string, values, targets, weights []float64, p int, needTargets bool) error {
	if len(values)%p != 0 {
		return invalidArgument("%s: %d values are not whole rows of %d features", where, len(values), p)
	}
	n := len(values) / p
	if len(d.rows)+n > MaxDataRows || (len(d.rows)+n)*p > MaxDataValues {
		return invalidArgument("%s: the data set exceeds %d rows or %d values", where, MaxDataRows, MaxDataValues)
	}
	if needTargets && len(targets) != n {
		return invalidArgument("%s.targets: %d targets for %d rows", where, len(targets), n)
	}
	if len(weights) != 0 && len(weights) != n {
		return invalidArgument("%s.weights: %d weights for %d rows", where, len(weights), n)
	}
	if (len(weights) == 0) != (d.weights == nil) && len(d.rows) > 0 && n > 0 {
		return invalidArgument("%s.weights: give weights in every chunk or in none", where)
	}
	for i, v := range values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return invalidArgument("%s.values[%d]: non-finite value", where, i)
		}
	}
	for i, v := range targets {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return invalidArgument("%s.targets[%d]: non-finite value", where, i)
		}
	}
	for i, v := range weights {
		if !(v >= 0) || math.IsInf(v, 0) {
			return invalidArgument("%s.weights[%d]: must be finite and >= 0", where, i)
		}
	}
	for i := range n {
		d.rows = append(d.rows, values[i*p:(i+1)*p:(i+1)*p])
	}
	if needTargets {
		d.targets = append(d.targets, targets...)
	}
	if len(weights) > 0 {
		d.weights = append(d.weights, weights...)
	}
	return nil
}

func (d *dataset) finish(field string, p int) (*dataset, error) {
	if len(d.rows) == 0 {
		return nil, invalidArgument("%s.data: no rows", field)
	}
	if len(d.names) == 0 {
		d.names = defaultFeatureNames(p)
	}
	return d, nil
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
	if len(ls) > maxLabelsListed {
		return nil, invalidArgument("%s.labels: more than %d labels", field, maxLabelsListed)
	}
	if len(ls) == 0 {
		return nil, nil
	}
	out := make([]int, len(ls))
	for i, l := range ls {
		if classes > 0 && int(l) >= classes {
			return nil, invalidArgument("%s.labels[%d]: %d is out of range [0,%d)", field, i, l, classes)
		}
		out[i] = int(l)
	}
	return out, nil
}

// parseKernelSHAP validates a KernelSHAP request.
func parseKernelSHAP(req *explainerv1.ExplainRequest, info predictor.ModelInfo, randomSeed func() uint64) (explain.KernelSHAPRequest, []string, error) {
	const field = "kernel_shap"
	o := req.GetKernelShap()
	var r explain.KernelSHAPRequest
	inst, names, err := tabularInstance(req, info)
	if err != nil {
		return r, nil, err
	}
	p := len(inst)
	bg := o.GetBackground()
	n := int(bg.GetNumRows())
	if n < 1 || n > explain.MaxBackgroundRows {
		return r, nil, invalidArgument("%s.background.num_rows: %d is outside [1, %d]; summarise a larger background (e.g. k-means centres with weights)", field, n, explain.MaxBackgroundRows)
	}
	if len(bg.GetValues()) != n*p {
		return r, nil, invalidArgument("%s.background.values: %d values, want num_rows × features = %d × %d", field, len(bg.GetValues()), n, p)
	}
	d := &dataset{}
	if err := d.add(field+".background", bg.GetValues(), nil, bg.GetWeights(), p, false); err != nil {
		return r, nil, err
	}
	ns, link, labels, seed, err := shapCommon(o, info, randomSeed)
	if err != nil {
		return r, nil, err
	}
	gs, groupNames, err := groups(field, o.GetGroups(), p)
	if err != nil {
		return r, nil, err
	}
	return explain.KernelSHAPRequest{
		Instance:          inst,
		Background:        d.rows,
		BackgroundWeights: d.weights,
		Groups:            gs,
		FeatureNames:      names,
		Sampling:          explain.Sampling{NumSamples: ns, Seed: seed},
		Link:              link,
		Targets:           explain.Targets{Labels: labels, TopLabels: int(o.GetTopLabels())},
	}, groupNames, nil
}

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

// parsePermutation validates a permutation-importance request and loads
// its data set.
func parsePermutation(ctx context.Context, o *explainerv1.PermutationOptions, info predictor.ModelInfo, chunks <-chan *explainerv1.DataChunk, randomSeed func() uint64) (explain.PermutationRequest, []string, error) {
	const field = "permutation"
	var r explain.PermutationRequest
	scoring, err := scoringOf(o.GetScoring())
	if err != nil {
		return r, nil, err
	}
	repeats := int(o.GetRepeats())
	if repeats > explain.MaxRepeats {
		return r, nil, invalidArgument("%s.repeats: %d exceeds limit %d", field, repeats, explain.MaxRepeats)
	}
	if ms := o.GetMaxSamples(); ms < 0 || math.IsNaN(ms) || math.IsInf(ms, 0) {
		return r, nil, invalidArgument("%s.max_samples: must be a fraction in (0, 1] or a row count", field)
	}
	d, err := loadDataset(ctx, field, o.GetData(), o.GetStreamed(), chunks, info, true)
	if err != nil {
		return r, nil, err
	}
	gs, groupNames, err := groups(field, o.GetGroups(), len(d.rows[0]))
	if err != nil {
		return r, nil, err
	}
	seed := o.GetSeed()
	if o.Seed == nil {
		seed = randomSeed()
	}
	return explain.PermutationRequest{
		Data:         d.rows,
		Target:       d.targets,
		Weights:      d.weights,
		FeatureNames: d.names,
		Groups:       gs,
		Scoring:      scoring,
		Output:       int(o.GetOutput()),
		Repeats:      repeats,
		MaxSamples:   o.GetMaxSamples(),
		Seed:         seed,
	}, groupNames, nil
}

func scoringOf(s explainerv1.Scoring) (explain.Scoring, error) {
	switch s {
	case explainerv1.Scoring_SCORING_UNSPECIFIED, explainerv1.Scoring_SCORING_ACCURACY:
		return explain.ScoreAccuracy, nil
	case explainerv1.Scoring_SCORING_BALANCED_ACCURACY:
		return explain.ScoreBalancedAccuracy, nil
	case explainerv1.Scoring_SCORING_NEG_LOG_LOSS:
		return explain.ScoreNegLogLoss, nil
	case explainerv1.Scoring_SCORING_ROC_AUC:
		return explain.ScoreROCAUC, nil
	case explainerv1.Scoring_SCORING_NEG_MEAN_SQUARED_ERROR:
		return explain.ScoreNegMSE, nil
	case explainerv1.Scoring_SCORING_R2:
		return explain.ScoreR2, nil
	}
	return 0, invalidArgument("permutation.scoring: unknown value %d", int32(s))
}

func scoringProto(name string) explainerv1.Scoring {
	v, ok := explainerv1.Scoring_value["SCORING_"+strings.ToUpper(name)]
	if !ok {
		return explainerv1.Scoring_SCORING_UNSPECIFIED
	}
	return explainerv1.Scoring(v)
}

// parseSensitivity validates a sensitivity request and loads its data set.
func parseSensitivity(ctx context.Context, o *explainerv1.SensitivityOptions, info predictor.ModelInfo, chunks <-chan *explainerv1.DataChunk) (explain.SensitivityRequest, error) {
	const field = "sensitivity"
	var r explain.SensitivityRequest
	if st := o.GetStep(); st < 0 || st > 1 || math.IsNaN(st) {
		return r, invalidArgument("%s.step: must be in (0, 1]", field)
	}
	labels, err := labelsOf(field, o.GetLabels(), info.NumClasses)
	if err != nil {
		return r, err
	}
	d, err := loadDataset(ctx, field, o.GetData(), o.GetStreamed(), chunks, info, false)
	if err != nil {
		return r, err
	}
	if rows := 2 * len(d.rows) * len(d.rows[0]); rows > MaxDataValues {
		return r, invalidArgument("%s.data: 2 × rows × features = %d rows to score exceeds limit %d; send fewer rows", field, rows, MaxDataValues)
	}
	return explain.SensitivityRequest{Data: d.rows, FeatureNames: d.names, Step: o.GetStep(), Labels: labels}, nil
}

// MaxTextSampleBytes caps num_samples × the text's length: every perturbed
// text is held at once (a 2000-byte review at 5000 samples is 10 MB).
const MaxTextSampleBytes = 256 << 20

// parseLIMEText validates a text LIME request. It tokenizes the text once
// to bound the job's memory: the masks are samples × features values and
// the texts samples × length bytes.
func parseLIMEText(req *explainerv1.ExplainRequest, info predictor.ModelInfo, randomSeed func() uint64) (explain.LIMETextRequest, error) {
	const field = "lime_text"
	o := req.GetLimeText()
	var r explain.LIMETextRequest
	txt := req.GetInstance().GetText()
	dom, err := textDomain(txt, o.GetPositional())
	if err != nil {
		return r, err
	}
	n := int(o.GetNumSamples())
	if n == 0 {
		n = explain.DefaultNumSamples
	}
	switch d := len(dom.Features); {
	case n < 2 || n > explain.MaxNumSamples:
		return r, invalidArgument("%s.num_samples: %d is outside [2, %d]", field, n, explain.MaxNumSamples)
	case d == 0:
		return r, invalidArgument("instance.text: has no words")
	case n*d > MaxSampleValues:
		return r, invalidArgument("%s.num_samples: %d samples × %d features exceeds limit %d values; lower num_samples", field, n, d, MaxSampleValues)
	case n*len(txt.GetText()) > MaxTextSampleBytes:
		return r, invalidArgument("%s.num_samples: %d samples of a %d-byte text exceed limit %d bytes; lower num_samples", field, n, len(txt.GetText()), MaxTextSampleBytes)
	}
	if len(o.GetMaskString()) > MaxNameLength {
		return r, invalidArgument("%s.mask_string: longer than %d bytes", field, MaxNameLength)
	}
	sel, err := featureSelection(o.GetFeatureSelection())
	if err != nil {
		return r, err
	}
	if w := o.GetKernelWidth(); w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
		return r, invalidArgument("%s.kernel_width: must be positive and finite", field)
	}
	labels, err := labelsOf(field, o.GetLabels(), info.NumClasses)
	if err != nil {
		return r, err
	}
	seed := o.GetSeed()
	if o.Seed == nil {
		seed = randomSeed()
	}
	return explain.LIMETextRequest{
		Text:            txt.GetText(),
		SplitExpression: txt.GetSplitExpression(),
		Positional:      o.GetPositional(),
		MaskString:      o.GetMaskString(),
		Sampling:        explain.Sampling{NumSamples: n, Seed: seed},
		SurrogateFit:    explain.SurrogateFit{NumFeatures: int(o.GetNumFeatures()), Selection: sel, KernelWidth: o.GetKernelWidth()},
		Targets:         explain.Targets{Labels: labels, TopLabels: int(o.GetTopLabels())},
	}, nil
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

// addSpans puts each text feature's byte offsets on its attributions.
func addSpans(exp *explainerv1.Explanation, tf *explain.TextFeatures) {
	for _, l := range exp.GetLabels() {
		for _, a := range l.GetAttributions() {
			if int(a.GetIndex()) >= len(tf.Features) {
				continue
			}
			for _, off := range tf.Features[a.GetIndex()].Offsets {
				a.Spans = append(a.Spans, &explainerv1.TextSpan{Start: uint32(off[0]), End: uint32(off[1])})
			}
		}
	}
}
