package clientconfig

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// Client names a desktop MCP client whose config file the gateway reads
// (import) or adds itself to (install).
type Client string

// Known clients.
const (
	Claude   Client = "claude"
	Cursor   Client = "cursor"
	VSCode   Client = "vscode"
	Windsurf Client = "windsurf"
)

// Clients lists the known clients in the order import reads them.
var Clients = []Client{Claude, Cursor, VSCode, Windsurf}

// ParseClient returns the client named s.
func ParseClient(s string) (Client, error) {
	for _, c := range Clients {
		if string(c) == strings.ToLower(s) {
			return c, nil
		}
	}
	return "", fmt.Errorf("unknown client %q: want claude, cursor, vscode or windsurf", s)
}

// Title is how the client calls itself, for messages.
func (c Client) Title() string {
	switch c {
	case Claude:
		return "Claude Desktop"
	case Cursor:
		return "Cursor"
	case VSCode:
		return "VS Code"
	case Windsurf:
		return "Windsurf"
	}
	return string(c)
}

// Env is what locating client files depends on. Tests build one for any OS;
// [DefaultEnv] reads the running system's.
type Env struct {
	// GOOS is "darwin", "windows", "linux" or another Unix.
	GOOS string
	// Home is the user's home directory.
	Home string
	// AppData is %APPDATA% on Windows (Roaming); empty means Home\AppData\Roaming.
	AppData string
	// ConfigHome is $XDG_CONFIG_HOME on Linux and other Unixes; empty means
	// Home/.config.
	ConfigHome string
	// Workspace is the project directory whose .vscode/mcp.json and
	// .cursor/mcp.json are read; empty means none.
	Workspace string
}

// DefaultEnv is the running system's: its GOOS, the user's home, %APPDATA%,
// $XDG_CONFIG_HOME, and the working directory as the workspace.
func DefaultEnv() (Env, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return Env{}, fmt.Errorf("finding the home directory: %w", err)
	}
	wd, err := os.Getwd()
	if err != nil {
		return Env{}, err
	}
	return Env{GOOS: runtime.GOOS, Home: home, AppData: os.Getenv("APPDATA"), ConfigHome: os.Getenv("XDG_CONFIG_HOME"), Workspace: wd}, nil
}

// join joins path elements with the separator of e's OS, whatever OS runs
// the code (tests compute Windows paths on Linux).
func (e Env) join(elem ...string) string {
	switch {
	case e.GOOS == runtime.GOOS:
		return filepath.Join(elem...)
	case e.GOOS == "windows":
		return strings.Join(elem, `\`)
	}
	return strings.Join(elem, "/")
}

func (e Env) appData() string {
	if e.AppData != "" {
		return e.AppData
	}
	return e.join(e.Home, "AppData", "Roaming")
}

func (e Env) configHome() string {
	if e.ConfigHome != "" {
		return e.ConfigHome
	}
	return e.join(e.Home, ".config")
}

// userConfigDir is the per-user application data directory that Electron
// apps (Claude Desktop, VS Code) use on e's OS.
func (e Env) userConfigDir() string {
	switch e.GOOS {
	case "darwin":
		return e.join(e.Home, "Library", "Application Support")
	case "windows":
		return e.appData()
	default:
		return e.configHome()
	}
}

// Shape is how a file lists its servers.
type Shape string

// File shapes.
const (
	// ShapeMCPServers is {"mcpServers": {...}}: Claude Desktop, Cursor,
	// Windsurf and the gateway itself.
	ShapeMCPServers Shape = "mcpServers"
	// ShapeServers is VS Code's mcp.json: {"servers": {...}, "inputs": [...]}.
	ShapeServers Shape = "servers"
	// ShapeSettings is VS Code's settings.json: {"mcp": {"servers", "inputs"}}.
	ShapeSettings Shape = "settings"
)

// Location is one file a client reads its servers from.
type Location struct {
	Client Client
	Path   string
	Shape  Shape
	// Workspace is the project directory of a workspace file (it resolves
	// ${workspaceFolder}); empty for a user file.
	Workspace string
	// What says which of the client's files it is ("user mcp.json").
	What string
}

// Locations returns the files client c reads, most specific last: the user
// file (and for VS Code its settings.json), then the workspace's. The first
// one is where install writes.
func Locations(c Client, e Env) []Location {
	var out []Location
	add := func(path string, shape Shape, what, workspace string) {
		out = append(out, Location{Client: c, Path: path, Shape: shape, What: what, Workspace: workspace})
	}
	switch c {
	case Claude:
		add(e.join(e.userConfigDir(), "Claude", "claude_desktop_config.json"), ShapeMCPServers, "claude_desktop_config.json", "")
	case Cursor:
		add(e.join(e.Home, ".cursor", "mcp.json"), ShapeMCPServers, "user mcp.json", "")
		if e.Workspace != "" {
			add(e.join(e.Workspace, ".cursor", "mcp.json"), ShapeMCPServers, "workspace .cursor/mcp.json", e.Workspace)
		}
	case VSCode:
		user := e.join(e.userConfigDir(), "Code", "User")
		add(e.join(user, "mcp.json"), ShapeServers, "user mcp.json", "")
		add(e.join(user, "settings.json"), ShapeSettings, "user settings.json", "")
		if e.Workspace != "" {
			add(e.join(e.Workspace, ".vscode", "mcp.json"), ShapeServers, "workspace .vscode/mcp.json", e.Workspace)
		}
	case Windsurf:
		add(e.join(e.Home, ".codeium", "windsurf", "mcp_config.json"), ShapeMCPServers, "mcp_config.json", "")
	}
	return out
}
