package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mcp-gateway/mcp-gateway/config"
	"github.com/mcp-gateway/mcp-gateway/upauth"
	"github.com/spf13/cobra"
)

// newUpstreamAuth returns the OAuth client of the upstreams, keeping its
// state in the per-user state directory; nil (with a warning) when there is
// none, and then upstreams are reached without stored tokens.
func newUpstreamAuth(logger *slog.Logger) *upauth.Manager {
	m, err := stateManager(logger)
	if err != nil {
		logger.Warn("no state directory: OAuth logins to upstreams are unavailable", "err", err)
		return nil
	}
	return m
}

// usesUpstreamAuth reports whether u's requests go through the OAuth client:
// every remote upstream, unless its config sets its own Authorization header
// (a static token), which is then sent as configured.
func usesUpstreamAuth(u *config.Upstream) bool {
	if u.URL == "" {
		return false
	}
	for k := range u.Headers {
		if strings.EqualFold(k, "Authorization") {
			return false
		}
	}
	return true
}

// authUpstream is u as the OAuth client sees it.
func authUpstream(u *config.Upstream) upauth.Upstream {
	up := upauth.Upstream{Name: u.Name, URL: u.URL, Headers: u.Headers}
	if o := u.OAuth; o != nil {
		up.ClientID, up.ClientSecret, up.ClientMetadataURL = o.ClientID, o.ClientSecret, o.ClientMetadataURL
		up.Scopes, up.RedirectPort, up.Keyring = o.Scopes, o.RedirectPort, o.Store == config.OAuthStoreKeyring
	}
	return up
}

// upstreamAuthWrap returns what wraps u's HTTP RoundTripper so that its
// requests carry u's stored OAuth token; nil when u does not use one.
func upstreamAuthWrap(ua *upauth.Manager, u *config.Upstream) func(http.RoundTripper) http.RoundTripper {
	if ua == nil || !usesUpstreamAuth(u) {
		return nil
	}
	up := authUpstream(u)
	return func(base http.RoundTripper) http.RoundTripper { return ua.Transport(up, base) }
}

// remoteUpstream finds the remote upstream name in the config.
func remoteUpstream(cfg *config.Config, name string) (*config.Upstream, error) {
	u, ok := cfg.MCPServers[name]
	if !ok {
		names := make([]string, 0, len(cfg.MCPServers))
		for n, u := range cfg.MCPServers {
			if u.URL != "" {
				names = append(names, n)
			}
		}
		slices.Sort(names)
		return nil, fmt.Errorf("no upstream %q in the config (remote upstreams: %s)", name, strings.Join(names, ", "))
	}
	if u.URL == "" {
		return nil, fmt.Errorf("upstream %q runs a command; OAuth logins are for remote upstreams (\"url\")", name)
	}
	if !usesUpstreamAuth(u) {
		return nil, fmt.Errorf("upstream %q sends its own Authorization header from the config; remove it to log in with OAuth", name)
	}
	return u, nil
}

// loginTarget loads the config and returns the remote upstream NAME and the
// token manager of identity ("" for the gateway's own tokens).
func loginTarget(g *globalOptions, stderr io.Writer, name, identity string) (*config.Upstream, *upauth.Manager, error) {
	cfg, logger, err := loadConfig(g, stderr, "warn")
	if err != nil {
		return nil, nil, err
	}
	u, err := remoteUpstream(cfg, name)
	if err != nil {
		return nil, nil, err
	}
	m, err := stateManager(logger)
	if err != nil {
		return nil, nil, err
	}
	if m, err = identityManager(m, identity); err != nil {
		return nil, nil, err
	}
	return u, m, nil
}

func stateManager(logger *slog.Logger) (*upauth.Manager, error) {
	dir, err := upauth.DefaultStateDir(os.Getenv)
	if err != nil {
		return nil, err
	}
	return upauth.New(dir, &upauth.Options{Logger: logger}), nil
}

func newLoginCmd(g *globalOptions, stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	var o struct {
		noBrowser bool
		scopes    []string
		timeout   time.Duration
		identity  string
	}
	cmd := &cobra.Command{
		Use:   "login NAME",
		Short: "Log in to a remote upstream that takes OAuth tokens (Notion, Linear, GitHub, ...) and store its tokens",
		Long: "login runs the MCP authorization flow against the upstream NAME: it discovers the upstream's " +
			"authorization server, registers the gateway as a client once (or uses the configured client), opens the " +
			"browser at the login page and waits for it to come back to a loopback address. Without a browser (over SSH) " +
			"it prints the URL; open it anywhere and paste the address the browser ends on. The tokens are stored in the " +
			"per-user state directory (or the OS keyring with \"oauth\": {\"store\": \"keyring\"}); running gateways pick them up.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, m, err := loginTarget(g, stderr, args[0], o.identity)
			if err != nil {
				return err
			}
			st, err := m.Login(cmd.Context(), authUpstream(u), &upauth.LoginOptions{
				Scopes: o.scopes, NoBrowser: o.noBrowser, In: stdin, Out: stderr, Timeout: o.timeout,
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "Logged in to %s (%s, scopes %q); tokens kept in the %s store.\n",
				st.Upstream, st.Issuer, strings.Join(st.Scopes, " "), st.Store)
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.noBrowser, "no-browser", false, "print the login URL instead of opening a browser, and read the redirect address pasted on stdin")
	f.StringSliceVar(&o.scopes, "scope", nil, "extra scope to request (repeatable)")
	f.DurationVar(&o.timeout, "timeout", upauth.DefaultLoginTimeout, "how long to wait for the login to be approved")
	f.StringVar(&o.identity, "identity", "", "log in for this identity of the gateway (\"api_key:alice\") to a per_identity upstream; the person approving is that identity's user. The tokens are stored encrypted with the key in "+upauth.TokenKeyEnv)
	return cmd
}

func newLogoutCmd(g *globalOptions, stdout, stderr io.Writer) *cobra.Command {
	var forget bool
	var identity string
	cmd := &cobra.Command{
		Use:   "logout NAME",
		Short: "Delete the stored OAuth tokens of an upstream",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, m, err := loginTarget(g, stderr, args[0], identity)
			if err != nil {
				return err
			}
			if err := m.Logout(cmd.Context(), authUpstream(u), forget); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "Logged out of %s.\n", u.Name)
			return nil
		},
	}
	cmd.Flags().BoolVar(&forget, "forget-client", false, "also delete the client registration, so the next login registers anew")
	cmd.Flags().StringVar(&identity, "identity", "", "delete the tokens of this identity of the gateway instead of its own")
	return cmd
}

func newAuthCmd(g *globalOptions, stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "auth", Short: "OAuth logins to remote upstreams", Args: cobra.NoArgs}
	var asJSON bool
	var identity string
	status := &cobra.Command{
		Use:   "status",
		Short: "Show each remote upstream's login state, without secrets",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, logger, err := loadConfig(g, stderr, "warn")
			if err != nil {
				return err
			}
			m, err := stateManager(logger)
			if err != nil {
				return err
			}
			if m, err = identityManager(m, identity); err != nil {
				return err
			}
			var out []*upauth.Status
			names := make([]string, 0, len(cfg.MCPServers))
			for n := range cfg.MCPServers {
				names = append(names, n)
			}
			slices.Sort(names)
			for _, n := range names {
				u := cfg.MCPServers[n]
				switch {
				case u.URL == "":
					continue
				case !usesUpstreamAuth(u):
					out = append(out, &upauth.Status{Upstream: n, URL: u.URL, State: "static_header", Store: "config"})
					continue
				}
				st, err := m.Status(cmd.Context(), authUpstream(u))
				if err != nil {
					return fmt.Errorf("%s: %w", n, err)
				}
				out = append(out, st)
			}
			if asJSON {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				if out == nil {
					out = []*upauth.Status{}
				}
				return enc.Encode(out)
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "UPSTREAM\tSTATE\tSTORE\tEXPIRES\tSCOPES\tNOTE")
			for _, st := range out {
				exp := "-"
				if !st.ExpiresAt.IsZero() {
					exp = st.ExpiresAt.Local().Format(time.DateTime)
					if st.Refreshable {
						exp += " (refreshable)"
					}
				}
				note := st.Reason
				if st.Command != "" {
					note += ": run `" + st.Command + "`"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", st.Upstream, st.State, st.Store, exp, strings.Join(st.Scopes, " "), note)
			}
			return tw.Flush()
		},
	}
	status.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	status.Flags().StringVar(&identity, "identity", "", "show the logins of this identity of the gateway instead of its own")
	cmd.AddCommand(status)
	return cmd
}
