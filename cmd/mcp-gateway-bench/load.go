package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// loadResult is one load run: every session calling tools/call echo in a
// loop, measured over a window after a warm-up.
type loadResult struct {
	calls   int64           // calls completed inside the window
	errors  int64           // calls that failed inside the window
	window  time.Duration   // length of the window
	lat     []time.Duration // sorted latencies of calls started and ended inside the window
	cpu     time.Duration   // CPU time of the measured process over the window
	rssPeak int64           // highest VmRSS of the measured process sampled in the window
}

func (r loadResult) rate() float64 { return float64(r.calls) / r.window.Seconds() }

func (r loadResult) cpuPerCall() time.Duration {
	if r.calls == 0 {
		return 0
	}
	return r.cpu / time.Duration(r.calls)
}

// maxErrorsPerSession stops a session whose calls keep failing.
const maxErrorsPerSession = 100

// runLoad drives the sessions for p.warmup and then p.duration, and measures
// the process pid over the second part.
func runLoad(ctx context.Context, sessions []*mcp.ClientSession, tool string, pid int, p plan) (loadResult, error) {
	const (
		warming int32 = iota
		measuring
		stopping
	)
	var phase atomic.Int32
	var calls, errs atomic.Int64
	var errOnce sync.Once
	var firstErr error
	lats := make([][]time.Duration, len(sessions))
	var wg sync.WaitGroup
	for i, cs := range sessions {
		lats[i] = make([]time.Duration, 0, 4096)
		wg.Go(func() {
			params := echoParams(tool)
			failures := 0
			for {
				before := phase.Load()
				if before == stopping || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				err := callEcho(ctx, cs, params)
				d := time.Since(t0)
				after := phase.Load()
				if err != nil {
					if after == measuring {
						errs.Add(1)
					}
					errOnce.Do(func() { firstErr = err })
					if failures++; failures >= maxErrorsPerSession {
						return
					}
					continue
				}
				if after == measuring {
					calls.Add(1)
					if before == measuring {
						lats[i] = append(lats[i], d)
					}
				}
			}
		})
	}
	defer wg.Wait()
	defer phase.Store(stopping)

	if err := sleep(ctx, p.warmup); err != nil {
		return loadResult{}, err
	}
	cpu0, err := cpuTime(pid)
	if err != nil {
		return loadResult{}, err
	}
	start := time.Now()
	phase.Store(measuring)
	var peak int64
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(p.duration)
	defer deadline.Stop()
sample:
	for {
		if r, err := rss(pid); err == nil {
			peak = max(peak, r)
		}
		select {
		case <-ctx.Done():
			return loadResult{}, ctx.Err()
		case <-deadline.C:
			break sample
		case <-tick.C:
		}
	}
	phase.Store(stopping)
	window := time.Since(start)
	cpu1, err := cpuTime(pid)
	if err != nil {
		return loadResult{}, err
	}
	wg.Wait()
	res := loadResult{calls: calls.Load(), errors: errs.Load(), window: window, cpu: cpu1 - cpu0, rssPeak: peak}
	for _, l := range lats {
		res.lat = append(res.lat, l...)
	}
	slices.Sort(res.lat)
	if res.calls == 0 {
		if firstErr != nil { // written before wg.Wait returned
			return res, fmt.Errorf("%w: %v", errNoCalls, firstErr)
		}
		return res, errNoCalls
	}
	return res, nil
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
