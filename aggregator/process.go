package aggregator

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"golang.org/x/sys/unix"
	"golang.org/x/time/rate"
)

// DefaultMaxMessageBytes caps one JSON-RPC message read from an upstream.
const DefaultMaxMessageBytes = 16 << 20

// maxStderrLine caps one logged line of an upstream's stderr; the rest of the
// line is discarded.
const maxStderrLine = 4 << 10

// CommandTransport runs an upstream as a child process speaking MCP over its
// stdin and stdout. Unlike mcp.CommandTransport, it starts the child in its own
// process group and ends the whole group (npx → npm → sh → node) on close and
// when the child exits, logs the child's stderr line by line, and caps the
// size of one message.
//
// Each Connect starts a new process. A CommandTransport may be reused.
type CommandTransport struct {
	// Path and Args are the command line; Path is looked up in PATH.
	Path string
	Args []string
	// Env is the child's complete environment.
	Env []string
	// Dir is the working directory; empty means the gateway's.
	Dir string
	// Logger receives the child's stderr lines; nil discards them.
	Logger *slog.Logger
	// MaxMessageBytes caps one message from the child. Zero means
	// [DefaultMaxMessageBytes]. A longer message ends the connection (and the
	// child) rather than exhausting memory.
	MaxMessageBytes int
	// TerminateGrace is how long closing waits after closing stdin before
	// SIGTERM, and after SIGTERM before SIGKILL. Zero means 2s.
	TerminateGrace time.Duration
}

// Connect starts the process.
func (t *CommandTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	p, err := t.start()
	if err != nil {
		return nil, err
	}
	max := t.MaxMessageBytes
	if max <= 0 {
		max = DefaultMaxMessageBytes
	}
	stdout := &lineFilter{r: bufio.NewReaderSize(p.stdout, 64<<10), max: max, f: p.stdout, log: p.log}
	return (&mcp.IOTransport{Reader: stdout, Writer: p, MaxLineLength: max}).Connect(ctx)
}

// process is a running child and the parent's ends of its pipes.
type process struct {
	cmd    *exec.Cmd
	stdin  *os.File
	stdout *os.File
	grace  time.Duration
	exited chan struct{} // closed once the child is reaped
	log    *slog.Logger
	stderr *stderrLog

	closeOnce sync.Once
	closeErr  error
	closing   atomic.Bool // Close was called: the exit is expected
}

func (t *CommandTransport) start() (*process, error) {
	path, err := exec.LookPath(t.Path)
	if err != nil {
		return nil, fmt.Errorf("command %q: %w", t.Path, err)
	}
	cmd := exec.Command(path, t.Args...)
	cmd.Env = t.Env
	cmd.Dir = t.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}

	// Plain *os.File pipes: exec then starts no copying goroutines, and Wait
	// does not close our read ends, so nothing the child wrote before exiting
	// is lost.
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		closeAll(inR, inW)
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		closeAll(inR, inW, outR, outW)
		return nil, err
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
	if err := cmd.Start(); err != nil {
		closeAll(inR, inW, outR, outW, errR, errW)
		return nil, fmt.Errorf("start %q: %w", t.Path, err)
	}
	closeAll(inR, outW, errW) // the child's ends

	grace := t.TerminateGrace
	if grace <= 0 {
		grace = 2 * time.Second
	}
	logger := t.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p := &process{cmd: cmd, stdin: inW, stdout: outR, grace: grace, exited: make(chan struct{}), log: logger,
		stderr: &stderrLog{logger: logger, lim: rate.NewLimiter(stderrLinesPerSecond, stderrBurst)}}
	go p.stderr.run(errR)
	go p.reap()
	return p, nil
}

// reap waits for the child to exit, ends what is left of its process group,
// then reaps it. The group is signalled before the leader is reaped, so its
// id cannot have been reused (a process group id stays reserved while any
// member lives, and the unreaped leader is a member).
func (p *process) reap() {
	pid := p.cmd.Process.Pid
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			break
		}
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL) // ESRCH when the group is already gone
	err := p.cmd.Wait()
	if p.cmd.ProcessState != nil && !p.closing.Load() {
		p.log.Warn("upstream process exited", "status", p.cmd.ProcessState.String(), "last_stderr", p.stderr.last(), "err", err)
	}
	close(p.exited)
	// What the child wrote before exiting is still in the pipe, and reading
	// ends with EOF once every writer is gone. A descendant that left the
	// group (setsid) may still hold the pipe open: then end the read after a
	// grace, so calls in flight get an error now rather than at their timeout.
	time.AfterFunc(stdoutDrainGrace, func() {
		if err := p.stdout.SetReadDeadline(time.Now()); err == nil && !p.closing.Load() {
			p.log.Debug("stopped reading the upstream's stdout after it exited")
		}
	})
}

// stdoutDrainGrace is how long the gateway still reads a stdio upstream's
// output after the process exited.
const stdoutDrainGrace = 300 * time.Millisecond

// Write sends bytes to the child's stdin.
func (p *process) Write(b []byte) (int, error) { return p.stdin.Write(b) }

// Close runs the MCP stdio shutdown sequence: close stdin, wait, SIGTERM the
// group, wait, SIGKILL the group. It returns once the child is reaped.
// Close may be called more than once.
func (p *process) Close() error {
	p.closing.Store(true)
	p.closeOnce.Do(func() {
		p.closeErr = p.stdin.Close()
		pgid := -p.cmd.Process.Pid
		for _, sig := range []syscall.Signal{0, syscall.SIGTERM, syscall.SIGKILL} {
			if sig != 0 {
				_ = syscall.Kill(pgid, sig)
			}
			select {
			case <-p.exited:
				return
			case <-time.After(p.grace):
			}
		}
		p.closeErr = errors.New("child did not exit after SIGKILL")
	})
	return p.closeErr
}

// Stderr logging limits: a child that floods stderr is logged at this rate
// and the rest counted, so it can neither fill the gateway's log nor block on
// a full pipe (the pipe is always drained).
const (
	stderrLinesPerSecond = 50
	stderrBurst          = 200
)

// stderrLog drains a child's stderr, logging lines at a bounded rate and
// keeping the last one for error reports.
type stderrLog struct {
	logger *slog.Logger
	lim    *rate.Limiter

	mu       sync.Mutex
	lastLine string
	dropped  int
}

// run logs each line the child writes to stderr. Stderr is not an error
// signal (the MCP spec says so), so lines are logged at info.
func (s *stderrLog) run(r *os.File) {
	defer r.Close()
	br := bufio.NewReaderSize(r, maxStderrLine)
	for {
		line, isPrefix, err := br.ReadLine()
		if len(line) > 0 {
			s.line(string(line))
		}
		for isPrefix && err == nil { // discard the rest of an over-long line
			_, isPrefix, err = br.ReadLine()
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, os.ErrClosed) {
				s.logger.Debug("upstream stderr closed", "err", err)
			}
			return
		}
	}
}

func (s *stderrLog) line(line string) {
	s.mu.Lock()
	s.lastLine = line
	allowed := s.lim.Allow()
	dropped := s.dropped
	if allowed {
		s.dropped = 0
	} else {
		s.dropped++
	}
	s.mu.Unlock()
	if !allowed {
		return
	}
	if dropped > 0 {
		s.logger.Warn("upstream stderr lines not logged (rate limit)", "lines", dropped)
	}
	s.logger.Info("upstream stderr", "line", line)
}

func (s *stderrLog) last() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastLine
}

// lineFilter passes a child's stdout through line by line, dropping lines
// that cannot be JSON-RPC messages (the MCP spec forbids them, but servers
// print banners): the SDK's decoder would otherwise end the connection at the
// first one. A message longer than max ends the read with an error.
type lineFilter struct {
	r       *bufio.Reader
	f       *os.File
	max     int
	log     *slog.Logger
	pending []byte
	dropped int
}

// ErrMessageTooLarge ends a connection whose upstream sent a message over the cap.
var ErrMessageTooLarge = errors.New("upstream message exceeds the size cap")

func (l *lineFilter) Read(p []byte) (int, error) {
	for len(l.pending) == 0 {
		line, err := l.readLine()
		switch {
		case isMessage(line):
			// Trailing blanks after the message would make the SDK's decoder
			// end the connection ("invalid trailing data").
			l.pending = append(bytes.TrimRight(line, " \t\r\n"), '\n')
		case len(bytes.TrimSpace(line)) > 0:
			if l.dropped++; l.dropped <= 10 || l.dropped%1000 == 0 {
				l.log.Warn("dropped a line of upstream stdout that is not a JSON-RPC message", "bytes", len(line), "dropped_total", l.dropped)
			}
		}
		if err != nil && len(l.pending) == 0 {
			return 0, err
		}
		if err != nil {
			break
		}
	}
	n := copy(p, l.pending)
	l.pending = l.pending[n:]
	return n, nil
}

// Close closes the child's stdout.
func (l *lineFilter) Close() error { return l.f.Close() }

// readLine returns the next line with its newline, at most max bytes.
func (l *lineFilter) readLine() ([]byte, error) {
	line, err := l.r.ReadSlice('\n')
	if err != bufio.ErrBufferFull {
		if len(bytes.TrimRight(line, "\r\n")) > l.max {
			return nil, fmt.Errorf("%w (%d bytes)", ErrMessageTooLarge, l.max)
		}
		return append([]byte(nil), line...), err
	}
	buf := append([]byte(nil), line...)
	for err == bufio.ErrBufferFull {
		if len(buf) > l.max+2 { // room for a line terminator

			return nil, fmt.Errorf("%w (%d bytes)", ErrMessageTooLarge, l.max)
		}
		line, err = l.r.ReadSlice('\n')
		buf = append(buf, line...)
	}
	if len(bytes.TrimRight(buf, "\r\n")) > l.max {
		return nil, fmt.Errorf("%w (%d bytes)", ErrMessageTooLarge, l.max)
	}
	return buf, err
}

// isMessage reports whether line holds a JSON-RPC message (or a batch of
// them) the SDK's decoder can take: valid JSON, an object or array, that
// names "jsonrpc". Anything else — a banner, a JSON log line — would end
// the connection, so it is dropped.
func isMessage(line []byte) bool {
	t := bytes.TrimSpace(line)
	return len(t) > 0 && (t[0] == '{' || t[0] == '[') && bytes.Contains(t, []byte(`"jsonrpc"`)) && json.Valid(t)
}

func closeAll(fs ...*os.File) {
	for _, f := range fs {
		f.Close()
	}
}
