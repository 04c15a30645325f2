package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/reflection"

	"github.com/explainer-sidecar/explainer/internal/tlsconfig"
	"github.com/explainer-sidecar/explainer/predictor"
	"github.com/explainer-sidecar/explainer/server"
)

type serveConfig struct {
	listen            string
	target            string
	protocol          string
	model             string
	maxBatchSize      int
	maxBatchBytes     int
	inFlight          int
	batchLinger       time.Duration
	batchConcurrency  int
	maxConcurrentJobs int
	jobTimeout        time.Duration
	reflection        bool
	softmax           bool
	inputName         string
	outputName        string
	inputDatatype     string
	modelVersion      string
	healthInterval    time.Duration
	startupTimeout    time.Duration
	drainTimeout      time.Duration
	plaintext         bool
	maxQueuedJobs     int
	maxJobsPerStream  int
	dataIdleTimeout   time.Duration
	metricsListen     string
	// metricsLis, when set, serves /metrics (serve opens it from
	// --metrics-listen; tests set it).
	metricsLis net.Listener
	// healthListen and healthLis are the plaintext health-only port.
	healthListen string
	healthLis    net.Listener

	// The listener's TLS and authentication.
	tlsCert, tlsKey, tlsClientCA string
	authTokens                   string
	// TLS to the model server.
	predictorCA, predictorCert, predictorKey, predictorServerName string

	// security, once built (serve builds it before listening so that a bad
	// file fails fast), is what serveOn uses instead of building it.
	security      []grpc.ServerOption
	securityBuilt bool

	kserve     kserveConfig    // KServe's arguments (kserve.go)
	http       httpServeConfig // the HTTP API (http.go)
	defaults   defaultsConfig  // request defaults (defaults.go)
	serverOpts []server.Option // built by serve from defaults
}

func (c *serveConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.listen, "listen", "127.0.0.1:50051", "address the sidecar listens on")
	fs.StringVar(&c.target, "predictor", "127.0.0.1:8001", "model server address: host:port, or dns:///name:port for several replicas (round_robin); for the -http protocols a URL, http://host:port (plaintext) or https://host:port, with an optional path prefix")
	fs.StringVar(&c.protocol, "protocol", "kserve-v2", "model server protocol: kserve-v2 (Triton, KServe over gRPC), predict-v1, kserve-v1-http (KServe v1 REST) or kserve-v2-http (Open Inference Protocol REST); default kserve-v1-http with --predictor_host")
	fs.StringVar(&c.model, "model", "", "model explained when a request names none")
	fs.IntVar(&c.maxBatchSize, "max-batch-size", 0, "rows per model call; 0 = what the model server reports (max_batch_size, a fixed first input dimension, or no row cap: only -max-batch-bytes), else 64")
	fs.IntVar(&c.maxBatchBytes, "max-batch-bytes", 0, "payload per model call in bytes, counted as sent: 4 per value for a KServe v2 FP32 input, 2 for FP16, 1 for UINT8, else 8 (images: 0.6 or 1.2 MB per 224×224×3); 0 = 3 MiB, under a model server's default 4 MiB receive limit; raise it for Triton (e.g. 64000000 with its default 2 GB limit) to send whole batches of images")
	fs.IntVar(&c.inFlight, "in-flight", server.DefaultInFlight, "calls of one model at the model server at once, shared by all its jobs")
	fs.DurationVar(&c.batchLinger, "batch-linger", 0, "how long a model call that would go out less than full may wait for more rows while another call of the model is in flight (Triton's max_queue_delay): fewer, fuller calls for a GPU model; 0 = send as soon as a call slot is free")
	fs.IntVar(&c.batchConcurrency, "batch-concurrency", 0, "instances of one batch job explained at once (fewer when they would hold more than server.MaxBatchSampleValues); 0: enough for two rounds of full model calls, at least 32")
	fs.IntVar(&c.maxConcurrentJobs, "max-concurrent-jobs", server.DefaultMaxConcurrentJobs, "jobs running at once; more wait in the queue")
	fs.IntVar(&c.maxQueuedJobs, "max-queued-jobs", 2*server.DefaultMaxConcurrentJobs, "jobs waiting for a slot, first come first served; more are refused with RESOURCE_EXHAUSTED (jobs whose data is streamed never wait)")
	fs.IntVar(&c.maxJobsPerStream, "max-jobs-per-stream", server.DefaultMaxJobsPerStream, "jobs one ExplainStream holds at once, running or queued; more are refused with RESOURCE_EXHAUSTED")
	fs.DurationVar(&c.dataIdleTimeout, "data-idle-timeout", server.DefaultDataIdleTimeout, "a job whose data is streamed fails with DEADLINE_EXCEEDED when it waits longer than this for its next chunk")
	fs.StringVar(&c.metricsListen, "metrics-listen", "", "address of the Prometheus /metrics HTTP endpoint, e.g. 127.0.0.1:9090; empty = off")
	fs.StringVar(&c.healthListen, "health-listen", "", "address of a plaintext gRPC port serving only grpc.health.v1.Health, for probes that cannot speak TLS (the kubelet's grpc probes) when -tls-cert is set; empty = off")
	fs.DurationVar(&c.jobTimeout, "job-timeout", server.DefaultJobTimeout, "deadline of a job whose client set none")
	fs.BoolVar(&c.reflection, "reflection", false, "register the gRPC reflection service")
	fs.BoolVar(&c.softmax, "softmax", false, "kserve-v2: the model returns logits; turn them into probabilities")
	fs.StringVar(&c.inputName, "input-name", "", "kserve-v2: input tensor name (default: the first input in the model metadata)")
	fs.StringVar(&c.outputName, "output-name", "", "kserve-v2: output tensor name (default: the first output in the model metadata)")
	fs.StringVar(&c.inputDatatype, "input-datatype", "", "kserve-v2: FP32, FP64, INT64, FP16 or UINT8 (default: from the model metadata)")
	fs.StringVar(&c.modelVersion, "model-version", "", "kserve-v2: model version (default: the server's choice)")
	fs.DurationVar(&c.healthInterval, "health-interval", 5*time.Second, "how often the model server's readiness is checked")
	fs.DurationVar(&c.startupTimeout, "startup-timeout", 60*time.Second, "at start-up, how long to wait for the model server to be ready (the --model's readiness) before serving; past it the sidecar serves anyway, its explainer health NOT_SERVING until the model is ready; 0 = do not wait")
	fs.BoolVar(&c.plaintext, "predictor-plaintext", false, "connect to the model server without TLS (e.g. Triton on localhost); default TLS with the system's roots")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "PEM certificate (chain) the sidecar serves TLS with; reloaded when the file changes. Without it the sidecar listens in plaintext")
	fs.StringVar(&c.tlsKey, "tls-key", "", "PEM private key of -tls-cert; reloaded when the file changes")
	fs.StringVar(&c.tlsClientCA, "tls-client-ca", "", "PEM CA bundle: require client certificates signed by it (mutual TLS); needs -tls-cert")
	fs.StringVar(&c.authTokens, "auth-tokens", "", "file of accepted bearer tokens, one per line (# comments); every RPC but grpc.health.v1.Health needs one (reflection too); re-read when the file changes; emptied or deleted, it accepts no token")
	fs.StringVar(&c.predictorCA, "predictor-ca", "", "PEM CA bundle that verifies the model server (default: the system's roots)")
	fs.StringVar(&c.predictorCert, "predictor-cert", "", "PEM client certificate presented to the model server (mutual TLS); with -predictor-key")
	fs.StringVar(&c.predictorKey, "predictor-key", "", "PEM private key of -predictor-cert")
	fs.StringVar(&c.predictorServerName, "predictor-server-name", "", "name expected in the model server's certificate (default: the host of -predictor)")
	fs.DurationVar(&c.drainTimeout, "drain-timeout", 20*time.Second, "on SIGTERM, how long running jobs may finish before they are cancelled")
	c.http.flags(fs)
	c.defaults.flags(fs)
	c.kserve.flags(fs)
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("explainer serve", flag.ContinueOnError)
	var cfg serveConfig
	cfg.flags(fs)
	if err := serveCommand().parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if err := cfg.applyKServe(fs); err != nil {
		return err
	}
	var err error
	if cfg.serverOpts, err = cfg.defaults.serverOptions(); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	dialOpt, err := cfg.predictorSecurity(log)
	if err != nil {
		return err
	}
	if cfg.security, err = cfg.listenerSecurity(log); err != nil {
		return err
	}
	cfg.securityBuilt = true
	if cfg.tlsCert == "" {
		log.Warn("listening in plaintext: give -tls-cert and -tls-key to serve TLS")
		if cfg.authTokens != "" {
			log.Warn("bearer tokens will cross the network in clear: -auth-tokens without -tls-cert")
		}
	}
	if cfg.metricsListen != "" {
		if cfg.metricsLis, err = net.Listen("tcp", cfg.metricsListen); err != nil {
			return fmt.Errorf("--metrics-listen: %w", err)
		}
	}
	if err := cfg.openHTTP(); err != nil {
		return err
	}
	if cfg.healthListen != "" {
		if cfg.healthLis, err = net.Listen("tcp", cfg.healthListen); err != nil {
			return fmt.Errorf("--health-listen: %w", err)
		}
	}
	lis, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return err
	}
	newClient, closeClients, err := cfg.modelClients(dialOpt, log)
	if err != nil {
		lis.Close()
		return err
	}
	defer closeClients()
	cfg.awaitModel(ctx, newClient, log)
	metricsAddr := ""
	if cfg.metricsLis != nil {
		metricsAddr = cfg.metricsLis.Addr().String()
	}
	log.Info("explainer serving", "listen", lis.Addr().String(), "predictor", cfg.target, "protocol", cfg.protocol, "model", cfg.model,
		"tls", cfg.tlsCert != "", "mtls", cfg.tlsClientCA != "", "auth", cfg.authTokens != "", "predictor_tls", !cfg.plaintext,
		"metrics", metricsAddr)
	return serveOn(ctx, lis, newClient, &cfg, log)
}

// awaitModel waits, at most --startup-timeout, until the model server says
// the --model is ready, and logs when it is, or a warning with the last
// error when the time is up. Meanwhile the listener is open but not served:
// clients' connections wait (gRPC channels stay CONNECTING) rather than
// fail, so a job sent right after start-up does not race the model server.
func (c *serveConfig) awaitModel(ctx context.Context, newClient server.ClientFunc, log *slog.Logger) {
	if c.startupTimeout <= 0 || c.model == "" {
		return
	}
	wctx, cancel := context.WithTimeout(ctx, c.startupTimeout)
	defer cancel()
	client, start := newClient(c.model), time.Now()
	var lastErr error
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		err := client.Ready(wctx)
		if err == nil {
			log.Info("model server ready", "model", c.model, "waited", time.Since(start).Round(time.Millisecond))
			return
		}
		if lastErr == nil || wctx.Err() == nil {
			lastErr = err
		}
		if wctx.Err() == nil {
			if wait == 100*time.Millisecond {
				log.Info("waiting for the model server", "model", c.model, "startup_timeout", c.startupTimeout, "error", err)
			}
			t := time.NewTimer(wait)
			select {
			case <-t.C:
				continue
			case <-wctx.Done():
				t.Stop()
			}
		}
		if ctx.Err() == nil {
			log.Warn("model server not ready within --startup-timeout: serving anyway, explainer health NOT_SERVING until it is",
				"model", c.model, "startup_timeout", c.startupTimeout, "error", lastErr)
		}
		return
	}
}

// predictorSecurity returns how to reach the model server: plaintext only
// when -predictor-plaintext asks for it, else TLS with the -predictor-*
// files.
func (c *serveConfig) predictorSecurity(log *slog.Logger) (predictor.DialOption, error) {
	if c.plaintext {
		if c.predictorCA != "" || c.predictorCert != "" || c.predictorKey != "" || c.predictorServerName != "" {
			return nil, errors.New("-predictor-plaintext conflicts with -predictor-ca, -predictor-cert, -predictor-key and -predictor-server-name")
		}
		return predictor.WithInsecure(), nil
	}
	cfg, err := tlsconfig.Client(tlsconfig.ClientFiles{
		CA: c.predictorCA, Cert: c.predictorCert, Key: c.predictorKey, ServerName: c.predictorServerName,
	}, log)
	if err != nil {
		return nil, fmt.Errorf("model server TLS: %w", err)
	}
	return predictor.WithTLS(cfg), nil
}

// listenerSecurity returns the listener's transport credentials (TLS when
// -tls-cert is given) and, with -auth-tokens, the bearer-token
// interceptors.
func (c *serveConfig) listenerSecurity(log *slog.Logger) ([]grpc.ServerOption, error) {
	var opts []grpc.ServerOption
	switch {
	case c.tlsCert != "" || c.tlsKey != "":
		cfg, err := tlsconfig.Server(tlsconfig.ServerFiles{Cert: c.tlsCert, Key: c.tlsKey, ClientCA: c.tlsClientCA}, log)
		if err != nil {
			return nil, fmt.Errorf("listener TLS: %w", err)
		}
		opts = append(opts, grpc.Creds(credentials.NewTLS(cfg)))
	case c.tlsClientCA != "":
		return nil, errors.New("-tls-client-ca needs -tls-cert and -tls-key")
	}
	if c.authTokens != "" {
		tokens, err := server.LoadTokenFile(c.authTokens, log)
		if err != nil {
			return nil, fmt.Errorf("-auth-tokens: %w", err)
		}
		opts = append(opts, server.AuthServerOptions(tokens)...)
	}
	return opts, nil
}

// modelClients builds the model clients for the configured protocol, and
// what closes their connections: a gRPC channel dialled with dialOpt, or
// for the -http protocols a pool of HTTP connections (see httpClientFunc).
func (c *serveConfig) modelClients(dialOpt predictor.DialOption, log *slog.Logger) (server.ClientFunc, func(), error) {
	if c.protocol == "kserve-v1-http" || c.protocol == "kserve-v2-http" {
		return c.httpClientFunc(log)
	}
	// A batch and its reply must fit the channel's message limit, with room
	// for the framing.
	conn, err := predictor.Dial(c.target, dialOpt, predictor.WithMaxMsgSize(max(predictor.DefaultMaxMsgSize, c.maxBatchBytes+1<<20)))
	if err != nil {
		return nil, nil, err
	}
	newClient, err := c.clientFunc(conn)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return newClient, func() { conn.Close() }, nil
}

// clientFunc builds the model clients of the gRPC protocols on conn.
func (c *serveConfig) clientFunc(conn grpc.ClientConnInterface) (server.ClientFunc, error) {
	switch c.protocol {
	case "predict-v1":
		return func(model string) predictor.Client { return predictor.NewPredictV1(conn, model) }, nil
	case "kserve-v2":
		if d := c.inputDatatype; d != "" {
			if err := predictor.CheckInputDatatype(d); err != nil {
				return nil, fmt.Errorf("-input-datatype: %w", err)
			}
		}
		opts := c.kserveOptions()
		return func(model string) predictor.Client { return predictor.NewKServeV2(conn, model, opts...) }, nil
	}
	return nil, fmt.Errorf("unknown --protocol %q: want kserve-v2, predict-v1, kserve-v1-http or kserve-v2-http", c.protocol)
}

// kserveOptions are the tensor options of the KServe clients, gRPC or HTTP.
func (c *serveConfig) kserveOptions() []predictor.KServeOption {
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
	return append(opts, predictor.WithSoftmax(c.softmax))
}

// httpClientFunc builds the model clients of kserve-v1-http and
// kserve-v2-http, sharing one pool of keep-alive connections with room for
// every batch in flight (-in-flight × -max-concurrent-jobs). -predictor
// is a URL: http:// asks for plaintext by name, https:// uses TLS with the
// -predictor-* files; a bare host:port is https://, or http:// with
// -predictor-plaintext.
func (c *serveConfig) httpClientFunc(log *slog.Logger) (server.ClientFunc, func(), error) {
	base := c.target
	if !strings.Contains(base, "://") {
		base = "https://" + base
		if c.plaintext {
			base = "http://" + c.target
		}
	}
	var tlsCfg *tls.Config
	switch u, err := url.Parse(base); {
	case err != nil:
		return nil, nil, fmt.Errorf("-predictor: %w", err)
	case u.Scheme == "https" && c.plaintext:
		return nil, nil, errors.New("-predictor-plaintext conflicts with an https:// -predictor")
	case u.Scheme == "https":
		if tlsCfg, err = tlsconfig.Client(tlsconfig.ClientFiles{
			CA: c.predictorCA, Cert: c.predictorCert, Key: c.predictorKey, ServerName: c.predictorServerName,
		}, log); err != nil {
			return nil, nil, fmt.Errorf("model server TLS: %w", err)
		}
	case c.predictorCA != "" || c.predictorCert != "" || c.predictorKey != "" || c.predictorServerName != "":
		return nil, nil, errors.New("an http:// -predictor is plaintext: -predictor-ca, -predictor-cert, -predictor-key and -predictor-server-name need https://")
	default:
		c.plaintext = true // asked for by the URL's scheme; logged as such
	}
	rt := predictor.NewHTTPTransport(tlsCfg, c.inFlight*c.maxConcurrentJobs)
	opts := []predictor.HTTPOption{predictor.WithHTTPTransport(rt)}
	for _, o := range c.kserveOptions() {
		opts = append(opts, o)
	}
	newClient := func(model string) (predictor.Client, error) {
		if c.protocol == "kserve-v1-http" {
			return predictor.NewKServeV1HTTP(base, model, opts...)
		}
		return predictor.NewKServeV2HTTP(base, model, opts...)
	}
	// The constructors' errors depend on the URL and options only: check
	// them once, here.
	if _, err := newClient(""); err != nil {
		return nil, nil, fmt.Errorf("-predictor: %w", err)
	}
	return func(model string) predictor.Client {
		cl, _ := newClient(model)
		return cl
	}, rt.CloseIdleConnections, nil
}

// Bounds of the steps of a stop after the drain timeout: the cancelled jobs
// have cancelGrace to end, then the gRPC server has stopGrace to send what
// remains before its connections are closed. A stop takes at most the
// drain timeout plus both.
const (
	cancelGrace = 2 * time.Second
	stopGrace   = 3 * time.Second
)

// serveOn runs the sidecar on lis until ctx ends, then stops gracefully:
// health NOT_SERVING and new jobs refused while the listener keeps
// answering; running jobs may finish within the drain timeout; then the
// jobs still running are cancelled and their UNAVAILABLE "server shutting
// down" delivered; then GracefulStop, raced against stopGrace, then Stop.
func serveOn(ctx context.Context, lis net.Listener, newClient server.ClientFunc, cfg *serveConfig, log *slog.Logger) error {
	reg := prometheus.NewRegistry()
	// go_gc_heap_live_bytes, the heap live after the last GC, besides the
	// default go_memstats_*: what a leak makes grow.
	reg.MustRegister(collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
		collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/gc/heap/live:bytes$`)})),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := server.NewMetrics(reg)
	srv := server.New(newClient, append([]server.Option{
		server.WithDefaultModel(cfg.model),
		server.WithMaxBatchSize(cfg.maxBatchSize),
		server.WithMaxBatchBytes(cfg.maxBatchBytes),
		server.WithInFlight(cfg.inFlight),
		server.WithBatchLinger(cfg.batchLinger),
		server.WithBatchConcurrency(cfg.batchConcurrency),
		server.WithMaxConcurrentJobs(cfg.maxConcurrentJobs),
		server.WithMaxQueuedJobs(cfg.maxQueuedJobs),
		server.WithMaxJobsPerStream(cfg.maxJobsPerStream),
		server.WithDataIdleTimeout(cfg.dataIdleTimeout),
		server.WithJobTimeout(cfg.jobTimeout),
		server.WithLogger(log),
		server.WithMetrics(metrics),
	}, cfg.serverOpts...)...)
	if cfg.metricsLis != nil {
		mux := http.NewServeMux()
		mux.Handle("/metrics", metrics.Handler())
		hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = hs.Serve(cfg.metricsLis) }()
		defer hs.Close()
	}
	security := cfg.security
	if !cfg.securityBuilt {
		var err error
		if security, err = cfg.listenerSecurity(log); err != nil {
			lis.Close()
			return err
		}
	}
	gs := grpc.NewServer(append(server.GRPCServerOptionsWith(log, metrics), security...)...)
	srv.Register(gs)
	if cfg.healthLis != nil {
		// Health only, so plaintext exposes nothing else; it stops last,
		// so probes see NOT_SERVING while the main listener drains.
		hs := grpc.NewServer()
		srv.RegisterHealth(hs)
		go func() { _ = hs.Serve(cfg.healthLis) }()
		defer hs.Stop()
	}
	if cfg.reflection {
		reflection.Register(gs)
	}
	front, err := cfg.startHTTP(srv, metrics, security, log)
	if err != nil {
		lis.Close()
		return err
	}
	defer front.stop()
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
	log.Info("shutting down: health NOT_SERVING, new jobs refused, running jobs draining", "drain_timeout", cfg.drainTimeout)
	srv.Shutdown()
	if err := drain(srv, cfg.drainTimeout); err != nil {
		log.Warn("drain timeout: cancelling the jobs still running")
		srv.CancelJobs()
		if err := drain(srv, cancelGrace); err != nil {
			log.Error("jobs still running after their cancellation; stopping anyway", "waited", cancelGrace)
		}
	}
	// Every job has ended and handed its outcome to gRPC; streams end by
	// themselves once their jobs have. GracefulStop lets the responses
	// reach the clients; Stop cuts off clients that do not read.
	stopped := make(chan struct{})
	go func() { gs.GracefulStop(); front.gracefulStop(); close(stopped) }()
	t := time.NewTimer(stopGrace)
	defer t.Stop()
	select {
	case <-stopped:
	case <-t.C:
		log.Warn("connections still open after the jobs ended; closing them", "waited", stopGrace)
		gs.Stop()
		front.stop()
		<-stopped
	}
	if err := <-served; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	log.Info("stopped")
	return nil
}

// drain waits up to d for srv's jobs to end.
func drain(srv *server.Server, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return srv.Drain(ctx)
}
