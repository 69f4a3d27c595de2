package aggregator

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcp-gateway/mcp-gateway/fault"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Isolation says how downstream sessions share an upstream.
type Isolation string

// Isolation modes.
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

// sentinelRoot is re-added to a session's client to make the SDK send
// notifications/roots/list_changed upstream; roots/list itself is answered by
// the downstream client, so the sentinel is never seen.
const sentinelRoot = "mcp-gateway:roots-changed"

// downstream is what an upstream's sessions need of the downstream side; the
// aggregator implements it over the views that include the upstream.
type downstream interface {
	// clients returns the downstream sessions that can see the upstream:
	// the only one if there is exactly one, and how many there are.
	clients(upstream string) (only *mcp.ServerSession, n int)
	// broadcastLog delivers a log message to every session that can see
	// the upstream.
	broadcastLog(upstream string, p *mcp.LoggingMessageParams)
	// resourceUpdated relays a resource update to subscribed sessions.
	resourceUpdated(upstream string, p *mcp.ResourceUpdatedNotificationParams)
}

// dialConfig is how an upstream makes sessions.
type dialConfig struct {
	upstream    string
	transport   func(context.Context) (mcp.Transport, error)
	initTimeout time.Duration
	impl        *mcp.Implementation
	// caps are what a shared session declares: nil means every capability
	// the gateway can bridge.
	caps          *mcp.ClientCapabilities
	log, sdkLog   *slog.Logger
	down          downstream
	progress      *progressRelay
	onListChanged func() // a shared session's upstream said a list changed
	noRelay       bool   // the relay lane is off
}

// session is one MCP session with an upstream, what it relays, and the
// downstream calls in flight on it: those decide where the upstream's
// requests back to the client go.
type session struct {
	upstream string
	log      *slog.Logger
	down     downstream
	cs       *mcp.ClientSession
	client   *mcp.Client
	owner    *mcp.ServerSession // the downstream session of an isolated connection; nil when shared
	cancel   context.CancelFunc // ends the session's context
	failed   atomic.Bool        // a call on it failed in transport: counted by the breaker once
	relay    *relayConn         // the relay lane on its connection; nil when it has none

	mu       sync.Mutex
	inflight map[*inflightCall]struct{}
}

// inflightCall is a downstream request being forwarded on a session.
type inflightCall struct {
	ctx context.Context // the downstream request's context: places messages on its stream
	ss  *mcp.ServerSession
}

// dial starts a transport and initializes a session; owner is the
// downstream session of an isolated connection, nil for the shared one. The
// context given to the transport lives as long as the session (the SSE
// transport ties its event stream to it); the init timeout cancels it only if
// initialization has not finished in time.
func dial(ctx context.Context, d *dialConfig, owner *mcp.ServerSession) (*session, error) {
	ctx, cancel := context.WithCancel(ctx)
	timer := time.AfterFunc(d.initTimeout, cancel)
	t, err := d.transport(ctx)
	if err != nil {
		timer.Stop()
		cancel()
		return nil, err
	}
	s := &session{upstream: d.upstream, log: d.log, down: d.down, owner: owner, cancel: cancel, inflight: map[*inflightCall]struct{}{}}
	t, inOrder := tapTransport(t, &wireTap{relay: d.progress})
	if tt, ok := t.(*tappedTransport); ok && !d.noRelay {
		// A connection that takes raw messages carries the relay lane too.
		tt.onConnect = func(c mcp.Connection) {
			if rc, ok := c.(rawConnection); ok {
				s.relay = newRelayConn(rc)
			}
		}
	}
	opts := s.clientOptions(d, owner)
	if !inOrder {
		opts.ProgressNotificationHandler = func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			d.progress.relay(req.Params)
		}
	}
	s.client = mcp.NewClient(d.impl, opts)
	s.client.AddReceivingMiddleware(s.rootsMiddleware())
	cs, err := s.client.Connect(ctx, t, &mcp.ClientSessionOptions{ProtocolVersion: upstreamProtocolVersion})
	if !timer.Stop() {
		// The init timeout fired: even a session that just made it is
		// cancelled, so report the timeout.
		if cs != nil {
			cs.Close()
		}
		cancel()
		return nil, fmt.Errorf("initialize: no answer within %s", d.initTimeout)
	}
	if err != nil {
		cancel()
		return nil, fmt.Errorf("initialize: %w", err)
	}
	s.cs = cs
	if s.relay != nil {
		go func() {
			_ = cs.Wait() // how it ended is the run loop's business
			s.relay.close()
		}()
	}
	return s, nil
}

// close ends the session (a stdio child is stopped) and its context.
func (s *session) close() {
	s.cs.Close()
	s.cancel()
	if s.relay != nil {
		s.relay.close()
	}
}

// track registers a downstream request as in flight until untrack is
// called with what it returns (nil for no session).
func (s *session) track(ctx context.Context, ss *mcp.ServerSession) *inflightCall {
	if ss == nil {
		return nil
	}
	call := &inflightCall{ctx: ctx, ss: ss}
	s.mu.Lock()
	s.inflight[call] = struct{}{}
	s.mu.Unlock()
	return call
}

// untrack ends what track began.
func (s *session) untrack(call *inflightCall) {
	if call == nil {
		return
	}
	s.mu.Lock()
	delete(s.inflight, call)
	s.mu.Unlock()
}

// target finds the downstream session a server-to-client request belongs to:
// the owner of an isolated session; else the one client with calls in flight
// on this session; else, with nothing in flight, the only client connected to
// a catalog that includes this upstream (the stdio case). The context
// returned places the request on the caller's stream when a call is in
// flight. Anything else is refused, saying why: a request is never sent to a
// client that did not cause it.
func (s *session) target(method string) (context.Context, *mcp.ServerSession, error) {
	s.mu.Lock()
	var ss *mcp.ServerSession
	var ctx context.Context
	clients := 0
	for call := range s.inflight {
		if call.ss != ss {
			clients++
			ss, ctx = call.ss, call.ctx
		}
	}
	s.mu.Unlock()
	switch {
	case s.owner != nil:
		if ss != s.owner {
			ctx = context.Background()
		}
		return ctx, s.owner, nil
	case clients == 1:
		return ctx, ss, nil
	case clients > 1:
		return nil, nil, fault.Ambiguous(method, s.upstream, clients)
	}
	only, n := s.down.clients(s.upstream)
	switch n {
	case 0:
		return nil, nil, fault.NoClient(method, s.upstream)
	case 1:
		return context.Background(), only, nil
	}
	return nil, nil, fault.NoCallInFlight(method, s.upstream, n)
}

// forwardToClient delivers a server-to-client request to the downstream
// session it belongs to, after checking that client declared the capability.
// The downstream request is cancelled if the upstream cancels its own. A
// refusal goes back to the upstream through fault's mapping.
func forwardToClient[R any](ctx context.Context, s *session, method string, has func(*mcp.ClientCapabilities) bool, send func(context.Context, *mcp.ServerSession) (R, error)) (R, error) {
	var zero R
	tctx, ss, err := s.target(method)
	if err == nil {
		if init := ss.InitializeParams(); init == nil || init.Capabilities == nil || !has(init.Capabilities) {
			err = fault.MissingCapability(method, s.upstream)
		}
	}
	if err != nil {
		s.log.Warn("refused a server-to-client request", "method", method, "err", err)
		return zero, fault.Wire(err)
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

// clientOptions returns the options of the mcp.Client for a session. A
// shared session declares the capabilities of the dial config (by default
// every one the gateway can bridge: each request is then checked against the
// client it is delivered to); an isolated one declares exactly what its
// downstream client declared.
func (s *session) clientOptions(d *dialConfig, owner *mcp.ServerSession) *mcp.ClientOptions {
	o := &mcp.ClientOptions{
		Logger:                d.sdkLog,
		LoggingMessageHandler: func(_ context.Context, req *mcp.LoggingMessageRequest) { s.relayLog(req.Params) },
		ResourceUpdatedHandler: func(_ context.Context, req *mcp.ResourceUpdatedNotificationRequest) {
			s.down.resourceUpdated(s.upstream, req.Params)
		},
	}
	if owner == nil && d.onListChanged != nil {
		// Only the shared session lists the upstream's features.
		o.ToolListChangedHandler = func(context.Context, *mcp.ToolListChangedRequest) { d.onListChanged() }
		o.PromptListChangedHandler = func(context.Context, *mcp.PromptListChangedRequest) { d.onListChanged() }
		o.ResourceListChangedHandler = func(context.Context, *mcp.ResourceListChangedRequest) { d.onListChanged() }
	}
	caps, sampling := d.caps, false
	switch {
	case owner != nil:
		caps = ownCapabilities(owner)
	case caps == nil:
		// Everything the gateway can bridge; sampling is declared by the SDK
		// from its handler (with tools).
		caps = &mcp.ClientCapabilities{
			RootsV2:     &mcp.RootCapabilities{ListChanged: true},
			Elicitation: &mcp.ElicitationCapabilities{Form: &mcp.FormElicitationCapabilities{}, URL: &mcp.URLElicitationCapabilities{}},
		}
		sampling = true
	}
	o.Capabilities = caps
	if sampling || caps.Sampling != nil {
		o.CreateMessageWithToolsHandler = func(ctx context.Context, req *mcp.CreateMessageWithToolsRequest) (*mcp.CreateMessageWithToolsResult, error) {
			return forwardToClient(ctx, s, "sampling/createMessage",
				func(cc *mcp.ClientCapabilities) bool { return cc.Sampling != nil },
				func(ctx context.Context, ss *mcp.ServerSession) (*mcp.CreateMessageWithToolsResult, error) {
					return ss.CreateMessageWithTools(ctx, req.Params)
				})
		}
	}
	if caps.Elicitation != nil {
		o.ElicitationHandler = func(ctx context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			return forwardToClient(ctx, s, "elicitation/create",
				func(cc *mcp.ClientCapabilities) bool { return cc.Elicitation != nil },
				func(ctx context.Context, ss *mcp.ServerSession) (*mcp.ElicitResult, error) {
					return ss.Elicit(ctx, req.Params)
				})
		}
	}
	return o
}

// ownCapabilities returns a copy of what the downstream client of an
// isolated session declared: the downstream's capabilities are not ours to
// change.
func ownCapabilities(owner *mcp.ServerSession) *mcp.ClientCapabilities {
	caps := &mcp.ClientCapabilities{}
	init := owner.InitializeParams()
	if init == nil || init.Capabilities == nil {
		return caps
	}
	if b, err := json.Marshal(init.Capabilities); err == nil {
		_ = json.Unmarshal(b, caps) // the round trip of a value that just marshalled
	}
	if init.Capabilities.RootsV2 != nil {
		caps.RootsV2 = &mcp.RootCapabilities{ListChanged: init.Capabilities.RootsV2.ListChanged}
	}
	return caps
}

// rootsChanged sends notifications/roots/list_changed upstream. Adding the
// sentinel root is how the SDK client sends it; roots/list itself is
// answered by the downstream client, so the sentinel is never seen.
func (s *session) rootsChanged() {
	s.client.AddRoots(&mcp.Root{URI: sentinelRoot, Name: "mcp-gateway"})
}

// rootsMiddleware answers an upstream's roots/list with the roots of the
// downstream client it belongs to.
func (s *session) rootsMiddleware() mcp.Middleware {
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			r, ok := req.(*mcp.ListRootsRequest)
			if !ok {
				return next(ctx, method, req)
			}
			return forwardToClient(ctx, s, "roots/list",
				func(cc *mcp.ClientCapabilities) bool { return cc.RootsV2 != nil },
				func(ctx context.Context, ss *mcp.ServerSession) (*mcp.ListRootsResult, error) {
					return ss.ListRoots(ctx, r.Params)
				})
		}
	}
}

// relayLog delivers an upstream's log message: to the session it can be
// attributed to, else (a shared session with several clients) to every
// session of a catalog that includes the upstream. Each session's own
// logging/setLevel filters what it receives.
func (s *session) relayLog(p *mcp.LoggingMessageParams) {
	params := *p
	if params.Logger == "" {
		params.Logger = s.upstream
	} else {
		params.Logger = s.upstream + "/" + params.Logger
	}
	if ctx, ss, err := s.target("notifications/message"); err == nil {
		if err := ss.Log(ctx, &params); err != nil {
			s.log.Debug("relaying log message failed", "err", err)
		}
		return
	}
	s.down.broadcastLog(s.upstream, &params)
}
