package main

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// target is one column of the table: one way to reach the echo tool.
type target int

const (
	tFloor target = iota
	tDirectHTTP
	tDirectStdio
	tGatewayStdio
	tGatewayHTTP
	nTargets
)

var targetHeads = [nTargets]string{
	"floor (fixed JSON-RPC bytes)",
	"echo direct, HTTP",
	"echo direct, stdio (× HTTP / × floor)",
	"gateway HTTP → stdio echo (× direct HTTP / × floor)",
	"gateway HTTP → HTTP echo (× direct HTTP / × floor)",
}

// metric is one row of the table.
type metric int

const (
	mCalls1 metric = iota
	mCalls16
	mCalls64
	mP50x1
	mP99x1
	mP50x16
	mP99x16
	mCPU1
	mCPU16
	mRSSIdle
	mRSSLoad
	mRSSSessions
	mStart1
	mStartMany
	mList
	nMetrics
)

// cell is one figure; ok is false when it was not measured (or failed, with
// a note saying why).
type cell struct {
	v    float64
	ok   bool
	note string
}

// results are every figure of one run.
type results struct {
	cells [nMetrics][nTargets]cell
	plan  plan
}

// failures counts the figures that could not be measured.
func (r *results) failures() int {
	n := 0
	for _, row := range r.cells {
		for _, c := range row {
			if !c.ok && c.note != "" {
				n++
			}
		}
	}
	return n
}

func (r *results) set(m metric, t target, v float64) { r.cells[m][t] = cell{v: v, ok: true} }

func (r *results) setDuration(m metric, t target, d time.Duration) {
	r.set(m, t, float64(d)/float64(time.Millisecond))
}

func (r *results) setBytes(m metric, t target, b int64) { r.set(m, t, float64(b)/(1<<20)) }

// fail marks figures as not measured; the error went to stderr.
func (r *results) fail(t target, ms ...metric) {
	for _, m := range ms {
		if !r.cells[m][t].ok {
			r.cells[m][t] = cell{note: "error"}
		}
	}
}

// row describes how one metric is printed and judged.
type row struct {
	m      metric
	label  string
	format func(float64) string
	goal   func(r *results) string // "" when the issue sets no goal
}

func (r *results) rows() []row {
	p := r.plan
	gwBoth := func(m metric, ok func(v float64) bool, show func(v float64) string) string {
		var parts []string
		for _, t := range []target{tGatewayStdio, tGatewayHTTP} {
			name := map[target]string{tGatewayStdio: "→stdio", tGatewayHTTP: "→HTTP"}[t]
			c := r.cells[m][t]
			if !c.ok {
				parts = append(parts, name+" ?")
				continue
			}
			parts = append(parts, fmt.Sprintf("%s %s %s", name, mark(ok(c.v)), show(c.v)))
		}
		return strings.Join(parts, ", ")
	}
	// overDirectStdio judges the gateway (HTTP → stdio) against the stdio
	// upstream served directly, plus an allowance.
	overDirectStdio := func(m metric, base metric, allowance float64, unit string) string {
		g, d := r.cells[m][tGatewayStdio], r.cells[base][tDirectStdio]
		if !g.ok || !d.ok {
			return "?"
		}
		diff := g.v - d.v
		return fmt.Sprintf("%s %+.*f %s", mark(diff <= allowance), decimals(allowance), diff, unit)
	}
	return []row{
		{mCalls1, "calls/s, 1 session", fmtRate, nil},
		{mCalls16, "calls/s, 16 sessions", fmtRate, func(r *results) string {
			g, d := r.cells[mCalls16][tGatewayStdio], r.cells[mCalls16][tDirectHTTP]
			if !g.ok || !d.ok {
				return "HTTP→stdio ≥ 1.5× direct HTTP: ?"
			}
			return fmt.Sprintf("HTTP→stdio ≥ 1.5× direct HTTP: %s %.2f×", mark(g.v >= 1.5*d.v), g.v/d.v)
		}},
		{mCalls64, "calls/s, 64 sessions", fmtRate, nil},
		{mP50x1, "p50 latency, 1 session (ms)", fmtMs, func(r *results) string {
			return "HTTP→stdio ≤ direct stdio + 0.1 ms: " + overDirectStdio(mP50x1, mP50x1, 0.1, "ms")
		}},
		{mP99x1, "p99 latency, 1 session (ms)", fmtMs, nil},
		{mP50x16, "p50 latency, 16 sessions (ms)", fmtMs, nil},
		{mP99x16, "p99 latency, 16 sessions (ms)", fmtMs, nil},
		{mCPU1, "CPU per call, 1 session (ms; gateway, else server)", fmtMs, nil},
		{mCPU16, "CPU per call, 16 sessions (ms; gateway, else server)", fmtMs, func(r *results) string {
			return "≤ 0.10 ms: " + gwBoth(mCPU16, func(v float64) bool { return v <= 0.10 }, fmtMs)
		}},
		{mRSSIdle, "RSS idle after start (MB)", fmtMB, func(r *results) string {
			return "≤ 20 MB: " + gwBoth(mRSSIdle, func(v float64) bool { return v <= 20 }, fmtMB)
		}},
		{mRSSLoad, "RSS under 16-session load, peak (MB)", fmtMB, nil},
		{mRSSSessions, fmt.Sprintf("RSS with %s idle HTTP sessions open (MB)", fmtRate(float64(p.idleSessions))), fmtMB, func(r *results) string {
			return "≤ 100 MB at 1,000: " + gwBoth(mRSSSessions, func(v float64) bool { return v <= 100 }, fmtMB)
		}},
		{mStart1, "start → first complete tools/list, 1 upstream (ms)", fmtMs, func(r *results) string {
			return "HTTP→stdio ≤ upstream's own + 30 ms: " + overDirectStdio(mStart1, mStart1, 30, "ms")
		}},
		{mStartMany, fmt.Sprintf("start → first complete tools/list, %d upstreams (ms; direct: %d started at once)", p.manyUpstreams, p.manyUpstreams), fmtMs, func(r *results) string {
			return "HTTP→stdio ≤ upstream's own (1) + 250 ms: " + overDirectStdio(mStartMany, mStart1, 250, "ms")
		}},
		{mList, fmt.Sprintf("tools/list of %s tools, all pages, median of %d (ms)", fmtRate(float64(p.bigTools)), p.listRuns), fmtMs, func(r *results) string {
			d := r.cells[mList][tDirectHTTP]
			if !d.ok {
				return "≤ direct HTTP: ?"
			}
			return "≤ direct HTTP: " + gwBoth(mList, func(v float64) bool { return v <= d.v }, func(v float64) string {
				return fmt.Sprintf("%.2f×", v/d.v)
			})
		}},
	}
}

// writeTable prints the results as one markdown table.
func writeTable(w io.Writer, r *results) error {
	var b strings.Builder
	b.WriteString("| figure |")
	for _, h := range targetHeads {
		b.WriteString(" " + h + " |")
	}
	b.WriteString(" goal (issue #4) |\n|---|")
	for range targetHeads {
		b.WriteString("---:|")
	}
	b.WriteString("---|\n")
	for _, row := range r.rows() {
		b.WriteString("| " + row.label + " |")
		for t := range nTargets {
			b.WriteString(" " + r.text(row, t) + " |")
		}
		goal := "—"
		if row.goal != nil {
			goal = row.goal(r)
		}
		b.WriteString(" " + goal + " |\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// text is one cell: the figure, and beside it for the non-reference columns
// its ratio to the direct HTTP upstream and to the floor.
func (r *results) text(row row, t target) string {
	c := r.cells[row.m][t]
	if !c.ok {
		if c.note != "" {
			return c.note
		}
		return "—"
	}
	s := row.format(c.v)
	if t == tFloor || t == tDirectHTTP {
		return s
	}
	return s + " (" + ratio(c.v, r.cells[row.m][tDirectHTTP]) + " / " + ratio(c.v, r.cells[row.m][tFloor]) + ")"
}

func ratio(v float64, ref cell) string {
	if !ref.ok || ref.v == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", v/ref.v)
}

func mark(ok bool) string {
	if ok {
		return "✓"
	}
	return "✗"
}

func decimals(allowance float64) int {
	if allowance < 1 {
		return 3
	}
	return 0
}

// fmtRate prints a count with thousands separators.
func fmtRate(v float64) string {
	s := fmt.Sprintf("%.0f", math.Round(v))
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// fmtMs prints milliseconds with three significant digits or so.
func fmtMs(v float64) string {
	switch {
	case v < 1:
		return fmt.Sprintf("%.3f", v)
	case v < 100:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.0f", v)
}

func fmtMB(v float64) string { return fmt.Sprintf("%.1f", v) }
