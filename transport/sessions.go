package transport

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mcp-gateway/mcp-gateway/policy"
)

// SessionInfo describes one downstream HTTP session for /agents/sessions.
type SessionInfo struct {
	ID       string    `json:"id"`
	Endpoint string    `json:"endpoint"`
	Identity string    `json:"identity"`
	Agent    string    `json:"agent,omitempty"`
	Created  time.Time `json:"created"`
	LastSeen time.Time `json:"last_seen"`
	Protocol string    `json:"protocol_version,omitempty"`

	key string // the identity's key: the session is bound to it
}

// sessionRegistry knows which identity made each HTTP session. The SDK owns
// the sessions; the registry mirrors their lifetime: added when an
// initialize answer carries a new session id, removed on DELETE, when the
// SDK no longer knows the id, or after the idle timeout the SDK applies too.
type sessionRegistry struct {
	idle     time.Duration
	onChange func(endpoint string, delta int)

	mu       sync.Mutex
	sessions map[string]*SessionInfo
}

func newSessionRegistry(idle time.Duration, onChange func(string, int)) *sessionRegistry {
	if onChange == nil {
		onChange = func(string, int) {}
	}
	return &sessionRegistry{idle: idle, onChange: onChange, sessions: map[string]*SessionInfo{}}
}

// touch reports whether sid may be used by the identity with key: true if
// the registry does not know it (the SDK will answer 404 itself) or it
// belongs to that identity; false if another identity made it. It also
// returns the protocol version the session negotiated, if known.
func (s *sessionRegistry) touch(sid, key string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	info, ok := s.sessions[sid]
	if !ok {
		return "", true
	}
	if info.key != key {
		return "", false
	}
	info.LastSeen = time.Now()
	return info.Protocol, true
}

// observe updates the registry from the SDK's answer to a request.
func (s *sessionRegistry) observe(method, sid string, rec *statusRecorder, id *policy.Identity, endpoint string) {
	code := rec.code
	if code == 0 {
		code = http.StatusOK
	}
	switch {
	case sid == "" && method == http.MethodPost && code < 300:
		newID := rec.Header().Get("Mcp-Session-Id")
		version, ok := initializeResult(rec.kept)
		if newID == "" || !ok {
			return // no session, or an initialize that failed (the SDK drops that session)
		}
		now := time.Now()
		s.mu.Lock()
		s.sessions[newID] = &SessionInfo{ID: newID, Endpoint: endpoint, Identity: id.Name, Agent: id.Agent,
			Created: now, LastSeen: now, Protocol: version, key: id.Name}
		s.mu.Unlock()
		s.onChange(endpoint, 1)
	case sid != "" && (code == http.StatusNotFound || (method == http.MethodDelete && code < 300)):
		s.remove(sid)
	}
}

func (s *sessionRegistry) remove(sid string) {
	s.mu.Lock()
	info, ok := s.sessions[sid]
	delete(s.sessions, sid)
	s.mu.Unlock()
	if ok {
		s.onChange(info.Endpoint, -1)
	}
}

// sweep forgets sessions idle longer than the SDK keeps them.
func (s *sessionRegistry) sweep(now time.Time) {
	var gone []*SessionInfo
	s.mu.Lock()
	for sid, info := range s.sessions {
		if now.Sub(info.LastSeen) > s.idle {
			delete(s.sessions, sid)
			gone = append(gone, info)
		}
	}
	s.mu.Unlock()
	for _, info := range gone {
		s.onChange(info.Endpoint, -1)
	}
}

// list returns the sessions an identity may see: all for an admin, else its
// own, sorted by creation.
func (s *sessionRegistry) list(id *policy.Identity) []SessionInfo {
	s.mu.Lock()
	out := make([]SessionInfo, 0, len(s.sessions))
	for _, info := range s.sessions {
		if id.Admin || info.key == id.Name {
			out = append(out, *info)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b SessionInfo) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// initializeResult reads the answer to an initialize (a JSON body or the
// first SSE data line): whether it is a result, and the protocol version it
// negotiated.
func initializeResult(body []byte) (string, bool) {
	if i := bytes.Index(body, []byte("data:")); i >= 0 && !bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) {
		body = body[i+len("data:"):]
		if j := bytes.IndexByte(body, '\n'); j >= 0 {
			body = body[:j]
		}
	}
	var msg struct {
		Result *struct {
			ProtocolVersion string `json:"protocolVersion"`
		} `json:"result"`
	}
	if json.Unmarshal(bytes.TrimSpace(body), &msg) != nil || msg.Result == nil {
		return "", false
	}
	return msg.Result.ProtocolVersion, true
}
