// Command faulty is a stdio MCP server that misbehaves on purpose, for
// mcp-gateway's fault-injection tests (cmd/mcp-gateway/faults_test.go). The
// misbehaviour is chosen by --mode:
//
//	crash-mid-call    tool work exits the process with status 3 100ms after the first call arrives
//	hang              tool work never answers; cancellation, SIGTERM, SIGINT and EOF on stdin are ignored
//	late              tool work answers after --delay, ignoring cancellation
//	flood-stdout      after initialization writes 10,000 non-JSON lines and 10,000 valid
//	                  notifications/message lines to stdout, then serves normally
//	giant             tool work answers with a --size byte (default 40 MiB) text result, on one line
//	exit-on-start     writes a reason to stderr and exits with status 1 before serving
//	crash-after       exits with status 2 after answering --n tools/call requests
//	grandchild        starts `sleep 10000` in its own process group and another that calls setsid
//	                  and keeps stdout open; tool pids reports their PIDs; tool work blocks until
//	                  cancelled (a call to have in flight when the test kills the server)
//	stderr-flood      writes 50 MB to stderr before serving
//	progress-forever  tool work sends progress every 100ms (when the call has a progress token)
//	                  and never answers
//	slow-init         answers initialize only after --delay
//
// Every mode has tool ok (answers "ok"), tool pid (its PID) and tool work
// (answers "done" in modes that do not redefine it). With --state FILE it
// appends "start PID UNIXNANO" when it starts and "exit PID UNIXNANO" when it
// exits by itself, so a test can count restarts; in grandchild mode also
// "grandchild PID SAME SETSID".
//
// Raw writes to stdout go through the same mutex-protected writer the SDK
// uses, one whole line per Write, so they never interleave with its messages.
// Whatever it receives as notifications/cancelled is logged to stderr as
// "faulty: received notifications/cancelled".
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// maxProtocolVersion caps the negotiated protocol, as the other test
// upstreams do (see examples/upstreams/serve).
const maxProtocolVersion = "2025-11-25"

type options struct {
	mode  string
	name  string
	delay time.Duration
	n     int
	size  int
	state string
}

var modes = []string{
	"crash-mid-call", "hang", "late", "flood-stdout", "giant", "exit-on-start", "crash-after",
	"grandchild", "stderr-flood", "progress-forever", "slow-init",
}

func main() {
	var o options
	fs := flag.NewFlagSet("faulty", flag.ContinueOnError)
	fs.StringVar(&o.mode, "mode", "", "misbehaviour: "+strings.Join(modes, ", "))
	fs.StringVar(&o.name, "name", "faulty", "server implementation `NAME`")
	fs.DurationVar(&o.delay, "delay", 2*time.Second, "delay for late and slow-init")
	fs.IntVar(&o.n, "n", 3, "calls answered before crash-after exits")
	fs.IntVar(&o.size, "size", 40<<20, "bytes of text in giant's result")
	fs.StringVar(&o.state, "state", "", "append start/exit records to `FILE`")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if !slices.Contains(modes, o.mode) {
		fmt.Fprintf(os.Stderr, "faulty: unknown --mode %q (want one of %s)\n", o.mode, strings.Join(modes, ", "))
		os.Exit(2)
	}
	record(o.state, "start %d %d", os.Getpid(), time.Now().UnixNano())
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "faulty:", err)
		os.Exit(1)
	}
}

// record appends one line to the state file, if there is one.
func record(path, format string, args ...any) {
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, "faulty: state file:", err)
		return
	}
	fmt.Fprintf(f, format+"\n", args...)
	f.Close()
}

// exit records the exit in the state file and exits.
func exit(o options, code int, reason string) {
	fmt.Fprintf(os.Stderr, "faulty: %s: exiting with status %d\n", reason, code)
	record(o.state, "exit %d %d", os.Getpid(), time.Now().UnixNano())
	os.Exit(code)
}

// lockedWriter serialises whole-line writes to stdout between the SDK and the
// raw flood. The SDK writes each message, newline included, in one Write.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Close does not close stdout: a setsid grandchild may share it, and the
// process is about to exit anyway.
func (l *lockedWriter) Close() error { return nil }

func run(o options) error {
	switch o.mode {
	case "exit-on-start":
		exit(o, 1, "exit-on-start: refusing to start: simulated fatal configuration error")
	case "stderr-flood":
		floodStderr()
	case "hang":
		signal.Ignore(syscall.SIGTERM, syscall.SIGINT)
	}
	out := &lockedWriter{w: os.Stdout}
	s := &server{o: o, out: out}
	if o.mode == "grandchild" {
		if err := s.startGrandchildren(); err != nil {
			return err
		}
	}
	opts := &mcp.ServerOptions{
		SupportedProtocolVersions: slices.DeleteFunc(mcp.SupportedProtocolVersions(), func(v string) bool { return v > maxProtocolVersion }),
	}
	if o.mode == "flood-stdout" {
		opts.InitializedHandler = func(context.Context, *mcp.InitializedRequest) { go s.floodStdout() }
	}
	srv := mcp.NewServer(&mcp.Implementation{Name: o.name, Version: "test"}, opts)
	s.addTools(srv)
	srv.AddReceivingMiddleware(s.middleware)
	err := srv.Run(context.Background(), &mcp.IOTransport{Reader: os.Stdin, Writer: out})
	if o.mode == "hang" {
		// Honours nothing, EOF on stdin included: only SIGKILL ends it.
		fmt.Fprintln(os.Stderr, "faulty: hang: stdin closed; not exiting")
		for {
			time.Sleep(time.Hour)
		}
	}
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, mcp.ErrConnectionClosed) {
		return nil
	}
	return err
}

type server struct {
	o     options
	out   *lockedWriter
	calls atomic.Int64 // tools/call requests answered (crash-after)

	crashOnce sync.Once
	sameGroup int // grandchild PIDs
	setsid    int
}

var objectSchema = json.RawMessage(`{"type":"object"}`)

func text(s string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
}

func (s *server) addTools(srv *mcp.Server) {
	add := func(name, desc string, h mcp.ToolHandler) {
		srv.AddTool(&mcp.Tool{Name: name, Description: desc, InputSchema: objectSchema}, h)
	}
	add("ok", "Answers ok.", func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return text("ok"), nil
	})
	add("pid", "Answers the server's PID.", func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return text(strconv.Itoa(os.Getpid())), nil
	})
	add("work", "Misbehaves according to --mode.", s.work)
	if s.o.mode == "grandchild" {
		add("pids", "Answers the PIDs of the server and its grandchildren as JSON.", func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			b, _ := json.Marshal(map[string]int{"self": os.Getpid(), "same_group": s.sameGroup, "setsid": s.setsid})
			return text(string(b)), nil
		})
	}
}

func (s *server) work(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	switch s.o.mode {
	case "crash-mid-call":
		// Every call that arrives blocks; the first arms the crash.
		s.crashOnce.Do(func() {
			time.AfterFunc(100*time.Millisecond, func() { exit(s.o, 3, "crash-mid-call: work in flight") })
		})
		select {}
	case "hang":
		fmt.Fprintln(os.Stderr, "faulty: hang: work started")
		select {}
	case "late":
		fmt.Fprintln(os.Stderr, "faulty: late: work started")
		time.Sleep(s.o.delay)
		fmt.Fprintln(os.Stderr, "faulty: late: work answering")
		return text("late: done after " + s.o.delay.String()), nil
	case "giant":
		return text(strings.Repeat("x", s.o.size)), nil
	case "grandchild":
		fmt.Fprintln(os.Stderr, "faulty: grandchild: work started")
		<-ctx.Done()
		return nil, ctx.Err()
	case "progress-forever":
		token := req.Params.GetProgressToken()
		fmt.Fprintf(os.Stderr, "faulty: progress-forever: work started, token %v\n", token)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 1; ; i++ {
			<-tick.C
			if token == nil {
				continue
			}
			// Not ctx: progress goes on after cancellation too.
			err := req.Session.NotifyProgress(context.Background(), &mcp.ProgressNotificationParams{
				ProgressToken: token, Progress: float64(i), Message: fmt.Sprintf("step %d", i),
			})
			if err != nil {
				fmt.Fprintln(os.Stderr, "faulty: progress-forever: notify:", err)
				select {}
			}
		}
	}
	return text("done"), nil
}

// middleware logs cancellations, delays initialize (slow-init) and counts
// answered calls (crash-after).
func (s *server) middleware(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		switch method {
		case "notifications/cancelled":
			fmt.Fprintln(os.Stderr, "faulty: received notifications/cancelled")
		case "initialize":
			if s.o.mode == "slow-init" {
				fmt.Fprintf(os.Stderr, "faulty: slow-init: delaying initialize by %s\n", s.o.delay)
				time.Sleep(s.o.delay)
			}
		}
		res, err := next(ctx, method, req)
		if method == "tools/call" && s.o.mode == "crash-after" {
			if n := s.calls.Add(1); n == int64(s.o.n) {
				// Give the SDK time to write this answer first.
				time.AfterFunc(50*time.Millisecond, func() { exit(s.o, 2, fmt.Sprintf("crash-after: served %d calls", n)) })
			}
		}
		return res, err
	}
}

// garbage are the non-JSON lines of flood-stdout: text, a truncated message,
// stray brackets, control bytes, an LSP-style header and a bare CR.
var garbage = []string{
	"garbage line %d: this is not JSON",
	`{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"truncated %d`,
	"]]]}}} %d",
	"\x00\x01\x02\x1b[31mbinary %d\x7f",
	"Content-Length: %d",
	"half a line %d\r",
}

func (s *server) floodStdout() {
	const n = 10000
	for i := range n {
		g := fmt.Sprintf(garbage[i%len(garbage)], i)
		s.out.Write([]byte(g + "\n"))
		s.out.Write(fmt.Appendf(nil, `{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","logger":"faulty","data":"flood %d"}}`+"\n", i))
	}
	fmt.Fprintf(os.Stderr, "faulty: flood-stdout: wrote %d garbage and %d notification lines\n", n, n)
}

// floodStderr writes 50 MB to stderr: 40 MB in 100-byte lines and 10 lines
// of 1 MiB.
func floodStderr() {
	line := []byte(strings.Repeat("e", 99) + "\n")
	buf := make([]byte, 0, 1<<20)
	for len(buf)+len(line) <= cap(buf) {
		buf = append(buf, line...)
	}
	for written := 0; written < 40_000_000; written += len(buf) {
		os.Stderr.Write(buf)
	}
	long := []byte(strings.Repeat("L", 1<<20-1) + "\n")
	for range 10 {
		os.Stderr.Write(long)
	}
	fmt.Fprintln(os.Stderr, "faulty: stderr-flood: done")
}

// startGrandchildren starts one sleep in this process's group and one that
// calls setsid and holds stdout open.
func (s *server) startGrandchildren() error {
	same := exec.Command("sleep", "10000")
	if err := same.Start(); err != nil {
		return err
	}
	escaped := exec.Command("sleep", "10000")
	escaped.Stdout = os.Stdout // keeps the gateway's end of our stdout open
	escaped.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := escaped.Start(); err != nil {
		return err
	}
	go same.Wait()
	go escaped.Wait()
	s.sameGroup, s.setsid = same.Process.Pid, escaped.Process.Pid
	record(s.o.state, "grandchild %d %d %d", os.Getpid(), s.sameGroup, s.setsid)
	fmt.Fprintf(os.Stderr, "faulty: grandchild: same-group sleep %d, setsid sleep %d\n", s.sameGroup, s.setsid)
	return nil
}
