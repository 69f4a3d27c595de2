package aggregator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/sony/gobreaker/v2"
	"golang.org/x/time/rate"
)

// progressTokenKey is the _meta key of a request's progress token.
const progressTokenKey = "progressToken"

// progressRoute is where progress for one forwarded request goes. The
// downstream token is mapped to an upstream token unique on the upstream
// connection, so two callers that chose the same token never see each other's
// progress.
type progressRoute struct {
	ctx   context.Context // the downstream request's: it places the notification on that request's stream
	ss    *mcp.ServerSession
	token any // the downstream caller's token

	lim *rate.Limiter // progress relayed per second: a flood is thinned, not queued

	mu   sync.Mutex
	done bool // set when the request has answered; later progress is dropped
}

// Progress relayed per token: enough for any progress bar; the rest of a
// flood is dropped (each notification supersedes the one before it).
const (
	progressPerSecond = 20
	progressBurst     = 20
)

// forwardMeta returns the downstream _meta to send upstream: everything the
// caller sent except its progress token, which is replaced by a fresh one
// registered for relaying when the caller asked for progress. The returned
// func unregisters it; it must run before the result is returned, so no
// progress can follow the result.
func (u *upstream) forwardMeta(ctx context.Context, ss *mcp.ServerSession, meta mcp.Meta) (mcp.Meta, func()) {
	if len(meta) == 0 {
		return nil, func() {}
	}
	out := make(mcp.Meta, len(meta))
	for k, v := range meta {
		if k != progressTokenKey {
			out[k] = v
		}
	}
	token, ok := meta[progressTokenKey]
	if !ok || token == nil || ss == nil {
		return out, func() {}
	}
	id := "gw-" + strconv.FormatUint(u.progressSeq.Add(1), 36)
	route := &progressRoute{ctx: ctx, ss: ss, token: token, lim: rate.NewLimiter(progressPerSecond, progressBurst)}
	u.progress.Store(id, route)
	out[progressTokenKey] = id
	return out, func() { u.endProgress(id) }
}

// relayProgress relays one progress notification from the upstream. It runs
// in the upstream connection's read loop (see progressConn), so progress the
// upstream sent before its result is relayed before the result is even read;
// progress for a token that is unknown, or whose request already answered,
// is dropped.
func (u *upstream) relayProgress(params json.RawMessage) {
	var p mcp.ProgressNotificationParams
	if err := json.Unmarshal(params, &p); err != nil {
		return
	}
	u.relayProgressParams(&p)
}

// relayProgressParams relays decoded progress. Connections that cannot be
// read in wire order (see wireOrder) call it from the SDK's notification
// handler: there, progress sent just before a result can arrive after it
// and is dropped — never delivered late.
func (u *upstream) relayProgressParams(params *mcp.ProgressNotificationParams) {
	p := *params
	id, _ := p.ProgressToken.(string)
	v, ok := u.progress.Load(id)
	if !ok {
		return
	}
	route := v.(*progressRoute)
	route.mu.Lock()
	defer route.mu.Unlock()
	if route.done || !route.lim.Allow() {
		return
	}
	p.ProgressToken = route.token
	if err := route.ss.NotifyProgress(route.ctx, &p); err != nil {
		u.log.Debug("relaying progress failed", "err", err)
	}
}

// wireOrder reports whether a transport's connections can be wrapped to read
// progress in wire order. The SDK starts a streamable-HTTP client's event
// stream (where server-initiated notifications arrive) through an unexported
// method it finds by type assertion on the connection, which a wrapper would
// hide; the SSE transport is left alone for the same reason. Stdio and
// in-memory connections have no such method.
func wireOrder(t mcp.Transport) bool {
	switch t.(type) {
	case *mcp.StreamableClientTransport, *mcp.SSEClientTransport:
		return false
	}
	return true
}

// progressTransport wraps an upstream transport so that progress
// notifications are relayed in wire order. The SDK client hands a response to
// its caller straight from the read loop but queues notifications for another
// goroutine, so a handler could see progress only after the call returned,
// and the gateway would drop progress the upstream sent in time.
type progressTransport struct {
	mcp.Transport
	u *upstream
}

func (t *progressTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	c, err := t.Transport.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &progressConn{Connection: c, u: t.u}, nil
}

// progressConn relays progress as it is read, and ends a request's progress
// when its response is read: progress the upstream sends after its result
// (some servers do) is dropped, never delivered after the result.
type progressConn struct {
	mcp.Connection
	u       *upstream
	pending sync.Map // upstream request id → the gateway's progress token on it
}

func (c *progressConn) Write(ctx context.Context, msg jsonrpc.Message) error {
	if req, ok := msg.(*jsonrpc.Request); ok && req.ID.IsValid() && bytes.Contains(req.Params, []byte(`"gw-`)) {
		var p struct {
			Meta struct {
				ProgressToken string `json:"progressToken"`
			} `json:"_meta"`
		}
		if json.Unmarshal(req.Params, &p) == nil && p.Meta.ProgressToken != "" {
			c.pending.Store(req.ID.Raw(), p.Meta.ProgressToken)
		}
	}
	return c.Connection.Write(ctx, msg)
}

func (c *progressConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	msg, err := c.Connection.Read(ctx)
	if err != nil {
		return msg, err
	}
	switch m := msg.(type) {
	case *jsonrpc.Request:
		if m.Method == "notifications/progress" && !m.ID.IsValid() {
			c.u.relayProgress(m.Params)
		}
	case *jsonrpc.Response:
		if token, ok := c.pending.LoadAndDelete(m.ID.Raw()); ok {
			c.u.endProgress(token.(string))
		}
	}
	return msg, err
}

// endProgress stops relaying progress for the token.
func (u *upstream) endProgress(token string) {
	if v, ok := u.progress.LoadAndDelete(token); ok {
		route := v.(*progressRoute)
		route.mu.Lock()
		route.done = true
		route.mu.Unlock()
	}
}

// forward sends one request to the upstream for a downstream session, with
// everything that guards an upstream call: the call timeout (a fixed
// deadline: progress does not extend it, and on expiry the SDK sends the
// upstream notifications/cancelled), the concurrency cap, the circuit breaker,
// and — for idempotent requests only, and only when the request never got an
// answer — retries with backoff within the deadline.
func forward[R any](ctx context.Context, u *upstream, ss *mcp.ServerSession, method string, idempotent bool, f func(context.Context, *mcp.ClientSession) (R, error)) (R, error) {
	cctx, cancel := context.WithTimeout(ctx, u.spec.CallTimeout)
	defer cancel()
	release, err := u.acquire(cctx)
	if err != nil {
		var zero R
		return zero, err
	}
	defer release()
	for attempt := 0; ; attempt++ {
		res, err := forwardOnce(ctx, cctx, u, ss, method, f)
		if err == nil || !idempotent || !retryable(err) || attempt >= len(retryDelays) {
			return res, err
		}
		delay := retryDelays[attempt]
		if deadline, ok := cctx.Deadline(); ok && time.Until(deadline) < delay {
			return res, err
		}
		u.log.Debug("retrying idempotent request", "method", method, "attempt", attempt+2, "err", err)
		select {
		case <-cctx.Done():
			return res, err
		case <-time.After(delay):
		}
	}
}

// forwardOnce makes one attempt through the circuit breaker, with the call
// tracked as in flight on its connection (so that the upstream's requests
// back to the client can be attributed to it). A lost upstream session (HTTP
// 404) closes the connection so that it is re-initialized.
func forwardOnce[R any](ctx, cctx context.Context, u *upstream, ss *mcp.ServerSession, method string, f func(context.Context, *mcp.ClientSession) (R, error)) (R, error) {
	var res R
	cctx, span := startUpstreamSpan(cctx, u.spec.Name, method) // Tracing (issue 7): a client span per attempt
	run := func() (struct{}, error) {
		c, err := u.connFor(ss)
		if err != nil {
			return struct{}{}, err
		}
		untrack := c.track(ctx, ss)
		defer untrack()
		r, err := f(cctx, c.cs)
		switch {
		case err == nil:
			res = r
		case ctx.Err() != nil:
			err = fmt.Errorf("%w: %w", errCallerGone, ctx.Err())
		case errors.Is(cctx.Err(), context.DeadlineExceeded):
			err = &TimeoutError{Upstream: u.spec.Name, Method: method, After: u.spec.CallTimeout.String()}
		case isUpstreamAnswer(err):
		default:
			if errors.Is(err, mcp.ErrSessionMissing) {
				u.log.Warn("upstream lost our session; reconnecting", "method", method)
				c.close()
			}
			err = fmt.Errorf("upstream %q: %s: %w", u.spec.Name, method, err)
			if !c.failed.CompareAndSwap(false, true) {
				// A connection that fails takes every call in flight with
				// it: the breaker counts it once.
				err = fmt.Errorf("%w: %w", errCountedOnce, err)
			}
		}
		return struct{}{}, err
	}
	var err error
	if u.breaker == nil {
		_, err = run()
	} else if _, err = u.breaker.Execute(run); errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		err = &BreakerOpenError{Upstream: u.spec.Name}
	}
	endUpstreamSpan(span, res, err) // Tracing (issue 7)
	return res, err
}

// callTool forwards a tools/call. It is retried only if the upstream
// annotated the tool idempotentHint.
func (u *upstream) callTool(ctx context.Context, req *mcp.CallToolRequest, original string, idempotent bool) (*mcp.CallToolResult, error) {
	ctx = withUpstreamTarget(ctx, original) // Tracing (issue 7): the tool's name on the upstream span
	meta, release := u.forwardMeta(ctx, req.Session, req.Params.Meta)
	defer release()
	params := &mcp.CallToolParams{Meta: meta, Name: original}
	if len(req.Params.Arguments) > 0 {
		params.Arguments = req.Params.Arguments
	}
	return forward(ctx, u, req.Session, "tools/call", idempotent, func(ctx context.Context, cs *mcp.ClientSession) (*mcp.CallToolResult, error) {
		p := *params
		p.Meta = traceMeta(ctx, params.Meta) // Tracing (issue 7): the attempt's span context in _meta.traceparent
		res, err := cs.CallTool(ctx, &p)
		release() // before the result goes back: later progress is dropped
		return res, err
	})
}

func (u *upstream) getPrompt(ctx context.Context, req *mcp.GetPromptRequest, original string) (*mcp.GetPromptResult, error) {
	meta, release := u.forwardMeta(ctx, req.Session, req.Params.Meta)
	defer release()
	params := &mcp.GetPromptParams{Meta: meta, Name: original, Arguments: req.Params.Arguments}
	return forward(ctx, u, req.Session, "prompts/get", true, func(ctx context.Context, cs *mcp.ClientSession) (*mcp.GetPromptResult, error) {
		p := *params
		p.Meta = traceMeta(ctx, params.Meta) // Tracing (issue 7)
		return cs.GetPrompt(ctx, &p)
	})
}

func (u *upstream) readResource(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
	meta, release := u.forwardMeta(ctx, req.Session, req.Params.Meta)
	defer release()
	params := &mcp.ReadResourceParams{Meta: meta, URI: req.Params.URI}
	res, err := forward(ctx, u, req.Session, "resources/read", true, func(ctx context.Context, cs *mcp.ClientSession) (*mcp.ReadResourceResult, error) {
		p := *params
		p.Meta = traceMeta(ctx, params.Meta) // Tracing (issue 7)
		return cs.ReadResource(ctx, &p)
	})
	if err == nil {
		normalizeCache(&res.Cacheable)
	}
	return res, err
}

func (u *upstream) complete(ctx context.Context, ss *mcp.ServerSession, params *mcp.CompleteParams) (*mcp.CompleteResult, error) {
	return forward(ctx, u, ss, "completion/complete", true, func(ctx context.Context, cs *mcp.ClientSession) (*mcp.CompleteResult, error) {
		return cs.Complete(ctx, params)
	})
}

// subscribe subscribes the upstream to uri for a downstream client. With
// isolation "session" the client's own connection subscribes. On the shared
// connection subscriptions are counted, so the upstream sees one per URI
// however many clients want it, and they are restored after a reconnect.
func (u *upstream) subscribe(ctx context.Context, ss *mcp.ServerSession, uri string) error {
	if u.spec.Isolation == IsolationSession && ss != nil {
		_, err := forward(ctx, u, ss, "resources/subscribe", false, func(ctx context.Context, cs *mcp.ClientSession) (struct{}, error) {
			return struct{}{}, cs.Subscribe(ctx, &mcp.SubscribeParams{URI: uri})
		})
		return err
	}
	u.mu.Lock()
	u.subs[uri]++
	first := u.subs[uri] == 1
	u.mu.Unlock()
	if !first {
		return nil
	}
	_, err := forward(ctx, u, nil, "resources/subscribe", false, func(ctx context.Context, cs *mcp.ClientSession) (struct{}, error) {
		return struct{}{}, cs.Subscribe(ctx, &mcp.SubscribeParams{URI: uri})
	})
	if err != nil {
		u.mu.Lock()
		if u.subs[uri]--; u.subs[uri] <= 0 {
			delete(u.subs, uri)
		}
		u.mu.Unlock()
	}
	return err
}

// unsubscribe drops one downstream subscription, and the upstream's when it
// was the last.
func (u *upstream) unsubscribe(ctx context.Context, ss *mcp.ServerSession, uri string) error {
	if u.spec.Isolation == IsolationSession && ss != nil {
		_, err := forward(ctx, u, ss, "resources/unsubscribe", false, func(ctx context.Context, cs *mcp.ClientSession) (struct{}, error) {
			return struct{}{}, cs.Unsubscribe(ctx, &mcp.UnsubscribeParams{URI: uri})
		})
		return err
	}
	u.mu.Lock()
	n, ok := u.subs[uri]
	if ok {
		if n <= 1 {
			delete(u.subs, uri)
		} else {
			u.subs[uri] = n - 1
		}
	}
	u.mu.Unlock()
	if !ok || n > 1 {
		return nil
	}
	_, err := forward(ctx, u, nil, "resources/unsubscribe", false, func(ctx context.Context, cs *mcp.ClientSession) (struct{}, error) {
		return struct{}{}, cs.Unsubscribe(ctx, &mcp.UnsubscribeParams{URI: uri})
	})
	return err
}

// logLevels orders MCP log levels from most to least verbose.
var logLevels = map[mcp.LoggingLevel]int{"debug": 0, "info": 1, "notice": 2, "warning": 3, "error": 4, "critical": 5, "alert": 6, "emergency": 7}

// setLogLevel makes the upstream send log messages at least as verbose as a
// downstream client asked for. The upstream runs at the most verbose level
// any client asked for; each downstream session's own level (kept by the SDK)
// filters what that client receives.
func (u *upstream) setLogLevel(ctx context.Context, ss *mcp.ServerSession, level mcp.LoggingLevel) {
	rank, ok := logLevels[level]
	if !ok {
		return
	}
	u.mu.Lock()
	cur, set := logLevels[u.logLevel]
	raise := u.logLevel == "" || (set && rank < cur)
	if raise {
		u.logLevel = level
	}
	u.mu.Unlock()
	if !raise && u.spec.Isolation != IsolationSession {
		return
	}
	_, err := forward(ctx, u, ss, "logging/setLevel", false, func(ctx context.Context, cs *mcp.ClientSession) (struct{}, error) {
		if init := cs.InitializeResult(); init == nil || init.Capabilities == nil || init.Capabilities.Logging == nil {
			return struct{}{}, nil // the upstream does not log
		}
		return struct{}{}, cs.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: level})
	})
	if err != nil {
		u.log.Debug("setting upstream log level failed", "err", err)
	}
}

// normalizeCache fills the protocol default the SDK fills for results it
// builds itself: an absent cacheScope means "public", but the field is
// required on the wire.
func normalizeCache(c *mcp.Cacheable) {
	if c.CacheScope == "" {
		c.CacheScope = "public"
	}
}
