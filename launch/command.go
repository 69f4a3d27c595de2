package launch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"golang.org/x/time/rate"
)

// CommandTransport runs an upstream as a child process speaking MCP over its
// stdin and stdout. Unlike mcp.CommandTransport, it supervises the child
// together with everything it starts (npx → npm → sh → node) — a process
// group on Unix, a Job Object on Windows — and ends them all on close and
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
	// asking the child to stop (SIGTERM to its group on Unix; on Windows,
	// which has no such request, ending its job), and after that before
	// killing it. Zero means 2s.
	TerminateGrace time.Duration
}

// Connect starts the process.
func (t *CommandTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	p, err := t.start()
	if err != nil {
		return nil, err
	}
	return (&PipeTransport{Reader: p.stdout, Writer: p, MaxMessageBytes: t.MaxMessageBytes, Logger: p.log}).Connect(ctx)
}

// process is a running child and the parent's ends of its pipes.
type process struct {
	cmd    *exec.Cmd
	group  *procGroup // the child and everything it starts
	stdin  *os.File
	stdout *os.File
	grace  time.Duration
	exited chan struct{} // closed once the child is reaped
	log    *slog.Logger
	stderr *stderrLog

	// mu orders ending the group with reaping the child: once reaped is set
	// the ids and handles that name the group may name something else.
	mu     sync.Mutex
	reaped bool

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
	prepare(cmd)

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
	group, err := supervise(cmd)
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		closeAll(inW, outR, errR)
		return nil, fmt.Errorf("supervise %q: %w", t.Path, err)
	}

	grace := t.TerminateGrace
	if grace <= 0 {
		grace = 2 * time.Second
	}
	logger := t.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p := &process{cmd: cmd, group: group, stdin: inW, stdout: outR, grace: grace, exited: make(chan struct{}), log: logger,
		stderr: &stderrLog{logger: logger, lim: rate.NewLimiter(stderrLinesPerSecond, stderrBurst)}}
	go p.stderr.run(errR)
	go p.reap()
	return p, nil
}

// reap waits for the child to exit, ends what is left of its group, then
// reaps it. The group is ended before the child is reaped, so the ids that
// name it cannot have been reused.
func (p *process) reap() {
	p.group.waitExit()
	p.mu.Lock()
	p.group.kill()
	err := p.cmd.Wait()
	p.reaped = true
	p.group.release()
	p.mu.Unlock()
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

// Close runs the MCP stdio shutdown sequence: close stdin, wait, ask the
// group to stop, wait, kill the group. It returns once the child is reaped.
// Close may be called more than once.
func (p *process) Close() error {
	p.closing.Store(true)
	p.closeOnce.Do(func() {
		p.closeErr = p.stdin.Close()
		for _, step := range []func(){nil, p.group.terminate, p.group.kill} {
			if step != nil {
				p.mu.Lock()
				if !p.reaped {
					step()
				}
				p.mu.Unlock()
			}
			t := time.NewTimer(p.grace)
			select {
			case <-p.exited:
				t.Stop()
				return
			case <-t.C:
			}
		}
		p.closeErr = errors.New("child did not exit after it was killed")
	})
	return p.closeErr
}

func closeAll(fs ...*os.File) {
	for _, f := range fs {
		f.Close()
	}
}
