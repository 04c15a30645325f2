package scheduler_test

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/explainer-sidecar/explainer/predictor"
	"github.com/explainer-sidecar/explainer/predictor/predictortest"
	"github.com/explainer-sidecar/explainer/scheduler"
)

// One Scheduler per model, one Job per explanation run: the runs' rows
// share the model's calls, and each run counts the calls that carried its
// rows.
func ExampleScheduler() {
	// A fake model server standing in for the user's: p = σ(x_0 − x_1).
	fake := predictortest.NewPredictServer(predictortest.Logistic([]float64{1, -1}, 0))
	fake.MaxBatchSize = 64
	srv := predictortest.NewBufconnServer(fake)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := predictor.NewPredictV1(srv.Conn, "")
	info, err := client.Describe(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	s := scheduler.New(client,
		scheduler.WithMaxBatchSize(info.MaxBatchSize),
		scheduler.WithInFlight(4), // for the model, whatever the number of jobs
	)
	defer s.Close()

	var wg sync.WaitGroup
	for run, n := range []int{1000, 50} {
		job := s.NewJob() // an explain.Model: pass it to explain.LIME and the others
		rows := make([][]float64, n)
		for i := range rows {
			rows[i] = []float64{float64(i % 3), 1}
		}
		wg.Go(func() {
			scores, err := job.Predict(ctx, rows)
			if err != nil {
				fmt.Println(err)
				return
			}
			fmt.Printf("run %d: row 2 [%.3f %.3f], %d rows sent\n", run, scores[2][0], scores[2][1], job.Rows())
		})
		wg.Wait() // in turn, for a stable output; runs are concurrent in a server
	}
	fmt.Println("model calls:", s.Calls())
	// Output:
	// run 0: row 2 [0.269 0.731], 1000 rows sent
	// run 1: row 2 [0.269 0.731], 50 rows sent
	// model calls: 17
}
