package aggregator

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"golang.org/x/sys/unix"
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
	return (&mcp.IOTransport{Reader: p.stdout, Writer: p, MaxLineLength: max}).Connect(ctx)
}

// process is a running child and the parent's ends of its pipes.
type process struct {
	cmd    *exec.Cmd
	stdin  *os.File
	stdout *os.File
	grace  time.Duration
	exited chan struct{} // closed once the child is reaped

	closeOnce sync.Once
	closeErr  error
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
	p := &process{cmd: cmd, stdin: inW, stdout: outR, grace: grace, exited: make(chan struct{})}
	logger := t.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	go logStderr(errR, logger)
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
	_ = p.cmd.Wait()                        // the exit status is reported by the session ending
	close(p.exited)
}

// Write sends bytes to the child's stdin.
func (p *process) Write(b []byte) (int, error) { return p.stdin.Write(b) }

// Close runs the MCP stdio shutdown sequence: close stdin, wait, SIGTERM the
// group, wait, SIGKILL the group. It returns once the child is reaped.
// Close may be called more than once.
func (p *process) Close() error {
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

// logStderr logs each line the child writes to stderr. Stderr is not an error
// signal (the MCP spec says so), so lines are logged at info.
func logStderr(r *os.File, logger *slog.Logger) {
	defer r.Close()
	br := bufio.NewReaderSize(r, maxStderrLine)
	for {
		line, isPrefix, err := br.ReadLine()
		if len(line) > 0 {
			logger.Info("upstream stderr", "line", string(line))
		}
		for isPrefix && err == nil { // discard the rest of an over-long line
			_, isPrefix, err = br.ReadLine()
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, os.ErrClosed) {
				logger.Debug("upstream stderr closed", "err", err)
			}
			return
		}
	}
}

func closeAll(fs ...*os.File) {
	for _, f := range fs {
		f.Close()
	}
}
