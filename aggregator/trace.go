package aggregator

// OpenTelemetry tracing (issue 7). The aggregator never touches the otel
// globals: it traces only when Options.TracerProvider is set, and then
//
//   - each downstream request gets a server span (requestTracing, the view's
//     outermost receiving middleware, so stdio and HTTP alike), whose parent is
//     the W3C trace context the client put in params._meta, else the one of
//     the HTTP request that carried it (transport's span, passed in
//     RequestExtra.Header), following the OpenTelemetry MCP conventions: the
//     _meta context is the parent and the transport's is linked;
//   - a tools/call records its policy decision as a child span (tracePolicy);
//   - each attempt at an upstream gets a client span (startUpstreamSpan in
//     forwardOnce), found from the downstream span in the context, so the
//     upstream side needs no tracer of its own;
//   - the client span's context goes to the upstream in params._meta
//     (traceMeta, where the request's params are built, every transport)
//     and, for HTTP upstreams, in the traceparent header (headerRoundTripper).
//
// With tracing off no middleware is installed and the other hooks return
// after one context lookup: the request path pays nothing.

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/mcp-gateway/mcp-gateway/fault"
	"github.com/mcp-gateway/mcp-gateway/policy"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// TracerName is the instrumentation scope of the aggregator's spans.
const TracerName = "github.com/mcp-gateway/mcp-gateway/aggregator"

// Span attribute keys.
const (
	AttrMethod       = attribute.Key("mcp.method")
	AttrUpstream     = attribute.Key("mcp.upstream")
	AttrTool         = attribute.Key("mcp.tool")            // the exposed name downstream, the upstream's own name upstream
	AttrSession      = attribute.Key("mcp.session.id")      // the downstream session, when there is one
	AttrIdentity     = attribute.Key("mcp.identity")        // the caller's identity name
	AttrOutcome      = attribute.Key("mcp.outcome")         // one of fault's Outcome constants
	AttrDecision     = attribute.Key("mcp.policy.decision") // allow, deny or unknown_tool
	AttrJSONRPCError = attribute.Key("rpc.jsonrpc.error_code")
	AttrErrorType    = attribute.Key("error.type")
)

// metaTraceKeys are the params._meta keys of W3C trace context (SEP-414).
var metaTraceKeys = []string{"traceparent", "tracestate"}

// metaCarrier reads and writes trace context in a request's _meta.
type metaCarrier map[string]any

func (m metaCarrier) Get(key string) string { s, _ := m[key].(string); return s }
func (m metaCarrier) Set(key, value string) { m[key] = value }
func (m metaCarrier) Keys() []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}

// requestTracing returns the receiving middleware that puts each downstream
// request in a server span.
func requestTracing(tp trace.TracerProvider) mcp.Middleware {
	tracer := tp.Tracer(TracerName)
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if strings.HasPrefix(method, "notifications/") {
				return next(ctx, method, req)
			}
			parent, links := remoteParent(ctx, req)
			attrs := []attribute.KeyValue{AttrMethod.String(method)}
			if ss := req.GetSession(); ss != nil && ss.ID() != "" {
				attrs = append(attrs, AttrSession.String(ss.ID()))
			}
			if r, ok := req.(*mcp.CallToolRequest); ok && r.Params != nil {
				attrs = append(attrs, AttrTool.String(r.Params.Name))
			}
			ctx, span := tracer.Start(parent, "mcp "+method, trace.WithSpanKind(trace.SpanKindServer),
				trace.WithLinks(links...), trace.WithAttributes(attrs...))
			defer span.End()
			noted := new(string)
			res, err := next(context.WithValue(ctx, outcomeKey{}, noted), method, req)
			if err != nil {
				outcome := *noted
				if outcome == "" {
					outcome = fault.Classify(err).Outcome
				}
				recordError(span, err, outcome)
			} else if r, ok := res.(*mcp.CallToolResult); ok && r != nil && r.IsError {
				span.SetAttributes(AttrErrorType.String("tool_error"))
			}
			return res, err
		}
	}
}

// remoteParent returns the context to start a downstream request's span in:
// the trace context in params._meta if the client sent one, with the HTTP
// request's (transport's span) as a link; else the HTTP request's; else ctx.
func remoteParent(ctx context.Context, req mcp.Request) (context.Context, []trace.Link) {
	tc := propagation.TraceContext{}
	ambient := ctx
	if extra := req.GetExtra(); extra != nil && extra.Header != nil {
		ambient = tc.Extract(ctx, propagation.HeaderCarrier(extra.Header))
	}
	if meta := requestMeta(req); meta != nil {
		if _, ok := meta["traceparent"]; ok {
			mctx := tc.Extract(ctx, metaCarrier(meta))
			if trace.SpanContextFromContext(mctx).IsValid() {
				var links []trace.Link
				if sc := trace.SpanContextFromContext(ambient); sc.IsValid() {
					links = append(links, trace.Link{SpanContext: sc})
				}
				return mctx, links
			}
		}
	}
	return ambient, nil
}

// requestMeta returns a request's _meta, or nil. Params may be a typed nil.
func requestMeta(req mcp.Request) map[string]any {
	p := req.GetParams()
	if p == nil {
		return nil
	}
	if v := reflect.ValueOf(p); v.Kind() == reflect.Pointer && v.IsNil() {
		return nil
	}
	return p.GetMeta()
}

// tracePolicy records a tools/call's policy decision as a child span of the
// request's, from start (when the request reached the view) to now, and
// names the request's span after the tool once it is known to exist.
func tracePolicy(ctx context.Context, start time.Time, p *policy.Identity, tool string, route toolRoute, found, allowed bool) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	decision := "allow"
	switch {
	case !found:
		decision = "unknown_tool"
	case !allowed:
		decision = "deny"
	}
	attrs := []attribute.KeyValue{AttrIdentity.String(p.Name), AttrTool.String(tool), AttrDecision.String(decision)}
	if found {
		span.SetName("mcp tools/call " + tool) // bounded: a name in the catalog
		attrs = append(attrs, AttrUpstream.String(route.up.spec.Name))
	}
	span.SetAttributes(attrs...)
	_, ps := span.TracerProvider().Tracer(TracerName).Start(ctx, "policy",
		trace.WithTimestamp(start), trace.WithAttributes(attrs...))
	if decision != "allow" {
		ps.SetStatus(codes.Error, decision)
	}
	ps.End()
}

// upstreamTargetKey is the context key of the upstream's own name of the
// tool (or prompt) a forwarded request is about, for its span.
type upstreamTargetKey struct{}

// withUpstreamTarget notes the tool name for the upstream call's span; it
// does nothing when the request is not traced.
func withUpstreamTarget(ctx context.Context, name string) context.Context {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx
	}
	return context.WithValue(ctx, upstreamTargetKey{}, name)
}

// startUpstreamSpan starts the client span of one attempt at an upstream,
// as a child of the downstream request's span in ctx. Without one it starts
// nothing and returns ctx and a span that records nothing.
func startUpstreamSpan(ctx context.Context, upstream, method string) (context.Context, trace.Span) {
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() {
		return ctx, parent
	}
	attrs := []attribute.KeyValue{AttrMethod.String(method), AttrUpstream.String(upstream)}
	if tool, ok := ctx.Value(upstreamTargetKey{}).(string); ok && method == "tools/call" {
		attrs = append(attrs, AttrTool.String(tool))
	}
	return parent.TracerProvider().Tracer(TracerName).Start(ctx, "mcp "+method+" "+upstream,
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

// endUpstreamSpan records how an attempt ended and ends its span.
func endUpstreamSpan(span trace.Span, res any, err error) {
	if !span.IsRecording() {
		return
	}
	if err != nil {
		recordError(span, err, fault.Classify(err).Outcome)
	} else if r, ok := res.(*mcp.CallToolResult); ok && r != nil && r.IsError {
		span.SetAttributes(AttrErrorType.String("tool_error"))
	}
	span.End()
}

// outcomeKey is the context key under which requestTracing keeps where the
// view notes a request's outcome: the view classifies the error before it
// becomes a wire error, which no longer says what went wrong.
type outcomeKey struct{}

// noteOutcome records the outcome of the request ctx belongs to for its
// span; without tracing it does nothing.
func noteOutcome(ctx context.Context, outcome string) {
	if p, ok := ctx.Value(outcomeKey{}).(*string); ok {
		*p = outcome
	}
}

// recordError marks a span failed with the outcome and, for a JSON-RPC
// error, its code.
func recordError(span trace.Span, err error, outcome string) {
	var rpcErr *jsonrpc.Error
	isRPC := errors.As(err, &rpcErr)
	span.SetAttributes(AttrOutcome.String(outcome))
	if isRPC {
		span.SetAttributes(AttrJSONRPCError.Int64(rpcErr.Code), AttrErrorType.String(strconv.FormatInt(rpcErr.Code, 10)))
		span.SetStatus(codes.Error, rpcErr.Message)
		return
	}
	span.SetAttributes(AttrErrorType.String(outcome))
	span.SetStatus(codes.Error, err.Error())
}

// injectTraceHeader sets the W3C trace context of r's context on r's
// header; r must be a copy the caller owns.
func injectTraceHeader(r *http.Request) {
	propagation.TraceContext{}.Inject(r.Context(), propagation.HeaderCarrier(r.Header))
}

// traceMeta returns meta with the span context of ctx as
// _meta.traceparent (and tracestate), replacing any the client sent: the
// client's span is already the parent of ours. Without a span it returns
// meta unchanged. Set where a request's params are built, so it reaches
// every upstream, whatever its transport.
func traceMeta(ctx context.Context, meta mcp.Meta) mcp.Meta {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return meta
	}
	out := make(mcp.Meta, len(meta)+2)
	for k, v := range meta {
		out[k] = v
	}
	for _, k := range metaTraceKeys {
		delete(out, k)
	}
	propagation.TraceContext{}.Inject(ctx, metaCarrier(out))
	return out
}
