package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"

	"github.com/mcp-gateway/mcp-gateway/aggregator"
	"github.com/mcp-gateway/mcp-gateway/govern"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/cobra"
)

func newToolsCmd(g *globalOptions, stdout, stderr io.Writer) *cobra.Command {
	var asJSON, audit bool
	cmd := &cobra.Command{
		Use:   "tools [--audit]",
		Short: "Connect to every upstream and print the merged tool list",
		Long: `Connect to every upstream and print the merged tool list. With --audit, print
instead what the audit flags in each tool and prompt as exposed: hidden Unicode
(tag characters, bidi controls, zero-width), instructions aimed at the model,
other upstreams' tool names, descriptions over 2000 characters, and input fields
that ask for secrets. The exit status is 3 when anything is flagged.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if audit {
				return auditTools(cmd.Context(), g, asJSON, stdout, stderr)
			}
			return withGateway(cmd.Context(), g, stderr, func(ctx context.Context, agg *aggregator.Aggregator, _ *mcp.ClientSession) error {
				tools := agg.Tools()
				if asJSON {
					enc := json.NewEncoder(stdout)
					enc.SetIndent("", "  ")
					return enc.Encode(tools)
				}
				tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tUPSTREAM\tDESCRIPTION")
				for _, t := range tools {
					desc := t.Title
					if desc == "" {
						desc = t.Description
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\n", t.Name, t.Upstream, oneLine(desc, 80))
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	cmd.Flags().BoolVar(&audit, "audit", false, "flag suspicious tool and prompt definitions (exit status 3 if any)")
	return cmd
}

// auditTools is "tools --audit": every definition the upstreams serve, as
// exposed, quarantined or not.
func auditTools(ctx context.Context, g *globalOptions, asJSON bool, stdout, stderr io.Writer) error {
	return withGatewayGate(ctx, g, stderr, false, func(_ context.Context, _ *aggregator.Aggregator, gate *govern.Gate, _ *mcp.ClientSession) error {
		flagged := gate.AuditAll()
		if asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			if flagged == nil {
				flagged = []govern.Flagged{}
			}
			if err := enc.Encode(flagged); err != nil {
				return err
			}
		} else {
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tKIND\tRULE\tWHERE\tDETAIL")
			for _, f := range flagged {
				for _, x := range f.Findings {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.Name, f.Kind, x.Rule, x.Where, x.Detail)
				}
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		if len(flagged) > 0 {
			fmt.Fprintf(stderr, "%d definitions flagged\n", len(flagged))
			return &exitError{code: 3}
		}
		return nil
	})
}

func newCallCmd(g *globalOptions, stdout, stderr io.Writer) *cobra.Command {
	var args string
	cmd := &cobra.Command{
		Use:   "call TOOL [--args JSON]",
		Short: "Call one tool through the gateway's routing and print the result as JSON",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, pos []string) error {
			var arguments map[string]any
			if err := json.Unmarshal([]byte(args), &arguments); err != nil {
				return fmt.Errorf("--args: want a JSON object: %w", err)
			}
			return withGateway(cmd.Context(), g, stderr, func(ctx context.Context, _ *aggregator.Aggregator, cs *mcp.ClientSession) error {
				res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: pos[0], Arguments: arguments})
				if err != nil {
					return err
				}
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(res); err != nil {
					return err
				}
				if res.IsError {
					return &exitError{code: 2}
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&args, "args", "{}", "tool arguments as a JSON object")
	return cmd
}

// withGateway starts the gateway in-process, waits until every upstream made
// its first connection attempt, connects a client to the merged catalog over
// an in-memory transport (the same path any client takes) and runs f. It
// fails if a required upstream failed and warns about the others.
func withGateway(ctx context.Context, g *globalOptions, stderr io.Writer, f func(context.Context, *aggregator.Aggregator, *mcp.ClientSession) error) error {
	return withGatewayGate(ctx, g, stderr, true, func(ctx context.Context, agg *aggregator.Aggregator, _ *govern.Gate, cs *mcp.ClientSession) error {
		return f(ctx, agg, cs)
	})
}

// withGatewayGate is withGateway that also hands f the gate governing the
// catalog; checkPins false leaves the lockfile out (for "lock" itself).
func withGatewayGate(ctx context.Context, g *globalOptions, stderr io.Writer, checkPins bool, f func(context.Context, *aggregator.Aggregator, *govern.Gate, *mcp.ClientSession) error) error {
	cfg, logger, err := loadConfig(g, stderr, "warn")
	if err != nil {
		return err
	}
	authn, err := newAuthenticator(cfg, logger)
	if err != nil {
		return err
	}
	report := startupFor(stderr, g, cfg, nil)
	opts := aggregatorOptions(logger, authn, report.observer(nil))
	// No client here can answer an upstream's sampling, elicitation or
	// roots requests, so upstreams are not told the gateway could.
	opts.ClientCapabilities = &mcp.ClientCapabilities{}
	gate := govern.NewGate(govRules(cfg, lockPath(g.loadedPath), checkPins), logger)
	opts.Governor = gateGovernor{gate}
	agg, err := aggregator.New(upstreamSpecs(cfg, logger), opts)
	if err != nil {
		return err
	}
	report.begin(statusOf(agg))
	ctx, cancel := context.WithCancel(ctx)
	runErr := make(chan error, 1)
	go func() { runErr <- agg.Run(ctx) }()
	defer func() {
		cancel()
		<-runErr
	}()
	select {
	case err := <-runErr:
		runErr <- err // for the deferred wait
		if err == nil {
			err = ctx.Err()
		}
		return err
	case <-agg.Started():
	}
	for _, st := range agg.Status() {
		if st.State != aggregator.StateUp && !report.active() { // the report said so
			logger.Warn("upstream not connected; its tools are missing", "upstream", st.Name, "state", st.State, "err", st.LastError)
		}
	}
	st, ct := mcp.NewInMemoryTransports()
	ss, err := agg.Server().Connect(ctx, st, nil)
	if err != nil {
		return err
	}
	defer ss.Close()
	client := mcp.NewClient(&mcp.Implementation{Name: "mcp-gateway-cli", Version: version}, &mcp.ClientOptions{Logger: slog.New(slog.DiscardHandler)})
	cs, err := client.Connect(ctx, ct, nil)
	if err != nil {
		return err
	}
	defer cs.Close()
	return f(ctx, agg, gate, cs)
}

func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		return s[:max-1] + "…"
	}
	return s
}
