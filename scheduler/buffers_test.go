package scheduler_test

import (
	"context"
	"slices"
	"testing"

	"github.com/explainer-sidecar/explainer/predictor"
	"github.com/explainer-sidecar/explainer/predictor/predictortest"
	"github.com/explainer-sidecar/explainer/scheduler"
)

// Workers end whenever no row waits; their call buffers are kept for the
// next ones, at most InFlight of them and none over twice the bytes cap
// (allocations round up), and a
// kept buffer's old rows never reach a later call.
func TestSpareBuffers(t *testing.T) {
	const width, maxBytes, inFlight = 4, 8 * 4 * 16, 2
	fake := predictortest.NewPredictServer(curvy)
	client := predictor.NewPredictV1(serve(t, fake).Conn, "")
	s := scheduler.New(client, scheduler.WithMaxBatchSize(0), scheduler.WithMaxBatchBytes(maxBytes), scheduler.WithInFlight(inFlight))
	defer s.Close()
	ctx := context.Background()

	rounds := []struct {
		name  string
		rows  [][]float64
		spare int // buffers kept afterwards, at most
	}{
		{"rounds of calls", tagged(0, 100, width), inFlight},
		{"fewer rows than before", tagged(1, 3, width), inFlight},
		// One row of 256 values (2048 bytes) is over the 512-byte cap: it
		// goes alone, and its buffer is not kept.
		{"a row over the cap", [][]float64{slices.Repeat([]float64{0.5}, 256)}, inFlight},
	}
	for _, r := range rounds {
		got, err := s.NewJob().Predict(ctx, r.rows)
		if err != nil {
			t.Fatalf("%s: %v", r.name, err)
		}
		want := curvy(r.rows)
		for i := range want {
			if !slices.Equal(got[i], want[i]) {
				t.Fatalf("%s: row %d scored %v, want %v", r.name, i, got[i], want[i])
			}
		}
		scheduler.WaitIdle(s)
		spare := scheduler.Spare(s)
		if len(spare) > r.spare {
			t.Errorf("%s: %d spare buffers, want at most %d", r.name, len(spare), r.spare)
		}
		for _, c := range spare {
			if 8*c > 2*maxBytes {
				t.Errorf("%s: a spare buffer holds %d values (%d bytes), over twice the %d-byte cap", r.name, c, 8*c, maxBytes)
			}
		}
		if len(spare) == 0 {
			t.Errorf("%s: no spare buffer kept", r.name)
		}
	}
}
