//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal: the controlling side, read by the test,
// and the terminal side, given to the child as its stderr.
func openPTY(t *testing.T) (ctl, tty *os.File) {
	t.Helper()
	ctl, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	require.NoError(t, err)
	require.NoError(t, unix.IoctlSetPointerInt(int(ctl.Fd()), unix.TIOCSPTLCK, 0))
	n, err := unix.IoctlGetUint32(int(ctl.Fd()), unix.TIOCGPTN)
	require.NoError(t, err)
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	require.NoError(t, err)
	t.Cleanup(func() { ctl.Close(); tty.Close() })
	return ctl, tty
}

// readAll copies what the child writes to the terminal into a buffer until
// the terminal side is closed everywhere.
func readAll(ctl *os.File) (*syncBuffer, <-chan struct{}) {
	buf, done := &syncBuffer{}, make(chan struct{})
	go func() { io.Copy(buf, ctl); close(done) }() // EIO once the last terminal side closes
	return buf, done
}

func startupConfig(t *testing.T) string {
	return writeConfig(t, map[string]any{"mcpServers": map[string]any{
		"good":   echoUpstream("good"),
		"broken": map[string]any{"command": "/nonexistent/mcp-server"},
	}})
}

// TestStartupFeedbackOnTerminal: with stderr on a terminal, tools and call
// show each upstream connecting, ready with its tool count, or failed with
// the reason; on a pipe they show none of it.
func TestStartupFeedbackOnTerminal(t *testing.T) {
	needBins(t)
	cfg := startupConfig(t)
	for _, args := range [][]string{
		{"tools", "--config", cfg},
		{"call", "good__echo", "--args", `{"text":"hi"}`, "--config", cfg},
	} {
		t.Run(args[0], func(t *testing.T) {
			ctl, tty := openPTY(t)
			cmd := exec.Command(bins.gateway, args...)
			var stdout syncBuffer
			cmd.Stdout, cmd.Stderr = &stdout, tty
			require.NoError(t, cmd.Start())
			tty.Close() // the child has it
			term, done := readAll(ctl)
			require.NoError(t, cmd.Wait(), "%s", term)
			<-done
			out := term.String()
			assert.Contains(t, out, "  connecting  good   (stdio)")
			assert.Contains(t, out, "  connecting  broken (stdio)")
			assert.Regexp(t, `  ready       good   16 tools in \d+ms`, out)
			assert.Regexp(t, `  failed      broken after \d+ms: initialize: command "/nonexistent/mcp-server": [^\r\n]*no such file or directory\r\n`, out)
			assert.Contains(t, out, "1 of 2 upstreams ready in ")
			assert.NotContains(t, out, "upstream not connected; its tools are missing", "the report said so already")
			assert.NotContains(t, stdout.String(), "  connecting  ", "stdout is the command's output")
		})
		t.Run(args[0]+" piped", func(t *testing.T) {
			cmd := exec.Command(bins.gateway, args...)
			var stdout, stderr syncBuffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			require.NoError(t, cmd.Run(), "%s", &stderr)
			assert.NotContains(t, stderr.String(), "  connecting  ")
			assert.NotContains(t, stderr.String(), "  ready  ")
			assert.Contains(t, stderr.String(), "upstream not connected; its tools are missing", "the log says it instead")
			assert.NotContains(t, stdout.String(), "  connecting  ")
		})
	}
}

// TestStartupFeedbackServeStdio: serving MCP over stdio with stderr on a
// terminal, the report goes to stderr and stdout carries only the protocol
// (the client's session works); --log-format json turns it off.
func TestStartupFeedbackServeStdio(t *testing.T) {
	needBins(t)
	cfg := startupConfig(t)
	for _, tc := range []struct {
		name   string
		args   []string
		report bool
	}{
		{"text logs", nil, true},
		{"json logs", []string{"--log-format", "json"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctl, tty := openPTY(t)
			term, done := readAll(ctl)
			cmd := exec.Command(bins.gateway, append([]string{"serve", "--config", cfg}, tc.args...)...)
			cmd.Stderr = tty
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cs, err := mcp.NewClient(&mcp.Implementation{Name: "pty", Version: "test"}, nil).Connect(ctx, &mcp.CommandTransport{Command: cmd}, nil)
			require.NoError(t, err)
			tty.Close()
			eventually(t, 20*time.Second, "good's tools listed", func() error {
				res, err := cs.ListTools(ctx, nil)
				if err != nil {
					return err
				}
				if len(res.Tools) != 16 {
					return fmt.Errorf("%d tools", len(res.Tools))
				}
				return nil
			})
			assert.Equal(t, "hi", callText(t, cs, "good__echo", map[string]any{"text": "hi"}))
			require.NoError(t, cs.Close())
			<-done
			if tc.report {
				assert.Contains(t, term.String(), "  connecting  good   (stdio)")
				assert.Regexp(t, `  ready       good   16 tools in \d+ms`, term.String())
			} else {
				assert.NotContains(t, term.String(), "connecting  good")
				assert.Contains(t, term.String(), `"msg":"upstream connected"`)
			}
		})
	}
}
