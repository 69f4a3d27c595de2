package aggregator

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"
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

	mu   sync.Mutex
	done bool // set when the request has answered; later progress is dropped
}

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
	route := &progressRoute{ctx: ctx, ss: ss, token: token}
	u.progress.Store(id, route)
	out[progressTokenKey] = id
	return out, func() {
		u.progress.Delete(id)
		route.mu.Lock()
		route.done = true
		route.mu.Unlock()
	}
}

// relayProgress is the upstream client's progress handler. Progress for a
// token that is unknown or whose request already answered is dropped.
func (u *upstream) relayProgress(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
	id, _ := req.Params.ProgressToken.(string)
	v, ok := u.progress.Load(id)
	if !ok {
		return
	}
	route := v.(*progressRoute)
	route.mu.Lock()
	defer route.mu.Unlock()
	if route.done {
		return
	}
	p := *req.Params
	p.ProgressToken = route.token
	if err := route.ss.NotifyProgress(route.ctx, &p); err != nil {
		u.log.Debug("relaying progress failed", "err", err)
	}
}

// forward runs f on the connection for the downstream session, under the
// upstream's call timeout, with the call tracked as in flight (so that the
// upstream's requests back to the client can be attributed to it). The
// deadline becomes a TimeoutError; a lost upstream session (HTTP 404) closes
// the connection so that it is re-initialized.
func forward[R any](ctx context.Context, u *upstream, ss *mcp.ServerSession, method string, f func(context.Context, *mcp.ClientSession) (R, error)) (R, error) {
	var zero R
	c, err := u.connFor(ss)
	if err != nil {
		return zero, err
	}
	untrack := c.track(ctx, ss)
	defer untrack()
	cctx, cancel := context.WithTimeout(ctx, u.spec.CallTimeout)
	defer cancel()
	res, err := f(cctx, c.cs)
	if err == nil {
		return res, nil
	}
	if ctx.Err() == nil && errors.Is(cctx.Err(), context.DeadlineExceeded) {
		return zero, &TimeoutError{Upstream: u.spec.Name, Method: method, After: u.spec.CallTimeout.String()}
	}
	if errors.Is(err, mcp.ErrSessionMissing) {
		u.log.Warn("upstream lost our session; reconnecting", "method", method)
		c.close()
	}
	return zero, fmt.Errorf("upstream %q: %s: %w", u.spec.Name, method, err)
}

func (u *upstream) callTool(ctx context.Context, req *mcp.CallToolRequest, original string) (*mcp.CallToolResult, error) {
	meta, release := u.forwardMeta(ctx, req.Session, req.Params.Meta)
	defer release()
	params := &mcp.CallToolParams{Meta: meta, Name: original}
	if len(req.Params.Arguments) > 0 {
		params.Arguments = req.Params.Arguments
	}
	return forward(ctx, u, req.Session, "tools/call", func(ctx context.Context, cs *mcp.ClientSession) (*mcp.CallToolResult, error) {
		res, err := cs.CallTool(ctx, params)
		release() // before the result goes back: later progress is dropped
		return res, err
	})
}

func (u *upstream) getPrompt(ctx context.Context, req *mcp.GetPromptRequest, original string) (*mcp.GetPromptResult, error) {
	meta, release := u.forwardMeta(ctx, req.Session, req.Params.Meta)
	defer release()
	params := &mcp.GetPromptParams{Meta: meta, Name: original, Arguments: req.Params.Arguments}
	return forward(ctx, u, req.Session, "prompts/get", func(ctx context.Context, cs *mcp.ClientSession) (*mcp.GetPromptResult, error) {
		return cs.GetPrompt(ctx, params)
	})
}

func (u *upstream) readResource(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
	meta, release := u.forwardMeta(ctx, req.Session, req.Params.Meta)
	defer release()
	params := &mcp.ReadResourceParams{Meta: meta, URI: req.Params.URI}
	res, err := forward(ctx, u, req.Session, "resources/read", func(ctx context.Context, cs *mcp.ClientSession) (*mcp.ReadResourceResult, error) {
		return cs.ReadResource(ctx, params)
	})
	if err == nil {
		normalizeCache(&res.Cacheable)
	}
	return res, err
}

func (u *upstream) complete(ctx context.Context, ss *mcp.ServerSession, params *mcp.CompleteParams) (*mcp.CompleteResult, error) {
	return forward(ctx, u, ss, "completion/complete", func(ctx context.Context, cs *mcp.ClientSession) (*mcp.CompleteResult, error) {
		return cs.Complete(ctx, params)
	})
}

// subscribe subscribes the shared connection to uri for a downstream client.
// Subscriptions are counted, so the upstream sees one subscription per URI
// however many clients want it, and they are restored after a reconnect.
func (u *upstream) subscribe(ctx context.Context, uri string) error {
	u.mu.Lock()
	u.subs[uri]++
	first := u.subs[uri] == 1
	u.mu.Unlock()
	if !first {
		return nil
	}
	_, err := forward(ctx, u, nil, "resources/subscribe", func(ctx context.Context, cs *mcp.ClientSession) (struct{}, error) {
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
func (u *upstream) unsubscribe(ctx context.Context, uri string) error {
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
	_, err := forward(ctx, u, nil, "resources/unsubscribe", func(ctx context.Context, cs *mcp.ClientSession) (struct{}, error) {
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
	_, err := forward(ctx, u, ss, "logging/setLevel", func(ctx context.Context, cs *mcp.ClientSession) (struct{}, error) {
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
