package server

import (
	"context"

	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// ExplainJob runs one job, admitted like Explain's (it may wait in the
// queue), and streams its events: the latest progress and partial result,
// coalesced so that a slow reader costs no memory, then the final result.
// A failed job ends the call with its status. When the client goes away the
// job is cancelled: no more batches are sent.
func (s *Server) ExplainJob(in *explainerv1.ExplainJobRequest, stream explainerv1.ExplainerService_ExplainJobServer) error {
	req := in.GetRequest()
	if req == nil {
		req = &explainerv1.ExplainRequest{}
	}
	req = s.applyDefaults(req)
	if streamsData(req) {
		return invalidArgument("%s.streamed: ExplainJob takes no data chunks: send the data in the request, or use ExplainStream", methodLabel(req))
	}
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	release, err := s.admitWait(ctx, methodLabel(req))
	if err != nil {
		return err
	}
	defer release()

	out := newOutbox()
	sent := make(chan error, 1)
	go func() {
		err := out.run(ctx, func(ev *explainerv1.ExplainStreamResponse) error { return stream.Send(jobEvent(ev)) })
		if err != nil {
			cancel() // the client is gone: stop the job
		}
		sent <- err
	}()
	exp, err := s.runRecovered(ctx, req, jobIO{
		progress: func(p *explainerv1.Progress) { out.progress("", p) },
		partial:  func(e *explainerv1.Explanation) { out.partial("", e) },
	})
	if err != nil {
		// As in ExplainStream, the sender is not waited for: it may be
		// blocked in Send on a client that does not read, and only
		// returning from the handler unblocks it.
		cancel()
		return err
	}
	out.final("", &explainerv1.ExplainStreamResponse{Event: &explainerv1.ExplainStreamResponse_Result{Result: exp}})
	out.close()
	return <-sent
}

// jobEvent is a stream event as ExplainJob sends it.
func jobEvent(ev *explainerv1.ExplainStreamResponse) *explainerv1.ExplainJobResponse {
	switch e := ev.GetEvent().(type) {
	case *explainerv1.ExplainStreamResponse_Progress:
		return &explainerv1.ExplainJobResponse{Event: &explainerv1.ExplainJobResponse_Progress{Progress: e.Progress}}
	case *explainerv1.ExplainStreamResponse_Partial:
		return &explainerv1.ExplainJobResponse{Event: &explainerv1.ExplainJobResponse_Partial{Partial: e.Partial}}
	case *explainerv1.ExplainStreamResponse_Result:
		return &explainerv1.ExplainJobResponse{Event: &explainerv1.ExplainJobResponse_Result{Result: e.Result}}
	}
	return &explainerv1.ExplainJobResponse{} // errors end the call instead
}
