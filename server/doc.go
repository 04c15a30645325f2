// Package server implements explainer.v1.ExplainerService: it validates
// requests, runs explanation jobs against the configured model server, and
// streams their progress and results.
//
// Concurrency: a Server is safe for concurrent RPCs. Each job runs in its
// own goroutine under a context derived from its RPC; the number of jobs
// running at once is capped (WithMaxConcurrentJobs), and a job past the cap
// is refused with RESOURCE_EXHAUSTED rather than queued without bound.
// Progress on a stream is coalesced to the latest value per job, so memory
// does not depend on how fast a client reads. A batch job
// (ExplainRequest.batch, batch.go) runs its instances on
// engine.ExplainBatch, at most WithBatchConcurrency at once, and sends each
// instance's explanation once as it finishes.
//
// Errors reach clients as gRPC status codes, mapped in one place (status.go):
// bad requests are INVALID_ARGUMENT naming the field, a model server that is
// down is UNAVAILABLE, one that rejects the sidecar's requests is
// FAILED_PRECONDITION, one that returns malformed scores is INTERNAL.
package server
