package transport

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mcp-gateway/mcp-gateway/envelope"
	"github.com/mcp-gateway/mcp-gateway/policy"
)

// RelayRequest is a POST the front door offers the relay lane: one
// tools/call of an established session, after every check of the front
// door (identity, scope, rate limit, body hygiene, session binding).
type RelayRequest struct {
	// View is the catalog of the endpoint: "" for /mcp, else the upstream's
	// name (/mcp/{name}).
	View string
	// Session is the Mcp-Session-Id.
	Session string
	// Identity is who the request runs as.
	Identity *policy.Identity
	// Header is the request's header as go-sdk would see it (credentials
	// scrubbed).
	Header http.Header
	// Body is the request body, valid JSON.
	Body []byte
	// KeepAlive is how long go-sdk may have gone without serving the
	// session before the lane must leave a request to it, so that go-sdk's
	// idle timer keeps a session in use alive.
	KeepAlive time.Duration
}

// Relay serves a request on the relay lane (aggregator.Relay, wired by
// cmd): it returns the JSON-RPC response to write, or false — having done
// nothing — to leave the request to go-sdk.
type Relay func(ctx context.Context, r *RelayRequest) ([]byte, bool)

// relayRoute is the relay lane of one MCP endpoint.
type relayRoute struct {
	relay     Relay
	view      string
	keepAlive time.Duration

	mu       sync.Mutex
	inflight map[relayKey]*relayCall
}

// relayKey names a relayed request: its session and canonical id.
type relayKey struct{ session, id string }

type relayCall struct {
	cancel   context.CancelFunc
	byClient bool // the client cancelled it (notifications/cancelled)
}

// serve offers a POST to the lane and reports whether the lane answered
// it; when it did not, nothing was written. version is the session's
// negotiated protocol version.
func (rr *relayRoute) serve(w http.ResponseWriter, r *http.Request, body []byte, sid, version string, id *policy.Identity) bool {
	if rr == nil || !relayable(r, version) {
		return false
	}
	m, ok := envelope.Read(body)
	if !ok || string(m.Method) != `"tools/call"` {
		return false
	}
	cid, ok := canonicalID(m.ID)
	if !ok {
		return false
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	key := relayKey{sid, cid}
	call := &relayCall{cancel: cancel}
	rr.mu.Lock()
	if rr.inflight == nil {
		rr.inflight = map[relayKey]*relayCall{}
	}
	if rr.inflight[key] != nil {
		rr.mu.Unlock()
		return false // the client reused an id in flight: go-sdk answers that
	}
	rr.inflight[key] = call
	rr.mu.Unlock()
	resp, ok := rr.relay(ctx, &RelayRequest{View: rr.view, Session: sid, Identity: id, Header: r.Header, Body: body, KeepAlive: rr.keepAlive})
	rr.mu.Lock()
	delete(rr.inflight, key)
	byClient := call.byClient
	rr.mu.Unlock()
	if !ok {
		return false
	}
	h := w.Header()
	h.Set("Cache-Control", "no-cache, no-transform")
	h.Set("Mcp-Session-Id", sid)
	if byClient {
		// As go-sdk answers a request the client cancelled: an event
		// stream that ends without the response.
		h.Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		return true
	}
	h.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(resp) // one Write: the cancel filter sees the response whole
	return true
}

// cancelled cancels the relayed request a client's notifications/cancelled
// names, if it is in flight.
func (rr *relayRoute) cancelled(sid string, body []byte) {
	if rr == nil || !strings.Contains(string(body), methodCancelled) {
		return
	}
	var m clientMessage
	if json.Unmarshal(body, &m) != nil || m.Method != methodCancelled {
		return
	}
	cid, ok := canonicalID(m.Params.RequestID)
	if !ok {
		return
	}
	rr.mu.Lock()
	defer rr.mu.Unlock()
	if call := rr.inflight[relayKey{sid, cid}]; call != nil {
		call.byClient = true
		call.cancel()
	}
}

// relayable reports whether go-sdk would take the POST as it is — the
// headers it checks are as it wants them — so that the lane answers only
// what go-sdk would have served: JSON content, an Accept of both JSON and
// event streams, and the session's own protocol version.
func relayable(r *http.Request, version string) bool {
	if r.Method != http.MethodPost || version == "" || r.Header.Get("Mcp-Protocol-Version") != version {
		return false
	}
	ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	if !strings.EqualFold(strings.TrimSpace(ct), "application/json") {
		return false
	}
	jsonOK, streamOK := false, false
	for _, value := range r.Header.Values("Accept") {
		for _, raw := range strings.Split(value, ",") {
			base, _, _ := strings.Cut(raw, ";")
			switch strings.ToLower(strings.TrimSpace(base)) {
			case "application/json", "application/*":
				jsonOK = true
			case "text/event-stream", "text/*":
				streamOK = true
			case "*/*":
				jsonOK, streamOK = true, true
			}
		}
	}
	return jsonOK && streamOK
}
