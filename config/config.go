// Package config reads, checks and defaults the gateway's configuration file.
//
// The file is one JSON object. Its mcpServers object has the shape Claude Desktop, Cursor and VS Code
// use, so a client's existing config works unchanged; the gateway object holds the gateway's own
// settings. [Parse] reports every problem at once, each as a [*FieldError] naming the JSON path of the
// offending value. Error messages never contain configured values, since values may be secrets.
//
// The package knows no network and imports only the standard library.
package config

import (
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// Transports an upstream may use. See [Upstream.Transport].
const (
	TransportStdio = "stdio"
	TransportHTTP  = "http"
	TransportSSE   = "sse"
)

// Isolation modes of an upstream. See [Upstream.Isolation].
const (
	IsolationShared  = "shared"
	IsolationSession = "session"
)

// Defaults applied by [Parse] and [Default] to settings left unset.
const (
	DefaultTimeout            = 60 * time.Second
	DefaultListen             = "127.0.0.1:8080"
	DefaultSessionIdleTimeout = 30 * time.Minute
	DefaultShutdownGrace      = 10 * time.Second
	DefaultMaxBodyBytes       = 4 << 20
	DefaultLogLevel           = "info"
	DefaultLogFormat          = "text"
)

// MaxPrefixLen is the longest explicit prefix an upstream may set.
const MaxPrefixLen = 32

// Config is the whole configuration file. A Config is plain data: it is safe for concurrent reads,
// and nothing in this package modifies it after [Parse] returns.
type Config struct {
	// MCPServers are the upstream MCP servers, keyed by name. Never nil after Parse or Default.
	MCPServers map[string]*Upstream `json:"mcpServers"`
	// Gateway holds the gateway's own settings.
	Gateway Gateway `json:"gateway"`
}

// Upstream is one entry of mcpServers: an MCP server the gateway connects to.
type Upstream struct {
	// Name is the entry's key in mcpServers, filled by Parse.
	Name string `json:"-"`
	// Command starts a stdio server. Exactly one of Command and URL is set unless Disabled.
	Command string `json:"command,omitempty"`
	// Args are the arguments of Command.
	Args []string `json:"args,omitempty"`
	// Env is added to the environment of Command. Keys are kept as written.
	Env map[string]string `json:"env,omitempty"`
	// Cwd is the working directory of Command.
	Cwd string `json:"cwd,omitempty"`
	// URL is the endpoint of a remote (http or sse) server: an absolute http or https URL.
	URL string `json:"url,omitempty"`
	// Headers are sent with every request to URL. Keys are kept as written.
	Headers map[string]string `json:"headers,omitempty"`
	// Transport is TransportStdio, TransportHTTP or TransportSSE. The file may also spell it "type"
	// (as Cursor and VS Code do) and may write "streamable-http", "streamableHttp" or
	// "streamable_http" for TransportHTTP. After Parse it is always set: inferred as stdio from
	// Command or as http from URL when not written.
	Transport string `json:"transport,omitempty"`
	// Prefix is put before this upstream's tool and prompt names ("<prefix>__<name>"). Nil means
	// DefaultPrefix(Name); a pointer to "" exposes names unprefixed. See [Upstream.ExposedPrefix].
	Prefix *string `json:"prefix,omitempty"`
	// Tools limits which of the upstream's tools are exposed.
	Tools ToolFilter `json:"tools,omitempty"`
	// Timeout bounds each call to the upstream. Parse sets it to DefaultTimeout when unset.
	Timeout Duration `json:"timeout,omitempty"`
	// Required makes the gateway fail to start when this upstream cannot be connected.
	Required bool `json:"required,omitempty"`
	// Disabled leaves the upstream out entirely; see [Config.Enabled].
	Disabled bool `json:"disabled,omitempty"`
	// Isolation is IsolationShared (the default set by Parse) or IsolationSession.
	Isolation string `json:"isolation,omitempty"`
	// Tags are free-form labels.
	Tags []string `json:"tags,omitempty"`
	// InitTimeout bounds starting and initializing the upstream. Parse sets
	// it to DefaultInitTimeout when unset.
	InitTimeout Duration `json:"init_timeout,omitempty"`
	// MaxConcurrency caps the calls in flight to the upstream; further calls
	// wait (within their timeout). Zero means no cap.
	MaxConcurrency int `json:"max_concurrency,omitempty"`
	// Overrides rename, retitle, re-describe, annotate or hide tools and prompts.
	Overrides Overrides `json:"overrides,omitempty"`
	// OAuth configures the OAuth login to a remote upstream that takes only
	// OAuth access tokens (hosted servers such as Notion's). An http or sse
	// upstream without it still uses a token stored by `mcp-gateway login`,
	// with dynamic client registration and the scopes the server names.
	OAuth *UpstreamOAuth `json:"oauth,omitempty"`
	// PerIdentity makes each identity of the gateway reach this remote
	// upstream as itself: over a connection of its own (isolation
	// "session"), with only its own credentials — its IdentityHeaders, or
	// the OAuth tokens stored for it by `mcp-gateway login NAME --identity
	// ID` — and an identity with neither gets an error, never another's
	// credentials. The gateway's own credentials (headers, its login) are
	// used only for the connection that reads the upstream's lists.
	PerIdentity bool `json:"per_identity,omitempty"`
	// IdentityHeaders are header values per identity name ("api_key:alice",
	// "oauth:SUBJECT"), for upstreams that take API keys; write the values
	// as ${VAR}. They replace configured headers of the same name.
	IdentityHeaders map[string]map[string]string `json:"identity_headers,omitempty"`
	// Ignored lists, sorted, the keys of this entry that the gateway does not know. Other clients'
	// configs carry such keys (for example "autoApprove"), so they are not errors.
	Ignored []string `json:"-"`
}

// ExposedPrefix returns the prefix of this upstream's exposed names: *u.Prefix if set, else
// DefaultPrefix(u.Name). An empty result means the names are exposed unprefixed.
func (u *Upstream) ExposedPrefix() string {
	if u.Prefix != nil {
		return *u.Prefix
	}
	return DefaultPrefix(u.Name)
}

// Stores an upstream's OAuth tokens may be kept in. See [UpstreamOAuth.Store].
const (
	OAuthStoreFile    = "file"
	OAuthStoreKeyring = "keyring"
)

// UpstreamOAuth is an upstream's OAuth client settings. All are optional.
type UpstreamOAuth struct {
	// ClientID is a client registered by hand with the upstream's
	// authorization server, used instead of dynamic registration;
	// ClientSecret is its secret, if it has one (write it as ${VAR}).
	ClientID     string `json:"client_id,omitempty"`
	ClientSecret string `json:"client_secret,omitempty"`
	// ClientMetadataURL is the https URL of a client ID metadata document,
	// used as the client id where the authorization server supports them.
	ClientMetadataURL string `json:"client_metadata_url,omitempty"`
	// Scopes are requested instead of those the upstream names.
	Scopes []string `json:"scopes,omitempty"`
	// RedirectPort fixes the port of the loopback redirect URI
	// (http://127.0.0.1:PORT/callback), for a client registered by hand.
	// Zero: chosen once per registration and kept.
	RedirectPort int `json:"redirect_port,omitempty"`
	// Store is OAuthStoreFile (the default) or OAuthStoreKeyring.
	Store string `json:"store,omitempty"`
}

// ToolFilter selects tools by their upstream (unprefixed) names, using [path.Match] globs. A tool is
// exposed when Allow is empty or one of its patterns matches, and no Deny pattern matches.
type ToolFilter struct {
	// Allow, when not empty, exposes only the tools matching one of its patterns.
	Allow []string `json:"allow,omitempty"`
	// Deny hides the tools matching one of its patterns; it wins over Allow.
	Deny []string `json:"deny,omitempty"`
}

// Gateway holds the settings of the gateway itself.
type Gateway struct {
	// Listen is the host:port that serve --http binds. Default DefaultListen.
	Listen string `json:"listen,omitempty"`
	// AllowedOrigins are extra allowed Origin header values, each exactly "scheme://host[:port]".
	// Loopback origins are always allowed.
	AllowedOrigins []string `json:"allowed_origins,omitempty"`
	// SessionIdleTimeout ends idle HTTP sessions. Default DefaultSessionIdleTimeout.
	SessionIdleTimeout Duration `json:"session_idle_timeout,omitempty"`
	// ShutdownGrace is how long shutdown waits for in-flight calls. Default DefaultShutdownGrace.
	ShutdownGrace Duration `json:"shutdown_grace,omitempty"`
	// MaxBodyBytes caps HTTP request bodies. Default DefaultMaxBodyBytes.
	MaxBodyBytes int64 `json:"max_body_bytes,omitempty"`
	// Log configures logging.
	Log Log `json:"log,omitempty"`
	// Auth configures credentials and per-identity policy.
	Auth Auth `json:"auth,omitempty"`
	// Limits configures rate limits, circuit breakers and message caps.
	Limits Limits `json:"limits,omitempty"`
	// Metrics configures GET /metrics.
	Metrics Metrics `json:"metrics,omitempty"`
	// Audit configures the audit log of tool calls.
	Audit Audit `json:"audit,omitempty"`
	// Pins configures the check of definitions against the lockfile.
	Pins Pins `json:"pins,omitempty"`
	// Budgets limits how many tools each client is listed.
	Budgets Budgets `json:"budgets,omitempty"`
	// Redis, if set, is the state replicas share; nil keeps it in this process.
	Redis *Redis `json:"redis,omitempty"`
	// Relay turns the relay lane on or off: a tools/call over HTTP to a
	// stdio upstream forwarded as bytes, its result passed on byte for
	// byte. Default on (nil); false sends every call through the MCP SDK.
	Relay *bool `json:"relay,omitempty"`
}

// RelayOn reports whether the relay lane is on.
func (g *Gateway) RelayOn() bool { return g.Relay == nil || *g.Relay }

// Log configures the gateway's log output.
type Log struct {
	// Level is "debug", "info", "warn" or "error". Default DefaultLogLevel.
	Level string `json:"level,omitempty"`
	// Format is "text" or "json". Default DefaultLogFormat.
	Format string `json:"format,omitempty"`
}

// Default returns a Config with every gateway default filled in and no upstreams.
func Default() *Config {
	c := &Config{}
	c.applyDefaults()
	return c
}

// applyDefaults fills unset settings. It leaves invalid values for Validate to report.
func (c *Config) applyDefaults() {
	if c.MCPServers == nil {
		c.MCPServers = map[string]*Upstream{}
	}
	for name, u := range c.MCPServers {
		if u == nil {
			continue
		}
		u.Name = name
		if u.Transport == "" {
			u.Transport = inferTransport(u)
		} else if t := normalizeTransport(u.Transport); t != "" {
			u.Transport = t
		}
		if u.Timeout == 0 {
			u.Timeout = Duration(DefaultTimeout)
		}
		if u.Isolation == "" && u.PerIdentity {
			u.Isolation = IsolationSession // a connection per identity's session
		}
		if u.Isolation == "" {
			u.Isolation = IsolationShared
		}
		if u.InitTimeout == 0 {
			u.InitTimeout = Duration(DefaultInitTimeout)
		}
	}
	g := &c.Gateway
	if g.Listen == "" {
		g.Listen = DefaultListen
	}
	if g.SessionIdleTimeout == 0 {
		g.SessionIdleTimeout = Duration(DefaultSessionIdleTimeout)
	}
	if g.ShutdownGrace == 0 {
		g.ShutdownGrace = Duration(DefaultShutdownGrace)
	}
	if g.MaxBodyBytes == 0 {
		g.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if g.Log.Level == "" {
		g.Log.Level = DefaultLogLevel
	}
	if g.Log.Format == "" {
		g.Log.Format = DefaultLogFormat
	}
	g.Limits.applyDefaults()
	if r := g.Redis; r != nil {
		if r.Prefix == "" {
			r.Prefix = DefaultRedisPrefix
		}
		if r.Timeout == 0 {
			r.Timeout = DefaultRedisTimeout
		}
	}
}

// inferTransport returns the transport implied by which of command and url is set, or "" for
// neither or both (Validate reports those).
func inferTransport(u *Upstream) string {
	switch {
	case u.Command != "" && u.URL == "":
		return TransportStdio
	case u.URL != "" && u.Command == "":
		return TransportHTTP
	}
	return ""
}

// normalizeTransport maps a transport as written (including the aliases other clients use) to one
// of the Transport constants, or to "" if it is unknown.
func normalizeTransport(t string) string {
	switch strings.ToLower(t) {
	case "stdio":
		return TransportStdio
	case "http", "streamable-http", "streamablehttp", "streamable_http":
		return TransportHTTP
	case "sse":
		return TransportSSE
	}
	return ""
}

// Enabled returns the upstreams that are not disabled, sorted by Name. The pointers are the
// Config's own.
func (c *Config) Enabled() []*Upstream {
	var ups []*Upstream
	for _, u := range c.MCPServers {
		if u != nil && !u.Disabled {
			ups = append(ups, u)
		}
	}
	slices.SortFunc(ups, func(a, b *Upstream) int { return strings.Compare(a.Name, b.Name) })
	return ups
}

// DefaultPrefix derives an upstream's prefix from its name: every character outside [A-Za-z0-9-]
// becomes '-', runs of '-' collapse to one, and leading and trailing '-' are trimmed. The result
// never contains "__"; an empty result becomes "upstream". It is deterministic but not shortened:
// the catalog shortens over-long exposed names.
func DefaultPrefix(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if !ok {
			dash = b.Len() > 0 // drops leading dashes; a trailing run is never written
			continue
		}
		if dash {
			b.WriteByte('-')
			dash = false
		}
		b.WriteRune(r)
	}
	if b.Len() == 0 {
		return "upstream"
	}
	return b.String()
}

// Duration is a time.Duration written in JSON as a Go duration string ("500ms", "30s"). A bare
// number is an error, because encoding/json would read it as nanoseconds; so is a negative duration.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String returns d in Go duration syntax.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes d as a duration string such as "1m30s".
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string. JSON null leaves d unchanged.
func (d *Duration) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return errDurationType
	}
	v, err := parseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

var errDurationType = detail(ErrType, `durations are strings like "30s"`)

// parseDuration parses a duration string. Its errors never repeat s.
func parseDuration(s string) (time.Duration, error) {
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, detail(ErrInvalidValue, `invalid duration, want a string like "500ms" or "30s"`)
	}
	if v < 0 {
		return 0, detail(ErrInvalidValue, "must not be negative")
	}
	return v, nil
}
