package main

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"strings"

	"github.com/mcp-gateway/mcp-gateway/config"
	"github.com/mcp-gateway/mcp-gateway/fault"
	"github.com/mcp-gateway/mcp-gateway/launch"
	"github.com/mcp-gateway/mcp-gateway/policy"
	"github.com/mcp-gateway/mcp-gateway/upauth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// perIdentityTransport returns the transports of a per-identity upstream.
// The connection made for no identity (the shared one, which reads the
// upstream's lists) is shared's, with the gateway's own credentials. A
// connection made for an identity (an isolated one, per downstream session;
// the aggregator puts the identity in ctx) carries only that identity's
// credentials: its identity_headers entry where the upstream has any (an
// identity without one is refused), else its own OAuth tokens. The
// configured Authorization header and every configured header that some
// identity's entry sets are the gateway's, and are never sent for an
// identity.
func perIdentityTransport(u *config.Upstream, maxMessage int, ua *upauth.Manager, shared func(context.Context) (mcp.Transport, error), logger *slog.Logger) func(context.Context) (mcp.Transport, error) {
	own := map[string]bool{"authorization": true}
	for _, h := range u.IdentityHeaders {
		for k := range h {
			own[strings.ToLower(k)] = true
		}
	}
	return func(ctx context.Context) (mcp.Transport, error) {
		id := policy.FromContext(ctx)
		if id == nil {
			return shared(ctx)
		}
		headers := map[string]string{}
		for k, v := range u.Headers {
			if !own[strings.ToLower(k)] {
				headers[k] = v
			}
		}
		mine, listed := u.IdentityHeaders[id.Name]
		maps.Copy(headers, mine)
		var wrap func(http.RoundTripper) http.RoundTripper
		switch {
		case len(u.IdentityHeaders) > 0 && !listed:
			// An API-key upstream: without a key of its own the identity
			// is refused, rather than sent without one.
			return nil, fault.Denied(id.Name, fmt.Sprintf("calling upstream %q without credentials of its own (mcpServers.%s.identity_headers has no entry for it)", u.Name, u.Name))
		case len(u.IdentityHeaders) == 0:
			// An OAuth upstream: the identity's own tokens, or a login error
			// naming the command that stores them.
			if ua == nil {
				return nil, fmt.Errorf("identity %s has no credentials for upstream %s: no state directory for OAuth tokens", id.Name, u.Name)
			}
			key, err := upauth.ParseTokenKey(os.Getenv(upauth.TokenKeyEnv))
			if err != nil {
				return nil, fmt.Errorf("identity %s has no credentials for upstream %s: per-identity OAuth tokens need %s: %w", id.Name, u.Name, upauth.TokenKeyEnv, err)
			}
			m, err := ua.ForIdentity(id.Name, key)
			if err != nil {
				return nil, err
			}
			up := authUpstream(u)
			up.Headers = headers
			wrap = func(base http.RoundTripper) http.RoundTripper { return m.Transport(up, base) }
		}
		logger.Debug("connecting for an identity", "identity", id.Name, "headers_of_its_own", listed, "oauth", wrap != nil)
		return launch.NewHTTPTransport(u.URL, launch.HTTPTransportOptions{
			SSE:             u.Transport == "sse",
			Headers:         headers,
			MaxMessageBytes: maxMessage,
			Wrap:            wrap,
		}), nil
	}
}

// identityManager is ua for the identity named by --identity, whose tokens
// are sealed with the key in MCP_GATEWAY_TOKEN_KEY; ua itself without one.
func identityManager(ua *upauth.Manager, identity string) (*upauth.Manager, error) {
	if identity == "" {
		return ua, nil
	}
	key, err := upauth.ParseTokenKey(os.Getenv(upauth.TokenKeyEnv))
	if err != nil {
		return nil, fmt.Errorf("--identity: per-identity tokens are stored encrypted: %w", err)
	}
	return ua.ForIdentity(identity, key)
}
