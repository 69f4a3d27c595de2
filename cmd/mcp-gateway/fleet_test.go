package main

// The replica set-up with real parts: a real redis-server, a real haproxy in
// round-robin mode (no affinity) and three gateway binaries behind it.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// needFleetTools returns the paths of redis-server and haproxy. Without
// them the test is skipped, saying so; under CI=true it fails (.ci/run
// installs both).
func needFleetTools(t testing.TB) (redis, haproxy string) {
	t.Helper()
	if bins.gateway == "" {
		t.Skip("replica test: skipped with -short")
	}
	var missing []string
	redis, err := exec.LookPath("redis-server")
	if err != nil {
		missing = append(missing, "redis-server")
	}
	haproxy, err = exec.LookPath("haproxy")
	if err != nil {
		missing = append(missing, "haproxy")
	}
	if len(missing) > 0 {
		msg := "replica test: " + strings.Join(missing, " and ") + " not installed (apt-get install -y redis-server haproxy)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "; CI must run it")
		}
		t.Skip(msg)
	}
	return redis, haproxy
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitPort waits until something accepts on 127.0.0.1:port.
func waitPort(t testing.TB, port int, what string, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case err := <-done:
			t.Fatalf("%s exited before listening: %v", what, err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not listen on %d", what, port)
		}
		time.Sleep(20 * time.Millisecond) // a child's port has no event to wait on
	}
}

// fleetRedis is a real redis-server on a loopback port.
type fleetRedis struct {
	bin, dir string
	port     int
	cmd      *exec.Cmd
	done     chan error
}

func startFleetRedis(t testing.TB, bin string) *fleetRedis {
	t.Helper()
	r := &fleetRedis{bin: bin, dir: t.TempDir(), port: freePort(t)}
	r.start(t)
	t.Cleanup(r.stop)
	return r
}

func (r *fleetRedis) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

func (r *fleetRedis) start(t testing.TB) {
	t.Helper()
	r.cmd = exec.Command(r.bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", r.dir, "--logfile", filepath.Join(r.dir, "redis.log"))
	require.NoError(t, r.cmd.Start())
	r.done = make(chan error, 1)
	go func() { r.done <- r.cmd.Wait() }()
	waitPort(t, r.port, "redis-server", r.done)
}

func (r *fleetRedis) stop() {
	if r.cmd != nil {
		r.cmd.Process.Kill()
		<-r.done
		r.cmd = nil
	}
}

// recorder is the upstream every replica forwards to: its tool "record"
// counts each id it is called with, so a call run twice or never shows.
type recorder struct {
	mu    sync.Mutex
	calls map[string]int
	url   string
}

func startRecorder(t testing.TB) *recorder {
	t.Helper()
	rec := &recorder{calls: map[string]int{}}
	srv := mcp.NewServer(&mcp.Implementation{Name: "recorder", Version: "1"}, nil)
	type args struct {
		ID string `json:"id"`
	}
	mcp.AddTool(srv, &mcp.Tool{Name: "record", Description: "Counts a call by id."}, func(_ context.Context, _ *mcp.CallToolRequest, a args) (*mcp.CallToolResult, any, error) {
		rec.mu.Lock()
		rec.calls[a.ID]++
		rec.mu.Unlock()
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "recorded " + a.ID}}}, nil, nil
	})
	ts := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
	t.Cleanup(func() {
		ts.Close()
		for ss := range srv.Sessions() {
			ss.Close()
		}
	})
	rec.url = ts.URL
	return rec
}

func (rec *recorder) snapshot() map[string]int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	out := make(map[string]int, len(rec.calls))
	for k, v := range rec.calls {
		out[k] = v
	}
	return out
}

// fleet is three gateway replicas on fixed ports behind haproxy.
type replicaSet struct {
	config string
	ports  []int
	reps   []*gatewayProcess
	lbURL  string // http://127.0.0.1:PORT of haproxy
}

func startFleet(t testing.TB, haproxyBin, config string, n int) *replicaSet {
	t.Helper()
	f := &replicaSet{config: config}
	for i := range n {
		f.ports = append(f.ports, freePort(t))
		f.reps = append(f.reps, nil)
		f.startReplica(t, i)
	}
	lbPort := freePort(t)
	var servers strings.Builder
	for i, p := range f.ports {
		fmt.Fprintf(&servers, "  server g%d 127.0.0.1:%d check inter 100ms fall 1 rise 1\n", i, p)
	}
	// Round robin, no affinity. A request whose connection to a replica
	// failed, or that got no byte back (a replica closing an idle
	// connection as it shuts down), is sent to another: such a request was
	// never run.
	cfg := fmt.Sprintf(`global
  maxconn 4096
defaults
  mode http
  timeout connect 1s
  timeout check 2s
  timeout client 120s
  timeout server 120s
  timeout http-keep-alive 10s
  option redispatch
  retries 3
  retry-on conn-failure empty-response
frontend fe
  bind 127.0.0.1:%d
  default_backend gateways
backend gateways
  balance roundrobin
  option httpchk
  http-check send meth GET uri /health ver HTTP/1.1 hdr Host 127.0.0.1
%s`, lbPort, servers.String())
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o600))
	cmd := exec.Command(haproxyBin, "-db", "-f", path)
	stderr := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = stderr, stderr
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		<-done
		if t.Failed() {
			t.Logf("haproxy output:\n%s", stderr)
		}
	})
	waitPort(t, lbPort, "haproxy", done)
	f.lbURL = fmt.Sprintf("http://127.0.0.1:%d", lbPort)
	f.waitAllUp(t)
	return f
}

func (f *replicaSet) startReplica(t testing.TB, i int) {
	t.Helper()
	f.reps[i] = startGatewayAt(t, f.config, fmt.Sprintf("127.0.0.1:%d", f.ports[i]))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("replica %d stderr (tail):\n%s", i, tail(f.reps[i].stderr.String(), 4000))
		}
	})
}

// waitAllUp waits until haproxy's health checks have found every replica:
// /health through it has been answered by each of them.
func (f *replicaSet) waitAllUp(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		ok := 0
		for range 2 * len(f.ports) {
			resp, err := http.Get(f.lbURL + "/health")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					ok++
				}
			}
		}
		if ok == 2*len(f.ports) {
			time.Sleep(300 * time.Millisecond) // three health-check rounds, so that every server is marked up
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("haproxy did not find the replicas healthy")
}

// startGatewayAt is startHTTP on a fixed address, so that a replica comes
// back where the balancer expects it.
func startGatewayAt(t testing.TB, config, addr string) *gatewayProcess {
	t.Helper()
	g := &gatewayProcess{stderr: &syncBuffer{}, done: make(chan error, 1), url: "http://" + addr}
	g.cmd = exec.Command(bins.gateway, "serve", "--http="+addr, "--config", config, "--log-format", "json", "--log-level", "info")
	g.cmd.Stderr = g.stderr
	require.NoError(t, g.cmd.Start())
	go func() { g.done <- g.cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(g.stderr.String(), "serving MCP over streamable HTTP") {
		select {
		case err := <-g.done:
			t.Fatalf("gateway exited: %v\n%s", err, g.stderr)
		case <-time.After(20 * time.Millisecond): // its log has no event to wait on
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway did not listen on %s within 30s\n%s", addr, g.stderr)
		}
	}
	t.Cleanup(func() { g.terminate(t) })
	return g
}

// writeConfigTB is writeConfig for tests and benchmarks alike.
func writeConfigTB(t testing.TB, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "mcp-gateway.json")
	require.NoError(t, os.WriteFile(path, b, 0o600))
	return path
}

// terminate is gatewayProcess.stop for tests and benchmarks alike.
func (g *gatewayProcess) terminate(t testing.TB) {
	if g.cmd.ProcessState != nil {
		return
	}
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-g.done:
		g.done <- err
	case <-time.After(20 * time.Second):
		g.cmd.Process.Kill()
		t.Errorf("gateway did not exit within 20s of SIGTERM\n%s", g.stderr)
		g.done <- <-g.done
	}
}

// fleetMetric scrapes one unlabelled metric from a replica's /metrics.
func fleetMetric(t testing.TB, base, name string) float64 {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	req.Header.Set("X-Api-Key", fleetKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			require.NoError(t, err)
			return f
		}
	}
	t.Fatalf("%s/metrics has no %s", base, name)
	return 0
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// keyTransport adds the API key to every request.
type keyTransport struct{ key string }

func (k keyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Api-Key", k.key)
	return http.DefaultTransport.RoundTrip(r)
}

const (
	fleetKey        = "fleet-e2e-unlimited-key-0123456789"
	fleetLimitedKey = "fleet-e2e-limited-key-0123456789ab"
	// The limited key's rate: 1,200 a minute (20 a second), burst 20.
	fleetRPM, fleetBurst = 1200, 20
)

func fleetConfig(t testing.TB, redisURL string, servers map[string]any) string {
	t.Helper()
	return writeConfigTB(t, map[string]any{
		"mcpServers": servers,
		"gateway": map[string]any{
			"redis": map[string]any{"url": redisURL},
			"auth": map[string]any{"api_keys": []map[string]any{
				{"key": fleetKey, "owner": "fleet", "allowed_upstreams": []string{"*"}, "scopes": []string{"read", "write"}, "rate_limit_rpm": -1},
				{"key": fleetLimitedKey, "owner": "limited", "allowed_upstreams": []string{"*"}, "scopes": []string{"read", "write"},
					"rate_limit_rpm": fleetRPM, "burst": fleetBurst},
			}},
		},
	})
}

func connectFleet(t testing.TB, url, key, name string) *mcp.ClientSession {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: name, Version: "test"}, nil).Connect(ctx,
		&mcp.StreamableClientTransport{Endpoint: url, HTTPClient: &http.Client{Transport: keyTransport{key}}}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { cs.Close() })
	return cs
}

// TestFleetBehindRoundRobin: three replicas sharing one Redis behind a
// round-robin haproxy serve every session on any replica, lose no call and
// run none twice while one replica is stopped and started again, and hold
// one rate limit for the fleet.
func TestFleetBehindRoundRobin(t *testing.T) {
	redisBin, haproxyBin := needFleetTools(t)
	r := startFleetRedis(t, redisBin)
	rec := startRecorder(t)
	cfg := fleetConfig(t, r.url(), map[string]any{"rec": map[string]any{"url": rec.url}})
	f := startFleet(t, haproxyBin, cfg, 3)

	t.Run("2000 calls from 20 sessions while a replica restarts", func(t *testing.T) {
		const sessions, perSession = 20, 100
		var css []*mcp.ClientSession
		for i := range sessions {
			css = append(css, connectFleet(t, f.lbURL+"/mcp", fleetKey, fmt.Sprintf("client-%d", i)))
		}
		var done atomic.Int64
		restartAt, restarted := int64(sessions*perSession/4), make(chan struct{})
		go func() {
			defer close(restarted)
			for done.Load() < restartAt {
				time.Sleep(5 * time.Millisecond) // waiting on the calls' progress, which has no event
			}
			// SIGTERM: the replica stops accepting, finishes its calls in
			// flight, ends its event streams; then it starts again.
			f.reps[1].terminate(t)
			t.Logf("replica 1 stopped after %d calls", done.Load())
			f.startReplica(t, 1)
			t.Logf("replica 1 started again after %d calls", done.Load())
		}()
		var wg sync.WaitGroup
		errs := make(chan error, sessions*perSession)
		for i, cs := range css {
			wg.Go(func() {
				for j := range perSession {
					id := fmt.Sprintf("%d-%d", i, j)
					res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: "rec__record", Arguments: map[string]any{"id": id}})
					switch {
					case err != nil:
						errs <- fmt.Errorf("call %s: %w", id, err)
					case res.IsError || len(res.Content) != 1 || res.Content[0].(*mcp.TextContent).Text != "recorded "+id:
						errs <- fmt.Errorf("call %s: unexpected result %+v", id, res.Content)
					}
					done.Add(1)
				}
			})
		}
		wg.Wait()
		<-restarted
		close(errs)
		var failed []string
		for err := range errs {
			failed = append(failed, err.Error())
		}
		assert.Empty(t, failed, "every call answered")
		calls := rec.snapshot()
		var lost, twice []string
		for i := range sessions {
			for j := range perSession {
				id := fmt.Sprintf("%d-%d", i, j)
				switch n := calls[id]; {
				case n == 0:
					lost = append(lost, id)
				case n > 1:
					twice = append(twice, id)
				}
			}
		}
		assert.Empty(t, lost, "calls that never reached the upstream")
		assert.Empty(t, twice, "calls run more than once")
		assert.Len(t, calls, sessions*perSession)
		// The sessions moved: every replica (the restarted one in its new
		// process) served sessions another one made.
		for i, g := range f.reps {
			assert.Positive(t, fleetMetric(t, g.url, "mcp_gateway_sessions_restored_total"), "replica %d restored no session", i)
		}
	})

	t.Run("the rate limit is the fleet's", func(t *testing.T) {
		cs := connectFleet(t, f.lbURL+"/mcp", fleetLimitedKey, "limited")
		// Let the bucket fill again after the session's own requests.
		time.Sleep(time.Duration(fleetBurst) * time.Minute / fleetRPM)
		hc := &http.Client{}
		var allowed, refused, other atomic.Int64
		const workers, window = 6, 6 * time.Second
		start := time.Now()
		var wg sync.WaitGroup
		var n atomic.Int64
		for range workers {
			wg.Go(func() {
				for time.Since(start) < window {
					body := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"ping"}`, n.Add(1))
					req, _ := http.NewRequest(http.MethodPost, f.lbURL+"/mcp", strings.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("Accept", "application/json, text/event-stream")
					req.Header.Set("Mcp-Session-Id", cs.ID())
					req.Header.Set("X-Api-Key", fleetLimitedKey)
					resp, err := hc.Do(req)
					if err != nil {
						other.Add(1)
						continue
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					switch resp.StatusCode {
					case http.StatusOK:
						allowed.Add(1)
					case http.StatusTooManyRequests:
						refused.Add(1)
					default:
						other.Add(1)
					}
				}
			})
		}
		wg.Wait()
		elapsed := time.Since(start)
		want := float64(fleetBurst) + elapsed.Seconds()*fleetRPM/60
		got := float64(allowed.Load())
		t.Logf("in %v: %d allowed (the fleet's limit allows %.0f), %d refused, %d other", elapsed.Round(time.Millisecond), allowed.Load(), want, refused.Load(), other.Load())
		assert.Zero(t, other.Load())
		assert.Positive(t, refused.Load(), "the limit was reached")
		assert.InEpsilon(t, want, got, 0.05, "allowed requests within 5%% of the fleet-wide limit (per replica it would be about 3×)")
	})
}

// TestFleetTypeScriptClient runs the TypeScript SDK client's whole scenario
// (the interop harness: tools, resources, prompts, sampling, elicitation,
// roots, progress, logging, subscriptions) through a round-robin haproxy in
// front of three replicas sharing one Redis.
func TestFleetTypeScriptClient(t *testing.T) {
	redisBin, haproxyBin := needFleetTools(t)
	e := needInterop(t)
	r := startFleetRedis(t, redisBin)
	everythingURL := startEverythingHTTP(t, e)
	fx := newInteropFixture(t, e, everythingURL)
	raw, err := os.ReadFile(fx.config)
	require.NoError(t, err)
	var cfg map[string]any
	require.NoError(t, json.Unmarshal(raw, &cfg))
	cfg["gateway"] = map[string]any{"redis": map[string]any{"url": r.url()}}
	fx.config = writeConfig(t, cfg)
	f := startFleet(t, haproxyBin, fx.config, 3)
	ups := interopUpstreams(fx)
	spec := interopSpecFor(ups, prefixed)
	spec.Roots = fx.roots()
	out := runInteropClient(t, e, []string{"--http", f.lbURL + "/mcp"}, spec)
	require.NotNil(t, out.ServerInfo)
	assert.Equal(t, "mcp-gateway", out.ServerInfo.Name)
	checkInterop(t, out, ups, prefixed)
	checkMemoryFile(t, fx)
	restored := 0.0
	for _, g := range f.reps {
		restored += fleetMetric(t, g.url, "mcp_gateway_sessions_restored_total")
	}
	assert.Positive(t, restored, "the session was served by replicas that did not make it")
}

// BenchmarkFleetThroughput measures tools/call calls a second through
// haproxy (round robin) to 1 and to 3 replicas sharing one Redis, from 20
// sessions, each call to the recording upstream (short runs; run it nice'd):
//
//	nice -n 10 go test -run '^$' -bench BenchmarkFleetThroughput -benchtime 4000x ./cmd/mcp-gateway/
func BenchmarkFleetThroughput(b *testing.B) {
	redisBin, haproxyBin := needFleetTools(b)
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("replicas=%d", n), func(b *testing.B) {
			r := startFleetRedis(b, redisBin)
			rec := startRecorder(b)
			f := startFleet(b, haproxyBin, fleetConfig(b, r.url(), map[string]any{"rec": map[string]any{"url": rec.url}}), n)
			const sessions = 20
			var css []*mcp.ClientSession
			for i := range sessions {
				css = append(css, connectFleet(b, f.lbURL+"/mcp", fleetKey, fmt.Sprintf("bench-%d", i)))
			}
			var next atomic.Int64
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for _, cs := range css {
				wg.Go(func() {
					for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
						if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "rec__record", Arguments: map[string]any{"id": strconv.FormatInt(i, 10)}}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
		})
	}
}
