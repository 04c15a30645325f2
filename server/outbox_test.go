package server

import (
	"context"
	"testing"

	explainerv1 "github.com/explainer-sidecar/explainer/proto/explainer/v1"
)

// A job's last progress goes out before its final event even when the
// final is queued before the outbox sends it: a client's progress ends
// at the job's last count (a progress bar at 100 %, not a call short).
// A pending partial result is dropped: the final one supersedes it.
func TestOutboxLastProgressBeforeFinal(t *testing.T) {
	o := newOutbox()
	o.progress("a", &explainerv1.Progress{SamplesScored: 4864, SamplesTotal: 5001})
	o.progress("a", &explainerv1.Progress{SamplesScored: 5001, SamplesTotal: 5001})
	o.partial("a", &explainerv1.Explanation{Method: "interim"})
	o.progress("b", &explainerv1.Progress{SamplesScored: 1, SamplesTotal: 2})
	o.final("a", &explainerv1.ExplainStreamResponse{Event: &explainerv1.ExplainStreamResponse_Result{Result: &explainerv1.Explanation{Method: "final"}}})
	o.close()
	var got []*explainerv1.ExplainStreamResponse
	if err := o.run(context.Background(), func(ev *explainerv1.ExplainStreamResponse) error {
		got = append(got, ev)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var a []string
	for _, ev := range got {
		if ev.GetJobId() != "a" {
			continue
		}
		switch {
		case ev.GetProgress() != nil:
			a = append(a, "progress")
			if n := ev.GetProgress().GetSamplesScored(); n != 5001 {
				t.Errorf("progress %d, want the last, 5001", n)
			}
		case ev.GetPartial() != nil:
			a = append(a, "partial")
		case ev.GetResult() != nil:
			a = append(a, "result")
		}
	}
	if len(a) != 2 || a[0] != "progress" || a[1] != "result" {
		t.Errorf("job a's events %v, want [progress result]", a)
	}
}
