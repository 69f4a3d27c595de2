package main

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/mcp-gateway/mcp-gateway/auth"
	"github.com/spf13/cobra"
)

func newKeysCmd(stdin io.Reader, stdout io.Writer) *cobra.Command {
	keys := &cobra.Command{
		Use:   "keys",
		Short: "Make API keys and their digests",
	}
	keys.AddCommand(&cobra.Command{
		Use:   "new",
		Short: "Print a fresh API key and the sha256 digest to put in gateway.auth.api_keys",
		Long: `Print a fresh API key (give it to the client; it is shown once) and its digest
(put it in the config as "key": "sha256:..."; the gateway stores only digests).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			key, digest, err := auth.NewKey()
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "key:    %s\ndigest: %s\n", key, digest)
			return nil
		},
	}, &cobra.Command{
		Use:   "hash",
		Short: "Read a key from stdin and print its sha256 digest",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			line, err := bufio.NewReader(stdin).ReadString('\n')
			if err != nil && err != io.EOF {
				return err
			}
			key := strings.TrimSpace(line)
			if key == "" {
				return fmt.Errorf("no key on stdin")
			}
			fmt.Fprintln(stdout, auth.HashKey(key))
			return nil
		},
	})
	return keys
}
