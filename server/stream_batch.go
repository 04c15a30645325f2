package server

import explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"

// instance queues a batch job's finished instance. Unlike progress and
// partial results it is never coalesced: each instance is sent once, in the
// order they finish, before the job's final event (queued after them). A
// batch's instances are bounded by MaxBatchInstances.
func (o *outbox) instance(id string, e *explainerv1.InstanceExplanation) {
	o.mu.Lock()
	o.finals = append(o.finals, &explainerv1.ExplainStreamResponse{JobId: id, Event: &explainerv1.ExplainStreamResponse_Instance{Instance: e}})
	o.mu.Unlock()
	o.signal()
}
