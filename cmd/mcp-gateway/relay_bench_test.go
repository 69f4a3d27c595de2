package main

// BenchmarkForwardHTTPStdio is one forwarded tools/call through the whole
// gateway in this process: a go-sdk client over streamable HTTP on loopback,
// `serve --http` as the binary wires it, and the echo test server over
// stdio as the upstream (its own process, outside the profile). Rate limit
// and audit are off, as in `make bench`, so the hop itself is measured.
//
//	go test ./cmd/mcp-gateway -run '^$' -bench ForwardHTTPStdio -benchmem -cpuprofile cpu.out

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func BenchmarkForwardHTTPStdio(b *testing.B) {
	for _, lane := range []struct {
		name  string
		relay bool
	}{{"relay", true}, {"sdk", false}} {
		b.Run(lane.name, func(b *testing.B) {
			if bins.echo == "" {
				b.Skip("needs the test binaries: run without -short")
			}
			cfg := writeConfig(b, map[string]any{
				"mcpServers": map[string]any{"echo": map[string]any{"command": bins.echo}},
				"gateway": map[string]any{
					"limits": map[string]any{"rate_limit_rpm": -1},
					"audit":  map[string]any{"disabled": true},
					"relay":  lane.relay,
				},
			})
			url := serveInProcess(b, cfg)
			// No roots to offer: a client that can be asked takes the SDK lane.
			cs, err := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "test"}, &mcp.ClientOptions{Capabilities: &mcp.ClientCapabilities{}}).
				Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: url}, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer cs.Close()
			params := &mcp.CallToolParams{Name: "echo__echo", Arguments: map[string]any{"text": strings.Repeat("x", 1000)}}
			b.ReportAllocs()
			for b.Loop() {
				res, err := cs.CallTool(context.Background(), params)
				if err != nil {
					b.Fatal(err)
				}
				if res.IsError {
					b.Fatal("isError result")
				}
			}
		})
	}
}

// serveInProcess runs `serve --http 127.0.0.1:0` on cfg in this process
// until the benchmark ends and returns its /mcp URL.
func serveInProcess(b *testing.B, cfg string) string {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan net.Addr, 1)
	done := make(chan error, 1)
	g := &globalOptions{configPath: cfg, logLevel: "error", logFormat: "json"}
	go func() {
		done <- serve(ctx, g, serveOptions{http: "127.0.0.1:0", onListen: func(a net.Addr) { addr <- a }}, io.NopCloser(strings.NewReader("")), io.Discard, io.Discard)
	}()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	})
	select {
	case a := <-addr:
		return "http://" + a.String() + "/mcp"
	case err := <-done:
		b.Fatalf("serve: %v", err)
	}
	return ""
}
