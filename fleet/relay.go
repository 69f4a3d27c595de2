package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
)

// A server-to-client request (sampling, elicitation, roots/list, ping) is
// sent by the replica serving the call that needs it, on that call's stream;
// the client's answer is a POST of its own, which the balancer may send to
// any replica. The same holds for a client's notifications/cancelled for a
// call in flight on another replica. So a POST that carries only these is
// served here and
// also published, and every replica that holds a copy of the session hands
// it to that copy: the copy that asked takes it, the others find no such
// request outstanding and drop it, as the SDK does with any response it did
// not ask for.

// reply is one published POST of responses.
type reply struct {
	From    string          `json:"from"` // the publishing replica's id
	Session string          `json:"session"`
	Body    json.RawMessage `json:"body"`
}

// deliverers are this replica's ways to hand a message to each session it
// holds: the request context (identity attached) and handler of the last
// request it served for the session.
type deliverers struct {
	mu sync.Mutex
	m  map[string]deliverer
}

type deliverer struct {
	ctx context.Context
	h   http.Handler
}

func (d *deliverers) set(sid string, ctx context.Context, h http.Handler) {
	d.mu.Lock()
	if d.m == nil {
		d.m = map[string]deliverer{}
	}
	if _, ok := d.m[sid]; !ok {
		d.m[sid] = deliverer{ctx: context.WithoutCancel(ctx), h: h}
	}
	d.mu.Unlock()
}

func (d *deliverers) drop(sid string) {
	d.mu.Lock()
	delete(d.m, sid)
	d.mu.Unlock()
}

func (d *deliverers) get(sid string) (deliverer, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v, ok := d.m[sid]
	return v, ok
}

// onlyResponses reports whether a JSON-RPC body (one message or a batch)
// holds nothing but responses and cancellations: the messages meant for a
// request another replica may hold (a cancellation's request id is the
// client's, unique in its session, so only the replica running it acts).
func onlyResponses(body []byte) bool {
	body = bytes.TrimSpace(body)
	var msgs []map[string]json.RawMessage
	if len(body) > 0 && body[0] == '[' {
		if json.Unmarshal(body, &msgs) != nil {
			return false
		}
	} else {
		var one map[string]json.RawMessage
		if json.Unmarshal(body, &one) != nil {
			return false
		}
		msgs = append(msgs, one)
	}
	for _, m := range msgs {
		if method, isReq := m["method"]; isReq {
			if string(method) != `"notifications/cancelled"` {
				return false
			}
			continue
		}
		if _, ok := m["id"]; !ok {
			return false
		}
	}
	return len(msgs) > 0
}

// readBody reads r's body and puts it back.
func readBody(r *http.Request) []byte {
	if r.Body == nil {
		return nil
	}
	b, err := io.ReadAll(r.Body)
	r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(b))
	if err != nil {
		return nil
	}
	return b
}

// publishReply sends a POST of responses to the other replicas.
func (s *State) publishReply(ctx context.Context, sid string, body []byte) {
	msg, err := json.Marshal(reply{From: s.id, Session: sid, Body: body})
	if err != nil {
		return
	}
	s.call(ctx, func(ctx context.Context) error { return s.rdb.Publish(ctx, s.key("replies"), msg).Err() })
}

// relayReplies hands the responses other replicas publish to this
// replica's copies of their sessions, until ctx is done.
func (s *State) relayReplies(ctx context.Context) {
	sub := s.rdb.Subscribe(ctx, s.key("replies"))
	defer sub.Close()
	ch := sub.Channel()
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			var rp reply
			if json.Unmarshal([]byte(m.Payload), &rp) != nil || rp.From == s.id {
				continue
			}
			d, ok := s.deliver.get(rp.Session)
			if !ok {
				continue
			}
			req := httptest.NewRequestWithContext(d.ctx, http.MethodPost, "/", bytes.NewReader(rp.Body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			req.Header.Set("Mcp-Session-Id", rp.Session)
			d.h.ServeHTTP(httptest.NewRecorder(), req)
		}
	}
}
