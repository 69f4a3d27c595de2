// Package sessions records the downstream sessions of the gateway's MCP
// servers where they are born and where they end: a receiving middleware on
// each server records a session when its initialize succeeds, and a session
// the SDK has ended (DELETE, idle expiry, a failed initialize, shutdown) is
// gone from the record as soon as the SDK has let go of it: what the record
// reports is checked against the server's own live sessions, and the entry
// is dropped when ss.Wait returns. Nothing is inferred from HTTP responses.
//
// It records sessions that have an id (streamable HTTP); a stdio session has
// none and is its process's only one. The package is a leaf: go-sdk and
// policy only.
package sessions

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcp-gateway/mcp-gateway/policy"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Info describes one open session.
type Info struct {
	ID string `json:"id"`
	// View is the catalog the session uses: "" for the merged one, else the
	// upstream's name.
	View     string    `json:"-"`
	Identity string    `json:"identity"` // the policy.Identity name it is bound to
	Agent    string    `json:"agent,omitempty"`
	Created  time.Time `json:"created"`
	LastSeen time.Time `json:"last_seen"`
	Protocol string    `json:"protocol_version,omitempty"`
}

// Book is the record of open sessions. Safe for concurrent use.
type Book struct {
	mu       sync.RWMutex           // read-locked on every request (touch)
	servers  map[string]*mcp.Server // by view
	sessions map[string]*entry
}

type entry struct {
	info     Info // LastSeen is lastSeen's
	lastSeen atomic.Int64
	ss       *mcp.ServerSession
}

// snapshot is e's Info with its LastSeen.
func (e *entry) snapshot() Info {
	info := e.info
	info.LastSeen = time.Unix(0, e.lastSeen.Load())
	return info
}

// New returns an empty Book.
func New() *Book {
	return &Book{servers: map[string]*mcp.Server{}, sessions: map[string]*entry{}}
}

// Track records the sessions of srv, which serves view: it adds the Book's
// receiving middleware to srv. Call it once per server, before serving.
func (b *Book) Track(view string, srv *mcp.Server) {
	b.mu.Lock()
	b.servers[view] = srv
	b.mu.Unlock()
	srv.AddReceivingMiddleware(b.Middleware(view))
}

// Middleware is the receiving middleware Track adds to the server of view,
// for a chain that serves its requests without the server (the relay lane).
func (b *Book) Middleware(view string) mcp.Middleware {
	return b.middleware(view)
}

func (b *Book) middleware(view string) mcp.Middleware {
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			ss, _ := req.GetSession().(*mcp.ServerSession)
			if ss == nil || ss.ID() == "" {
				return next(ctx, method, req)
			}
			if method != "initialize" {
				b.touch(ss.ID())
				return next(ctx, method, req)
			}
			res, err := next(ctx, method, req)
			if ir, ok := res.(*mcp.InitializeResult); ok && err == nil {
				// Recorded before the SDK writes the result, so the client's
				// next request finds the session bound.
				b.open(ss, view, identityOf(req), ir.ProtocolVersion)
			}
			return res, err
		}
	}
}

// identityOf is the identity the front door attached to req, if any.
func identityOf(req mcp.Request) *policy.Identity {
	if extra := req.GetExtra(); extra != nil {
		return policy.FromTokenInfo(extra.TokenInfo)
	}
	return nil
}

func (b *Book) open(ss *mcp.ServerSession, view string, id *policy.Identity, protocol string) {
	now := time.Now()
	e := &entry{ss: ss, info: Info{ID: ss.ID(), View: view, Created: now, Protocol: protocol}}
	e.lastSeen.Store(now.UnixNano())
	if id != nil {
		e.info.Identity, e.info.Agent = id.Name, id.Agent
	}
	b.mu.Lock()
	prev, again := b.sessions[e.info.ID]
	if again && prev.ss == ss {
		b.mu.Unlock()
		return // a second initialize on one session: still one session
	}
	b.sessions[e.info.ID] = e
	b.mu.Unlock()
	go func() {
		_ = ss.Wait() // how it ended does not matter here
		b.mu.Lock()
		if b.sessions[e.info.ID] == e {
			delete(b.sessions, e.info.ID)
		}
		b.mu.Unlock()
	}()
}

func (b *Book) touch(sid string) {
	b.mu.RLock()
	e := b.sessions[sid]
	b.mu.RUnlock()
	if e != nil {
		e.lastSeen.Store(time.Now().UnixNano())
	}
}

// prune drops the sessions their server no longer serves. The SDK removes a
// session from its server before the session's end is reported anywhere (a
// DELETE's 204, ss.Wait), so after prune the record is exact. b.mu must be
// held: a session being recorded concurrently is already its server's.
func (b *Book) prune() {
	live := map[*mcp.ServerSession]bool{}
	for _, srv := range b.servers {
		for ss := range srv.Sessions() {
			live[ss] = true
		}
	}
	for sid, e := range b.sessions {
		if !live[e.ss] {
			delete(b.sessions, sid)
		}
	}
}

// Session returns the identity name session sid is bound to and the protocol
// version it negotiated; ok is false if no such session is open. (It does
// not prune, so that it costs one lookup: a session that just ended may
// still be found, and the SDK then answers 404 for it.)
func (b *Book) Session(sid string) (identity, protocol string, ok bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	e, ok := b.sessions[sid]
	if !ok {
		return "", "", false
	}
	return e.info.Identity, e.info.Protocol, true
}

// List returns the open sessions, sorted by creation, then id.
func (b *Book) List() []Info {
	b.mu.Lock()
	b.prune()
	out := make([]Info, 0, len(b.sessions))
	for _, e := range b.sessions {
		out = append(out, e.snapshot())
	}
	b.mu.Unlock()
	slices.SortFunc(out, func(a, b Info) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// Counts returns the number of open sessions of each view that has any.
func (b *Book) Counts() map[string]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.prune()
	out := map[string]int{}
	for _, e := range b.sessions {
		out[e.info.View]++
	}
	return out
}
