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

	"github.com/mcp-gateway/mcp-gateway/fault"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/sony/gobreaker/v2"
)

// upstreamProtocolVersion is the newest version whose server-to-client
// requests the gateway can bridge. A go-sdk client would otherwise try
// 2026-07-28 first, which some stdio servers reject by exiting.
const upstreamProtocolVersion = "2025-11-25"

// Defaults for UpstreamSpec fields left zero, and the reconnect schedule.
const (
	DefaultCallTimeout  = 60 * time.Second
	DefaultInitTimeout  = 30 * time.Second
	listChangedDebounce = 100 * time.Millisecond
	minRelistInterval   = time.Second // a list_changed storm re-lists at most this often
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
	// NewTransport returns the transport for one connection attempt. A
	// transport whose connections the gateway may wrap, or one that is a
	// [ByteTapper], has its progress relayed in wire order.
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
	// StateNeedsLogin is an upstream that refused to connect until a user
	// logs in to it (an OAuth upstream without a token it accepts).
	StateNeedsLogin State = "needs_login"
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

// upstreamEnv is what an upstream gets from the aggregator that runs it.
type upstreamEnv struct {
	log  *slog.Logger
	obs  Observer
	down downstream
	// changed is told that the upstream's lists or state changed.
	changed func(upstream string)
	impl    *mcp.Implementation     // the clientInfo it sends
	caps    *mcp.ClientCapabilities // what its shared session declares; nil means everything bridged

	governor Governor // nil: lists are served as listed
	noRelay  bool     // the relay lane is off
}

// upstream is one upstream server's connection lifecycle: it connects,
// lists, serves list_changed re-lists, and reconnects with backoff, keeping
// the shared session (and with isolation "session" one per downstream
// session). What it relays is its sessions' job; what clients asked of it
// (subscriptions, log level) is its interest's; calls go through its guard.
type upstream struct {
	spec     UpstreamSpec
	log      *slog.Logger
	env      upstreamEnv
	guard    *guard
	asks     *interest
	progress *progressRelay
	dialCfg  *dialConfig
	lists    atomic.Pointer[lists] // nil while down
	listed   atomic.Pointer[lists] // as last listed, for Regovern

	firstOnce sync.Once
	firstDone chan struct{} // closed after the first connection attempt
	firstErr  error         // written before firstDone is closed
	refresh   chan struct{} // list_changed signals, buffered 1
	iso       *isolated     // set when run starts, for isolation "session"
	isoReady  chan struct{} // closed when iso is set

	calls drain                    // requests in flight, waited for before a stop
	next  atomic.Pointer[upstream] // the upstream that replaced this one, if any
	stop  context.CancelFunc       // ends run; set when it starts
	done  chan struct{}            // closed when run returns

	mu       sync.Mutex
	state    State
	since    time.Time
	shared   *session
	lastErr  string
	loginCmd string // the login command, in StateNeedsLogin
	restarts int
}

func newUpstream(spec UpstreamSpec, env upstreamEnv) *upstream {
	if spec.CallTimeout <= 0 {
		spec.CallTimeout = DefaultCallTimeout
	}
	if spec.InitTimeout <= 0 {
		spec.InitTimeout = DefaultInitTimeout
	}
	if spec.Isolation == "" {
		spec.Isolation = IsolationShared
	}
	log := env.log.With("upstream", spec.Name)
	u := &upstream{
		spec:      spec,
		log:       log,
		env:       env,
		asks:      newInterest(),
		progress:  &progressRelay{log: log},
		firstDone: make(chan struct{}),
		refresh:   make(chan struct{}, 1),
		isoReady:  make(chan struct{}),
		done:      make(chan struct{}),
		state:     StateConnecting,
		since:     time.Now(),
	}
	u.guard = newGuard(spec, log, func(from, to gobreaker.State) {
		level := slog.LevelWarn
		if to == gobreaker.StateClosed {
			level = slog.LevelInfo
		}
		log.Log(context.Background(), level, "circuit breaker state changed", "from", from.String(), "to", to.String())
		env.obs.BreakerState(spec.Name, to.String())
	})
	u.guard.onResult = u.noteLogin
	u.dialCfg = &dialConfig{
		upstream:    spec.Name,
		transport:   spec.NewTransport,
		initTimeout: spec.InitTimeout,
		impl:        env.impl,
		caps:        env.caps,
		log:         log,
		sdkLog:      log.With("component", "go-sdk"),
		down:        env.down,
		progress:    u.progress,
		noRelay:     env.noRelay,
		onListChanged: func() {
			select {
			case u.refresh <- struct{}{}:
			default:
			}
		},
	}
	return u
}

func (u *upstream) toolAllowed(name string) bool {
	if len(u.spec.Allow) > 0 && !globMatch(u.spec.Allow, name) {
		return false
	}
	return !globMatch(u.spec.Deny, name)
}

// run connects, serves and reconnects until ctx is done. It returns after
// every session, shared and isolated, is closed.
func (u *upstream) run(ctx context.Context) {
	u.iso = newIsolated(ctx, func(ctx context.Context, owner *mcp.ServerSession) (*session, error) {
		return dial(ctx, u.dialCfg, owner)
	})
	close(u.isoReady)
	defer u.iso.wait()
	delay := backoffInitial
	for {
		started := time.Now()
		err := u.connectAndServe(ctx)
		u.finishFirst(err)
		if ctx.Err() != nil {
			return
		}
		if fault.Classify(err).Breaker != fault.BreakerIgnore {
			// An upstream waiting for a login is not failing: the breaker
			// does not count it (the calls it refuses are not counted either).
			u.guard.recordConnection(false)
		}
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
		u.env.obs.UpstreamRestart(u.spec.Name)
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

// connectAndServe makes the shared session, lists the upstream's features,
// and then serves list_changed re-lists until the session ends.
func (u *upstream) connectAndServe(ctx context.Context) error {
	s, err := dial(ctx, u.dialCfg, nil)
	if err != nil {
		return err
	}
	defer s.close()
	ictx, icancel := context.WithTimeout(ctx, u.spec.InitTimeout)
	l, err := listAll(ictx, s.cs, u.log)
	icancel()
	if err != nil {
		return fmt.Errorf("listing: %w", err)
	}
	u.asks.restore(ctx, s.cs, u.log)
	init := s.cs.InitializeResult()
	u.storeLists(l)
	u.mu.Lock()
	u.shared, u.state, u.since, u.lastErr = s, StateUp, time.Now(), ""
	u.mu.Unlock()
	u.log.Info("upstream connected", "server", init.ServerInfo.Name, "protocol", init.ProtocolVersion,
		"tools", len(l.tools), "prompts", len(l.prompts), "resources", len(l.resources), "resource_templates", len(l.templates))
	u.env.changed(u.spec.Name)
	u.env.obs.UpstreamState(u.spec.Name, true)
	u.guard.recordConnection(true)
	u.finishFirst(nil)
	return u.serve(ctx, s)
}

// serve waits for the session to end, re-listing (debounced) on each
// list_changed signal.
func (u *upstream) serve(ctx context.Context, s *session) error {
	ended := make(chan error, 1)
	go func() { ended <- s.cs.Wait() }()
	var debounce <-chan time.Time
	var lastRelist time.Time
	for {
		select {
		case <-ctx.Done():
			s.close()
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
			l, err := listAll(lctx, s.cs, u.log)
			cancel()
			if err != nil {
				u.log.Warn("re-listing after list_changed failed", "err", err)
				continue
			}
			u.storeLists(l)
			u.env.changed(u.spec.Name)
		}
	}
}

func (u *upstream) setDown(err error) {
	msg := "connection closed"
	if err != nil {
		msg = err.Error()
	}
	state := StateDown
	cmd, needsLogin := fault.LoginCommand(err)
	if needsLogin {
		state = StateNeedsLogin
	}
	u.lists.Store(nil)
	u.mu.Lock()
	u.shared, u.state, u.since, u.lastErr, u.loginCmd = nil, state, time.Now(), msg, cmd
	u.mu.Unlock()
	u.env.changed(u.spec.Name)
	u.env.obs.UpstreamState(u.spec.Name, false)
}

// noteLogin follows the login state of a connected upstream from the
// outcome of a call on its shared session (an isolated session's
// credentials may be one identity's own): a call refused for want of a login (the grant was revoked, the
// refresh refused) shows the upstream as needs_login while its session
// stays open, and the next call that succeeds (a login in another process
// took effect) shows it up again. A call that wants only more scope leaves
// the state alone: the token still serves the others.
func (u *upstream) noteLogin(err error) {
	blocked := err != nil && fault.LoginBlocksUpstream(err)
	u.mu.Lock()
	changed := false
	switch {
	case blocked && u.shared != nil && u.state == StateUp:
		cmd, _ := fault.LoginCommand(err)
		u.state, u.since, u.lastErr, u.loginCmd = StateNeedsLogin, time.Now(), err.Error(), cmd
		changed = true
	case err == nil && u.shared != nil && u.state == StateNeedsLogin:
		u.state, u.since, u.lastErr, u.loginCmd = StateUp, time.Now(), "", ""
		changed = true
	}
	u.mu.Unlock()
	if changed && blocked {
		u.log.Warn("upstream needs a login; its calls fail until one is made", "err", err)
	}
	if changed && !blocked {
		u.log.Info("upstream logged in again")
	}
}

// current returns the shared session, or an error naming the upstream.
func (u *upstream) current() (*session, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.shared == nil && u.state == StateNeedsLogin {
		return nil, fault.NeedsLogin(u.spec.Name, u.loginCmd, errors.New(u.lastErr))
	}
	if u.shared == nil {
		return nil, fault.Unavailable(u.spec.Name, string(u.state), errors.New(u.lastErr))
	}
	return u.shared, nil
}

// sessionFor returns the session a downstream session's request goes to:
// the shared one, or with isolation "session" that session's own.
func (u *upstream) sessionFor(ctx context.Context, ss *mcp.ServerSession) (*session, error) {
	shared, err := u.current()
	if err != nil || u.spec.Isolation != IsolationSession || ss == nil {
		return shared, err
	}
	<-u.isoReady // the shared session exists, so run has started
	s, err := u.iso.get(ctx, ss)
	if err == nil {
		u.log.Debug("isolated connection ready", "session", ss.ID())
	}
	return s, err
}

// sessionOf returns the session a downstream session uses if it has one: its
// own with isolation "session" (if made yet), else the shared one.
func (u *upstream) sessionOf(ss *mcp.ServerSession) *session {
	if u.spec.Isolation == IsolationSession {
		select {
		case <-u.isoReady:
			return u.iso.made(ss)
		default:
			return nil
		}
	}
	s, _ := u.current()
	return s
}

// connState returns the upstream's connection state.
func (u *upstream) connState() State {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.state
}

func (u *upstream) status() UpstreamStatus {
	l := u.lists.Load()
	u.mu.Lock()
	defer u.mu.Unlock()
	st := UpstreamStatus{
		Name: u.spec.Name, Transport: u.spec.Kind, Required: u.spec.Required, State: u.state,
		Since: u.since, Restarts: u.restarts, LastError: u.lastErr, Breaker: u.guard.breakerState(),
	}
	if l != nil {
		st.Tools, st.Prompts = len(l.tools), len(l.prompts)
		st.Resources, st.Templates = len(l.resources), len(l.templates)
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
