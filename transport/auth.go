package transport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mcp-gateway/mcp-gateway/fault"
	"github.com/mcp-gateway/mcp-gateway/policy"
	sdkauth "github.com/modelcontextprotocol/go-sdk/auth"
)

// ErrUnauthenticated is what Authenticate returns (wrapped) for a missing or
// invalid credential; the front door answers 401.
var ErrUnauthenticated = errors.New("unauthenticated")

// AuthOptions configures authentication, rate limits and the auth-related
// routes of the HTTP surface. The zero value serves everyone as Anonymous.
type AuthOptions struct {
	// Authenticate returns the identity of a request from its headers, or an
	// error wrapping ErrUnauthenticated. Nil means every request runs as
	// Anonymous.
	Authenticate func(ctx context.Context, h http.Header) (*policy.Identity, error)
	// Anonymous is the identity of requests when Authenticate is nil. Nil
	// means full access, admin, unlimited.
	Anonymous *policy.Identity
	// Challenge returns the WWW-Authenticate value for a 401 (scope "") or a
	// 403 insufficient_scope (scope set). Nil means `Bearer`.
	Challenge func(scope string) string
	// Allow takes a token from key's bucket of rpm requests a minute (rpm <
	// 0: unlimited): false and how long to wait if it is empty. It is the
	// gate every request a client sends passes, over HTTP and stdio alike
	// (ratelimit.Limiter.Allow). Nil means no limit.
	Allow func(key string, rpm, burst int) (bool, time.Duration)
	// OnRateLimited is told of each request refused by the rate limit.
	OnRateLimited func(name string)
	// ResourceMetadata serves /.well-known/oauth-protected-resource; nil
	// when OAuth is not configured (404).
	ResourceMetadata http.Handler
	// RegisterAgent serves POST /agents/register for an authenticated
	// identity; nil means 404.
	RegisterAgent func(w http.ResponseWriter, r *http.Request, id *policy.Identity)
	// Connect, if set, serves GET /oauth/connect/{name} for an
	// authenticated identity: the start of its own login to upstream name.
	Connect func(w http.ResponseWriter, r *http.Request, id *policy.Identity)
	// Callback, if set, serves GET /oauth/callback, where a browser comes
	// back from an upstream's authorization server. It is not
	// authenticated: the login's state says whose it is.
	Callback http.Handler
	// Config returns the body of GET /config (the effective config with
	// secrets redacted); nil means 404.
	Config func() any
	// Reload, if set, serves POST /admin/reload for admin identities: it
	// reloads the config and returns what the body reports; an error is
	// answered 422 with its message (the running config is kept).
	Reload func() (any, error)
	// MetricsRequireAuth puts /metrics behind authentication.
	MetricsRequireAuth bool
	// BodyReadTimeout bounds reading one request body (408 past it). Zero
	// means [DefaultBodyReadTimeout].
	BodyReadTimeout time.Duration
}

type identityKey struct{}

// identityFrom returns the identity the auth middleware attached.
func identityFrom(ctx context.Context) *policy.Identity {
	id, _ := ctx.Value(identityKey{}).(*policy.Identity)
	return id
}

// authenticate wraps next: it identifies the caller (401 with
// WWW-Authenticate if it cannot) and attaches the identity to the request.
func (o *AuthOptions) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := o.Anonymous
		if o.Authenticate != nil {
			var err error
			if id, err = o.Authenticate(r.Context(), r.Header); err != nil || id == nil {
				if wait, limited := o.failureLimited(r); limited {
					w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
					http.Error(w, "too many failed authentication attempts", http.StatusTooManyRequests)
					return
				}
				w.Header().Set("WWW-Authenticate", o.challenge(""))
				msg := "authentication required"
				if err != nil && !errors.Is(err, ErrUnauthenticated) {
					msg = "authentication failed"
				} else if err != nil {
					msg = err.Error()
				}
				http.Error(w, msg, http.StatusUnauthorized)
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, id)))
	})
}

// Failed authentications allowed per remote address: a burst, then a steady
// rate. Past it the answer is 429, so guessing keys is slow; a client with a
// valid credential is never counted.
const (
	authFailuresPerMinute = 60
	authFailureBurst      = 20
)

// failureLimited counts a failed authentication against the remote address
// and reports whether it is over the limit.
func (o *AuthOptions) failureLimited(r *http.Request) (time.Duration, bool) {
	if o.Allow == nil {
		return 0, false
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ok, wait := o.Allow("auth-failure:"+host, authFailuresPerMinute, authFailureBurst)
	return wait, !ok
}

func (o *AuthOptions) challenge(scope string) string {
	if o.Challenge == nil {
		return "Bearer"
	}
	return o.Challenge(scope)
}

// mcpGate stands in front of the SDK's streamable handler for an
// authenticated request: scope, rate limit, JSON depth, session binding;
// then it hands the identity's TokenInfo to the SDK.
func (o *AuthOptions) mcpGate(book Sessions, maxBody int64, relay *relayRoute, next http.Handler) http.Handler {
	// The SDK reads TokenInfo from a context key only its RequireBearerToken
	// sets; our verifier ignores the token and returns the identity the
	// front door already established.
	inject := sdkauth.RequireBearerToken(func(ctx context.Context, _ string, _ *http.Request) (*sdkauth.TokenInfo, error) {
		return identityFrom(ctx).TokenInfo(), nil
	}, &sdkauth.RequireBearerTokenOptions{AllowMissingExpiration: true})(next)
	var cancels sessionCancels // session ids are this handler's own
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := identityFrom(r.Context())
		if !id.MayUseMCP() {
			w.Header().Set("WWW-Authenticate", o.challenge("read"))
			http.Error(w, "insufficient_scope: this endpoint needs the read or write scope", http.StatusForbidden)
			return
		}
		if r.Method == http.MethodPost {
			if err := o.limit(id); err != nil {
				w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(err.RetryAfter.Seconds()))))
				http.Error(w, err.Error(), fault.Classify(err).HTTPStatus)
				return
			}
		}
		if r.Method == http.MethodPost && !checkBody(w, r, maxBody, o.BodyReadTimeout) {
			return
		}
		sid := r.Header.Get("Mcp-Session-Id")
		owner, version, known := "", "", false
		if sid != "" {
			owner, version, known = book.Session(sid)
		}
		if known && owner != id.Name {
			// Another identity's: the same answer as for an unknown id, so a
			// session id reveals nothing to whoever guesses it.
			http.Error(w, "session not found", http.StatusNotFound)
			return
		}
		if r.Method == http.MethodPost {
			effective := r.Header.Get("Mcp-Protocol-Version")
			if effective == "" {
				effective = version
			}
			if isBatch(r) && effective >= "2025-06-18" {
				writeRPCError(w, -32600, "JSON-RPC batches are not supported in protocol version "+effective)
				return
			}
		}
		// The SDK never sees the client's credential: the header it reads is
		// a placeholder, and the real one is not forwarded upstream anyway.
		r = r.Clone(r.Context())
		r.Header.Del("X-Api-Key")
		r.Header.Del("X-Agent-Token")
		r.Header.Del("Cookie")
		r.Header.Set("Authorization", "Bearer gateway-authenticated")
		if version != "" && r.Header.Get("Mcp-Protocol-Version") == "" {
			// Since 2025-06-18 a request without the header is in the
			// negotiated version; the SDK would assume 2025-03-26 (and so,
			// for one, accept a batch).
			r.Header.Set("Mcp-Protocol-Version", version)
		}
		if r.Method == http.MethodPost && sid != "" {
			// The answer to a request the client cancels while this POST is
			// in flight is dropped on its way out; a cancel is noted in the
			// set of the session's POSTs in flight.
			body := peekBody(r)
			cancels.cancelled(sid, body)
			relay.cancelled(sid, body)
			set := cancels.acquire(sid)
			defer cancels.release(sid)
			set.noteLine(body)
			w = &cancelFilter{ResponseWriter: w, set: set}
			if known && relay.serve(w, r, body, sid, version, id) {
				return
			}
		}
		inject.ServeHTTP(w, r)
	})
}

// limit is the rate-limit gate: one token from id's bucket, or the
// fault.RateLimited error to answer with (and the refusal counted).
func (o *AuthOptions) limit(id *policy.Identity) *fault.Error {
	if o.Allow == nil || id.Limit.RPM < 0 {
		return nil
	}
	ok, wait := o.Allow(id.Name, id.Limit.RPM, id.Limit.Burst)
	if ok {
		return nil
	}
	if o.OnRateLimited != nil {
		o.OnRateLimited(id.Name)
	}
	return fault.RateLimited(id.Name, wait)
}

// maxJSONDepth bounds the nesting of a request body, before the SDK's decoder
// sees it.
const maxJSONDepth = 64

// DefaultBodyReadTimeout bounds reading one request body.
const DefaultBodyReadTimeout = 30 * time.Second

// checkBody reads the body — size-capped, and within timeout, so a client
// sending one byte a second cannot hold a handler — and refuses what the
// SDK's decoder would accept but JSON-RPC does not: invalid UTF-8, nesting
// deeper than maxJSONDepth, and a top-level key given twice (the decoder
// keeps the last "method", so a proxy reading the first would be fooled).
// It then puts the body back.
func checkBody(w http.ResponseWriter, r *http.Request, maxBody int64, timeout time.Duration) bool {
	if maxBody <= 0 {
		maxBody = 4 << 20
	}
	if timeout <= 0 {
		timeout = DefaultBodyReadTimeout
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(timeout)) // not every ResponseWriter supports it (httptest)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	_ = rc.SetReadDeadline(time.Time{})
	if err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			http.Error(w, fmt.Sprintf("request body exceeds %d bytes", mbe.Limit), http.StatusRequestEntityTooLarge)
		case errors.Is(err, os.ErrDeadlineExceeded):
			http.Error(w, "request body not received in time", http.StatusRequestTimeout)
		default:
			http.Error(w, "reading request body failed", http.StatusBadRequest)
		}
		return false
	}
	var problem string
	switch {
	case !json.Valid(body):
		problem = "request is not valid JSON"
	case !utf8.Valid(body):
		problem = "request is not valid UTF-8"
	case depth(body) > maxJSONDepth:
		problem = fmt.Sprintf("JSON nested deeper than %d levels", maxJSONDepth)
	case duplicateTopLevelKey(body):
		problem = "a member of the request object is given twice"
	}
	if problem != "" {
		writeRPCError(w, -32700, problem)
		return false
	}
	r.Body = &readBody{Reader: bytes.NewReader(body), b: body}
	return true
}

// readBody is a request body the front door has read and put back; Peek
// shows it without consuming it.
type readBody struct {
	*bytes.Reader
	b []byte
}

func (rb *readBody) Close() error { return nil }
func (rb *readBody) Peek() []byte { return rb.b }

// writeRPCError answers 400 with a JSON-RPC error that has no id (the
// request's could not be trusted or read).
func writeRPCError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	fmt.Fprintf(w, `{"jsonrpc":"2.0","id":null,"error":{"code":%d,"message":%q}}`, code, msg)
}

// isBatch reports whether the (already read) request body is a JSON array.
func isBatch(r *http.Request) bool {
	b := bytes.TrimLeft(peekBody(r), " \t\r\n")
	return len(b) > 0 && b[0] == '['
}

// peekBody returns the request body checkBody read, or nil.
func peekBody(r *http.Request) []byte {
	if br, ok := r.Body.(interface{ Peek() []byte }); ok {
		return br.Peek()
	}
	return nil
}

// duplicateTopLevelKey reports whether a JSON object (or an object in a top
// level array: a batch) names a member twice. One pass over the bytes, no
// decoding: it runs on every request. It does not validate; the decoder does.
func duplicateTopLevelKey(b []byte) bool {
	var stack []byte // open containers: '{' or '['
	var keys map[string]bool
	target := func() bool { // an object whose members we check
		return len(stack) == 1 && stack[0] == '{' || len(stack) == 2 && stack[0] == '[' && stack[1] == '{'
	}
	expectKey := false
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '{':
			stack = append(stack, '{')
			expectKey = true
			if target() {
				keys = map[string]bool{}
			}
		case '[':
			stack = append(stack, '[')
			expectKey = false
		case '}', ']':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			expectKey = false
		case ',':
			expectKey = len(stack) > 0 && stack[len(stack)-1] == '{'
		case '"':
			j := i + 1
			for j < len(b) && b[j] != '"' {
				if b[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(b) {
				return false // unterminated: the decoder will say so
			}
			if expectKey && target() {
				key := string(b[i+1 : j])
				if strings.IndexByte(key, '\\') >= 0 {
					// "met\u0068od" is "method" to the decoder.
					if json.Unmarshal(b[i:j+1], &key) != nil {
						return false
					}
				}
				if keys[key] {
					return true
				}
				keys[key] = true
			}
			expectKey = false
			i = j
		}
	}
	return false
}

// depth returns the deepest nesting of arrays and objects in b, ignoring
// brackets inside strings. It does not validate: the decoder does that.
func depth(b []byte) int {
	d, max, inString, escaped := 0, 0, false, false
	for _, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			if d++; d > max {
				max = d
			}
		case c == '}' || c == ']':
			d--
		}
	}
	return max
}
