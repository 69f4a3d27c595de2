package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"time"

	"github.com/mcp-gateway/mcp-gateway/policy"
	sdkauth "github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Record is what Redis holds of one session: enough for any replica to
// rebuild it with [mcp.Server.Connect] without the client initializing
// again.
type Record struct {
	// View is the catalog the session uses: "" for /mcp, else the upstream
	// served at /mcp/{view}.
	View string `json:"view"`
	// Identity is the policy.Identity name the session is bound to; a
	// request from another identity is answered as for an unknown session.
	Identity string `json:"identity"`
	// State is the SDK's session state: the initialize parameters (client
	// info and capabilities), the negotiated protocol version, the log
	// level.
	State mcp.ServerSessionState `json:"state"`
	// Subscriptions are the resource URIs the client subscribed to; a
	// replica restoring the session subscribes to them again.
	Subscriptions []string `json:"subscriptions,omitempty"`
	// Roots is the client's roots capability, which the SDK's
	// ClientCapabilities does not marshal (RootsV2 is `json:"-"`).
	Roots   *mcp.RootCapabilities `json:"roots,omitempty"`
	Created time.Time             `json:"created"`
}

func (s *State) sessionKey(sid string) string { return s.key("session", sid) }

// load returns sid's record: (nil, true) if there is none, (nil, false) if
// Redis could not be asked.
func (s *State) load(ctx context.Context, sid string) (*Record, bool) {
	var raw []byte
	ok := s.call(ctx, func(ctx context.Context) error {
		var err error
		raw, err = s.rdb.Get(ctx, s.sessionKey(sid)).Bytes()
		return err
	})
	if !ok || raw == nil {
		return nil, ok
	}
	rec := new(Record)
	if err := json.Unmarshal(raw, rec); err != nil {
		s.o.Logger.Warn("session record in redis is not readable; treating the session as unknown", "session", sid, "err", err)
		return nil, true
	}
	return rec, true
}

func (s *State) save(ctx context.Context, sid string, rec *Record) bool {
	raw, err := json.Marshal(rec)
	if err != nil {
		return false
	}
	return s.call(ctx, func(ctx context.Context) error {
		return s.rdb.Set(ctx, s.sessionKey(sid), raw, s.o.SessionIdle).Err()
	})
}

// update applies change to sid's record — read from Redis, so that a change
// made on another replica is kept — and writes it back. Without a record in
// Redis it starts from base (nil: nothing to update).
func (s *State) update(ctx context.Context, sid string, base *Record, change func(*Record)) {
	rec, ok := s.load(ctx, sid)
	if rec == nil {
		rec = base
	}
	if rec == nil {
		return
	}
	change(rec)
	if !ok || !s.save(ctx, sid, rec) {
		s.degraded(KindSessionSave)
		s.o.Logger.Warn("session not recorded in redis: other replicas cannot serve it until it is recorded again", "session", sid)
	}
}

// touch restarts the idle lifetime of sid's record, at most once per
// SessionIdle/10 per replica.
func (s *State) touch(ctx context.Context, sid string) {
	if !s.restored.due(sid, s.o.SessionIdle/10) {
		return
	}
	s.call(ctx, func(ctx context.Context) error {
		return s.rdb.Expire(ctx, s.sessionKey(sid), s.o.SessionIdle).Err()
	})
}

// Track records the sessions of srv, which serves view, in Redis: a
// receiving middleware writes a session's record when its initialize
// succeeds (before the result is sent, so the client's next request finds
// it on any replica) and again when its state changes (initialized,
// logging/setLevel, resources/subscribe and unsubscribe). Call it once per
// server, before serving. Without Redis it does nothing.
func (s *State) Track(view string, srv *mcp.Server) {
	if s.rdb == nil {
		return
	}
	srv.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			ss, _ := req.GetSession().(*mcp.ServerSession)
			if ss == nil || ss.ID() == "" {
				return next(ctx, method, req)
			}
			sid := ss.ID()
			res, err := next(ctx, method, req)
			if err != nil {
				return res, err
			}
			switch method {
			case "initialize":
				ir, _ := res.(*mcp.InitializeResult)
				params, _ := req.GetParams().(*mcp.InitializeParams)
				if ir == nil || params == nil {
					break
				}
				rec := &Record{View: view, Created: time.Now().UTC(), State: mcp.ServerSessionState{
					InitializeParams: params, NegotiatedProtocolVersion: ir.ProtocolVersion,
				}}
				if id := identityOf(req); id != nil {
					rec.Identity = id.Name
				}
				if params.Capabilities != nil {
					rec.Roots = params.Capabilities.RootsV2
				}
				s.restored.markLocal(sid, ss, func() { s.deliver.drop(sid) })
				if !s.save(ctx, sid, rec) {
					s.degraded(KindSessionSave)
					s.o.Logger.Warn("session not recorded in redis: only this replica can serve it", "session", sid)
				}
			case "notifications/initialized":
				s.update(ctx, sid, nil, func(r *Record) {
					if r.State.InitializedParams == nil {
						r.State.InitializedParams = &mcp.InitializedParams{}
					}
				})
			case "logging/setLevel":
				if p, ok := req.GetParams().(*mcp.SetLoggingLevelParams); ok {
					s.update(ctx, sid, nil, func(r *Record) { r.State.LogLevel = p.Level })
				}
			case "resources/subscribe":
				if p, ok := req.GetParams().(*mcp.SubscribeParams); ok {
					s.update(ctx, sid, nil, func(r *Record) {
						if !slices.Contains(r.Subscriptions, p.URI) {
							r.Subscriptions = append(r.Subscriptions, p.URI)
						}
					})
				}
			case "resources/unsubscribe":
				if p, ok := req.GetParams().(*mcp.UnsubscribeParams); ok {
					s.update(ctx, sid, nil, func(r *Record) {
						r.Subscriptions = slices.DeleteFunc(r.Subscriptions, func(u string) bool { return u == p.URI })
					})
				}
			default:
				s.touch(ctx, sid)
			}
			return res, err
		}
	})
}

// identityOf is the identity the front door attached to req, if any.
func identityOf(req mcp.Request) *policy.Identity {
	if extra := req.GetExtra(); extra != nil {
		return policy.FromTokenInfo(extra.TokenInfo)
	}
	return nil
}

// Handler wraps sdk, the SDK's streamable handler for srv (which serves
// view), so that a session made on another replica is served here: a
// request whose Mcp-Session-Id this replica does not hold is looked up in
// Redis and, if its record is for this view and the request's identity, the
// session is rebuilt from the record on this replica and the request served
// by it. Sessions this replica made go to sdk untouched. It runs after the
// front door has attached the identity's token info. Without Redis it
// returns sdk.
func (s *State) Handler(view string, srv *mcp.Server, sdk http.Handler) http.Handler {
	if s.rdb == nil {
		return sdk
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sid := r.Header.Get("Mcp-Session-Id")
		if sid == "" {
			sdk.ServeHTTP(w, r)
			return
		}
		if r.Method == http.MethodPost {
			if body := readBody(r); onlyResponses(body) {
				defer s.publishReply(r.Context(), sid, body)
			}
		}
		if s.restored.isLocal(sid) {
			s.deliver.set(sid, r.Context(), sdk)
			sdk.ServeHTTP(w, r)
			return
		}
		rs := s.restored.get(sid)
		if rs == nil {
			rec, ok := s.load(r.Context(), sid)
			if !ok {
				s.degraded(KindSessionLookup)
			}
			if rec == nil || rec.View != view || rec.Identity != identityName(r) {
				// Unknown here and in Redis (or Redis is down, or the
				// session is another identity's): the SDK's 404, which
				// tells the client to initialize again.
				sdk.ServeHTTP(w, r)
				return
			}
			if r.Method == http.MethodDelete {
				s.forget(r.Context(), sid)
				w.WriteHeader(http.StatusNoContent)
				return
			}
			var err error
			if rs, err = s.restore(r, srv, sid, rec); err != nil {
				s.o.Logger.Error("cannot restore a session from its record", "session", sid, "err", err)
				http.Error(w, "session could not be restored", http.StatusInternalServerError)
				return
			}
		} else if rs.identity != identityName(r) {
			http.Error(w, "session not found", http.StatusNotFound)
			return
		}
		if r.Header.Get("Mcp-Protocol-Version") == "" && rs.protocol != "" {
			r.Header.Set("Mcp-Protocol-Version", rs.protocol)
		}
		if r.Method == http.MethodDelete {
			s.forget(r.Context(), sid)
			rs.ss.Close()
			w.WriteHeader(http.StatusNoContent)
			return
		}
		s.deliver.set(sid, r.Context(), rs.t)
		rs.begin()
		defer rs.end()
		if r.Method == http.MethodPost {
			s.touch(r.Context(), sid)
		}
		rs.t.ServeHTTP(w, r)
	})
}

// forget deletes sid's record: the client ended the session.
func (s *State) forget(ctx context.Context, sid string) {
	s.call(ctx, func(ctx context.Context) error { return s.rdb.Del(ctx, s.sessionKey(sid)).Err() })
}

func identityName(r *http.Request) string {
	if id := policy.FromTokenInfo(sdkauth.TokenInfoFromContext(r.Context())); id != nil {
		return id.Name
	}
	return ""
}

// restore rebuilds session sid on this replica from its record, or returns
// the one another request rebuilt meanwhile.
func (s *State) restore(r *http.Request, srv *mcp.Server, sid string, rec *Record) (*restored, error) {
	s.restored.mu.Lock()
	defer s.restored.mu.Unlock()
	if rs := s.restored.m[sid]; rs != nil {
		return rs, nil
	}
	state := rec.State
	if state.InitializeParams != nil && state.InitializedParams == nil {
		// The client sends requests with the session id only after its
		// initialize succeeded; its initialized notification may still be
		// on its way to the replica that made the session.
		state.InitializedParams = &mcp.InitializedParams{}
	}
	if ip := state.InitializeParams; ip != nil && ip.Capabilities != nil && rec.Roots != nil {
		caps := *ip.Capabilities
		caps.RootsV2 = rec.Roots
		caps.Roots.ListChanged = rec.Roots.ListChanged
		params := *ip
		params.Capabilities = &caps
		state.InitializeParams = &params
	}
	t := &mcp.StreamableServerTransport{SessionID: sid}
	ss, err := srv.Connect(r.Context(), t, &mcp.ServerSessionOptions{State: &state})
	if err != nil {
		return nil, err
	}
	rs := &restored{t: t, ss: ss, identity: rec.Identity, protocol: state.NegotiatedProtocolVersion, idle: s.o.SessionIdle}
	rs.timer = time.AfterFunc(rs.idle, func() { ss.Close() })
	s.restored.m[sid] = rs
	go func() {
		_ = ss.Wait()
		s.restored.mu.Lock()
		if s.restored.m[sid] == rs {
			delete(s.restored.m, sid)
			delete(s.restored.touched, sid)
		}
		s.restored.mu.Unlock()
		s.deliver.drop(sid)
		rs.timer.Stop()
	}()
	// The upstreams of this replica learn of the session's subscriptions
	// the way they learnt of them on the first: by the client's request,
	// replayed here into the session (its response is not the client's).
	for i, uri := range rec.Subscriptions {
		body := fmt.Sprintf(`{"jsonrpc":"2.0","id":"fleet-restore-%d","method":"resources/subscribe","params":{"uri":%q}}`, i, uri)
		req := httptest.NewRequestWithContext(r.Context(), http.MethodPost, "/", bytes.NewReader([]byte(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Mcp-Session-Id", sid)
		if rs.protocol != "" {
			req.Header.Set("Mcp-Protocol-Version", rs.protocol)
		}
		t.ServeHTTP(httptest.NewRecorder(), req)
	}
	if s.o.Observer != nil {
		s.o.Observer.Restored()
	}
	s.o.Logger.Debug("session restored from redis", "session", sid, "view", rec.View, "subscriptions", len(rec.Subscriptions))
	return rs, nil
}

// restored is a session this replica rebuilt from its record; requests for
// it are served by its transport, not the SDK's handler (whose table of
// sessions is its own).
type restored struct {
	t        *mcp.StreamableServerTransport
	ss       *mcp.ServerSession
	identity string
	protocol string
	idle     time.Duration

	mu       sync.Mutex
	inFlight int
	timer    *time.Timer
}

// begin and end bracket a request: the idle timer runs only while none is
// in flight, as the SDK's does for its sessions.
func (rs *restored) begin() {
	rs.mu.Lock()
	rs.inFlight++
	rs.timer.Stop()
	rs.mu.Unlock()
}

func (rs *restored) end() {
	rs.mu.Lock()
	if rs.inFlight--; rs.inFlight == 0 {
		rs.timer.Reset(rs.idle)
	}
	rs.mu.Unlock()
}

// restoredSessions is this replica's table of sessions: those it made (local,
// served by the SDK's handler) and those it restored.
type restoredSessions struct {
	mu      sync.Mutex
	m       map[string]*restored
	local   map[string]bool
	touched map[string]time.Time
}

func (t *restoredSessions) init() {
	t.m, t.local, t.touched = map[string]*restored{}, map[string]bool{}, map[string]time.Time{}
}

func (t *restoredSessions) get(sid string) *restored {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m[sid]
}

func (t *restoredSessions) isLocal(sid string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.local[sid]
}

// markLocal notes a session the SDK's handler made here, until it ends.
func (t *restoredSessions) markLocal(sid string, ss *mcp.ServerSession, ended func()) {
	t.mu.Lock()
	if t.local[sid] {
		t.mu.Unlock()
		return
	}
	t.local[sid] = true
	t.mu.Unlock()
	go func() {
		_ = ss.Wait()
		t.mu.Lock()
		delete(t.local, sid)
		delete(t.touched, sid)
		t.mu.Unlock()
		ended()
	}()
}

// due reports whether sid was last touched more than every ago, and if so
// notes it touched now.
func (t *restoredSessions) due(sid string, every time.Duration) bool {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if now.Sub(t.touched[sid]) < every {
		return false
	}
	t.touched[sid] = now
	return true
}

func (t *restoredSessions) closeAll() {
	t.mu.Lock()
	all := make([]*restored, 0, len(t.m))
	for _, rs := range t.m {
		all = append(all, rs)
	}
	t.mu.Unlock()
	for _, rs := range all {
		rs.ss.Close()
	}
}
