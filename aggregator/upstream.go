package aggregator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/sony/gobreaker/v2"
)

// Upstream protocol: the newest version whose server-to-client requests the
// gateway can bridge. A go-sdk client would otherwise try 2026-07-28 first,
// which some stdio servers reject by exiting (see NOTES-go-sdk.md).
const upstreamProtocolVersion = "2025-11-25"

// Defaults for UpstreamSpec fields left zero.
const (
	DefaultCallTimeout  = 60 * time.Second
	DefaultInitTimeout  = 30 * time.Second
	listChangedDebounce = 100 * time.Millisecond
	minRelistInterval   = time.Second // a list_changed storm re-lists at most this often
	maxListPages        = 100
	backoffInitial      = 250 * time.Millisecond
	backoffMax          = 30 * time.Second
	backoffReset        = 60 * time.Second
)

// UpstreamSpec describes one upstream server.
type UpstreamSpec struct {
	// Name identifies the upstream (its key in the config) in logs, status and
	// the /mcp/{name} route.
	Name string
	// Prefix is prepended to its tool and prompt names in the merged catalog
	// ("" = unprefixed).
	Prefix string
	// Kind is "stdio", "http" or "sse", for status output.
	Kind string
	// NewTransport returns the transport for one connection attempt.
	NewTransport func(ctx context.Context) (mcp.Transport, error)
	// Required upstreams must connect on the first attempt or Run fails.
	Required bool
	// CallTimeout bounds one forwarded request. Zero means [DefaultCallTimeout].
	CallTimeout time.Duration
	// InitTimeout bounds connecting and initializing. Zero means [DefaultInitTimeout].
	InitTimeout time.Duration
	// Allow and Deny are glob lists on the upstream's own tool names. An empty
	// Allow allows every tool; Deny wins over Allow.
	Allow, Deny []string
	// Isolation is how downstream sessions share the upstream. Empty means
	// [IsolationShared].
	Isolation Isolation
	// MaxConcurrency caps the calls in flight to the upstream; zero means no
	// cap. Calls over the cap wait for a slot within their timeout.
	MaxConcurrency int
	// Breaker configures the upstream's circuit breaker.
	Breaker BreakerSettings
}

// State is an upstream's connection state.
type State string

// Upstream states.
const (
	StateConnecting State = "connecting"
	StateUp         State = "up"
	StateDown       State = "down"
)

// UpstreamStatus is a snapshot of one upstream for /upstreams and /readyz.
type UpstreamStatus struct {
	Name      string    `json:"name"`
	Transport string    `json:"transport"`
	Required  bool      `json:"required"`
	State     State     `json:"state"`
	Since     time.Time `json:"since"`
	Tools     int       `json:"tools"`
	Prompts   int       `json:"prompts"`
	Resources int       `json:"resources"`
	Templates int       `json:"resource_templates"`
	Restarts  int       `json:"restarts"`
	Breaker   string    `json:"breaker"`
	LastError string    `json:"last_error,omitempty"`
	Server    string    `json:"server,omitempty"`
	Protocol  string    `json:"protocol_version,omitempty"`
}

// upstreamHooks are how an upstream reaches the catalogs that include it.
type upstreamHooks struct {
	changed         func()                                       // lists or state changed
	soleSession     func() *mcp.ServerSession                    // the only downstream session that can see it, if exactly one
	broadcastLog    func(*mcp.LoggingMessageParams)              // to every session that can see it
	resourceUpdated func(*mcp.ResourceUpdatedNotificationParams) // to subscribed sessions
	breakerChanged  func(state string)                           // the circuit breaker's new state
	state           func(up bool)                                // connected or down
	restarted       func()                                       // a reconnect attempt begins
}

// upstream owns the connections to one upstream server: the shared one, which
// also lists its features, and with isolation "session" one per downstream
// session.
type upstream struct {
	spec   UpstreamSpec
	log    *slog.Logger
	sdkLog *slog.Logger
	hooks  upstreamHooks
	ctx    context.Context // run's; session connections live under it
	conns  sync.WaitGroup  // session connection watchers

	breaker *gobreaker.CircuitBreaker[struct{}] // nil when disabled
	slots   chan struct{}                       // concurrency cap; nil when none

	firstOnce sync.Once
	firstDone chan struct{} // closed after the first connection attempt
	firstErr  error         // written before firstDone is closed
	refresh   chan struct{} // list_changed signals, buffered 1

	progressSeq atomic.Uint64
	progress    sync.Map // upstream-side progress token (string) → *progressRoute

	mu           sync.Mutex
	state        State
	since        time.Time
	shared       *conn
	sessionConns map[*mcp.ServerSession]*sessionConn
	lists        *lists
	lastErr      string
	restarts     int
	subs         map[string]int   // resource URI → downstream subscriptions
	logLevel     mcp.LoggingLevel // most verbose level any downstream asked for
}

// sessionConn is an isolated connection being made or made.
type sessionConn struct {
	ready chan struct{}
	c     *conn
	err   error
}

func newUpstream(spec UpstreamSpec, log *slog.Logger, hooks upstreamHooks) *upstream {
	if spec.CallTimeout <= 0 {
		spec.CallTimeout = DefaultCallTimeout
	}
	if spec.InitTimeout <= 0 {
		spec.InitTimeout = DefaultInitTimeout
	}
	if spec.Isolation == "" {
		spec.Isolation = IsolationShared
	}
	u := &upstream{
		spec:         spec,
		log:          log.With("upstream", spec.Name),
		sdkLog:       log.With("upstream", spec.Name, "component", "go-sdk"),
		hooks:        hooks,
		firstDone:    make(chan struct{}),
		refresh:      make(chan struct{}, 1),
		state:        StateConnecting,
		since:        time.Now(),
		sessionConns: map[*mcp.ServerSession]*sessionConn{},
		subs:         map[string]int{},
	}
	if spec.MaxConcurrency > 0 {
		u.slots = make(chan struct{}, spec.MaxConcurrency)
	}
	u.breaker = newBreaker(spec.Name, spec.Breaker, func(from, to gobreaker.State) {
		level := slog.LevelWarn
		if to == gobreaker.StateClosed {
			level = slog.LevelInfo
		}
		u.log.Log(context.Background(), level, "circuit breaker state changed", "from", from.String(), "to", to.String())
		if hooks.breakerChanged != nil {
			hooks.breakerChanged(to.String())
		}
	})
	return u
}

func (u *upstream) toolAllowed(name string) bool {
	if len(u.spec.Allow) > 0 && !globMatch(u.spec.Allow, name) {
		return false
	}
	return !globMatch(u.spec.Deny, name)
}

// run connects, serves and reconnects until ctx is done. It returns after
// every connection, shared and isolated, is closed.
func (u *upstream) run(ctx context.Context) {
	u.ctx = ctx
	defer u.conns.Wait()
	delay := backoffInitial
	for {
		started := time.Now()
		err := u.connectAndServe(ctx)
		u.finishFirst(err)
		if ctx.Err() != nil {
			return
		}
		u.recordConnection(false)
		u.setDown(err)
		if time.Since(started) > backoffReset {
			delay = backoffInitial
		}
		wait := delay/2 + rand.N(delay/2+1) // jitter in [delay/2, delay]
		u.log.Warn("upstream unavailable; reconnecting", "err", err, "retry_in", wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		delay = min(delay*2, backoffMax)
		u.mu.Lock()
		u.restarts++
		u.state = StateConnecting
		u.mu.Unlock()
		u.hooks.restarted()
	}
}

// finishFirst records the outcome of the first connection attempt; later
// calls do nothing.
func (u *upstream) finishFirst(err error) {
	u.firstOnce.Do(func() {
		u.firstErr = err
		close(u.firstDone)
	})
}

// connectAndServe makes the shared connection, lists the upstream's
// features, and then serves list_changed refreshes until the connection ends.
func (u *upstream) connectAndServe(ctx context.Context) error {
	c, err := u.connect(ctx, nil)
	if err != nil {
		return err
	}
	defer c.close()
	ictx, icancel := context.WithTimeout(ctx, u.spec.InitTimeout)
	l, err := u.listAll(ictx, c.cs)
	icancel()
	if err != nil {
		return fmt.Errorf("listing: %w", err)
	}
	u.restore(ctx, c)
	init := c.cs.InitializeResult()
	u.mu.Lock()
	u.shared, u.lists, u.state, u.since, u.lastErr = c, l, StateUp, time.Now(), ""
	u.mu.Unlock()
	u.log.Info("upstream connected", "server", init.ServerInfo.Name, "protocol", init.ProtocolVersion,
		"tools", len(l.tools), "prompts", len(l.prompts), "resources", len(l.resources), "resource_templates", len(l.templates))
	u.hooks.changed()
	u.hooks.state(true)
	u.recordConnection(true)
	u.finishFirst(nil)
	return u.serve(ctx, c)
}

// connect starts a transport and initializes a session; owner is the
// downstream session of an isolated connection, nil for the shared one. The
// context given to the transport lives as long as the connection (the SSE
// transport ties its event stream to it); the init timeout cancels it only if
// initialization has not finished in time.
func (u *upstream) connect(ctx context.Context, owner *mcp.ServerSession) (*conn, error) {
	ctx, cancel := context.WithCancel(ctx)
	timer := time.AfterFunc(u.spec.InitTimeout, cancel)
	t, err := u.spec.NewTransport(ctx)
	if err != nil {
		timer.Stop()
		cancel()
		return nil, err
	}
	wrapped := wireOrder(t)
	if wrapped {
		t = &progressTransport{Transport: t, u: u}
	}
	c := &conn{up: u, owner: owner, cancel: cancel, inflight: map[*inflightCall]struct{}{}}
	opts := u.clientOptions(c, owner)
	if !wrapped {
		opts.ProgressNotificationHandler = func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			u.relayProgressParams(req.Params)
		}
	}
	c.client = mcp.NewClient(&mcp.Implementation{Name: "mcp-gateway", Version: Version}, opts)
	c.client.AddReceivingMiddleware(rootsMiddleware(c))
	cs, err := c.client.Connect(ctx, t, &mcp.ClientSessionOptions{ProtocolVersion: upstreamProtocolVersion})
	if !timer.Stop() {
		// The init timeout fired: even a session that just made it is
		// cancelled, so report the timeout.
		if cs != nil {
			cs.Close()
		}
		cancel()
		return nil, fmt.Errorf("initialize: no answer within %s", u.spec.InitTimeout)
	}
	if err != nil {
		cancel()
		return nil, fmt.Errorf("initialize: %w", err)
	}
	c.cs = cs
	return c, nil
}

// close ends the connection: the session (a stdio child is stopped) and its
// context.
func (c *conn) close() {
	c.cs.Close()
	c.cancel()
}

// restore re-applies what downstream clients asked of the upstream before a
// reconnect: resource subscriptions and the log level.
func (u *upstream) restore(ctx context.Context, c *conn) {
	u.mu.Lock()
	uris := make([]string, 0, len(u.subs))
	for uri := range u.subs {
		uris = append(uris, uri)
	}
	level := u.logLevel
	u.mu.Unlock()
	for _, uri := range uris {
		if err := c.cs.Subscribe(ctx, &mcp.SubscribeParams{URI: uri}); err != nil {
			u.log.Warn("re-subscribing after reconnect failed", "uri", uri, "err", err)
		}
	}
	if level != "" {
		if err := c.cs.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: level}); err != nil {
			u.log.Debug("setting log level after reconnect failed", "err", err)
		}
	}
}

// signalRefresh asks for a re-list after a list_changed on the shared
// connection (the one the catalog comes from).
func (u *upstream) signalRefresh(c *conn) {
	if c.owner != nil {
		return
	}
	select {
	case u.refresh <- struct{}{}:
	default:
	}
}

// serve waits for the connection to end, re-listing (debounced) on each
// list_changed signal.
func (u *upstream) serve(ctx context.Context, c *conn) error {
	cs := c.cs
	ended := make(chan error, 1)
	go func() { ended <- cs.Wait() }()
	var debounce <-chan time.Time
	var lastRelist time.Time
	for {
		select {
		case <-ctx.Done():
			c.close()
			<-ended
			return ctx.Err()
		case err := <-ended:
			if err == nil {
				err = errors.New("connection closed")
			}
			return fmt.Errorf("connection lost: %w", err)
		case <-u.refresh:
			if debounce == nil {
				debounce = time.After(max(listChangedDebounce, time.Until(lastRelist.Add(minRelistInterval))))
			}
		case <-debounce:
			debounce = nil
			lastRelist = time.Now()
			lctx, cancel := context.WithTimeout(ctx, u.spec.CallTimeout)
			l, err := u.listAll(lctx, cs)
			cancel()
			if err != nil {
				u.log.Warn("re-listing after list_changed failed", "err", err)
				continue
			}
			u.mu.Lock()
			u.lists = l
			u.mu.Unlock()
			u.hooks.changed()
		}
	}
}

// listAll lists every feature the upstream advertises.
func (u *upstream) listAll(ctx context.Context, cs *mcp.ClientSession) (*lists, error) {
	caps := cs.InitializeResult().Capabilities
	l := &lists{}
	var err error
	if caps != nil && caps.Tools != nil {
		if l.tools, err = listPages(ctx, u, "tools/list", func(c string) ([]*mcp.Tool, string, error) {
			r, err := cs.ListTools(ctx, &mcp.ListToolsParams{Cursor: c})
			if err != nil {
				return nil, "", err
			}
			return r.Tools, r.NextCursor, nil
		}); err != nil {
			return nil, err
		}
	}
	if caps != nil && caps.Prompts != nil {
		if l.prompts, err = listPages(ctx, u, "prompts/list", func(c string) ([]*mcp.Prompt, string, error) {
			r, err := cs.ListPrompts(ctx, &mcp.ListPromptsParams{Cursor: c})
			if err != nil {
				return nil, "", err
			}
			return r.Prompts, r.NextCursor, nil
		}); err != nil {
			return nil, err
		}
	}
	if caps != nil && caps.Resources != nil {
		if l.resources, err = listPages(ctx, u, "resources/list", func(c string) ([]*mcp.Resource, string, error) {
			r, err := cs.ListResources(ctx, &mcp.ListResourcesParams{Cursor: c})
			if err != nil {
				return nil, "", err
			}
			return r.Resources, r.NextCursor, nil
		}); err != nil {
			return nil, err
		}
		if l.templates, err = listPages(ctx, u, "resources/templates/list", func(c string) ([]*mcp.ResourceTemplate, string, error) {
			r, err := cs.ListResourceTemplates(ctx, &mcp.ListResourceTemplatesParams{Cursor: c})
			if err != nil {
				return nil, "", err
			}
			return r.ResourceTemplates, r.NextCursor, nil
		}); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// listPages follows cursors, stopping at maxListPages or a repeated cursor
// with what it has and a warning: an upstream cannot keep the gateway paging
// forever.
func listPages[T any](ctx context.Context, u *upstream, method string, page func(cursor string) ([]T, string, error)) ([]T, error) {
	var all []T
	seen := map[string]bool{}
	cursor := ""
	for i := 0; ; i++ {
		items, next, err := page(cursor)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", method, err)
		}
		all = append(all, items...)
		if next == "" {
			return all, nil
		}
		if seen[next] || i+1 >= maxListPages {
			u.log.Warn("upstream pagination stopped early", "method", method, "pages", i+1, "items", len(all))
			return all, nil
		}
		seen[next] = true
		cursor = next
	}
}

func (u *upstream) setDown(err error) {
	msg := "connection closed"
	if err != nil {
		msg = err.Error()
	}
	u.mu.Lock()
	u.shared, u.lists, u.state, u.since, u.lastErr = nil, nil, StateDown, time.Now(), msg
	u.mu.Unlock()
	u.hooks.changed()
	u.hooks.state(false)
}

// current returns the shared connection, or an error naming the upstream.
func (u *upstream) current() (*conn, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.shared == nil {
		return nil, &UnavailableError{Upstream: u.spec.Name, State: u.state, LastError: u.lastErr}
	}
	return u.shared, nil
}

// connFor returns the connection a downstream session's request goes to:
// the shared one, or with isolation "session" that session's own, made on
// first use and closed when either side ends.
func (u *upstream) connFor(ss *mcp.ServerSession) (*conn, error) {
	shared, err := u.current()
	if err != nil || u.spec.Isolation != IsolationSession || ss == nil {
		return shared, err
	}
	u.mu.Lock()
	e, ok := u.sessionConns[ss]
	if !ok {
		e = &sessionConn{ready: make(chan struct{})}
		u.sessionConns[ss] = e
	}
	u.mu.Unlock()
	if ok {
		<-e.ready // bounded by the init timeout
		return e.c, e.err
	}
	e.c, e.err = u.connect(u.ctx, ss)
	close(e.ready)
	if e.err != nil {
		u.dropSessionConn(ss, e)
		return nil, fmt.Errorf("isolated connection: %w", e.err)
	}
	u.log.Debug("isolated connection made", "session", ss.ID())
	u.conns.Add(1)
	go u.watchSessionConn(ss, e)
	return e.c, nil
}

// watchSessionConn closes an isolated connection when its downstream session
// ends, the connection itself ends, or the upstream shuts down.
func (u *upstream) watchSessionConn(ss *mcp.ServerSession, e *sessionConn) {
	defer u.conns.Done()
	downstream := make(chan struct{})
	go func() { ss.Wait(); close(downstream) }()
	upstream := make(chan struct{})
	go func() { e.c.cs.Wait(); close(upstream) }()
	select {
	case <-downstream:
	case <-upstream:
	case <-u.ctx.Done():
	}
	u.dropSessionConn(ss, e)
	e.c.close()
	<-upstream
}

func (u *upstream) dropSessionConn(ss *mcp.ServerSession, e *sessionConn) {
	u.mu.Lock()
	if u.sessionConns[ss] == e {
		delete(u.sessionConns, ss)
	}
	u.mu.Unlock()
}

func (u *upstream) snapshot() (*lists, State) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.lists, u.state
}

func (u *upstream) status() UpstreamStatus {
	u.mu.Lock()
	defer u.mu.Unlock()
	st := UpstreamStatus{
		Name: u.spec.Name, Transport: u.spec.Kind, Required: u.spec.Required, State: u.state,
		Since: u.since, Restarts: u.restarts, LastError: u.lastErr, Breaker: u.breakerState(),
	}
	if u.lists != nil {
		st.Tools, st.Prompts = len(u.lists.tools), len(u.lists.prompts)
		st.Resources, st.Templates = len(u.lists.resources), len(u.lists.templates)
	}
	if u.shared != nil {
		if init := u.shared.cs.InitializeResult(); init != nil {
			st.Protocol = init.ProtocolVersion
			if init.ServerInfo != nil {
				st.Server = init.ServerInfo.Name
			}
		}
	}
	return st
}
