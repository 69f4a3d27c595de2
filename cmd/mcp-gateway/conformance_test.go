package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestConformanceAuth runs the official MCP conformance suite's client auth
// scenarios (@modelcontextprotocol/conformance, pinned in
// testdata/interop/package-lock.json) against the gateway's OAuth client.
// Each scenario starts an MCP server and authorization server of the suite's
// own and runs testdata/clients/conformance, which logs in with the gateway
// binary and calls the server's tools through `mcp-gateway serve`. The
// scenarios the gateway fails on purpose are listed, with the reason, in
// testdata/interop/conformance-auth-baseline.yml; the suite fails on any
// other failure and on a listed scenario that passes.
func TestConformanceAuth(t *testing.T) {
	e := needInterop(t)
	suite := filepath.Join(e.dir, "node_modules", "@modelcontextprotocol", "conformance", "dist", "index.js")
	_, err := os.Stat(suite)
	require.NoError(t, err, "the conformance suite is not installed: run `make interop-deps` (npm ci in testdata/interop)")

	client := filepath.Join(bins.dir, "conformance-client")
	build := exec.Command("go", "build", "-o", client, "../../testdata/clients/conformance")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	work := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.node, suite, "client", "--command", client, "--suite", "auth",
		"--timeout", "60000", "--expected-failures", filepath.Join(e.dir, "conformance-auth-baseline.yml"), "-o", filepath.Join(work, "results"))
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "MCP_GATEWAY_BIN="+bins.gateway, "NO_COLOR=1")
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err = cmd.Run()
	report := buf.String()
	if i := strings.Index(report, "=== SUITE SUMMARY ==="); i >= 0 {
		t.Logf("conformance client --suite auth:\n%s", report[i:])
	}
	require.NoError(t, err, "the conformance suite failed (results in %s):\n%s", work, report)
	require.Contains(t, report, "auth/metadata-default", "the suite ran its scenarios")
}
