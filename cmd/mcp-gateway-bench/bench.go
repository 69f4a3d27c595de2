package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"golang.org/x/sync/errgroup"
)

var targetNames = [nTargets]string{"floor", "direct HTTP", "direct stdio", "gateway HTTP→stdio", "gateway HTTP→HTTP"}

// loadMetrics are the figures measureLoad produces.
var loadMetrics = []metric{mCalls1, mCalls16, mCalls64, mP50x1, mP99x1, mP50x16, mP99x16, mCPU1, mCPU16, mRSSIdle, mRSSLoad, mRSSSessions}

// run measures everything, one target at a time. A figure that cannot be
// measured is reported on stderr and marked in the table; the rest go on.
func (b *bench) run(ctx context.Context) *results {
	r := &results{plan: b.plan}
	p := b.plan
	b.progress("load runs: %s warm-up + %s window per point, sessions 1/16/64; %d idle sessions", p.warmup, p.duration, p.idleSessions)
	for _, step := range []func(context.Context, *results){
		b.loadFloor, b.loadDirectHTTP, b.loadDirectStdio, b.loadGatewayStdio, b.loadGatewayHTTP,
		b.startToList, b.bigList,
	} {
		if ctx.Err() != nil {
			break
		}
		step(ctx, r)
	}
	return r
}

func (b *bench) startFloor(generated int) (*proc, error) {
	env := append(os.Environ(), childEnv+"=1")
	return startProc("floor", []string{b.self, "--serve-floor", "127.0.0.1:0", "--floor-tools", strconv.Itoa(generated)}, env, listeningAddr)
}

func (b *bench) startEchoHTTP(args ...string) (*proc, error) {
	return startProc("echo", append([]string{b.echo, "--http", "127.0.0.1:0"}, args...), nil, listeningAddr)
}

// startGateway writes the config's mcpServers to a file and starts
// `mcp-gateway serve --http 127.0.0.1:0` on it. It logs at info as JSON only
// to learn the bound address; nothing is logged per call at that level.
func (b *bench) startGateway(name string, servers map[string]any) (*proc, error) {
	// The hop is measured, not the limiter or the audit log: one load client
	// making thousands of calls per second would be rate limited as one
	// identity, and the audit log writes a line per call.
	data, err := json.MarshalIndent(map[string]any{"mcpServers": servers, "gateway": map[string]any{
		"limits": map[string]any{"rate_limit_rpm": -1},
		"audit":  map[string]any{"disabled": true},
		"relay":  !b.noRelay,
	}}, "", "  ")
	if err != nil {
		return nil, err
	}
	cfg := filepath.Join(b.dir, name+".json")
	if err := os.WriteFile(cfg, data, 0o600); err != nil {
		return nil, err
	}
	return startProc("gateway", []string{b.gateway, "serve", "--http", "127.0.0.1:0", "--config", cfg,
		"--log-level", "info", "--log-format", "json"}, nil, gatewayAddr)
}

func (b *bench) loadFloor(ctx context.Context, r *results) {
	b.measureLoad(ctx, r, tFloor, func() (*proc, error) { return b.startFloor(0) }, "echo")
}

func (b *bench) loadDirectHTTP(ctx context.Context, r *results) {
	b.measureLoad(ctx, r, tDirectHTTP, func() (*proc, error) { return b.startEchoHTTP() }, "echo")
}

func (b *bench) loadGatewayStdio(ctx context.Context, r *results) {
	b.measureLoad(ctx, r, tGatewayStdio, func() (*proc, error) {
		return b.startGateway("stdio", map[string]any{"echo": map[string]any{"command": b.echo}})
	}, "echo__echo")
}

func (b *bench) loadGatewayHTTP(ctx context.Context, r *results) {
	up, err := b.startEchoHTTP()
	if err != nil {
		b.failed(r, tGatewayHTTP, err, loadMetrics...)
		return
	}
	defer up.stop()
	b.measureLoad(ctx, r, tGatewayHTTP, func() (*proc, error) {
		return b.startGateway("http", map[string]any{"echo": map[string]any{"url": up.url()}})
	}, "echo__echo")
}

// loadDirectStdio is the stdio upstream called directly: one session, the
// only kind stdio has.
func (b *bench) loadDirectStdio(ctx context.Context, r *results) {
	figures := []metric{mCalls1, mP50x1, mP99x1, mCPU1, mRSSIdle}
	d := newDialer()
	defer d.close()
	cs, pid, err := d.connect(ctx, endpoint{argv: []string{b.echo}})
	if err != nil {
		b.failed(r, tDirectStdio, err, figures...)
		return
	}
	defer cs.Close()
	if err := b.measureIdle(ctx, r, tDirectStdio, cs, "echo", pid); err != nil {
		b.failed(r, tDirectStdio, err, figures...)
		return
	}
	res, err := runLoad(ctx, []*mcp.ClientSession{cs}, "echo", pid, b.plan)
	if err != nil {
		b.failed(r, tDirectStdio, err, figures...)
		return
	}
	b.record(r, tDirectStdio, 1, res)
}

// measureLoad produces loadMetrics for an HTTP server. The idle-sessions
// figure gets a fresh process, so that neither it nor the load figures carry
// the other's heap.
func (b *bench) measureLoad(ctx context.Context, r *results, t target, start func() (*proc, error), tool string) {
	d := newDialer()
	defer d.close()
	for _, measure := range []func(context.Context, *results, target, *dialer, endpoint, int) error{b.measureCalls, b.measureSessions} {
		p, err := start()
		if err != nil {
			b.failed(r, t, err, loadMetrics...)
			return
		}
		err = measure(ctx, r, t, d, endpoint{url: p.url(), tool: tool}, p.pid())
		d.close()
		p.stop()
		if err != nil {
			b.failed(r, t, err, loadMetrics...)
			return
		}
	}
}

// measureCalls reads the idle RSS of a fresh server, then runs the load at
// 1, 16 and 64 sessions.
func (b *bench) measureCalls(ctx context.Context, r *results, t target, d *dialer, ep endpoint, pid int) error {
	cs, _, err := d.connect(ctx, ep)
	if err != nil {
		return err
	}
	err = b.measureIdle(ctx, r, t, cs, ep.tool, pid)
	cs.Close()
	if err != nil {
		return err
	}
	for _, n := range []int{1, 16, 64} {
		sessions, err := d.connectN(ctx, ep, n)
		if err != nil {
			return err
		}
		res, err := runLoad(ctx, sessions, ep.tool, pid, b.plan)
		closeAll(sessions)
		if err != nil {
			return fmt.Errorf("%d sessions: %w", n, err)
		}
		b.record(r, t, n, res)
	}
	return nil
}

// measureSessions opens idleSessions initialized sessions on a fresh server
// (after one warm-up call) and reads its RSS while they stay open.
func (b *bench) measureSessions(ctx context.Context, r *results, t target, d *dialer, ep endpoint, pid int) error {
	cs, _, err := d.connect(ctx, ep)
	if err != nil {
		return err
	}
	err = callEcho(ctx, cs, echoParams(ep.tool))
	cs.Close()
	if err != nil {
		return err
	}
	sessions, err := d.connectN(ctx, ep, b.plan.idleSessions)
	if err != nil {
		return fmt.Errorf("opening %d idle sessions: %w", b.plan.idleSessions, err)
	}
	defer closeAll(sessions)
	if err := sleep(ctx, b.plan.settle); err != nil {
		return err
	}
	mem, err := rss(pid)
	if err != nil {
		return err
	}
	r.setBytes(mRSSSessions, t, mem)
	b.progress("%s: %d idle sessions: RSS %.1f MB", targetNames[t], len(sessions), float64(mem)/(1<<20))
	return nil
}

// measureIdle warms a fresh server up (a list and a call, which also waits
// for the gateway's upstream) and reads its RSS once it has settled.
func (b *bench) measureIdle(ctx context.Context, r *results, t target, cs *mcp.ClientSession, tool string, pid int) error {
	if _, err := listAll(ctx, cs); err != nil {
		return fmt.Errorf("tools/list: %w", err)
	}
	if err := callEcho(ctx, cs, echoParams(tool)); err != nil {
		return err
	}
	if err := sleep(ctx, b.plan.settle); err != nil {
		return err
	}
	mem, err := rss(pid)
	if err != nil {
		return err
	}
	r.setBytes(mRSSIdle, t, mem)
	return nil
}

// record stores one load run's figures.
func (b *bench) record(r *results, t target, sessions int, res loadResult) {
	p50, p99 := percentile(res.lat, 0.50), percentile(res.lat, 0.99)
	b.progress("%s: %2d session(s): %8.0f calls/s, p50 %.3f ms, p99 %.3f ms, CPU/call %.3f ms, peak RSS %.1f MB, %d errors",
		targetNames[t], sessions, res.rate(), ms(p50), ms(p99), ms(res.cpuPerCall()), float64(res.rssPeak)/(1<<20), res.errors)
	switch sessions {
	case 1:
		r.set(mCalls1, t, res.rate())
		r.setDuration(mP50x1, t, p50)
		r.setDuration(mP99x1, t, p99)
		r.setDuration(mCPU1, t, res.cpuPerCall())
	case 16:
		r.set(mCalls16, t, res.rate())
		r.setDuration(mP50x16, t, p50)
		r.setDuration(mP99x16, t, p99)
		r.setDuration(mCPU16, t, res.cpuPerCall())
		r.setBytes(mRSSLoad, t, res.rssPeak)
	case 64:
		r.set(mCalls64, t, res.rate())
	}
}

func (b *bench) failed(r *results, t target, err error, ms ...metric) {
	b.progress("%s: %v", targetNames[t], err)
	r.fail(t, ms...)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// starter starts one server (or, for stdio, says how to spawn it) and
// returns where to reach it and how to stop it.
type starter func() (endpoint, func(), error)

func (b *bench) procStarter(start func() (*proc, error)) starter {
	return func() (endpoint, func(), error) {
		p, err := start()
		if err != nil {
			return endpoint{}, nil, err
		}
		return endpoint{url: p.url()}, p.stop, nil
	}
}

// coldStart times starting k servers at once: from just before the first
// exec until every one has answered its first complete tools/list (every
// page), each client connecting as soon as its server's port is bound. It
// returns the elapsed time and the number of tools each listed.
func (b *bench) coldStart(ctx context.Context, d *dialer, k int, start starter) (time.Duration, []int, error) {
	counts := make([]int, k)
	ends := make([]time.Time, k)
	var mu sync.Mutex
	var stops []func()
	defer func() {
		d.close()
		for _, stop := range stops {
			stop()
		}
	}()
	var sessions []*mcp.ClientSession
	defer func() { closeAll(sessions) }()
	g, gctx := errgroup.WithContext(ctx)
	t0 := time.Now()
	for i := range k {
		g.Go(func() error {
			ep, stop, err := start()
			if err != nil {
				return err
			}
			if stop != nil {
				mu.Lock()
				stops = append(stops, stop)
				mu.Unlock()
			}
			cs, _, err := d.connect(gctx, ep)
			if err != nil {
				return err
			}
			mu.Lock()
			sessions = append(sessions, cs)
			mu.Unlock()
			if counts[i], err = listAll(gctx, cs); err != nil {
				return err
			}
			ends[i] = time.Now()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return 0, nil, err
	}
	var last time.Time
	for _, e := range ends {
		if e.After(last) {
			last = e
		}
	}
	return last.Sub(t0), counts, nil
}

// startToList measures start to first complete tools/list with 1 and with
// manyUpstreams upstreams (median of startRuns). Direct columns start that
// many servers at once; the gateway columns start one gateway with that many
// upstreams.
func (b *bench) startToList(ctx context.Context, r *results) {
	p := b.plan
	d := newDialer()
	defer d.close()
	// The gateway's HTTP upstream runs already: that column is the gateway's
	// own start.
	up, err := b.startEchoHTTP()
	if err != nil {
		b.failed(r, tGatewayHTTP, err, mStart1, mStartMany)
	}
	defer up.stop()

	echoTools := 0 // tools the echo upstream lists, to check the gateway's list is complete
	for _, k := range []int{1, p.manyUpstreams} {
		m := mStart1
		if k > 1 {
			m = mStartMany
		}
		gwConfig := func(entry func(i int) map[string]any) map[string]any {
			servers := map[string]any{}
			for i := range k {
				name := "echo"
				if k > 1 {
					name = fmt.Sprintf("echo-%02d", i+1)
				}
				servers[name] = entry(i)
			}
			return servers
		}
		starters := [nTargets]starter{
			tFloor:      b.procStarter(func() (*proc, error) { return b.startFloor(0) }),
			tDirectHTTP: b.procStarter(func() (*proc, error) { return b.startEchoHTTP() }),
			tDirectStdio: func() (endpoint, func(), error) {
				return endpoint{argv: []string{b.echo}}, nil, nil
			},
			tGatewayStdio: b.procStarter(func() (*proc, error) {
				return b.startGateway(fmt.Sprintf("start-stdio-%d", k), gwConfig(func(int) map[string]any { return map[string]any{"command": b.echo} }))
			}),
		}
		if up != nil {
			starters[tGatewayHTTP] = b.procStarter(func() (*proc, error) {
				return b.startGateway(fmt.Sprintf("start-http-%d", k), gwConfig(func(int) map[string]any { return map[string]any{"url": up.url()} }))
			})
		}
		for t := range nTargets {
			start := starters[t]
			if start == nil {
				continue
			}
			n := k
			if t == tGatewayStdio || t == tGatewayHTTP {
				n = 1
			}
			var times []time.Duration
			var err error
			for range p.startRuns {
				var elapsed time.Duration
				var counts []int
				if elapsed, counts, err = b.coldStart(ctx, d, n, start); err != nil {
					break
				}
				if t == tDirectStdio && echoTools == 0 {
					echoTools = counts[0]
				}
				if (t == tGatewayStdio || t == tGatewayHTTP) && echoTools > 0 && counts[0] != k*echoTools {
					err = fmt.Errorf("first tools/list is incomplete: %d tools, want %d", counts[0], k*echoTools)
					break
				}
				times = append(times, elapsed)
			}
			if err != nil {
				b.failed(r, t, fmt.Errorf("start to list, %d upstreams: %w", k, err), m)
				continue
			}
			r.setDuration(m, t, median(times))
			b.progress("%s: start → first complete tools/list, %d upstream(s): median %.1f ms of %v",
				targetNames[t], k, ms(median(times)), roundAll(times))
		}
	}
}

// bigList measures tools/list of a big catalog: the median of listRuns lists
// on one session, each following every page, after one warm-up list.
func (b *bench) bigList(ctx context.Context, r *results) {
	p := b.plan
	tools := strconv.Itoa(p.bigTools)
	d := newDialer()
	defer d.close()
	measure := func(t target, ep endpoint) {
		if err := b.listLatency(ctx, r, t, d, ep); err != nil {
			b.failed(r, t, fmt.Errorf("tools/list of %d tools: %w", p.bigTools, err), mList)
		}
	}
	if fl, err := b.startFloor(p.bigTools); err != nil {
		b.failed(r, tFloor, err, mList)
	} else {
		measure(tFloor, endpoint{url: fl.url()})
		d.close()
		fl.stop()
	}
	measure(tDirectStdio, endpoint{argv: []string{b.echo, "--tools", tools}})
	if gw, err := b.startGateway("big-stdio", map[string]any{"echo": map[string]any{"command": b.echo, "args": []string{"--tools", tools}}}); err != nil {
		b.failed(r, tGatewayStdio, err, mList)
	} else {
		measure(tGatewayStdio, endpoint{url: gw.url()})
		d.close()
		gw.stop()
	}
	up, err := b.startEchoHTTP("--tools", tools)
	if err != nil {
		b.failed(r, tDirectHTTP, err, mList)
		b.failed(r, tGatewayHTTP, err, mList)
		return
	}
	defer up.stop()
	measure(tDirectHTTP, endpoint{url: up.url()})
	if gw, err := b.startGateway("big-http", map[string]any{"echo": map[string]any{"url": up.url()}}); err != nil {
		b.failed(r, tGatewayHTTP, err, mList)
	} else {
		measure(tGatewayHTTP, endpoint{url: gw.url()})
		d.close()
		gw.stop()
	}
}

func (b *bench) listLatency(ctx context.Context, r *results, t target, d *dialer, ep endpoint) error {
	cs, _, err := d.connect(ctx, ep)
	if err != nil {
		return err
	}
	defer cs.Close()
	if n, err := listAll(ctx, cs); err != nil {
		return err
	} else if n < b.plan.bigTools {
		return fmt.Errorf("listed %d tools, want at least %d", n, b.plan.bigTools)
	}
	var times []time.Duration
	for range b.plan.listRuns {
		t0 := time.Now()
		if _, err := listAll(ctx, cs); err != nil {
			return err
		}
		times = append(times, time.Since(t0))
	}
	r.setDuration(mList, t, median(times))
	b.progress("%s: tools/list of %d tools: median %.1f ms", targetNames[t], b.plan.bigTools, ms(median(times)))
	return nil
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(100 * time.Microsecond)
	}
	return out
}
