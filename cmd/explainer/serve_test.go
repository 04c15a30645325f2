package main

import (
	"flag"
	"io"
	"testing"
	"time"

	"github.com/explainer-sidecar/explainer/server"
)

// TestServeStreamLimitFlags: the per-stream job limit and the data idle
// timeout have flags whose defaults are the server's.
func TestServeStreamLimitFlags(t *testing.T) {
	parse := func(args ...string) serveConfig {
		t.Helper()
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var cfg serveConfig
		cfg.flags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	def := parse()
	if def.maxJobsPerStream != server.DefaultMaxJobsPerStream || def.dataIdleTimeout != server.DefaultDataIdleTimeout {
		t.Errorf("defaults %d, %v; want %d, %v", def.maxJobsPerStream, def.dataIdleTimeout, server.DefaultMaxJobsPerStream, server.DefaultDataIdleTimeout)
	}
	cfg := parse("-max-jobs-per-stream", "3", "-data-idle-timeout", "5s")
	if cfg.maxJobsPerStream != 3 || cfg.dataIdleTimeout != 5*time.Second {
		t.Errorf("parsed %d, %v; want 3, 5s", cfg.maxJobsPerStream, cfg.dataIdleTimeout)
	}
}
