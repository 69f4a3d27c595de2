package aggregator

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// rawConnection is an upstream connection the relay lane can use besides
// go-sdk: it takes a message as bytes, and hands over the responses whose
// id starts with a prefix before go-sdk reads them (launch.RawConn, the
// connection of a stdio upstream).
type rawConnection interface {
	WriteRaw(msg []byte) error
	ClaimResponses(prefix string, deliver func(id, msg []byte))
}

// relayIDPrefix starts the id of every request the relay lane sends, a
// string followed by a number in base 36. go-sdk's client numbers its
// requests, so a string id is never one of its own.
const relayIDPrefix = "gw-relay-"

// errRelayClosed is the error of a relayed request whose connection closed
// before it was answered.
var errRelayClosed = errors.New("upstream connection closed before the response")

// relayConn is the relay lane's side of one upstream connection: it numbers
// the requests it writes and matches the responses to them. Safe for
// concurrent use.
type relayConn struct {
	raw rawConnection
	seq atomic.Uint64

	mu      sync.Mutex
	waiters map[uint64]chan []byte // buffered 1

	closeOnce sync.Once
	closed    chan struct{}
}

func newRelayConn(raw rawConnection) *relayConn {
	r := &relayConn{raw: raw, waiters: map[uint64]chan []byte{}, closed: make(chan struct{})}
	raw.ClaimResponses(relayIDPrefix, r.deliver)
	return r
}

// waiterPool recycles the channels responses are handed over on.
var waiterPool = sync.Pool{New: func() any { return make(chan []byte, 1) }}

// bufPool recycles request buffers: the connection copies what it writes.
var bufPool = sync.Pool{New: func() any { return new([]byte) }}

// deliver hands a response to the request waiting for it; a response
// nobody waits for (its request was cancelled or timed out) is dropped, as
// go-sdk drops one for a call it retired.
func (r *relayConn) deliver(id, msg []byte) {
	n, ok := relaySeq(id)
	if !ok {
		return
	}
	r.mu.Lock()
	ch := r.waiters[n]
	delete(r.waiters, n)
	r.mu.Unlock()
	if ch != nil {
		ch <- msg
	}
}

// relaySeq reads the number of a relay id ("gw-relay-" and base 36).
func relaySeq(id []byte) (uint64, bool) {
	if len(id) <= len(relayIDPrefix) || len(id) > len(relayIDPrefix)+13 || string(id[:len(relayIDPrefix)]) != relayIDPrefix {
		return 0, false
	}
	var n uint64
	for _, c := range id[len(relayIDPrefix):] {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'z':
			d = c - 'a' + 10
		default:
			return 0, false
		}
		n = n*36 + uint64(d)
	}
	return n, true
}

// close fails the requests in flight: the connection ended.
func (r *relayConn) close() {
	r.closeOnce.Do(func() { close(r.closed) })
}

// call writes the request that build appends to a buffer for an id (the id
// as a JSON string, quotes included) and returns the upstream's response
// to it. When ctx ends first it sends notifications/cancelled for the
// request, as go-sdk does for its own calls, and returns ctx's error.
func (r *relayConn) call(ctx context.Context, build func(b, id []byte) []byte) ([]byte, error) {
	n := r.seq.Add(1)
	var idBuf [32]byte
	quoted := append(append(idBuf[:0], '"'), relayIDPrefix...)
	quoted = append(strconv.AppendUint(quoted, n, 36), '"')
	ch := waiterPool.Get().(chan []byte)
	r.mu.Lock()
	r.waiters[n] = ch
	r.mu.Unlock()
	buf := bufPool.Get().(*[]byte)
	*buf = build((*buf)[:0], quoted)
	err := r.raw.WriteRaw(*buf)
	if cap(*buf) <= 64<<10 {
		bufPool.Put(buf)
	}
	if err != nil {
		r.retire(n, ch)
		return nil, errors.Join(mcp.ErrConnectionClosed, err)
	}
	select {
	case msg := <-ch:
		waiterPool.Put(ch)
		return msg, nil
	case <-ctx.Done():
		r.retire(n, ch)
		reason, _ := json.Marshal(ctx.Err().Error())
		note := append(append(append(append([]byte(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"reason":`), reason...), `,"requestId":`...), quoted...), "}}"...)
		// Best effort and off the caller's path, as go-sdk does: a peer that
		// stopped reading must not hold the caller past its deadline.
		go func() { _ = r.raw.WriteRaw(note) }()
		return nil, ctx.Err()
	case <-r.closed:
		r.retire(n, ch)
		return nil, errors.Join(mcp.ErrConnectionClosed, errRelayClosed)
	}
}

// retire stops waiting for request n. A response being delivered right now
// is drained, so that the channel goes back to the pool empty.
func (r *relayConn) retire(n uint64, ch chan []byte) {
	r.mu.Lock()
	_, waiting := r.waiters[n]
	delete(r.waiters, n)
	r.mu.Unlock()
	if !waiting {
		<-ch // deliver took it and sends (or sent) the response
	}
	waiterPool.Put(ch)
}
