package aggregator

// The relay lane. A tools/call of an established HTTP session whose answer
// can only be the upstream's result (or an error) is served from bytes: the
// envelope is read without decoding the arguments, the request runs through
// the very handler chain the SDK lane runs it through (tracing, the session
// record, the view's dispatch: policy, catalog, rate of use, audit, metrics,
// spans), and only the last step differs — the upstream call writes the
// request as bytes on the upstream connection (timeout, slot, breaker and
// retry as always, in call) and hands the upstream's result bytes back,
// which reach the client with only the id restored.
//
// What the lane cannot serve exactly as the SDK lane would, it declines
// before doing anything, and the request goes on to go-sdk:
//   - anything but one plain tools/call request: a batch, a notification,
//     an id that go-sdk would write back differently, a params member other
//     than name, arguments and _meta, a name with escapes;
//   - a progress token: progress is placed on the request's own stream;
//   - a session that is not yet initialized, that set a log level (the
//     upstream's log messages during the call go on the call's stream), or
//     whose client declared sampling, elicitation or roots that the
//     gateway's upstream sessions declare too (the upstream may ask during
//     the call, and that request goes on the call's stream);
//   - a session whose last request through go-sdk is older than the keep-
//     alive the front door gives (go-sdk's idle timer is reset only by the
//     requests it serves);
//   - a tool the catalog does not route (unknown, withheld, a meta-tool,
//     one still starting up): the SDK lane's answers for those are its own;
//   - an upstream with isolation "session", or whose connection takes no
//     raw messages (HTTP and SSE upstreams), or that is down.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcp-gateway/mcp-gateway/envelope"
	"github.com/mcp-gateway/mcp-gateway/policy"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/trace"
)

// RelayRequest is one POST body the HTTP front door offers the relay lane.
type RelayRequest struct {
	// View is the catalog the endpoint serves: "" for /mcp, else the
	// upstream's name.
	View string
	// Session is the request's Mcp-Session-Id.
	Session string
	// Identity is who the request runs as; nil means Options.Local.
	Identity *policy.Identity
	// Header is the HTTP request's header as go-sdk would see it.
	Header http.Header
	// Body is the request body (checked valid JSON by the front door).
	Body []byte
	// KeepAlive, if set, makes the lane decline a session whose last request
	// through go-sdk is older than this, so that go-sdk's idle timer, which
	// only the requests it serves reset, never ends a session in use.
	KeepAlive time.Duration
}

// Relay serves req on the relay lane and returns the JSON-RPC response to
// write, or reports false — having done nothing — when the request must take
// the SDK lane.
func (a *Aggregator) Relay(ctx context.Context, req *RelayRequest) ([]byte, bool) {
	if a.opts.NoRelay {
		return nil, false
	}
	c, ok := readRelayCall(req.Body)
	if !ok {
		return nil, false
	}
	v := a.merged
	if req.View != "" {
		a.mu.RLock()
		v = a.single[req.View]
		a.mu.RUnlock()
		if v == nil {
			return nil, false
		}
	}
	f := a.relayed.lookup(req.Session)
	if f == nil || f.view != req.View || !f.initialized.Load() || f.logging.Load() ||
		(req.KeepAlive > 0 && time.Since(time.Unix(0, f.sdkSeen.Load())) > req.KeepAlive) ||
		a.mayAskClient(f.ss) {
		return nil, false
	}
	route, ok := v.cat.Load().toolRoutes[c.name]
	if !ok || c.name == MetaSearch || c.name == MetaDescribe || c.name == MetaCall ||
		route.up.spec.Isolation == IsolationSession {
		return nil, false
	}
	if s, err := route.up.current(); err != nil || s.relay == nil {
		return nil, false
	}
	var meta mcp.Meta
	if c.meta != nil && json.Unmarshal(c.meta, &meta) != nil {
		return nil, false
	}
	// The SDK lane's handlers run in a context with no span of the HTTP
	// request's (they find it through the header): so do these.
	if trace.SpanContextFromContext(ctx).IsValid() {
		ctx = trace.ContextWithSpan(ctx, trace.SpanFromContext(context.Background()))
	}
	rc := &relayedCall{Context: ctx}
	rc.params = mcp.CallToolParamsRaw{Meta: meta, Name: c.name, Arguments: c.args}
	rc.extra.Header = req.Header
	if req.Identity != nil {
		rc.extra.TokenInfo = req.Identity.TokenInfo()
	}
	rc.req = mcp.CallToolRequest{Session: f.ss, Params: &rc.params, Extra: &rc.extra}
	res, err := v.relayHandler(rc, "tools/call", &rc.req)
	sink := &rc.sink
	return encodeRelayResponse(c.id, sink, res, err), true
}

// mayAskClient reports whether an upstream may send the session's client a
// request during a call: the client declared sampling, elicitation or roots,
// and the gateway's shared upstream sessions declare it too.
func (a *Aggregator) mayAskClient(ss *mcp.ServerSession) bool {
	init := ss.InitializeParams()
	if init == nil || init.Capabilities == nil {
		return false
	}
	cc, gw := init.Capabilities, a.opts.ClientCapabilities
	if gw == nil {
		return cc.Sampling != nil || cc.Elicitation != nil || cc.RootsV2 != nil
	}
	return cc.Sampling != nil && gw.Sampling != nil || cc.Elicitation != nil && gw.Elicitation != nil ||
		cc.RootsV2 != nil && gw.RootsV2 != nil
}

// relayCall is what the lane reads of a tools/call request.
type relayCall struct {
	id   []byte // as sent, which is as go-sdk would write it back
	name string
	args json.RawMessage // nil when absent
	meta []byte          // the raw _meta object; nil when absent
}

// readRelayCall reads a tools/call request the lane can serve.
func readRelayCall(body []byte) (relayCall, bool) {
	var c relayCall
	m, ok := envelope.Read(body)
	if !ok || string(m.Version) != `"2.0"` || string(m.Method) != `"tools/call"` || m.Params == nil ||
		m.Result != nil || m.Error != nil || !plainID(m.ID) {
		return c, false
	}
	c.id = m.ID
	named := false
	ok = envelope.Members(m.Params, func(key, value []byte) bool {
		switch string(key) {
		case "name":
			if named {
				return false
			}
			c.name, named = envelope.String(value)
			return named
		case "arguments":
			if c.args != nil || string(value) == "null" {
				return false
			}
			c.args = value
		case "_meta":
			if c.meta != nil || len(value) == 0 || value[0] != '{' || bytes.Contains(value, []byte(`"`+progressTokenKey+`"`)) {
				return false
			}
			c.meta = value
		default:
			return false
		}
		return true
	})
	return c, ok && named
}

// plainID reports whether id is one go-sdk writes back as the same bytes: a
// short integer, or a string of printable ASCII without escapes.
func plainID(id []byte) bool {
	if envelope.IsInteger(id) {
		return true
	}
	s, ok := envelope.String(id)
	if !ok {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// relaySink carries a relayed call's result bytes from the upstream call
// back to Relay.
type relaySink struct {
	result []byte
}

type relaySinkKey struct{}

// relayedCall is one relayed request in one allocation: the request the
// handlers see, and the context that carries its sink to the upstream call.
type relayedCall struct {
	context.Context
	req    mcp.CallToolRequest
	params mcp.CallToolParamsRaw
	extra  mcp.RequestExtra
	sink   relaySink
}

func (c *relayedCall) Value(key any) any {
	if key == (relaySinkKey{}) {
		return &c.sink
	}
	return c.Context.Value(key)
}

// relaySinkOf returns the sink of a relayed call, or nil on the SDK lane.
func relaySinkOf(ctx context.Context) *relaySink {
	s, _ := ctx.Value(relaySinkKey{}).(*relaySink)
	return s
}

// encodeRelayResponse writes the response to the client's request id: the
// upstream's result bytes as they came, else what go-sdk would write for
// the result or error the handlers returned.
func encodeRelayResponse(id []byte, sink *relaySink, res mcp.Result, err error) []byte {
	if err == nil && sink.result != nil {
		b := make([]byte, 0, len(id)+len(sink.result)+32)
		b = append(append(b, `{"jsonrpc":"2.0","id":`...), id...)
		b = append(append(b, `,"result":`...), sink.result...)
		return append(b, '}')
	}
	resp := &jsonrpc.Response{ID: relayID(id)}
	if err != nil {
		resp.Error = wireError(err)
	} else if resp.Result, err = json.Marshal(res); err != nil {
		resp.Result, resp.Error = nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: err.Error()}
	}
	b, err := jsonrpc.EncodeMessage(resp)
	if err != nil { // an error's fields and a raw result that marshalled do encode
		return fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%s,"error":{"code":%d,"message":"encoding the response failed"}}`, id, jsonrpc.CodeInternalError)
	}
	return b
}

// relayID is a plain id as go-sdk holds it.
func relayID(id []byte) jsonrpc.ID {
	if s, ok := envelope.String(id); ok {
		v, _ := jsonrpc.MakeID(s)
		return v
	}
	n, _ := strconv.ParseInt(string(id), 10, 64)
	v, _ := jsonrpc.MakeID(float64(n))
	return v
}

// wireError is the JSON-RPC error go-sdk writes for a handler's error.
func wireError(err error) *jsonrpc.Error {
	if e, ok := err.(*jsonrpc.Error); ok {
		return e
	}
	out := &jsonrpc.Error{Message: err.Error()}
	var wrapped *jsonrpc.Error
	if errors.As(err, &wrapped) {
		out.Code = wrapped.Code
	}
	return out
}

// relayParams are a relayed tools/call's params as the SDK lane would send
// them (name mapped, _meta with the attempt's trace context), the
// arguments as the caller sent them.
type relayParams struct {
	Meta      mcp.Meta
	Name      string
	Arguments json.RawMessage
}

// appendJSONString appends s as a JSON string, as encoding/json writes it.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string marshals
			return append(b, q...)
		}
	}
	return append(append(append(b, '"'), s...), '"')
}

// relayCallTool is the relay lane's tools/call on an upstream session: the
// request goes out as bytes with the caller's arguments as they came, and
// the result's bytes go to the sink.
func (s *session) relayCallTool(ctx context.Context, sink *relaySink, p relayParams) (*mcp.CallToolResult, error) {
	if s.relay == nil {
		// This connection has no lane (the upstream reconnected another
		// way): go-sdk makes the call, and its result is encoded as go-sdk
		// would.
		params := &mcp.CallToolParams{Meta: p.Meta, Name: p.Name}
		if len(p.Arguments) > 0 {
			params.Arguments = p.Arguments
		}
		res, err := s.cs.CallTool(ctx, params)
		if err == nil {
			sink.result, err = json.Marshal(res)
		}
		return res, err
	}
	var meta []byte
	if len(p.Meta) > 0 {
		var err error
		if meta, err = json.Marshal(p.Meta); err != nil {
			return nil, err
		}
	}
	args := p.Arguments
	if bytes.ContainsAny(args, "\r\n") {
		// One message a line: a client's pretty-printed arguments are
		// compacted (newlines in JSON strings are escapes, never raw).
		var buf bytes.Buffer
		if err := json.Compact(&buf, args); err != nil {
			return nil, err
		}
		args = buf.Bytes()
	}
	msg, err := s.relay.call(ctx, func(b, id []byte) []byte {
		b = append(append(b, `{"jsonrpc":"2.0","id":`...), id...)
		b = append(b, `,"method":"tools/call","params":{`...)
		if meta != nil {
			b = append(append(append(b, `"_meta":`...), meta...), ',')
		}
		b = appendJSONString(append(b, `"name":`...), p.Name)
		if len(args) > 0 {
			b = append(append(b, `,"arguments":`...), args...)
		}
		return append(b, "}}"...)
	})
	if err != nil {
		return nil, err
	}
	m, ok := envelope.Read(msg)
	switch {
	case ok && m.Error != nil:
		rpcErr := &jsonrpc.Error{}
		if err := json.Unmarshal(m.Error, rpcErr); err != nil {
			return nil, fmt.Errorf("calling %q: reading the upstream's error: %w", "tools/call", err)
		}
		return nil, fmt.Errorf("calling %q: %w", "tools/call", rpcErr)
	case ok && m.Result != nil && m.Result[0] == '{':
		sink.result = m.Result
		return &mcp.CallToolResult{IsError: resultIsError(m.Result)}, nil
	}
	return nil, fmt.Errorf("calling %q: the upstream's response is neither a result nor an error", "tools/call")
}

// resultIsError reads a tools/call result's isError.
func resultIsError(result []byte) bool {
	isError := false
	if envelope.Members(result, func(key, value []byte) bool {
		if string(key) == "isError" {
			isError = string(value) == "true"
		}
		return true
	}) {
		return isError
	}
	var r struct {
		IsError bool `json:"isError"`
	}
	_ = json.Unmarshal(result, &r) // a result go-sdk could not read either is not an error result
	return r.IsError
}

// relaySessions holds what the lane must know of each downstream HTTP
// session, learned from the SDK lane's requests. Safe for concurrent use.
type relaySessions struct {
	m sync.Map // session id → *relayFacts
}

type relayFacts struct {
	ss          *mcp.ServerSession
	view        string
	initialized atomic.Bool  // the client sent notifications/initialized
	logging     atomic.Bool  // the client set a log level
	sdkSeen     atomic.Int64 // when go-sdk last served a request of it (UnixNano)
}

func (r *relaySessions) lookup(sid string) *relayFacts {
	if sid == "" {
		return nil
	}
	f, _ := r.m.Load(sid)
	facts, _ := f.(*relayFacts)
	return facts
}

// middleware records the sessions of a view's server.
func (r *relaySessions) middleware(view string) mcp.Middleware {
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			ss, _ := req.GetSession().(*mcp.ServerSession)
			if ss == nil || ss.ID() == "" {
				return next(ctx, method, req)
			}
			f := r.lookup(ss.ID())
			if f == nil || f.ss != ss {
				f = &relayFacts{ss: ss, view: view}
				r.m.Store(ss.ID(), f)
				go func() {
					_ = ss.Wait()
					r.m.CompareAndDelete(ss.ID(), f)
				}()
			}
			switch method {
			case "notifications/initialized":
				f.initialized.Store(true)
			case "logging/setLevel":
				f.logging.Store(true)
			}
			res, err := next(ctx, method, req)
			f.sdkSeen.Store(time.Now().UnixNano())
			return res, err
		}
	}
}

// relayUnreachable is the end of the lane's handler chain: the view's
// dispatch answers every tools/call itself.
func relayUnreachable(context.Context, string, mcp.Request) (mcp.Result, error) {
	return nil, errors.New("relay lane: a tools/call reached the end of the handler chain")
}
