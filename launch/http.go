package launch

import (
	"context"
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
	// Wrap, if set, wraps the client's RoundTripper (which sets Headers and
	// caps bodies); it is how an upstream's OAuth access token is added.
	Wrap func(http.RoundTripper) http.RoundTripper
}

// NewHTTPTransport returns a transport to a remote upstream at endpoint. Its
// HTTP client sets the configured headers and never follows redirects: a
// redirect from an upstream is an error, not a hop to an address the operator
// did not configure.
func NewHTTPTransport(endpoint string, o HTTPTransportOptions) *HTTPTransport {
	max := o.MaxMessageBytes
	if max <= 0 {
		max = DefaultMaxMessageBytes
	}
	// Its own pool: http.DefaultTransport keeps 2 idle connections per host,
	// which makes concurrent calls to one upstream open and close connections.
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.MaxIdleConns = 256
	base.MaxIdleConnsPerHost = 256
	var rt http.RoundTripper = &headerRoundTripper{headers: o.Headers, base: base, maxBody: int64(max)}
	if o.Wrap != nil {
		rt = o.Wrap(rt)
	}
	t := &HTTPTransport{endpoint: endpoint, sse: o.SSE, max: max, rt: rt}
	t.sdk = t.build(t.rt)
	return t
}

// HTTPTransport is a transport to a streamable-HTTP or legacy SSE upstream:
// go-sdk's client transport over an HTTP client of the gateway's. Each
// Connect makes a new connection (HTTP session); all share one pool.
type HTTPTransport struct {
	endpoint string
	sse      bool
	max      int
	rt       http.RoundTripper
	sdk      mcp.Transport
}

// Connect connects through go-sdk's transport. The connection is the SDK's
// own, unwrapped: the SDK finds what it needs on it by type assertion.
func (t *HTTPTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	return t.sdk.Connect(ctx)
}

// Tapped returns a transport like t (sharing its pool) whose HTTP client
// shows every message it carries, as bytes and in wire order: sent gets each
// request body before it goes out; read gets each message the upstream
// sends — an event stream's events one by one, a JSON response body whole —
// before go-sdk can read it. So whoever taps sees a progress notification
// an upstream sends right before its result before go-sdk hands the result
// over. Neither function may keep the slice it is given.
func (t *HTTPTransport) Tapped(sent, read func(data []byte)) mcp.Transport {
	c := *t
	c.sdk = t.build(&tapRoundTripper{base: t.rt, sent: sent, read: read, max: t.max})
	return &c
}

func (t *HTTPTransport) build(rt http.RoundTripper) mcp.Transport {
	client := &http.Client{
		Transport: rt,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	if t.sse {
		return &mcp.SSEClientTransport{Endpoint: t.endpoint, HTTPClient: client, MaxEventSize: t.max}
	}
	return &mcp.StreamableClientTransport{Endpoint: t.endpoint, HTTPClient: client, MaxEventSize: t.max}
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
