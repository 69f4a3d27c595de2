package upauth

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Upstream is an HTTP upstream as upauth sees it: its config entry's name and
// URL and its OAuth settings. Only cmd builds one from the config.
type Upstream struct {
	// Name is the upstream's key in mcpServers.
	Name string
	// URL is the upstream's MCP endpoint.
	URL string
	// Headers are the upstream's configured headers, sent with the probe.
	Headers map[string]string
	// ClientID is a client registered by hand with the upstream's
	// authorization server; ClientSecret its secret, if it has one.
	ClientID     string
	ClientSecret string
	// ClientMetadataURL is an HTTPS URL of a client ID metadata document,
	// used as the client id when the authorization server supports them.
	ClientMetadataURL string
	// Scopes, when set, are requested instead of the scopes the upstream
	// names.
	Scopes []string
	// RedirectPort fixes the loopback redirect port (for a client registered
	// by hand with a fixed redirect URI). Zero: picked once per registration.
	RedirectPort int
	// Keyring keeps this upstream's records in the OS keyring.
	Keyring bool
}

// Options configures a Manager. The zero value is usable.
type Options struct {
	// Keyring is the OS keyring for upstreams with Keyring set. Nil means
	// [OSKeyring].
	Keyring Keyring
	// KeyringTimeout bounds one keyring call; zero means [DefaultKeyringTimeout].
	KeyringTimeout time.Duration
	// HTTPClient makes the OAuth requests (metadata, registration, tokens)
	// and the probe. Nil means a client that refuses to dial link-local,
	// multicast and unspecified addresses, and private and loopback addresses
	// too unless the upstream itself is on one.
	HTTPClient *http.Client
	// Logger receives lifecycle logs; never a token. Nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// OpenBrowser opens a URL for the user. Nil means the platform's opener
	// (open, xdg-open when there is a display, rundll32); it returns an error
	// where there is none, and Login then asks for the pasted redirect.
	OpenBrowser func(ctx context.Context, url string) error
	// LoginCommand is the command a [*NeedsLoginError] tells the user to run.
	// Nil means "mcp-gateway login NAME".
	LoginCommand func(upstream string) string
	// ClientName is the client_name of dynamic registrations; default
	// "mcp-gateway".
	ClientName string
}

// Manager logs in to upstreams, keeps their tokens and lends them to
// requests. It is safe for concurrent use, and several processes may use one
// state directory at once.
type Manager struct {
	dir          string
	files        *FileStore
	keyring      *KeyringStore
	http         *http.Client // nil: built per upstream (see httpClient)
	log          *slog.Logger
	now          func() time.Time
	openBrowser  func(ctx context.Context, url string) error
	loginCommand func(string) string
	clientName   string

	// identity and seal are set on a Manager from ForIdentity.
	identity string
	seal     func(Store) (Store, error)

	sources *sourceSet
}

// New returns a Manager keeping its state in dir (see [DefaultStateDir]).
func New(dir string, o *Options) *Manager {
	if o == nil {
		o = &Options{}
	}
	m := &Manager{
		dir:          dir,
		files:        NewFileStore(dir),
		http:         o.HTTPClient,
		log:          o.Logger,
		now:          o.Now,
		openBrowser:  o.OpenBrowser,
		loginCommand: o.LoginCommand,
		clientName:   o.ClientName,
		sources:      &sourceSet{m: map[string]*source{}},
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.openBrowser == nil {
		m.openBrowser = openBrowser
	}
	if m.loginCommand == nil {
		m.loginCommand = func(name string) string { return "mcp-gateway login " + shellQuote(name) }
	}
	if m.clientName == "" {
		m.clientName = "mcp-gateway"
	}
	kr := o.Keyring
	if kr == nil {
		kr = OSKeyring{}
	}
	m.keyring = NewKeyringStore(kr, m.files, o.KeyringTimeout, m.log)
	return m
}

// ForIdentity returns a Manager whose tokens belong to one identity of the
// gateway: they are stored under (identity, upstream), sealed with key (32
// bytes, see [ParseTokenKey]) so they are encrypted at rest, and locked per
// identity. Client registrations stay shared: the gateway is one OAuth client
// whoever logs in through it.
func (m *Manager) ForIdentity(identity string, key []byte) (*Manager, error) {
	if identity == "" {
		return nil, fmt.Errorf("upauth: empty identity")
	}
	if _, err := NewSealedStore(m.files, key); err != nil {
		return nil, err
	}
	c := *m
	c.identity = identity
	c.loginCommand = func(name string) string { return m.loginCommand(name) + " --identity " + shellQuote(identity) }
	c.seal = func(s Store) (Store, error) { return NewSealedStore(s, key) }
	return &c, nil
}

// baseStore is where an upstream's records go.
func (m *Manager) baseStore(up Upstream) Store {
	if up.Keyring {
		return m.keyring
	}
	return m.files
}

// storeName names the store of up for Status.
func storeName(up Upstream) string {
	if up.Keyring {
		return "keyring"
	}
	return "file"
}

// tokenStore is where up's tokens go: sealed for an identity.
func (m *Manager) tokenStore(up Upstream) (Store, error) {
	s := m.baseStore(up)
	if m.seal != nil {
		return m.seal(s)
	}
	return s, nil
}

// kindIdentityToken holds an identity's tokens for an upstream.
const kindIdentityToken = "idtoken"

func (m *Manager) tokenKey(up Upstream) Key {
	if m.identity != "" {
		return Key{Kind: kindIdentityToken, Name: m.identity + "\x00" + up.Name}
	}
	return Key{Kind: KindToken, Name: up.Name}
}

// clientKey names the registration of up with issuer: the loopback one of
// `mcp-gateway login`, or with web the one of the gateway's web login flow.
func clientKey(up Upstream, issuer string, web bool) Key {
	k := Key{Kind: KindClient, Name: up.Name + "\x00" + strings.TrimSuffix(issuer, "/")}
	if web {
		k.Name += "\x00web"
	}
	return k
}

// tokenRecord is an upstream's tokens and login state. Only this package
// reads it; the version field lets a later one change it.
type tokenRecord struct {
	V             int       `json:"v"`
	Upstream      string    `json:"upstream"`
	URL           string    `json:"url"`
	Resource      string    `json:"resource,omitempty"`
	Issuer        string    `json:"issuer,omitempty"`
	TokenEndpoint string    `json:"token_endpoint,omitempty"`
	AccessToken   string    `json:"access_token,omitempty"`
	RefreshToken  string    `json:"refresh_token,omitempty"`
	Expiry        time.Time `json:"expiry,omitzero"`
	ObtainedAt    time.Time `json:"obtained_at,omitzero"`
	Scopes        []string  `json:"scopes,omitempty"`
	// NeedsLogin, when set, says why the tokens cannot be used.
	NeedsLogin string `json:"needs_login,omitempty"`
	// NeedsScopes are scopes the upstream asked for (403 insufficient_scope)
	// beyond those granted; the next login requests them.
	NeedsScopes []string `json:"needs_scopes,omitempty"`
	// Challenge is the upstream's last WWW-Authenticate challenge, which the
	// next login starts from.
	Challenge *Challenge `json:"challenge,omitempty"`
	// Web says the tokens came from the gateway's web login flow, whose
	// client registration is its own.
	Web bool `json:"web,omitempty"`
}

// usable reports whether the record holds a token that may be sent.
func (r *tokenRecord) usable() bool {
	return r != nil && r.NeedsLogin == "" && r.AccessToken != ""
}

// clientRecord is a client registration with one authorization server.
type clientRecord struct {
	V               int       `json:"v"`
	Upstream        string    `json:"upstream"`
	Issuer          string    `json:"issuer"`
	Method          string    `json:"method"` // regDynamic, regConfigured or regMetadataDocument
	ClientID        string    `json:"client_id"`
	ClientSecret    string    `json:"client_secret,omitempty"` // dynamic registrations only; a configured secret stays in the config
	SecretExpiresAt time.Time `json:"client_secret_expires_at,omitzero"`
	AuthMethod      string    `json:"token_endpoint_auth_method"`
	RedirectPort    int       `json:"redirect_port"`
	RedirectURI     string    `json:"redirect_uri,omitempty"` // the web login flow's; empty for the loopback one
	RegisteredAt    time.Time `json:"registered_at"`
}

// Registration methods.
const (
	regDynamic          = "dynamic"
	regConfigured       = "configured"
	regMetadataDocument = "metadata_document"
)

// secret is the client secret to authenticate with: the stored one for a
// dynamic registration, the configured one otherwise.
func (c *clientRecord) secret(up Upstream) string {
	if c.Method == regConfigured {
		return up.ClientSecret
	}
	return c.ClientSecret
}

func loadJSON[T any](ctx context.Context, s Store, k Key) (*T, error) {
	data, err := s.Load(ctx, k)
	if err != nil {
		return nil, err
	}
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		// The decoder's message never quotes the input.
		return nil, fmt.Errorf("stored %s record is corrupt: %w", k.Kind, err)
	}
	return &v, nil
}

func saveJSON(ctx context.Context, s Store, k Key, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.Save(ctx, k, data)
}

// loadToken returns up's token record, or nil when there is none.
func (m *Manager) loadToken(ctx context.Context, up Upstream) (*tokenRecord, error) {
	s, err := m.tokenStore(up)
	if err != nil {
		return nil, err
	}
	rec, err := loadJSON[tokenRecord](ctx, s, m.tokenKey(up))
	if notFound(err) {
		return nil, nil
	}
	return rec, err
}

func (m *Manager) saveToken(ctx context.Context, up Upstream, rec *tokenRecord) error {
	s, err := m.tokenStore(up)
	if err != nil {
		return err
	}
	rec.V = 1
	rec.Upstream = up.Name
	if rec.URL == "" {
		rec.URL = up.URL
	}
	return saveJSON(ctx, s, m.tokenKey(up), rec)
}

// loadClient returns the registration that rec's tokens were issued to, or nil.
func (m *Manager) loadClient(ctx context.Context, up Upstream, rec *tokenRecord) (*clientRecord, error) {
	return m.loadClientKey(ctx, up, clientKey(up, rec.Issuer, rec.Web))
}

func (m *Manager) loadClientKey(ctx context.Context, up Upstream, k Key) (*clientRecord, error) {
	rec, err := loadJSON[clientRecord](ctx, m.baseStore(up), k)
	if notFound(err) {
		return nil, nil
	}
	return rec, err
}

// Logout deletes up's tokens. The record of where they came from stays, so
// that status shows the upstream as logged out and a later login reuses the
// client registration; with forgetClient that registration is deleted too,
// and the next login registers anew.
func (m *Manager) Logout(ctx context.Context, up Upstream, forgetClient bool) error {
	rec, err := m.loadToken(ctx, up)
	if err != nil {
		return err
	}
	m.sources.forget(m.tokenKey(up))
	if rec == nil {
		return nil
	}
	if forgetClient {
		if rec.Issuer != "" {
			if err := m.baseStore(up).Delete(ctx, clientKey(up, rec.Issuer, rec.Web)); err != nil {
				return err
			}
		}
		s, err := m.tokenStore(up)
		if err != nil {
			return err
		}
		return s.Delete(ctx, m.tokenKey(up))
	}
	return m.saveToken(ctx, up, &tokenRecord{URL: rec.URL, Resource: rec.Resource, Issuer: rec.Issuer,
		TokenEndpoint: rec.TokenEndpoint, NeedsLogin: reasonLoggedOut})
}

// shellQuote quotes s for a POSIX shell when it needs quoting.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// sourceSet holds one token source per token key, shared by the copies of a
// Manager so that one process refreshes each token once.
type sourceSet struct {
	mu sync.Mutex
	m  map[string]*source
}

func (s *sourceSet) forget(k Key) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, k.String())
}
