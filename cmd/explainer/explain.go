package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/explainer-sidecar/explainer/internal/table"
	"github.com/explainer-sidecar/explainer/internal/tlsconfig"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// explainFlags are the client's flags; demo shares the LIME ones.
type explainFlags struct {
	server          string
	model           string
	method          string
	instance        string
	instanceFile    string
	row             int
	background      string
	bgSummary       string // -background-summary
	targetColumn    string
	categorical     string
	numSamples      uint
	numFeatures     uint
	selection       string
	kernelWidth     float64
	discretize      bool
	discretizer     string
	aroundInstance  bool
	labels          string
	topLabels       uint
	seed            int64
	regressor       string
	ridgeAlpha      float64
	l1Penalty       float64
	output          string
	timeout         time.Duration
	text            string
	splitExpression string
	maskString      string
	positional      bool
	data            string
	groups          string
	link            string
	scoring         string
	repeats         uint
	maxSamples      float64
	outputColumn    uint
	step            float64
	progress        string
	classNames      string // -class-names: names of the model's classes, comma-separated
	featureNames    string // -feature-names: names of the data's feature columns
	png             string // -png: write the chart (or the image's map) here
	maxBatch        int    // demo only
	numFeaturesSet  bool   // -num-features given (lime with -image: default every segment)

	imageFlags          // -image, -method occlusion, -png
	curveFlags          // -method pdp and ale (pdp.go)
	checkFlags          // -num-samples auto, -evaluate
	batchFlags          // -rows, -texts, several -image (batch.go)
	cf          cfFlags // -method counterfactual (counterfactual.go)
	anchorFlags         // -method anchors (anchors.go)

	// Security of the connection to the sidecar (explain only).
	tls                                   bool
	tlsCA, tlsCert, tlsKey, tlsServerName string
	token, tokenFile                      string
}

func (f *explainFlags) limeFlags(fs *flag.FlagSet) {
	fs.Var(samplesFlag{&f.numSamples, &f.auto}, "num-samples", "perturbed samples (lime: default 5000) or coalitions (kernelshap: default 2·M + 2048); auto samples in rounds until -tolerance or -stable-ranking is met")
	fs.UintVar(&f.numFeatures, "num-features", 10, "rows per label in tables and charts, largest first (0 = every one); lime: also the features the surrogate keeps (0 = the sidecar's default, 10; lime with -image: default every segment)")
	fs.StringVar(&f.selection, "feature-selection", "auto", "auto, none, highest_weights, forward_selection or lasso_path")
	fs.Float64Var(&f.kernelWidth, "kernel-width", 0, "kernel width; 0 = 0.75·sqrt(features)")
	fs.BoolVar(&f.discretize, "discretize", true, "explain continuous features by bins (\"mean radius <= 11.70\")")
	fs.StringVar(&f.discretizer, "discretizer", "quartile", "quartile or decile")
	fs.BoolVar(&f.aroundInstance, "sample-around-instance", false, "sample around the instance instead of the training mean (needs -discretize=false)")
	fs.StringVar(&f.labels, "labels", "", "comma-separated class indices to explain (default: the predicted class)")
	fs.UintVar(&f.topLabels, "top-labels", 0, "explain the N highest-scoring classes")
	fs.Int64Var(&f.seed, "seed", -1, "sampler seed; -1 = random (the result says which)")
	fs.StringVar(&f.regressor, "regressor", "ridge", "surrogate: ridge or lasso")
	fs.Float64Var(&f.ridgeAlpha, "ridge-alpha", 1, "ridge penalty")
	fs.Float64Var(&f.l1Penalty, "l1-penalty", 0, "lasso penalty (with -regressor lasso); 0 = 0.01")
	fs.StringVar(&f.output, "output", "table", "table, json (the API's Explanation in protojson), html (a page with the chart and the table; a text with each word highlighted) or png (the chart of -png, on stdout)")
	fs.StringVar(&f.png, "png", "", "also write the explanation as a PNG to this file: per label a bar chart of the table's rows with ±1.96 standard-error bars (kernelshap: and a waterfall from E[f(background)] to f(x)); with -image the image beside its map (segments or heatmap), scaled up to at least 256 px, with a colour legend")
	fs.StringVar(&f.progress, "progress", "auto", "progress bar on stderr: auto (when a terminal), always or never")
	fs.StringVar(&f.classNames, "class-names", "", `names of the model's classes, comma-separated in class order ("malignant,benign"), for models that report none (KServe); they replace the model server's in every output`)
}

func explainCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("explainer explain", flag.ContinueOnError)
	var f explainFlags
	fs.StringVar(&f.server, "server", "127.0.0.1:50051", "the sidecar's address")
	fs.StringVar(&f.model, "model", "", "model name (default: the sidecar's)")
	fs.StringVar(&f.method, "method", "lime", methodHelp())
	fs.StringVar(&f.instance, "instance", "", "the instance as a JSON array of numbers")
	fs.StringVar(&f.text, "text", "", "lime: explain this text (a text model) instead of a row")
	fs.StringVar(&f.splitExpression, "split", "", "with -text: regular expression matching the separators between tokens (default: words)")
	fs.StringVar(&f.maskString, "mask-string", "", `with -text: written in place of removed words, e.g. "[MASK]" (default: removed words are dropped)`)
	fs.BoolVar(&f.positional, "positional", false, "with -text: each token position is a feature (default: each distinct word)")
	fs.StringVar(&f.instanceFile, "instance-file", "", "a CSV file with a header row (the row -row is explained) or a JSON array")
	fs.IntVar(&f.row, "row", 0, "with -instance-file CSV: the data row to explain, from 0")
	fs.StringVar(&f.background, "background", "", "CSV with a header row: LIME's training data, or KernelSHAP's background rows (at most 1000; 100000 with -background-summary)")
	fs.StringVar(&f.bgSummary, "background-summary", "", "kernelshap: summarise -background into K weighted rows first, so that each coalition costs the model K rows: kmeans:K (shap.kmeans: k-means centres snapped to the data, weighted by cluster size) or sample:K (shap.sample: K rows drawn, equal weights); K from 1 to 1000")
	fs.StringVar(&f.data, "data", "", "permutation, sensitivity, pdp, ale: the data set, a CSV with a header row (and the target column for permutation)")
	fs.StringVar(&f.groups, "groups", "", `features that move together, as JSON: '[[0,10,20],[1,11,21]]'`)
	fs.StringVar(&f.link, "link", "identity", "kernelshap: identity or logit")
	fs.StringVar(&f.scoring, "scoring", "accuracy", "permutation: accuracy, balanced_accuracy, neg_log_loss, roc_auc, neg_mean_squared_error or r2")
	fs.UintVar(&f.repeats, "repeats", 5, "permutation: permutations per feature")
	fs.Float64Var(&f.maxSamples, "max-samples", 0, "permutation: rows per repeat, a fraction in (0,1] or a count; 0 = all")
	fs.UintVar(&f.outputColumn, "output-column", 0, "permutation with a regression score: the model's output column")
	fs.Float64Var(&f.step, "step", 0, "sensitivity: finite-difference step relative to each feature's std; 0 = 0.01")
	fs.StringVar(&f.targetColumn, "target-column", "target", "a label column in the CSV files to ignore (ignored when absent)")
	fs.StringVar(&f.categorical, "categorical", "", "comma-separated indices of categorical features")
	fs.StringVar(&f.featureNames, "feature-names", "", `names of the feature columns, comma-separated ("age,income,..."), in place of the CSV header's (-background, -data): they name the attributions`)
	fs.DurationVar(&f.timeout, "timeout", 5*time.Minute, "deadline of the whole explanation")
	fs.BoolVar(&f.tls, "tls", false, "connect to the sidecar over TLS, verified with the system's roots (implied by -tls-ca); default plaintext")
	fs.StringVar(&f.tlsCA, "tls-ca", "", "PEM CA bundle that verifies the sidecar; turns TLS on")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "PEM client certificate for a sidecar that requires mutual TLS (with -tls-key; needs TLS)")
	fs.StringVar(&f.tlsKey, "tls-key", "", "PEM private key of -tls-cert")
	fs.StringVar(&f.tlsServerName, "tls-server-name", "", "name expected in the sidecar's certificate (default: the host of -server)")
	fs.StringVar(&f.token, "token", "", "bearer token sent to the sidecar; needs TLS (-tls or -tls-ca): a token is never sent in plaintext")
	fs.StringVar(&f.tokenFile, "token-file", "", "file whose first line is the bearer token (instead of -token, which shows in ps); needs TLS")
	f.limeFlags(fs)
	f.imageFlags.register(fs)
	f.curveFlags.register(fs)
	f.checkFlags.register(fs)
	f.batchFlags.register(fs)
	f.cf.register(fs)
	f.anchorFlags.register(fs)
	if err := explainCommand().parseFlags(fs, args, stdout); err != nil {
		return err
	}
	fs.Visit(func(fl *flag.Flag) { f.numFeaturesSet = f.numFeaturesSet || fl.Name == "num-features" })
	if f.isBatch() { // a batch checks its own -output (jsonl too)
		return f.runBatch(ctx, stdout, stderr)
	}
	if err := checkOutput(f.output); err != nil {
		return err
	}
	req, data, err := f.build()
	if err != nil {
		return err
	}
	if err := f.checkFlags.apply(req); err != nil {
		return err
	}
	security, err := f.dialSecurity()
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient(f.server, append(security,
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))...)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	exp, err := explainOnStream(ctx, explainerv1.NewExplainerServiceClient(conn), req, data, newProgress(f.progress, stderr))
	if err != nil {
		return err
	}
	if err := f.applyClassNames(exp); err != nil {
		return err
	}
	v := f.view()
	v.image, v.data = req.GetInstance().GetImage(), data
	return f.writeOutputs(stdout, exp, v)
}

// writeOutputs writes the files -png and -curves-png ask for, then the
// result on stdout as -output says.
func (f *explainFlags) writeOutputs(stdout io.Writer, exp *explainerv1.Explanation, v view) error {
	if f.png != "" {
		if err := writePNGFile(f.png, exp, v); err != nil {
			return err
		}
	}
	if f.curvesPNG != "" {
		if err := writeCurvesFile(f.curvesPNG, exp); err != nil {
			return err
		}
	}
	return render(stdout, f.output, exp, v)
}

// view is how the flags ask for the result to be shown: -num-features
// rows per label (lime with -image and no -num-features: every segment).
func (f *explainFlags) view() view {
	v := view{top: int(f.numFeatures), text: f.text}
	if f.image != "" && f.method == "lime" && !f.numFeaturesSet {
		v.top = 0
	}
	return v
}

// dialSecurity returns the transport credentials (plaintext unless -tls or
// -tls-ca) and the bearer token's per-RPC credentials. A token needs TLS:
// grpc refuses to send credentials that require transport security over
// plaintext, and this client does not offer a way around it.
func (f *explainFlags) dialSecurity() ([]grpc.DialOption, error) {
	useTLS := f.tls || f.tlsCA != ""
	token := f.token
	switch {
	case f.token != "" && f.tokenFile != "":
		return nil, errors.New("give -token or -token-file, not both")
	case f.tokenFile != "":
		raw, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("-token-file: %w", err)
		}
		token, _, _ = strings.Cut(string(raw), "\n")
		if token = strings.TrimSpace(token); token == "" {
			return nil, fmt.Errorf("-token-file %s: the first line is empty", f.tokenFile)
		}
	}
	if !useTLS {
		if f.tlsCert != "" || f.tlsKey != "" || f.tlsServerName != "" {
			return nil, errors.New("-tls-cert, -tls-key and -tls-server-name need TLS: add -tls-ca (or -tls for the system's roots)")
		}
		if token != "" {
			return nil, errors.New("a bearer token is only sent over TLS: add -tls-ca (or -tls for the system's roots)")
		}
		return []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, nil
	}
	cfg, err := tlsconfig.Client(tlsconfig.ClientFiles{CA: f.tlsCA, Cert: f.tlsCert, Key: f.tlsKey, ServerName: f.tlsServerName}, nil)
	if err != nil {
		return nil, err
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(cfg))}
	if token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearerToken(token)))
	}
	return opts, nil
}

// bearerToken sends "authorization: Bearer <token>" on every RPC, over TLS
// only.
type bearerToken string

func (t bearerToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(t)}, nil
}

func (bearerToken) RequireTransportSecurity() bool { return true }

func readTable(path, target string) (*table.Table, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	t, err := table.ReadCSV(file, "")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if target != "" && contains(t.Names, target) {
		if _, err := file.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		if t, err = table.ReadCSV(file, target); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	return t, nil
}

func contains(names []string, s string) bool {
	for _, n := range names {
		if n == s {
			return true
		}
	}
	return false
}

func (f *explainFlags) readInstance() ([]float64, error) {
	switch {
	case f.instance != "" && f.instanceFile != "":
		return nil, errors.New("give -instance or -instance-file, not both")
	case f.instance != "":
		return parseJSONRow(f.instance)
	case f.instanceFile != "":
		raw, err := os.ReadFile(f.instanceFile)
		if err != nil {
			return nil, err
		}
		if s := strings.TrimSpace(string(raw)); strings.HasPrefix(s, "[") {
			return parseJSONRow(s)
		}
		t, err := readTable(f.instanceFile, f.targetColumn)
		if err != nil {
			return nil, err
		}
		if f.row < 0 || f.row >= len(t.Rows) {
			return nil, fmt.Errorf("-row %d: %s has %d data rows", f.row, f.instanceFile, len(t.Rows))
		}
		return t.Rows[f.row], nil
	}
	return nil, errors.New("-instance or -instance-file is required")
}

func parseJSONRow(s string) ([]float64, error) {
	var row []float64
	if err := json.Unmarshal([]byte(s), &row); err != nil {
		return nil, fmt.Errorf("instance: want a JSON array of numbers: %w", err)
	}
	return row, nil
}

// limeRequest builds the LIME request from the flags.
func (f *explainFlags) limeRequest(instance []float64, bg *table.Table) (*explainerv1.ExplainRequest, error) {
	o := &explainerv1.LimeOptions{
		NumSamples:           uint32(f.numSamples),
		NumFeatures:          uint32(f.numFeatures),
		KernelWidth:          f.kernelWidth,
		DiscretizeContinuous: &f.discretize,
		SampleAroundInstance: f.aroundInstance,
		TopLabels:            uint32(f.topLabels),
		Training:             &explainerv1.TrainingData{Source: &explainerv1.TrainingData_Dataset{Dataset: rowsDataset(bg, false)}},
	}
	sel, err := f.featureSelection()
	if err != nil {
		return nil, err
	}
	o.FeatureSelection = sel
	switch f.discretizer {
	case "quartile":
		o.Discretizer = explainerv1.Discretizer_DISCRETIZER_QUARTILE
	case "decile":
		o.Discretizer = explainerv1.Discretizer_DISCRETIZER_DECILE
	default:
		return nil, fmt.Errorf("-discretizer %q: want quartile or decile", f.discretizer)
	}
	switch f.regressor {
	case "ridge":
		o.Regressor = explainerv1.Regressor_REGRESSOR_RIDGE
		o.RidgeAlpha = &f.ridgeAlpha
	case "lasso":
		o.Regressor = explainerv1.Regressor_REGRESSOR_LASSO
		o.L1Penalty = f.l1Penalty
	default:
		return nil, fmt.Errorf("-regressor %q: want ridge or lasso", f.regressor)
	}
	o.Seed = f.seedOption()
	labels, err := parseIndices("-labels", f.labels)
	if err != nil {
		return nil, err
	}
	o.Labels = labels
	tab, err := f.tabularInstance(instance, bg.Names)
	if err != nil {
		return nil, err
	}
	return &explainerv1.ExplainRequest{
		Model:    f.model,
		Instance: &explainerv1.Instance{Kind: &explainerv1.Instance_Tabular{Tabular: tab}},
		Method:   &explainerv1.ExplainRequest_Lime{Lime: o},
	}, nil
}

// tabularInstance is the row with its feature names and the -categorical
// features (lime, anchors, counterfactual).
func (f *explainFlags) tabularInstance(instance []float64, names []string) (*explainerv1.TabularInstance, error) {
	cats, err := parseIndices("-categorical", f.categorical)
	if err != nil {
		return nil, err
	}
	tab := &explainerv1.TabularInstance{Values: instance, FeatureNames: names}
	for _, c := range cats {
		tab.CategoricalFeatures = append(tab.CategoricalFeatures, &explainerv1.CategoricalFeature{Index: c})
	}
	return tab, nil
}

func parseIndices(flagName, s string) ([]uint32, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []uint32
	for _, part := range strings.Split(s, ",") {
		v, err := strconv.ParseUint(strings.TrimSpace(part), 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%s: %q is not a non-negative integer", flagName, part)
		}
		out = append(out, uint32(v))
	}
	return out, nil
}

// explainOnStream runs one job on ExplainStream, sending data (when not
// nil) in chunks after the start, reporting progress, and cancels the job
// when ctx ends (Ctrl-C).
func explainOnStream(ctx context.Context, client explainerv1.ExplainerServiceClient, req *explainerv1.ExplainRequest, data *table.Table, progress progressReporter) (*explainerv1.Explanation, error) {
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
	if data != nil {
		if err := sendChunks(stream, id, data); err != nil {
			return nil, sendError(stream, err)
		}
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
			progress.Update(ev.Progress.GetSamplesScored(), ev.Progress.GetSamplesTotal())
		case *explainerv1.ExplainStreamResponse_Partial:
			if ev.Partial.GetMethod() == "counterfactual" {
				progress.Describe(fmt.Sprintf("generation %d: %d valid so far", ev.Partial.GetRounds(), len(ev.Partial.GetCounterfactuals())))
			} else if r := ev.Partial.GetRounds(); r > 0 {
				progress.Describe(fmt.Sprintf("round %d: %d samples, standard error %.3g", r, ev.Partial.GetNumSamples(), ev.Partial.GetPrecision()))
			} else if what := curveProgress(ev.Partial); what != "" {
				progress.Describe(what)
			} else if total := ev.Partial.GetBandsTotal(); total > 0 {
				progress.Describe(fmt.Sprintf("band %d/%d done", ev.Partial.GetBandsDone(), total))
			} else {
				progress.Describe(fmt.Sprintf("repeat %d done", ev.Partial.GetRepeatsDone()))
			}
		case *explainerv1.ExplainStreamResponse_Result:
			return ev.Result, nil
		case *explainerv1.ExplainStreamResponse_Error:
			return nil, fmt.Errorf("%s: %s", codeName(ev.Error.GetCode()), ev.Error.GetMessage())
		}
	}
}

// sendError reports a failed Send: io.EOF means the server ended the
// stream (for example UNAUTHENTICATED before the first message was read),
// and its status is what Recv returns.
func sendError(stream grpc.ClientStream, err error) error {
	if errors.Is(err, io.EOF) {
		if rerr := stream.RecvMsg(new(explainerv1.ExplainStreamResponse)); rerr != nil && !errors.Is(rerr, io.EOF) {
			return rpcError(rerr)
		}
	}
	return rpcError(err)
}

func rpcError(err error) error {
	st := status.Convert(err)
	return fmt.Errorf("%s: %s", st.Code(), st.Message())
}
