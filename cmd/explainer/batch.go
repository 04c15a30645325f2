package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// batchFlags are explain's flags for many instances in one job
// (ExplainRequest.batch): rows of -instance-file, lines of -texts, or
// several -image files.
type batchFlags struct {
	rows  string // -rows A:B or all
	texts string // -texts FILE
	pick  uint   // -submodular-pick B
	skip  bool   // -skip-failed
}

func (f *batchFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.rows, "rows", "", "with a CSV -instance-file: explain these data rows in one batch job: A:B (rows A to B−1, from 0), A: (to the end) or all")
	fs.StringVar(&f.texts, "texts", "", "explain every non-empty line of this file (one text a line) in one batch job")
	fs.UintVar(&f.pick, "submodular-pick", 0, "batch: also pick this many instances whose explanations cover the important features (SP-LIME)")
	fs.BoolVar(&f.skip, "skip-failed", false, "batch: leave out an instance whose own request is refused (a text without words) with its error, and go on with the others")
}

// imageList is -image: one file, or several for a batch job.
type imageList struct {
	first *string
	all   *[]string
}

func (l imageList) String() string {
	if l.all == nil {
		return ""
	}
	return strings.Join(*l.all, ",")
}

func (l imageList) Set(s string) error {
	if len(*l.all) == 0 {
		*l.first = s
	}
	*l.all = append(*l.all, s)
	return nil
}

// isBatch tells whether the flags ask for a batch job.
func (f *explainFlags) isBatch() bool {
	return f.rows != "" || f.texts != "" || len(f.images) > 1
}

// batchRequest builds the batch request: the single request of the first
// instance (so every method flag means what it means for one instance),
// whose instance is then replaced by the batch. rows are the instances'
// row numbers in their file (or their place among the -image files).
func (f *explainFlags) batchRequest() (*explainerv1.ExplainRequest, []int, error) {
	switch {
	case (f.rows != "") && (f.texts != "" || len(f.images) > 1), f.texts != "" && len(f.images) > 1:
		return nil, nil, errors.New("give one of -rows (with -instance-file), -texts and several -image")
	case f.texts != "" && f.text != "":
		return nil, nil, errors.New("give -text or -texts, not both")
	}
	switch {
	case f.rows != "":
		return f.rowsBatch()
	case f.texts != "":
		return f.textsBatch()
	}
	return f.imagesBatch()
}

func (f *explainFlags) rowsBatch() (*explainerv1.ExplainRequest, []int, error) {
	if f.instanceFile == "" || f.instance != "" {
		return nil, nil, errors.New("-rows needs a CSV -instance-file (and no -instance)")
	}
	if raw, err := os.ReadFile(f.instanceFile); err == nil && strings.HasPrefix(strings.TrimSpace(string(raw)), "[") {
		return nil, nil, fmt.Errorf("-rows needs a CSV -instance-file; %s is a JSON array", f.instanceFile)
	}
	t, err := readTable(f.instanceFile, f.targetColumn)
	if err != nil {
		return nil, nil, err
	}
	lo, hi, err := parseRows(f.rows, len(t.Rows))
	if err != nil {
		return nil, nil, err
	}
	f.row = lo
	req, _, err := f.build()
	if err != nil {
		return nil, nil, err
	}
	tab := req.GetInstance().GetTabular()
	if tab == nil {
		return nil, nil, fmt.Errorf("-rows: -method %s does not explain rows", f.method)
	}
	ds := &explainerv1.Dataset{NumRows: uint32(hi - lo), FeatureNames: tab.GetFeatureNames()}
	var rows []int
	for i := lo; i < hi; i++ {
		ds.Values = append(ds.Values, t.Rows[i]...)
		rows = append(rows, i)
	}
	req.Instance = nil
	req.Batch = &explainerv1.InstanceBatch{Kind: &explainerv1.InstanceBatch_Tabular{Tabular: &explainerv1.TabularBatch{
		Rows: ds, CategoricalFeatures: tab.GetCategoricalFeatures(),
	}}}
	return req, rows, nil
}

// parseRows parses -rows for a table of n data rows: [lo, hi).
func parseRows(s string, n int) (lo, hi int, err error) {
	if s == "all" {
		return 0, n, nil
	}
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return 0, 0, fmt.Errorf("-rows %q: want A:B, A: or all", s)
	}
	lo, hi = 0, n
	if a != "" {
		if lo, err = strconv.Atoi(a); err != nil {
			return 0, 0, fmt.Errorf("-rows %q: %q is not a row number", s, a)
		}
	}
	if b != "" {
		if hi, err = strconv.Atoi(b); err != nil {
			return 0, 0, fmt.Errorf("-rows %q: %q is not a row number", s, b)
		}
	}
	if lo < 0 || hi > n || lo >= hi {
		return 0, 0, fmt.Errorf("-rows %q: the file has %d data rows (0 to %d); want a non-empty range in them", s, n, n-1)
	}
	return lo, hi, nil
}

func (f *explainFlags) textsBatch() (*explainerv1.ExplainRequest, []int, error) {
	file, err := os.Open(f.texts)
	if err != nil {
		return nil, nil, fmt.Errorf("-texts: %w", err)
	}
	defer file.Close()
	var texts []string
	var rows []int
	sc := bufio.NewScanner(file)
	sc.Buffer(nil, 16<<20)
	for line := 0; sc.Scan(); line++ {
		if strings.TrimSpace(sc.Text()) != "" {
			texts = append(texts, sc.Text())
			rows = append(rows, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("-texts %s: %w", f.texts, err)
	}
	if len(texts) == 0 {
		return nil, nil, fmt.Errorf("-texts %s: no text (one a line)", f.texts)
	}
	f.text = texts[0]
	req, _, err := f.build()
	if err != nil {
		return nil, nil, err
	}
	txt := req.GetInstance().GetText()
	if txt == nil {
		return nil, nil, fmt.Errorf("-texts: -method %s does not explain texts", f.method)
	}
	req.Instance = nil
	req.Batch = &explainerv1.InstanceBatch{Kind: &explainerv1.InstanceBatch_Text{Text: &explainerv1.TextBatch{
		Texts: texts, SplitExpression: txt.GetSplitExpression(),
	}}}
	return req, rows, nil
}

func (f *explainFlags) imagesBatch() (*explainerv1.ExplainRequest, []int, error) {
	req, _, err := f.build() // the first -image
	if err != nil {
		return nil, nil, err
	}
	first := req.GetInstance().GetImage()
	if first == nil {
		return nil, nil, fmt.Errorf("several -image: -method %s does not explain images", f.method)
	}
	images := []*explainerv1.ImageInstance{first}
	rows := []int{0}
	for i, path := range f.images[1:] {
		im, err := readImage(path, f.imageLayout)
		if err != nil {
			return nil, nil, err
		}
		inst, err := im.instance(f.layout)
		if err != nil {
			return nil, nil, err
		}
		images = append(images, inst)
		rows = append(rows, i+1)
	}
	req.Instance = nil
	req.Batch = &explainerv1.InstanceBatch{Kind: &explainerv1.InstanceBatch_Image{Image: &explainerv1.ImageBatch{Images: images}}}
	return req, rows, nil
}

// runBatch connects to the sidecar and runs the batch job.
func (f *explainFlags) runBatch(ctx context.Context, stdout, stderr io.Writer) error {
	security, err := f.dialSecurity()
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient(f.server, append(security, grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))...)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	return f.explainBatch(ctx, conn, stdout, stderr)
}

// explainBatch runs a batch job and writes its output: -output jsonl
// writes one JSON object per instance, in row order, as soon as the
// instances before it are done; json writes every instance and the summary
// at the end; table the summary and one line per instance.
func (f *explainFlags) explainBatch(ctx context.Context, conn *grpc.ClientConn, stdout, stderr io.Writer) error {
	switch f.output {
	case "jsonl", "json", "table", "":
	default:
		return fmt.Errorf("-output %q with a batch (-rows, -texts, several -image): want table, json or jsonl", f.output)
	}
	if f.png != "" || f.curvesPNG != "" {
		return errors.New("-png and -curves-png explain one instance; not with a batch")
	}
	req, rows, err := f.batchRequest()
	if err != nil {
		return err
	}
	req.Batch.SubmodularPick, req.Batch.SkipFailed = uint32(f.pick), f.skip
	if err := f.checkFlags.apply(req); err != nil {
		return err
	}
	out := &batchOutput{format: f.output, w: stdout, rows: rows, got: make([]*explainerv1.Explanation, len(rows)), failed: make([]*explainerv1.InstanceError, len(rows))}
	exp, err := explainBatchOnStream(ctx, explainerv1.NewExplainerServiceClient(conn), req, newProgress(f.progress, stderr), out.instance)
	if err != nil {
		return err
	}
	return out.finish(exp)
}

// explainBatchOnStream runs a batch job on ExplainStream, passing each
// instance to instance as it comes, and returns the job's result.
func explainBatchOnStream(ctx context.Context, client explainerv1.ExplainerServiceClient, req *explainerv1.ExplainRequest, progress progressReporter, instance func(*explainerv1.InstanceExplanation) error) (*explainerv1.Explanation, error) {
	stream, err := client.ExplainStream(ctx)
	if err != nil {
		return nil, rpcError(err)
	}
	const id = "cli"
	if err := stream.Send(&explainerv1.ExplainStreamRequest{Kind: &explainerv1.ExplainStreamRequest_Start{
		Start: &explainerv1.StartJob{JobId: id, Request: req},
	}}); err != nil {
		return nil, sendError(stream, err)
	}
	if err := stream.CloseSend(); err != nil {
		return nil, rpcError(err)
	}
	defer progress.Done()
	for {
		msg, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, errors.New("the sidecar closed the stream without a result")
			}
			return nil, rpcError(err)
		}
		switch ev := msg.GetEvent().(type) {
		case *explainerv1.ExplainStreamResponse_Progress:
			p := ev.Progress
			progress.Update(p.GetSamplesScored(), p.GetSamplesTotal())
			progress.Describe(fmt.Sprintf("%d of %d instances", p.GetInstancesDone(), p.GetInstancesTotal()))
		case *explainerv1.ExplainStreamResponse_Instance:
			if err := instance(ev.Instance); err != nil {
				return nil, err
			}
		case *explainerv1.ExplainStreamResponse_Result:
			return ev.Result, nil
		case *explainerv1.ExplainStreamResponse_Error:
			return nil, fmt.Errorf("%s: %s", codeName(ev.Error.GetCode()), ev.Error.GetMessage())
		}
	}
}

// instanceJSON is one instance of a batch in the CLI's JSON: the API's
// protojson of its explanation, as -output json writes a single one, with
// its "row" (the row number in the file).
func instanceJSON(row int, exp *explainerv1.Explanation) (json.RawMessage, error) {
	raw, err := protojson.Marshal(exp)
	if err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, err
	}
	fields["row"] = json.RawMessage(strconv.Itoa(row))
	return json.Marshal(fields)
}

// jsonBatch is -output json of a batch.
type jsonBatch struct {
	Instances []json.RawMessage `json:"instances"`
	Summary   jsonSummary       `json:"summary"`
}

// jsonSummary is a batch's global view.
type jsonSummary struct {
	Method     string  `json:"method"`
	Model      string  `json:"model"`
	Seed       uint64  `json:"seed"`
	Instances  uint32  `json:"instances"`
	Failed     int     `json:"failed,omitempty"` // left out by -skip-failed
	NumSamples uint64  `json:"num_samples"`
	ModelCalls uint64  `json:"model_calls"`
	ElapsedMS  float64 `json:"elapsed_ms"`
	// Label is the label every instance explains when the request named
	// none (LabelPicked), predicted for LabelCount instances.
	LabelPicked bool               `json:"label_picked"`
	Label       *uint32            `json:"label,omitempty"`
	ClassName   string             `json:"class_name,omitempty"`
	LabelCount  uint32             `json:"label_count,omitempty"`
	Labels      []jsonBatchSummary `json:"labels"`
	// Anchors and Counterfactuals are those methods' global views, in the
	// API's protojson with its field names.
	Anchors         json.RawMessage `json:"anchors,omitempty"`
	Counterfactuals json.RawMessage `json:"counterfactuals,omitempty"`
}

type jsonBatchSummary struct {
	Label           uint32       `json:"label"`
	ClassName       string       `json:"class_name,omitempty"`
	Features        []jsonGlobal `json:"features"`
	PickedRows      []int        `json:"picked_rows,omitempty"`
	Coverage        *float64     `json:"coverage,omitempty"`
	TotalImportance *float64     `json:"total_importance,omitempty"`
}

type jsonGlobal struct {
	Index    uint32  `json:"index"`
	Feature  string  `json:"feature"`
	MeanAbs  float64 `json:"mean_abs"`
	StdError float64 `json:"std_error"`
	Mean     float64 `json:"mean"`
	Count    uint32  `json:"count"`
}

// batchOutput writes a batch's instances as they come and its summary.
type batchOutput struct {
	format string
	w      io.Writer
	rows   []int
	got    []*explainerv1.Explanation
	failed []*explainerv1.InstanceError // instances left out (-skip-failed)
	next   int                          // jsonl: the first instance not yet written
}

// arrived tells whether instance i has come, explained or left out.
func (o *batchOutput) arrived(i int) bool { return o.got[i] != nil || o.failed[i] != nil }

func (o *batchOutput) instance(ie *explainerv1.InstanceExplanation) error {
	i := int(ie.GetIndex())
	if i >= len(o.got) || o.arrived(i) || (ie.GetExplanation() == nil) == (ie.GetError() == nil) {
		return fmt.Errorf("the sidecar sent instance %d twice, out of range, or with neither or both an explanation and an error", i)
	}
	o.got[i], o.failed[i] = ie.GetExplanation(), ie.GetError()
	if o.format != "jsonl" {
		return nil
	}
	enc := json.NewEncoder(o.w)
	enc.SetEscapeHTML(false)
	for ; o.next < len(o.got) && o.arrived(o.next); o.next++ {
		line, err := o.instanceJSON(o.next)
		if err != nil {
			return err
		}
		if err := enc.Encode(line); err != nil {
			return err
		}
	}
	return nil
}

// instanceJSON is instance i's JSON: its explanation's, or its row and
// error when it was left out.
func (o *batchOutput) instanceJSON(i int) (json.RawMessage, error) {
	if f := o.failed[i]; f != nil {
		return json.Marshal(map[string]any{"row": o.rows[i], "error": map[string]string{"code": f.GetCode(), "message": f.GetMessage()}})
	}
	return instanceJSON(o.rows[i], o.got[i])
}

func (o *batchOutput) finish(exp *explainerv1.Explanation) error {
	for i := range o.got {
		if !o.arrived(i) {
			return fmt.Errorf("the sidecar sent no explanation of instance %d (row %d)", i, o.rows[i])
		}
	}
	switch o.format {
	case "jsonl":
		return nil
	case "json":
		sum, err := o.summary(exp)
		if err != nil {
			return err
		}
		out := jsonBatch{Summary: sum}
		for i := range o.got {
			inst, err := o.instanceJSON(i)
			if err != nil {
				return err
			}
			out.Instances = append(out.Instances, inst)
		}
		enc := json.NewEncoder(o.w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(out)
	}
	o.writeTable(exp)
	return nil
}

func (o *batchOutput) summary(exp *explainerv1.Explanation) (jsonSummary, error) {
	b := exp.GetBatch()
	s := jsonSummary{
		Method: exp.GetMethod(), Model: exp.GetModel(), Seed: exp.GetSeed(), Instances: b.GetInstances(),
		NumSamples: exp.GetNumSamples(), ModelCalls: exp.GetModelCalls(),
		ElapsedMS:   float64(exp.GetElapsed().AsDuration().Microseconds()) / 1000,
		LabelPicked: b.GetLabelPicked(), Labels: []jsonBatchSummary{}, Failed: len(b.GetFailures()),
	}
	if b.GetLabelPicked() {
		l := b.GetLabel()
		s.Label, s.LabelCount = &l, b.GetLabelCount()
		if int(l) < len(exp.GetClassNames()) {
			s.ClassName = exp.GetClassNames()[l]
		}
	}
	for _, bs := range b.GetSummaries() {
		js := jsonBatchSummary{Label: bs.GetLabel(), ClassName: bs.GetClassName(), Features: []jsonGlobal{}}
		for _, g := range bs.GetFeatures() {
			js.Features = append(js.Features, jsonGlobal{
				Index: g.GetIndex(), Feature: g.GetFeature(), MeanAbs: g.GetMeanAbs(), StdError: g.GetStdError(), Mean: g.GetMean(), Count: g.GetCount(),
			})
		}
		for _, i := range bs.GetPicked() {
			js.PickedRows = append(js.PickedRows, o.rows[i])
		}
		if len(bs.GetPicked()) > 0 {
			js.Coverage, js.TotalImportance = ptr(bs.GetCoverage()), ptr(bs.GetTotalImportance())
		}
		s.Labels = append(s.Labels, js)
	}
	var err error
	if a := b.GetAnchors(); a != nil {
		s.Anchors, err = snakeJSON.Marshal(a)
	}
	if c := b.GetCounterfactuals(); c != nil && err == nil {
		s.Counterfactuals, err = snakeJSON.Marshal(c)
	}
	return s, err
}

// snakeJSON is protojson with the proto's field names and zeros kept, as
// the batch summary's own fields are written.
var snakeJSON = protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}

// writeTable prints one line per instance (its label and strongest
// features) and each summarised label's features by mean |weight|.
func (o *batchOutput) writeTable(exp *explainerv1.Explanation) {
	b := exp.GetBatch()
	fmt.Fprintf(o.w, "%s · %s · %d instances · %s\n", exp.GetModel(), exp.GetMethod(), b.GetInstances(), runLine(exp))
	if b.GetLabelPicked() {
		fmt.Fprintf(o.w, "every instance explains label %s, the model's prediction for %d of them\n", labelName(b.GetLabel(), exp.GetClassNames()), b.GetLabelCount())
	}
	fmt.Fprintln(o.w)
	for i, e := range o.got {
		if f := o.failed[i]; f != nil {
			fmt.Fprintf(o.w, "row %d  left out: %s: %s\n", o.rows[i], f.GetCode(), f.GetMessage())
			continue
		}
		if line, ok := ruleLine(exp, e); ok {
			fmt.Fprintf(o.w, "row %d  %s\n", o.rows[i], line)
			continue
		}
		var parts []string
		for _, l := range e.GetLabels() {
			var top []string
			for _, a := range l.GetAttributions()[:min(3, len(l.GetAttributions()))] {
				top = append(top, fmt.Sprintf("%s %+.3f", a.GetFeature(), a.GetWeight()))
			}
			parts = append(parts, fmt.Sprintf("%s (%.3f): %s", labelName(l.GetLabel(), exp.GetClassNames()), l.GetPrediction(), strings.Join(top, ", ")))
		}
		fmt.Fprintf(o.w, "row %d  %s\n", o.rows[i], strings.Join(parts, "; "))
	}
	for _, s := range b.GetSummaries() {
		fmt.Fprintf(o.w, "\nlabel %s over %d instances: mean |weight| ± standard error\n", labelName(s.GetLabel(), exp.GetClassNames()), int(b.GetInstances())-len(b.GetFailures()))
		maxAbs := 0.0
		for _, g := range s.GetFeatures() {
			maxAbs = max(maxAbs, g.GetMeanAbs())
		}
		for _, g := range s.GetFeatures() {
			fmt.Fprintf(o.w, "  %-32s %8.4f ± %.4f  %s\n", g.GetFeature(), g.GetMeanAbs(), g.GetStdError(), bar(g.GetMeanAbs(), maxAbs))
		}
		if len(s.GetPicked()) > 0 {
			var picked []string
			for _, i := range s.GetPicked() {
				picked = append(picked, strconv.Itoa(o.rows[i]))
			}
			fmt.Fprintf(o.w, "SP-LIME picks rows %s (coverage %.3f of %.3f)\n", strings.Join(picked, ", "), s.GetCoverage(), s.GetTotalImportance())
		}
	}
	writeRuleSummary(o.w, b)
}

// ruleLine is an anchors or counterfactual instance's line of a batch
// table: its rule, or its closest valid counterfactual; ok is false for
// the other methods.
func ruleLine(batch, e *explainerv1.Explanation) (line string, ok bool) {
	e = withClassNames(e, batch)
	if isAnchors(e.GetMethod()) {
		var parts []string
		for _, l := range e.GetLabels() {
			a := l.GetAnchor()
			parts = append(parts, fmt.Sprintf("%s (precision %.3f, coverage %.3f%s)", anchorRule(e, l), a.GetPrecision(), a.GetCoverage(),
				map[bool]string{true: "", false: ", threshold NOT met"}[a.GetThresholdMet()]))
		}
		return strings.Join(parts, "; "), true
	}
	if e.GetMethod() != "counterfactual" {
		return "", false
	}
	for _, cf := range e.GetCounterfactuals() {
		if !cf.GetValid() {
			continue
		}
		changes := make([]string, len(cf.GetChanges()))
		for k, ch := range cf.GetChanges() {
			changes[k] = fmt.Sprintf("%s %.4g → %.4g", ch.GetFeature(), ch.GetFrom(), ch.GetTo())
		}
		return fmt.Sprintf("→ %s %.3f · proximity %.3f · %s", className(e, cf.GetLabel(), ""), scoreOf(cf), cf.GetProximity(), strings.Join(changes, ", ")), true
	}
	return "no valid counterfactual", true
}

// withClassNames is e with the batch's class names when it has none (a
// batch's instances leave them to the batch's explanation).
func withClassNames(e, batch *explainerv1.Explanation) *explainerv1.Explanation {
	if len(e.GetClassNames()) > 0 || len(batch.GetClassNames()) == 0 {
		return e
	}
	c := proto.CloneOf(e)
	c.ClassNames = batch.GetClassNames()
	return c
}

// writeRuleSummary prints a batch's anchors or counterfactuals summary:
// the means, then the features by how many instances' rules or closest
// counterfactuals use them.
func writeRuleSummary(w io.Writer, b *explainerv1.BatchExplanation) {
	var feats []*explainerv1.RuleFeature
	scaled := false
	if a := b.GetAnchors(); a != nil {
		fmt.Fprintf(w, "\nanchors over %d instances: %d met the threshold · mean precision %.3f · mean coverage %.3f · %.2f predicates\n",
			a.GetAnchors(), a.GetThresholdMet(), a.GetMeanPrecision(), a.GetMeanCoverage(), a.GetMeanPredicates())
		fmt.Fprintln(w, "features the rules use, by instances")
		feats = a.GetFeatures()
	} else if c := b.GetCounterfactuals(); c != nil {
		fmt.Fprintf(w, "\ncounterfactuals over %d instances: %d found · closest valid: mean sparsity %.2f · mean proximity %.3f (MAD units)\n",
			c.GetSearched(), c.GetFound(), c.GetMeanSparsity(), c.GetMeanProximity())
		fmt.Fprintln(w, "features the closest counterfactuals change, by instances, with the mean change in MAD units")
		feats, scaled = c.GetFeatures(), true
	}
	top := uint32(0)
	for _, f := range feats {
		top = max(top, f.GetCount())
	}
	for _, f := range feats {
		change := ""
		if scaled {
			change = fmt.Sprintf(" %+8.3f", f.GetMeanScaled())
		}
		fmt.Fprintf(w, "  %-32s %5d%s  %s\n", f.GetFeature(), f.GetCount(), change, bar(float64(f.GetCount()), float64(top)))
	}
}

// labelName is a label's class name, else its index.
func labelName(l uint32, names []string) string {
	if int(l) < len(names) && names[l] != "" {
		return names[l]
	}
	return strconv.Itoa(int(l))
}

func ptr[T any](v T) *T { return &v }
