// Package deploy holds the checks of the deployment files in this directory
// (Dockerfile, docker compose, Kubernetes manifests, Prometheus and Grafana
// provisioning) and of the client configs in ../clients. Docker and
// Kubernetes are not needed: the files are parsed (YAML with
// go.yaml.in/yaml/v3, JSON with encoding/json, the Dockerfile, its
// .dockerignore and the dashboard's PromQL with the small readers in this
// package) and checked against each other and against the real gateway,
// which the checks build from ../../cmd/mcp-gateway and run.
package deploy

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Paths from this package's directory, where go test runs.
const (
	repoRoot   = "../.."
	deployDir  = "."
	clientsDir = "../clients"
)

// The version and commit the gateway under test is stamped with, the way the
// Dockerfile stamps it.
const (
	stampVersion = "v0.0.0-deploy-test"
	stampCommit  = "0123456789abcdef0123456789abcdef01234567"
)

// needBinaries skips a test that builds and runs the gateway under -short.
func needBinaries(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test (builds and runs the gateway): skipped with -short")
	}
}

// checkFlagsByBinary requires the real gateway's command tree to accept the
// flags of args: cobra parses the flags before it answers --help, so an
// unknown flag or a flag without its value fails.
func checkFlagsByBinary(t *testing.T, what string, args []string) {
	t.Helper()
	if testing.Short() {
		t.Logf("NOTE: -short: %s checked by the reader only, not by the gateway binary", what)
		return
	}
	out, err := exec.Command(gatewayBin(t), append(slices.Clone(args), "--help")...).CombinedOutput()
	require.NoError(t, err, "%s: the gateway refuses %q: %s", what, args, out)
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builds.dir != "" {
		os.RemoveAll(builds.dir)
	}
	os.Exit(code)
}

// goBuild builds the package pkg (relative to the repository root) into a
// temporary directory, once per test binary. The binaries are built on first use, not in
// TestMain, so that fuzzing this package (whose workers run TestMain) builds
// nothing.
func goBuild(t testing.TB, name, pkg string, flags ...string) string {
	t.Helper()
	builds.Lock()
	defer builds.Unlock()
	if b, ok := builds.done[pkg]; ok {
		require.NoError(t, b.err)
		return b.path
	}
	if builds.dir == "" {
		dir, err := os.MkdirTemp("", "mcp-gateway-deploy-")
		require.NoError(t, err)
		builds.dir = dir
	}
	out := filepath.Join(builds.dir, name)
	if runtime.GOOS == "windows" {
		out += ".exe"
	}
	cmd := exec.Command("go", append(append([]string{"build"}, flags...), "-o", out, pkg)...)
	cmd.Dir = repoRoot
	msg, err := cmd.CombinedOutput()
	if err != nil {
		err = fmt.Errorf("go build %s: %w\n%s", pkg, err, msg)
	}
	builds.done[pkg] = builtBinary{out, err}
	require.NoError(t, err)
	return out
}

type builtBinary struct {
	path string
	err  error
}

// builds are the binaries built so far, in dir; TestMain removes dir.
var builds = struct {
	sync.Mutex
	dir  string
	done map[string]builtBinary
}{done: map[string]builtBinary{}}

// gatewayBin is the gateway, built with the version stamp the Dockerfile's
// -ldflags set.
func gatewayBin(t testing.TB) string {
	return goBuild(t, "mcp-gateway", "./cmd/mcp-gateway",
		"-ldflags", "-X main.version="+stampVersion+" -X main.commit="+stampCommit)
}

// echoBin is the echo test upstream.
func echoBin(t testing.TB) string {
	return goBuild(t, "echo", "./testdata/upstreams/echo")
}

// gatewayProcess is the gateway binary running.
type gatewayProcess struct {
	cmd    *exec.Cmd
	url    string // http://HOST:PORT once it listens; "" without --http
	stdin  io.WriteCloser
	stdout *bufio.Reader
	stderr *syncBuffer
	done   chan error // the exit, once; re-sent by whoever reads it
}

// listenRE finds the address in the gateway's "serving MCP over streamable
// HTTP" log line, in JSON or text format.
var listenRE = regexp.MustCompile(`serving MCP over streamable HTTP.*addr"?[:=]"?([^"\s]+)`)

// startGateway starts the gateway with args and extra environment
// variables and, when listen is set, waits until it logs its HTTP address.
// The process is stopped when the test ends.
func startGateway(t *testing.T, args []string, env []string, listen bool) *gatewayProcess {
	t.Helper()
	g := &gatewayProcess{stderr: &syncBuffer{}, done: make(chan error, 1)}
	g.cmd = exec.Command(gatewayBin(t), args...)
	g.cmd.Env = append(os.Environ(), env...)
	stdin, err := g.cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := g.cmd.StdoutPipe()
	require.NoError(t, err)
	g.stdin, g.stdout = stdin, bufio.NewReader(stdout)
	pr, pw := io.Pipe()
	g.cmd.Stderr = io.MultiWriter(g.stderr, pw)
	require.NoError(t, g.cmd.Start())
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := listenRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
	}()
	go func() {
		// Wait closes stdout once the process is gone; reading it first
		// is the caller's business (stdio mode).
		err := g.cmd.Wait()
		pw.Close()
		g.done <- err
	}()
	t.Cleanup(func() {
		if err := g.stop(); err != nil && !t.Failed() {
			t.Errorf("gateway: %v\n%s", err, g.stderr)
		}
	})
	if !listen {
		return g
	}
	select {
	case a := <-addr:
		g.url = "http://" + a
	case err := <-g.done:
		g.done <- err
		t.Fatalf("gateway exited: %v\n%s", err, g.stderr)
	case <-time.After(30 * time.Second):
		t.Fatalf("gateway did not listen within 30s\n%s", g.stderr)
	}
	return g
}

// stop sends SIGTERM (as Kubernetes and docker stop do) and returns the exit
// error: nil for exit status 0. Windows has no SIGTERM; there the process is
// killed.
func (g *gatewayProcess) stop() error {
	if done, err := g.exited(); done {
		return err
	}
	if runtime.GOOS == "windows" {
		_ = g.cmd.Process.Kill()
	} else {
		_ = g.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case err := <-g.done:
		g.done <- err
		return err
	case <-time.After(20 * time.Second):
		g.cmd.Process.Kill()
		err := <-g.done
		g.done <- err
		return fmt.Errorf("did not exit within 20s of SIGTERM (%v)", err)
	}
}

// wait waits for the process to end by itself and returns its exit error;
// it fails the test if that takes longer than within.
func (g *gatewayProcess) wait(t *testing.T, within time.Duration) error {
	t.Helper()
	select {
	case err := <-g.done:
		g.done <- err
		return err
	case <-time.After(within):
		t.Fatalf("gateway did not exit within %s\n%s", within, g.stderr)
		return nil
	}
}

// readLine reads one line of the gateway's stdout, failing the test if none
// comes within the time given or the gateway exits first.
func (g *gatewayProcess) readLine(t *testing.T, within time.Duration) []byte {
	t.Helper()
	type result struct {
		line []byte
		err  error
	}
	got := make(chan result, 1)
	go func() {
		line, err := g.stdout.ReadBytes('\n')
		got <- result{line, err}
	}()
	select {
	case r := <-got:
		require.NoError(t, r.err, "reading the gateway's stdout\n%s", g.stderr)
		return r.line
	case err := <-g.done:
		g.done <- err
		t.Fatalf("gateway exited (%v) before writing a line\n%s", err, g.stderr)
	case <-time.After(within):
		t.Fatalf("no line on the gateway's stdout within %s\n%s", within, g.stderr)
	}
	return nil
}

// exited reports whether the process has ended, and its exit error.
func (g *gatewayProcess) exited() (bool, error) {
	select {
	case err := <-g.done:
		g.done <- err
		return true, err
	default:
		return false, nil
	}
}

// syncBuffer is a goroutine-safe buffer for a child's stderr.
type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
