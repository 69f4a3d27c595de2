package aggregator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/mcp-gateway/mcp-gateway/fault"
)

// Upstreams are added, replaced and removed while the gateway runs, one at a
// time; the others are untouched (same connection, same process). Which
// upstreams changed is the caller's to decide (a spec holds functions and
// cannot be compared): the aggregator only starts, restarts and stops.

// Add starts a new upstream and adds it to the catalogs: its items appear
// once it has connected and listed, and clients whose view changed get
// list_changed. Before Run it is started
// with the others. A required upstream that fails to connect here is
// retried like any other: the gateway is already serving.
func (a *Aggregator) Add(spec UpstreamSpec) error {
	a.applying.Lock()
	defer a.applying.Unlock()
	a.mu.Lock()
	if err := a.checkSpec(spec, ""); err != nil {
		a.mu.Unlock()
		return err
	}
	u := a.newUpstream(spec)
	v := newView(spec.Name, []*upstream{u}, false, &a.opts, a.waitStarted, a.identity, a.relayed)
	a.byName[spec.Name] = u
	a.upstreams = withUpstream(a.upstreams, u)
	a.single[spec.Name] = v
	a.start(u)
	ups := a.upstreams
	a.mu.Unlock()
	a.merged.setSources(ups)
	a.opts.Logger.Info("upstream added", "upstream", spec.Name)
	return nil
}

// Replace restarts an upstream with a new spec. The new one is started first
// and given until its first connection attempt ends (or ctx does); then it
// takes the old one's place in the catalogs, the old one's calls in flight
// finish (until ctx ends), and the old one is closed. A call that reaches
// the old one after that goes to the new one. Clients see list_changed only
// if what they see changed.
func (a *Aggregator) Replace(ctx context.Context, spec UpstreamSpec) error {
	a.applying.Lock()
	defer a.applying.Unlock()
	a.mu.Lock()
	old := a.byName[spec.Name]
	err := a.checkSpec(spec, spec.Name)
	if err == nil && old == nil {
		err = fmt.Errorf("upstream %q: no such upstream", spec.Name)
	}
	if err != nil {
		a.mu.Unlock()
		return err
	}
	u := a.newUpstream(spec)
	u.asks = old.asks // subscriptions and log level carry over, restored when it connects
	a.start(u)
	a.mu.Unlock()
	if u.stop != nil {
		select {
		case <-u.firstDone:
		case <-ctx.Done():
		}
	}
	a.mu.Lock()
	a.byName[spec.Name] = u
	a.upstreams = withUpstream(a.upstreams, u)
	ups, v := a.upstreams, a.single[spec.Name]
	a.mu.Unlock()
	old.next.Store(u)
	a.merged.setSources(ups)
	v.setSources([]*upstream{u})
	a.retire(ctx, old)
	a.opts.Logger.Info("upstream restarted with its new config", "upstream", spec.Name)
	return nil
}

// Remove takes an upstream out of the catalogs (clients whose view changed
// get list_changed), lets its calls in flight finish (until ctx ends), and
// closes it. Sessions of its own endpoint are closed.
func (a *Aggregator) Remove(ctx context.Context, name string) error {
	a.applying.Lock()
	defer a.applying.Unlock()
	a.mu.Lock()
	old, ok := a.byName[name]
	if !ok {
		a.mu.Unlock()
		return fmt.Errorf("upstream %q: no such upstream", name)
	}
	delete(a.byName, name)
	v := a.single[name]
	delete(a.single, name)
	a.upstreams = slices.DeleteFunc(slices.Clone(a.upstreams), func(u *upstream) bool { return u == old })
	ups := a.upstreams
	a.mu.Unlock()
	a.merged.setSources(ups)
	a.retire(ctx, old)
	for ss := range v.server.Sessions() {
		ss.Close()
	}
	a.opts.Observer.UpstreamState(name, false)
	a.opts.Logger.Info("upstream removed", "upstream", name)
	return nil
}

// start runs u under the aggregator's run, if it runs. a.mu is held.
func (a *Aggregator) start(u *upstream) {
	if a.runCtx == nil {
		return
	}
	ctx, cancel := context.WithCancel(a.runCtx)
	u.stop = cancel
	a.running.Go(func() {
		defer close(u.done)
		u.run(ctx)
	})
}

// retire waits for u's calls in flight (until ctx ends), then stops it and
// waits for its connections to close.
func (a *Aggregator) retire(ctx context.Context, u *upstream) {
	if n := u.calls.close(ctx); n > 0 {
		u.log.Warn("stopping the upstream with calls still in flight", "calls", n, "err", ctx.Err())
	}
	if u.stop == nil {
		return // never started
	}
	u.stop()
	<-u.done
}

// withUpstream returns a sorted copy of ups with u in place of the upstream
// of its name, or added.
func withUpstream(ups []*upstream, u *upstream) []*upstream {
	out := slices.DeleteFunc(slices.Clone(ups), func(x *upstream) bool { return x.spec.Name == u.spec.Name })
	out = append(out, u)
	sortUpstreams(out)
	return out
}

// enter counts a request in flight to u and returns the upstream that takes
// it: u, or, once u was replaced and stopped taking requests, its
// replacement. The returned func ends the request.
func (u *upstream) enter() (*upstream, func(), error) {
	for {
		if u.calls.enter() {
			return u, u.calls.leave, nil
		}
		next := u.next.Load()
		if next == nil {
			return nil, nil, fault.Unavailable(u.spec.Name, "removed", errors.New("the upstream was removed from the config"))
		}
		u = next
	}
}

// drain counts requests in flight; close refuses new ones and waits for
// those in flight to end.
type drain struct {
	mu     sync.Mutex
	n      int
	closed bool
	idle   chan struct{} // closed when n drops to zero after close
}

func (d *drain) enter() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return false
	}
	d.n++
	return true
}

func (d *drain) leave() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.n--; d.n == 0 && d.idle != nil {
		close(d.idle)
		d.idle = nil
	}
}

// close refuses new requests and waits until those in flight end or ctx
// does; it returns how many were still in flight.
func (d *drain) close(ctx context.Context) int {
	d.mu.Lock()
	d.closed = true
	if d.n == 0 {
		d.mu.Unlock()
		return 0
	}
	idle := make(chan struct{})
	d.idle = idle
	d.mu.Unlock()
	select {
	case <-idle:
		return 0
	case <-ctx.Done():
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.n
	}
}
