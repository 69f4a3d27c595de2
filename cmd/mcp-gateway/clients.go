package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mcp-gateway/mcp-gateway/clientconfig"
	"github.com/mcp-gateway/mcp-gateway/config"
	"github.com/spf13/cobra"
)

func newImportCmd(stdout, stderr io.Writer) *cobra.Command {
	var from, write string
	cmd := &cobra.Command{
		Use:   "import [--from claude|cursor|vscode|windsurf|FILE] [--write FILE]",
		Short: "Bring the MCP servers configured in Claude Desktop, Cursor, VS Code or Windsurf into a gateway config",
		Long: `Read the servers configured in each client's config file (or only the one --from
names, or a file of any of their shapes) and merge them into a gateway config:
printed to stdout, or with --write FILE added to FILE (created if missing; an
existing FILE is backed up first and keeps everything else it has).

A server the config already has is not added twice; a name (or tool prefix)
that is taken gets "-<client>" appended. ${env:NAME} becomes ${NAME}; a VS Code
${input:id} becomes ${MCP_INPUT_ID}, read from the environment.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			env, err := clientconfig.DefaultEnv()
			if err != nil {
				return err
			}
			return runImport(env, from, write, stdout, stderr, time.Now())
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "claude, cursor, vscode, windsurf, or a file (default: every client found)")
	cmd.Flags().StringVar(&write, "write", "", "add the servers to this gateway config file instead of printing a new one")
	return cmd
}

func runImport(env clientconfig.Env, from, write string, stdout, stderr io.Writer, now time.Time) error {
	var locs []clientconfig.Location
	explicit := from != ""
	switch c, err := clientconfig.ParseClient(from); {
	case from == "":
		for _, c := range clientconfig.Clients {
			locs = append(locs, clientconfig.Locations(c, env)...)
		}
	case err == nil:
		locs = clientconfig.Locations(c, env)
	default:
		if _, serr := os.Stat(from); serr != nil {
			return fmt.Errorf("--from %q: not a client (claude, cursor, vscode, windsurf) nor a readable file: %w", from, serr)
		}
		locs = []clientconfig.Location{{Path: from, What: filepath.Base(from)}}
	}
	report := stderr // stdout carries the config
	if write != "" {
		report = stdout
	}
	var sources []*clientconfig.Source
	var missing []string
	seen := map[string]bool{}
	for _, loc := range locs {
		if seen[loc.Path] { // the workspace is the home directory
			continue
		}
		seen[loc.Path] = true
		data, err := os.ReadFile(loc.Path)
		if errors.Is(err, fs.ErrNotExist) {
			missing = append(missing, loc.Path)
			continue
		}
		if err != nil {
			return err
		}
		src, err := clientconfig.Parse(loc, data, env)
		if err != nil {
			return fmt.Errorf("%s: %w (nothing written)", loc.Path, err)
		}
		fmt.Fprintf(report, "read %s: %s (%s)\n", sourceName(loc), loc.Path, plural(len(src.Servers), "server"))
		sources = append(sources, src)
	}
	if len(sources) == 0 {
		what := "no client config found"
		if explicit {
			what = "no config of " + from + " found"
		}
		return fmt.Errorf("%s; looked for:\n  %s", what, strings.Join(missing, "\n  "))
	}
	var target []byte
	if write != "" {
		b, err := os.ReadFile(write)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		target = b
	}
	res, err := clientconfig.Merge(target, sources)
	if err != nil {
		return err
	}
	printActions(report, res)
	if write == "" {
		_, err := stdout.Write(res.Config)
		return err
	}
	if !res.Changed {
		fmt.Fprintf(report, "nothing new: %s already has every server\n", write)
		return nil
	}
	backup, err := clientconfig.WriteFile(write, res.Config, now)
	if err != nil {
		return err
	}
	if backup != "" {
		fmt.Fprintf(report, "wrote %s (the previous version is in %s)\n", write, backup)
	} else {
		fmt.Fprintf(report, "wrote %s\n", write)
	}
	fmt.Fprintf(report, "check it with: mcp-gateway validate --config %s\n", write)
	return nil
}

func sourceName(loc clientconfig.Location) string {
	if loc.Client == "" {
		return loc.What
	}
	return loc.Client.Title() + " " + loc.What
}

// printActions reports what import did with each server, the keys it left
// out, and the environment variables that now stand for VS Code inputs.
func printActions(w io.Writer, res *clientconfig.Result) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, a := range res.Actions {
		from := sourceName(a.Server.From)
		switch a.Kind {
		case clientconfig.Added:
			fmt.Fprintf(tw, "  added\t%s\tfrom %s\n", a.Name, from)
		case clientconfig.Renamed:
			fmt.Fprintf(tw, "  added\t%s\tfrom %s %q, renamed: %s\n", a.Name, from, a.Server.Name, a.Reason)
		case clientconfig.Duplicate:
			fmt.Fprintf(tw, "  same\t%s\tfrom %s %q: %s, not added again\n", a.Name, from, a.Server.Name, a.Reason)
		case clientconfig.Skipped:
			fmt.Fprintf(tw, "  skipped\t%s\tfrom %s: %s\n", a.Server.Name, from, a.Reason)
		}
		if a.Kind == clientconfig.Added || a.Kind == clientconfig.Renamed {
			if a.Server.Disabled != "" {
				fmt.Fprintf(tw, "  \t\timported disabled: %s; edit it, then remove \"disabled\"\n", a.Server.Disabled)
			}
			if len(a.Server.Dropped) > 0 {
				fmt.Fprintf(tw, "  \t\tleft out %s (not gateway settings)\n", strings.Join(a.Server.Dropped, ", "))
			}
		}
	}
	tw.Flush()
	if len(res.Inputs) > 0 {
		fmt.Fprintln(w, "set these environment variables for the gateway (VS Code asked for them as inputs):")
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, in := range res.Inputs {
			desc := in.Description
			if desc == "" {
				desc = "no description"
			}
			fmt.Fprintf(tw, "  %s\t%s (input %q)\n", in.Env, desc, in.ID)
		}
		tw.Flush()
	}
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func newInstallCmd(g *globalOptions, stdout io.Writer) *cobra.Command {
	var client, name string
	cmd := &cobra.Command{
		Use:   "install --client claude|cursor|vscode|windsurf [--config FILE]",
		Short: "Add the gateway to a client's MCP config as one stdio server",
		Long: `Add the gateway to the client's user config file as one stdio server that runs
this binary with "serve --config FILE" (absolute paths). The file is backed up
first; its other servers and settings are kept as they are. Running it again
changes nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := clientconfig.ParseClient(client)
			if err != nil {
				return fmt.Errorf("--client: %w", err)
			}
			env, err := clientconfig.DefaultEnv()
			if err != nil {
				return err
			}
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("finding this binary: %w", err)
			}
			return runInstall(g, c, name, exe, env, stdout, time.Now())
		},
	}
	cmd.Flags().StringVar(&client, "client", "", "claude, cursor, vscode or windsurf")
	cmd.Flags().StringVar(&name, "name", clientconfig.DefaultEntryName, "the entry's name in the client's config")
	_ = cmd.MarkFlagRequired("client") // the flag exists
	return cmd
}

func runInstall(g *globalOptions, c clientconfig.Client, name, exe string, env clientconfig.Env, stdout io.Writer, now time.Time) error {
	path, err := config.Find(g.configPath)
	if err != nil {
		return fmt.Errorf("the gateway config: %w", err)
	}
	if path, err = filepath.Abs(path); err != nil {
		return err
	}
	if exe, err = filepath.Abs(exe); err != nil {
		return err
	}
	if _, err := config.Load(path); err != nil {
		fmt.Fprintf(stdout, "warning: the gateway config has problems; the client will fail to start the gateway until they are fixed:\n%v\n", err)
	}
	loc := clientconfig.Locations(c, env)[0]
	e := clientconfig.Entry{Name: name, Command: exe, Args: []string{"serve", "--config", path}}
	res, err := clientconfig.Install(c, loc.Path, e, now)
	if err != nil {
		return err
	}
	if !res.Changed {
		fmt.Fprintf(stdout, "%s already runs the gateway as %q: nothing changed (%s)\n", c.Title(), e.Name, res.Path)
		return nil
	}
	verb := "added"
	if res.Replaced {
		verb = "updated"
	}
	fmt.Fprintf(stdout, "%s %q in %s's config: %s\n", verb, e.Name, c.Title(), res.Path)
	fmt.Fprintf(stdout, "  command: %s\n  args:    %s\n", e.Command, strings.Join(e.Args, " "))
	if res.Backup != "" {
		fmt.Fprintf(stdout, "  backup:  %s\n", res.Backup)
	}
	fmt.Fprintf(stdout, "restart %s to load it.\n", c.Title())
	if len(res.Others) > 0 {
		fmt.Fprintf(stdout, "the file still lists %s (%s): `mcp-gateway import --from %s --write %s` brings them into the gateway; then remove them from %s, or their tools appear twice.\n",
			plural(len(res.Others), "other server"), strings.Join(res.Others, ", "), c, path, c.Title())
	}
	return nil
}
