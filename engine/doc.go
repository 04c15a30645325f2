// Package engine runs explanation jobs on explain's types: one run of an
// estimator, auto sampling's rounds, stability's runs over consecutive
// seeds, and the deletion/insertion curves, reporting partial results as
// they come; and batches of many instances ([ExplainBatch]): the shared
// work once, instance i as the single job with seed + i, a bounded number
// at once on one model, each reported as it finishes, then the global
// summaries (mean |attribution| per feature, SP-LIME's pick). It knows no
// transport and no proto: the gRPC and HTTP front ends decode a request
// into a [Spec] or a [Batch] (see server's method registry), call
// [Explain] or [ExplainBatch], and encode the outcome.
//
// Concurrency: Explain owns every goroutine it starts and returns once they
// have ended. Stability's extra runs go in parallel with each other, each on
// a model of its own (Models.Extra), so that their model calls are counted
// apart from the job's; a panic in any of them becomes that job's error
// (a *group.PanicError), never the process's. ExplainBatch runs at most
// BatchOptions.Concurrency instances at once, each on its own goroutine,
// and returns once they have all ended; the first error cancels the rest.
package engine
