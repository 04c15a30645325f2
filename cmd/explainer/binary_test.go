package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildExplainer builds this command into a temporary directory (with the
// race detector when race is set) and returns the binary's path.
func buildExplainer(t testing.TB, race bool) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go tool to build the binary: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "explainer")
	args := []string{"build", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	out, err := exec.Command(goTool, append(args, ".")...).CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// process is a running `explainer serve`.
type process struct {
	cmd *exec.Cmd
	// addr and metrics are the addresses its log says it serves on.
	addr, metrics string
	log           *logBuffer
	exited        chan struct{} // closed when the process has exited
	err           error         // cmd.Wait's, once exited is closed
}

// startProcess runs `bin serve args...` and waits until it serves. The
// process is killed, if still running, when the test ends.
func startProcess(t testing.TB, bin string, args ...string) *process {
	t.Helper()
	p := &process{log: &logBuffer{ready: make(chan struct{})}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, append([]string{"serve"}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	select {
	case <-p.log.ready:
	case <-p.exited:
		t.Fatalf("explainer serve exited at start: %v\n%s", p.err, p.log)
	case <-time.After(time.Minute): // a bound, not a timing check
		t.Fatalf("explainer serve did not start within a minute:\n%s", p.log)
	}
	p.addr, p.metrics = p.log.attr("listen"), p.log.attr("metrics")
	return p
}

// signal sends sig to the process.
func (p *process) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// wait waits for the process to exit, at most until ctx ends, and returns
// cmd.Wait's error.
func (p *process) wait(ctx context.Context) error {
	select {
	case <-p.exited:
		return p.err
	case <-ctx.Done():
		return fmt.Errorf("the process is still running: %w", ctx.Err())
	}
}

// logBuffer collects a process's output, the last maxLog bytes of it once
// it serves; ready is closed at the line that says it serves.
type logBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	serving string // the "explainer serving" line
	ready   chan struct{}
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if n := b.buf.Len(); b.serving != "" && n > 2*maxLog {
		b.buf.Next(n - maxLog)
	}
	if b.serving == "" {
		for line := range strings.Lines(b.buf.String()) {
			if strings.Contains(line, `msg="explainer serving"`) && strings.HasSuffix(line, "\n") {
				b.serving = line
				close(b.ready)
				break
			}
		}
	}
	return len(p), nil
}

// maxLog is how much of a process's log a logBuffer keeps.
const maxLog = 1 << 20

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// attr returns the value of key in the "explainer serving" line.
func (b *logBuffer) attr(key string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := regexp.MustCompile(`\b` + key + `=(\S*)`).FindStringSubmatch(b.serving)
	if m == nil {
		return ""
	}
	return m[1]
}
