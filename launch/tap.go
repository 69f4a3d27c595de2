package launch

import (
	"bytes"
	"io"
	"net/http"
	"strings"
)

// tapRoundTripper shows an HTTP upstream's messages to a tap in wire order
// (see [HTTPTransport.Tapped]).
type tapRoundTripper struct {
	base       http.RoundTripper
	sent, read func([]byte)
	max        int
}

func (t *tapRoundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && r.GetBody != nil {
		// go-sdk builds its requests from a byte slice, so GetBody hands over
		// a second reader of the same bytes and the request's own is untouched.
		if body, err := r.GetBody(); err == nil {
			b, err := io.ReadAll(io.LimitReader(body, int64(t.max)+1))
			body.Close()
			if err == nil && len(b) <= t.max {
				t.sent(b)
			}
		}
	}
	resp, err := t.base.RoundTrip(r)
	if err != nil || resp.Body == nil || resp.Body == http.NoBody {
		return resp, err
	}
	switch ct := resp.Header.Get("Content-Type"); {
	case strings.HasPrefix(ct, "text/event-stream"):
		resp.Body = &eventTap{ReadCloser: resp.Body, read: t.read, max: t.max}
	case strings.HasPrefix(ct, "application/json"):
		resp.Body = &bodyTap{ReadCloser: resp.Body, read: t.read, max: t.max}
	}
	return resp, err
}

// bodyTap passes a JSON response body through and hands it whole to read
// when it ends, before the reader sees the end (go-sdk decodes a body only
// once it has read it all).
type bodyTap struct {
	io.ReadCloser
	read func([]byte)
	max  int
	buf  []byte
	over bool
}

func (b *bodyTap) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if !b.over {
		if len(b.buf)+n > b.max {
			b.over, b.buf = true, nil // go-sdk fails it: nothing to show
		} else {
			b.buf = append(b.buf, p[:n]...)
		}
	}
	if err == io.EOF && !b.over && len(b.buf) > 0 {
		b.read(b.buf)
		b.buf, b.over = nil, true // once
	}
	return n, err
}

// eventTap passes an event stream through and hands each event's data to
// read as soon as the bytes that complete it (its blank line) have been
// read, before returning them: the reader cannot have parsed an event the
// tap has not seen. It parses as the SSE standard says: lines end in LF, CR
// or CRLF; an event's data lines are joined by LF; a blank line dispatches.
type eventTap struct {
	io.ReadCloser
	read func([]byte)
	max  int

	line      []byte // the line being read
	data      []byte // the event being read
	has       bool   // the event has a data line
	lineOver  bool   // the line passed max: its bytes are not kept
	eventOver bool   // the event passed max: it is not shown
	skipLF    bool   // the last byte was CR: an LF next ends no second line
}

func (e *eventTap) Read(p []byte) (int, error) {
	n, err := e.ReadCloser.Read(p)
	e.feed(p[:n])
	return n, err
}

func (e *eventTap) feed(b []byte) {
	for len(b) > 0 {
		if e.skipLF {
			e.skipLF = false
			if b[0] == '\n' {
				b = b[1:]
				continue
			}
		}
		i := bytes.IndexAny(b, "\r\n")
		if i < 0 {
			e.add(b)
			return
		}
		e.add(b[:i])
		e.skipLF = b[i] == '\r'
		b = b[i+1:]
		e.endLine()
	}
}

func (e *eventTap) add(b []byte) {
	if e.lineOver {
		return
	}
	if len(e.line)+len(b) > e.max {
		e.lineOver, e.line = true, e.line[:0]
		return
	}
	e.line = append(e.line, b...)
}

func (e *eventTap) endLine() {
	line := e.line
	e.line = e.line[:0]
	if e.lineOver {
		e.lineOver, e.eventOver = false, true
		return
	}
	if len(line) == 0 {
		if e.has && !e.eventOver {
			e.read(e.data)
		}
		e.data, e.has, e.eventOver = e.data[:0], false, false
		return
	}
	if e.eventOver || line[0] == ':' {
		return // the rest of an event too large to show, or a comment
	}
	field, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		field, value = line[:i], bytes.TrimPrefix(line[i+1:], []byte(" "))
	}
	if string(field) != "data" {
		return
	}
	if e.has {
		e.data = append(e.data, '\n')
	}
	if len(e.data)+len(value) > e.max {
		e.eventOver = true
		return
	}
	e.data = append(e.data, value...)
	e.has = true
}
