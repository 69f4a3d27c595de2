// Command echo is the configurable MCP upstream used by mcp-gateway's
// integration tests. It exercises every feature the gateway bridges: tools
// with structured output and _meta, tool errors and JSON-RPC errors,
// cancellation and progress, list_changed, server-to-client requests
// (sampling, elicitation, roots, logging), resources with subscriptions,
// prompts and completion.
//
// Flags:
//
//	--name NAME       implementation name (default "echo"); appears in resources, prompts and whoami
//	--http ADDR       serve streamable HTTP at http://ADDR/mcp instead of stdio
//	--sse ADDR        serve legacy HTTP+SSE at http://ADDR/sse instead of stdio
//	--tools N         also register tool_0000 … tool_N-1, each echoing its "value" argument
//	--page-size N     items per page of list results (default: the SDK's, 1000)
//	--long-names      also register a 100-character tool name and a dotted one (see addLongNames)
//	--bad-schema      also list a tool "bad_schema" whose input schema is {"type":"string"} (see badSchema)
//	--stderr-noise    write a line to stderr for every message received
//	--echo-description TEXT
//	                  the echo tool's description (to test a definition that changed)
//
// With --http or --sse it writes exactly one line "listening on http://HOST:PORT"
// to stderr once the listener is bound. It exits cleanly on SIGINT, SIGTERM
// and (over stdio) EOF on stdin.
//
// The tools are listed in tools.go; the resources echo://static and
// echo://item/{id}, the prompt greet(name) and the completion handler in
// features.go.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/mcp-gateway/mcp-gateway/examples/upstreams/serve"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
}

// options are the command-line flags.
type options struct {
	name        string
	transport   serve.Flags
	tools       int
	pageSize    int
	longNames   bool
	badSchema   bool
	stderrNoise bool
	rootsOnInit bool
	verbose     bool
	echoDesc    string
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	o := options{name: "echo"}
	fs := flag.NewFlagSet("echo", flag.ContinueOnError)
	fs.StringVar(&o.name, "name", o.name, "server implementation `NAME`")
	o.transport.Register(fs)
	fs.IntVar(&o.tools, "tools", 0, "also register `N` generated tools tool_0000…")
	fs.IntVar(&o.pageSize, "page-size", 0, "`N` items per page of list results (0: SDK default)")
	fs.BoolVar(&o.longNames, "long-names", false, "also register a 100-character tool name and a dotted one")
	fs.BoolVar(&o.badSchema, "bad-schema", false, `also list a tool whose input schema is {"type":"string"}`)
	fs.BoolVar(&o.stderrNoise, "stderr-noise", false, "write a line to stderr for every message received")
	fs.BoolVar(&o.rootsOnInit, "roots-on-init", false, "ask the client for roots/list when it is initialized, if it declared roots (as server-filesystem does)")
	fs.BoolVar(&o.verbose, "v", false, "log SDK activity to stderr")
	fs.StringVar(&o.echoDesc, "echo-description", "Echo text back, with the request's _meta in the result's _meta.echoed_meta.", "the echo tool's description `TEXT`")
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if o.tools < 0 || o.pageSize < 0 {
		return errors.New("--tools and --page-size must not be negative")
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil)).With("server", o.name)
	e := newServer(o, logger, stderr)
	o.transport.Stdout = func(w io.Writer) io.Writer { return rawWriter{w} }
	if o.transport.SSEAddr != "" {
		o.transport.Wrap = e.sseHeaders.record
	}
	logger.Info("echo server starting", "pid", os.Getpid())
	return serve.Run(ctx, e.srv, o.transport, stderr)
}

// echoServer holds what the handlers need.
type echoServer struct {
	name       string
	srv        *mcp.Server
	logger     *slog.Logger
	stderr     io.Writer
	sseHeaders lastHeaders // headers() over SSE; see there

	echoDescription string
}

func newServer(o options, logger *slog.Logger, stderr io.Writer) *echoServer {
	e := &echoServer{name: o.name, logger: logger, stderr: stderr, echoDescription: o.echoDesc}
	sdkLogger := slog.New(slog.DiscardHandler)
	if o.verbose {
		sdkLogger = logger
	}
	// Capabilities is nil: logging is advertised (the SDK default) and tools,
	// resources (with subscribe), prompts and completions are inferred.
	var initialized func(context.Context, *mcp.InitializedRequest)
	if o.rootsOnInit {
		initialized = e.rootsOnInit
	}
	e.srv = mcp.NewServer(&mcp.Implementation{Name: o.name, Version: "test"}, &mcp.ServerOptions{
		Logger:                    sdkLogger,
		InitializedHandler:        initialized,
		PageSize:                  o.pageSize,
		SupportedProtocolVersions: serve.ProtocolVersions(),
		CompletionHandler:         e.complete,
		SubscribeHandler: func(_ context.Context, req *mcp.SubscribeRequest) error {
			logger.Info("subscribe", "uri", req.Params.URI)
			return nil
		},
		UnsubscribeHandler: func(_ context.Context, req *mcp.UnsubscribeRequest) error {
			logger.Info("unsubscribe", "uri", req.Params.URI)
			return nil
		},
	})
	e.addTools()
	e.addFeatures()
	for i := range o.tools {
		addGenerated(e.srv, fmt.Sprintf("tool_%04d", i), "")
	}
	if o.longNames {
		e.addLongNames()
	}
	if o.badSchema {
		e.srv.AddReceivingMiddleware(badSchema)
	}
	if o.stderrNoise {
		// Added last, so it runs first and also sees bad_schema calls.
		e.srv.AddReceivingMiddleware(e.noise)
	}
	return e
}

// rootsOnInit asks a client that declared roots for them, as soon as it is
// initialized, and logs what it got.
func (e *echoServer) rootsOnInit(_ context.Context, req *mcp.InitializedRequest) {
	init := req.Session.InitializeParams()
	if init == nil || init.Capabilities == nil || init.Capabilities.RootsV2 == nil {
		e.logger.Info("client declared no roots; not asking")
		return
	}
	go func() {
		res, err := req.Session.ListRoots(context.Background(), nil)
		if err != nil {
			e.logger.Info("roots/list failed", "err", err)
			return
		}
		e.logger.Info("roots/list answered", "roots", len(res.Roots))
	}()
}

// objectSchema is the input schema of generated and runtime-added tools.
var objectSchema = json.RawMessage(`{"type":"object","properties":{"value":{"type":"string","description":"text to echo"}}}`)

// addGenerated registers a raw tool name that replies "name: value", with
// a default description if desc is empty.
func addGenerated(srv *mcp.Server, name, desc string) {
	if desc == "" {
		desc = "Generated tool " + name + ": echoes its value argument."
	}
	srv.AddTool(&mcp.Tool{
		Name:        name,
		Description: desc,
		InputSchema: objectSchema,
	}, func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		var args struct {
			Value string `json:"value"`
		}
		if len(req.Params.Arguments) > 0 {
			if err := json.Unmarshal(req.Params.Arguments, &args); err != nil {
				return nil, err
			}
		}
		return textResult(name + ": " + args.Value), nil
	})
}

// addLongNames registers a tool whose name is exactly 100 characters, and
// one with a dot in its name. A name with both '.' and ':' is preferred,
// but the SDK's tool-name rule (validateToolName: [A-Za-z0-9_.-], at most
// 128 characters) forbids ':'. Server.AddTool only logs a name that breaks
// the rule, so this checks the rule itself and registers a dotted name
// instead, logging why.
func (e *echoServer) addLongNames() {
	long := "long_name_"
	long += strings.Repeat("x", 100-len(long))
	addGenerated(e.srv, long, "")

	name := "ns.dotted:tool"
	if bad := strings.IndexFunc(name, func(r rune) bool { return !validToolNameRune(r) }); bad >= 0 {
		e.logger.Warn("tool name not allowed by the SDK; registering a dotted name instead",
			"tool", name, "char", string(name[bad]), "instead", "ns.dotted.tool")
		name = "ns.dotted.tool"
	}
	addGenerated(e.srv, name, "")
}

// validToolNameRune mirrors the SDK's unexported rule for tool names.
func validToolNameRune(r rune) bool {
	return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') ||
		r == '_' || r == '-' || r == '.'
}

// badSchemaTool cannot be registered with Server.AddTool, which panics on an
// input schema that is not type "object". badSchema adds it to tools/list
// results and answers tools/call for it before the SDK does.
var badSchemaTool = &mcp.Tool{
	Name:        "bad_schema",
	Description: `A tool whose input schema is {"type":"string"}, which MCP does not allow.`,
	InputSchema: json.RawMessage(`{"type":"string"}`),
}

// badSchema is receiving middleware. It appends badSchemaTool to the last
// page of tools/list (the SDK builds a fresh Tools slice per request, so
// appending is safe), and replies to tools/call for it with an echo of the
// raw arguments.
func badSchema(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		if call, ok := req.(*mcp.CallToolRequest); ok && method == "tools/call" && call.Params.Name == badSchemaTool.Name {
			return textResult("bad_schema called with " + string(call.Params.Arguments)), nil
		}
		res, err := next(ctx, method, req)
		if list, ok := res.(*mcp.ListToolsResult); ok && err == nil && list.NextCursor == "" {
			list.Tools = append(list.Tools, badSchemaTool)
		}
		return res, err
	}
}

// noise is receiving middleware that writes a line to stderr per message.
func (e *echoServer) noise(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		detail := ""
		if call, ok := req.(*mcp.CallToolRequest); ok {
			detail = " tool=" + call.Params.Name
		}
		fmt.Fprintf(e.stderr, "%s: stderr noise: received %s%s\n", e.name, method, detail)
		return next(ctx, method, req)
	}
}

// lastHeaders records the headers of the latest POST. Over legacy SSE the
// SDK does not pass HTTP headers to handlers (RequestExtra.Header is only
// set by the streamable transport), so headers() falls back to the POST that,
// barring a concurrent one, carried the call.
type lastHeaders struct {
	mu     sync.Mutex
	header http.Header
}

func (l *lastHeaders) record(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			l.mu.Lock()
			l.header = r.Header.Clone()
			l.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	})
}

func (l *lastHeaders) get() http.Header {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.header
}

// textResult is a tool result with one text content.
func textResult(s string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
}
