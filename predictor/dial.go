package predictor

import (
	"crypto/tls"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/resolver"
)

// Channel defaults used by Dial.
const (
	// DefaultMaxMsgSize caps a message in either direction: 16 MiB, well
	// above a DefaultMaxBatchBytes batch and its reply.
	DefaultMaxMsgSize = 16 << 20
	// DefaultKeepaliveTime is how long the channel waits without activity
	// before it pings the server. 5 minutes is the least that a server with
	// default enforcement accepts: grpc-go's EnforcementPolicy.MinTime and
	// gRPC C-core's (Triton, grpcio) min_recv_ping_interval_without_data are
	// both 5 minutes, and a client pinging more often is sent GOAWAY
	// ENHANCE_YOUR_CALM "too_many_pings" after 2 strikes.
	DefaultKeepaliveTime = 5 * time.Minute
	// DefaultKeepaliveTimeout is how long a ping may go unanswered before
	// the connection is closed as dead.
	DefaultKeepaliveTimeout = 20 * time.Second
)

// serviceConfig balances over every address the resolver returns and retries
// UNAVAILABLE, and only UNAVAILABLE, for every method: at most 5 attempts in
// all, waiting about 0.1 s, 0.2 s, 0.4 s, 0.8 s (±20%, grpc-go's jitter)
// between them, so a model server gets about 1.5 s to come back. Retries
// stop early when the call's deadline passes. "name": [{}] is the default
// for all methods of the channel.
const serviceConfig = `{
  "loadBalancingConfig": [{"round_robin": {}}],
  "methodConfig": [{
    "name": [{}],
    "retryPolicy": {
      "maxAttempts": 5,
      "initialBackoff": "0.1s",
      "maxBackoff": "1s",
      "backoffMultiplier": 2,
      "retryableStatusCodes": ["UNAVAILABLE"]
    }
  }]
}`

// DialOption configures Dial.
type DialOption func(*dialOptions)

type dialOptions struct {
	creds   credentials.TransportCredentials
	maxMsg  int
	refresh time.Duration
	ka      keepalive.ClientParameters
	extra   []grpc.DialOption
}

// WithTLS uses TLS with cfg (nil: the system's roots, TLS 1.2 or later). For
// mTLS, set cfg.Certificates. This is the default.
func WithTLS(cfg *tls.Config) DialOption {
	if cfg == nil {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return func(o *dialOptions) { o.creds = credentials.NewTLS(cfg) }
}

// WithInsecure sends plaintext. The default is TLS: plaintext must be asked
// for by name.
func WithInsecure() DialOption {
	return func(o *dialOptions) { o.creds = insecure.NewCredentials() }
}

// WithMaxMsgSize caps a message in either direction, in bytes. Default
// DefaultMaxMsgSize (16 MiB). A batch is retried only while it fits this
// size: the channel keeps that much of each call for replay. Values below 1
// keep the default.
func WithMaxMsgSize(bytes int) DialOption {
	return func(o *dialOptions) {
		if bytes > 0 {
			o.maxMsg = bytes
		}
	}
}

// WithRefreshInterval sets how often a DNS target (dns:///name:port, or a
// plain host:port) is resolved again, so that replicas added behind the
// name get traffic. Default DefaultRefreshInterval; 0 or less turns it off
// (gRPC then resolves again only when a connection fails).
func WithRefreshInterval(d time.Duration) DialOption {
	return func(o *dialOptions) {
		if d <= 0 {
			d = -1
		}
		o.refresh = d
	}
}

// WithKeepalive replaces the keepalive parameters. Default: ping after
// DefaultKeepaliveTime without activity, only while calls are in flight,
// and give up after DefaultKeepaliveTimeout. Stay within the model server's
// enforcement policy (see DefaultKeepaliveTime).
func WithKeepalive(p keepalive.ClientParameters) DialOption {
	return func(o *dialOptions) { o.ka = p }
}

// WithGRPCDialOptions adds grpc dial options, applied after the sidecar's
// own (so they win): interceptors, per-RPC credentials, a custom dialer.
func WithGRPCDialOptions(opts ...grpc.DialOption) DialOption {
	return func(o *dialOptions) { o.extra = append(o.extra, opts...) }
}

// Dial returns a channel to the model server at target with the sidecar's
// defaults: the round_robin balancer (use "dns:///host:port" to reach every
// replica; the name is resolved again every DefaultRefreshInterval), gRPC's retry of UNAVAILABLE only (at most 5 attempts, with
// backoff), DefaultMaxMsgSize both ways, keepalive within the default
// enforcement of gRPC servers, TLS unless WithInsecure.
//
// Like grpc.NewClient, Dial does not connect: the first call does, and a
// server that is down shows as ErrUnavailable on calls. Close the channel
// when done.
func Dial(target string, opts ...DialOption) (*grpc.ClientConn, error) {
	o := dialOptions{
		maxMsg:  DefaultMaxMsgSize,
		refresh: DefaultRefreshInterval,
		ka: keepalive.ClientParameters{
			Time:                DefaultKeepaliveTime,
			Timeout:             DefaultKeepaliveTimeout,
			PermitWithoutStream: false,
		},
	}
	WithTLS(nil)(&o)
	for _, opt := range opts {
		opt(&o)
	}
	gopts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(o.creds),
		grpc.WithDefaultServiceConfig(serviceConfig),
		grpc.WithKeepaliveParams(o.ka),
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(o.maxMsg),
			grpc.MaxCallSendMsgSize(o.maxMsg),
			// grpc-go keeps only 256 KiB of a call for replay by default,
			// and silently stops retrying calls larger than that.
			grpc.MaxRetryRPCBufferSize(o.maxMsg),
		),
	}, o.extra...)
	if dns := resolver.Get("dns"); dns != nil && o.refresh > 0 {
		gopts = append(gopts, grpc.WithResolvers(refreshBuilder{inner: dns, interval: o.refresh}))
	}
	cc, err := grpc.NewClient(target, gopts...)
	if err != nil {
		return nil, fmt.Errorf("predictor: dial %q: %w", target, err)
	}
	return cc, nil
}
