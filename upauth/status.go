package upauth

import (
	"context"
	"time"
)

// States of an upstream's login, as [Status] reports them.
const (
	// StateLoggedIn: a token is stored and may be sent (it may be refreshed first).
	StateLoggedIn = "logged_in"
	// StateNeedsLogin: nothing usable is stored; run the login command.
	StateNeedsLogin = "needs_login"
)

// Status is what is stored for an upstream, without any secret.
type Status struct {
	Upstream string `json:"upstream"`
	URL      string `json:"url"`
	// State is StateLoggedIn or StateNeedsLogin.
	State string `json:"state"`
	// Reason says why a login is needed.
	Reason string `json:"reason,omitempty"`
	// Command is what to run to log in, when State is StateNeedsLogin.
	Command string `json:"command,omitempty"`
	// Store is "file" or "keyring".
	Store  string   `json:"store"`
	Issuer string   `json:"issuer,omitempty"`
	Scopes []string `json:"scopes,omitempty"`
	// NeedsScopes are scopes the upstream asked for beyond those granted.
	NeedsScopes []string  `json:"needs_scopes,omitempty"`
	ObtainedAt  time.Time `json:"obtained_at,omitzero"`
	ExpiresAt   time.Time `json:"expires_at,omitzero"`
	// Refreshable says a refresh token is stored.
	Refreshable bool `json:"refreshable"`
	// ClientID and Registration describe the client registration in use:
	// Registration is "dynamic", "configured" or "metadata_document".
	ClientID     string `json:"client_id,omitempty"`
	Registration string `json:"registration,omitempty"`
	RedirectPort int    `json:"redirect_port,omitempty"`
}

// Status reports what is stored for up. It reads the store (not a cached
// copy), so it sees what other processes did.
func (m *Manager) Status(ctx context.Context, up Upstream) (*Status, error) {
	rec, err := m.loadToken(ctx, up)
	if err != nil {
		return nil, err
	}
	st := &Status{Upstream: up.Name, URL: up.URL, Store: storeName(up), State: StateLoggedIn}
	if nle := m.unusable(up, rec); nle != nil {
		st.State, st.Reason, st.Command = StateNeedsLogin, nle.Reason, nle.Command
	}
	if rec == nil || rec.URL != up.URL {
		return st, nil
	}
	st.Issuer, st.Scopes, st.NeedsScopes = rec.Issuer, rec.Scopes, rec.NeedsScopes
	st.ObtainedAt, st.ExpiresAt, st.Refreshable = rec.ObtainedAt, rec.Expiry, rec.RefreshToken != ""
	if rec.Issuer != "" {
		c, err := m.loadClient(ctx, up, rec)
		if err != nil {
			return nil, err
		}
		if c != nil {
			st.ClientID, st.Registration, st.RedirectPort = c.ClientID, c.Method, c.RedirectPort
		}
	}
	return st, nil
}
