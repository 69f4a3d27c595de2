package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"golang.org/x/sync/errgroup"
)

// protocolVersion is what the load client asks for. The gateway and the echo
// upstream serve up to 2025-11-25; asking for it skips the go-sdk client's
// server/discover probe (one more round trip per session) on every path.
const protocolVersion = "2025-11-25"

// endpoint is one way to reach an echo tool: a streamable HTTP URL, or a
// stdio server spawned per session.
type endpoint struct {
	url  string
	argv []string
	tool string // the name to call: "echo", or "echo__echo" through the gateway
}

// dialer makes client sessions. All HTTP sessions of a dialer share one
// connection pool sized for the 1,000-session figure, so that the load client
// never churns connections (http.DefaultTransport keeps only 2 idle ones per
// host).
type dialer struct {
	client *mcp.Client
	http   *http.Client
}

func newDialer() *dialer {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 4096,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &dialer{
		// The load client has no roots, model or user to offer, and says so
		// (go-sdk would declare roots by default); a gateway's relay lane
		// leaves the calls of clients that can be asked to go-sdk.
		client: mcp.NewClient(&mcp.Implementation{Name: "mcp-gateway-bench", Version: "dev"},
			&mcp.ClientOptions{Capabilities: &mcp.ClientCapabilities{}}),
		http: &http.Client{Transport: tr},
	}
}

// close closes the pool's idle connections. Call it before stopping a
// server: a connection dialed but never used counts as active for 5s in
// http.Server.Shutdown, which would hold the server's exit up.
func (d *dialer) close() { d.http.CloseIdleConnections() }

// connect opens one initialized session (initialize, then
// notifications/initialized). For a stdio endpoint it also returns the PID of
// the server it spawned.
func (d *dialer) connect(ctx context.Context, ep endpoint) (*mcp.ClientSession, int, error) {
	opts := &mcp.ClientSessionOptions{ProtocolVersion: protocolVersion}
	if ep.url != "" {
		cs, err := d.client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: ep.url, HTTPClient: d.http}, opts)
		return cs, 0, err
	}
	cmd := exec.Command(ep.argv[0], ep.argv[1:]...)
	cs, err := d.client.Connect(ctx, &mcp.CommandTransport{Command: cmd, TerminateDuration: 2 * time.Second}, opts)
	if err != nil {
		return nil, 0, err
	}
	return cs, cmd.Process.Pid, nil
}

// connectN opens n sessions, 16 at a time.
func (d *dialer) connectN(ctx context.Context, ep endpoint, n int) ([]*mcp.ClientSession, error) {
	sessions := make([]*mcp.ClientSession, n)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i := range sessions {
		g.Go(func() error {
			cs, _, err := d.connect(gctx, ep)
			if err != nil {
				return fmt.Errorf("session %d of %d: %w", i+1, n, err)
			}
			sessions[i] = cs
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		closeAll(sessions)
		return nil, err
	}
	return sessions, nil
}

// closeAll ends the sessions (a DELETE each over HTTP), 64 at a time.
func closeAll(sessions []*mcp.ClientSession) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for _, cs := range sessions {
		if cs == nil {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			cs.Close()
		})
	}
	wg.Wait()
}

// callEcho makes one tools/call echo and checks the answer.
func callEcho(ctx context.Context, cs *mcp.ClientSession, params *mcp.CallToolParams) error {
	res, err := cs.CallTool(ctx, params)
	if err != nil {
		return err
	}
	if res.IsError {
		return fmt.Errorf("tools/call %s: isError result", params.Name)
	}
	return nil
}

func echoParams(tool string) *mcp.CallToolParams {
	return &mcp.CallToolParams{Name: tool, Arguments: map[string]any{"text": "hello"}}
}

// listAll lists every tool, following pagination, and returns how many.
func listAll(ctx context.Context, cs *mcp.ClientSession) (int, error) {
	n := 0
	for _, err := range cs.Tools(ctx, nil) {
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// median of ds, which it sorts.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// percentile of sorted ds: the smallest value at or above the p fraction.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

var errNoCalls = errors.New("no call completed in the window")
