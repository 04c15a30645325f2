package predictor

import (
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
)

// TestRefreshResolvesAgain: the refreshing builder asks its resolver to
// resolve again on every tick, and stops when the channel closes.
func TestRefreshResolvesAgain(t *testing.T) {
	inner := manual.NewBuilderWithScheme("refresh-test")
	var calls atomic.Int32
	inner.ResolveNowCallback = func(resolver.ResolveNowOptions) { calls.Add(1) }
	inner.InitialState(resolver.State{Addresses: []resolver.Address{{Addr: "127.0.0.1:1"}}})
	cc, err := grpc.NewClient("refresh-test:///model", grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithResolvers(refreshBuilder{inner: inner, interval: 5 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	cc.Connect()
	deadline := time.Now().Add(5 * time.Second)
	for calls.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("resolved again %d times in 5 s at a 5 ms interval", calls.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cc.Close()
	after := calls.Load()
	time.Sleep(50 * time.Millisecond)
	if calls.Load() != after {
		t.Errorf("resolved again after the channel closed")
	}
}
