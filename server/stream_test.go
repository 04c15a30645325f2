package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/explainer-sidecar/explainer/predictor/predictortest"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// streamClient wraps an ExplainStream client for tests: send fails the
// test, next returns the next event or nil at the stream's clean end.
type streamClient struct {
	t      *testing.T
	stream explainerv1.ExplainerService_ExplainStreamClient
}

func openStream(t *testing.T, sc *sidecar) *streamClient {
	t.Helper()
	// A bound, not a timing assertion: a test that would hang fails.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	stream, err := sc.client.ExplainStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return &streamClient{t: t, stream: stream}
}

func (c *streamClient) send(msgs ...*explainerv1.ExplainStreamRequest) {
	c.t.Helper()
	for _, m := range msgs {
		if err := c.stream.Send(m); err != nil {
			c.t.Fatal(err)
		}
	}
}

func (c *streamClient) closeSend() {
	c.t.Helper()
	if err := c.stream.CloseSend(); err != nil {
		c.t.Fatal(err)
	}
}

// next returns the next event that is not progress nor a partial result,
// or nil when the stream ends cleanly.
func (c *streamClient) next() *explainerv1.ExplainStreamResponse {
	c.t.Helper()
	for {
		msg, err := c.stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			c.t.Fatalf("stream ended with %v, want a clean end", err)
		}
		if msg.GetProgress() == nil && msg.GetPartial() == nil {
			return msg
		}
	}
}

// wantError checks that ev is a JobError of job id with code, whose
// message contains every one of parts.
func wantError(t *testing.T, ev *explainerv1.ExplainStreamResponse, id string, code codes.Code, parts ...string) {
	t.Helper()
	e := ev.GetError()
	if e == nil || ev.GetJobId() != id || codes.Code(e.GetCode()) != code {
		t.Fatalf("event %v, want a %v JobError of job %q", ev, code, id)
	}
	for _, p := range parts {
		if !strings.Contains(e.GetMessage(), p) {
			t.Errorf("message %q lacks %q", e.GetMessage(), p)
		}
	}
}

func wantResult(t *testing.T, ev *explainerv1.ExplainStreamResponse, id string) {
	t.Helper()
	if ev.GetResult() == nil || ev.GetJobId() != id {
		t.Fatalf("event %v, want the result of job %q", ev, id)
	}
}

// hangingModel is a model server that never answers a scoring call: a job
// that reaches the model stays running until it is cancelled.
func hangingModel(t *testing.T) ClientFunc {
	t.Helper()
	_, newClient := predictV1Model(t, func(p *predictortest.PredictServer) {
		p.Fault = func(int, [][]float64) ([][]float64, error) { return nil, predictortest.ErrHang }
	})
	return newClient
}

// TestStreamDuplicateJobIDIsAlreadyExists: a start with the id of a running
// job is refused with ALREADY_EXISTS, and the running job goes on to its
// result.
func TestStreamDuplicateJobIDIsAlreadyExists(t *testing.T) {
	_, newClient := predictV1Model(t, nil)
	sc := startSidecar(t, newClient)
	c := openStream(t, sc)
	rows, targets := permutationData(50)
	// The streamed job runs until its last chunk arrives.
	c.send(startJob("a", permutationRequest(nil, nil, true)), startJob("a", limeRequest(testInstance, nil)))
	wantError(t, c.next(), "a", codes.AlreadyExists, `job "a" is already running`, "the running job goes on")
	c.send(dataChunk("a", rows, targets, true))
	c.closeSend()
	wantResult(t, c.next(), "a")
	if ev := c.next(); ev != nil {
		t.Fatalf("event %v after the job's result", ev)
	}
}

// TestStreamDataChunkNoJobTakes: a data chunk that no job can take is
// answered, never dropped in silence, except for a job that ended before
// its last chunk (its own end said why).
func TestStreamDataChunkNoJobTakes(t *testing.T) {
	rows, targets := permutationData(50)
	t.Run("unknown job, answered once", func(t *testing.T) {
		sc := startSidecar(t, hangingModel(t))
		c := openStream(t, sc)
		c.send(dataChunk("ghost", rows, targets, false), dataChunk("ghost", rows, targets, true))
		c.closeSend()
		wantError(t, c.next(), "ghost", codes.FailedPrecondition, `job "ghost"`, "no job with this id is running", "StartJob")
		if ev := c.next(); ev != nil {
			t.Fatalf("event %v after the answer, want one answer per id", ev)
		}
	})
	t.Run("after the last chunk", func(t *testing.T) {
		sc := startSidecar(t, hangingModel(t))
		c := openStream(t, sc)
		// The job has all its data and waits for the model when the
		// extra chunk arrives: it ends with INVALID_ARGUMENT.
		c.send(startJob("p", permutationRequest(nil, nil, true)), dataChunk("p", rows, targets, true), dataChunk("p", rows, targets, false))
		c.closeSend()
		wantError(t, c.next(), "p", codes.InvalidArgument, `job "p"`, "after its chunk with last set")
		if ev := c.next(); ev != nil {
			t.Fatalf("event %v after the job's end", ev)
		}
	})
	t.Run("job that takes no data", func(t *testing.T) {
		sc := startSidecar(t, hangingModel(t))
		c := openStream(t, sc)
		c.send(startJob("l", limeRequest(testInstance, nil)), dataChunk("l", rows, targets, true))
		c.closeSend()
		wantError(t, c.next(), "l", codes.InvalidArgument, `job "l"`, "does not stream its data")
	})
	t.Run("job ended before its last chunk, dropped", func(t *testing.T) {
		sc := startSidecar(t, hangingModel(t))
		c := openStream(t, sc)
		c.send(startJob("q", permutationRequest(nil, nil, true)), cancelJob("q"))
		wantError(t, c.next(), "q", codes.Canceled)
		c.send(dataChunk("q", rows, targets, false), dataChunk("q", rows, targets, true))
		c.closeSend()
		if ev := c.next(); ev != nil {
			t.Fatalf("event %v for the chunks of a job that had ended", ev)
		}
	})
}

// TestStreamCannotHoldEverySlot: one stream starting streamed jobs that
// send one chunk and never the last holds at most its per-stream limit of
// jobs, and those fail once they wait longer than the data idle timeout
// for their next chunk, freeing their slots; meanwhile, and after, other
// clients' jobs run.
func TestStreamCannotHoldEverySlot(t *testing.T) {
	_, newClient := predictV1Model(t, nil)
	sc := startSidecar(t, newClient, WithMaxConcurrentJobs(3), WithMaxJobsPerStream(2), WithDataIdleTimeout(100*time.Millisecond))
	rows, targets := permutationData(50)
	c := openStream(t, sc)
	for _, id := range []string{"a", "b", "c", "d"} {
		c.send(startJob(id, permutationRequest(nil, nil, true)), dataChunk(id, rows[:10], targets[:10], false))
	}
	// c and d are refused at once, in order; a and b end when their data
	// stops coming.
	wantError(t, c.next(), "c", codes.ResourceExhausted, "too many jobs on this stream", "limit 2 per stream")
	wantError(t, c.next(), "d", codes.ResourceExhausted, "limit 2 per stream")
	// Another client is served while the stream holds its two jobs.
	if _, err := sc.client.Explain(context.Background(), limeRequest(testInstance, func(o *explainerv1.LimeOptions) { o.NumSamples = 100 })); err != nil {
		t.Fatalf("another client's job while the stream holds its limit: %v", err)
	}
	ended := map[string]bool{}
	for range 2 {
		ev := c.next()
		wantError(t, ev, ev.GetJobId(), codes.DeadlineExceeded, "no data chunk for 100ms", "data idle timeout", "last set")
		ended[ev.GetJobId()] = true
	}
	if !ended["a"] || !ended["b"] {
		t.Fatalf("jobs ended by the idle timeout: %v, want a and b", ended)
	}
	// Their slots are free: the stream's next job runs.
	c.send(startJob("e", permutationRequest(rows, targets, false)))
	wantResult(t, c.next(), "e")
	c.closeSend()
	if ev := c.next(); ev != nil {
		t.Fatalf("event %v after the last job's end", ev)
	}
	if n := len(sc.srv.admission.slots); n != 0 {
		t.Errorf("%d job slots still held after every job ended", n)
	}
}

// TestStreamDataIdleTimeoutRestartsOnEachChunk: the idle timeout bounds
// the wait for the next chunk, not the whole upload: a job whose chunks
// keep coming is not failed by it, however long the upload takes.
func TestStreamDataIdleTimeoutRestartsOnEachChunk(t *testing.T) {
	_, newClient := predictV1Model(t, nil)
	// The idle timeout is far longer than one round trip on the stream; the
	// upload lasts twice the idle timeout.
	const idle = time.Second
	sc := startSidecar(t, newClient, WithDataIdleTimeout(idle))
	rows, targets := permutationData(60)
	c := openStream(t, sc)
	c.send(startJob("p", permutationRequest(nil, nil, true)))
	start := time.Now()
	for i := 0; time.Since(start) < 2*idle; i++ {
		// A chunk for an unknown id is answered: its answer says that the
		// chunk of the job before it was handed over.
		r, ping := i%len(rows), fmt.Sprintf("ping-%d", i)
		c.send(dataChunk("p", rows[r:r+1], targets[r:r+1], false), dataChunk(ping, nil, nil, false))
		if ev := c.next(); ev.GetJobId() != ping {
			t.Fatalf("event %v while the job's chunks kept coming, want the answer to %s", ev, ping)
		}
	}
	c.send(dataChunk("p", rows, targets, true))
	c.closeSend()
	wantResult(t, c.next(), "p")
}
