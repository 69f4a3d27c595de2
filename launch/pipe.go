package launch

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/mcp-gateway/mcp-gateway/envelope"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// PipeTransport speaks MCP over a stdio upstream's pipes, as
// [CommandTransport] does over a child's: newline-delimited JSON-RPC, with
// the lines that cannot be messages dropped (and logged) rather than ending
// the connection, and a cap on one message.
//
// The pipes are one stream: a PipeTransport connects once.
type PipeTransport struct {
	// Reader is the upstream's output (a child's stdout).
	Reader io.ReadCloser
	// Writer is its input (a child's stdin).
	Writer io.WriteCloser
	// MaxMessageBytes caps one message. Zero means [DefaultMaxMessageBytes].
	// A longer message ends the connection with [ErrMessageTooLarge] rather
	// than exhausting memory.
	MaxMessageBytes int
	// Logger receives a warning for dropped lines; nil discards them.
	Logger *slog.Logger
}

// Connect returns the connection over the pipes. Closing it closes Reader,
// then Writer.
func (t *PipeTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	max := t.MaxMessageBytes
	if max <= 0 {
		max = DefaultMaxMessageBytes
	}
	logger := t.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &lineFilter{r: bufio.NewReaderSize(t.Reader, 64<<10), f: t.Reader, max: max, log: logger}
	w := &messageWriter{w: t.Writer}
	c, err := (&mcp.IOTransport{Reader: r, Writer: w, MaxLineLength: max}).Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &RawConn{Connection: c, w: w, lines: r}, nil
}

// RawConn is the connection of a [PipeTransport] (and so of a
// [CommandTransport]): go-sdk's, plus a way to put a message on the pipe as
// bytes and to take the responses to such messages off it before go-sdk
// reads them. The relay lane forwards tools/call this way; everything else
// goes through go-sdk on the same pipe.
type RawConn struct {
	mcp.Connection
	w     *messageWriter
	lines *lineFilter
}

// WriteRaw writes one encoded message (without its newline) to the
// upstream, whole: go-sdk's messages and raw ones never interleave.
func (c *RawConn) WriteRaw(msg []byte) error {
	return c.w.writeLine(msg)
}

// ClaimResponses makes every response whose id is a string starting with
// prefix go to deliver — with the id's contents, valid only during the
// call, and the message, which deliver may keep — instead of to go-sdk.
// Set it before sending a message with such an id; prefix must be one
// go-sdk never uses (its ids are numbers).
func (c *RawConn) ClaimResponses(prefix string, deliver func(id, msg []byte)) {
	c.lines.claim.Store(&claim{quoted: []byte(`"` + prefix), deliver: deliver})
}

// messageWriter writes one message per Write, under a lock, so that a raw
// message and one of go-sdk's never interleave on the pipe.
type messageWriter struct {
	mu  sync.Mutex
	w   io.WriteCloser
	buf []byte
}

func (m *messageWriter) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.w.Write(p)
}

func (m *messageWriter) writeLine(msg []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.buf = append(append(m.buf[:0], msg...), '\n')
	_, err := m.w.Write(m.buf)
	if cap(m.buf) > 64<<10 {
		m.buf = nil // do not keep a large message's buffer
	}
	return err
}

func (m *messageWriter) Close() error { return m.w.Close() }

// claim is where the responses of a [RawConn.ClaimResponses] go.
type claim struct {
	quoted  []byte // `"` + prefix
	deliver func(id, msg []byte)
}

// take delivers line if it is a response with a claimed id.
func (c *claim) take(line []byte) bool {
	if !bytes.Contains(line, c.quoted) {
		return false
	}
	msg := bytes.TrimRight(line, " \t\r\n")
	m, ok := envelope.Read(msg)
	if !ok || m.Method != nil || (m.Result == nil && m.Error == nil) || !bytes.HasPrefix(m.ID, c.quoted) {
		return false
	}
	if len(m.ID) < 2 || m.ID[len(m.ID)-1] != '"' || bytes.IndexByte(m.ID[1:len(m.ID)-1], '\\') >= 0 {
		return false // not a plain string: not one of ours
	}
	c.deliver(m.ID[1:len(m.ID)-1], msg)
	return true
}

// lineFilter passes a child's stdout through line by line, dropping lines
// that cannot be JSON-RPC messages (the MCP spec forbids them, but servers
// print banners): the SDK's decoder would otherwise end the connection at the
// first one. A message longer than max ends the read with an error.
type lineFilter struct {
	r       *bufio.Reader
	f       io.Closer // the stream r reads
	max     int
	log     *slog.Logger
	pending []byte
	dropped int
	claim   atomic.Pointer[claim] // responses taken off the stream; nil: none
}

func (l *lineFilter) Read(p []byte) (int, error) {
	for len(l.pending) == 0 {
		line, err := l.readLine()
		switch {
		case isMessage(line):
			if c := l.claim.Load(); c != nil && c.take(line) {
				break
			}
			// Trailing blanks after the message would make the SDK's decoder
			// end the connection ("invalid trailing data").
			l.pending = append(bytes.TrimRight(line, " \t\r\n"), '\n')
		case len(bytes.TrimSpace(line)) > 0:
			if l.dropped++; l.dropped <= 10 || l.dropped%1000 == 0 {
				l.log.Warn("dropped a line of upstream stdout that is not a JSON-RPC message", "bytes", len(line), "dropped_total", l.dropped)
			}
		}
		if err != nil && len(l.pending) == 0 {
			return 0, err
		}
		if err != nil {
			break
		}
	}
	n := copy(p, l.pending)
	l.pending = l.pending[n:]
	return n, nil
}

// Close closes the stream it reads.
func (l *lineFilter) Close() error { return l.f.Close() }

// readLine returns the next line with its newline, at most max bytes.
func (l *lineFilter) readLine() ([]byte, error) {
	line, err := l.r.ReadSlice('\n')
	if err != bufio.ErrBufferFull {
		if len(bytes.TrimRight(line, "\r\n")) > l.max {
			return nil, fmt.Errorf("%w (%d bytes)", ErrMessageTooLarge, l.max)
		}
		return append([]byte(nil), line...), err
	}
	buf := append([]byte(nil), line...)
	for err == bufio.ErrBufferFull {
		if len(buf) > l.max+2 { // room for a line terminator

			return nil, fmt.Errorf("%w (%d bytes)", ErrMessageTooLarge, l.max)
		}
		line, err = l.r.ReadSlice('\n')
		buf = append(buf, line...)
	}
	if len(bytes.TrimRight(buf, "\r\n")) > l.max {
		return nil, fmt.Errorf("%w (%d bytes)", ErrMessageTooLarge, l.max)
	}
	return buf, err
}

// isMessage reports whether line holds a JSON-RPC message (or a batch of
// them) the SDK's decoder can take: valid JSON, an object or array, that
// names "jsonrpc". Anything else — a banner, a JSON log line — would end
// the connection, so it is dropped.
func isMessage(line []byte) bool {
	t := bytes.TrimSpace(line)
	return len(t) > 0 && (t[0] == '{' || t[0] == '[') && bytes.Contains(t, []byte(`"jsonrpc"`)) && json.Valid(t)
}
