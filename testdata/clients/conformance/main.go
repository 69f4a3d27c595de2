// Command conformance is the client command that the MCP conformance suite
// (@modelcontextprotocol/conformance, `client --suite auth`) runs against
// the gateway's OAuth client. The suite starts a scenario's MCP server and
// authorization server, then runs this program with the server's URL as its
// last argument; MCP_CONFORMANCE_SCENARIO names the scenario and
// MCP_CONFORMANCE_CONTEXT may carry a pre-registered client.
//
// It does what a user does, through the gateway binary named by
// MCP_GATEWAY_BIN: writes a config with the server as upstream "conf", runs
// `mcp-gateway login conf --no-browser`, approves the printed authorization
// URL the way a browser does (the suite's authorization endpoint redirects at
// once; the redirect reaches the login's loopback listener), then starts
// `mcp-gateway serve` over stdio, lists the tools and calls each one. A call
// refused for want of a login or of scope (step-up) runs the login again, at
// most twice, and retries it — the gateway keeps running and picks the new
// tokens up.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "conformance client:", err)
		os.Exit(1)
	}
}

// maxLogins bounds the logins of one run: the first, and step-ups.
const maxLogins = 3

func run() error {
	if len(os.Args) < 2 {
		return errors.New("usage: conformance SERVER_URL")
	}
	serverURL := os.Args[len(os.Args)-1]
	gateway := os.Getenv("MCP_GATEWAY_BIN")
	if gateway == "" {
		return errors.New("MCP_GATEWAY_BIN is not set")
	}
	dir, err := os.MkdirTemp("", "conformance-client-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	os.Setenv("MCP_GATEWAY_STATE_DIR", filepath.Join(dir, "state"))

	up := map[string]any{"url": serverURL}
	if raw := os.Getenv("MCP_CONFORMANCE_CONTEXT"); raw != "" {
		var c struct {
			ClientID     string `json:"client_id"`
			ClientSecret string `json:"client_secret"`
		}
		if err := json.Unmarshal([]byte(raw), &c); err != nil {
			return fmt.Errorf("MCP_CONFORMANCE_CONTEXT: %w", err)
		}
		if c.ClientID != "" {
			o := map[string]any{"client_id": c.ClientID}
			if c.ClientSecret != "" {
				o["client_secret"] = c.ClientSecret
			}
			up["oauth"] = o
		}
	}
	if os.Getenv("MCP_CONFORMANCE_SCENARIO") == "auth/basic-cimd" {
		// The scenario's client ID metadata document: the URL a user would
		// configure as oauth.client_metadata_url for a published client.
		up["oauth"] = map[string]any{"client_metadata_url": "https://conformance-test.local/client-metadata.json"}
	}
	cfg := filepath.Join(dir, "mcp-gateway.json")
	data, _ := json.Marshal(map[string]any{"mcpServers": map[string]any{"conf": up}})
	if err := os.WriteFile(cfg, data, 0o600); err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	// The gateway runs first, as it would in a desktop client: its upstream
	// asks for a token, the gateway records the challenge (with the scope it
	// names) and shows the upstream as needing a login, which the login then
	// starts from.
	cmd := exec.Command(gateway, "serve", "--config", cfg, "--log-level", "debug")
	cmd.Stderr = os.Stderr
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "conformance-client", Version: "test"}, nil).
		Connect(ctx, &mcp.CommandTransport{Command: cmd}, nil)
	if err != nil {
		return fmt.Errorf("connecting to the gateway: %w", err)
	}
	defer cs.Close()
	names, err := toolNames(ctx, cs)
	if err != nil {
		return err
	}
	// Log in while the gateway shows no tools of the server (it needs a
	// login, or more scope than the last one got), as a user would when
	// `mcp-gateway auth status` says so; the running gateway reconnects
	// with backoff and picks the stored token up.
	logins := 0
	for len(names) == 0 {
		if logins >= maxLogins {
			return fmt.Errorf("the gateway lists no tools of the server after %d logins", logins)
		}
		if err := login(ctx, gateway, cfg); err != nil {
			return err
		}
		logins++
		wait := time.After(5 * time.Second)
	poll:
		for len(names) == 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-wait:
				break poll
			case <-time.After(200 * time.Millisecond):
			}
			if names, err = toolNames(ctx, cs); err != nil {
				return err
			}
		}
	}
	for _, name := range names {
		for {
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: map[string]any{}})
			if err == nil {
				fmt.Printf("%s: ok (isError=%v)\n", name, res.IsError)
				break
			}
			if !strings.Contains(err.Error(), "needs a login") || logins >= maxLogins {
				return fmt.Errorf("calling %s: %w", name, err)
			}
			fmt.Fprintf(os.Stderr, "conformance client: %s needs a login (%v); logging in again\n", name, err)
			if err := login(ctx, gateway, cfg); err != nil {
				return err
			}
			logins++
		}
	}
	return nil
}

// login runs `mcp-gateway login conf --no-browser` and approves the URL it
// prints as a browser on this machine would: it follows the authorization
// endpoint's redirect to the login's loopback listener.
func toolNames(ctx context.Context, cs *mcp.ClientSession) ([]string, error) {
	var names []string
	for t, err := range cs.Tools(ctx, nil) {
		if err != nil {
			return nil, fmt.Errorf("tools/list: %w", err)
		}
		names = append(names, t.Name)
	}
	return names, nil
}

func login(ctx context.Context, gateway, cfg string) error {
	cmd := exec.CommandContext(ctx, gateway, "login", "conf", "--no-browser", "--timeout", "20s", "--config", cfg)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	cmd.Stdout = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(os.Stderr, line)
			if f := strings.TrimSpace(line); !sent && strings.HasPrefix(f, "http") && strings.Contains(f, "code_challenge=") {
				found <- f
				sent = true
			}
		}
		close(found)
	}()
	authURL, ok := <-found
	if !ok {
		cmd.Wait()
		return errors.New("login printed no authorization URL")
	}
	resp, err := (&http.Client{Timeout: 15 * time.Second}).Get(authURL)
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return fmt.Errorf("following the authorization URL: %w", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("mcp-gateway login: %w", err)
	}
	return nil
}
