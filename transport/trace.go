package transport

// OpenTelemetry tracing of the HTTP front door (issue 7). Only when
// HTTPOptions.TracerProvider is set; transport never touches the otel globals.

import (
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// TracerName is the instrumentation scope of the HTTP server spans.
const TracerName = "github.com/mcp-gateway/mcp-gateway/transport"

// traceMCP puts every HTTP request to /mcp and /mcp/{upstream} in a server
// span, continuing the W3C trace context of the request's traceparent
// header. Other paths (probes, metrics) are not traced. A nil tp returns next
// unchanged.
//
// The SDK runs MCP handlers on the session's context, not the HTTP
// request's, and hands them the request's header instead
// (RequestExtra.Header). So the span's own context is written into a copy of
// the header: that is how the aggregator's span for each MCP message in the
// request finds this span as its transport context.
func traceMCP(tp trace.TracerProvider, next http.Handler) http.Handler {
	if tp == nil {
		return next
	}
	tracer := tp.Tracer(TracerName)
	tc := propagation.TraceContext{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route := "/mcp"
		switch {
		case r.URL.Path == "/mcp":
		case strings.HasPrefix(r.URL.Path, "/mcp/"):
			route = "/mcp/{upstream}"
		default:
			next.ServeHTTP(w, r)
			return
		}
		ctx := tc.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		attrs := []attribute.KeyValue{
			attribute.String("http.request.method", r.Method),
			attribute.String("http.route", route),
			attribute.String("url.path", r.URL.Path),
			attribute.String("network.protocol.name", "http"),
		}
		if ua := r.UserAgent(); ua != "" {
			attrs = append(attrs, attribute.String("user_agent.original", ua))
		}
		if id := r.Header.Get("Mcp-Session-Id"); id != "" {
			attrs = append(attrs, attribute.String("mcp.session.id", id))
		}
		ctx, span := tracer.Start(ctx, r.Method+" "+route, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
		defer span.End()
		r = r.WithContext(ctx)
		r.Header = r.Header.Clone()
		for _, k := range []string{"traceparent", "tracestate"} {
			r.Header.Del(k)
		}
		tc.Inject(ctx, propagation.HeaderCarrier(r.Header))
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		code := rec.code
		if code == 0 {
			code = http.StatusOK
		}
		span.SetAttributes(attribute.Int("http.response.status_code", code))
		if r.Header.Get("Mcp-Session-Id") == "" {
			if id := rec.Header().Get("Mcp-Session-Id"); id != "" { // the session an initialize made
				span.SetAttributes(attribute.String("mcp.session.id", id))
			}
		}
		if code >= 500 {
			span.SetStatus(codes.Error, http.StatusText(code))
		}
	})
}

// traceLogAttrs returns the trace id of r's span for its access log line,
// so a log line and its trace can be found from each other.
func traceLogAttrs(r *http.Request) []any {
	if sc := trace.SpanContextFromContext(r.Context()); sc.IsValid() {
		return []any{"trace_id", sc.TraceID().String()}
	}
	return nil
}
