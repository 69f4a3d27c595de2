// Command mcp-gateway-bench measures mcp-gateway against the upstream it
// fronts and against a floor server, and prints one markdown table (issue #4).
//
//	go run ./cmd/mcp-gateway-bench --gateway bin/mcp-gateway --echo bin/echo [--duration 5s] [--quick]
//
// It starts everything itself on 127.0.0.1 ports the kernel picks: the floor
// (this binary re-executed with --serve-floor: a plain net/http handler that
// answers every POST with precomputed JSON-RPC bytes), the echo upstream
// (testdata/upstreams/echo) over streamable HTTP and over stdio, and the
// gateway in front of a stdio echo and of an HTTP echo. Every path is driven
// by the same load client: go-sdk client sessions, each calling tools/call
// echo in a loop. The table goes to stdout, progress to stderr.
//
// CPU figures are utime+stime deltas from /proc/PID/stat of the measured
// process only (the gateway, or the server for the floor and direct paths);
// RSS is VmRSS from /proc/PID/status. Linux only. The load client runs on the
// same machine, so every figure is only as good as the machine is quiet.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

// childEnv marks a re-executed harness process (the floor server). The test
// binary's TestMain checks it, since its own flags are the testing package's.
const childEnv = "_MCP_GATEWAY_BENCH_CHILD"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// options are the command-line flags.
type options struct {
	gateway    string
	echo       string
	duration   time.Duration
	quick      bool
	serveFloor string
	floorTools int
	noRelay    bool
}

// run executes the command line and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o := options{duration: 5 * time.Second}
	fs := flag.NewFlagSet("mcp-gateway-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.gateway, "gateway", "", "mcp-gateway binary to measure (`PATH`)")
	fs.StringVar(&o.echo, "echo", "", "echo upstream binary, built from ./testdata/upstreams/echo (`PATH`)")
	fs.DurationVar(&o.duration, "duration", o.duration, "measuring window of each load run")
	fs.BoolVar(&o.quick, "quick", false, "shorten everything (a smoke run; the figures mean little)")
	fs.BoolVar(&o.noRelay, "no-relay", false, "measure the gateway with its relay lane off (gateway.relay: false): every call through the MCP SDK")
	fs.StringVar(&o.serveFloor, "serve-floor", "", "internal: serve the floor on `ADDR` and print where")
	fs.IntVar(&o.floorTools, "floor-tools", 0, "internal: the floor also lists `N` generated tools")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mcp-gateway-bench: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if o.serveFloor != "" {
		if err := serveFloor(ctx, o.serveFloor, o.floorTools, stderr); err != nil {
			fmt.Fprintln(stderr, "mcp-gateway-bench floor:", err)
			return 1
		}
		return 0
	}
	b, err := newBench(o, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "mcp-gateway-bench:", err)
		return 2
	}
	defer os.RemoveAll(b.dir)
	res := b.run(ctx)
	if err := writeTable(stdout, res); err != nil {
		fmt.Fprintln(stderr, "mcp-gateway-bench:", err)
		return 1
	}
	if ctx.Err() != nil {
		return 1
	}
	if n := res.failures(); n > 0 {
		fmt.Fprintf(stderr, "mcp-gateway-bench: %d figures could not be measured (see above)\n", n)
		return 1
	}
	return 0
}

// plan is how long and how much of everything.
type plan struct {
	duration      time.Duration // measuring window of one load run
	warmup        time.Duration // load before the window opens
	settle        time.Duration // pause before an idle RSS reading
	idleSessions  int           // HTTP sessions opened for the RSS reading
	startRuns     int           // cold starts per start-to-list figure (median)
	manyUpstreams int           // upstreams in the second start-to-list figure
	bigTools      int           // generated tools in the big tools/list
	listRuns      int           // lists of the big catalog (median)
}

func newPlan(o options) plan {
	p := plan{
		duration:      o.duration,
		warmup:        max(o.duration/5, 200*time.Millisecond),
		settle:        time.Second,
		idleSessions:  1000,
		startRuns:     5,
		manyUpstreams: 20,
		bigTools:      10000,
		listRuns:      20,
	}
	if o.quick {
		p.duration = min(o.duration, 150*time.Millisecond)
		p.warmup = 50 * time.Millisecond
		p.settle = 50 * time.Millisecond
		p.idleSessions = 40
		p.startRuns = 1
		p.bigTools = 2000
		p.listRuns = 2
	}
	return p
}

// bench holds what every measurement needs.
type bench struct {
	gateway, echo, self string
	dir                 string // configs
	plan                plan
	log                 io.Writer
	noRelay             bool // the gateway's relay lane is off
}

func newBench(o options, stderr io.Writer) (*bench, error) {
	if o.gateway == "" || o.echo == "" {
		return nil, errors.New("--gateway and --echo are required (see `make bench`)")
	}
	if o.duration <= 0 {
		return nil, errors.New("--duration must be positive")
	}
	b := &bench{plan: newPlan(o), log: stderr, noRelay: o.noRelay}
	var err error
	for _, p := range []struct {
		dst *string
		src string
	}{{&b.gateway, o.gateway}, {&b.echo, o.echo}} {
		if *p.dst, err = filepath.Abs(p.src); err != nil {
			return nil, err
		}
		if _, err := os.Stat(*p.dst); err != nil {
			return nil, err
		}
	}
	if b.self, err = os.Executable(); err != nil {
		return nil, fmt.Errorf("finding this executable (the floor server): %w", err)
	}
	if b.dir, err = os.MkdirTemp("", "mcp-gateway-bench-"); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *bench) progress(format string, args ...any) {
	fmt.Fprintf(b.log, "bench: "+format+"\n", args...)
}
