package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/explainer-sidecar/explainer/predictor"
	"github.com/explainer-sidecar/explainer/predictor/predictortest"
	"github.com/explainer-sidecar/explainer/server"
)

// readyCounter counts Ready calls and runs before (when set) ahead of each.
type readyCounter struct {
	predictor.Client
	calls  *atomic.Int32
	before func(call int32)
}

func (r readyCounter) Ready(ctx context.Context) error {
	n := r.calls.Add(1)
	if r.before != nil {
		r.before(n)
	}
	return r.Client.Ready(ctx)
}

// TestServeWaitsForTheModelServer: at start-up serve waits, at most
// --startup-timeout, for the model to be ready, and logs when it is; past
// the timeout it warns with the model server's error and serves anyway;
// --startup-timeout 0 does not wait.
func TestServeWaitsForTheModelServer(t *testing.T) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var def serveConfig
	def.flags(fs)
	if err := fs.Parse(nil); err != nil || def.startupTimeout != time.Minute {
		t.Fatalf("--startup-timeout default %v (%v), want 1m", def.startupTimeout, err)
	}

	fake := predictortest.NewKServeServer(nil)
	fake.Name = "sentiment"
	ms := predictortest.NewBufconnServer(fake)
	t.Cleanup(ms.Close)
	clients := func(calls *atomic.Int32, before func(int32)) server.ClientFunc {
		return func(model string) predictor.Client {
			return readyCounter{predictor.NewKServeV2(ms.Conn, model), calls, before}
		}
	}
	await := func(model string, timeout time.Duration, newClient server.ClientFunc) string {
		t.Helper()
		var logs syncBuffer
		cfg := serveConfig{model: model, startupTimeout: timeout}
		cfg.awaitModel(context.Background(), newClient, slog.New(slog.NewTextHandler(&logs, nil)))
		return logs.String()
	}

	// Not ready at first; ready at the third check.
	fake.SetReady(false)
	var calls atomic.Int32
	logs := await("sentiment", time.Minute, clients(&calls, func(n int32) {
		if n == 3 {
			fake.SetReady(true)
		}
	}))
	if calls.Load() != 3 || !strings.Contains(logs, "waiting for the model server") || !strings.Contains(logs, `msg="model server ready" model=sentiment`) {
		t.Errorf("%d Ready calls, logs:\n%s\nwant 3 calls, a wait and then ready logged", calls.Load(), logs)
	}

	// A model the server does not have: a warning past the timeout, naming
	// it and what the server says.
	calls.Store(0)
	logs = await("sentimnet", 300*time.Millisecond, clients(&calls, nil))
	for _, want := range []string{
		`level=WARN msg="model server not ready within --startup-timeout: serving anyway, explainer health NOT_SERVING until it is" model=sentimnet startup_timeout=300ms`,
		`model \"sentimnet\" not found; the model server has \"sentiment\": model server says: Request for unknown model: 'sentimnet' is not found (NotFound)`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs:\n%s\nwant %s", logs, want)
		}
	}

	// Not waiting: --startup-timeout 0, or no --model.
	calls.Store(0)
	fake.SetReady(false)
	if logs := await("sentiment", 0, clients(&calls, nil)) + await("", time.Minute, clients(&calls, nil)); calls.Load() != 0 || logs != "" {
		t.Errorf("%d Ready calls, logs %q; want none", calls.Load(), logs)
	}
}

// Under KServe (--predictor_host) the probes gate traffic: serve does not
// wait unless --startup-timeout says so.
func TestKServeServesAtOnce(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want time.Duration
	}{
		{[]string{"--model_name", "m", "--predictor_host", "p"}, 0},
		{[]string{"--model_name", "m", "--predictor_host", "p", "--startup-timeout", "5s"}, 5 * time.Second},
		{[]string{"--model", "m"}, time.Minute},
	} {
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var cfg serveConfig
		cfg.flags(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		if err := cfg.applyKServe(fs); err != nil {
			t.Fatal(err)
		}
		if cfg.startupTimeout != tc.want {
			t.Errorf("%v: --startup-timeout %v, want %v", tc.args, cfg.startupTimeout, tc.want)
		}
	}
}
