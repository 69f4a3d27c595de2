package aggregator

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"golang.org/x/time/rate"
)

// progressTokenKey is the _meta key of a request's progress token.
const progressTokenKey = "progressToken"

// Progress relayed per token: enough for any progress bar; the rest of a
// flood is dropped (each notification supersedes the one before it).
const (
	progressPerSecond = 20
	progressBurst     = 20
)

// progressTokenPrefix starts every progress token the gateway sends
// upstream, so a message can be told to carry one without decoding it.
const progressTokenPrefix = "gw-"

// progressRelay maps the progress tokens of forwarded requests and relays
// an upstream's progress notifications to the downstream caller. The
// downstream token is replaced by one unique among the upstream's
// connections, so two callers that chose the same token never see each
// other's progress. Safe for concurrent use.
type progressRelay struct {
	log    *slog.Logger
	seq    atomic.Uint64
	routes sync.Map // upstream-side token (string) → *progressRoute
}

// progressRoute is where progress for one forwarded request goes.
type progressRoute struct {
	ctx   context.Context // the downstream request's: it places the notification on that request's stream
	ss    *mcp.ServerSession
	token any // the downstream caller's token

	lim *rate.Limiter // progress relayed per second: a flood is thinned, not queued

	mu   sync.Mutex
	done bool // set when the request has answered; later progress is dropped
}

// forwardMeta returns the downstream _meta to send upstream: everything the
// caller sent except its progress token, which is replaced by a fresh one
// registered for relaying when the caller asked for progress. The returned
// func unregisters it; it must run before the result is returned, so no
// progress can follow the result.
func (p *progressRelay) forwardMeta(ctx context.Context, ss *mcp.ServerSession, meta mcp.Meta) (mcp.Meta, func()) {
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
	id := progressTokenPrefix + strconv.FormatUint(p.seq.Add(1), 36)
	route := &progressRoute{ctx: ctx, ss: ss, token: token, lim: rate.NewLimiter(progressPerSecond, progressBurst)}
	p.routes.Store(id, route)
	out[progressTokenKey] = id
	return out, func() { p.end(id) }
}

// relay relays one decoded progress notification from the upstream.
// Progress for a token that is unknown, or whose request already answered,
// is dropped.
func (p *progressRelay) relay(params *mcp.ProgressNotificationParams) {
	n := *params
	id, _ := n.ProgressToken.(string)
	v, ok := p.routes.Load(id)
	if !ok {
		return
	}
	route := v.(*progressRoute)
	route.mu.Lock()
	defer route.mu.Unlock()
	if route.done || !route.lim.Allow() {
		return
	}
	n.ProgressToken = route.token
	if err := route.ss.NotifyProgress(route.ctx, &n); err != nil {
		p.log.Debug("relaying progress failed", "err", err)
	}
}

// end stops relaying progress for the upstream-side token.
func (p *progressRelay) end(token string) {
	if v, ok := p.routes.LoadAndDelete(token); ok {
		route := v.(*progressRoute)
		route.mu.Lock()
		route.done = true
		route.mu.Unlock()
	}
}

// wireTap follows one upstream connection's messages in the order they
// cross the wire, to relay progress in that order: go-sdk's client hands a
// response to its caller straight from the read loop but queues
// notifications for another goroutine, so a notification handler would see
// progress only after the call returned, and the gateway would drop progress
// the upstream sent in time. The tap relays progress as it is read, and ends
// a request's progress when its response is read: progress an upstream sends
// after its result (some servers do) is dropped, never delivered after the
// result. A tap belongs to one connection; its methods are called in wire
// order for each direction.
type wireTap struct {
	relay    *progressRelay
	pending  sync.Map     // upstream request id (its raw value) → the gateway's progress token on it
	npending atomic.Int64 // entries in pending
}

// sent sees a message the gateway sends the upstream.
func (t *wireTap) sent(msg jsonrpc.Message) {
	req, ok := msg.(*jsonrpc.Request)
	if !ok || !req.ID.IsValid() || !bytes.Contains(req.Params, []byte(`"`+progressTokenPrefix)) {
		return
	}
	var p struct {
		Meta struct {
			ProgressToken string `json:"progressToken"`
		} `json:"_meta"`
	}
	if json.Unmarshal(req.Params, &p) == nil && p.Meta.ProgressToken != "" {
		if _, loaded := t.pending.Swap(req.ID.Raw(), p.Meta.ProgressToken); !loaded {
			t.npending.Add(1)
		}
	}
}

// read sees a message read from the upstream, before the SDK handles it.
func (t *wireTap) read(msg jsonrpc.Message) {
	switch m := msg.(type) {
	case *jsonrpc.Request:
		if m.Method == "notifications/progress" && !m.ID.IsValid() {
			var p mcp.ProgressNotificationParams
			if json.Unmarshal(m.Params, &p) == nil {
				t.relay.relay(&p)
			}
		}
	case *jsonrpc.Response:
		if token, ok := t.pending.LoadAndDelete(m.ID.Raw()); ok {
			t.npending.Add(-1)
			t.relay.end(token.(string))
		}
	}
}

// readBytes sees one encoded message read from the upstream (an HTTP
// upstream's SSE event or JSON body), before the SDK reads it. Only messages
// that can concern progress are decoded: progress notifications, and
// responses while a request that carries a progress token is in flight.
func (t *wireTap) readBytes(data []byte) {
	if t.npending.Load() == 0 && !bytes.Contains(data, []byte(`"notifications/progress"`)) {
		return
	}
	if msg, err := jsonrpc.DecodeMessage(data); err == nil {
		t.read(msg)
	}
}

// sentBytes sees one encoded message (an HTTP request body) the gateway
// sends the upstream.
func (t *wireTap) sentBytes(data []byte) {
	if !bytes.Contains(data, []byte(`"`+progressTokenPrefix)) {
		return
	}
	if msg, err := jsonrpc.DecodeMessage(data); err == nil {
		t.sent(msg)
	}
}

// tappedTransport wraps a transport whose connections can be wrapped (stdio,
// in-memory) so that the tap sees every message.
type tappedTransport struct {
	mcp.Transport
	tap       *wireTap
	onConnect func(mcp.Connection) // sees the connection made; nil: nothing does
}

func (t *tappedTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	c, err := t.Transport.Connect(ctx)
	if err != nil {
		return nil, err
	}
	if t.onConnect != nil {
		t.onConnect(c)
	}
	return &tappedConn{Connection: c, tap: t.tap}, nil
}

type tappedConn struct {
	mcp.Connection
	tap *wireTap
}

func (c *tappedConn) Write(ctx context.Context, msg jsonrpc.Message) error {
	c.tap.sent(msg)
	return c.Connection.Write(ctx, msg)
}

func (c *tappedConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	msg, err := c.Connection.Read(ctx)
	if err == nil {
		c.tap.read(msg)
	}
	return msg, err
}

// ByteTapper is implemented by transports that can show the gateway every
// message they carry as bytes, in wire order, without wrapping their
// connections: HTTP transports, whose connections go-sdk inspects by type
// assertion (a wrapper would hide the method that opens the event stream).
// Tapped returns a transport like this one whose connections call sent with
// each request body and read with each message read (an SSE event's data
// or a JSON response body), before go-sdk reads it.
type ByteTapper interface {
	Tapped(sent, read func(data []byte)) mcp.Transport
}

// tapTransport returns t with the tap attached: by wrapping its
// connections, by the transport's own ByteTapper, or — for a transport that
// offers neither (an SDK HTTP transport built directly) — not at all, in
// which case progress goes through the SDK's notification handler and
// wireOrder reports false.
func tapTransport(t mcp.Transport, tap *wireTap) (mcp.Transport, bool) {
	switch tt := t.(type) {
	case ByteTapper:
		return tt.Tapped(tap.sentBytes, tap.readBytes), true
	case *mcp.StreamableClientTransport, *mcp.SSEClientTransport:
		return t, false
	}
	return &tappedTransport{Transport: t, tap: tap}, true
}
