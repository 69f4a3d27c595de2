package transport

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/mcp-gateway/mcp-gateway/fault"
	"github.com/mcp-gateway/mcp-gateway/policy"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// StdioOptions configures ServeStdio. The zero value serves without a rate
// limit.
type StdioOptions struct {
	// Identity is who the stdio client runs as; its rate limit applies to
	// every request the client sends. Nil means no limit.
	Identity *policy.Identity
	// Allow and OnRateLimited are as in [AuthOptions]: the same gate as
	// HTTP's.
	Allow         func(key string, rpm, burst int) (bool, time.Duration)
	OnRateLimited func(name string)
}

// ServeStdio serves srv to one client over r (its stdin) and w (its stdout)
// until the client disconnects or ctx is done. Nothing but protocol messages
// is ever written to w.
//
// A line-level front door stands between the client and the SDK's stdio
// transport: it refuses requests over the identity's rate limit with the
// JSON-RPC error of fault.RateLimited before the SDK reads them, and on the
// way out it drops the response to a request the client cancelled. Every
// other line reaches the SDK unchanged, so the SDK's own handling of the
// stream (batches, malformed lines, its line-length cap) applies.
func ServeStdio(ctx context.Context, srv *mcp.Server, r io.ReadCloser, w io.WriteCloser, o *StdioOptions) error {
	if o == nil {
		o = &StdioOptions{}
	}
	cancels := &cancelSet{}
	out := &lockedWriter{w: w, cancels: cancels}
	in := &stdioGate{src: bufio.NewReaderSize(r, 64<<10), closer: r, out: out, cancels: cancels,
		auth: AuthOptions{Allow: o.Allow, OnRateLimited: o.OnRateLimited}, id: o.Identity}
	ss, err := srv.Connect(ctx, &mcp.IOTransport{Reader: in, Writer: out}, nil)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- ss.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		ss.Close()
		err = <-done
	}
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, mcp.ErrConnectionClosed) || ctx.Err() != nil {
		return nil
	}
	return err
}

// lockedWriter serialises whole-message writes to the client: the SDK
// writes each message with one Write, and so does the gate. It drops the
// response to a request the client cancelled.
type lockedWriter struct {
	mu      sync.Mutex
	w       io.WriteCloser
	cancels *cancelSet
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	if l.cancels.dropsCancelled(bytes.TrimSpace(p)) {
		return len(p), nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lockedWriter) Close() error { return l.w.Close() }

// stdioGate is the stdio front door: an io.Reader over the client's stdin
// that hands the SDK one line at a time and keeps back the requests it
// refuses, answering them itself.
type stdioGate struct {
	src     *bufio.Reader
	closer  io.Closer
	out     io.Writer
	cancels *cancelSet
	auth    AuthOptions
	id      *policy.Identity

	pending []byte // what is left of the line being handed over
	line    []byte // buffer of the line being read
	err     error  // the source's error, once it has one
}

// maxGateLine is the longest line the gate inspects; a longer one goes to
// the SDK as it is, which refuses it (its own cap is the same).
const maxGateLine = mcp.DefaultMaxLineLength

func (g *stdioGate) Read(p []byte) (int, error) {
	for len(g.pending) == 0 {
		if g.err != nil {
			return 0, g.err
		}
		g.next()
	}
	n := copy(p, g.pending)
	g.pending = g.pending[n:]
	return n, nil
}

func (g *stdioGate) Close() error { return g.closer.Close() }

// next reads the next line into pending, unless the gate answers it.
func (g *stdioGate) next() {
	g.line = g.line[:0]
	for {
		chunk, err := g.src.ReadSlice('\n')
		g.line = append(g.line, chunk...)
		if err == bufio.ErrBufferFull {
			if len(g.line) <= maxGateLine {
				continue
			}
			g.pending = g.line // too long to inspect: the SDK refuses it
			return
		}
		if err != nil {
			g.err = err
		}
		break
	}
	g.cancels.noteLine(g.line)
	if g.admit(g.line) {
		g.pending = g.line
	}
}

// gateMessage is what the gate reads of a client message.
type gateMessage struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
}

// admit reports whether line goes on to the SDK. A request over the rate
// limit does not: the gate writes its error response instead.
func (g *stdioGate) admit(line []byte) bool {
	if g.id == nil || g.auth.Allow == nil || g.id.Limit.RPM < 0 {
		return true
	}
	trimmed := bytes.TrimSpace(line)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return true // blank, or a batch: the SDK decides (it refuses batches in current versions)
	}
	var m gateMessage
	if json.Unmarshal(trimmed, &m) != nil || !limited(m) {
		return true // not a request the limit applies to, or not JSON: the SDK answers it
	}
	err := g.auth.limit(g.id)
	if err == nil {
		return true
	}
	resp := struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   *jsonrpc.Error  `json:"error"`
	}{"2.0", m.ID, fault.Wire(err)}
	b, _ := json.Marshal(resp) // a raw id that parsed, and a jsonrpc.Error, marshal
	_, _ = g.out.Write(append(b, '\n'))
	return false
}

// limited reports whether the rate limit applies to m: a request (it has an
// id and a method), other than those that set up or keep a session alive
// (initialize, server/discover, ping), which cost nothing upstream.
func limited(m gateMessage) bool {
	if m.Method == "" || len(m.ID) == 0 || string(m.ID) == "null" {
		return false
	}
	switch m.Method {
	case "initialize", "server/discover", "ping":
		return false
	}
	return true
}
