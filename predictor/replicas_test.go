package predictor_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"

	"github.com/explainer-sidecar/explainer/predictor"
	"github.com/explainer-sidecar/explainer/predictor/predictortest"
)

var replicaScheme atomic.Int64

// replicas serves each fake on its own 127.0.0.1 listener and returns the
// servers and a predictor.Dial channel that resolves one name to all of
// them (a manual resolver stands in for dns:/// offline). Everything is
// closed when the test ends.
func replicas(t *testing.T, fakes ...*predictortest.PredictServer) ([]*predictortest.Server, *grpc.ClientConn) {
	t.Helper()
	r := manual.NewBuilderWithScheme(fmt.Sprintf("replicas%d", replicaScheme.Add(1)))
	var (
		servers []*predictortest.Server
		addrs   []resolver.Address
	)
	for _, f := range fakes {
		s := predictortest.NewServer(f)
		t.Cleanup(s.Close)
		servers = append(servers, s)
		addrs = append(addrs, resolver.Address{Addr: s.Target})
	}
	r.InitialState(resolver.State{Addresses: addrs})
	conn, err := predictor.Dial(r.Scheme()+":///model", predictor.WithInsecure(), predictor.WithGRPCDialOptions(grpc.WithResolvers(r)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return servers, conn
}

// checkScores checks that out is firstAndSum of rows.
func checkScores(t *testing.T, rows, out [][]float64) {
	t.Helper()
	want := firstAndSum(rows)
	if len(out) != len(want) {
		t.Fatalf("%d rows of scores, want %d", len(out), len(want))
	}
	for i := range want {
		if len(out[i]) != 2 || out[i][0] != want[i][0] || out[i][1] != want[i][1] {
			t.Fatalf("row %d scored %v, want %v", i, out[i], want[i])
		}
	}
}

// With several addresses for one name, round_robin spreads the batches of a
// Predict over every replica.
func TestReplicasShareTheBatches(t *testing.T) {
	fakes := []*predictortest.PredictServer{
		predictortest.NewPredictServer(firstAndSum),
		predictortest.NewPredictServer(firstAndSum),
		predictortest.NewPredictServer(firstAndSum),
	}
	for _, f := range fakes {
		f.Delay = 2 * time.Millisecond
	}
	_, conn := replicas(t, fakes...)
	b := predictor.NewBatcher(predictor.NewPredictV1(conn, ""), predictor.WithMaxBatchSize(10), predictor.WithInFlight(3))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Connect every replica first: round_robin starts picking as soon as
	// one is ready.
	conn.Connect()
	warm := predictor.NewPredictV1(conn, "")
	for range 3 * len(fakes) {
		if err := warm.Ready(ctx); err != nil {
			t.Fatal(err)
		}
	}
	rows := table(600, 4)
	out, err := b.Predict(ctx, rows)
	if err != nil {
		t.Fatal(err)
	}
	checkScores(t, rows, out)
	total := 0
	for i, f := range fakes {
		total += f.Calls()
		// 60 batches over 3 replicas: 20 each in strict rotation; allow
		// for the rotation starting before every replica was ready.
		if f.Calls() < 10 {
			t.Errorf("replica %d got %d of 60 batches, want about a third", i, f.Calls())
		}
	}
	if total != 60 || b.Calls() != 60 {
		t.Errorf("the replicas got %d calls, the batcher sent %d; want 60 each", total, b.Calls())
	}
}

// A replica that goes away in the middle of a Predict call does not fail
// it: the calls it was serving fail UNAVAILABLE, the channel retries them,
// and round_robin sends them (and the batches after them) to the replicas
// still up.
func TestReplicaLostMidPredict(t *testing.T) {
	for _, tc := range []struct {
		name string
		// fault is what the dying replica answers to the call that stops
		// it; the calls it has in flight fail with the lost connection.
		fault error
	}{
		{"answers UNAVAILABLE then stops", status.Error(codes.Unavailable, "going away")},
		{"stops without answering", predictortest.ErrHang},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var dying atomic.Pointer[predictortest.Server]
			a := predictortest.NewPredictServer(firstAndSum)
			a.Delay = 5 * time.Millisecond
			a.Fault = func(call int, _ [][]float64) ([][]float64, error) {
				if call == 3 {
					// Stop from another goroutine when the fault hangs:
					// the stop is what ends this call.
					go dying.Load().Stop()
					return nil, tc.fault
				}
				return nil, nil
			}
			b := predictortest.NewPredictServer(firstAndSum)
			b.Delay = 5 * time.Millisecond
			servers, conn := replicas(t, a, b)
			dying.Store(servers[0])

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			warm := predictor.NewPredictV1(conn, "")
			for range 4 {
				if err := warm.Ready(ctx); err != nil {
					t.Fatal(err)
				}
			}
			batcher := predictor.NewBatcher(predictor.NewPredictV1(conn, ""), predictor.WithMaxBatchSize(10), predictor.WithInFlight(4))
			rows := table(500, 3)
			start := time.Now()
			out, err := batcher.Predict(ctx, rows)
			if err != nil {
				t.Fatalf("Predict failed after %v although replica b was up: %v (code %v)", time.Since(start), err, func() codes.Code { c, _ := predictor.ServerCode(err); return c }())
			}
			checkScores(t, rows, out)
			if a.Calls() < 4 {
				t.Errorf("replica a got %d calls, want it stopped at its 4th", a.Calls())
			}
			// Every batch was answered once by a replica that stayed up or
			// before a went away: b took over the rest.
			if b.Calls() < 50-a.Calls() {
				t.Errorf("replica b got %d calls, a %d: want b to take over the 50 batches", b.Calls(), a.Calls())
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("Predict took %v", took)
			}
		})
	}
}
