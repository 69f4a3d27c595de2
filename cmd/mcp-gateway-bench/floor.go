package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// floorPageSize is the floor's tools/list page size: the go-sdk default, as
// the echo upstream and the gateway use.
const floorPageSize = 1000

// floor is the cheapest server a go-sdk client can talk to over streamable
// HTTP: it decodes only a message's id, method and cursor and answers with
// precomputed bytes as application/json. initialize gets a session id header,
// notifications get 202, tools/call gets the result the echo upstream gives
// for echo("hello"), tools/list gets precomputed pages, and anything else an
// empty result. GET gets 405 (no standalone stream, which the spec allows) and
// DELETE 204.
type floor struct {
	initialize []byte
	call       []byte
	pages      [][]byte // tools/list results; the cursor is the page index
	sessions   atomic.Uint64
}

func newFloor(generated int) (*floor, error) {
	f := &floor{
		initialize: []byte(`{"protocolVersion":"` + protocolVersion + `","capabilities":{"tools":{}},"serverInfo":{"name":"floor","version":"dev"}}`),
		call:       []byte(`{"content":[{"type":"text","text":"hello"}],"structuredContent":{"text":"hello"}}`),
	}
	type tool struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		InputSchema json.RawMessage `json:"inputSchema"`
	}
	// Shaped like the echo upstream's tools, so the big list weighs the same.
	tools := []tool{{Name: "echo", Description: "Echo text back.",
		InputSchema: json.RawMessage(`{"type":"object","required":["text"],"properties":{"text":{"type":"string","description":"text to echo"}}}`)}}
	for i := range generated {
		name := fmt.Sprintf("tool_%04d", i)
		tools = append(tools, tool{Name: name, Description: "Generated tool " + name + ": echoes its value argument.",
			InputSchema: json.RawMessage(`{"type":"object","properties":{"value":{"type":"string","description":"text to echo"}}}`)})
	}
	for start := 0; start < len(tools); start += floorPageSize {
		end := min(start+floorPageSize, len(tools))
		page := struct {
			Tools      []tool `json:"tools"`
			NextCursor string `json:"nextCursor,omitempty"`
		}{Tools: tools[start:end]}
		if end < len(tools) {
			page.NextCursor = strconv.Itoa(len(f.pages) + 1)
		}
		b, err := json.Marshal(page)
		if err != nil {
			return nil, err
		}
		f.pages = append(f.pages, b)
	}
	return f, nil
}

func (f *floor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost:
	case http.MethodDelete:
		w.WriteHeader(http.StatusNoContent)
		return
	default:
		w.Header().Set("Allow", "POST, DELETE")
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var msg struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params struct {
			Cursor string `json:"cursor"`
		} `json:"params"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if len(msg.ID) == 0 { // a notification (or a response to us: there are none)
		w.WriteHeader(http.StatusAccepted)
		return
	}
	result := []byte(`{}`)
	switch msg.Method {
	case "initialize":
		result = f.initialize
		w.Header().Set("Mcp-Session-Id", "floor-"+strconv.FormatUint(f.sessions.Add(1), 10))
	case "tools/call":
		result = f.call
	case "tools/list":
		page := 0
		if msg.Params.Cursor != "" {
			if page, err = strconv.Atoi(msg.Params.Cursor); err != nil || page < 0 || page >= len(f.pages) {
				http.Error(w, "bad cursor", http.StatusBadRequest)
				return
			}
		}
		result = f.pages[page]
	}
	out := make([]byte, 0, len(result)+len(msg.ID)+40)
	out = append(out, `{"jsonrpc":"2.0","id":`...)
	out = append(out, msg.ID...)
	out = append(out, `,"result":`...)
	out = append(out, result...)
	out = append(out, '}')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.Write(out)
}

// serveFloor serves the floor at http://addr/mcp until ctx is done. Like the
// echo upstream, it writes "listening on http://HOST:PORT" to stderr once
// bound.
func serveFloor(ctx context.Context, addr string, generated int, stderr io.Writer) error {
	f, err := newFloor(generated)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/mcp", f)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintf(stderr, "listening on http://%s\n", ln.Addr())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
