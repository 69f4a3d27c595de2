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

// withTimeout runs f under the upstream's call timeout and turns the
// deadline into a TimeoutError.
func withTimeout[R any](ctx context.Context, u *upstream, method string, f func(context.Context, *mcp.ClientSession) (R, error)) (R, error) {
	var zero R
	cs, err := u.current()
	if err != nil {
		return zero, err
	}
	cctx, cancel := context.WithTimeout(ctx, u.spec.CallTimeout)
	defer cancel()
	res, err := f(cctx, cs)
	if err != nil && ctx.Err() == nil && errors.Is(cctx.Err(), context.DeadlineExceeded) {
		return zero, &TimeoutError{Upstream: u.spec.Name, Method: method, After: u.spec.CallTimeout.String()}
	}
	if err != nil {
		return zero, fmt.Errorf("upstream %q: %s: %w", u.spec.Name, method, err)
	}
	return res, nil
}

func (u *upstream) callTool(ctx context.Context, req *mcp.CallToolRequest, original string) (*mcp.CallToolResult, error) {
	meta, release := u.forwardMeta(ctx, req.Session, req.Params.Meta)
	defer release()
	params := &mcp.CallToolParams{Meta: meta, Name: original}
	if len(req.Params.Arguments) > 0 {
		params.Arguments = req.Params.Arguments
	}
	return withTimeout(ctx, u, "tools/call", func(ctx context.Context, cs *mcp.ClientSession) (*mcp.CallToolResult, error) {
		res, err := cs.CallTool(ctx, params)
		release() // before the result goes back: later progress is dropped
		return res, err
	})
}

func (u *upstream) getPrompt(ctx context.Context, req *mcp.GetPromptRequest, original string) (*mcp.GetPromptResult, error) {
	meta, release := u.forwardMeta(ctx, req.Session, req.Params.Meta)
	defer release()
	params := &mcp.GetPromptParams{Meta: meta, Name: original, Arguments: req.Params.Arguments}
	return withTimeout(ctx, u, "prompts/get", func(ctx context.Context, cs *mcp.ClientSession) (*mcp.GetPromptResult, error) {
		return cs.GetPrompt(ctx, params)
	})
}

func (u *upstream) readResource(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
	meta, release := u.forwardMeta(ctx, req.Session, req.Params.Meta)
	defer release()
	params := &mcp.ReadResourceParams{Meta: meta, URI: req.Params.URI}
	return withTimeout(ctx, u, "resources/read", func(ctx context.Context, cs *mcp.ClientSession) (*mcp.ReadResourceResult, error) {
		return cs.ReadResource(ctx, params)
	})
}

func (u *upstream) complete(ctx context.Context, params *mcp.CompleteParams) (*mcp.CompleteResult, error) {
	return withTimeout(ctx, u, "completion/complete", func(ctx context.Context, cs *mcp.ClientSession) (*mcp.CompleteResult, error) {
		return cs.Complete(ctx, params)
	})
}
