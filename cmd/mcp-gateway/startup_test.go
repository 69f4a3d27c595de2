package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/mcp-gateway/mcp-gateway/aggregator"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeTerminal is a buffer that says it is a terminal (or not).
type fakeTerminal struct {
	bytes.Buffer
	tty bool
}

func (f *fakeTerminal) IsTerminal() bool { return f.tty }

// countingObserver counts the state changes passed on to it.
type countingObserver struct {
	aggregator.NopObserver
	states int
}

func (c *countingObserver) UpstreamState(string, bool) { c.states++ }

func TestStartupReport(t *testing.T) {
	t.Run("not on a pipe, a file or JSON logs", func(t *testing.T) {
		assert.Nil(t, newStartupReport(&fakeTerminal{}, "text", []string{"a"}, nil))
		assert.Nil(t, newStartupReport(&bytes.Buffer{}, "text", []string{"a"}, nil))
		assert.Nil(t, newStartupReport(&fakeTerminal{tty: true}, "json", []string{"a"}, nil))
		assert.Nil(t, newStartupReport(&fakeTerminal{tty: true}, "text", nil, nil))
		var r *startupReport
		obs := &countingObserver{}
		assert.Same(t, obs, r.observer(obs), "no report: the observer as it was")
		r.begin(nil) // a nil report does nothing
		assert.False(t, r.active())
	})

	t.Run("each upstream's first outcome, then a summary", func(t *testing.T) {
		w := &fakeTerminal{tty: true}
		obs := &countingObserver{}
		r := newStartupReport(w, "", []string{"notes", "github", "db"}, obs)
		require.NotNil(t, r)
		require.Same(t, r, r.observer(obs))
		clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		r.now = func() time.Time { return clock }
		status := map[string]aggregator.UpstreamStatus{
			"notes":  {Name: "notes", Transport: "stdio", Tools: 12},
			"github": {Name: "github", Transport: "http"},
			"db":     {Name: "db", Transport: "stdio", Tools: 1},
		}
		r.begin(func(n string) (aggregator.UpstreamStatus, bool) { st, ok := status[n]; return st, ok })
		assert.Equal(t, ""+
			"  connecting  notes  (stdio)\n"+
			"  connecting  github (http)\n"+
			"  connecting  db     (stdio)\n", w.String())
		w.Reset()

		clock = clock.Add(412 * time.Millisecond)
		r.UpstreamState("notes", true)
		clock = clock.Add(88 * time.Millisecond)
		status["github"] = aggregator.UpstreamStatus{Name: "github", LastError: "initialize: 401 Unauthorized\n\t<html>sign in</html>\n"}
		r.UpstreamState("github", false)
		r.UpstreamState("github", true) // a later change: the log's business
		r.UpstreamState("other", true)  // not one of ours
		clock = clock.Add(11 * time.Second)
		r.UpstreamState("db", true)
		assert.Equal(t, ""+
			"  ready       notes  12 tools in 412ms\n"+
			"  failed      github after 500ms: initialize: 401 Unauthorized <html>sign in</html>\n"+
			"  ready       db     1 tool in 11.5s\n"+
			"2 of 3 upstreams ready in 11.5s\n", w.String())
		assert.Equal(t, 5, obs.states, "everything passed on")
		w.Reset()
		r.UpstreamState("db", false)
		assert.Empty(t, w.String(), "quiet after the summary")
	})

	t.Run("a failure without a recorded reason", func(t *testing.T) {
		w := &fakeTerminal{tty: true}
		r := newStartupReport(w, "text", []string{"a"}, nil)
		r.begin(func(string) (aggregator.UpstreamStatus, bool) { return aggregator.UpstreamStatus{}, false })
		r.UpstreamState("a", false)
		assert.True(t, strings.HasPrefix(w.String(), "  connecting  a\n  failed      a after "), w.String())
		assert.Contains(t, w.String(), ": connection closed\n0 of 1 upstream ready in ")
	})
}
