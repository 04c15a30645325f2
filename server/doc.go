// Package server implements explainer.v1.ExplainerService over gRPC: it
// decodes requests into jobs, runs them on the engine against the model
// server, and streams their progress and results.
//
// Layout: registry.go holds the method registry, one entry per case of
// ExplainRequest.method, each registered by its own method_<name>.go, which
// validates the request and builds an engine.Spec. job.go runs a spec on
// the engine with the model's scheduler (one per model, shared by every
// job); encode.go is the one encoder of results; status.go maps errors to
// codes in one place (requestError prefixes explain's request errors with
// the method's name). Nothing else switches on the method.
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
