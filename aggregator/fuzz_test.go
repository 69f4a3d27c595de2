package aggregator

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mcp-gateway/mcp-gateway/launch"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeStdioUpstream is an upstream speaking MCP over newline-delimited JSON
// on pipes, as a stdio child does: it answers initialize and the list and
// call requests with one tool, "echo", and right after
// notifications/initialized writes noise, verbatim, as if between messages.
type fakeStdioUpstream struct {
	noise []byte
	max   int // the message cap
}

// transport returns a transport to a new instance, read as
// launch.CommandTransport reads a child.
func (f *fakeStdioUpstream) transport(context.Context) (mcp.Transport, error) {
	inR, inW := io.Pipe()   // gateway → upstream
	outR, outW := io.Pipe() // upstream → gateway
	go f.serve(inR, outW)
	return &launch.PipeTransport{Reader: outR, Writer: inW, MaxMessageBytes: f.max}, nil
}

func (f *fakeStdioUpstream) serve(in *io.PipeReader, out *io.PipeWriter) {
	var wg sync.WaitGroup
	defer wg.Wait()
	defer out.Close()
	defer in.Close()
	var mu sync.Mutex
	write := func(b []byte) {
		mu.Lock()
		defer mu.Unlock()
		_, _ = out.Write(b) // the gateway closed the connection
	}
	reply := func(id json.RawMessage, result string) {
		write([]byte(`{"jsonrpc":"2.0","id":` + string(id) + `,"result":` + result + "}\n"))
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
		}
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		switch m.Method {
		case "initialize":
			reply(m.ID, `{"protocolVersion":"2025-11-25","capabilities":{"tools":{"listChanged":true},"prompts":{},"resources":{},"logging":{}},"serverInfo":{"name":"fuzz","version":"test"}}`)
		case "notifications/initialized":
			noise := f.noise
			if len(noise) > 0 && noise[len(noise)-1] != '\n' {
				noise = append(noise[:len(noise):len(noise)], '\n')
			}
			wg.Go(func() { write(noise) })
		case "tools/list":
			reply(m.ID, `{"tools":[{"name":"echo","inputSchema":{"type":"object"}}]}`)
		case "prompts/list":
			reply(m.ID, `{"prompts":[]}`)
		case "resources/list":
			reply(m.ID, `{"resources":[]}`)
		case "resources/templates/list":
			reply(m.ID, `{"resourceTemplates":[]}`)
		case "tools/call":
			reply(m.ID, `{"content":[{"type":"text","text":"echoed"}]}`)
		case "ping", "logging/setLevel":
			reply(m.ID, `{}`)
		default:
			if len(m.ID) > 0 {
				write([]byte(`{"jsonrpc":"2.0","id":` + string(m.ID) + `,"error":{"code":-32601,"message":"method not found"}}` + "\n"))
			}
		}
	}
}

// upstreamNoiseSeeds are messages a broken or hostile stdio upstream may
// write between its answers (the gateway's requests have ids 1, 2, ...).
var upstreamNoiseSeeds = map[string]string{
	"nothing":            "",
	"banner":             "Starting server v1.2.3...\nlistening on stdio\n",
	"list-changed":       `{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}` + "\n",
	"spoofed-tools-list": `{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"evil","inputSchema":{"type":"object"}}]}}` + "\n",
	"stray-responses":    `{"jsonrpc":"2.0","id":999,"result":{}}` + "\n" + `{"jsonrpc":"2.0","id":"x","error":{"code":1,"message":"stray"}}` + "\n",
	"sampling-request":   `{"jsonrpc":"2.0","id":1,"method":"sampling/createMessage","params":{"messages":[],"maxTokens":1}}` + "\n",
	"roots-elicitation": `{"jsonrpc":"2.0","id":2,"method":"roots/list"}` + "\n" +
		`{"jsonrpc":"2.0","id":3,"method":"elicitation/create","params":{"message":"hi","requestedSchema":{"type":"object"}}}` + "\n",
	"progress-unknown-token": `{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"gw-1","progress":1}}` + "\n",
	"log-message":            `{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"error","data":"boom"}}` + "\n",
	"resource-updated":       `{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"file:///x"}}` + "\n",
	"batch":                  `[{"jsonrpc":"2.0","method":"notifications/tools/list_changed"},{"jsonrpc":"2.0","id":5,"method":"ping"}]` + "\n",
	"odd-ids":                `{"jsonrpc":"2.0","id":null,"result":{}}` + "\n" + `{"jsonrpc":"2.0","id":1.5,"result":{}}` + "\n",
	"wrong-version":          `{"jsonrpc":"1.0","id":2,"result":{}}` + "\n",
	"json-log-line":          `{"level":30,"msg":"a JSON log line"}` + "\n",
	"cancelled":              `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":3}}` + "\n",
	"list-changed-storm":     strings.Repeat(`{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}`+"\n", 50),
	"deep":                   strings.Repeat("[", 100) + strings.Repeat("]", 100) + "\n",
	"bad-tools": `{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"a\u0000b","inputSchema":{"type":"string"}},{"name":"` +
		strings.Repeat("n", 300) + `","inputSchema":{"type":"object"}}]}}` + "\n",
	"invalid-utf8":       "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"level\":\"info\",\"data\":\"\xff\xfe\"}}\n",
	"endless-cursor":     `{"jsonrpc":"2.0","id":2,"result":{"tools":[],"nextCursor":"again"}}` + "\n",
	"trailing-space":     `{"jsonrpc":"2.0","method":"notifications/tools/list_changed"} ` + "\n",
	"partial-no-newline": `{"jsonrpc":"2.0","id":2,"res`,
}

// FuzzUpstreamMessages has a stdio upstream write arbitrary lines right
// after initialization, and checks that the aggregator does not panic, that
// a downstream client's requests all end (with a result or an error) in
// bounded time, and that the downstream session itself survives.
//
// Seeds: testdata/fuzz/FuzzUpstreamMessages, from upstreamNoiseSeeds.
func FuzzUpstreamMessages(f *testing.F) {
	f.Fuzz(func(t *testing.T, noise []byte) {
		up := &fakeStdioUpstream{noise: noise, max: 64 << 10}
		spec := UpstreamSpec{Name: "up", Prefix: "up", Kind: "stdio", NewTransport: up.transport,
			CallTimeout: 500 * time.Millisecond, InitTimeout: 500 * time.Millisecond}
		agg := startAggregator(t, []UpstreamSpec{spec}, &Options{StartupWait: 500 * time.Millisecond})
		cs := connect(t, agg.Server(), nil)

		// Bounded: a call may wait StartupWait, then CallTimeout (the SDK
		// retries nothing); 3s leaves room for a loaded fuzzing machine.
		bounded := func(what string, fn func(ctx context.Context) error) {
			t.Helper()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			start := time.Now()
			err := fn(ctx)
			if elapsed := time.Since(start); elapsed > 3*time.Second {
				t.Fatalf("%s took %s (err %v)", what, elapsed, err)
			}
		}
		bounded("tools/list", func(ctx context.Context) error {
			_, err := cs.ListTools(ctx, nil)
			return err
		})
		bounded("tools/call", func(ctx context.Context) error {
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "up__echo", Arguments: map[string]any{}})
			if err == nil && res == nil {
				t.Fatal("no result and no error")
			}
			return err
		})
		bounded("prompts/list", func(ctx context.Context) error {
			_, err := cs.ListPrompts(ctx, nil)
			return err
		})
		// The gateway answers ping itself: whatever the upstream did, the
		// downstream session must still work.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, cs.Ping(ctx, nil), "the downstream session broke")
	})
}

// TestUpstreamNoiseLines checks that lines a stdio upstream must not print
// but often does are dropped without ending the connection (what
// launch.PipeTransport is for), so that the next call is answered on the
// same connection.
func TestUpstreamNoiseLines(t *testing.T) {
	for _, tc := range []struct{ doc, line string }{
		{"banner", "Server started on stdio"},
		{"blank", "   \t"},
		{"number", "42"},
		{"string", `"hello"`},
		{"truncated object", `{"jsonrpc":"2.0",`},
		{"JSON log line", `{"level":30,"time":1700000000000,"msg":"server started"}`},
		{"JSON array log line", `["info","server started"]`},
		{"message with trailing space", `{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"x"}} `},
		{"message with trailing tab", "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"level\":\"info\",\"data\":\"x\"}}\t"},
	} {
		t.Run(tc.doc, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				up := &fakeStdioUpstream{noise: []byte(tc.line + "\n"), max: 64 << 10}
				var attempts atomic.Int32
				spec := UpstreamSpec{Name: "up", Prefix: "up", Kind: "stdio", CallTimeout: 2 * time.Second, InitTimeout: 2 * time.Second,
					NewTransport: func(ctx context.Context) (mcp.Transport, error) {
						attempts.Add(1)
						return up.transport(ctx)
					}}
				agg := startAggregator(t, []UpstreamSpec{spec}, nil)
				cs := connect(t, agg.Server(), nil)
				// Wait returns once every goroutine in the bubble is blocked:
				// the noise's writer has returned (a pipe write returns once
				// the reader took it all) and the gateway's reader has dealt
				// with the line and waits for the next, so the call comes after it.
				synctest.Wait()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "up__echo", Arguments: map[string]any{}})
				require.NoError(t, err)
				assert.Equal(t, "echoed", textOf(t, res))
				st := agg.Status()
				require.Len(t, st, 1)
				assert.Zero(t, st[0].Restarts, "the line %q ended the upstream connection (last error: %s)", tc.line, st[0].LastError)
				assert.Equal(t, int32(1), attempts.Load(), "connection attempts")
			})
		})
	}
}

var updateSeeds = flag.Bool("update-seeds", false, "rewrite the seed corpora under testdata/fuzz")

// TestFuzzSeeds checks that the seed corpora under testdata/fuzz match the
// seed tables of this file; -update-seeds rewrites them.
func TestFuzzSeeds(t *testing.T) {
	corpora := map[string]map[string][]byte{"FuzzUpstreamMessages": {}}
	for name, s := range upstreamNoiseSeeds {
		corpora["FuzzUpstreamMessages"][name] = marshalCorpus([]byte(s))
	}
	for target, seeds := range corpora {
		dir := filepath.Join("testdata", "fuzz", target)
		if *updateSeeds {
			require.NoError(t, os.MkdirAll(dir, 0o755))
			for name, data := range seeds {
				require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o644))
			}
		}
		for name, data := range seeds {
			got, err := os.ReadFile(filepath.Join(dir, name))
			require.NoError(t, err, "run go test -run TestFuzzSeeds -update-seeds")
			require.Equal(t, string(data), string(got), "%s/%s is stale: run go test -run TestFuzzSeeds -update-seeds", target, name)
		}
	}
}

// marshalCorpus encodes values as the go command's corpus file format does.
func marshalCorpus(vals ...any) []byte {
	var b strings.Builder
	b.WriteString("go test fuzz v1\n")
	for _, v := range vals {
		switch v := v.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		case uint16:
			fmt.Fprintf(&b, "uint16(%d)\n", v)
		default:
			panic(fmt.Sprintf("unsupported corpus type %T", v))
		}
	}
	return []byte(b.String())
}
