package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mcp-gateway/mcp-gateway/config"
	"github.com/mcp-gateway/mcp-gateway/transport"
	"github.com/spf13/cobra"
)

// envAPIKey names the environment variable status reads an API key from.
const envAPIKey = "MCP_GATEWAY_API_KEY"

func newStatusCmd(g *globalOptions, stdout io.Writer) *cobra.Command {
	var addr, key string
	cmd := &cobra.Command{
		Use:   "status [--addr ADDR]",
		Short: "Print a running gateway's upstreams and sessions as tables",
		Long: `Ask a gateway serving HTTP for its upstreams (GET /upstreams) and open
sessions (GET /agents/sessions) and print them as tables.

--addr is host:port or a URL; without it, the config's gateway.listen (the
config found as for every command), else ` + config.DefaultListen + `. A
gateway with authentication needs a key: --api-key, or $` + envAPIKey + `
(an admin key sees every session, another key its own).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if key == "" {
				key = os.Getenv(envAPIKey)
			}
			base, err := statusBase(g, addr)
			if err != nil {
				return err
			}
			return printStatus(cmd.Context(), base, key, stdout, time.Now())
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "", "the gateway's HTTP address, host:port or URL (default: the config's gateway.listen)")
	cmd.Flags().StringVar(&key, "api-key", "", "API key to send (default: $"+envAPIKey+")")
	return cmd
}

// statusBase is the base URL of the gateway to ask.
func statusBase(g *globalOptions, addr string) (string, error) {
	if addr == "" {
		addr = config.DefaultListen
		if path, err := config.Find(g.configPath); err == nil {
			cfg, err := config.Load(path)
			if err != nil {
				return "", err
			}
			addr = cfg.Gateway.Listen
		} else if g.configPath != "" {
			return "", err
		}
	}
	if strings.Contains(addr, "://") {
		return strings.TrimRight(addr, "/"), nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("--addr %q: want host:port or a URL: %w", addr, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" { // listening everywhere: ask here
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

func printStatus(ctx context.Context, base, key string, w io.Writer, now time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var ups []govStatus
	if err := getJSON(ctx, base+"/upstreams", key, &ups); err != nil {
		return err
	}
	var sess []transport.SessionInfo
	if err := getJSON(ctx, base+"/agents/sessions", key, &sess); err != nil {
		return err
	}
	ago := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		d := now.Sub(t)
		switch {
		case d < time.Second:
			return "just now"
		case d < time.Minute:
			return strconv.Itoa(int(d.Seconds())) + "s ago"
		case d < time.Hour:
			return strconv.Itoa(int(d.Minutes())) + "m ago"
		case d < 48*time.Hour:
			return strconv.Itoa(int(d.Hours())) + "h ago"
		}
		return t.Local().Format(time.DateOnly)
	}
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	fmt.Fprintf(w, "%s: %s\n\n", base, plural(len(ups), "upstream"))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "UPSTREAM\tTRANSPORT\tSTATE\tSINCE\tTOOLS\tPROMPTS\tRESOURCES\tBREAKER\tRESTARTS\tQUARANTINED\tLAST ERROR")
	for _, u := range ups {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%d\t%d\t%s\n", u.Name, u.Transport, u.State, ago(u.Since),
			u.Tools, u.Prompts, u.Resources+u.Templates, u.Breaker, u.Restarts, len(u.Quarantined), dash(oneLine(u.LastError, 100)))
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%s\n", plural(len(sess), "session"))
	if len(sess) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SESSION\tENDPOINT\tIDENTITY\tAGENT\tPROTOCOL\tCREATED\tLAST SEEN")
	for _, s := range sess {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.Endpoint, s.Identity, dash(s.Agent), dash(s.Protocol), ago(s.Created), ago(s.LastSeen))
	}
	return tw.Flush()
}

func getJSON(ctx context.Context, url, key string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if key != "" {
		req.Header.Set("X-Api-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) {
			return fmt.Errorf("no gateway answers at %s (is serve --http running there? --addr says where): %w", url, op.Err)
		}
		return err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized:
		if key == "" {
			return fmt.Errorf("%s needs an API key: pass --api-key or set $%s", url, envAPIKey)
		}
		return fmt.Errorf("%s refused the API key (401)", url)
	default:
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s: %s: %s", url, resp.Status, oneLine(string(body), 200))
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(v); err != nil {
		return fmt.Errorf("%s: not the answer of an mcp-gateway: %w", url, err)
	}
	return nil
}
