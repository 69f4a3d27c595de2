package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMain lets the test binary stand in for the harness when the harness
// re-executes itself as the floor server.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestQuickRun runs the whole harness with tiny durations against freshly
// built binaries and checks that the table has every row and column. It
// asserts nothing about the figures.
func TestQuickRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the gateway: skipped with -short")
	}
	dir := t.TempDir()
	bins := map[string]string{"mcp-gateway": "../mcp-gateway", "echo": "../../testdata/upstreams/echo"}
	for name, pkg := range bins {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg).CombinedOutput()
		require.NoError(t, err, "building %s: %s", pkg, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"--gateway", filepath.Join(dir, "mcp-gateway"), "--echo", filepath.Join(dir, "echo"), "--quick"}, &stdout, &stderr)
	t.Logf("stderr:\n%s", stderr.String())
	require.Equal(t, 0, code, "table:\n%s", stdout.String())

	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	r := &results{plan: newPlan(options{quick: true, duration: time.Second})}
	rows := r.rows()
	require.Len(t, lines, 2+len(rows), "one header, one separator, one line per figure:\n%s", stdout.String())
	for _, h := range targetHeads {
		assert.Contains(t, lines[0], h)
	}
	for i, row := range rows {
		line := lines[2+i]
		assert.True(t, strings.HasPrefix(line, "| "+row.label+" |"), "line %d: %s", 2+i, line)
		assert.Equal(t, int(nTargets)+3, strings.Count(line, "|"), "cells in %s", line)
		assert.NotContains(t, line, "error")
	}
	for _, label := range []string{"calls/s, 16 sessions", "p50 latency, 1 session", "CPU per call, 16 sessions",
		"RSS idle", "idle HTTP sessions", "start → first complete tools/list, 1 upstream", "20 upstreams", "tools/list of"} {
		assert.Contains(t, stdout.String(), label)
	}
}

func TestFloorAnswersAGoSDKClient(t *testing.T) {
	f, err := newFloor(2500)
	require.NoError(t, err)
	require.Len(t, f.pages, 3)
	ts := newTestServer(t, f)
	d := newDialer()
	defer d.close()
	ctx := context.Background()
	cs, _, err := d.connect(ctx, endpoint{url: ts + "/mcp"})
	require.NoError(t, err)
	defer cs.Close()
	n, err := listAll(ctx, cs)
	require.NoError(t, err)
	assert.Equal(t, 2501, n)
	require.NoError(t, callEcho(ctx, cs, echoParams("echo")))
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i))
	}
	assert.Equal(t, time.Duration(50), percentile(ds, 0.50))
	assert.Equal(t, time.Duration(99), percentile(ds, 0.99))
	assert.Equal(t, time.Duration(1), percentile(ds[:1], 0.99))
	assert.Equal(t, time.Duration(0), percentile(nil, 0.5))
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want string
	}{{0, "0"}, {999, "999"}, {1000, "1,000"}, {12345.6, "12,346"}, {1234567, "1,234,567"}} {
		assert.Equal(t, tc.want, fmtRate(tc.v))
	}
	assert.Equal(t, "0.123", fmtMs(0.1234))
	assert.Equal(t, "12.3", fmtMs(12.34))
	assert.Equal(t, "1234", fmtMs(1234.4))
}

func TestProcReaders(t *testing.T) {
	cpu, err := cpuTime(os.Getpid())
	require.NoError(t, err)
	assert.GreaterOrEqual(t, cpu, time.Duration(0))
	mem, err := rss(os.Getpid())
	require.NoError(t, err)
	assert.Greater(t, mem, int64(1<<20))
}

func TestAddrLines(t *testing.T) {
	addr, ok := gatewayAddr(`{"time":"x","level":"INFO","msg":"serving MCP over streamable HTTP","addr":"127.0.0.1:4242"}`)
	assert.True(t, ok)
	assert.Equal(t, "127.0.0.1:4242", addr)
	_, ok = gatewayAddr(`{"level":"INFO","msg":"upstream connected"}`)
	assert.False(t, ok)
	_, ok = gatewayAddr(`not json`)
	assert.False(t, ok)
	addr, ok = listeningAddr("listening on http://127.0.0.1:5151\n")
	assert.True(t, ok)
	assert.Equal(t, "127.0.0.1:5151", addr)
}

// newTestServer serves h on a loopback port until the test ends and returns
// its base URL.
func newTestServer(t *testing.T, h http.Handler) string {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts.URL
}
