package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// globalOptions are the flags every command takes.
type globalOptions struct {
	configPath string
	logLevel   string
	logFormat  string
	// loadedPath is the config file loadConfig found (the lockfile sits
	// next to it).
	loadedPath string
}

// exitError carries a process exit code without printing anything more.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// run executes the command line and returns the process exit code.
func run(ctx context.Context, args []string, stdin io.ReadCloser, stdout, stderr io.Writer) int {
	cmd := newRootCmd(stdin, stdout, stderr)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	fmt.Fprintln(stderr, "mcp-gateway:", err)
	return 1
}

func newRootCmd(stdin io.ReadCloser, stdout, stderr io.Writer) *cobra.Command {
	g := &globalOptions{}
	root := &cobra.Command{
		Use:           "mcp-gateway",
		Short:         "Many MCP servers behind one",
		Long:          "mcp-gateway connects to many MCP servers (stdio, streamable HTTP, SSE) and serves their merged tools, prompts and resources as one MCP server over stdio or streamable HTTP.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	pf := root.PersistentFlags()
	pf.StringVarP(&g.configPath, "config", "c", "", "config file (default: $MCP_GATEWAY_CONFIG, then ./mcp-gateway.json)")
	pf.StringVar(&g.logLevel, "log-level", "", "log level: debug, info, warn, error (default: the config's, else info)")
	pf.StringVar(&g.logFormat, "log-format", "", "log format: text or json (default: the config's, else text)")
	root.AddCommand(
		newServeCmd(g, stdin, stdout, stderr),
		newToolsCmd(g, stdout, stderr),
		newCallCmd(g, stdout, stderr),
		newLockCmd(g, stdout, stderr),
		newValidateCmd(g, stdout, stderr),
		newVersionCmd(stdout),
		newKeysCmd(stdin, stdout),
		newImportCmd(stdout, stderr),
		newInstallCmd(g, stdout),
		newStatusCmd(g, stdout),
		newLoginCmd(g, stdin, stdout, stderr),
		newLogoutCmd(g, stdout, stderr),
		newAuthCmd(g, stdout, stderr),
	)
	return root
}
