// Command mcp-gateway puts many MCP servers behind one. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// GC pacing defaults. A gateway allocates little that lives: most of what it
// allocates is per-message decoding garbage (go-sdk's decoder takes a 32 KiB
// buffer per message), so collecting at 100% heap growth spends much of its
// CPU in GC. Collecting at 400% cut the CPU of a forwarded call by about 30%
// (BenchmarkForwardCall); the soft memory limit keeps a small gateway small
// however much garbage it makes. GOGC and GOMEMLIMIT override both.
const (
	defaultGCPercent   = 400
	defaultMemoryLimit = 80 << 20
)

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
