package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/mcp-gateway/mcp-gateway/aggregator"
	"github.com/spf13/cobra"
)

// Set with -ldflags "-X main.version=... -X main.commit=...".
var (
	version = "dev"
	commit  = ""
)

func newVersionCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print version, commit, go-sdk version and supported MCP protocol versions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sdk, rev := "unknown", commit
			if bi, ok := debug.ReadBuildInfo(); ok {
				for _, d := range bi.Deps {
					if d.Path == "github.com/modelcontextprotocol/go-sdk" {
						sdk = d.Version
					}
				}
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" && rev == "" {
						rev = s.Value
					}
				}
			}
			if rev == "" {
				rev = "unknown"
			}
			fmt.Fprintf(stdout, "mcp-gateway %s\ncommit: %s\ngo-sdk: %s\ngo: %s\nprotocol versions: %s\n",
				version, rev, sdk, runtime.Version(), strings.Join(aggregator.DownstreamProtocolVersions, ", "))
			return nil
		},
	}
}
