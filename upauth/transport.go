package upauth

import (
	"errors"
	"io"
	"net/http"
)

// Transport returns a RoundTripper for requests to up that sends them
// through base with the stored access token, refreshing it first when it is
// about to expire. Without a usable token a request goes out without one; an
// upstream that then asks for a token (401) gets the request failed with a
// [*NeedsLoginError], and its challenge is kept for the next login. A token
// the upstream refuses is refreshed once and the request retried once; a 403
// insufficient_scope records the scope asked for and fails the request with
// a *NeedsLoginError naming it. It never opens a browser.
func (m *Manager) Transport(up Upstream, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &roundTripper{m: m, up: up, base: base}
}

type roundTripper struct {
	m    *Manager
	up   Upstream
	base http.RoundTripper
}

func (t *roundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	ctx := r.Context()
	s := t.m.source(t.up)
	sent := ""
	rec, err := s.token(ctx)
	switch {
	case err == nil:
		sent = rec.AccessToken
	case errors.Is(err, ErrNeedsLogin):
		// Sent without a token: the upstream may not need one.
	default:
		closeBody(r)
		return nil, err
	}
	resp, err := t.send(r, sent)
	if err != nil {
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		ch := parseChallenge(resp.StatusCode, resp.Header)
		if sent != "" && rec.RefreshToken != "" && replayable(r) {
			discard(resp)
			next, err := s.refresh(ctx, sent)
			if err != nil {
				return nil, err
			}
			if resp, err = t.send(r, next.AccessToken); err != nil {
				return nil, err
			}
			if resp.StatusCode != http.StatusUnauthorized {
				return resp, nil
			}
			sent, ch = next.AccessToken, parseChallenge(resp.StatusCode, resp.Header)
		}
		discard(resp)
		return nil, s.rejectedBy(ctx, sent, ch)
	case http.StatusForbidden:
		ch := parseChallenge(resp.StatusCode, resp.Header)
		if ch == nil || ch.Error != "insufficient_scope" {
			return resp, nil
		}
		discard(resp)
		next, nle := s.stepUp(ctx, sent, ch)
		if next == nil || !replayable(r) {
			return nil, nle
		}
		// Another process logged in since this one read the token (with
		// the scope asked for, perhaps): try once more with the new one.
		if resp, err = t.send(r, next.AccessToken); err != nil {
			return nil, err
		}
		if ch := parseChallenge(resp.StatusCode, resp.Header); resp.StatusCode == http.StatusForbidden && ch != nil && ch.Error == "insufficient_scope" {
			discard(resp)
			_, nle = s.stepUp(ctx, next.AccessToken, ch)
			return nil, nle
		}
		return resp, nil
	}
	return resp, nil
}

// send sends a copy of r with token as its bearer token (none when empty).
// A retry reads the body again through GetBody.
func (t *roundTripper) send(r *http.Request, token string) (*http.Response, error) {
	out := r.Clone(r.Context())
	if r.Body != nil && r.Body != http.NoBody && r.GetBody != nil {
		b, err := r.GetBody()
		if err != nil {
			return nil, err
		}
		out.Body = b
	}
	if token != "" {
		out.Header.Set("Authorization", "Bearer "+token)
	}
	return t.base.RoundTrip(out)
}

// replayable reports whether r can be sent a second time.
func replayable(r *http.Request) bool {
	return r.Body == nil || r.Body == http.NoBody || r.GetBody != nil
}

func discard(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

func closeBody(r *http.Request) {
	if r.Body != nil {
		r.Body.Close()
	}
}
