package predictor

import (
	"sync"
	"time"

	"google.golang.org/grpc/resolver"
)

// DefaultRefreshInterval is how often a dns:/// target is resolved again
// when WithRefreshInterval is not given.
//
// gRPC's DNS resolver resolves again only when a connection fails, so
// replicas added behind a headless Service (a scale-up) would get no
// traffic until one of the old ones failed. Resolving every 30 seconds, the
// DNS resolver's own minimum interval, picks them up.
const DefaultRefreshInterval = 30 * time.Second

// refreshBuilder builds the resolvers of another builder (gRPC's DNS
// resolver) and asks each to resolve again every interval.
type refreshBuilder struct {
	inner    resolver.Builder
	interval time.Duration
}

// Build implements resolver.Builder.
func (b refreshBuilder) Build(target resolver.Target, cc resolver.ClientConn, opts resolver.BuildOptions) (resolver.Resolver, error) {
	r, err := b.inner.Build(target, cc, opts)
	if err != nil {
		return nil, err
	}
	rr := &refreshResolver{Resolver: r, stop: make(chan struct{})}
	rr.wg.Add(1)
	go rr.loop(b.interval)
	return rr, nil
}

// Scheme implements resolver.Builder: the inner builder's, so that the
// channel uses this builder for the targets the inner one would resolve.
func (b refreshBuilder) Scheme() string { return b.inner.Scheme() }

// refreshResolver is a resolver that is asked to resolve again on a timer.
type refreshResolver struct {
	resolver.Resolver
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

func (r *refreshResolver) loop(interval time.Duration) {
	defer r.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.Resolver.ResolveNow(resolver.ResolveNowOptions{})
		}
	}
}

// Close implements resolver.Resolver: it stops the timer, then closes the
// inner resolver.
func (r *refreshResolver) Close() {
	r.stopOnce.Do(func() { close(r.stop) })
	r.wg.Wait()
	r.Resolver.Close()
}
