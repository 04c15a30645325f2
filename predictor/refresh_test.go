package predictor

import (
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
)

// builtRecorder is a refreshBuilder that hands each resolver it builds to
// the test.
type builtRecorder struct {
	refreshBuilder
	built chan *refreshResolver
}

func (b builtRecorder) Build(target resolver.Target, cc resolver.ClientConn, opts resolver.BuildOptions) (resolver.Resolver, error) {
	r, err := b.refreshBuilder.Build(target, cc, opts)
	if err == nil {
		b.built <- r.(*refreshResolver)
	}
	return r, err
}

// TestRefreshResolvesAgain: the refreshing builder asks its resolver to
// resolve again on every tick, and stops when the channel closes.
func TestRefreshResolvesAgain(t *testing.T) {
	inner := manual.NewBuilderWithScheme("refresh-test")
	resolved := make(chan struct{}, 16)
	inner.ResolveNowCallback = func(resolver.ResolveNowOptions) {
		select {
		case resolved <- struct{}{}:
		default:
		}
	}
	closed := make(chan struct{})
	inner.CloseCallback = func() { close(closed) }
	inner.InitialState(resolver.State{Addresses: []resolver.Address{{Addr: "127.0.0.1:1"}}})
	b := builtRecorder{refreshBuilder{inner: inner, interval: 5 * time.Millisecond}, make(chan *refreshResolver, 1)}
	cc, err := grpc.NewClient("refresh-test:///model", grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithResolvers(b))
	if err != nil {
		t.Fatal(err)
	}
	cc.Connect()
	r := <-b.built
	for range 3 {
		<-resolved // the test's timeout bounds a refresher that never ticks
	}
	cc.Close()
	<-closed
	// The inner resolver is closed, and the refresh loop has returned: no
	// tick can ask again.
	r.wg.Wait()
	select {
	case <-r.stop:
	default:
		t.Error("the refresher was not stopped")
	}
}
