package aggregator

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Isolation says how downstream sessions share an upstream.
type Isolation string

// Isolation modes (SPEC §5).
const (
	// IsolationShared uses one upstream connection for every downstream
	// session. A server-to-client request on it is delivered only when it can
	// be attributed to exactly one downstream session.
	IsolationShared Isolation = "shared"
	// IsolationSession gives each downstream session its own upstream
	// connection (its own process, for stdio), created on first use and
	// closed when the downstream session ends.
	IsolationSession Isolation = "session"
)

// sentinelRoot is re-added to a connection's client to make the SDK send
// notifications/roots/list_changed upstream; roots/list itself is answered by
// the downstream client, so the sentinel is never seen.
const sentinelRoot = "mcp-gateway:roots-changed"

// conn is one MCP session with an upstream, and the downstream calls in
// flight on it.
type conn struct {
	up     *upstream
	cs     *mcp.ClientSession
	client *mcp.Client
	owner  *mcp.ServerSession // the downstream session of an isolated connection; nil when shared
	cancel context.CancelFunc // ends the connection's context
	failed atomic.Bool        // a call on it failed in transport: counted by the breaker once

	mu       sync.Mutex
	inflight map[*inflightCall]struct{}
}

// inflightCall is a downstream request being forwarded on a conn.
type inflightCall struct {
	ctx context.Context // the downstream request's context: places messages on its stream
	ss  *mcp.ServerSession
}

// track registers a downstream request as in flight until the returned func
// is called.
func (c *conn) track(ctx context.Context, ss *mcp.ServerSession) func() {
	if ss == nil {
		return func() {}
	}
	call := &inflightCall{ctx: ctx, ss: ss}
	c.mu.Lock()
	c.inflight[call] = struct{}{}
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		delete(c.inflight, call)
		c.mu.Unlock()
	}
}

// target finds the downstream session a server-to-client request belongs to:
// the owner of an isolated connection; else the one session with calls in
// flight on this connection; else, with nothing in flight, the only session
// connected to a catalog that includes this upstream (the stdio case). The
// context returned places the request on the caller's stream when a call is
// in flight. Anything else is ambiguous and refused: a request is never sent
// to a client that did not cause it.
func (c *conn) target(method string) (context.Context, *mcp.ServerSession, error) {
	c.mu.Lock()
	var ss *mcp.ServerSession
	var ctx context.Context
	sessions := 0
	for call := range c.inflight {
		if call.ss != ss {
			sessions++
			ss, ctx = call.ss, call.ctx
		}
	}
	c.mu.Unlock()
	switch {
	case c.owner != nil:
		if ss != c.owner {
			ctx = context.Background()
		}
		return ctx, c.owner, nil
	case sessions == 1:
		return ctx, ss, nil
	case sessions == 0:
		if only := c.up.hooks.soleSession(); only != nil {
			return context.Background(), only, nil
		}
		return nil, nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: fmt.Sprintf(
			"mcp-gateway: cannot deliver %s from upstream %q: no downstream request is in flight on its shared connection and several clients are connected; set \"isolation\": \"session\" for this upstream",
			method, c.up.spec.Name)}
	}
	return nil, nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: fmt.Sprintf(
		"mcp-gateway: cannot deliver %s from upstream %q: requests of %d clients are in flight on its shared connection, so the one that caused it is unknown; set \"isolation\": \"session\" for this upstream",
		method, c.up.spec.Name, sessions)}
}

// forwardToClient delivers a server-to-client request to the downstream
// session it belongs to, after checking that client declared the capability.
// The downstream request is cancelled if the upstream cancels its own.
func forwardToClient[R any](ctx context.Context, c *conn, method string, has func(*mcp.ClientCapabilities) bool, send func(context.Context, *mcp.ServerSession) (R, error)) (R, error) {
	var zero R
	tctx, ss, err := c.target(method)
	if err != nil {
		c.up.log.Warn("refused a server-to-client request", "method", method, "err", err)
		return zero, err
	}
	init := ss.InitializeParams()
	if init == nil || init.Capabilities == nil || !has(init.Capabilities) {
		// Not -32601: the SDK replaces that code's message with its own, and
		// this one says why.
		return zero, &jsonrpc.Error{Code: jsonrpc.CodeInvalidRequest, Message: fmt.Sprintf("mcp-gateway: the client did not declare the capability for %s", method)}
	}
	// The call the context came from may answer before this request does
	// (several calls of one session can be in flight): keep its values,
	// which place the message on that call's stream, but not its
	// cancellation; the upstream cancelling its request is what ends ours.
	dctx, cancel := context.WithCancel(context.WithoutCancel(tctx))
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	return send(dctx, ss)
}

// clientOptions returns the options of the mcp.Client for a connection. A
// shared connection declares every client capability the gateway can bridge
// (each request is then checked against the client it is delivered to); an
// isolated one declares exactly what its downstream client declared.
func (u *upstream) clientOptions(c *conn, owner *mcp.ServerSession) *mcp.ClientOptions {
	o := &mcp.ClientOptions{
		Logger:                     u.sdkLog,
		ToolListChangedHandler:     func(context.Context, *mcp.ToolListChangedRequest) { u.signalRefresh(c) },
		PromptListChangedHandler:   func(context.Context, *mcp.PromptListChangedRequest) { u.signalRefresh(c) },
		ResourceListChangedHandler: func(context.Context, *mcp.ResourceListChangedRequest) { u.signalRefresh(c) },
		LoggingMessageHandler: func(ctx context.Context, req *mcp.LoggingMessageRequest) {
			u.relayLog(c, req.Params)
		},
		ResourceUpdatedHandler: func(ctx context.Context, req *mcp.ResourceUpdatedNotificationRequest) {
			if u.hooks.resourceUpdated != nil {
				u.hooks.resourceUpdated(req.Params)
			}
		},
	}
	sampling := func(ctx context.Context, req *mcp.CreateMessageWithToolsRequest) (*mcp.CreateMessageWithToolsResult, error) {
		return forwardToClient(ctx, c, "sampling/createMessage",
			func(cc *mcp.ClientCapabilities) bool { return cc.Sampling != nil },
			func(ctx context.Context, ss *mcp.ServerSession) (*mcp.CreateMessageWithToolsResult, error) {
				return ss.CreateMessageWithTools(ctx, req.Params)
			})
	}
	elicit := func(ctx context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
		return forwardToClient(ctx, c, "elicitation/create",
			func(cc *mcp.ClientCapabilities) bool { return cc.Elicitation != nil },
			func(ctx context.Context, ss *mcp.ServerSession) (*mcp.ElicitResult, error) {
				return ss.Elicit(ctx, req.Params)
			})
	}
	if owner == nil {
		o.Capabilities = &mcp.ClientCapabilities{
			RootsV2:     &mcp.RootCapabilities{ListChanged: true},
			Elicitation: &mcp.ElicitationCapabilities{Form: &mcp.FormElicitationCapabilities{}, URL: &mcp.URLElicitationCapabilities{}},
		}
		o.CreateMessageWithToolsHandler = sampling
		o.ElicitationHandler = elicit
		return o
	}
	caps := &mcp.ClientCapabilities{}
	if init := owner.InitializeParams(); init != nil && init.Capabilities != nil {
		// A copy: the downstream's capabilities are not ours to change.
		if b, err := json.Marshal(init.Capabilities); err == nil {
			_ = json.Unmarshal(b, caps) // round-trip of a value that just marshalled
		}
		if init.Capabilities.RootsV2 != nil {
			caps.RootsV2 = &mcp.RootCapabilities{ListChanged: init.Capabilities.RootsV2.ListChanged}
		}
	}
	o.Capabilities = caps
	if caps.Sampling != nil {
		o.CreateMessageWithToolsHandler = sampling
	}
	if caps.Elicitation != nil {
		o.ElicitationHandler = elicit
	}
	return o
}

// rootsChanged sends notifications/roots/list_changed on the connection a
// downstream session uses: its own with isolation "session" (if it has one
// yet), else the shared one. Adding the sentinel root is how the SDK client
// sends the notification; roots/list itself is answered by the downstream
// client, so the sentinel is never seen.
func (u *upstream) rootsChanged(ss *mcp.ServerSession) {
	u.mu.Lock()
	c := u.shared
	if u.spec.Isolation == IsolationSession {
		c = nil
		if e, ok := u.sessionConns[ss]; ok {
			select {
			case <-e.ready:
				c = e.c
			default:
			}
		}
	}
	u.mu.Unlock()
	if c != nil {
		c.client.AddRoots(&mcp.Root{URI: sentinelRoot, Name: "mcp-gateway"})
	}
}

// rootsMiddleware answers an upstream's roots/list with the roots of the
// downstream client it belongs to.
func rootsMiddleware(c *conn) mcp.Middleware {
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			r, ok := req.(*mcp.ListRootsRequest)
			if !ok {
				return next(ctx, method, req)
			}
			return forwardToClient(ctx, c, "roots/list",
				func(cc *mcp.ClientCapabilities) bool { return cc.RootsV2 != nil },
				func(ctx context.Context, ss *mcp.ServerSession) (*mcp.ListRootsResult, error) {
					return ss.ListRoots(ctx, r.Params)
				})
		}
	}
}

// relayLog delivers an upstream's log message: to the session it can be
// attributed to, else (a shared connection with several clients) to every
// session of a catalog that includes the upstream. Each session's own
// logging/setLevel filters what it receives.
func (u *upstream) relayLog(c *conn, p *mcp.LoggingMessageParams) {
	params := *p
	if params.Logger == "" {
		params.Logger = u.spec.Name
	} else {
		params.Logger = u.spec.Name + "/" + params.Logger
	}
	if ctx, ss, err := c.target("notifications/message"); err == nil {
		if err := ss.Log(ctx, &params); err != nil {
			u.log.Debug("relaying log message failed", "err", err)
		}
		return
	}
	if u.hooks.broadcastLog != nil {
		u.hooks.broadcastLog(&params)
	}
}
