package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/mcp-gateway/mcp-gateway/aggregator"
	"github.com/mcp-gateway/mcp-gateway/govern"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/cobra"
)

func newLockCmd(g *globalOptions, stdout, stderr io.Writer) *cobra.Command {
	var approve []string
	var all bool
	cmd := &cobra.Command{
		Use:   "lock [--approve NAME]... [--all]",
		Short: "Pin the upstreams' tool, prompt and resource template definitions in mcp-gateway.lock",
		Long: `Connect to every upstream and write mcp-gateway.lock next to the config: one
line per tool, prompt and resource template with the SHA-256 of its full
definition. The first run pins everything; so does the first run after an
upstream is added. After that, a definition that changed or is new is only
pinned when approved with --approve (its exposed name, or UPSTREAM/NAME; globs
allowed; repeatable) or --all. While the lockfile exists, "serve" quarantines
every definition that differs from its pin.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return lock(cmd.Context(), g, approve, all, stdout, stderr)
		},
	}
	cmd.Flags().StringArrayVar(&approve, "approve", nil, "approve the changed or new definition `NAME` (exposed name or UPSTREAM/NAME; globs)")
	cmd.Flags().BoolVar(&all, "all", false, "approve everything the upstreams serve now")
	return cmd
}

func lock(ctx context.Context, g *globalOptions, patterns []string, all bool, stdout, stderr io.Writer) error {
	approvals, err := govern.NewApprovals(patterns)
	if err != nil {
		return err
	}
	return withGatewayGate(ctx, g, stderr, false, func(_ context.Context, agg *aggregator.Aggregator, gate *govern.Gate, _ *mcp.ClientSession) error {
		path := lockPath(g.loadedPath)
		old, err := readLock(path)
		if err != nil && !all {
			return fmt.Errorf("%w\nfix the lockfile, or rewrite it from what the upstreams serve now with mcp-gateway lock --all", err)
		}
		var up []string
		for _, st := range agg.Status() {
			if st.State == aggregator.StateUp {
				up = append(up, st.Name)
			} else {
				fmt.Fprintf(stderr, "upstream %q is not connected (%s): its pins are kept as they are\n", st.Name, st.LastError)
			}
		}
		next, changes := govern.Update(old, gate.Served(up), govern.UpdateOptions{
			All:     all,
			Approve: func(k govern.Key) bool { return approvals.Match(gate.Exposed(k), k) },
		})
		if unused := approvals.Unused(); len(unused) > 0 {
			return fmt.Errorf("--approve %s: matches no definition the upstreams serve; nothing written", strings.Join(unused, ", "))
		}
		if err := govern.WriteLock(path, next); err != nil {
			return err
		}
		printChanges(stdout, gate, changes)
		fmt.Fprintf(stdout, "wrote %s (%d pins)\n", path, len(next.Keys()))
		return nil
	})
}

// printChanges writes what Update did, one line per definition.
func printChanges(w io.Writer, gate *govern.Gate, changes []govern.Change) {
	if len(changes) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	pending := 0
	for _, c := range changes {
		note := ""
		switch {
		case c.Action == govern.ActionPending && c.New:
			note = "new: still quarantined"
			pending++
		case c.Action == govern.ActionPending:
			note = "changed (" + strings.Join(c.Changed, ", ") + "): still quarantined"
			pending++
		case c.Action == govern.ActionRepinned:
			note = "changed: " + strings.Join(c.Changed, ", ")
		case c.Action == govern.ActionInvalid:
			note = c.Err.Error()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Action, c.Kind, gate.Exposed(c.Key), note)
	}
	tw.Flush()
	if pending > 0 {
		fmt.Fprintf(w, "%d definitions are not approved: review them, then run mcp-gateway lock --approve NAME (or --all)\n", pending)
	}
}
