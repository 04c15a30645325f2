package server

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"

	"github.com/explainer-sidecar/explainer/explain"
	"github.com/explainer-sidecar/explainer/predictor/predictortest"
	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// loadJob is one job of the load test and what its result must show.
type loadJob struct {
	id     string
	method string
	req    *explainerv1.ExplainRequest
	// instanceScores is the model's own score of the job's instance (LIME,
	// KernelSHAP); baseline the model's accuracy on the job's data set
	// (permutation).
	instanceScores []float64
	baseline       float64
}

// newLoadJob builds job k of stream s: the method, the instance or data set
// and the seed differ from job to job, so that a result that went to the
// wrong job shows.
func newLoadJob(t *testing.T, s, k int) loadJob {
	n := 2*s + k
	id := fmt.Sprintf("s%d-j%d", s, k)
	seed := uint64(100 + n)
	inst := make([]float64, testFeatures)
	for j := range inst {
		inst[j] = testInstance[j] + 0.07*float64(n)*float64(j+1)
	}
	score := predictortest.Logistic(testWeights, testBias)
	switch n % 3 {
	case 0:
		req := limeRequest(inst, func(o *explainerv1.LimeOptions) { o.NumSamples = 300; o.Seed = &seed })
		return loadJob{id: id, method: "lime", req: req, instanceScores: score([][]float64{inst})[0]}
	case 1:
		req := kernelSHAPRequest(inst, trainingRows()[n:n+5], func(o *explainerv1.KernelShapOptions) { o.Seed = &seed })
		return loadJob{id: id, method: "kernelshap", req: req, instanceScores: score([][]float64{inst})[0]}
	default:
		rows, targets := permutationData(30 + n)
		req := permutationRequest(rows, targets, false)
		req.GetPermutation().Seed = &seed
		req.GetPermutation().Repeats = 2
		baseline, err := explain.Score(explain.ScoreAccuracy, score(rows), targets, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		return loadJob{id: id, method: "permutation", req: req, baseline: baseline}
	}
}

// Many streams start jobs of mixed methods at once against a slow model
// server, with fewer job slots than jobs: every job ends exactly once,
// either with its own result or refused with RESOURCE_EXHAUSTED, nothing
// else; and every goroutine is gone afterwards.
func TestLoadMixedJobsBoundedByAdmission(t *testing.T) {
	const (
		streams       = 24
		jobsPerStream = 2
		slots         = 8
	)
	before := goleak.IgnoreCurrent()
	t.Run("load", func(t *testing.T) {
		fake, newClient := predictV1Model(t, func(p *predictortest.PredictServer) { p.Delay = 5 * time.Millisecond })
		sc := startSidecar(t, newClient, WithMaxConcurrentJobs(slots))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()

		type outcome struct {
			job    loadJob
			finals int
			exp    *explainerv1.Explanation
			err    *explainerv1.JobError
		}
		var (
			mu       sync.Mutex
			outcomes = map[string]*outcome{}
			failures []string
			wg       sync.WaitGroup
		)
		fail := func(format string, args ...any) {
			mu.Lock()
			failures = append(failures, fmt.Sprintf(format, args...))
			mu.Unlock()
		}
		all := make([][]loadJob, streams)
		for s := range all {
			all[s] = make([]loadJob, jobsPerStream)
			for k := range all[s] {
				all[s][k] = newLoadJob(t, s, k)
				outcomes[all[s][k].id] = &outcome{job: all[s][k]}
			}
		}
		for s, jobs := range all {
			wg.Go(func() {
				stream, err := sc.client.ExplainStream(ctx)
				if err != nil {
					fail("stream %d: %v", s, err)
					return
				}
				for _, j := range jobs {
					if err := stream.Send(startJob(j.id, j.req)); err != nil {
						fail("stream %d: send: %v", s, err)
						return
					}
				}
				if err := stream.CloseSend(); err != nil {
					fail("stream %d: close send: %v", s, err)
					return
				}
				for {
					msg, err := stream.Recv()
					if err == io.EOF {
						return
					}
					if err != nil {
						fail("stream %d ended with %v, want a clean end", s, err)
						return
					}
					o := outcomes[msg.GetJobId()] // read-only while the streams run
					if o == nil || !strings.HasPrefix(msg.GetJobId(), fmt.Sprintf("s%d-", s)) {
						fail("stream %d got an event for job %q", s, msg.GetJobId())
						continue
					}
					switch ev := msg.GetEvent().(type) {
					case *explainerv1.ExplainStreamResponse_Result:
						o.finals++
						o.exp = ev.Result
					case *explainerv1.ExplainStreamResponse_Error:
						o.finals++
						o.err = ev.Error
					default:
						if o.finals > 0 {
							fail("job %s: an event after its final one", o.job.id)
						}
					}
				}
			})
		}
		wg.Wait()
		for _, f := range failures {
			t.Error(f)
		}
		if ctx.Err() != nil {
			t.Fatalf("the load did not finish within its 30 s bound")
		}
		done, refused := 0, 0
		for id, o := range outcomes {
			if o.finals != 1 {
				t.Errorf("job %s: %d final events, want exactly 1", id, o.finals)
				continue
			}
			if o.err != nil {
				code := codes.Code(o.err.GetCode())
				if code != codes.ResourceExhausted || !strings.Contains(o.err.GetMessage(), fmt.Sprintf("limit %d", slots)) {
					t.Errorf("job %s: %v %q, want a result or RESOURCE_EXHAUSTED naming the limit", id, code, o.err.GetMessage())
				}
				refused++
				continue
			}
			done++
			switch o.exp.GetMethod() {
			case "lime", "kernelshap":
				if got, want := o.exp.GetInstanceScores(), o.job.instanceScores; len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
					t.Errorf("job %s (%s): instance scores %v, want its own instance's %v", id, o.exp.GetMethod(), got, want)
				}
			case "permutation":
				if got := o.exp.GetBaselineScore(); got != o.job.baseline {
					t.Errorf("job %s: baseline %v, want its own data set's %v", id, got, o.job.baseline)
				}
			default:
				t.Errorf("job %s: method %q", id, o.exp.GetMethod())
			}
			if o.exp.GetMethod() != o.job.method {
				t.Errorf("job %s: a %q result for a %q request", id, o.exp.GetMethod(), o.job.method)
			}
		}
		t.Logf("%d jobs done, %d refused (%d slots); the model server saw %d calls, at most %d at once",
			done, refused, slots, fake.Calls(), fake.MaxConcurrent())
		if done < slots {
			t.Errorf("only %d jobs completed, want at least the %d slots' worth", done, slots)
		}
		if !waitUntil(2*time.Second, func() bool { return fake.InFlight() == 0 }) {
			t.Errorf("%d model calls still in flight after every job ended", fake.InFlight())
		}
		// Every slot was released: a job is admitted at once.
		if _, err := sc.client.Explain(context.Background(), limeRequest(testInstance, func(o *explainerv1.LimeOptions) { o.NumSamples = 100 })); err != nil {
			t.Errorf("a job after the load: %v", err)
		}
	})
	// The sidecar and the fake are stopped: their goroutines, and every
	// job's, must be gone.
	goleak.VerifyNone(t, before)
}
