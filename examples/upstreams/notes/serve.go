// serve.go is shared, word for word, by every upstream under examples/upstreams
// and testdata/upstreams: each is a standalone package main, so it is copied
// rather than imported. Keep the copies in sync.

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// maxProtocolVersion caps the protocol versions the server negotiates: the
// stateless 2026-07-28 protocol is not bridged by mcp-gateway yet, and a
// go-sdk client falls back to initialize when server/discover is refused.
const maxProtocolVersion = "2025-11-25"

// protocolVersions returns the SDK's supported versions up to maxProtocolVersion,
// for [mcp.ServerOptions.SupportedProtocolVersions].
func protocolVersions() []string {
	return slices.DeleteFunc(mcp.SupportedProtocolVersions(), func(v string) bool { return v > maxProtocolVersion })
}

// transportFlags selects the transport: stdio unless one address is set.
type transportFlags struct {
	httpAddr string
	sseAddr  string
	// wrap, if non-nil, wraps the HTTP handler (either kind).
	wrap func(http.Handler) http.Handler
}

func (f *transportFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.httpAddr, "http", "", "serve streamable HTTP at http://`ADDR`/mcp instead of stdio (e.g. 127.0.0.1:0)")
	fs.StringVar(&f.sseAddr, "sse", "", "serve legacy HTTP+SSE at http://`ADDR`/sse instead of stdio")
}

// serve runs srv until ctx is done. Over stdio it also returns when stdin
// reaches EOF. Over HTTP it writes exactly one "listening on http://HOST:PORT"
// line to stderr once the listener is bound. Cancellation is a clean exit.
func serve(ctx context.Context, srv *mcp.Server, f transportFlags, stderr io.Writer) error {
	getServer := func(*http.Request) *mcp.Server { return srv }
	wrap := f.wrap
	if wrap == nil {
		wrap = func(h http.Handler) http.Handler { return h }
	}
	switch {
	case f.httpAddr != "" && f.sseAddr != "":
		return errors.New("--http and --sse are mutually exclusive")
	case f.httpAddr != "":
		h := mcp.NewStreamableHTTPHandler(getServer, &mcp.StreamableHTTPOptions{SessionTimeout: 30 * time.Minute})
		return serveHTTP(ctx, f.httpAddr, "/mcp", wrap(h), stderr)
	case f.sseAddr != "":
		return serveHTTP(ctx, f.sseAddr, "/sse", wrap(mcp.NewSSEHandler(getServer, nil)), stderr)
	}
	err := srv.Run(ctx, &mcp.StdioTransport{})
	if ctx.Err() != nil || errors.Is(err, io.EOF) || errors.Is(err, mcp.ErrConnectionClosed) {
		return nil
	}
	return err
}

// serveHTTP serves h at path on addr until ctx is done.
func serveHTTP(ctx context.Context, addr, path string, h http.Handler, stderr io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle(path, h)
	// Request contexts derive from streams, so cancelling it ends hanging
	// GET/SSE streams, which Shutdown alone would wait on.
	streams, cancelStreams := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelStreams()
	hs := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return streams },
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	fmt.Fprintf(stderr, "listening on http://%s\n", ln.Addr())

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// These servers favour a prompt exit over draining: end streams and
	// in-flight calls first, then shut down.
	cancelStreams()
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
