package aggregator

import (
	"context"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The requests an upstream forwards. Each goes through call (timeout, slot,
// breaker, retry); each request's _meta is the caller's, with the progress
// token mapped and the attempt's trace context added.

// callTool forwards a tools/call. It is retried only if the upstream
// annotated the tool idempotentHint.
func (u *upstream) callTool(ctx context.Context, req *mcp.CallToolRequest, original string, idempotent bool) (*mcp.CallToolResult, error) {
	u, leave, err := u.enter()
	if err != nil {
		return nil, err
	}
	defer leave()
	ctx = withUpstreamTarget(ctx, original)
	meta, release := u.progress.forwardMeta(ctx, req.Session, req.Params.Meta)
	defer release()
	params := &mcp.CallToolParams{Meta: meta, Name: original}
	if len(req.Params.Arguments) > 0 {
		params.Arguments = req.Params.Arguments
	}
	return call(ctx, u.guard, req.Session, "tools/call", idempotent, u.sessionFor, func(ctx context.Context, s *session) (*mcp.CallToolResult, error) {
		var res *mcp.CallToolResult
		var err error
		if sink := relaySinkOf(ctx); sink != nil {
			res, err = s.relayCallTool(ctx, sink, relayParams{Meta: traceMeta(ctx, params.Meta), Name: original, Arguments: req.Params.Arguments})
		} else {
			p := *params
			p.Meta = traceMeta(ctx, params.Meta)
			res, err = s.cs.CallTool(ctx, &p)
		}
		release() // before the result goes back: later progress is dropped
		return res, err
	})
}

func (u *upstream) getPrompt(ctx context.Context, req *mcp.GetPromptRequest, original string) (*mcp.GetPromptResult, error) {
	u, leave, err := u.enter()
	if err != nil {
		return nil, err
	}
	defer leave()
	meta, release := u.progress.forwardMeta(ctx, req.Session, req.Params.Meta)
	defer release()
	params := &mcp.GetPromptParams{Meta: meta, Name: original, Arguments: req.Params.Arguments}
	return call(ctx, u.guard, req.Session, "prompts/get", true, u.sessionFor, func(ctx context.Context, s *session) (*mcp.GetPromptResult, error) {
		p := *params
		p.Meta = traceMeta(ctx, params.Meta)
		return s.cs.GetPrompt(ctx, &p)
	})
}

func (u *upstream) readResource(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
	u, leave, err := u.enter()
	if err != nil {
		return nil, err
	}
	defer leave()
	meta, release := u.progress.forwardMeta(ctx, req.Session, req.Params.Meta)
	defer release()
	params := &mcp.ReadResourceParams{Meta: meta, URI: req.Params.URI}
	res, err := call(ctx, u.guard, req.Session, "resources/read", true, u.sessionFor, func(ctx context.Context, s *session) (*mcp.ReadResourceResult, error) {
		p := *params
		p.Meta = traceMeta(ctx, params.Meta)
		return s.cs.ReadResource(ctx, &p)
	})
	if err == nil {
		normalizeCache(&res.Cacheable)
	}
	return res, err
}

func (u *upstream) complete(ctx context.Context, ss *mcp.ServerSession, params *mcp.CompleteParams) (*mcp.CompleteResult, error) {
	u, leave, err := u.enter()
	if err != nil {
		return nil, err
	}
	defer leave()
	return call(ctx, u.guard, ss, "completion/complete", true, u.sessionFor, func(ctx context.Context, s *session) (*mcp.CompleteResult, error) {
		return s.cs.Complete(ctx, params)
	})
}

// subscribe subscribes the upstream to uri for a downstream client. With
// isolation "session" the client's own session subscribes. On the shared
// session subscriptions are counted, so the upstream sees one per URI however
// many clients want it, and they are restored after a reconnect.
func (u *upstream) subscribe(ctx context.Context, ss *mcp.ServerSession, uri string) error {
	return u.subscription(ctx, ss, "resources/subscribe", uri, u.asks.subscribe, func(ctx context.Context, s *session) error {
		return s.cs.Subscribe(ctx, &mcp.SubscribeParams{URI: uri})
	})
}

// unsubscribe drops one downstream subscription, and the upstream's when it
// was the last.
func (u *upstream) unsubscribe(ctx context.Context, ss *mcp.ServerSession, uri string) error {
	return u.subscription(ctx, ss, "resources/unsubscribe", uri, u.asks.unsubscribe, func(ctx context.Context, s *session) error {
		return s.cs.Unsubscribe(ctx, &mcp.UnsubscribeParams{URI: uri})
	})
}

// subscription is subscribe and unsubscribe: count tells whether the shared
// session must be told (the first subscription, the last unsubscription).
// A first subscription that fails is not counted.
func (u *upstream) subscription(ctx context.Context, ss *mcp.ServerSession, method, uri string, count func(string) bool, f func(context.Context, *session) error) error {
	u, leave, err := u.enter()
	if err != nil {
		return err
	}
	defer leave()
	send := func(ctx context.Context, s *session) (struct{}, error) { return struct{}{}, f(ctx, s) }
	if u.spec.Isolation == IsolationSession && ss != nil {
		_, err := call(ctx, u.guard, ss, method, false, u.sessionFor, send)
		return err
	}
	if !count(uri) {
		return nil
	}
	_, err = call(ctx, u.guard, nil, method, false, u.sessionFor, send)
	if err != nil && method == "resources/subscribe" {
		u.asks.unsubscribe(uri)
	}
	return err
}

// setLogLevel makes the upstream send log messages at least as verbose as a
// downstream client asked for. The upstream runs at the most verbose level
// any client asked for; each downstream session's own level (kept by the SDK)
// filters what that client receives.
func (u *upstream) setLogLevel(ctx context.Context, ss *mcp.ServerSession, level mcp.LoggingLevel) {
	if _, known := logLevels[level]; !known {
		return
	}
	if !u.asks.raiseLevel(level) && u.spec.Isolation != IsolationSession {
		return
	}
	_, err := call(ctx, u.guard, ss, "logging/setLevel", false, u.sessionFor, func(ctx context.Context, s *session) (struct{}, error) {
		if init := s.cs.InitializeResult(); init == nil || init.Capabilities == nil || init.Capabilities.Logging == nil {
			return struct{}{}, nil // the upstream does not log
		}
		return struct{}{}, s.cs.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: level})
	})
	if err != nil {
		u.log.Debug("setting upstream log level failed", "err", err)
	}
}

// rootsChanged tells the upstream session a downstream session uses that
// the client's roots changed.
func (u *upstream) rootsChanged(ss *mcp.ServerSession) {
	if s := u.sessionOf(ss); s != nil {
		s.rootsChanged()
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
