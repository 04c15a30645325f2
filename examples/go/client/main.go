// Command client is a small Go client of the explainer sidecar, to copy
// from: it explains one tabular row, one sentence or one image on the
// sidecar's ExplainStream, prints the job's progress while the model server
// scores the samples, and then the top attributions. Ctrl-C sends a
// CancelJob for the running job and waits for the sidecar to confirm it,
// so the sidecar stops sending batches at once.
//
// With a sidecar in front of examples/python/sklearn_server.py:
//
//	go run ./examples/go/client -server 127.0.0.1:50051 \
//	    -row testdata/breast_cancer.csv -index 0 -samples 2000
//
// In front of examples/python/kserve_server.py:
//
//	go run ./examples/go/client -model sentiment \
//	    -text "the food was wonderful and the staff were friendly"
//	go run ./examples/go/client -model digits_cnn -image digit.json -method occlusion
//
// A row's CSV has a header row of feature names; its rows are also the
// training data LIME samples from (and, for -method kernelshap, the first
// -background rows are the background). A column named -target is left
// out. An image's JSON is the API's ImageInstance in protojson, the image
// JSON that `explainer explain --image` and examples/python/client.py read
// too:
//
//	{"height": 8, "width": 8, "channels": 1, "layout": "IMAGE_LAYOUT_CHW", "values": [0, 0.3125, ...]}
//
// with height × width × channels values in the layout's order
// (IMAGE_LAYOUT_CHW, as PyTorch models take them, or IMAGE_LAYOUT_HWC, the
// default).
package main

import (
	"cmp"
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

func main() {
	// The first Ctrl-C (or SIGTERM) ends ctx: run then cancels the job on
	// the stream instead of dropping the connection.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	case errors.Is(err, errCancelled):
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(130) // as a shell reports a process ended by Ctrl-C
	default:
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(1)
	}
}

// errCancelled is returned when the job was cancelled on the user's
// request and the sidecar confirmed it.
var errCancelled = errors.New("job cancelled")

// config is the command line.
type config struct {
	server, ca, model      string
	row, target, text, img string
	index, background      int
	method, fill           string
	samples, top, grid     int
	seed                   uint64
	timeout                time.Duration
}

// run is the whole client; ctx ending means "cancel the job".
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c config
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.server, "server", "127.0.0.1:50051", "the sidecar's address")
	fs.StringVar(&c.ca, "ca", "", "PEM CA bundle: connect with TLS, verifying the sidecar with it (default plaintext)")
	fs.StringVar(&c.model, "model", "", "the model to explain (default: the sidecar's --model)")
	fs.StringVar(&c.row, "row", "", "explain a row of this CSV (header row first); its rows are the training data")
	fs.IntVar(&c.index, "index", 0, "with -row: the row to explain, 0 = the first after the header")
	fs.StringVar(&c.target, "target", "target", "with -row: a column of this name is not a feature")
	fs.IntVar(&c.background, "background", 20, "with -row and -method kernelshap: background rows, taken evenly from the CSV")
	fs.StringVar(&c.text, "text", "", "explain this sentence")
	fs.StringVar(&c.img, "image", "", "explain the image in this JSON file")
	fs.StringVar(&c.method, "method", "lime", "lime, kernelshap or occlusion (text and images)")
	fs.IntVar(&c.grid, "grid", 4, "with -image and lime or kernelshap: the image's segments are a grid of this many rows and columns")
	fs.StringVar(&c.fill, "fill", "mean", "with -image and lime or kernelshap: what a hidden segment shows: mean (the image's mean colour), segment-mean, blur, or a number")
	fs.IntVar(&c.samples, "samples", 0, "perturbed samples (0: the method's default)")
	fs.IntVar(&c.top, "top", 10, "attributions printed per label")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the sampler, for a reproducible explanation")
	fs.DurationVar(&c.timeout, "timeout", 5*time.Minute, "deadline of the job")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	req, err := c.request()
	if err != nil {
		return err
	}

	creds := insecure.NewCredentials()
	if c.ca != "" {
		if creds, err = credentials.NewClientTLSFromFile(c.ca, ""); err != nil {
			return err
		}
	}
	conn, err := grpc.NewClient(c.server, grpc.WithTransportCredentials(creds))
	if err != nil {
		return err
	}
	defer conn.Close()
	exp, err := explain(ctx, explainerv1.NewExplainerServiceClient(conn), req, c.timeout, stderr)
	if err != nil {
		return err
	}
	printExplanation(stdout, exp, c.top)
	return nil
}

// request builds the ExplainRequest from the flags.
func (c *config) request() (*explainerv1.ExplainRequest, error) {
	inputs := 0
	for _, s := range []string{c.row, c.text, c.img} {
		if s != "" {
			inputs++
		}
	}
	if inputs != 1 {
		return nil, errors.New("give exactly one of -row, -text and -image")
	}
	req := &explainerv1.ExplainRequest{Model: c.model}
	seed := c.seed
	n := uint32(max(c.samples, 0))
	switch {
	case c.row != "":
		names, rows, err := readCSV(c.row, c.target)
		if err != nil {
			return nil, err
		}
		if c.index < 0 || c.index >= len(rows) {
			return nil, fmt.Errorf("-index %d: %s has %d rows", c.index, c.row, len(rows))
		}
		req.Instance = &explainerv1.Instance{Kind: &explainerv1.Instance_Tabular{Tabular: &explainerv1.TabularInstance{
			Values: rows[c.index], FeatureNames: names,
		}}}
		switch c.method {
		case "lime":
			req.Method = &explainerv1.ExplainRequest_Lime{Lime: &explainerv1.LimeOptions{
				NumSamples: n, NumFeatures: uint32(c.top), Seed: &seed,
				Training: &explainerv1.TrainingData{Source: &explainerv1.TrainingData_Dataset{Dataset: dataset(names, rows)}},
			}}
		case "kernelshap":
			// KernelSHAP scores every coalition over every background row:
			// a few rows spread over the data keep the job small.
			k := min(max(c.background, 1), len(rows))
			var bg [][]float64
			for i := range k {
				bg = append(bg, rows[i*len(rows)/k])
			}
			req.Method = &explainerv1.ExplainRequest_KernelShap{KernelShap: &explainerv1.KernelShapOptions{
				NumSamples: n, Background: dataset(names, bg), Seed: &seed,
			}}
		default:
			return nil, fmt.Errorf("-method %q: a row takes lime or kernelshap", c.method)
		}
	case c.text != "":
		req.Instance = &explainerv1.Instance{Kind: &explainerv1.Instance_Text{Text: &explainerv1.TextInstance{Text: c.text}}}
		switch c.method {
		case "lime":
			req.Method = &explainerv1.ExplainRequest_LimeText{LimeText: &explainerv1.LimeTextOptions{NumSamples: n, Seed: &seed}}
		case "kernelshap":
			req.Method = &explainerv1.ExplainRequest_KernelShap{KernelShap: &explainerv1.KernelShapOptions{NumSamples: n, Seed: &seed}}
		case "occlusion":
			req.Method = &explainerv1.ExplainRequest_Occlusion{Occlusion: &explainerv1.OcclusionOptions{}}
		default:
			return nil, fmt.Errorf("-method %q: a text takes lime, kernelshap or occlusion", c.method)
		}
	default:
		img, err := readImage(c.img)
		if err != nil {
			return nil, err
		}
		req.Instance = &explainerv1.Instance{Kind: &explainerv1.Instance_Image{Image: img}}
		fill, err := parseFill(c.fill)
		if err != nil {
			return nil, err
		}
		g := uint32(max(c.grid, 1))
		seg := &explainerv1.Segmentation{Kind: &explainerv1.Segmentation_Grid{Grid: &explainerv1.GridSegmentation{
			Rows: min(g, img.GetHeight()), Cols: min(g, img.GetWidth()),
		}}}
		switch c.method {
		case "lime":
			req.Method = &explainerv1.ExplainRequest_LimeImage{LimeImage: &explainerv1.LimeImageOptions{
				NumSamples: n, Seed: &seed, Segmentation: seg, Fill: fill,
			}}
		case "kernelshap":
			req.Method = &explainerv1.ExplainRequest_KernelShap{KernelShap: &explainerv1.KernelShapOptions{
				NumSamples: n, Seed: &seed, Segmentation: seg, Fill: fill,
			}}
		case "occlusion":
			// A window of about a quarter of the image's side, sliding by
			// half a window: coarse enough to see a region matter.
			w := uint32(max(1, min(img.GetHeight(), img.GetWidth())/4))
			req.Method = &explainerv1.ExplainRequest_Occlusion{Occlusion: &explainerv1.OcclusionOptions{
				Window: []uint32{w, w}, Strides: []uint32{max(1, w/2), max(1, w/2)},
			}}
		default:
			return nil, fmt.Errorf("-method %q: an image takes lime, kernelshap or occlusion", c.method)
		}
	}
	return req, nil
}

// parseFill reads -fill. The default is the image's mean colour rather
// than lime's segment mean: a segment's own mean hides nothing of a
// segment of one colour (a single pixel, a flat patch).
func parseFill(s string) (*explainerv1.Fill, error) {
	switch s {
	case "mean":
		return &explainerv1.Fill{Kind: explainerv1.FillKind_FILL_KIND_MEAN}, nil
	case "segment-mean":
		return &explainerv1.Fill{Kind: explainerv1.FillKind_FILL_KIND_SEGMENT_MEAN}, nil
	case "blur":
		return &explainerv1.Fill{Kind: explainerv1.FillKind_FILL_KIND_BLUR}, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return nil, fmt.Errorf("-fill %q: want mean, segment-mean, blur or a number", s)
	}
	return &explainerv1.Fill{Kind: explainerv1.FillKind_FILL_KIND_CONSTANT, Value: v}, nil
}

func dataset(names []string, rows [][]float64) *explainerv1.Dataset {
	d := &explainerv1.Dataset{NumRows: uint32(len(rows)), FeatureNames: names}
	for _, r := range rows {
		d.Values = append(d.Values, r...)
	}
	return d
}

// readCSV reads a CSV of numbers with a header row, leaving out the column
// named target.
func readCSV(path, target string) (names []string, rows [][]float64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	header, err := r.Read()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: header: %w", path, err)
	}
	skip := -1
	for i, h := range header {
		if h = strings.TrimSpace(h); h == target {
			skip = i
			continue
		}
		names = append(names, h)
	}
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		row := make([]float64, 0, len(names))
		for i, cell := range rec {
			if i == skip {
				continue
			}
			v, err := strconv.ParseFloat(strings.TrimSpace(cell), 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, nil, fmt.Errorf("%s:%d: column %q: %q is not a finite number", path, line, header[i], cell)
			}
			row = append(row, v)
		}
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return nil, nil, fmt.Errorf("%s: no rows after the header", path)
	}
	return names, rows, nil
}

// readImage reads the -image JSON: an ImageInstance in protojson.
func readImage(path string) (*explainerv1.ImageInstance, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	img := &explainerv1.ImageInstance{}
	if err := protojson.Unmarshal(b, img); err != nil {
		return nil, fmt.Errorf(`%s: want {"height": H, "width": W, "channels": C, "layout": "IMAGE_LAYOUT_CHW", "values": [...]}: %w`, path, err)
	}
	if uint64(img.GetHeight())*uint64(img.GetWidth())*uint64(img.GetChannels()) != uint64(len(img.GetValues())) || len(img.GetValues()) == 0 {
		return nil, fmt.Errorf("%s: %d values for %d×%d×%d", path, len(img.GetValues()), img.GetHeight(), img.GetWidth(), img.GetChannels())
	}
	return img, nil
}

// jobID names the client's one job on its stream; a client running several
// jobs on one stream gives each its own.
const jobID = "job-1"

// explain runs req as one job on ExplainStream and returns its result.
// Progress goes to progress. When ctx ends first, it sends CancelJob and
// returns errCancelled once the sidecar has ended the job (or the stream,
// if the sidecar does not answer within a few seconds).
func explain(ctx context.Context, client explainerv1.ExplainerServiceClient, req *explainerv1.ExplainRequest,
	timeout time.Duration, progress io.Writer) (*explainerv1.Explanation, error) {
	// The stream's own context is not ctx: ending ctx must cancel the job
	// politely over the stream, not tear the stream down.
	sctx, cancelStream := context.WithTimeout(context.Background(), timeout)
	defer cancelStream()
	stream, err := client.ExplainStream(sctx)
	if err != nil {
		return nil, rpcError(err)
	}
	if err := stream.Send(&explainerv1.ExplainStreamRequest{Kind: &explainerv1.ExplainStreamRequest_Start{
		Start: &explainerv1.StartJob{JobId: jobID, Request: req},
	}}); err != nil {
		// io.EOF: the sidecar ended the stream; Recv below says why.
		if !errors.Is(err, io.EOF) {
			return nil, rpcError(err)
		}
	}

	// The send side stays open while the job runs, so that a CancelJob can
	// still be sent: closing it means "no more messages from me". Only
	// this goroutine sends from now on (a gRPC stream allows one sender and
	// one receiver at a time).
	jobDone := make(chan struct{})
	watcher := make(chan bool, 1) // whether it cancelled the job
	go func() {
		select {
		case <-jobDone:
			watcher <- false
			return
		case <-ctx.Done():
		}
		fmt.Fprintln(progress, "cancelling the job…")
		_ = stream.Send(&explainerv1.ExplainStreamRequest{Kind: &explainerv1.ExplainStreamRequest_Cancel{
			Cancel: &explainerv1.CancelJob{JobId: jobID},
		}})
		// The sidecar answers with the job's CANCELLED error at once; if it
		// does not, give up on the stream.
		select {
		case <-jobDone:
		case <-time.After(5 * time.Second):
			cancelStream()
		}
		watcher <- true
	}()
	exp, jobErr := receive(stream, progress)
	close(jobDone)
	if <-watcher && (jobErr != nil || exp == nil) {
		return nil, errCancelled
	}
	if jobErr != nil {
		return nil, jobErr
	}
	// Done: close the send side and read to the end of the stream, so that
	// the sidecar's handler finishes cleanly.
	_ = stream.CloseSend()
	for {
		if _, err := stream.Recv(); err != nil {
			break
		}
	}
	return exp, nil
}

// receive reads the job's events until its result or error, printing
// progress at most every 200 ms.
func receive(stream grpc.BidiStreamingClient[explainerv1.ExplainStreamRequest, explainerv1.ExplainStreamResponse],
	progress io.Writer) (*explainerv1.Explanation, error) {
	var last time.Time
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the sidecar ended the stream without a result")
		}
		if err != nil {
			return nil, rpcError(err)
		}
		switch ev := msg.GetEvent().(type) {
		case *explainerv1.ExplainStreamResponse_Progress:
			p := ev.Progress
			if time.Since(last) >= 200*time.Millisecond || p.GetSamplesScored() == p.GetSamplesTotal() {
				last = time.Now()
				fmt.Fprintf(progress, "progress: %d/%d samples scored in %d model calls\n",
					p.GetSamplesScored(), p.GetSamplesTotal(), p.GetModelCalls())
			}
		case *explainerv1.ExplainStreamResponse_Partial:
			if n := ev.Partial.GetBandsTotal(); n > 0 {
				fmt.Fprintf(progress, "partial result: %d/%d bands\n", ev.Partial.GetBandsDone(), n)
			}
		case *explainerv1.ExplainStreamResponse_Result:
			return ev.Result, nil
		case *explainerv1.ExplainStreamResponse_Error:
			e := ev.Error
			return nil, fmt.Errorf("job failed: %s: %s", codes.Code(uint32(e.GetCode())), e.GetMessage())
		}
	}
}

func rpcError(err error) error {
	st := status.Convert(err)
	return fmt.Errorf("%s: %s", st.Code(), st.Message())
}

// printExplanation prints a summary line, then per explained label the
// model's score and the top attributions by |weight| (pixels, for an
// occlusion map).
func printExplanation(w io.Writer, exp *explainerv1.Explanation, top int) {
	fmt.Fprintf(w, "%s · %s · %d samples in %d model calls", exp.GetMethod(), cmp.Or(exp.GetModel(), "default model"),
		exp.GetNumSamples(), exp.GetModelCalls())
	if exp.GetSeed() != 0 { // the sampling methods; rerun with -seed to get the same result
		fmt.Fprintf(w, " · seed %d", exp.GetSeed())
	}
	fmt.Fprintf(w, " · %v\n", exp.GetElapsed().AsDuration().Round(time.Millisecond))
	name := func(label uint32) string {
		if names := exp.GetClassNames(); int(label) < len(names) {
			return fmt.Sprintf("label %d (%s)", label, names[label])
		}
		return fmt.Sprintf("label %d", label)
	}
	for _, le := range exp.GetLabels() {
		if len(le.GetAttributions()) == 0 && len(exp.GetMaps()) > 0 {
			continue // an image's occlusion: the maps below say it all
		}
		fmt.Fprintf(w, "\n%s: model says %.4f", name(le.GetLabel()), le.GetPrediction())
		if le.GetModelValue() != 0 || le.GetBaseValue() != 0 {
			fmt.Fprintf(w, " · Shapley values add up to %.4f − %.4f", le.GetModelValue(), le.GetBaseValue())
		}
		fmt.Fprintln(w)
		atts := slices.Clone(le.GetAttributions())
		slices.SortStableFunc(atts, func(a, b *explainerv1.Attribution) int {
			return cmp.Compare(math.Abs(b.GetWeight()), math.Abs(a.GetWeight()))
		})
		for _, a := range atts[:min(top, len(atts))] {
			feature := a.GetFeature()
			if feature == "" {
				feature = fmt.Sprintf("segment %d", a.GetIndex()) // lime_image: segments have no names
			}
			fmt.Fprintf(w, "  %+.4f  %s\n", a.GetWeight(), feature)
		}
	}
	for _, m := range exp.GetMaps() {
		fmt.Fprintf(w, "\n%s", name(m.GetLabel()))
		if sc := exp.GetInstanceScores(); int(m.GetLabel()) < len(sc) {
			fmt.Fprintf(w, ": model says %.4f", sc[m.GetLabel()])
		}
		fmt.Fprintln(w, "; the pixels whose occlusion moves it most:")
		idx := make([]int, len(m.GetValues()))
		for i := range idx {
			idx[i] = i
		}
		v := m.GetValues()
		slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(math.Abs(v[b]), math.Abs(v[a])) })
		for _, i := range idx[:min(top, len(idx))] {
			fmt.Fprintf(w, "  %+.4f  pixel (y %d, x %d)\n", v[i], i/int(m.GetWidth()), i%int(m.GetWidth()))
		}
	}
}
