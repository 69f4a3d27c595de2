// Package upauth makes the gateway an OAuth 2.1 client of the HTTP upstreams
// that need one: hosted MCP servers such as Notion's, Linear's or GitHub's,
// which accept only access tokens obtained through the MCP authorization flow.
//
// [Manager.Login] runs that flow once, interactively: protected-resource
// metadata (RFC 9728, from the upstream's 401 or the well-known URIs),
// authorization-server metadata (RFC 8414, then OpenID Connect discovery),
// client registration (a configured client id, a client ID metadata document,
// or dynamic registration, RFC 7591, stored and reused), the authorization
// code grant with PKCE S256, the resource indicator (RFC 8707) and the issuer
// check of the authorization response (RFC 9207), with a loopback redirect on
// a port that stays the same for the registration. It opens the browser where
// there is one and otherwise prints the URL and reads the redirect URL pasted
// on its input.
//
// At run time [Manager.Transport] adds the stored access token to each request,
// refreshes it before it expires (under a cross-process file lock, so two
// gateway processes never spend the same rotating refresh token), and turns a
// login the upstream asks for into a [*NeedsLoginError] naming the command to
// run; it never opens a browser. [Manager.Status] tells what is stored.
//
// For an upstream that each identity of the gateway reaches as itself,
// [Manager.ForIdentity] is a Manager whose tokens belong to one identity:
// [Manager.Login] on it is the operator-run login for that identity, and
// [Manager.StartWebLogin] with [WebLogin.Finish] is the identity's own login
// through the gateway's web flow (its /oauth/connect and /oauth/callback),
// with a client registration of its own for that redirect URI.
//
// Tokens and client secrets are kept in a [Store]: a [FileStore] under the
// per-user state directory by default, optionally the OS keyring
// ([KeyringStore]), and, for per-identity credentials, a [SealedStore] that
// encrypts each record with AES-GCM. Tokens never appear in logs or errors.
//
// The discovery and registration steps use go-sdk's oauthex and auth
// packages; PKCE and the authorization URL come from golang.org/x/oauth2. The
// token requests are made here, because a refresh must carry the resource
// indicator (which oauth2's refresher cannot send) and because an error must
// never carry the token endpoint's response body.
package upauth
