package aggregator

// Benchmarks of the gateway's hot paths (issue #4): name mapping, routing
// lookup, catalog building, the forward path and a big tools/list. They run
// everything in memory, so they show the gateway's own cost per operation and
// its allocations; cmd/mcp-gateway-bench measures the real processes.
//
//	go test ./aggregator -run '^$' -bench . -benchmem

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// bigCatalogSize is the catalog size of the tools/list goal.
const bigCatalogSize = 10000

func BenchmarkExposedName(b *testing.B) {
	for _, bc := range []struct{ name, prefix, tool string }{
		{"valid", "filesystem", "read_file"},
		{"mapped", "filesystem", "read.file"},
		{"long", "filesystem", strings.Repeat("x", 100)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ExposedName(bc.prefix, bc.tool)
			}
		})
	}
}

// generatedTools returns n tools named tool_00000… with an object schema.
func generatedTools(n int) []*mcp.Tool {
	tools := make([]*mcp.Tool, n)
	for i := range tools {
		tools[i] = &mcp.Tool{
			Name:        fmt.Sprintf("tool_%05d", i),
			Description: "Generated tool: echoes its value argument.",
			InputSchema: map[string]any{"type": "object", "properties": map[string]any{"value": map[string]any{"type": "string"}}},
		}
	}
	return tools
}

// catalogSources is one upstream contributing the tools, as a view would
// pass it to buildCatalog. The upstream is never connected.
func catalogSources(b *testing.B, tools []*mcp.Tool) []source {
	b.Helper()
	a, err := New([]UpstreamSpec{{Name: "big", Prefix: "big", NewTransport: func(context.Context) (mcp.Transport, error) {
		return nil, fmt.Errorf("not connected in benchmarks")
	}}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	return []source{{up: a.upstreams[0], prefix: "big", lists: &lists{tools: tools}}}
}

func BenchmarkRouteLookup(b *testing.B) {
	srcs := catalogSources(b, generatedTools(bigCatalogSize))
	cat := buildCatalog(srcs)
	if len(cat.toolRoutes) != bigCatalogSize {
		b.Fatalf("catalog has %d routes, want %d", len(cat.toolRoutes), bigCatalogSize)
	}
	names := make([]string, 0, bigCatalogSize)
	for _, t := range cat.tools {
		names = append(names, t.Name)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, ok := cat.toolRoutes[names[i]]; !ok {
			b.Fatal("route missing")
		}
		if i++; i == len(names) {
			i = 0
		}
	}
}

func BenchmarkBuildCatalog(b *testing.B) {
	srcs := catalogSources(b, generatedTools(bigCatalogSize))
	b.ReportAllocs()
	for b.Loop() {
		buildCatalog(srcs)
	}
}

// benchAggregator runs an aggregator for the specs until the benchmark ends
// and waits for start-up.
func benchAggregator(b *testing.B, specs []UpstreamSpec, opts ...*Options) *Aggregator {
	b.Helper()
	o := &Options{}
	if len(opts) > 0 {
		o = opts[0]
	}
	o.Logger = slog.New(slog.DiscardHandler)
	a, err := New(specs, o)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	})
	select {
	case <-a.Started():
	case err := <-done:
		done <- err // for the cleanup
		b.Fatalf("Run: %v", err)
	}
	return a
}

// benchConnect connects a downstream client to srv in memory until the
// benchmark ends.
func benchConnect(b *testing.B, srv *mcp.Server) *mcp.ClientSession {
	b.Helper()
	ctx := context.Background()
	st, ct := mcp.NewInMemoryTransports()
	ss, err := srv.Connect(ctx, st, nil)
	if err != nil {
		b.Fatal(err)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "bench-client", Version: "test"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cs.Close()
		ss.Wait()
	})
	return cs
}

func benchCalls(b *testing.B, cs *mcp.ClientSession, tool string) {
	b.Helper()
	ctx := context.Background()
	params := &mcp.CallToolParams{Name: tool, Arguments: map[string]any{"text": "hello"}}
	b.ReportAllocs()
	for b.Loop() {
		res, err := cs.CallTool(ctx, params)
		if err != nil {
			b.Fatal(err)
		}
		if res.IsError {
			b.Fatal("isError result")
		}
	}
}

// BenchmarkForwardCall is one tools/call through the gateway: a downstream
// client, the aggregator's merged server, its upstream client and an
// in-memory upstream, all in this process. Compare with BenchmarkDirectCall
// (the same client calling the same upstream directly): the difference is
// what the gateway adds per call.
func BenchmarkForwardCall(b *testing.B) {
	srv := newServer("echo")
	srv.AddTool(echoTool("echo"))
	a := benchAggregator(b, []UpstreamSpec{fakeUpstream("echo", srv)})
	benchCalls(b, benchConnect(b, a.Server()), "echo__echo")
}

// BenchmarkDirectCall is BenchmarkForwardCall's baseline: the client calls
// the in-memory upstream with no gateway between.
func BenchmarkDirectCall(b *testing.B) {
	srv := newServer("echo")
	srv.AddTool(echoTool("echo"))
	benchCalls(b, benchConnect(b, srv), "echo")
}

// BenchmarkListTools10k lists a 10,000-tool catalog through the gateway,
// following every page.
func BenchmarkListTools10k(b *testing.B) {
	srv := newServer("big")
	_, handler := echoTool("tool")
	for _, t := range generatedTools(bigCatalogSize) {
		srv.AddTool(t, handler)
	}
	a := benchAggregator(b, []UpstreamSpec{fakeUpstream("big", srv)})
	cs := benchConnect(b, a.Server())
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		for _, err := range cs.Tools(ctx, nil) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != bigCatalogSize {
			b.Fatalf("listed %d tools, want %d", n, bigCatalogSize)
		}
	}
}
