package upauth

import (
	"errors"
	"path/filepath"
)

// StateDirEnv overrides the per-user state directory, on every OS.
const StateDirEnv = "MCP_GATEWAY_STATE_DIR"

// appDir is the name of the gateway's directory inside the per-user one.
const appDir = "mcp-gateway"

// DefaultStateDir is where the gateway keeps its per-user state (tokens,
// client registrations, locks): $MCP_GATEWAY_STATE_DIR if set, else the
// platform's per-user state directory joined with "mcp-gateway" (see
// userStateDir in the per-platform files). getenv is os.Getenv in production.
func DefaultStateDir(getenv func(string) string) (string, error) {
	if d := getenv(StateDirEnv); d != "" {
		return filepath.Abs(d)
	}
	base, err := userStateDir(getenv)
	if err != nil {
		return "", err
	}
	return filepath.Join(base, appDir), nil
}

var errNoHome = errors.New("cannot find the per-user state directory: set " + StateDirEnv)
