package aggregator

import (
	"context"
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/trace"
)

// HTTPTransportOptions configures NewHTTPTransport.
type HTTPTransportOptions struct {
	// SSE selects the legacy HTTP+SSE transport (protocol 2024-11-05) instead
	// of streamable HTTP.
	SSE bool
	// Headers are sent with every request (the upstream's own credentials,
	// from its config). Nothing from downstream clients is ever added.
	Headers map[string]string
	// MaxMessageBytes caps one message (SSE event). Zero means
	// [DefaultMaxMessageBytes].
	MaxMessageBytes int
}

// NewHTTPTransport returns a transport to a remote upstream at endpoint. Its
// HTTP client sets the configured headers and never follows redirects: a
// redirect from an upstream is an error, not a hop to an address the operator
// did not configure.
func NewHTTPTransport(endpoint string, o HTTPTransportOptions) mcp.Transport {
	max := o.MaxMessageBytes
	if max <= 0 {
		max = DefaultMaxMessageBytes
	}
	// Its own pool: http.DefaultTransport keeps 2 idle connections per host,
	// which makes concurrent calls to one upstream open and close connections.
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.MaxIdleConns = 256
	base.MaxIdleConnsPerHost = 256
	client := &http.Client{
		Transport: &headerRoundTripper{headers: o.Headers, base: base},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	if o.SSE {
		return &mcp.SSEClientTransport{Endpoint: endpoint, HTTPClient: client, MaxEventSize: max}
	}
	return &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: client, MaxEventSize: max}
}

// headerRoundTripper adds fixed headers to every request, and the W3C trace
// context of the request's span when it is traced.
type headerRoundTripper struct {
	headers map[string]string
	base    http.RoundTripper
}

func (h *headerRoundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	traced := trace.SpanContextFromContext(r.Context()).IsValid() // Tracing (issue 7)
	if len(h.headers) > 0 || traced {
		r = r.Clone(r.Context())
		for k, v := range h.headers {
			r.Header.Set(k, v)
		}
		if traced {
			injectTraceHeader(r) // Tracing (issue 7): after the fixed headers, so the call's context wins
		}
	}
	return h.base.RoundTrip(r)
}

// StaticTransport adapts a fixed transport to UpstreamSpec.NewTransport.
func StaticTransport(t mcp.Transport) func(context.Context) (mcp.Transport, error) {
	return func(context.Context) (mcp.Transport, error) { return t, nil }
}
