package fleet

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcp-gateway/mcp-gateway/policy"
	sdkauth "github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// events is an Observer that reports on channels.
type events struct {
	up       chan bool
	degraded sync.Map // kind → *atomic.Int64
}

func newEvents() *events { return &events{up: make(chan bool, 16)} }

func (e *events) RedisUp(up bool) { e.up <- up }
func (e *events) Degraded(kind string) {
	v, _ := e.degraded.LoadOrStore(kind, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}
func (e *events) Restored() { e.Degraded("restored") }
func (e *events) count(kind string) int64 {
	v, ok := e.degraded.Load(kind)
	if !ok {
		return 0
	}
	return v.(*atomic.Int64).Load()
}

func runState(t *testing.T, o *Options) *State {
	t.Helper()
	st, err := New(o)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- st.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return st
}

func TestNewRejectsBadURL(t *testing.T) {
	for _, u := range []string{"http://x:1", "redis://", "::"} {
		_, err := New(&Options{URL: u})
		assert.Error(t, err, u)
	}
	_, err := New(&Options{URL: "redis://:secret@127.0.0.1:1/0x"})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "secret")
}

// Two replicas share one bucket: what one takes the other cannot.
func TestAllowIsFleetWide(t *testing.T) {
	r := startRedis(t)
	ev := newEvents()
	a := runState(t, &Options{URL: r.url(), Observer: ev})
	require.True(t, <-ev.up)
	b := runState(t, &Options{URL: r.url(), Observer: ev})
	require.True(t, <-ev.up)
	allowed := 0
	for i := range 20 {
		st := a
		if i%2 == 1 {
			st = b
		}
		if ok, _ := st.Allow("alice", 60, 5); ok {
			allowed++
		}
	}
	// A burst of 5 and one token a second: 5 (maybe 6 if a second passed).
	assert.GreaterOrEqual(t, allowed, 5)
	assert.LessOrEqual(t, allowed, 6)
	ok, wait := a.Allow("alice", 60, 5)
	assert.False(t, ok)
	assert.Positive(t, wait)
	ok, _ = b.Allow("bob", 60, 5)
	assert.True(t, ok, "another key has its own bucket")
	ok, _ = a.Allow("alice", -1, 0)
	assert.True(t, ok, "rpm < 0 is unlimited")
	assert.Zero(t, ev.count(KindRateLimit))
}

// Redis stops: decisions come from this replica's buckets, at once; it
// comes back: shared again, with no restart.
func TestRedisDownAndBack(t *testing.T) {
	r := startRedis(t)
	ev := newEvents()
	st := runState(t, &Options{URL: r.url(), Observer: ev, ProbeInterval: 50 * time.Millisecond})
	require.True(t, <-ev.up)
	ok, _ := st.Allow("carol", 600, 10)
	require.True(t, ok)
	r.stop()
	// The first call after the stop fails within the time box and marks
	// Redis down; later ones do not ask it.
	for range 3 {
		ok, _ := st.Allow("carol", 600, 10)
		assert.True(t, ok, "the local bucket is full")
	}
	require.False(t, <-ev.up)
	assert.False(t, st.Up())
	assert.Equal(t, int64(3), ev.count(KindRateLimit))
	r.start(t)
	require.True(t, <-ev.up, "the probe notices Redis is back")
	assert.True(t, st.Up())
	ok, _ = st.Allow("carol", 600, 10)
	assert.True(t, ok)
	assert.Equal(t, int64(3), ev.count(KindRateLimit))
}

// An unreachable Redis at start is not an error: the state starts down.
func TestRedisUnreachableAtStart(t *testing.T) {
	ev := newEvents()
	st := runState(t, &Options{URL: "redis://127.0.0.1:1/0", Observer: ev})
	require.False(t, <-ev.up)
	ok, _ := st.Allow("dave", 60, 1)
	assert.True(t, ok)
	ok, _ = st.Allow("dave", 60, 1)
	assert.False(t, ok, "the local bucket still limits")
}

func TestNoRedisIsInProcess(t *testing.T) {
	st := runState(t, nil)
	assert.False(t, st.Shared())
	ok, _ := st.Allow("erin", 60, 1)
	assert.True(t, ok)
	ok, _ = st.Allow("erin", 60, 1)
	assert.False(t, ok)
	sdk := http.NewServeMux()
	assert.Same(t, sdk, st.Handler("", mcp.NewServer(&mcp.Implementation{Name: "x"}, nil), sdk))
}

// replica is one gateway's MCP side: a server whose sessions the State
// records, behind the SDK's handler wrapped by State.Handler, with the
// identity attached as the front door does.
type replica struct {
	st  *State
	srv *mcp.Server
	ts  *httptest.Server
}

func newReplica(t *testing.T, url string, id *policy.Identity) *replica {
	t.Helper()
	rp := &replica{st: runState(t, &Options{URL: url})}
	rp.srv = mcp.NewServer(&mcp.Implementation{Name: "replica"}, &mcp.ServerOptions{
		SubscribeHandler:   func(context.Context, *mcp.SubscribeRequest) error { return nil },
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
	})
	mcp.AddTool(rp.srv, &mcp.Tool{Name: "who"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		ci := req.Session.InitializeParams().ClientInfo
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: ci.Name + "@" + rp.ts.URL}}}, nil, nil
	})
	rp.st.Track("", rp.srv)
	sdk := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return rp.srv }, nil)
	inner := sdkauth.RequireBearerToken(func(context.Context, string, *http.Request) (*sdkauth.TokenInfo, error) {
		return id.TokenInfo(), nil
	}, &sdkauth.RequireBearerTokenOptions{AllowMissingExpiration: true})(rp.st.Handler("", rp.srv, sdk))
	rp.ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Set("Authorization", "Bearer x")
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		rp.ts.Close()
		for ss := range rp.srv.Sessions() {
			ss.Close() // the SDK's handler has no Close; its sessions end with the process
		}
	})
	return rp
}

// roundRobin sends each request to the next replica, as a balancer with no
// affinity does.
type roundRobin struct {
	targets []string
	n       atomic.Int64
}

func (rr *roundRobin) RoundTrip(r *http.Request) (*http.Response, error) {
	target := rr.targets[int(rr.n.Add(1))%len(rr.targets)]
	r = r.Clone(r.Context())
	r.URL.Host = target[len("http://"):]
	r.Host = r.URL.Host
	return http.DefaultTransport.RoundTrip(r)
}

// A session made on one replica is served by the others: its client info,
// protocol version, log level and subscriptions come with it.
func TestSessionOnAnyReplica(t *testing.T) {
	r := startRedis(t)
	alice := policy.New(policy.Identity{Kind: policy.KindAPIKey, Owner: "alice", Upstreams: []string{policy.AllUpstreams},
		Scopes: []string{policy.ScopeRead, policy.ScopeWrite}, Limit: policy.Limit{RPM: policy.Unlimited}})
	reps := []*replica{newReplica(t, r.url(), alice), newReplica(t, r.url(), alice), newReplica(t, r.url(), alice)}
	rr := &roundRobin{}
	for _, rp := range reps {
		rr.targets = append(rr.targets, rp.ts.URL)
	}
	c := mcp.NewClient(&mcp.Implementation{Name: "fleet-client"}, nil)
	cs, err := c.Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: reps[0].ts.URL, HTTPClient: &http.Client{Transport: rr}, DisableStandaloneSSE: true}, nil)
	require.NoError(t, err)
	defer cs.Close()
	require.NoError(t, cs.SetLoggingLevel(t.Context(), &mcp.SetLoggingLevelParams{Level: "warning"}))
	require.NoError(t, cs.Subscribe(t.Context(), &mcp.SubscribeParams{URI: "file:///a"}))
	seen := map[string]bool{}
	for range 9 {
		res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "who"})
		require.NoError(t, err)
		require.False(t, res.IsError)
		text := res.Content[0].(*mcp.TextContent).Text
		assert.Contains(t, text, "fleet-client@", "the restored session has the client's info")
		seen[text] = true
	}
	assert.Len(t, seen, 3, "every replica served the session")
	rec, ok := reps[1].st.load(t.Context(), cs.ID())
	require.True(t, ok)
	require.NotNil(t, rec)
	assert.Equal(t, alice.Name, rec.Identity)
	assert.Equal(t, mcp.LoggingLevel("warning"), rec.State.LogLevel)
	assert.Equal(t, []string{"file:///a"}, rec.Subscriptions)
	assert.NotEmpty(t, rec.State.NegotiatedProtocolVersion)
}
