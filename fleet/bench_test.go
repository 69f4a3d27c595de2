package fleet

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// typicalRecord is the record of a client like the TypeScript SDK's: client
// info, sampling, elicitation and roots capabilities, one subscription.
func typicalRecord() *Record {
	return &Record{View: "", Identity: "api_key:ops", Created: time.Now().UTC(), Subscriptions: []string{"file:///notes/today.md"},
		Roots: &mcp.RootCapabilities{ListChanged: true},
		State: mcp.ServerSessionState{
			InitializeParams: &mcp.InitializeParams{ProtocolVersion: "2025-11-25",
				ClientInfo: &mcp.Implementation{Name: "claude-code", Version: "2.1.0"},
				Capabilities: &mcp.ClientCapabilities{Sampling: &mcp.SamplingCapabilities{},
					Elicitation: &mcp.ElicitationCapabilities{Form: &mcp.FormElicitationCapabilities{}, URL: &mcp.URLElicitationCapabilities{}}}},
			InitializedParams: &mcp.InitializedParams{}, NegotiatedProtocolVersion: "2025-11-25", LogLevel: "info"}}
}

// BenchmarkSessionLookup is what a request for a session this replica does
// not hold adds before the session is rebuilt: one GET of its record from a
// real redis-server on loopback. It reports p50 and p99.
func BenchmarkSessionLookup(b *testing.B) {
	r := startRedis(&testing.T{})
	defer r.stop()
	st, err := New(&Options{URL: r.url()})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- st.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for !st.Up() {
		time.Sleep(10 * time.Millisecond)
	}
	st.save(ctx, "bench-session", typicalRecord())
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if rec, ok := st.load(ctx, "bench-session"); rec == nil || !ok {
			b.Fatal("no record")
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkSessionMemory writes 10,000 typical session records and reports
// Redis's memory per session: INFO memory's used_memory growth per record,
// and MEMORY USAGE of one key.
func BenchmarkSessionMemory(b *testing.B) {
	r := startRedis(&testing.T{})
	defer r.stop()
	st, err := New(&Options{URL: r.url()})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	st.up.Store(true)
	used := func() float64 {
		info := st.rdb.Info(ctx, "memory").Val()
		for _, line := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
				f, _ := strconv.ParseFloat(v, 64)
				return f
			}
		}
		return 0
	}
	const n = 10000
	for range b.N {
		if err := st.rdb.FlushDB(ctx).Err(); err != nil {
			b.Fatal(err)
		}
		before := used()
		rec := typicalRecord()
		for i := range n {
			st.save(ctx, fmt.Sprintf("%032x", i), rec)
		}
		b.ReportMetric((used()-before)/n, "used_memory-B/session")
		b.ReportMetric(float64(st.rdb.MemoryUsage(ctx, st.sessionKey(fmt.Sprintf("%032x", 0))).Val()), "MEMORY-USAGE-B/key")
	}
	st.rdb.Close()
}
