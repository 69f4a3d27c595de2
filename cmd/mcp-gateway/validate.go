package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/mcp-gateway/mcp-gateway/config"
	"github.com/spf13/cobra"
)

func newValidateCmd(g *globalOptions, stdout, stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "validate",
		Short: "Check the config file and print every problem with its JSON path",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := config.Find(g.configPath)
			if err != nil {
				return err
			}
			cfg, err := config.Load(path)
			if err != nil {
				for _, e := range flatten(err) {
					fmt.Fprintln(stderr, e)
				}
				return &exitError{code: 1}
			}
			fmt.Fprintf(stdout, "%s: valid (%d upstreams, %d enabled)\n", path, len(cfg.MCPServers), len(cfg.Enabled()))
			return nil
		},
	}
}

// flatten returns the leaves of a tree of joined errors.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	var fe *config.FieldError
	if errors.As(err, &fe) {
		return []error{fe}
	}
	return []error{err}
}
