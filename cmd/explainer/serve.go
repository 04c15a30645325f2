package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/reflection"

	"github.com/explainer-sidecar/explainer/predictor"
	"github.com/explainer-sidecar/explainer/server"
)

type serveConfig struct {
	listen            string
	target            string
	protocol          string
	model             string
	maxBatchSize      int
	inFlight          int
	maxConcurrentJobs int
	jobTimeout        time.Duration
	reflection        bool
	softmax           bool
	inputName         string
	outputName        string
	inputDatatype     string
	modelVersion      string
	healthInterval    time.Duration
	drainTimeout      time.Duration
	plaintext         bool
}

func (c *serveConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.listen, "listen", "127.0.0.1:50051", "address the sidecar listens on")
	fs.StringVar(&c.target, "predictor", "127.0.0.1:8001", "model server address: host:port, or dns:///name:port for several replicas (round_robin)")
	fs.StringVar(&c.protocol, "protocol", "kserve-v2", "model server protocol: kserve-v2 (Triton, KServe) or predict-v1")
	fs.StringVar(&c.model, "model", "", "model explained when a request names none")
	fs.IntVar(&c.maxBatchSize, "max-batch-size", 0, "rows per model call; 0 = what the model server reports, else 64")
	fs.IntVar(&c.inFlight, "in-flight", server.DefaultInFlight, "batches of one job in flight at once")
	fs.IntVar(&c.maxConcurrentJobs, "max-concurrent-jobs", server.DefaultMaxConcurrentJobs, "jobs running at once; more are refused with RESOURCE_EXHAUSTED")
	fs.DurationVar(&c.jobTimeout, "job-timeout", server.DefaultJobTimeout, "deadline of a job whose client set none")
	fs.BoolVar(&c.reflection, "reflection", false, "register the gRPC reflection service")
	fs.BoolVar(&c.softmax, "softmax", false, "kserve-v2: the model returns logits; turn them into probabilities")
	fs.StringVar(&c.inputName, "input-name", "", "kserve-v2: input tensor name (default: the first input in the model metadata)")
	fs.StringVar(&c.outputName, "output-name", "", "kserve-v2: output tensor name (default: the first output in the model metadata)")
	fs.StringVar(&c.inputDatatype, "input-datatype", "", "kserve-v2: FP32, FP64 or INT64 (default: from the model metadata)")
	fs.StringVar(&c.modelVersion, "model-version", "", "kserve-v2: model version (default: the server's choice)")
	fs.DurationVar(&c.healthInterval, "health-interval", 5*time.Second, "how often the model server's readiness is checked")
	fs.BoolVar(&c.plaintext, "predictor-plaintext", false, "connect to the model server without TLS (e.g. Triton on localhost); default TLS with the system's roots")
	fs.DurationVar(&c.drainTimeout, "drain-timeout", 20*time.Second, "on SIGTERM, how long running jobs may finish before they are cancelled")
}

func serve(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("explainer serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg serveConfig
	cfg.flags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	lis, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return err
	}
	var dialOpts []predictor.DialOption
	if cfg.plaintext {
		dialOpts = append(dialOpts, predictor.WithInsecure())
	}
	conn, err := predictor.Dial(cfg.target, dialOpts...)
	if err != nil {
		lis.Close()
		return err
	}
	defer conn.Close()
	newClient, err := cfg.clientFunc(conn)
	if err != nil {
		lis.Close()
		return err
	}
	log.Info("explainer serving", "listen", lis.Addr().String(), "predictor", cfg.target, "protocol", cfg.protocol, "model", cfg.model)
	return serveOn(ctx, lis, newClient, &cfg, log)
}

// clientFunc builds the model clients for the configured protocol.
func (c *serveConfig) clientFunc(conn grpc.ClientConnInterface) (server.ClientFunc, error) {
	switch c.protocol {
	case "predict-v1":
		return func(model string) predictor.Client { return predictor.NewPredictV1(conn, model) }, nil
	case "kserve-v2":
		var opts []predictor.KServeOption
		if c.inputName != "" {
			opts = append(opts, predictor.WithInputName(c.inputName))
		}
		if c.outputName != "" {
			opts = append(opts, predictor.WithOutputName(c.outputName))
		}
		if c.inputDatatype != "" {
			opts = append(opts, predictor.WithInputDatatype(c.inputDatatype))
		}
		if c.modelVersion != "" {
			opts = append(opts, predictor.WithModelVersion(c.modelVersion))
		}
		opts = append(opts, predictor.WithSoftmax(c.softmax))
		return func(model string) predictor.Client { return predictor.NewKServeV2(conn, model, opts...) }, nil
	}
	return nil, fmt.Errorf("unknown --protocol %q: want kserve-v2 or predict-v1", c.protocol)
}

// serveOn runs the sidecar on lis until ctx ends, then stops gracefully:
// health NOT_SERVING first, then GracefulStop raced against the drain
// timeout, then Stop.
func serveOn(ctx context.Context, lis net.Listener, newClient server.ClientFunc, cfg *serveConfig, log *slog.Logger) error {
	srv := server.New(newClient,
		server.WithDefaultModel(cfg.model),
		server.WithMaxBatchSize(cfg.maxBatchSize),
		server.WithInFlight(cfg.inFlight),
		server.WithMaxConcurrentJobs(cfg.maxConcurrentJobs),
		server.WithJobTimeout(cfg.jobTimeout),
		server.WithLogger(log),
	)
	gs := grpc.NewServer(server.GRPCServerOptions(log)...)
	srv.Register(gs)
	if cfg.reflection {
		reflection.Register(gs)
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go srv.WatchModel(watchCtx, cfg.healthInterval)

	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "drain_timeout", cfg.drainTimeout)
	srv.Shutdown()
	stopped := make(chan struct{})
	go func() { gs.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(cfg.drainTimeout):
		srv.CancelJobs()
		gs.Stop()
		<-stopped
	}
	if err := <-served; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}
