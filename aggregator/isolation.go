package aggregator

import (
	"context"
	"fmt"
	"sync"

	"github.com/mcp-gateway/mcp-gateway/policy"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// isolated holds the sessions of an upstream with isolation "session": one per
// downstream session, made on first use and closed when either side ends or
// the upstream shuts down. Safe for concurrent use.
type isolated struct {
	dial func(ctx context.Context, owner *mcp.ServerSession) (*session, error)
	ctx  context.Context // the upstream's run context: sessions live under it
	wg   sync.WaitGroup  // watchers

	mu       sync.Mutex
	sessions map[*mcp.ServerSession]*pendingSession
}

// pendingSession is an isolated session being made or made.
type pendingSession struct {
	who   string // the identity it was made for ("" for none)
	ready chan struct{}
	s     *session
	err   error
}

func newIsolated(ctx context.Context, dial func(context.Context, *mcp.ServerSession) (*session, error)) *isolated {
	return &isolated{dial: dial, ctx: ctx, sessions: map[*mcp.ServerSession]*pendingSession{}}
}

// get returns ss's session, making it if it has none. The identity in ctx
// (see policy.NewContext), which the transport may pick credentials by, goes
// into the context the connection is made with; a session made for one
// identity is never lent to another.
func (i *isolated) get(ctx context.Context, ss *mcp.ServerSession) (*session, error) {
	id := policy.FromContext(ctx)
	who := ""
	if id != nil {
		who = id.Name
	}
	i.mu.Lock()
	p, ok := i.sessions[ss]
	if !ok {
		p = &pendingSession{who: who, ready: make(chan struct{})}
		i.sessions[ss] = p
	}
	i.mu.Unlock()
	if ok {
		if p.who != who {
			return nil, fmt.Errorf("isolated connection: made for identity %q, not %q", p.who, who)
		}
		<-p.ready // bounded by the init timeout
		return p.s, p.err
	}
	dctx := i.ctx
	if id != nil {
		dctx = policy.NewContext(dctx, id)
	}
	p.s, p.err = i.dial(dctx, ss)
	close(p.ready)
	if p.err != nil {
		i.drop(ss, p)
		return nil, fmt.Errorf("isolated connection: %w", p.err)
	}
	i.wg.Add(1)
	go i.watch(ss, p)
	return p.s, nil
}

// made returns ss's session if it has one ready, else nil.
func (i *isolated) made(ss *mcp.ServerSession) *session {
	i.mu.Lock()
	p, ok := i.sessions[ss]
	i.mu.Unlock()
	if !ok {
		return nil
	}
	select {
	case <-p.ready:
		return p.s
	default:
		return nil
	}
}

// watch closes an isolated session when its downstream session ends, the
// upstream session itself ends, or the upstream shuts down.
func (i *isolated) watch(ss *mcp.ServerSession, p *pendingSession) {
	defer i.wg.Done()
	downstream := make(chan struct{})
	go func() { ss.Wait(); close(downstream) }()
	upstream := make(chan struct{})
	go func() { p.s.cs.Wait(); close(upstream) }()
	select {
	case <-downstream:
	case <-upstream:
	case <-i.ctx.Done():
	}
	i.drop(ss, p)
	p.s.close()
	<-upstream
}

func (i *isolated) drop(ss *mcp.ServerSession, p *pendingSession) {
	i.mu.Lock()
	if i.sessions[ss] == p {
		delete(i.sessions, ss)
	}
	i.mu.Unlock()
}

// wait returns once every watcher has closed its session; the run context
// must be done.
func (i *isolated) wait() { i.wg.Wait() }
