//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package launch

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestCommandEndsItsGroup: what a stdio upstream starts (npx starting node,
// here sh starting sleep) dies with it, whether the gateway closes the
// connection or the upstream exits by itself.
func TestCommandEndsItsGroup(t *testing.T) {
	for _, tc := range []struct {
		doc, script string
		close       bool
	}{
		{"closed by the gateway", `sleep 300 & echo $! > "$1"; exec cat`, true},
		{"exits by itself", `sleep 300 & echo $! > "$1"; exit 0`, false},
	} {
		t.Run(tc.doc, func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "pid")
			tr := &CommandTransport{Path: "sh", Args: []string{"-c", tc.script, "sh", pidFile}, Env: os.Environ(), TerminateGrace: 200 * time.Millisecond}
			conn, err := tr.Connect(context.Background())
			require.NoError(t, err)
			pid := waitPID(t, pidFile)
			if tc.close {
				require.True(t, alive(pid), "grandchild %d not running", pid)
				require.NoError(t, conn.Close())
			} else {
				// The script has exited: the read ends.
				_, err := conn.Read(context.Background())
				require.Error(t, err)
				defer conn.Close()
			}
			deadline := time.Now().Add(5 * time.Second)
			for alive(pid) {
				require.True(t, time.Now().Before(deadline), "grandchild %d outlived its upstream", pid)
				time.Sleep(10 * time.Millisecond) // another process's death: nothing to wait on but its pid
			}
		})
	}
}

func waitPID(t *testing.T, file string) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile(file)
		if s := strings.TrimSpace(string(b)); err == nil && strings.HasSuffix(string(b), "\n") {
			pid, err := strconv.Atoi(s)
			require.NoError(t, err)
			return pid
		}
		require.True(t, time.Now().Before(deadline), "no pid written to %s", file)
		time.Sleep(10 * time.Millisecond) // a file another process writes
	}
}

// alive reports whether pid is a live process (a zombie counts as dead: the
// test is not its parent, init reaps it).
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	if errors.Is(err, syscall.ESRCH) {
		return false
	}
	if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 2 && f[2] == "Z" {
			return false
		}
	}
	return true
}
