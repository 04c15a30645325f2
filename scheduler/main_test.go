package scheduler_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/explainer-sidecar/explainer/explain"
	"github.com/explainer-sidecar/explainer/predictor"
	"github.com/explainer-sidecar/explainer/predictor/predictortest"
	"github.com/explainer-sidecar/explainer/scheduler"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A Job is what the estimators take.
var (
	_ explain.Model     = (*scheduler.Job)(nil)
	_ explain.TextModel = (*scheduler.Job)(nil)
)

// serve starts svc on bufconn and closes it when the test ends.
func serve(t testing.TB, svc predictortest.Service) *predictortest.Server {
	t.Helper()
	s := predictortest.NewBufconnServer(svc)
	t.Cleanup(s.Close)
	return s
}

// newScheduler returns a Scheduler closed when the test ends.
func newScheduler(t testing.TB, c predictor.Client, opts ...scheduler.Option) *scheduler.Scheduler {
	t.Helper()
	s := scheduler.New(c, opts...)
	t.Cleanup(s.Close)
	return s
}

// tagged returns n rows of width values (at least 2) for the job tag: row i
// is [tag, i, ...], so that a fake can tell whose row it got and a score
// can name its row.
func tagged(tag, n, width int) [][]float64 {
	flat := make([]float64, n*width)
	rows := make([][]float64, n)
	for i := range rows {
		rows[i] = flat[i*width : (i+1)*width : (i+1)*width]
		rows[i][0], rows[i][1] = float64(tag), float64(i)
		for j := 2; j < width; j++ {
			rows[i][j] = math.Sqrt(float64(i*width + j))
		}
	}
	return rows
}

// curvy scores a row as [x_0, x_1, sin(Σ_j (j+1)·x_j)]: the tag and the row
// index come back, and the last score uses every bit of the row.
func curvy(rows [][]float64) [][]float64 {
	out := make([][]float64, len(rows))
	for i, r := range rows {
		var z float64
		for j, v := range r {
			z += float64(j+1) * v
		}
		out[i] = []float64{r[0], r[1], math.Sin(z)}
	}
	return out
}

// curvyText scores a text as [len, sin(Σ bytes·position)].
func curvyText(texts []string) [][]float64 {
	out := make([][]float64, len(texts))
	for i, s := range texts {
		var z float64
		for j := range len(s) {
			z += float64(j+1) * float64(s[j])
		}
		out[i] = []float64{float64(len(s)), math.Sin(z)}
	}
	return out
}

// record is one call a fake client received.
type record struct {
	rows     [][]float64 // copied
	texts    []string
	shape    []int
	deadline time.Time // zero: none
}

// tags returns how many rows of each tag the call carried.
func (r record) tags() map[int]int {
	m := map[int]int{}
	for _, row := range r.rows {
		m[int(row[0])]++
	}
	return m
}

// fake is an in-process predictor.ShapedClient and predictor.TextClient
// that records every call. Set the fields before use.
type fake struct {
	score     func([][]float64) [][]float64 // nil: curvy
	textScore func([]string) [][]float64    // nil: curvyText
	// hold, when not nil, holds every call until it is closed or the
	// call's context ends.
	hold chan struct{}
	// started, when not nil, gets the call's number as each call starts
	// (give it room for every call).
	started chan int
	// fault, when set, runs after hold: a non-nil error fails the call,
	// non-nil scores replace the call's.
	fault func(ctx context.Context, call int, rec record) ([][]float64, error)

	mu          sync.Mutex
	calls       []record
	inFlight    int
	maxInFlight int
	cancelled   int // calls whose context had ended when they returned
}

func (f *fake) Describe(context.Context) (predictor.ModelInfo, error) {
	return predictor.ModelInfo{}, nil
}
func (f *fake) Ready(context.Context) error { return nil }

func (f *fake) Score(ctx context.Context, rows [][]float64) ([][]float64, error) {
	return f.do(ctx, record{rows: copyRows(rows)})
}

func (f *fake) ScoreShaped(ctx context.Context, rows [][]float64, shape []int) ([][]float64, error) {
	return f.do(ctx, record{rows: copyRows(rows), shape: slices.Clone(shape)})
}

func (f *fake) ScoreText(ctx context.Context, texts []string) ([][]float64, error) {
	return f.do(ctx, record{texts: slices.Clone(texts)})
}

func copyRows(rows [][]float64) [][]float64 {
	out := make([][]float64, len(rows))
	for i, r := range rows {
		out[i] = slices.Clone(r)
	}
	return out
}

func (f *fake) do(ctx context.Context, rec record) ([][]float64, error) {
	rec.deadline, _ = ctx.Deadline()
	f.mu.Lock()
	call := len(f.calls)
	f.calls = append(f.calls, rec)
	f.inFlight++
	f.maxInFlight = max(f.maxInFlight, f.inFlight)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inFlight--
		if ctx.Err() != nil {
			f.cancelled++
		}
		f.mu.Unlock()
	}()
	if f.started != nil {
		f.started <- call
	}
	if f.hold != nil {
		select {
		case <-f.hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if f.fault != nil {
		if out, err := f.fault(ctx, call, rec); err != nil || out != nil {
			return out, err
		}
	}
	if rec.texts != nil {
		if f.textScore != nil {
			return f.textScore(rec.texts), nil
		}
		return curvyText(rec.texts), nil
	}
	if f.score != nil {
		return f.score(rec.rows), nil
	}
	return curvy(rec.rows), nil
}

// log returns a copy of the calls received so far.
func (f *fake) log() []record {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// outcome is what one Predict call returned.
type outcome struct {
	out [][]float64
	err error
}

// predictAll starts job i's Predict of rows[i] for every i while the
// Scheduler's calls are held, waits until every one has queued its rows,
// then lets the calls go and returns the outcomes: the jobs' rows are
// waiting together, so calls after the first ones carry several jobs.
func predictAll(t *testing.T, s *scheduler.Scheduler, hold chan struct{}, jobs []*scheduler.Job, rows [][][]float64) []outcome {
	t.Helper()
	queued := make(chan struct{}, len(jobs))
	scheduler.OnEnqueue(s, func() { queued <- struct{}{} })
	defer scheduler.OnEnqueue(s, nil)
	outs := make([]outcome, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Go(func() { outs[i].out, outs[i].err = j.Predict(context.Background(), rows[i]) })
		<-queued // in order: job i's rows queue behind job i-1's
	}
	close(hold)
	wg.Wait()
	return outs
}

// sameBits reports whether a and b hold the same float64 values bit for bit.
func sameBits(a, b [][]float64) bool {
	return slices.EqualFunc(a, b, func(x, y []float64) bool {
		return slices.EqualFunc(x, y, func(u, v float64) bool { return math.Float64bits(u) == math.Float64bits(v) })
	})
}

// cancelledCalls returns the number of calls whose context had ended when
// they returned.
func (f *fake) cancelledCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cancelled
}

// errIs is errors.Is for a table of wanted errors (nil: no error).
func errIs(err, want error) bool {
	if want == nil {
		return err == nil
	}
	return errors.Is(err, want)
}
