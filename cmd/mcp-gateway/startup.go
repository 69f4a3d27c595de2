package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mcp-gateway/mcp-gateway/aggregator"
	"github.com/mcp-gateway/mcp-gateway/config"
	"golang.org/x/term"
)

// terminal is a writer that says whether it is a terminal; tests inject one.
type terminal interface {
	io.Writer
	IsTerminal() bool
}

// isTerminal reports whether w is a terminal: a console or a tty, not a
// pipe, a file or /dev/null. NO_COLOR does not matter here.
func isTerminal(w io.Writer) bool {
	switch w := w.(type) {
	case terminal:
		return w.IsTerminal()
	case *os.File:
		return term.IsTerminal(int(w.Fd()))
	}
	return false
}

// startupReport shows a person at a terminal how each upstream's start goes
// (connecting, ready with its tool count and time, or failed with the
// reason in one line) instead of silence until all are up. It reports each
// upstream's first outcome, then a summary, and is quiet after that: the
// log says the rest. It wraps the observer the aggregator is given.
type startupReport struct {
	aggregator.Observer
	w   io.Writer
	now func() time.Time
	// status returns an upstream's status; it is called only from
	// UpstreamState, which the aggregator calls holding no lock.
	status func(name string) (aggregator.UpstreamStatus, bool)

	mu      sync.Mutex
	start   time.Time
	names   []string
	pending map[string]bool // upstreams whose first outcome is not shown yet
	ready   int
	width   int
}

// newStartupReport returns a report on w of the named upstreams' start, or
// nil when w is not a terminal or the log is JSON (then stderr is for
// machines). obs is passed everything; nil means aggregator.NopObserver.
func newStartupReport(w io.Writer, logFormat string, names []string, obs aggregator.Observer) *startupReport {
	if !isTerminal(w) || strings.EqualFold(logFormat, "json") || len(names) == 0 {
		return nil
	}
	if obs == nil {
		obs = aggregator.NopObserver{}
	}
	r := &startupReport{Observer: obs, w: w, now: time.Now, names: names, pending: map[string]bool{}}
	for _, n := range names {
		r.pending[n] = true
		r.width = max(r.width, len(n))
	}
	return r
}

// observer is what the aggregator is given: r, or obs when there is no
// report.
func (r *startupReport) observer(obs aggregator.Observer) aggregator.Observer {
	if r == nil {
		return obs
	}
	return r
}

// begin shows every upstream connecting. Call it before the aggregator runs.
func (r *startupReport) begin(status func(name string) (aggregator.UpstreamStatus, bool)) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status, r.start = status, r.now()
	for _, n := range r.names {
		kind := ""
		if st, ok := status(n); ok && st.Transport != "" {
			kind = " (" + st.Transport + ")"
		}
		fmt.Fprintf(r.w, "  connecting  %-*s%s\n", r.width, n, kind)
	}
}

// active reports whether the report shows anything.
func (r *startupReport) active() bool { return r != nil }

func (r *startupReport) UpstreamState(upstream string, up bool) {
	r.Observer.UpstreamState(upstream, up)
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.pending[upstream] || r.status == nil {
		return
	}
	delete(r.pending, upstream)
	took := r.now().Sub(r.start)
	st, _ := r.status(upstream)
	if up {
		r.ready++
		fmt.Fprintf(r.w, "  ready       %-*s %s in %s\n", r.width, upstream, plural(st.Tools, "tool"), round(took))
	} else {
		reason := st.LastError
		if reason == "" {
			reason = "connection closed"
		}
		fmt.Fprintf(r.w, "  failed      %-*s after %s: %s\n", r.width, upstream, round(took), oneLine(reason, 200))
	}
	if len(r.pending) == 0 {
		fmt.Fprintf(r.w, "%d of %s ready in %s\n", r.ready, plural(len(r.names), "upstream"), round(took))
	}
}

// round shows a duration to the millisecond below 10s, else to the tenth.
func round(d time.Duration) time.Duration {
	if d < 10*time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(100 * time.Millisecond)
}

// startupFor is the report for cfg's enabled upstreams on w, in the log
// format in force (the flag's, else the config's).
func startupFor(w io.Writer, g *globalOptions, cfg *config.Config, obs aggregator.Observer) *startupReport {
	format := g.logFormat
	if format == "" {
		format = cfg.Gateway.Log.Format
	}
	var names []string
	for _, u := range cfg.Enabled() {
		names = append(names, u.Name)
	}
	return newStartupReport(w, format, names, obs)
}

// statusOf returns a lookup of one upstream's status in agg.
func statusOf(agg *aggregator.Aggregator) func(string) (aggregator.UpstreamStatus, bool) {
	return func(name string) (aggregator.UpstreamStatus, bool) {
		for _, st := range agg.Status() {
			if st.Name == name {
				return st, true
			}
		}
		return aggregator.UpstreamStatus{}, false
	}
}
