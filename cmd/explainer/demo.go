package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/explainer-sidecar/explainer/internal/demo"
	"github.com/explainer-sidecar/explainer/internal/table"
	"github.com/explainer-sidecar/explainer/predictor"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
	predictv1 "github.com/explainer-sidecar/explainer/proto/predict/v1"
	"github.com/explainer-sidecar/explainer/server"
)

// demoCmd trains the demo model, serves it over predict.v1 on loopback,
// starts a sidecar in front of it, and explains one row through the
// sidecar's stream, exactly as `explainer explain` would.
func demoCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("explainer demo", flag.ContinueOnError)
	var f explainFlags
	var httpListen string
	fs.IntVar(&f.row, "row", 0, "breast-cancer row to explain, 0 to 568")
	fs.StringVar(&httpListen, "http-listen", "", "then keep the sidecar serving its HTTP API (JSON, KServe's /v1/models/breast_cancer:explain) at this address, e.g. 127.0.0.1:8080, until interrupted, with the breast-cancer data as its default training data")
	fs.IntVar(&f.maxBatch, "max-batch-size", 256, "the demo model server's max batch size")
	f.limeFlags(fs)
	f.checkFlags.register(fs)
	if err := demoCommand().parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if err := checkOutput(f.output); err != nil {
		return err
	}
	if !flagSet(fs, "seed") {
		f.seed = 7 // the demo prints the same explanation every time
	}
	modelAddr, data, stopModel, err := startDemoModel(f.maxBatch)
	if err != nil {
		return err
	}
	defer stopModel()
	if f.row < 0 || f.row >= len(data.Rows) {
		return fmt.Errorf("-row %d: the data set has rows 0 to %d", f.row, len(data.Rows)-1)
	}

	// The sidecar, pointed at it.
	conn, err := predictor.Dial(modelAddr, predictor.WithInsecure())
	if err != nil {
		return err
	}
	defer conn.Close()
	sidecarLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	cfg := serveConfig{model: demo.ModelName, inFlight: 4, maxConcurrentJobs: 4, jobTimeout: time.Minute, healthInterval: time.Second, drainTimeout: time.Second}
	if httpListen != "" {
		if cfg.http.lis, err = net.Listen("tcp", httpListen); err != nil {
			sidecarLis.Close()
			return fmt.Errorf("-http-listen: %w", err)
		}
		cfg.serverOpts = []server.Option{server.WithRequestDefaults(withTrainingData(nil, data, true)...)}
	}
	sidecarCtx, stopSidecar := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- serveOn(sidecarCtx, sidecarLis,
			func(name string) predictor.Client { return predictor.NewPredictV1(conn, name) },
			&cfg, slog.New(slog.DiscardHandler))
	}()
	defer func() { stopSidecar(); <-served }()

	fmt.Fprintf(stderr, "demo: logistic regression on breast cancer served over predict.v1 at %s; sidecar at %s\n",
		modelAddr, sidecarLis.Addr())
	fmt.Fprintf(stderr, "demo: explaining row %d (true class: %s)\n\n", f.row, demo.ClassNames[int(data.Target[f.row])])

	client, err := grpc.NewClient(sidecarLis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		return err
	}
	defer client.Close()
	req, err := f.limeRequest(data.Rows[f.row], data)
	if err != nil {
		return err
	}
	req.Model = demo.ModelName
	if err := f.checkFlags.apply(req); err != nil {
		return err
	}
	exp, err := explainOnStream(ctx, explainerv1.NewExplainerServiceClient(client), req, nil, newProgress(f.progress, stderr))
	if err != nil {
		return err
	}
	if err := f.applyClassNames(exp); err != nil {
		return err
	}
	if err := f.writeOutputs(stdout, exp, f.view()); err != nil || httpListen == "" {
		return err
	}
	fmt.Fprintf(stderr, "\ndemo: the sidecar serves HTTP at http://%s until interrupted; try\n"+
		"  curl -X POST http://%s/v1/models/%s:explain -d '{\"instances\": [[%s]]}'\n",
		cfg.http.lis.Addr(), cfg.http.lis.Addr(), demo.ModelName, strings.Trim(strings.Join(strings.Fields(fmt.Sprint(data.Rows[f.row])), ", "), "[]"))
	<-ctx.Done()
	return nil
}

// startDemoModel trains the demo model and serves it over predict.v1 on a
// loopback port, as a user would run their model server.
func startDemoModel(maxBatch int) (addr string, data *table.Table, stop func(), err error) {
	data, err = demo.BreastCancer()
	if err != nil {
		return "", nil, nil, err
	}
	model, err := demo.TrainLogistic(data.Rows, data.Target, 1)
	if err != nil {
		return "", nil, nil, err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, nil, err
	}
	srv := grpc.NewServer()
	predictv1.RegisterPredictServiceServer(srv, demo.NewServer(model, data.Names, maxBatch))
	go func() { _ = srv.Serve(lis) }()
	return lis.Addr().String(), data, srv.Stop, nil
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
