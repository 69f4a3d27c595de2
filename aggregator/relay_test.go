package aggregator

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcp-gateway/mcp-gateway/launch"
	"github.com/mcp-gateway/mcp-gateway/sessions"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// pipeUpstream serves srv to the gateway over a pair of pipes through
// launch.PipeTransport, as a stdio child is served: the connection carries
// the relay lane. answer, if set, answers the lane's requests itself, so
// that a benchmark measures the gateway alone. One connection only.
func pipeUpstream(tb testing.TB, name string, srv *mcp.Server, answer func(line []byte) []byte) UpstreamSpec {
	tb.Helper()
	gwR, upW := io.Pipe() // upstream → gateway
	upR, gwW := io.Pipe() // gateway → upstream
	out := &syncWriter{w: upW}
	sdkIn := io.ReadCloser(upR)
	var done sync.WaitGroup
	if answer != nil {
		in, toSDK := io.Pipe()
		sdkIn = in
		done.Go(func() {
			defer toSDK.Close()
			r := bufio.NewReaderSize(upR, 64<<10)
			for {
				line, err := r.ReadSlice('\n')
				if err != nil {
					return
				}
				if bytes.Contains(line, []byte(`"`+relayIDPrefix)) {
					_, _ = out.Write(answer(line))
					continue
				}
				if _, err := toSDK.Write(line); err != nil {
					return
				}
			}
		})
	}
	ss, err := srv.Connect(context.Background(), &mcp.IOTransport{Reader: sdkIn, Writer: out}, nil)
	require.NoError(tb, err)
	tb.Cleanup(func() {
		gwW.Close()
		upR.Close()
		ss.Close()
		done.Wait()
	})
	used := false
	return UpstreamSpec{Name: name, Prefix: name, Kind: "stdio", NewTransport: func(context.Context) (mcp.Transport, error) {
		if used {
			return nil, errors.New("the pipes connect once")
		}
		used = true
		return &launch.PipeTransport{Reader: gwR, Writer: gwW}, nil
	}}
}

// syncWriter serialises whole writes.
type syncWriter struct {
	mu sync.Mutex
	w  io.WriteCloser
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) Close() error { return s.w.Close() }

// httpSession connects a go-sdk client declaring no capabilities to a's
// merged server over streamable HTTP on loopback (sessions have ids there,
// which the lane needs) and returns it.
func httpSession(tb testing.TB, a *Aggregator) *mcp.ClientSession {
	tb.Helper()
	hs := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return a.Server() }, nil))
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "relay-test", Version: "test"}, &mcp.ClientOptions{Capabilities: &mcp.ClientCapabilities{}}).
		Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: hs.URL, MaxRetries: -1}, nil)
	require.NoError(tb, err)
	tb.Cleanup(func() {
		cs.Close()
		hs.CloseClientConnections()
		hs.Close()
	})
	// The lane learns a session from its requests through go-sdk; the
	// initialized notification is handled asynchronously.
	require.Eventually(tb, func() bool {
		f := a.relayed.lookup(cs.ID())
		return f != nil && f.initialized.Load()
	}, 10*time.Second, time.Millisecond)
	return cs
}

// relayBody is a tools/call request body.
func relayBody(id, tool, args string) []byte {
	return []byte(`{"jsonrpc":"2.0","id":` + id + `,"method":"tools/call","params":{"name":"` + tool + `","arguments":` + args + `}}`)
}

// TestRelayMatchesSDKLane sends the same calls on both lanes of one
// gateway and compares the results, the audit records, the metrics calls
// and the spans (names, kinds, attributes, status and parents).
func TestRelayMatchesSDKLane(t *testing.T) {
	up := newServer("up")
	up.AddTool(echoTool("echo"))
	up.AddTool(&mcp.Tool{Name: "fail", InputSchema: map[string]any{"type": "object"}},
		func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "tool error"}}}, nil
		})
	up.AddTool(&mcp.Tool{Name: "rpc", InputSchema: map[string]any{"type": "object"}},
		func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return nil, &jsonrpc.Error{Code: -32001, Message: "upstream says no"}
		})
	tp, exp := newTestTracing(t)
	obs := &laneObserver{}
	a := startAggregator(t, []UpstreamSpec{pipeUpstream(t, "up", up, nil)}, &Options{Sessions: sessions.New(), TracerProvider: tp, Observer: obs})
	cs := httpSession(t, a)
	for _, tc := range []struct{ tool, args string }{
		{"up__echo", `{"text":"hi"}`}, {"up__fail", `{}`}, {"up__rpc", `{}`},
	} {
		t.Run(tc.tool, func(t *testing.T) {
			exp.Reset()
			obs.reset()
			res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tc.tool, Arguments: json.RawMessage(tc.args)})
			var sdkOut string
			if err != nil {
				sdkOut = "error: " + err.Error()
			} else {
				b, _ := json.Marshal(res)
				sdkOut = string(b)
			}
			sdkSpans, sdkObs := laneSpans(exp.GetSpans()), obs.reset()
			exp.Reset()
			resp, ok := a.Relay(context.Background(), &RelayRequest{Session: cs.ID(), Body: relayBody(`5`, tc.tool, tc.args)})
			require.True(t, ok, "the lane serves it")
			var msg struct {
				Result json.RawMessage
				Error  *struct {
					Code    int64
					Message string
				}
			}
			require.NoError(t, json.Unmarshal(resp, &msg), "%s", resp)
			relayOut := string(msg.Result)
			if msg.Error != nil {
				// As go-sdk's client reports a JSON-RPC error.
				relayOut = fmt.Sprintf("error: calling %q: %s", "tools/call", msg.Error.Message)
			} else {
				var r mcp.CallToolResult
				require.NoError(t, json.Unmarshal(msg.Result, &r))
				b, _ := json.Marshal(&r)
				relayOut = string(b)
			}
			require.Equal(t, sdkOut, relayOut)
			require.Equal(t, sdkObs, obs.reset(), "audit records and request metrics")
			require.Equal(t, sdkSpans, laneSpans(exp.GetSpans()))
		})
	}
}

// laneObserver records what the observer is told, without times.
type laneObserver struct {
	NopObserver
	mu  sync.Mutex
	got []string
}

func (o *laneObserver) Request(method, upstream, outcome string, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got = append(o.got, fmt.Sprintf("request %s %s %s", method, upstream, outcome))
}

func (o *laneObserver) ToolCall(c ToolCall) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got = append(o.got, fmt.Sprintf("call %s %s %s %s %s %s %s", c.Identity, c.Session, c.Tool, c.Upstream, c.UpstreamTool, c.Outcome, c.Arguments))
}

func (o *laneObserver) reset() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	got := o.got
	o.got = nil
	return got
}

// laneSpans describes spans without what differs from call to call (ids,
// times, the trace context sent upstream).
func laneSpans(spans tracetest.SpanStubs) []string {
	names := map[string]string{}
	for _, s := range spans {
		names[s.SpanContext.SpanID().String()] = s.Name
	}
	var out []string
	for _, s := range spans {
		var as []string
		for _, kv := range s.Attributes {
			as = append(as, string(kv.Key)+"="+kv.Value.Emit())
		}
		sort.Strings(as)
		out = append(out, fmt.Sprintf("%s kind=%s parent=%q status=%s %s [%s]", s.Name, s.SpanKind, names[s.Parent.SpanID().String()],
			s.Status.Code, s.Status.Description, strings.Join(as, " ")))
	}
	sort.Strings(out)
	return out
}

// BenchmarkRelayLane is the relay lane alone: one tools/call body in, the
// response out, with a 1 KB result from an upstream on pipes that answers
// without decoding (so the figures are the gateway's).
//
//	go test ./aggregator -run '^$' -bench RelayLane -benchmem
func BenchmarkRelayLane(b *testing.B) {
	up := newServer("up")
	up.AddTool(echoTool("echo"))
	result := `{"content":[{"type":"text","text":"` + strings.Repeat("x", 1000) + `"}],"isError":false}`
	answer := func(line []byte) []byte {
		i := bytes.Index(line, []byte(`"id":"`))
		j := bytes.IndexByte(line[i+6:], '"')
		return []byte(`{"jsonrpc":"2.0","id":"` + string(line[i+6:i+6+j]) + `","result":` + result + "}\n")
	}
	a := benchAggregator(b, []UpstreamSpec{pipeUpstream(b, "up", up, answer)}, &Options{Sessions: sessions.New()})
	cs := httpSession(b, a)
	req := &RelayRequest{Session: cs.ID(), Body: relayBody(`1`, "up__echo", `{"text":"hello"}`)}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		resp, ok := a.Relay(ctx, req)
		if !ok || !bytes.Contains(resp, []byte(`"isError":false`)) {
			b.Fatalf("relay: %v %s", ok, resp)
		}
	}
}
