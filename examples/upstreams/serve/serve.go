// Package serve runs an example or test upstream MCP server over stdio,
// streamable HTTP or legacy SSE, as its command-line flags choose. It is
// shared by every server under examples/upstreams and testdata/upstreams.
package serve

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// maxProtocolVersion caps the protocol versions the server negotiates: the
// stateless 2026-07-28 protocol is not bridged by mcp-gateway yet, and a
// go-sdk client falls back to initialize when server/discover is refused.
const maxProtocolVersion = "2025-11-25"

// ProtocolVersions returns the SDK's supported versions up to maxProtocolVersion,
// for [mcp.ServerOptions.SupportedProtocolVersions].
func ProtocolVersions() []string {
	return slices.DeleteFunc(mcp.SupportedProtocolVersions(), func(v string) bool { return v > maxProtocolVersion })
}

// Flags select the transport: stdio unless one address is set.
type Flags struct {
	HTTPAddr string
	SSEAddr  string
	// Wrap, if non-nil, wraps the HTTP handler (either kind).
	Wrap func(http.Handler) http.Handler
	// Stdout, if non-nil, wraps what the server writes to stdout.
	Stdout func(io.Writer) io.Writer
}

// Register adds --http and --sse to fs.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.HTTPAddr, "http", "", "serve streamable HTTP at http://`ADDR`/mcp instead of stdio (e.g. 127.0.0.1:0)")
	fs.StringVar(&f.SSEAddr, "sse", "", "serve legacy HTTP+SSE at http://`ADDR`/sse instead of stdio")
}

// Run serves srv until ctx is done. Over stdio it also returns when stdin
// reaches EOF. Over HTTP it writes exactly one "listening on http://HOST:PORT"
// line to stderr once the listener is bound. Cancellation is a clean exit.
func Run(ctx context.Context, srv *mcp.Server, f Flags, stderr io.Writer) error {
	getServer := func(*http.Request) *mcp.Server { return srv }
	wrap := f.Wrap
	if wrap == nil {
		wrap = func(h http.Handler) http.Handler { return h }
	}
	switch {
	case f.HTTPAddr != "" && f.SSEAddr != "":
		return errors.New("--http and --sse are mutually exclusive")
	case f.HTTPAddr != "":
		h := mcp.NewStreamableHTTPHandler(getServer, &mcp.StreamableHTTPOptions{SessionTimeout: 30 * time.Minute})
		return serveHTTP(ctx, f.HTTPAddr, "/mcp", wrap(h), stderr)
	case f.SSEAddr != "":
		return serveHTTP(ctx, f.SSEAddr, "/sse", wrap(mcp.NewSSEHandler(getServer, nil)), stderr)
	}
	var t mcp.Transport = &mcp.StdioTransport{}
	if f.Stdout != nil {
		t = &mcp.IOTransport{Reader: os.Stdin, Writer: nopCloser{f.Stdout(os.Stdout)}}
	}
	err := srv.Run(ctx, t)
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

// nopCloser leaves stdout open: the process owns it.
type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
