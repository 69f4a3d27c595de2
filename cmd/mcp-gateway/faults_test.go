package main

// Fault-injection tests: the real gateway binary in front of
// testdata/upstreams/faulty (one misbehaviour per --mode) and a healthy echo
// upstream. Each test bounds the time to an answer with explicit deadlines,
// checks recovery, proves that echo keeps serving, and checks that no
// upstream process outlives the gateway. See ../../shared/SECURITY.md,
// sections U and G.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Gateway error codes (aggregator/errors.go).
const (
	faultCodeUnavailable = -32000
	faultCodeTimeout     = -32001
)

// faultyUpstream is a config entry running testdata/upstreams/faulty.
func faultyUpstream(mode string, args ...string) map[string]any {
	return map[string]any{"command": bins.faulty, "args": append([]string{"--mode", mode}, args...)}
}

// faultGateway is the gateway binary serving stdio with a client connected.
type faultGateway struct {
	cmd   *exec.Cmd
	cs    *mcp.ClientSession
	log   *boundedLog
	took  time.Duration // start + initialize
	once  sync.Once
	code  int
	close time.Duration
}

// startFaultGateway starts `mcp-gateway serve` over stdio and connects a
// client. Its stderr is kept bounded (floods would otherwise fill the test's
// memory). The gateway is shut down (stdin closed) when the test ends.
func startFaultGateway(t *testing.T, configPath string, opts *mcp.ClientOptions) *faultGateway {
	t.Helper()
	g := &faultGateway{log: &boundedLog{}}
	g.cmd = exec.Command(bins.gateway, "serve", "--config", configPath, "--log-format", "json", "--log-level", "debug")
	g.cmd.Stderr = g.log
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	// A long TerminateDuration: closing measures the gateway's own shutdown,
	// not the SDK's SIGTERM.
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "faults", Version: "test"}, opts).
		Connect(ctx, &mcp.CommandTransport{Command: g.cmd, TerminateDuration: 20 * time.Second}, nil)
	require.NoError(t, err, "gateway log:\n%s", g.log.Tail(8<<10))
	g.took = time.Since(start)
	g.cs = cs
	t.Cleanup(func() { g.shutdown() })
	return g
}

func (g *faultGateway) pid() int { return g.cmd.Process.Pid }

// shutdown closes the gateway's stdin and waits for it to exit; it returns
// the exit code and how long the exit took.
func (g *faultGateway) shutdown() (int, time.Duration) {
	g.once.Do(func() {
		start := time.Now()
		g.cs.Close()
		g.close = time.Since(start)
		g.code = g.cmd.ProcessState.ExitCode()
	})
	return g.code, g.close
}

// boundedLog keeps the first 1 MiB and about the last 1 MiB written to it,
// and counts the rest. It is safe for concurrent use.
type boundedLog struct {
	mu    sync.Mutex
	head  []byte
	tail  []byte
	total int64
}

const boundedLogPart = 1 << 20

func (b *boundedLog) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(p)
	b.total += int64(n)
	if room := boundedLogPart - len(b.head); room > 0 {
		k := min(room, len(p))
		b.head = append(b.head, p[:k]...)
		p = p[k:]
	}
	b.tail = append(b.tail, p...)
	if len(b.tail) > 2*boundedLogPart {
		b.tail = append(b.tail[:0:0], b.tail[len(b.tail)-boundedLogPart:]...)
	}
	return n, nil
}

// Total is how many bytes were written.
func (b *boundedLog) Total() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.total
}

// Tail returns up to the last n kept bytes.
func (b *boundedLog) Tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := string(b.head) + string(b.tail)
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}

// Lines returns the kept log lines (head and tail) that contain every one of
// subs.
func (b *boundedLog) Lines(subs ...string) []string {
	b.mu.Lock()
	text := string(b.head) + "\n" + string(b.tail)
	b.mu.Unlock()
	return grepLines(text, subs...)
}

func grepLines(text string, subs ...string) []string {
	var out []string
	for line := range strings.Lines(text) {
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(line, s)
		}
		if ok {
			out = append(out, strings.TrimRight(line, "\n"))
		}
	}
	return out
}

// upstreamField is how the gateway's JSON log marks a line about upstream u.
func upstreamField(u string) string { return `"upstream":"` + u + `"` }

// eventually calls f every 20ms until it returns nil, and fails the test if
// that takes longer than d. It returns how long it took.
func eventually(t *testing.T, d time.Duration, what string, f func() error) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(d)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := f()
		if err == nil {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			require.FailNowf(t, "deadline passed", "%s: not within %s; last: %v", what, d, err)
		}
		<-tick.C
	}
}

// outcome is one timed tools/call.
type outcome struct {
	res  *mcp.CallToolResult
	err  error
	took time.Duration
}

func (o outcome) String() string {
	var rpcErr *jsonrpc.Error
	if errors.As(o.err, &rpcErr) {
		return fmt.Sprintf("JSON-RPC error %d after %s: %v", rpcErr.Code, o.took.Round(time.Millisecond), o.err)
	}
	if o.err != nil {
		return fmt.Sprintf("error after %s: %v", o.took.Round(time.Millisecond), o.err)
	}
	return fmt.Sprintf("result after %s: %s", o.took.Round(time.Millisecond), resultText(o.res))
}

// timedCall calls a tool; limit is only a safety net so that a hang fails the
// test instead of blocking it (the error is then the client's own deadline).
func timedCall(cs *mcp.ClientSession, name string, args map[string]any, meta mcp.Meta, limit time.Duration) outcome {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	start := time.Now()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args, Meta: meta})
	return outcome{res: res, err: err, took: time.Since(start)}
}

func resultText(res *mcp.CallToolResult) string {
	if res == nil || len(res.Content) == 0 {
		return ""
	}
	if tc, ok := res.Content[0].(*mcp.TextContent); ok {
		if len(tc.Text) > 200 {
			return tc.Text[:200] + "…"
		}
		return tc.Text
	}
	return fmt.Sprintf("%T", res.Content[0])
}

// callOK calls a tool that must answer with a result within limit; it
// returns the result's text.
func callOK(cs *mcp.ClientSession, name string, limit time.Duration) (string, error) {
	var args map[string]any
	if name == "echo__echo" {
		args = map[string]any{"text": "still here"}
	}
	o := timedCall(cs, name, args, nil, limit)
	if o.err != nil {
		return "", fmt.Errorf("%s: %s", name, o)
	}
	if o.res.IsError {
		return "", fmt.Errorf("%s: isError result: %s", name, resultText(o.res))
	}
	return resultText(o.res), nil
}

// mustCallOK is callOK that fails the test.
func mustCallOK(t *testing.T, cs *mcp.ClientSession, name string, limit time.Duration) string {
	t.Helper()
	s, err := callOK(cs, name, limit)
	require.NoError(t, err)
	return s
}

// upstreamPID asks an upstream's pid tool.
func upstreamPID(cs *mcp.ClientSession, tool string) (int, error) {
	s, err := callOK(cs, tool, 3*time.Second)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(s)
}

// requireRPCError checks that a call ended with a JSON-RPC error from the
// gateway (not the test's own deadline) and returns it.
func requireRPCError(t *testing.T, o outcome) *jsonrpc.Error {
	t.Helper()
	var rpcErr *jsonrpc.Error
	require.True(t, errors.As(o.err, &rpcErr), "want a JSON-RPC error, got %s", o)
	return rpcErr
}

// echoServes checks that the healthy upstream answers promptly.
func echoServes(t *testing.T, cs *mcp.ClientSession) {
	t.Helper()
	o := timedCall(cs, "echo__echo", map[string]any{"text": "still here"}, nil, 5*time.Second)
	require.NoError(t, o.err, "echo__echo: %s", o)
	assert.False(t, o.res.IsError, "echo__echo: %s", o)
	assert.Equal(t, "still here", resultText(o.res))
}

// toolListed reports whether tools/list has name.
func toolListed(cs *mcp.ClientSession, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	res, err := cs.ListTools(ctx, nil)
	if err != nil {
		return err
	}
	for _, tool := range res.Tools {
		if tool.Name == name {
			return nil
		}
	}
	return fmt.Errorf("%s not in tools/list (%d tools)", name, len(res.Tools))
}

// procStatusKB reads a "kB" field (VmRSS, VmHWM) of /proc/PID/status.
func procStatusKB(pid int, field string) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return n
		}
	}
	return -1
}

// zombieChildren lists the children of ppid that are zombies.
func zombieChildren(ppid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:]) // state ppid ...
		if len(f) > 1 && f[0] == "Z" && f[1] == strconv.Itoa(ppid) {
			out = append(out, pid)
		}
	}
	return out
}

// stateRecord is a line of faulty's --state file.
type stateRecord struct {
	kind string // start, exit, grandchild
	pid  int
	ints []int64
}

func readState(t *testing.T, path string) []stateRecord {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	require.NoError(t, err)
	var out []stateRecord
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		r := stateRecord{kind: f[0]}
		r.pid, _ = strconv.Atoi(f[1])
		for _, s := range f[2:] {
			n, _ := strconv.ParseInt(s, 10, 64)
			r.ints = append(r.ints, n)
		}
		out = append(out, r)
	}
	return out
}

// upstreamStatusJSON is one entry of /upstreams and of /readyz's upstreams.
type upstreamStatusJSON struct {
	Name      string `json:"name"`
	State     string `json:"state"`
	Restarts  int    `json:"restarts"`
	LastError string `json:"last_error"`
	Tools     int    `json:"tools"`
}

func upstreamStatus(t *testing.T, url, name string) upstreamStatusJSON {
	t.Helper()
	body, code := httpGet(t, url+"/upstreams", nil)
	require.Equal(t, http.StatusOK, code, "%s", body)
	var all []upstreamStatusJSON
	require.NoError(t, json.Unmarshal(body, &all), "%s", body)
	for _, u := range all {
		if u.Name == name {
			return u
		}
	}
	require.FailNowf(t, "no such upstream", "%q not in /upstreams: %s", name, body)
	return upstreamStatusJSON{}
}

// TestFaultCrashMidCall (U1): the upstream exits while a call is in flight.
// The caller gets a JSON-RPC error within 1s, the upstream is restarted, its
// tools come back and the next call succeeds within 5s.
func TestFaultCrashMidCall(t *testing.T) {
	needBins(t)
	t.Parallel()
	var listChanged atomic.Int32
	cfg := writeConfig(t, map[string]any{"mcpServers": map[string]any{
		"crash": faultyUpstream("crash-mid-call"),
		"echo":  echoUpstream("echo"),
	}})
	g := startFaultGateway(t, cfg, &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { listChanged.Add(1) },
	})
	require.NoError(t, toolListed(g.cs, "crash__work"))
	pid0, err := upstreamPID(g.cs, "crash__pid")
	require.NoError(t, err)

	o := timedCall(g.cs, "crash__work", nil, nil, 10*time.Second)
	t.Logf("crash__work: %s", o)
	rpcErr := requireRPCError(t, o)
	assert.NotEqualValues(t, faultCodeTimeout, rpcErr.Code, "the crash is reported, not waited out to the timeout")
	assert.Contains(t, rpcErr.Message, `"crash"`, "the error names the upstream")
	echoServes(t, g.cs)

	var pid1 int
	took := eventually(t, 5*time.Second, "crash restarted: tools listed again and a call answered", func() error {
		if err := toolListed(g.cs, "crash__ok"); err != nil {
			return err
		}
		pid, err := upstreamPID(g.cs, "crash__pid")
		if err != nil {
			return err
		}
		if pid == pid0 {
			return fmt.Errorf("still the old process %d", pid)
		}
		pid1 = pid
		return nil
	})
	t.Logf("restarted as pid %d, %s after the error", pid1, took.Round(time.Millisecond))
	assert.False(t, processAlive(pid0), "crashed upstream %d not reaped", pid0)
	assert.Equal(t, "ok", mustCallOK(t, g.cs, "crash__ok", 5*time.Second))
	eventually(t, time.Second, "list_changed sent to the client", func() error {
		if listChanged.Load() == 0 {
			return errors.New("no notifications/tools/list_changed")
		}
		return nil
	})

	code, closeTook := g.shutdown()
	assert.Equal(t, 0, code, "gateway exit code; log:\n%s", g.log.Tail(4<<10))
	t.Logf("gateway exited in %s", closeTook.Round(time.Millisecond))
	assert.False(t, processAlive(pid1), "upstream %d outlived the gateway", pid1)
}

// TestFaultConcurrentCrash (U16): the upstream exits under 50 concurrent
// calls. Every one gets an error within 1s; none hangs, none is lost.
func TestFaultConcurrentCrash(t *testing.T) {
	needBins(t)
	t.Parallel()
	state := filepath.Join(t.TempDir(), "state")
	cfg := writeConfig(t, map[string]any{"mcpServers": map[string]any{
		"crash": faultyUpstream("crash-mid-call", "--state", state),
		"echo":  echoUpstream("echo"),
	}})
	g := startFaultGateway(t, cfg, nil)
	require.NoError(t, toolListed(g.cs, "crash__work"))
	pid0, err := upstreamPID(g.cs, "crash__pid")
	require.NoError(t, err)

	t.Run("50 in-flight calls get errors within 1s", func(t *testing.T) {
		const n = 50
		outcomes := make([]outcome, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { outcomes[i] = timedCall(g.cs, "crash__work", nil, nil, 10*time.Second) })
		}
		wg.Wait()
		var slowest time.Duration
		for i, o := range outcomes {
			var rpcErr *jsonrpc.Error
			if !assert.True(t, errors.As(o.err, &rpcErr), "call %d: want a JSON-RPC error, got %s", i, o) {
				continue
			}
			assert.NotEqualValues(t, faultCodeTimeout, rpcErr.Code, "call %d: the crash is reported, not waited out: %s", i, o)
			slowest = max(slowest, o.took)
		}
		t.Logf("50 calls: slowest error after %s; first: %s", slowest.Round(time.Millisecond), outcomes[0])
		echoServes(t, g.cs)
	})

	// One crash, however many calls it fails, is one crash: the upstream is
	// back as soon as it has been restarted (SECURITY.md U1: within 2s).
	t.Run("serving again within 5s", func(t *testing.T) {
		eventually(t, 5*time.Second, "crash serving again", func() error {
			pid, err := upstreamPID(g.cs, "crash__pid")
			if err == nil && pid == pid0 {
				return fmt.Errorf("still the old process %d", pid)
			}
			return err
		})
	})
	assert.False(t, processAlive(pid0))
	code, _ := g.shutdown()
	assert.Equal(t, 0, code)
	for _, r := range readState(t, state) {
		assert.False(t, processAlive(r.pid), "upstream %d outlived the gateway", r.pid)
	}
}

// TestFaultHangTimeout (U4): an upstream that never answers, with
// "timeout": "500ms". The call ends with a timeout error naming the upstream
// within ~1s, the upstream is sent notifications/cancelled, echo is not
// slowed down, and an upstream that answers after the timeout has its late
// answer dropped. hang also ignores EOF and SIGTERM: the gateway must still
// be rid of it when it exits.
func TestFaultHangTimeout(t *testing.T) {
	needBins(t)
	t.Parallel()
	with := func(m map[string]any, k string, v any) map[string]any { m[k] = v; return m }
	cfg := writeConfig(t, map[string]any{"mcpServers": map[string]any{
		"hang": with(faultyUpstream("hang"), "timeout", "500ms"),
		"late": with(faultyUpstream("late", "--delay", "1s"), "timeout", "500ms"),
		"echo": echoUpstream("echo"),
	}})
	g := startFaultGateway(t, cfg, nil)
	require.NoError(t, toolListed(g.cs, "hang__work"))
	hangPID, err := upstreamPID(g.cs, "hang__pid")
	require.NoError(t, err)
	latePID, err := upstreamPID(g.cs, "late__pid")
	require.NoError(t, err)

	done := make(chan outcome, 1)
	go func() { done <- timedCall(g.cs, "hang__work", nil, nil, 10*time.Second) }()
	for range 3 { // echo is not held up by the hanging call
		echoServes(t, g.cs)
	}
	o := <-done
	t.Logf("hang__work: %s", o)
	rpcErr := requireRPCError(t, o)
	assert.EqualValues(t, faultCodeTimeout, rpcErr.Code)
	assert.Contains(t, rpcErr.Message, `"hang"`, "the error names the upstream")

	eventually(t, time.Second, "hang received notifications/cancelled", func() error {
		if len(g.log.Lines(upstreamField("hang"), "faulty: received notifications/cancelled")) == 0 {
			return errors.New("no cancellation in the upstream's stderr")
		}
		return nil
	})
	pid, err := upstreamPID(g.cs, "hang__pid")
	require.NoError(t, err, "hang still serves after a timeout")
	assert.Equal(t, hangPID, pid, "a timeout does not restart the upstream")

	// An answer after the timeout is dropped; the connection stays usable.
	o = timedCall(g.cs, "late__work", nil, nil, 10*time.Second)
	t.Logf("late__work: %s", o)
	rpcErr = requireRPCError(t, o)
	assert.EqualValues(t, faultCodeTimeout, rpcErr.Code)
	eventually(t, 2*time.Second, "late answered after its timeout", func() error {
		if len(g.log.Lines(upstreamField("late"), "faulty: late: work answering")) == 0 {
			return errors.New("late has not answered yet")
		}
		return nil
	})
	assert.Equal(t, "ok", mustCallOK(t, g.cs, "late__ok", 3*time.Second))
	pid, err = upstreamPID(g.cs, "late__pid")
	require.NoError(t, err)
	assert.Equal(t, latePID, pid)
	echoServes(t, g.cs)

	code, took := g.shutdown()
	t.Logf("gateway exited in %s (hang ignores EOF and SIGTERM)", took.Round(time.Millisecond))
	assert.Equal(t, 0, code, "log:\n%s", g.log.Tail(4<<10))
	assert.False(t, processAlive(hangPID), "hang %d outlived the gateway", hangPID)
	assert.False(t, processAlive(latePID), "late %d outlived the gateway", latePID)
}

// TestFaultProgressForever (U5): progress every 100ms does not extend the
// call past its timeout, and no progress reaches the client after the error.
func TestFaultProgressForever(t *testing.T) {
	needBins(t)
	t.Parallel()
	var (
		mu       sync.Mutex
		progress []time.Time // when each notification was handled
		badToken atomic.Value
	)
	handled := func() []time.Time {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(progress)
	}
	cfg := writeConfig(t, map[string]any{"mcpServers": map[string]any{
		"prog": map[string]any{"command": bins.faulty, "args": []string{"--mode", "progress-forever"}, "timeout": "1s"},
		"echo": echoUpstream("echo"),
	}})
	g := startFaultGateway(t, cfg, &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			if req.Params.ProgressToken != "tok-1" {
				badToken.Store(fmt.Sprint(req.Params.ProgressToken))
			}
			mu.Lock()
			progress = append(progress, time.Now())
			mu.Unlock()
		},
	})
	require.NoError(t, toolListed(g.cs, "prog__work"))
	pid0, err := upstreamPID(g.cs, "prog__pid")
	require.NoError(t, err)

	o := timedCall(g.cs, "prog__work", nil, mcp.Meta{"progressToken": "tok-1"}, 10*time.Second)
	answered := time.Now()
	during := len(handled())
	t.Logf("prog__work: %s; %d progress notifications relayed", o, during)
	rpcErr := requireRPCError(t, o)
	assert.EqualValues(t, faultCodeTimeout, rpcErr.Code)
	assert.Contains(t, rpcErr.Message, `"prog"`)
	// Progress that reset the timeout would run the call past the test's own
	// 10s deadline, and requireRPCError would have failed.
	assert.GreaterOrEqual(t, during, 5, "progress is relayed while the call runs")
	assert.Nil(t, badToken.Load(), "progress carries the caller's own token")

	// No progress after the answer. The client SDK may run the handler for a
	// notification that preceded the answer on the wire just after CallTool
	// returns, so only one handled more than 50ms later is a late one.
	// The upstream is a process of its own that keeps sending progress every
	// 100 ms; that the gateway relays none of it is an absence, which only
	// time shows: four more of its ticks.
	time.Sleep(400 * time.Millisecond)
	for _, at := range handled() {
		assert.Less(t, at.Sub(answered), 50*time.Millisecond, "progress reached the client after the call ended")
	}
	echoServes(t, g.cs)
	assert.Equal(t, "ok", mustCallOK(t, g.cs, "prog__ok", 3*time.Second))

	code, _ := g.shutdown()
	assert.Equal(t, 0, code)
	assert.False(t, processAlive(pid0), "upstream %d outlived the gateway", pid0)
}

// TestFaultGiantMessage (U8): a 40 MiB answer (over the 16 MiB cap) is an
// error for the caller, the upstream is restarted, and the gateway's memory
// stays bounded.
func TestFaultGiantMessage(t *testing.T) {
	needBins(t)
	t.Parallel()
	cfg := writeConfig(t, map[string]any{"mcpServers": map[string]any{
		"giant": faultyUpstream("giant"),
		"echo":  echoUpstream("echo"),
	}})
	g := startFaultGateway(t, cfg, nil)
	require.NoError(t, toolListed(g.cs, "giant__work"))
	pid0, err := upstreamPID(g.cs, "giant__pid")
	require.NoError(t, err)

	var peakRSS atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			if kb := int64(procStatusKB(g.pid(), "VmRSS")); kb > peakRSS.Load() {
				peakRSS.Store(kb)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	o := timedCall(g.cs, "giant__work", nil, nil, 20*time.Second)
	t.Logf("giant__work: %s", o)
	rpcErr := requireRPCError(t, o)
	assert.Contains(t, rpcErr.Message, `"giant"`)
	echoServes(t, g.cs)

	took := eventually(t, 5*time.Second, "giant restarted", func() error {
		pid, err := upstreamPID(g.cs, "giant__pid")
		if err == nil && pid == pid0 {
			return fmt.Errorf("still the old process %d", pid)
		}
		return err
	})
	t.Logf("giant restarted %s after the error", took.Round(time.Millisecond))
	close(stop)
	<-sampled
	hwm := procStatusKB(g.pid(), "VmHWM")
	t.Logf("gateway memory: sampled peak VmRSS %d MiB, VmHWM %d MiB", peakRSS.Load()>>10, hwm>>10)
	assert.Less(t, hwm, 200<<10, "gateway VmHWM (kB)")
	assert.False(t, processAlive(pid0), "the over-cap upstream %d was not ended", pid0)
	pid1, err := upstreamPID(g.cs, "giant__pid")
	require.NoError(t, err)

	code, _ := g.shutdown()
	assert.Equal(t, 0, code)
	assert.False(t, processAlive(pid1))
}

// TestFaultFloodStdout (U3): 10,000 non-JSON lines and 10,000 log
// notifications on the upstream's stdout right after initialization. The
// gateway survives, echo keeps serving and the flooding upstream's own tools
// work.
func TestFaultFloodStdout(t *testing.T) {
	needBins(t)
	t.Parallel()
	state := filepath.Join(t.TempDir(), "state")
	cfg := writeConfig(t, map[string]any{"mcpServers": map[string]any{
		"flood": faultyUpstream("flood-stdout", "--state", state),
		"echo":  echoUpstream("echo"),
	}})
	g := startFaultGateway(t, cfg, nil)
	echoServes(t, g.cs)
	var okErr error
	took := time.Duration(-1)
	start := time.Now()
	for time.Since(start) < 10*time.Second {
		if _, okErr = callOK(g.cs, "flood__ok", 2*time.Second); okErr == nil {
			took = time.Since(start)
			break
		}
		// The gateway restarts the flooding upstream, both other processes,
		// and says nothing to its client when it is back: the call is retried.
		time.Sleep(50 * time.Millisecond)
	}
	var starts []stateRecord
	for _, r := range readState(t, state) {
		if r.kind == "start" {
			starts = append(starts, r)
		}
	}
	t.Logf("flood__ok: took %s, last error %v; the upstream was started %d times", took.Round(time.Millisecond), okErr, len(starts))
	for i, l := range g.log.Lines(upstreamField("flood"), `"level":"WARN"`) {
		if i == 3 {
			break
		}
		t.Logf("gateway: %.300s", l)
	}
	assert.NoError(t, okErr, "flood__ok never answered within 10s")
	assert.True(t, processAlive(g.pid()), "gateway died")
	echoServes(t, g.cs)
	code, _ := g.shutdown()
	assert.Equal(t, 0, code)
	for _, r := range starts {
		assert.False(t, processAlive(r.pid), "upstream %d outlived the gateway", r.pid)
	}
}

// TestFaultStderrFlood (U9): 50 MB on the upstream's stderr before it serves.
// The child is not blocked, its tools work, and the gateway's log of it is
// bounded.
func TestFaultStderrFlood(t *testing.T) {
	needBins(t)
	t.Parallel()
	cfg := writeConfig(t, map[string]any{"mcpServers": map[string]any{
		"noisy": faultyUpstream("stderr-flood"),
		"echo":  echoUpstream("echo"),
	}})
	start := time.Now()
	g := startFaultGateway(t, cfg, nil)
	eventually(t, 5*time.Second, "echo serving during the flood", func() error {
		_, err := callOK(g.cs, "echo__echo", 2*time.Second)
		return err
	})
	eventually(t, 30*time.Second, "noisy serving", func() error {
		_, err := callOK(g.cs, "noisy__ok", 5*time.Second)
		return err
	})
	t.Logf("noisy__ok answered %s after start; gateway wrote %d MiB of log so far", time.Since(start).Round(time.Millisecond), g.log.Total()>>20)
	echoServes(t, g.cs)
	pid, err := upstreamPID(g.cs, "noisy__pid")
	require.NoError(t, err)

	t.Run("log volume is bounded", func(t *testing.T) {
		// SECURITY.md U9: stderr is captured into a bounded ring and its log
		// lines are rate-limited. The upstream wrote 50 MB.
		assert.Less(t, g.log.Total(), int64(5<<20), "gateway log bytes for 50 MB of upstream stderr")
	})
	code, _ := g.shutdown()
	assert.Equal(t, 0, code)
	assert.False(t, processAlive(pid))
}

// TestFaultExitOnStart: an upstream that exits at once is reported down with
// its last error, retried with growing restart counts, reaped, and logged
// with its reason; the other upstream is unaffected.
func TestFaultExitOnStart(t *testing.T) {
	needBins(t)
	t.Parallel()
	cfg := writeConfig(t, map[string]any{"mcpServers": map[string]any{
		"dead": faultyUpstream("exit-on-start"),
		"echo": echoUpstream("echo"),
	}})
	g := startHTTP(t, cfg)
	cs := connectHTTP(t, g.url+"/mcp", nil)
	echoServes(t, cs)

	var dead upstreamStatusJSON
	took := eventually(t, 4*time.Second, "dead retried 3 times", func() error {
		dead = upstreamStatus(t, g.url, "dead")
		if dead.Restarts < 3 {
			return fmt.Errorf("restarts %d", dead.Restarts)
		}
		return nil
	})
	t.Logf("3 restarts after %s", took.Round(time.Millisecond))
	var ready struct {
		Ready     bool                 `json:"ready"`
		Upstreams []upstreamStatusJSON `json:"upstreams"`
	}
	eventually(t, 3*time.Second, "/readyz shows dead down with last_error", func() error {
		body, code := httpGet(t, g.url+"/readyz", nil)
		if code != http.StatusOK {
			return fmt.Errorf("/readyz %d: %s", code, body)
		}
		require.NoError(t, json.Unmarshal(body, &ready))
		for _, u := range ready.Upstreams {
			if u.Name == "dead" && (u.State != "down" || u.LastError == "") {
				return fmt.Errorf("dead: %+v", u)
			}
		}
		return nil
	})
	for _, u := range ready.Upstreams {
		t.Logf("/readyz: %+v", u)
		if u.Name == "echo" {
			assert.Equal(t, "up", u.State)
		}
	}
	assert.True(t, ready.Ready)
	assert.NotEmpty(t, grepLines(g.stderr.String(), upstreamField("dead"), "refusing to start"),
		"the upstream's stderr reason is logged with its name")
	eventually(t, time.Second, "no zombie children", func() error {
		if z := zombieChildren(g.cmd.Process.Pid); len(z) > 0 {
			return fmt.Errorf("zombies %v", z)
		}
		return nil
	})
	before := upstreamStatus(t, g.url, "dead").Restarts
	eventually(t, 3*time.Second, "still retrying", func() error {
		if n := upstreamStatus(t, g.url, "dead").Restarts; n <= before {
			return fmt.Errorf("restarts stuck at %d", n)
		}
		return nil
	})
	echoServes(t, cs)
}

// TestFaultCrashAfter: an upstream that exits after every 2 calls is
// restarted each time, with exponential backoff (250ms, 500ms, 1s, each with
// jitter in [d/2, d]) between exit and restart.
func TestFaultCrashAfter(t *testing.T) {
	needBins(t)
	t.Parallel()
	state := filepath.Join(t.TempDir(), "state")
	cfg := writeConfig(t, map[string]any{"mcpServers": map[string]any{
		"flaky": faultyUpstream("crash-after", "--n", "2", "--state", state),
		"echo":  echoUpstream("echo"),
	}})
	g := startHTTP(t, cfg)
	cs := connectHTTP(t, g.url+"/mcp", nil)
	const rounds = 4
	start := time.Now()
	for round := range rounds {
		eventually(t, 5*time.Second, fmt.Sprintf("flaky up after %d restarts", round), func() error {
			st := upstreamStatus(t, g.url, "flaky")
			if st.State != "up" || st.Restarts != round {
				return fmt.Errorf("%+v", st)
			}
			return nil
		})
		// "up" can show in /upstreams a moment before the merged catalog has
		// the tools again; an unknown-tool error does not reach the upstream,
		// so retrying it does not count as a call.
		eventually(t, time.Second, fmt.Sprintf("round %d: flaky__ok routed", round), func() error {
			return toolListed(cs, "flaky__ok")
		})
		for i := range 2 {
			s, err := callOK(cs, "flaky__ok", 3*time.Second)
			require.NoError(t, err, "round %d call %d", round, i)
			assert.Equal(t, "ok", s)
		}
		echoServes(t, cs)
		t.Logf("round %d done at %s", round, time.Since(start).Round(time.Millisecond))
	}
	var starts, exits []stateRecord
	for _, r := range readState(t, state) {
		switch r.kind {
		case "start":
			starts = append(starts, r)
		case "exit":
			exits = append(exits, r)
		}
	}
	require.GreaterOrEqual(t, len(starts), rounds)
	require.GreaterOrEqual(t, len(exits), rounds-1)
	for i := range rounds - 1 {
		base := backoffBase(i)
		gap := time.Duration(starts[i+1].ints[0] - exits[i].ints[0])
		t.Logf("restart %d: %s from exit to next start (backoff %s, jitter [%s, %s])", i+1, gap.Round(time.Millisecond), base, base/2, base)
		assert.GreaterOrEqual(t, gap, base/2-10*time.Millisecond, "restart %d came before the backoff", i+1)
	}
	for _, r := range exits {
		assert.False(t, processAlive(r.pid), "exited upstream %d not reaped", r.pid)
	}
	cs.Close() // an open session's GET stream would hold shutdown for the whole grace
	stopStart := time.Now()
	require.NoError(t, g.stop(t), "log: %s", g.stderr)
	t.Logf("gateway stopped in %s", time.Since(stopStart).Round(time.Millisecond))
	for _, r := range starts {
		assert.False(t, processAlive(r.pid), "upstream %d outlived the gateway", r.pid)
	}
}

// backoffBase is the gateway's restart delay before jitter after i restarts
// (aggregator: 250ms doubling to 30s).
func backoffBase(i int) time.Duration {
	return min(250*time.Millisecond<<i, 30*time.Second)
}

// TestFaultGrandchild (U10): the upstream leaves a `sleep` in its process
// group and another that called setsid and holds its stdout. When the
// upstream is killed, the gateway notices, restarts it and its group is gone;
// when the gateway exits, so is the new group. The setsid sleeps escape the
// group by design: they are logged, then killed by the test.
func TestFaultGrandchild(t *testing.T) {
	needBins(t)
	t.Parallel()
	state := filepath.Join(t.TempDir(), "state")
	t.Cleanup(func() {
		for _, r := range readState(t, state) {
			if r.kind == "grandchild" && len(r.ints) == 2 {
				killPID(int(r.ints[1]))
			}
		}
	})
	cfg := writeConfig(t, map[string]any{"mcpServers": map[string]any{
		"grand": faultyUpstream("grandchild", "--state", state),
		"echo":  echoUpstream("echo"),
	}})
	g := startFaultGateway(t, cfg, nil)
	type pids struct {
		Self      int `json:"self"`
		SameGroup int `json:"same_group"`
		Setsid    int `json:"setsid"`
	}
	getPIDs := func() (pids, error) {
		var p pids
		s, err := callOK(g.cs, "grand__pids", 3*time.Second)
		if err == nil {
			err = json.Unmarshal([]byte(s), &p)
		}
		return p, err
	}
	p0, err := getPIDs()
	require.NoError(t, err)
	for _, pid := range []int{p0.Self, p0.SameGroup, p0.Setsid} {
		require.True(t, processAlive(pid), "%d", pid)
	}

	// A call is in flight when the upstream is killed (-9). The setsid sleep
	// still holds the upstream's stdout, so the gateway gets no EOF: it has to
	// notice the exit itself, and fail the call with the death, not its timeout.
	killed := time.Now()
	t.Run("in-flight call fails at kill -9", func(t *testing.T) {
		inflight := make(chan outcome, 1)
		go func() { inflight <- timedCall(g.cs, "grand__work", nil, nil, 5*time.Second) }()
		eventually(t, 2*time.Second, "grand__work in flight", func() error {
			if len(g.log.Lines(upstreamField("grand"), "faulty: grandchild: work started")) == 0 {
				return errors.New("not started")
			}
			return nil
		})
		require.NoError(t, killPID(p0.Self))
		killed = time.Now()
		o := <-inflight
		sinceKill := time.Since(killed)
		t.Logf("grand__work in flight at kill -9: %s, %s after the kill", o, sinceKill.Round(time.Millisecond))
		var rpcErr *jsonrpc.Error
		if assert.True(t, errors.As(o.err, &rpcErr), "want a JSON-RPC error from the gateway, got %s", o) {
			assert.NotEqualValues(t, faultCodeTimeout, rpcErr.Code, "the death is reported, not waited out to the call's timeout")
		}
	})
	if processAlive(p0.Self) { // the subtest stopped before the kill
		require.NoError(t, killPID(p0.Self))
	}
	var p1 pids
	took := eventually(t, 5*time.Second, "grand restarted after kill -9", func() error {
		p, err := getPIDs()
		if err == nil && p.Self == p0.Self {
			return fmt.Errorf("still reports the killed process %d", p.Self)
		}
		p1 = p
		return err
	})
	t.Logf("restarted %s after the in-flight call ended, %s after kill -9 (pid %d → %d)", took.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond), p0.Self, p1.Self)
	assert.False(t, processAlive(p0.Self), "killed upstream %d not reaped", p0.Self)
	assert.False(t, processAlive(p0.SameGroup), "same-group grandchild %d survived the restart", p0.SameGroup)
	t.Logf("setsid grandchild %d after restart: alive=%v (escapes the group by design)", p0.Setsid, processAlive(p0.Setsid))
	echoServes(t, g.cs)

	// The same with nothing in flight: the gateway must notice the death by
	// itself (no write to the dead child's stdin to fail) and restart it.
	downs := func() int { return len(g.log.Lines(upstreamField("grand"), "upstream unavailable")) }
	before := downs()
	require.NoError(t, killPID(p1.Self))
	t.Run("death noticed without traffic within 2s", func(t *testing.T) {
		took := eventually(t, 2*time.Second, "gateway noticed grand's death", func() error {
			if downs() == before {
				return errors.New("no \"upstream unavailable\" logged for grand")
			}
			return nil
		})
		t.Logf("noticed %s after kill -9", took.Round(time.Millisecond))
	})
	eventually(t, 5*time.Second, "grand restarted after the second kill -9", func() error {
		p, err := getPIDs()
		if err == nil && p.Self == p1.Self {
			return fmt.Errorf("still reports the killed process %d", p.Self)
		}
		if err == nil {
			assert.False(t, processAlive(p1.SameGroup), "same-group grandchild %d survived the restart", p1.SameGroup)
			p1 = p
		}
		return err
	})

	code, closeTook := g.shutdown()
	t.Logf("gateway exited in %s", closeTook.Round(time.Millisecond))
	assert.Equal(t, 0, code, "log:\n%s", g.log.Tail(4<<10))
	if p1.Self != 0 {
		assert.False(t, processAlive(p1.Self), "upstream %d outlived the gateway", p1.Self)
		assert.False(t, processAlive(p1.SameGroup), "same-group grandchild %d outlived the gateway", p1.SameGroup)
		t.Logf("setsid grandchild %d after gateway exit: alive=%v (killed by the test)", p1.Setsid, processAlive(p1.Setsid))
	}
	for _, l := range g.log.Lines(upstreamField("grand")) {
		if !strings.Contains(l, "upstream stderr") {
			t.Logf("gateway: %.300s", l)
		}
	}
}

// TestFaultShutdownDrain (G1): SIGTERM with 20 calls in flight to an
// upstream that answers after 1s, shutdown_grace 5s: new connections are
// refused, all 20 calls get their results, the exit code is 0 and the
// upstream is gone.
func TestFaultShutdownDrain(t *testing.T) {
	needBins(t)
	t.Parallel()
	cfg := writeConfig(t, map[string]any{
		"mcpServers": map[string]any{
			"late": faultyUpstream("late", "--delay", "1s"),
			"echo": echoUpstream("echo"),
		},
		"gateway": map[string]any{"shutdown_grace": "5s"},
	})
	g := startHTTP(t, cfg)
	cs := connectHTTP(t, g.url+"/mcp", nil)
	echoServes(t, cs)
	pid, err := upstreamPID(cs, "late__pid")
	require.NoError(t, err)

	const n = 20
	outcomes := make([]outcome, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { outcomes[i] = timedCall(cs, "late__work", nil, nil, 15*time.Second) })
	}
	eventually(t, 2*time.Second, "20 calls in flight", func() error {
		if k := len(grepLines(g.stderr.String(), upstreamField("late"), "faulty: late: work started")); k < n {
			return fmt.Errorf("%d started", k)
		}
		return nil
	})
	require.NoError(t, g.cmd.Process.Signal(syscall.SIGTERM))
	sigterm := time.Now()

	// New connections are refused while the calls drain.
	host := strings.TrimPrefix(g.url, "http://")
	refusedAfter := eventually(t, 500*time.Millisecond, "new connections refused", func() error {
		c, err := net.DialTimeout("tcp", host, 200*time.Millisecond)
		if err != nil {
			return nil
		}
		defer c.Close()
		req, _ := http.NewRequest("POST", g.url+"/mcp", strings.NewReader(initializeBody))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		hc := &http.Client{Timeout: 300 * time.Millisecond}
		resp, err := hc.Do(req)
		if err != nil {
			return nil
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			return nil
		}
		return fmt.Errorf("new initialize got %d", resp.StatusCode)
	})
	t.Logf("new connections refused %s after SIGTERM", refusedAfter.Round(time.Millisecond))

	wg.Wait()
	drained := time.Now()
	var failed int
	for i, o := range outcomes {
		if !assert.NoError(t, o.err, "call %d: %s", i, o) {
			failed++
			continue
		}
		assert.Equal(t, "late: done after 1s", resultText(o.res), "call %d", i)
	}
	t.Logf("%d/%d calls got results; first: %s; drained %s after SIGTERM", n-failed, n, outcomes[0], time.Since(sigterm).Round(time.Millisecond))

	var exitErr error
	select {
	case exitErr = <-g.done:
		g.done <- exitErr // for the cleanup's stop
	case <-time.After(15 * time.Second):
		require.FailNow(t, "gateway did not exit within 15s of SIGTERM")
	}
	t.Logf("gateway exited %s after SIGTERM, %s after the last call drained: %v",
		time.Since(sigterm).Round(time.Millisecond), time.Since(drained).Round(time.Millisecond), exitErr)
	assert.NoError(t, exitErr, "exit code 0")
	assert.False(t, processAlive(pid), "upstream %d outlived the gateway", pid)
	if t.Failed() {
		for _, l := range grepLines(g.stderr.String(), "shut") {
			t.Logf("gateway: %.300s", l)
		}
		for _, l := range grepLines(g.stderr.String(), "tools/call failed") {
			t.Logf("gateway: %.300s", l)
			break
		}
	}
}

// TestFaultSlowInit (U6): an upstream that answers initialize only after 3s
// does not hold up the gateway's own initialize or calls to the other
// upstream; its tools appear once it is up.
func TestFaultSlowInit(t *testing.T) {
	needBins(t)
	t.Parallel()
	cfg := writeConfig(t, map[string]any{"mcpServers": map[string]any{
		"slow": faultyUpstream("slow-init", "--delay", "8s"),
		"echo": echoUpstream("echo"),
	}})
	g := startFaultGateway(t, cfg, nil)
	t.Logf("gateway start + initialize: %s", g.took.Round(time.Millisecond))
	// Ordering, not timing: whatever the waits ended before the slow upstream
	// connected did not wait for it.
	slowConnected := func() bool { return len(g.log.Lines(upstreamField("slow"), "upstream connected")) > 0 }
	assert.False(t, slowConnected(), "the gateway's initialize waited for the slow upstream")
	eventually(t, 5*time.Second, "echo connected", func() error {
		if len(g.log.Lines(upstreamField("echo"), "upstream connected")) == 0 {
			return errors.New("not yet")
		}
		return nil
	})
	o := timedCall(g.cs, "echo__echo", map[string]any{"text": "hi"}, nil, 10*time.Second)
	require.NoError(t, o.err)
	assert.Equal(t, "hi", resultText(o.res))
	t.Logf("echo__echo while slow initializes: %s", o)
	assert.False(t, slowConnected(), "a call to the healthy upstream waited for the slow one")

	start := time.Now()
	eventually(t, 30*time.Second, "slow__ok listed", func() error { return toolListed(g.cs, "slow__ok") })
	t.Logf("tools/list with slow__ok after %s", time.Since(start).Round(time.Millisecond))
	pid, err := upstreamPID(g.cs, "slow__pid")
	require.NoError(t, err)
	echoServes(t, g.cs)
	code, _ := g.shutdown()
	assert.Equal(t, 0, code)
	assert.False(t, processAlive(pid))
}
