package launch

import (
	"io"
	"net/http"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/propagation"
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
		Transport: &headerRoundTripper{headers: o.Headers, base: base, maxBody: int64(max)},
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
// context (traceparent, tracestate) of the span in the request's context
// when there is one: the caller's span for the upstream call, so the
// upstream's spans join the gateway's trace.
type headerRoundTripper struct {
	headers map[string]string
	base    http.RoundTripper
	maxBody int64 // cap on a response body that is not an event stream
}

func (h *headerRoundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	traced := trace.SpanContextFromContext(r.Context()).IsValid()
	if len(h.headers) > 0 || traced {
		r = r.Clone(r.Context())
		for k, v := range h.headers {
			r.Header.Set(k, v)
		}
		if traced { // after the fixed headers, so the call's context wins
			propagation.TraceContext{}.Inject(r.Context(), propagation.HeaderCarrier(r.Header))
		}
	}
	resp, err := h.base.RoundTrip(r)
	if err == nil && resp.Body != nil && !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		// The SDK reads a JSON response whole; an event stream is capped per
		// event by MaxEventSize instead.
		resp.Body = &cappedBody{ReadCloser: resp.Body, left: h.maxBody}
	}
	return resp, err
}

// cappedBody fails a response body that goes past the message cap, rather
// than letting an upstream make the gateway buffer without end. (Go's
// transport decompresses gzip before this, so the cap is on what is kept.)
type cappedBody struct {
	io.ReadCloser
	left int64
}

func (c *cappedBody) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1] // one byte past the cap tells "exactly at" from "over"
	}
	n, err := c.ReadCloser.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		return n, ErrMessageTooLarge
	}
	return n, err
}
