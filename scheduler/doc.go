// Package scheduler shares one model server among the jobs that use it: it
// packs the rows of every job into calls up to the model's batch limits,
// keeps the model's calls in flight under one cap, and shares the calls
// fairly between the jobs.
//
// A predictor.Batcher per job splits that job's rows alone: fifty jobs of
// ten rows make fifty calls of ten rows, each job with its own calls in
// flight. A Scheduler per model packs them into about ten calls of up to 64
// rows, with at most InFlight calls at the model in all.
//
// # Use
//
// The server makes one Scheduler per model name, when it first describes the
// model, with the model's limits, and closes it at shutdown once the jobs
// have ended:
//
//	s := scheduler.New(client,
//		scheduler.WithMaxBatchSize(batchSize),      // ModelInfo.MaxBatchSize, capped by the flag
//		scheduler.WithMaxBatchBytes(maxBatchBytes), // under the model server's receive limit
//		scheduler.WithInFlight(inFlight),           // per model, not per job
//		scheduler.WithNumClasses(info.NumClasses),
//		scheduler.WithObserver(metrics.call))
//	defer s.Close()
//
// and one Job per explanation run (a job's stability runs and curves each
// get their own, to count their calls apart):
//
//	job := s.NewJob(scheduler.WithProgress(report), scheduler.WithInstanceShape(3, 224, 224))
//	result, err := explain.LIME(ctx, job, req) // a Job is an explain.Model and explain.TextModel
//	calls, rows := job.Calls(), job.Rows()
//
// # Batching
//
// Calls go out as soon as one of the InFlight slots is free: a lone job
// never waits for a batch to fill, and its calls are those a Batcher would
// make. Calls fill up because rows queue while the slots are busy; with
// WithLinger a call that would go out less than full while another is in
// flight waits a while for more (fewer, fuller calls for a GPU). A call
// carries at most MaxBatchSize rows (none when 0) and MaxBatchBytes of
// payload (predictor.ValueBytes per value: 4 for a KServe v2 FP32 input, 2
// for FP16, 1 for UINT8, else 8; a text's length plus 4; a row over it goes
// alone), all of one
// lane: rows of one width, or of one instance shape, or texts. Rows of
// different lanes never share a call.
//
// # Fairness
//
// Each call takes rows from every job with rows waiting in its lane, by
// water filling: with k such jobs each gets up to cap/k rows, and the room a
// job cannot use goes to the others. The turn of the job a call starts with
// (which picks the lane, and gets a remainder first) rotates to the first
// job the previous call did not serve. So a job of R rows that arrives
// behind any number of rows of k−1 other jobs has its last row sent within
// InFlight + ⌈R / ⌊cap/k⌋⌉ calls (a row every ⌈k/cap⌉ calls when k > cap):
// a 5000-row LIME job behind a 100,000-row permutation job is done after
// 159 calls of 64 rows, not 1563. The price of fairness: jobs of one size
// that arrive together also finish together, near the end, where with one
// Batcher each (their calls queueing at the model server in arrival order)
// some finish early; BenchmarkConcurrentJobs reports both (job/ideal).
//
// # Counting
//
// A call is counted for every job that has at least one row in it:
// Job.Calls is the number of model calls that carried the job's rows, and
// the jobs' counts add up to more than Scheduler.Calls when calls are
// shared. Job.Rows is the number of its rows sent. Both are counted when a
// call is sent, whatever its outcome.
//
// # Concurrency
//
// A Scheduler and its Jobs are safe for concurrent use. A Predict or
// PredictText call blocks its caller until its rows are scored, its context
// is done or the Scheduler closes. The Scheduler runs at most InFlight
// goroutines, only while rows are waiting or calls are in flight; each
// recovers a panic of the client or the observer into an error for the
// call's jobs (a *group.PanicError). Close returns once they have all
// ended. Progress (WithProgress) is reported on the goroutine of the
// Predict call the rows belong to, never after it returns; the observer
// (WithObserver) is called on the Scheduler's goroutines.
//
// # Contexts
//
// A call serves several jobs, so it runs under a context of the Scheduler,
// not of any job: its deadline is the latest of its jobs' deadlines (none if
// one of them has none), and it is cancelled once every job it carries has
// given up, or by Close. It carries no values of the jobs' contexts, so no
// per-job metadata reaches the model server. A job whose context is done
// returns at once with the context's error: its rows not yet sent never
// are, and a call of its rows alone is cancelled; a call shared with other
// jobs goes on for them.
//
// # Errors
//
// The errors are the predictor package's: every error wraps one of its
// sentinels or a context error, so a caller's mapping of predictor errors
// to codes still holds. A call that fails fails every Predict whose rows it
// carried, with the call's error. An answer unusable as a whole (a row
// count, ragged rows, a class count other than WithNumClasses) fails them
// all with predictor.ErrBadOutput; a non-finite score fails only the
// Predict whose row it is in; scores of one Predict call with another class
// count than its earlier ones fail it. A call that the client refuses
// before sending anything (predictor.ErrInvalidInput: a value an INT64
// input cannot hold, a text that is not UTF-8) is sent again one job's
// rows at a time, so that only the job at fault fails. ErrClosed wraps
// predictor.ErrUnavailable.
//
// # Memory
//
// Each call copies its inputs into buffers of the goroutine that sends it,
// so a Predict that fails or is cancelled returns without waiting for the
// model, and its caller may reuse its rows at once. The buffers are reused
// for the next call, and kept for the next worker when one ends (at most
// InFlight buffers of at most twice a full call's values stay while the
// model is idle): a Client must not keep the rows it is given after Score
// returns (the predictor package's clients encode them first). The scores
// are copied into an array of each Predict call's own, so jobs that share
// calls share no memory.
package scheduler
