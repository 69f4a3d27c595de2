package upauth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// redirectURI is the loopback redirect URI on port. It names the IP, not
// "localhost" (RFC 8252 §7.3): a name could resolve elsewhere.
func redirectURI(port int) string {
	return "http://127.0.0.1:" + strconv.Itoa(port) + "/callback"
}

// freePort picks a free loopback port for a new registration.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// registration returns the client to log in to up with at the server of d:
// the stored one when it still fits the config, else a new one, stored before
// it is used. The order of methods is the SDK's: a client ID metadata
// document when configured and the server supports them, a configured client
// id, then dynamic registration (RFC 7591) when the server offers it.
//
// web, when set, is the redirect URI of the gateway's web login flow (its
// /oauth/callback): that flow has a registration of its own, with that URI,
// kept apart from the loopback one of `mcp-gateway login`.
func (m *Manager) registration(ctx context.Context, hc *http.Client, up Upstream, d *discovery, web string) (*clientRecord, error) {
	method := ""
	switch {
	case up.ClientMetadataURL != "" && d.ASM.ClientIDMetadataDocumentSupported:
		method = regMetadataDocument
	case up.ClientID != "":
		method = regConfigured
	case d.ASM.RegistrationEndpoint != "":
		method = regDynamic
	case up.ClientMetadataURL != "":
		return nil, fmt.Errorf("the authorization server of %s supports neither client ID metadata documents nor dynamic registration: configure oauth.client_id", up.Name)
	default:
		return nil, fmt.Errorf("the authorization server of %s does not offer dynamic client registration: register a client with it and configure oauth.client_id", up.Name)
	}
	key := clientKey(up, d.Issuer, web != "")
	stored, err := loadJSON[clientRecord](ctx, m.baseStore(up), key)
	if notFound(err) {
		stored, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	if stored != nil && stored.Method == method && stored.RedirectURI == web && fits(stored, up, m.now) {
		return stored, nil
	}
	if web != "" {
		return m.register(ctx, hc, up, d, method, key, 0, web)
	}
	// Keep the port of an earlier registration, so a redirect URI the user
	// allowed somewhere stays the same.
	port := up.RedirectPort
	if port == 0 && stored != nil {
		port = stored.RedirectPort
	}
	if port == 0 {
		if port, err = freePort(); err != nil {
			return nil, err
		}
	}
	return m.register(ctx, hc, up, d, method, key, port, "")
}

// register makes and stores a registration by method, with the loopback
// redirect on port, or with the web redirect URI web.
func (m *Manager) register(ctx context.Context, hc *http.Client, up Upstream, d *discovery, method string, key Key, port int, web string) (*clientRecord, error) {
	redirect, appType := redirectURI(port), "native"
	if web != "" {
		redirect, appType = web, "web"
	}
	rec := &clientRecord{V: 1, Upstream: up.Name, Issuer: d.Issuer, Method: method, RedirectPort: port, RedirectURI: web, RegisteredAt: m.now().UTC()}
	switch method {
	case regMetadataDocument:
		rec.ClientID, rec.AuthMethod = up.ClientMetadataURL, "none"
	case regConfigured:
		rec.ClientID, rec.AuthMethod = up.ClientID, "none"
		if up.ClientSecret != "" {
			rec.AuthMethod = secretAuthMethod(d.ASM.TokenEndpointAuthMethodsSupported)
		}
	case regDynamic:
		want := dcrAuthMethod(d.ASM.TokenEndpointAuthMethodsSupported)
		resp, err := oauthex.RegisterClient(ctx, d.ASM.RegistrationEndpoint, &oauthex.ClientRegistrationMetadata{
			RedirectURIs:            []string{redirect},
			TokenEndpointAuthMethod: want,
			GrantTypes:              []string{"authorization_code", "refresh_token"},
			ResponseTypes:           []string{"code"},
			ClientName:              m.clientName,
			ApplicationType:         appType,
			SoftwareID:              "mcp-gateway",
		}, hc)
		if err != nil {
			var re *oauthex.ClientRegistrationError
			if errors.As(err, &re) {
				return nil, fmt.Errorf("dynamic client registration with %s: %s %s", d.Issuer, re.ErrorCode, scrub(re.ErrorDescription, nil))
			}
			// Other errors may quote the response body, which can hold a secret.
			return nil, fmt.Errorf("dynamic client registration with %s failed", d.Issuer)
		}
		rec.ClientID, rec.ClientSecret, rec.SecretExpiresAt = resp.ClientID, resp.ClientSecret, resp.ClientSecretExpiresAt
		rec.AuthMethod = resp.TokenEndpointAuthMethod
		if rec.AuthMethod == "" {
			rec.AuthMethod = want
		}
		if rec.AuthMethod != "none" && rec.ClientSecret == "" {
			rec.AuthMethod = "none"
		}
		m.log.Info("registered a client", "upstream", up.Name, "issuer", d.Issuer, "redirect_uri", redirect)
	}
	if err := saveJSON(ctx, m.baseStore(up), key, rec); err != nil {
		return nil, fmt.Errorf("storing the client registration: %w", err)
	}
	return rec, nil
}

// fits reports whether a stored registration still matches the config.
func fits(c *clientRecord, up Upstream, now func() time.Time) bool {
	if c.RedirectURI == "" && up.RedirectPort != 0 && c.RedirectPort != up.RedirectPort {
		return false
	}
	switch c.Method {
	case regConfigured:
		if c.ClientID != up.ClientID || (up.ClientSecret == "") != (c.AuthMethod == "none") {
			return false
		}
	case regMetadataDocument:
		if c.ClientID != up.ClientMetadataURL {
			return false
		}
	case regDynamic:
		if !c.SecretExpiresAt.IsZero() && !now().Before(c.SecretExpiresAt) {
			return false
		}
	}
	return c.ClientID != "" && (c.RedirectPort > 0 || c.RedirectURI != "")
}

// dcrAuthMethod is the token endpoint authentication to register with: none
// (a public native client) when the server allows it or says nothing, else
// a client secret by the first method it lists that we have.
func dcrAuthMethod(supported []string) string {
	if len(supported) == 0 || slices.Contains(supported, "none") {
		return "none"
	}
	return secretAuthMethod(supported)
}

// secretAuthMethod is how to send a client secret: HTTP Basic unless the
// server lists only client_secret_post (Basic is the RFC 8414 default).
func secretAuthMethod(supported []string) string {
	if slices.Contains(supported, "client_secret_post") && !slices.Contains(supported, "client_secret_basic") {
		return "client_secret_post"
	}
	return "client_secret_basic"
}
