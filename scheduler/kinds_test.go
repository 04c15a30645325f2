package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/explainer-sidecar/explainer/predictor"
	"github.com/explainer-sidecar/explainer/predictor/predictortest"
	"github.com/explainer-sidecar/explainer/scheduler"
)

// Texts of several jobs share calls to a real fake server and come back as
// each job's texts alone would, over both protocols.
func TestSharedTexts(t *testing.T) {
	servers := []struct {
		name   string
		client func(t *testing.T, hold chan struct{}) predictor.Client
	}{
		{"predict.v1", func(t *testing.T, hold chan struct{}) predictor.Client {
			fake := predictortest.NewPredictServer(nil)
			fake.TextScore, fake.Fault = curvyText, holdCalls(hold)
			return predictor.NewPredictV1(serve(t, fake).Conn, "")
		}},
		{"kserve", func(t *testing.T, hold chan struct{}) predictor.Client {
			fake := predictortest.NewKServeServer(nil)
			fake.TextScore, fake.OutputFP64, fake.Fault = curvyText, true, holdCalls(hold)
			return predictor.NewKServeV2(serve(t, fake).Conn, "model")
		}},
	}
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			texts := make([][]string, 3)
			for i := range texts {
				for k := range 7 + 5*i {
					texts[i] = append(texts[i], fmt.Sprintf("job %d says %s", i, string(rune('a'+k%26))))
				}
			}
			ctx := context.Background()
			open := make(chan struct{})
			close(open)
			alone := predictor.NewBatcher(srv.client(t, open), predictor.WithMaxBatchSize(4))
			hold := make(chan struct{})
			s := newScheduler(t, srv.client(t, hold), scheduler.WithMaxBatchSize(4), scheduler.WithInFlight(1))
			queued := make(chan struct{}, len(texts))
			scheduler.OnEnqueue(s, func() { queued <- struct{}{} })
			outs := make([]outcome, len(texts))
			jobs := make([]*scheduler.Job, len(texts))
			var wg sync.WaitGroup
			for i := range texts {
				jobs[i] = s.NewJob()
				wg.Go(func() { outs[i].out, outs[i].err = jobs[i].PredictText(ctx, texts[i]) })
				<-queued
			}
			close(hold)
			wg.Wait()
			var jobCalls int64
			for i, o := range outs {
				want, err := alone.PredictText(ctx, texts[i])
				if err != nil {
					t.Fatalf("alone, job %d: %v", i, err)
				}
				if o.err != nil || !sameBits(o.out, want) {
					t.Errorf("job %d: %v, or scores other than alone", i, o.err)
				}
				jobCalls += jobs[i].Calls()
			}
			if jobCalls <= s.Calls() {
				t.Errorf("jobs' calls %d, scheduler's %d: no call was shared", jobCalls, s.Calls())
			}
		})
	}
}

// A job's instance shape reaches the model server, and its scores are those
// of a Batcher with the same shape.
func TestInstanceShape(t *testing.T) {
	fake := predictortest.NewKServeServer(curvy)
	fake.InstanceShape = []int64{2, 3}
	fake.InputDatatype, fake.OutputFP64 = "FP64", true
	c := predictor.NewKServeV2(serve(t, fake).Conn, "model")
	rows := tagged(0, 10, 6)
	want, err := predictor.NewBatcher(c, predictor.WithInstanceShape(2, 3)).Predict(context.Background(), rows)
	if err != nil {
		t.Fatal(err)
	}
	s := newScheduler(t, c, scheduler.WithMaxBatchSize(4))
	got, err := s.NewJob(scheduler.WithInstanceShape(2, 3)).Predict(context.Background(), rows)
	if err != nil || !sameBits(got, want) {
		t.Fatalf("%v, or scores other than a Batcher's", err)
	}
	if shape := fake.LastShape(); !slices.Equal(shape, []int{2, 3}) {
		t.Errorf("the model server saw instances of shape %v, want [2 3]", shape)
	}
}

// Progress adds up to the rows of each Predict call, and comes only while
// it runs; the Call observer sees every call once.
func TestObservers(t *testing.T) {
	var mu sync.Mutex
	var calls []scheduler.Call
	hold := make(chan struct{})
	f := &fake{hold: hold}
	s := newScheduler(t, f, scheduler.WithMaxBatchSize(8), scheduler.WithInFlight(2),
		scheduler.WithObserver(func(c scheduler.Call) {
			mu.Lock()
			calls = append(calls, c)
			mu.Unlock()
		}))
	sizes := []int{30, 5, 12}
	jobs := make([]*scheduler.Job, len(sizes))
	rows := make([][][]float64, len(sizes))
	scored := make([]int, len(sizes))
	returned := make([]bool, len(sizes))
	var pmu sync.Mutex
	for i := range jobs {
		jobs[i] = s.NewJob(scheduler.WithProgress(func(n int) {
			pmu.Lock()
			defer pmu.Unlock()
			if returned[i] {
				t.Errorf("job %d: progress after Predict returned", i)
			}
			scored[i] += n
		}))
		rows[i] = tagged(i, sizes[i], 3)
	}
	outs := predictAll(t, s, hold, jobs, rows)
	total := 0
	for i, o := range outs {
		pmu.Lock()
		returned[i] = true
		got := scored[i]
		pmu.Unlock()
		if o.err != nil {
			t.Fatalf("job %d: %v", i, o.err)
		}
		if got != sizes[i] {
			t.Errorf("job %d: progress adds up to %d rows, want %d", i, got, sizes[i])
		}
		total += sizes[i]
	}
	s.Close() // the observer has been called for every call
	rowsSeen, shared := 0, false
	for _, c := range calls {
		rowsSeen += c.Rows
		shared = shared || c.Jobs > 1
		if c.Err != nil || c.Bytes != 8*3*c.Rows || c.Rows > 8 || c.Duration < 0 {
			t.Errorf("call %+v", c)
		}
	}
	if int64(len(calls)) != s.Calls() || rowsSeen != total || !shared {
		t.Errorf("observer: %d calls of %d rows in all (shared: %v), want %d calls of %d rows, some shared",
			len(calls), rowsSeen, shared, s.Calls(), total)
	}
}

// A lone job's calls go out at once, as a Batcher's would: no waiting for
// a batch to fill.
func TestLoneJobCalls(t *testing.T) {
	tests := []struct {
		name     string
		rows     int
		maxBatch int
		want     []int // rows per call
	}{
		{"fewer rows than the cap", 5, 64, []int{5}},
		{"one over", 65, 64, []int{64, 1}},
		{"several", 100, 32, []int{32, 32, 32, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fake{}
			s := newScheduler(t, f, scheduler.WithMaxBatchSize(tt.maxBatch), scheduler.WithInFlight(1))
			rows := tagged(0, tt.rows, 2)
			if got, err := s.NewJob().Predict(context.Background(), rows); err != nil || !sameBits(got, curvy(rows)) {
				t.Fatalf("%v, or wrong scores", err)
			}
			var sizes []int
			for _, c := range f.log() {
				sizes = append(sizes, len(c.rows))
			}
			if !slices.Equal(sizes, tt.want) {
				t.Errorf("calls of %v rows, want %v", sizes, tt.want)
			}
		})
	}
}

// The KServe client refuses a value an INT64 input cannot hold before
// sending anything: the shared call is sent again one job at a time, and
// only the job with that value fails.
func TestInvalidValueFailsOnlyItsJob(t *testing.T) {
	hold := make(chan struct{})
	fake := predictortest.NewKServeServer(curvy)
	fake.InputDatatype, fake.OutputFP64, fake.Fault = "INT64", true, holdCalls(hold)
	s := newScheduler(t, predictor.NewKServeV2(serve(t, fake).Conn, "model"), scheduler.WithMaxBatchSize(8), scheduler.WithInFlight(1))
	bad := tagged(0, 12, 2)
	bad[10][1] = 1e300 // in the call shared with the other job
	good := tagged(1, 12, 2)
	outs := predictAll(t, s, hold, []*scheduler.Job{s.NewJob(), s.NewJob()}, [][][]float64{bad, good})
	if !errors.Is(outs[0].err, predictor.ErrInvalidInput) {
		t.Errorf("job with the bad value: %v, want ErrInvalidInput", outs[0].err)
	}
	if outs[1].err != nil || !sameBits(outs[1].out, curvy(good)) {
		t.Errorf("other job: %v, or wrong scores", outs[1].err)
	}
}
