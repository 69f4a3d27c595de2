package transport

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
)

// A request the client cancelled (notifications/cancelled) gets no response:
// the spec says the receiver SHOULD NOT respond to it, and a client that
// forgot the id reads a late response as an error ("unknown message ID" in
// the TypeScript SDK). The SDK answers a cancelled request anyway, so the
// front door drops that answer on its way out: the stdio writer and the
// HTTP response of the POST that carried the request.

// cancelSet is the ids a client cancelled whose responses have not been
// dropped yet. Safe for concurrent use.
type cancelSet struct {
	n  atomic.Int32 // len(ids), read without the lock on every message
	mu sync.Mutex
	// ids holds at most maxCancelled: a cancel that arrives after its
	// response went out stays until the id is used again.
	ids map[string]struct{}
}

// maxCancelled bounds a cancelSet; past it the oldest entries are of
// responses long gone, so it is cleared.
const maxCancelled = 4096

func (c *cancelSet) cancel(id string) {
	c.mu.Lock()
	if c.ids == nil || len(c.ids) >= maxCancelled {
		c.ids = map[string]struct{}{}
	}
	c.ids[id] = struct{}{}
	c.n.Store(int32(len(c.ids)))
	c.mu.Unlock()
}

// reuse forgets id: the client sent a new request with it.
func (c *cancelSet) reuse(id string) {
	if c.n.Load() == 0 {
		return
	}
	c.mu.Lock()
	delete(c.ids, id)
	c.n.Store(int32(len(c.ids)))
	c.mu.Unlock()
}

// take reports whether the response for id must be dropped, and forgets id.
func (c *cancelSet) take(id string) bool {
	if c.n.Load() == 0 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.ids[id]
	delete(c.ids, id)
	c.n.Store(int32(len(c.ids)))
	return ok
}

func (c *cancelSet) empty() bool { return c.n.Load() == 0 }

// clientMessage is what the front door reads of a message from the client.
type clientMessage struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params struct {
		RequestID json.RawMessage `json:"requestId"`
	} `json:"params"`
}

const methodCancelled = "notifications/cancelled"

// note records what one client message (an object) means for cs: a cancel
// adds its request id, a new request reuses its id.
func (cs *cancelSet) note(m *clientMessage) {
	switch {
	case m.Method == methodCancelled:
		if id, ok := canonicalID(m.Params.RequestID); ok {
			cs.cancel(id)
		}
	case m.Method != "" && len(m.ID) > 0:
		if id, ok := canonicalID(m.ID); ok {
			cs.reuse(id)
		}
	}
}

// noteLine reads one client line (an object or a batch) into cs, doing no
// work unless it may matter: a line that names notifications/cancelled, or
// any line while some cancel is pending.
func (cs *cancelSet) noteLine(line []byte) {
	if cs.empty() && !bytes.Contains(line, []byte(methodCancelled)) {
		return
	}
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return
	}
	if line[0] == '[' {
		var batch []clientMessage
		if json.Unmarshal(line, &batch) == nil {
			for i := range batch {
				cs.note(&batch[i])
			}
		}
		return
	}
	var m clientMessage
	if json.Unmarshal(line, &m) == nil {
		cs.note(&m)
	}
}

// canonicalID is a JSON-RPC id as the SDK writes it back: a string
// re-encoded, an integer in decimal. A null or missing id is none.
func canonicalID(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return "", false
	case raw[0] == '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		b, _ := json.Marshal(s) // a string marshals
		return string(b), true
	}
	if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
		return strconv.FormatInt(n, 10), true
	}
	if f, err := strconv.ParseFloat(string(raw), 64); err == nil && f == float64(int64(f)) {
		return strconv.FormatInt(int64(f), 10), true
	}
	return string(raw), true
}

// responsePrefix starts every response go-sdk writes: its wire struct puts
// "jsonrpc", then "id", then "method" (absent in a response), then "result"
// or "error".
var responsePrefix = []byte(`{"jsonrpc":"2.0","id":`)

// responseID returns the canonical id of msg if it is one response the SDK
// wrote (not a request or notification of the server's, not a batch).
func responseID(msg []byte) (string, bool) {
	rest, ok := bytes.CutPrefix(msg, responsePrefix)
	if !ok || len(rest) == 0 {
		return "", false
	}
	end := 0
	if rest[0] == '"' {
		end = 1
		for end < len(rest) && rest[end] != '"' {
			if rest[end] == '\\' {
				end++
			}
			end++
		}
		end++
	} else {
		for end < len(rest) && rest[end] != ',' && rest[end] != '}' {
			end++
		}
	}
	if end > len(rest) {
		return "", false
	}
	after := rest[end:]
	if !bytes.HasPrefix(after, []byte(`,"result"`)) && !bytes.HasPrefix(after, []byte(`,"error"`)) {
		return "", false
	}
	return canonicalID(rest[:end])
}

// dropsCancelled reports whether msg, one message the SDK writes, is the
// response to a request cs holds as cancelled (and forgets it).
func (cs *cancelSet) dropsCancelled(msg []byte) bool {
	if cs.empty() {
		return false
	}
	id, ok := responseID(msg)
	return ok && cs.take(id)
}

// sessionCancels holds the cancelSet of each HTTP session that has a POST
// carrying requests in flight: a cancel for a session with none in flight
// has no response left to drop.
type sessionCancels struct {
	mu   sync.Mutex
	sets map[string]*sessionCancel
}

type sessionCancel struct {
	set  cancelSet
	refs int
}

// acquire returns sid's set for a POST carrying requests; release it when
// the POST is answered.
func (s *sessionCancels) acquire(sid string) *cancelSet {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sets == nil {
		s.sets = map[string]*sessionCancel{}
	}
	sc := s.sets[sid]
	if sc == nil {
		sc = &sessionCancel{}
		s.sets[sid] = sc
	}
	sc.refs++
	return &sc.set
}

func (s *sessionCancels) release(sid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sc := s.sets[sid]; sc != nil {
		if sc.refs--; sc.refs <= 0 {
			delete(s.sets, sid)
		}
	}
}

// cancel records a client's cancel of request id on sid, if a POST of sid
// is in flight.
func (s *sessionCancels) cancelled(sid string, body []byte) {
	s.mu.Lock()
	sc := s.sets[sid]
	s.mu.Unlock()
	if sc != nil {
		sc.set.noteLine(body)
	}
}

// bodyRequests reports whether a POST body (an object or a batch) holds a
// request: something the SDK answers on this POST.
func bodyRequests(body []byte) bool {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return false
	}
	if body[0] == '[' {
		var batch []clientMessage
		if json.Unmarshal(body, &batch) != nil {
			return false
		}
		for _, m := range batch {
			if m.Method != "" && len(m.ID) > 0 && string(m.ID) != "null" {
				return true
			}
		}
		return false
	}
	var m clientMessage
	return json.Unmarshal(body, &m) == nil && m.Method != "" && len(m.ID) > 0 && string(m.ID) != "null"
}

// cancelFilter is the ResponseWriter of a POST that carried requests: it
// drops the SSE event (or the JSON body) that answers one of them the client
// cancelled. go-sdk writes each event with one Write.
type cancelFilter struct {
	http.ResponseWriter
	set *cancelSet
}

func (f *cancelFilter) Write(b []byte) (int, error) {
	if !f.set.empty() {
		msg := b
		if data, ok := bytes.CutPrefix(sseData(b), []byte("data: ")); ok {
			msg = data
		}
		if f.set.dropsCancelled(bytes.TrimSpace(msg)) {
			return len(b), nil
		}
	}
	return f.ResponseWriter.Write(b)
}

func (f *cancelFilter) Flush() {
	if fl, ok := f.ResponseWriter.(http.Flusher); ok {
		fl.Flush()
	}
}

func (f *cancelFilter) Unwrap() http.ResponseWriter { return f.ResponseWriter }

// sseData returns the data line of one SSE event ("event: message\nid:
// …\ndata: {…}\n\n"), or b itself when it is not an event.
func sseData(b []byte) []byte {
	if i := bytes.Index(b, []byte("\ndata: ")); i >= 0 {
		return b[i+1:]
	}
	return b
}
