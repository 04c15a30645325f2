package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/reflection"

	"github.com/explainer-sidecar/explainer/httpapi"
	"github.com/explainer-sidecar/explainer/internal/tlsconfig"
	"github.com/explainer-sidecar/explainer/server"
)

// httpServeConfig are serve's HTTP flags.
type httpServeConfig struct {
	listen string
	// lis, when set, serves the HTTP API (serve opens it from
	// --http-listen or --http_port; tests set it).
	lis net.Listener
}

func (h *httpServeConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&h.listen, "http-listen", "", "address of the HTTP API, e.g. 0.0.0.0:8080: every RPC as POST /explainer.v1.ExplainerService/METHOD with a JSON body (the Connect protocol; ExplainStream needs HTTP/2), ExplainJob as NDJSON, and KServe's /v1/models/NAME:explain, readiness and liveness; the same TLS and tokens as the gRPC listener; empty = off")
}

// openHTTP opens the HTTP listener, when one is asked for.
func (c *serveConfig) openHTTP() error {
	if c.http.listen == "" || c.http.lis != nil {
		return nil
	}
	lis, err := net.Listen("tcp", c.http.listen)
	if err != nil {
		return fmt.Errorf("--http-listen: %w", err)
	}
	c.http.lis = lis
	return nil
}

// httpFront is the HTTP listener and the gRPC server behind its transcoder.
// That server is its own, with the same services, options and
// interceptors as the gRPC listener's: grpc.Server.GracefulStop cuts the
// calls it serves through ServeHTTP at once, so the HTTP calls drain with
// the HTTP server's Shutdown instead.
type httpFront struct {
	gs *grpc.Server
	hs *http.Server
}

// startHTTP serves the HTTP API on c.http.lis; nil when there is none.
// security are the gRPC listener's options (tokens); TLS is the
// listener's, from the same files.
func (c *serveConfig) startHTTP(srv *server.Server, metrics *server.Metrics, security []grpc.ServerOption, log *slog.Logger) (*httpFront, error) {
	if c.http.lis == nil {
		return nil, nil
	}
	gs := grpc.NewServer(append(server.GRPCServerOptionsWith(log, metrics), security...)...)
	srv.Register(gs)
	if c.reflection {
		reflection.Register(gs)
	}
	model := c.kserve.modelName
	if model == "" {
		model = c.model
	}
	h, err := httpapi.New(gs,
		httpapi.WithModel(model),
		httpapi.WithReady(srv.Ready),
		httpapi.WithBatches(srv.BatchRequest),
		httpapi.WithMaxInstancesInFlight(c.maxConcurrentJobs),
		httpapi.WithLogger(log))
	if err != nil {
		c.http.lis.Close()
		return nil, err
	}
	var tlsCfg *tls.Config
	if c.tlsCert != "" {
		base, err := tlsconfig.Server(tlsconfig.ServerFiles{Cert: c.tlsCert, Key: c.tlsKey, ClientCA: c.tlsClientCA}, log)
		if err != nil {
			c.http.lis.Close()
			return nil, fmt.Errorf("HTTP listener TLS: %w", err)
		}
		tlsCfg = httpTLS(base)
	}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	if tlsCfg != nil {
		protocols.SetHTTP2(true)
	} else {
		protocols.SetUnencryptedHTTP2(true) // h2c, for ExplainStream
	}
	hs := &http.Server{
		Handler:           h,
		Protocols:         &protocols,
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	lis := c.http.lis
	go func() {
		var err error
		if tlsCfg != nil {
			err = hs.ServeTLS(lis, "", "")
		} else {
			err = hs.Serve(lis)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("HTTP API stopped", "error", err)
		}
	}()
	log.Info("HTTP API serving", "address", lis.Addr().String(), "tls", tlsCfg != nil, "kserve_model", model)
	return &httpFront{gs: gs, hs: hs}, nil
}

// httpTLS is the listener's TLS for HTTP: ALPN offers HTTP/2 and HTTP/1.1
// (the gRPC listener's offers h2 only), also in the configuration that
// tlsconfig reloads for each handshake.
func httpTLS(base *tls.Config) *tls.Config {
	protos := []string{"h2", "http/1.1"}
	cfg := base.Clone()
	cfg.NextProtos = protos
	if get := base.GetConfigForClient; get != nil {
		cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			c, err := get(hello)
			if err != nil || c == nil {
				return c, err
			}
			c = c.Clone()
			c.NextProtos = protos
			return c, nil
		}
	}
	return cfg
}

// gracefulStop refuses new connections and waits for the requests in
// flight (their jobs included) to end.
func (f *httpFront) gracefulStop() {
	if f == nil {
		return
	}
	_ = f.hs.Shutdown(context.Background())
	f.gs.GracefulStop()
}

// stop closes every connection: the requests in flight are cancelled.
func (f *httpFront) stop() {
	if f == nil {
		return
	}
	_ = f.hs.Close()
	f.gs.Stop()
}
