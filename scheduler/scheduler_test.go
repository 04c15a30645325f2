package scheduler_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/explainer-sidecar/explainer/predictor"
	"github.com/explainer-sidecar/explainer/predictor/predictortest"
	"github.com/explainer-sidecar/explainer/scheduler"
)

// Jobs that share a Scheduler, and so share calls, get bit for bit the
// scores each would get alone, from a Batcher or a Scheduler of its own.
func TestSharedResultsIdentical(t *testing.T) {
	servers := []struct {
		name   string
		client func(t *testing.T, hold chan struct{}) predictor.Client
	}{
		{"predict.v1", func(t *testing.T, hold chan struct{}) predictor.Client {
			fake := predictortest.NewPredictServer(curvy)
			fake.Fault = holdCalls(hold)
			return predictor.NewPredictV1(serve(t, fake).Conn, "")
		}},
		{"kserve", func(t *testing.T, hold chan struct{}) predictor.Client {
			fake := predictortest.NewKServeServer(curvy)
			fake.InputDatatype, fake.OutputFP64 = "FP64", true
			fake.Fault = holdCalls(hold)
			return predictor.NewKServeV2(serve(t, fake).Conn, "model")
		}},
	}
	tests := []struct {
		name     string
		sizes    []int // rows per job
		width    int
		maxBatch int
		maxBytes int
		inFlight int
	}{
		{"two jobs", []int{20, 5}, 4, 8, 0, 1},
		{"three jobs in flight 2", []int{100, 3, 17}, 3, 8, 0, 2},
		{"many small jobs", []int{9, 1, 2, 3, 4, 5, 6, 7}, 2, 8, 0, 3},
		{"no row cap, bytes cap", []int{30, 30}, 5, 0, 5 * 8 * 7, 1},
	}
	for _, srv := range servers {
		for _, tt := range tests {
			t.Run(srv.name+"/"+tt.name, func(t *testing.T) {
				ctx := context.Background()
				rows := make([][][]float64, len(tt.sizes))
				for i, n := range tt.sizes {
					rows[i] = tagged(i, n, tt.width)
				}
				open := make(chan struct{})
				close(open)
				alone := srv.client(t, open)
				want := make([][][]float64, len(rows))
				for i := range rows {
					var err error
					b := predictor.NewBatcher(alone, predictor.WithMaxBatchSize(max(tt.maxBatch, 1)), predictor.WithMaxBatchBytes(tt.maxBytes))
					if want[i], err = b.Predict(ctx, rows[i]); err != nil {
						t.Fatalf("Batcher, job %d: %v", i, err)
					}
					own := newScheduler(t, alone, scheduler.WithMaxBatchSize(tt.maxBatch), scheduler.WithMaxBatchBytes(tt.maxBytes))
					got, err := own.NewJob().Predict(ctx, rows[i])
					if err != nil {
						t.Fatalf("own Scheduler, job %d: %v", i, err)
					}
					if !sameBits(got, want[i]) {
						t.Fatalf("job %d alone on a Scheduler differs from a Batcher", i)
					}
				}

				hold := make(chan struct{})
				s := newScheduler(t, srv.client(t, hold),
					scheduler.WithMaxBatchSize(tt.maxBatch), scheduler.WithMaxBatchBytes(tt.maxBytes), scheduler.WithInFlight(tt.inFlight))
				jobs := make([]*scheduler.Job, len(rows))
				for i := range jobs {
					jobs[i] = s.NewJob()
				}
				var jobCalls int64
				for i, o := range predictAll(t, s, hold, jobs, rows) {
					if o.err != nil {
						t.Fatalf("job %d: %v", i, o.err)
					}
					if !sameBits(o.out, want[i]) {
						t.Errorf("job %d: shared scores differ from its scores alone", i)
					}
					if r := jobs[i].Rows(); r != int64(tt.sizes[i]) {
						t.Errorf("job %d: Rows() = %d, want %d", i, r, tt.sizes[i])
					}
					jobCalls += jobs[i].Calls()
				}
				if jobCalls <= s.Calls() {
					t.Errorf("jobs' calls %d, scheduler's %d: no call was shared", jobCalls, s.Calls())
				}
			})
		}
	}
}

// holdCalls returns a fault that holds every call until hold is closed.
func holdCalls(hold chan struct{}) predictortest.FaultFunc {
	return func(int, [][]float64) ([][]float64, error) {
		<-hold
		return nil, nil
	}
}

// No call carries more rows than the row cap, or more bytes than the bytes
// cap unless it is one row alone; rows of other widths, shapes or texts
// never share a call.
func TestCallCaps(t *testing.T) {
	type jobSpec struct {
		rows  int
		width int
		shape []int
		text  int // text length, for a text job
	}
	tests := []struct {
		name     string
		maxBatch int
		maxBytes int
		jobs     []jobSpec
	}{
		{"rows cap", 8, 0, []jobSpec{{rows: 50, width: 3}, {rows: 7, width: 3}, {rows: 1, width: 3}}},
		{"bytes cap", 64, 10 * 8 * 4, []jobSpec{{rows: 33, width: 10}, {rows: 9, width: 10}}},
		{"no row cap, bytes cap", 0, 7 * 8 * 2, []jobSpec{{rows: 40, width: 2}, {rows: 40, width: 2}}},
		{"row over the bytes cap goes alone", 64, 20, []jobSpec{{rows: 3, width: 4}, {rows: 2, width: 4}}},
		{"widths apart", 16, 0, []jobSpec{{rows: 20, width: 2}, {rows: 20, width: 3}, {rows: 5, width: 2}}},
		{"shapes apart", 16, 0, []jobSpec{{rows: 9, width: 6, shape: []int{2, 3}}, {rows: 9, width: 6, shape: []int{3, 2}}, {rows: 9, width: 6}}},
		{"texts apart, bytes cap", 64, 3 * (10 + 4), []jobSpec{{rows: 10, text: 10}, {rows: 10, width: 2}, {rows: 4, text: 10}}},
		{"text over the bytes cap goes alone", 64, 8, []jobSpec{{rows: 2, text: 30}, {rows: 2, text: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hold := make(chan struct{})
			f := &fake{hold: hold}
			s := newScheduler(t, f, scheduler.WithMaxBatchSize(tt.maxBatch), scheduler.WithMaxBatchBytes(tt.maxBytes), scheduler.WithInFlight(2))
			maxBytes := tt.maxBytes
			if maxBytes == 0 {
				maxBytes = predictor.DefaultMaxBatchBytes
			}
			queued := make(chan struct{}, len(tt.jobs))
			scheduler.OnEnqueue(s, func() { queued <- struct{}{} })
			errs := make(chan error, len(tt.jobs))
			for i, js := range tt.jobs {
				var opts []scheduler.JobOption
				if js.shape != nil {
					opts = append(opts, scheduler.WithInstanceShape(js.shape...))
				}
				j := s.NewJob(opts...)
				go func() {
					if js.text > 0 {
						texts := make([]string, js.rows)
						for k := range texts {
							texts[k] = fmt.Sprintf("%0*d", js.text, i*1000+k)
						}
						got, err := j.PredictText(context.Background(), texts)
						if err == nil && !sameBits(got, curvyText(texts)) {
							err = fmt.Errorf("job %d: wrong scores", i)
						}
						errs <- err
						return
					}
					rows := tagged(i, js.rows, js.width)
					got, err := j.Predict(context.Background(), rows)
					if err == nil && !sameBits(got, curvy(rows)) {
						err = fmt.Errorf("job %d: wrong scores", i)
					}
					errs <- err
				}()
				<-queued
			}
			close(hold)
			for range tt.jobs {
				if err := <-errs; err != nil {
					t.Error(err)
				}
			}
			for n, c := range f.log() {
				rows, bytes := len(c.rows), 0
				for _, r := range c.rows {
					bytes += 8 * len(r)
				}
				if c.texts != nil {
					rows = len(c.texts)
					for _, s := range c.texts {
						bytes += len(s) + 4
					}
				}
				if tt.maxBatch > 0 && rows > tt.maxBatch {
					t.Errorf("call %d: %d rows, cap %d", n, rows, tt.maxBatch)
				}
				if bytes > maxBytes && rows > 1 {
					t.Errorf("call %d: %d bytes in %d rows, cap %d", n, bytes, rows, maxBytes)
				}
				if c.texts != nil {
					continue
				}
				jobs := c.tags()
				for tag := range jobs {
					js := tt.jobs[tag]
					if w := len(c.rows[0]); js.width != w {
						t.Errorf("call %d: rows of width %d with job %d's of width %d", n, w, tag, js.width)
					}
					if fmt.Sprint(js.shape) != fmt.Sprint(c.shape) {
						t.Errorf("call %d: shape %v with job %d's rows of shape %v", n, c.shape, tag, js.shape)
					}
				}
			}
		})
	}
}
