package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/grpc"

	"github.com/explainer-sidecar/explainer/explain"
	"github.com/explainer-sidecar/explainer/internal/table"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// chunkRows is the number of rows per DataChunk: 4096 rows of 30 features
// are about 1 MiB, far below the message limit.
const chunkRows = 4096

// cliMethod is one -method of the explain command: the inputs it takes and
// the cases of ExplainRequest.method its requests use. TestCLIMethods
// fails when a case has no -method, so the CLI's list cannot drift from
// the API's; the server's registry is checked the same way.
type cliMethod struct {
	name string
	// cases are the oneof cases the requests use, by input.
	cases []string
	// inputs says which flags give the method its input, for -h and errors.
	inputs string
	// flags are the method's own flags: -h lists them under its name.
	flags []string
	// build reads the files the method needs and builds its request; the
	// table, when not nil, is a data set streamed after the start.
	build func(f *explainFlags) (*explainerv1.ExplainRequest, *table.Table, error)
}

var cliMethods = []cliMethod{
	{name: "lime", cases: []string{"lime", "lime_text", "lime_image"}, inputs: "-instance and -background, -text, or -image", build: (*explainFlags).buildLocal,
		flags: []string{"feature-selection", "kernel-width", "discretize", "discretizer", "sample-around-instance", "categorical",
			"regressor", "ridge-alpha", "l1-penalty", "segmentation", "fill"}},
	{name: "kernelshap", cases: []string{"kernel_shap"}, inputs: "-instance and -background, -text, or -image", build: (*explainFlags).buildLocal,
		flags: []string{"link", "groups", "background-summary"}},
	{name: "permutation", cases: []string{"permutation"}, inputs: "-data with a target column", build: (*explainFlags).buildGlobal,
		flags: []string{"scoring", "repeats", "max-samples", "output-column"}},
	{name: "sensitivity", cases: []string{"sensitivity"}, inputs: "-data", build: (*explainFlags).buildGlobal,
		flags: []string{"step"}},
	{name: "occlusion", cases: []string{"occlusion"}, inputs: "-image or -text", build: (*explainFlags).buildOcclusion,
		flags: []string{"window", "stride", "baseline"}},
	{name: "pdp", cases: []string{"partial_dependence"}, inputs: "-data", build: (*explainFlags).buildCurves,
		flags: []string{"features", "grid-resolution", "kind", "centered"}},
	{name: "ale", cases: []string{"ale"}, inputs: "-data, -features", build: (*explainFlags).buildCurves,
		flags: []string{"bins", "min-bin-points"}},
	{name: "counterfactual", cases: []string{"counterfactual"}, inputs: "-instance and -background", build: (*explainFlags).buildCounterfactual,
		flags: []string{"desired-class", "min-probability", "count", "immutable", "ranges", "population", "max-generations"}},
	{name: "anchors", cases: []string{"anchors"}, inputs: "-instance and -background, -text, or -image", build: (*explainFlags).buildAnchors,
		flags: anchorFlagNames},
}

// cliMethodNames lists the -method values: "lime, kernelshap, ... or occlusion".
func cliMethodNames() string {
	names := make([]string, len(cliMethods))
	for i, m := range cliMethods {
		names[i] = m.name
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// methodHelp is the -method flag's usage: every method with its inputs.
func methodHelp() string {
	var b strings.Builder
	b.WriteString("the method: ")
	for i, m := range cliMethods {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s (%s)", m.name, m.inputs)
	}
	return b.String()
}

// build builds the request of -method.
func (f *explainFlags) build() (*explainerv1.ExplainRequest, *table.Table, error) {
	if f.bgSummary != "" && (f.method != "kernelshap" || f.text != "" || f.image != "") {
		return nil, nil, fmt.Errorf("-background-summary works with -method kernelshap on a row and its -background, not with -method %s, -text or -image", f.method)
	}
	if f.featureNames != "" && (f.text != "" || f.image != "") {
		return nil, nil, errors.New("-feature-names names the columns of -background or -data; a text's features are its words, an image's its segments")
	}
	for _, m := range cliMethods {
		if m.name == f.method {
			return m.build(f)
		}
	}
	return nil, nil, fmt.Errorf("-method %q: want %s", f.method, cliMethodNames())
}

// buildOcclusion slides a window over -image or -text.
func (f *explainFlags) buildOcclusion() (*explainerv1.ExplainRequest, *table.Table, error) {
	if f.text != "" && f.image == "" {
		req, err := f.textOcclusionRequest()
		return req, nil, err
	}
	req, err := f.imageRequest()
	return req, nil, err
}

// buildLocal explains -image, -text or a row (lime, kernelshap).
func (f *explainFlags) buildLocal() (*explainerv1.ExplainRequest, *table.Table, error) {
	if f.image != "" {
		req, err := f.imageRequest()
		return req, nil, err
	}
	if f.text != "" {
		if f.method == "kernelshap" {
			req, err := f.kernelSHAPTextRequest()
			return req, nil, err
		}
		req, err := f.limeTextRequest()
		return req, nil, err
	}
	if f.background == "" {
		return nil, nil, fmt.Errorf("-background is required for -method %s: a CSV of training (lime) or background (kernelshap) rows", f.method)
	}
	bg, instance, err := f.backgroundAndInstance()
	if err != nil {
		return nil, nil, err
	}
	if f.method == "lime" {
		req, err := f.limeRequest(instance, bg)
		return req, nil, err
	}
	req, err := f.kernelSHAPRequest(instance, bg)
	return req, nil, err
}

// backgroundAndInstance reads -background (its columns renamed by
// -feature-names) and the instance, one value a column (lime, kernelshap,
// anchors, counterfactual).
func (f *explainFlags) backgroundAndInstance() (*table.Table, []float64, error) {
	bg, err := readTable(f.background, f.targetColumn)
	if err != nil {
		return nil, nil, err
	}
	if err := f.renameFeatures(bg, f.background); err != nil {
		return nil, nil, err
	}
	instance, err := f.readInstance()
	if err == nil && len(bg.Names) != len(instance) {
		err = fmt.Errorf("the instance has %d values, the background has %d feature columns", len(instance), len(bg.Names))
	}
	return bg, instance, err
}

// buildGlobal explains a data set (permutation, sensitivity).
func (f *explainFlags) buildGlobal() (*explainerv1.ExplainRequest, *table.Table, error) {
	data, err := f.readData()
	if err != nil {
		return nil, nil, err
	}
	switch {
	case f.method == "permutation" && data.Target == nil:
		return nil, nil, fmt.Errorf("%s has no column %q: permutation importance needs the targets (-target-column)", f.data, f.targetColumn)
	case f.method == "sensitivity":
		data.Target = nil // sensitivity needs no targets
	}
	req, err := f.globalRequest(data)
	return req, data, err
}

// readData reads -data, the data set of a global method, with the
// -feature-names given.
func (f *explainFlags) readData() (*table.Table, error) {
	if f.image != "" {
		return nil, fmt.Errorf("-image works with -method lime, kernelshap or occlusion, not %s", f.method)
	}
	if f.data == "" {
		return nil, fmt.Errorf("-data is required for -method %s: a CSV with a header row", f.method)
	}
	data, err := readTable(f.data, f.targetColumn)
	if err != nil {
		return nil, err
	}
	if err := f.renameFeatures(data, f.data); err != nil {
		return nil, err
	}
	return data, nil
}

// seedOption is -seed as the request's optional seed: unset when negative.
func (f *explainFlags) seedOption() *uint64 {
	if f.seed < 0 {
		return nil
	}
	seed := uint64(f.seed)
	return &seed
}

// featureSelection parses -feature-selection.
func (f *explainFlags) featureSelection() (explainerv1.FeatureSelection, error) {
	sel, ok := explainerv1.FeatureSelection_value["FEATURE_SELECTION_"+strings.ToUpper(f.selection)]
	if !ok {
		return 0, fmt.Errorf("-feature-selection %q: want auto, none, highest_weights, forward_selection or lasso_path", f.selection)
	}
	return explainerv1.FeatureSelection(sel), nil
}

// textOcclusionRequest slides a window of -window tokens (default 1) over
// -text.
func (f *explainFlags) textOcclusionRequest() (*explainerv1.ExplainRequest, error) {
	o := &explainerv1.OcclusionOptions{MaskString: f.maskString}
	for _, v := range []struct {
		flag, s string
		dst     *[]uint32
	}{{"-window", f.window, &o.Window}, {"-stride", f.stride, &o.Strides}} {
		if v.s == "" {
			continue
		}
		n, err := parseIndices(v.flag, v.s)
		if err != nil || len(n) != 1 || n[0] == 0 {
			return nil, fmt.Errorf("%s %q: with -text, one positive number of tokens", v.flag, v.s)
		}
		*v.dst = n
	}
	var err error
	if o.Labels, err = parseIndices("-labels", f.labels); err != nil {
		return nil, err
	}
	return &explainerv1.ExplainRequest{
		Model: f.model,
		Instance: &explainerv1.Instance{Kind: &explainerv1.Instance_Text{Text: &explainerv1.TextInstance{
			Text: f.text, SplitExpression: f.splitExpression,
		}}},
		Method: &explainerv1.ExplainRequest_Occlusion{Occlusion: o},
	}, nil
}

func (f *explainFlags) limeTextRequest() (*explainerv1.ExplainRequest, error) {
	sel, err := f.featureSelection()
	if err != nil {
		return nil, err
	}
	o := &explainerv1.LimeTextOptions{
		NumSamples:       uint32(f.numSamples),
		NumFeatures:      uint32(f.numFeatures),
		FeatureSelection: sel,
		KernelWidth:      f.kernelWidth,
		Positional:       f.positional,
		MaskString:       f.maskString,
		TopLabels:        uint32(f.topLabels),
	}
	if o.Labels, err = parseIndices("-labels", f.labels); err != nil {
		return nil, err
	}
	o.Seed = f.seedOption()
	return &explainerv1.ExplainRequest{
		Model: f.model,
		Instance: &explainerv1.Instance{Kind: &explainerv1.Instance_Text{Text: &explainerv1.TextInstance{
			Text: f.text, SplitExpression: f.splitExpression,
		}}},
		Method: &explainerv1.ExplainRequest_LimeText{LimeText: o},
	}, nil
}

// kernelSHAPOptions are the KernelSHAP options every instance kind takes.
func (f *explainFlags) kernelSHAPOptions(labels []uint32) (*explainerv1.KernelShapOptions, error) {
	o := &explainerv1.KernelShapOptions{
		NumSamples: uint32(f.numSamples),
		TopLabels:  uint32(f.topLabels),
		Labels:     labels,
		Seed:       f.seedOption(),
	}
	switch f.link {
	case "identity":
		o.Link = explainerv1.Link_LINK_IDENTITY
	case "logit":
		o.Link = explainerv1.Link_LINK_LOGIT
	default:
		return nil, fmt.Errorf("-link %q: want identity or logit", f.link)
	}
	return o, nil
}

// parseBackgroundSummary parses -background-summary, kmeans:K or
// sample:K; "" is no summary. The sidecar checks K against the background.
func parseBackgroundSummary(s string) (*explainerv1.BackgroundSummary, error) {
	if s == "" {
		return nil, nil
	}
	kind, count, ok := strings.Cut(s, ":")
	k, err := strconv.ParseUint(count, 10, 32)
	if !ok || err != nil || k < 1 || k > maxSummaryRows {
		return nil, fmt.Errorf("-background-summary %q: want kmeans:K or sample:K, K from 1 to %d", s, maxSummaryRows)
	}
	switch kind {
	case "kmeans":
		return &explainerv1.BackgroundSummary{Kind: &explainerv1.BackgroundSummary_Kmeans{Kmeans: uint32(k)}}, nil
	case "sample":
		return &explainerv1.BackgroundSummary{Kind: &explainerv1.BackgroundSummary_Sample{Sample: uint32(k)}}, nil
	}
	return nil, fmt.Errorf("-background-summary %q: want kmeans:K or sample:K, K from 1 to %d", s, maxSummaryRows)
}

// maxSummaryRows is the sidecar's limit on K (explain.MaxBackgroundRows).
const maxSummaryRows = explain.MaxBackgroundRows

func (f *explainFlags) kernelSHAPRequest(instance []float64, bg *table.Table) (*explainerv1.ExplainRequest, error) {
	labels, err := parseIndices("-labels", f.labels)
	if err != nil {
		return nil, err
	}
	o, err := f.kernelSHAPOptions(labels)
	if err != nil {
		return nil, err
	}
	o.Background = rowsDataset(bg, false)
	if o.BackgroundSummary, err = parseBackgroundSummary(f.bgSummary); err != nil {
		return nil, err
	}
	if o.Groups, err = parseGroups(f.groups); err != nil {
		return nil, err
	}
	return &explainerv1.ExplainRequest{
		Model: f.model,
		Instance: &explainerv1.Instance{Kind: &explainerv1.Instance_Tabular{Tabular: &explainerv1.TabularInstance{
			Values: instance, FeatureNames: bg.Names,
		}}},
		Method: &explainerv1.ExplainRequest_KernelShap{KernelShap: o},
	}, nil
}

// kernelSHAPTextRequest explains -text with KernelSHAP: words are players.
func (f *explainFlags) kernelSHAPTextRequest() (*explainerv1.ExplainRequest, error) {
	labels, err := parseIndices("-labels", f.labels)
	if err != nil {
		return nil, err
	}
	o, err := f.kernelSHAPOptions(labels)
	if err != nil {
		return nil, err
	}
	o.Positional, o.MaskString = f.positional, f.maskString
	return &explainerv1.ExplainRequest{
		Model: f.model,
		Instance: &explainerv1.Instance{Kind: &explainerv1.Instance_Text{Text: &explainerv1.TextInstance{
			Text: f.text, SplitExpression: f.splitExpression,
		}}},
		Method: &explainerv1.ExplainRequest_KernelShap{KernelShap: o},
	}, nil
}

// globalRequest builds a permutation or sensitivity request whose data is
// streamed.
func (f *explainFlags) globalRequest(data *table.Table) (*explainerv1.ExplainRequest, error) {
	names := &explainerv1.Dataset{FeatureNames: data.Names}
	req := &explainerv1.ExplainRequest{Model: f.model}
	if f.method == "sensitivity" {
		labels, err := parseIndices("-labels", f.labels)
		if err != nil {
			return nil, err
		}
		req.Method = &explainerv1.ExplainRequest_Sensitivity{Sensitivity: &explainerv1.SensitivityOptions{
			Data: names, Streamed: true, Step: f.step, Labels: labels,
		}}
		return req, nil
	}
	v, ok := explainerv1.Scoring_value["SCORING_"+strings.ToUpper(f.scoring)]
	if !ok || v == 0 {
		return nil, fmt.Errorf("-scoring %q: want accuracy, balanced_accuracy, neg_log_loss, roc_auc, neg_mean_squared_error or r2", f.scoring)
	}
	o := &explainerv1.PermutationOptions{
		Data: names, Streamed: true, Scoring: explainerv1.Scoring(v),
		Repeats: uint32(f.repeats), MaxSamples: f.maxSamples, Output: uint32(f.outputColumn),
	}
	var err error
	if o.Groups, err = parseGroups(f.groups); err != nil {
		return nil, err
	}
	o.Seed = f.seedOption()
	req.Method = &explainerv1.ExplainRequest_Permutation{Permutation: o}
	return req, nil
}

func parseGroups(s string) ([]*explainerv1.FeatureGroup, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var gs [][]uint32
	if err := json.Unmarshal([]byte(s), &gs); err != nil {
		return nil, fmt.Errorf("-groups: want a JSON array of arrays of feature indices: %w", err)
	}
	out := make([]*explainerv1.FeatureGroup, len(gs))
	for i, g := range gs {
		out[i] = &explainerv1.FeatureGroup{Features: g}
	}
	return out, nil
}

// rowsDataset puts a table's rows (and targets) in one Dataset message.
func rowsDataset(t *table.Table, targets bool) *explainerv1.Dataset {
	values := make([]float64, 0, len(t.Rows)*len(t.Names))
	for _, r := range t.Rows {
		values = append(values, r...)
	}
	ds := &explainerv1.Dataset{NumRows: uint32(len(t.Rows)), Values: values, FeatureNames: t.Names}
	if targets {
		ds.Targets = t.Target
	}
	return ds
}

// sendChunks streams a data set's rows and targets in DataChunk messages.
func sendChunks(stream grpc.BidiStreamingClient[explainerv1.ExplainStreamRequest, explainerv1.ExplainStreamResponse], id string, t *table.Table) error {
	if len(t.Rows) == 0 {
		return errors.New("the data set has no rows")
	}
	for lo := 0; lo < len(t.Rows); lo += chunkRows {
		hi := min(lo+chunkRows, len(t.Rows))
		c := &explainerv1.DataChunk{JobId: id, Last: hi == len(t.Rows)}
		for _, r := range t.Rows[lo:hi] {
			c.Values = append(c.Values, r...)
		}
		if t.Target != nil {
			c.Targets = t.Target[lo:hi]
		}
		if err := stream.Send(&explainerv1.ExplainStreamRequest{Kind: &explainerv1.ExplainStreamRequest_Data{Data: c}}); err != nil {
			return err
		}
	}
	return nil
}
