package config

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// prefixRE is the syntax of an explicit prefix: no "__", so "<prefix>__<tool>" is never ambiguous.
var prefixRE = regexp.MustCompile(`^[A-Za-z0-9-]+(_[A-Za-z0-9-]+)*$`)

// decoded is what the decoder tells validate about the input. The zero value (for a Config built
// in code) knows nothing.
type decoded struct {
	// bad holds the paths of values the decoder reported and dropped: they count as set, and are
	// not checked again.
	bad map[string]bool
	// alias maps a field's path to where the input wrote it, as "type" for "transport".
	alias map[string]string
}

// at returns where the input wrote the field at path.
func (in decoded) at(path string) string {
	if a, ok := in.alias[path]; ok {
		return a
	}
	return path
}

// Validate checks c for semantic problems and returns them all, as an errors.Join of
// [*FieldError] sorted by path, or nil. Parse calls it. Settings left at their zero value are
// taken as unset, so Validate also accepts a Config built in code without defaults. It does not
// modify c.
func (c *Config) Validate() error {
	return c.validate(decoded{}).join()
}

// validate checks c, decoded from in.
func (c *Config) validate(in decoded) errorList {
	var errs errorList
	prefixes := map[string]string{} // exposed prefix → path of the upstream using it
	for _, name := range slices.Sorted(maps.Keys(c.MCPServers)) {
		u, p := c.MCPServers[name], child("mcpServers", name)
		if u == nil {
			errs.add(p, detail(ErrType, "must be an object, got null"))
			continue
		}
		prefixOK := validateUpstream(&errs, p, u, in)
		if u.Disabled || !prefixOK {
			continue
		}
		prefix, at := DefaultPrefix(name), p
		if u.Prefix != nil {
			prefix, at = *u.Prefix, child(p, "prefix")
		}
		first, taken := prefixes[prefix]
		switch {
		case !taken:
			prefixes[prefix] = p
		case prefix == "":
			errs.add(at, detail(ErrConflict, `%s also has prefix "": only one upstream may expose its names unprefixed`, first))
		default:
			errs.add(at, detail(ErrConflict, "%s has the same exposed prefix: set a distinct \"prefix\" on one of them", first))
		}
	}
	validateGateway(&errs, &c.Gateway)
	validateLimits(&errs, &c.Gateway.Limits)
	validateAudit(&errs, &c.Gateway.Audit)
	validatePins(&errs, &c.Gateway.Pins)
	validateBudgets(&errs, &c.Gateway.Budgets)
	validateRedis(&errs, c.Gateway.Redis)
	validateAuth(&errs, &c.Gateway.Auth, in)
	return errs
}

// validateUpstream checks one entry at path p and reports whether its prefix may be used.
func validateUpstream(errs *errorList, p string, u *Upstream, in decoded) (prefixOK bool) {
	at := func(key string) string { return child(p, key) }
	validateUpstreamLimits(errs, p, u)
	switch {
	case u.Required && u.Disabled:
		errs.add(p, detail(ErrConflict, `"required" and "disabled" are both true`))
	case u.Disabled || in.bad[at("command")] || in.bad[at("url")]:
		// Not started, or already reported.
	case u.Command != "" && u.URL != "":
		errs.add(p, detail(ErrConflict, `has both "command" and "url": set one`))
	case u.Command == "" && u.URL == "":
		errs.add(p, detail(ErrRequired, `needs "command" (stdio) or "url" (http, sse)%s`, ignoredHint(u.Ignored)))
	}
	if u.Transport != "" && !in.bad[at("transport")] {
		switch t, tp := normalizeTransport(u.Transport), in.at(at("transport")); {
		case t == "":
			errs.add(tp, errTransport)
		case t == TransportStdio && u.Command == "" && u.URL != "":
			errs.add(tp, detail(ErrConflict, `"stdio" needs "command", not "url"`))
		case t != TransportStdio && u.URL == "" && u.Command != "":
			errs.add(tp, detail(ErrConflict, `%q needs "url", not "command"`, t))
		}
	}
	if u.URL != "" && !isHTTPURL(u.URL) {
		errs.add(at("url"), detail(ErrInvalidValue, "must be an absolute http or https URL"))
	}
	noNUL(errs, at("command"), u.Command)
	noNUL(errs, at("cwd"), u.Cwd)
	for i, a := range u.Args {
		noNUL(errs, index(at("args"), i), a)
	}
	for _, k := range slices.Sorted(maps.Keys(u.Env)) {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			errs.add(child(at("env"), k), detail(ErrInvalidValue, `invalid variable name: must be non-empty, without "=" or NUL`))
		}
		noNUL(errs, child(at("env"), k), u.Env[k])
	}
	for _, k := range slices.Sorted(maps.Keys(u.Headers)) {
		if !isToken(k) {
			errs.add(child(at("headers"), k), detail(ErrInvalidValue, "invalid header name"))
		}
		if strings.ContainsAny(u.Headers[k], "\r\n\x00") {
			errs.add(child(at("headers"), k), detail(ErrInvalidValue, "must not contain line breaks or NUL"))
		}
	}
	if u.OAuth != nil {
		validateUpstreamOAuth(errs, at("oauth"), u)
	}
	if u.PerIdentity && u.URL == "" {
		errs.add(at("per_identity"), detail(ErrConflict, `is for remote upstreams ("url")`))
	}
	if u.PerIdentity && u.Isolation == IsolationShared {
		errs.add(at("isolation"), detail(ErrConflict, `must be "session" (or unset) with "per_identity": each identity has its own connection`))
	}
	if len(u.IdentityHeaders) > 0 && !u.PerIdentity {
		errs.add(at("identity_headers"), detail(ErrConflict, `needs "per_identity": true`))
	}
	for _, id := range slices.Sorted(maps.Keys(u.IdentityHeaders)) {
		p := child(at("identity_headers"), id)
		if id == "" || strings.ContainsAny(id, "\x00\r\n") {
			errs.add(p, detail(ErrInvalidValue, "must be an identity name such as \"api_key:alice\""))
		}
		for _, k := range slices.Sorted(maps.Keys(u.IdentityHeaders[id])) {
			if !isToken(k) {
				errs.add(child(p, k), detail(ErrInvalidValue, "invalid header name"))
			}
			if strings.ContainsAny(u.IdentityHeaders[id][k], "\r\n\x00") {
				errs.add(child(p, k), detail(ErrInvalidValue, "must not contain line breaks or NUL"))
			}
		}
	}
	if u.Isolation != "" && u.Isolation != IsolationShared && u.Isolation != IsolationSession {
		errs.add(at("isolation"), detail(ErrInvalidValue, `must be "shared" or "session"`))
	}
	prefixOK = !in.bad[at("prefix")]
	if u.Prefix != nil && *u.Prefix != "" {
		if len(*u.Prefix) > MaxPrefixLen {
			errs.add(at("prefix"), detail(ErrInvalidValue, "must be at most %d characters", MaxPrefixLen))
			prefixOK = false
		} else if !prefixRE.MatchString(*u.Prefix) {
			errs.add(at("prefix"), detail(ErrInvalidValue, `must be letters, digits and "-", in groups joined by single "_"`))
			prefixOK = false
		}
	}
	for i, pat := range u.Tools.Allow {
		checkGlob(errs, index(at("tools")+".allow", i), pat)
	}
	for i, pat := range u.Tools.Deny {
		checkGlob(errs, index(at("tools")+".deny", i), pat)
	}
	validateOverrides(errs, p, &u.Overrides)
	if u.Timeout < 0 {
		errs.add(at("timeout"), detail(ErrInvalidValue, "must not be negative"))
	}
	return prefixOK
}

// ignoredHint points at an ignored key that looks like a misspelled "command" or "url".
func ignoredHint(ignored []string) string {
	for _, k := range ignored {
		if s := suggest(k, []string{"command", "url"}); s != "" {
			return fmt.Sprintf(" (the ignored key %q looks like %q)", k, s)
		}
	}
	return ""
}

func validateGateway(errs *errorList, g *Gateway) {
	if g.Listen != "" && !isHostPort(g.Listen) {
		errs.add("gateway.listen", detail(ErrInvalidValue, `must be host:port, like "127.0.0.1:8080"`))
	}
	for i, o := range g.AllowedOrigins {
		if !isOrigin(o) {
			errs.add(index("gateway.allowed_origins", i), detail(ErrInvalidValue, `must be "scheme://host[:port]" with no path`))
		}
	}
	if g.SessionIdleTimeout < 0 {
		errs.add("gateway.session_idle_timeout", detail(ErrInvalidValue, "must not be negative"))
	}
	if g.ShutdownGrace < 0 {
		errs.add("gateway.shutdown_grace", detail(ErrInvalidValue, "must not be negative"))
	}
	if g.MaxBodyBytes < 0 {
		errs.add("gateway.max_body_bytes", errNotPositive)
	}
	switch g.Log.Level {
	case "", "debug", "info", "warn", "error":
	default:
		errs.add("gateway.log.level", detail(ErrInvalidValue, `must be "debug", "info", "warn" or "error"`))
	}
	switch g.Log.Format {
	case "", "text", "json":
	default:
		errs.add("gateway.log.format", detail(ErrInvalidValue, `must be "text" or "json"`))
	}
}

func checkGlob(errs *errorList, p, pattern string) {
	if _, err := path.Match(pattern, ""); err != nil {
		errs.add(p, detail(ErrInvalidValue, "invalid glob pattern (see Go's path.Match)"))
	}
}

func noNUL(errs *errorList, p, s string) {
	if strings.ContainsRune(s, 0) {
		errs.add(p, detail(ErrInvalidValue, "must not contain NUL"))
	}
}

// validateUpstreamOAuth checks the oauth settings of the upstream at path p.
func validateUpstreamOAuth(errs *errorList, p string, u *Upstream) {
	o := u.OAuth
	at := func(key string) string { return child(p, key) }
	if u.Command != "" {
		errs.add(p, detail(ErrConflict, `OAuth is for remote upstreams ("url"), not "command"`))
	}
	if o.ClientSecret != "" && o.ClientID == "" {
		errs.add(at("client_secret"), detail(ErrConflict, `needs "client_id"`))
	}
	if o.ClientMetadataURL != "" {
		if mu, err := url.Parse(o.ClientMetadataURL); err != nil || mu.Scheme != "https" || mu.Hostname() == "" || mu.Path == "" || mu.Path == "/" {
			errs.add(at("client_metadata_url"), detail(ErrInvalidValue, "must be an https URL with a path"))
		}
	}
	if o.RedirectPort < 0 || o.RedirectPort > 65535 {
		errs.add(at("redirect_port"), detail(ErrInvalidValue, "must be a port number, 1 to 65535"))
	}
	if o.Store != "" && o.Store != OAuthStoreFile && o.Store != OAuthStoreKeyring {
		errs.add(at("store"), detail(ErrInvalidValue, `must be "file" or "keyring"`))
	}
	for i, s := range o.Scopes {
		if s == "" || strings.ContainsAny(s, " \t\r\n\"\\") {
			errs.add(index(at("scopes"), i), detail(ErrInvalidValue, "must be one scope token, without spaces or quotes"))
		}
	}
	noNUL(errs, at("client_id"), o.ClientID)
	noNUL(errs, at("client_secret"), o.ClientSecret)
}

func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Hostname() != ""
}

func isHostPort(s string) bool {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return false
	}
	_, err = strconv.ParseUint(port, 10, 16)
	return err == nil
}

// isOrigin reports whether s is exactly an Origin header value: scheme://host[:port].
func isOrigin(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme != "" && u.Hostname() != "" && !strings.HasSuffix(u.Host, ":") &&
		s == u.Scheme+"://"+u.Host
}

// isToken reports whether s is an HTTP header name (an RFC 9110 token).
func isToken(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return false
		}
	}
	return s != ""
}
