package upauth

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// approveAt follows authURL as the approving user's browser and returns the
// query of the redirect to the gateway's callback (not followed).
func approveAt(t *testing.T, authURL, user string) url.Values {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(authURL + "&test_user=" + user)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	return loc.Query()
}

func TestWebLogin(t *testing.T) {
	as := startAuthServer(t)
	up := as.upstream("notion")
	clk := &clock{}
	base := newManager(t, "", nil, clk.now)
	key := make([]byte, 32)
	alice, err := base.ForIdentity("api_key:alice", key)
	require.NoError(t, err)
	bob, err := base.ForIdentity("api_key:bob", key)
	require.NoError(t, err)
	ctx := context.Background()
	const callback = "http://127.0.0.1:8080/oauth/callback" // the test server takes loopback redirect URIs only

	_, err = base.StartWebLogin(ctx, up, callback)
	require.Error(t, err, "the web flow is for an identity")

	// Alice logs in; her tokens are hers, sealed, and refresh with the web
	// flow's own registration.
	wl, err := alice.StartWebLogin(ctx, up, callback)
	require.NoError(t, err)
	assert.Contains(t, wl.AuthURL, "redirect_uri="+url.QueryEscape(callback))
	q := approveAt(t, wl.AuthURL, "alice")
	forged := url.Values{"state": {"forged"}, "code": q["code"], "iss": q["iss"]}
	_, err = wl.Finish(ctx, forged)
	require.Error(t, err, "another state")
	st, err := wl.Finish(ctx, q)
	require.NoError(t, err)
	assert.Equal(t, StateLoggedIn, st.State)
	got, err := whoami(t, alice, up)
	require.NoError(t, err)
	assert.Equal(t, "alice", got["user"])
	_, err = whoami(t, bob, up)
	require.ErrorIs(t, err, ErrNeedsLogin, "alice's login is not bob's")
	_, err = whoami(t, base, up)
	require.ErrorIs(t, err, ErrNeedsLogin, "nor the gateway's own")

	// A login not finished within the TTL is refused.
	wl, err = bob.StartWebLogin(ctx, up, callback)
	require.NoError(t, err)
	q = approveAt(t, wl.AuthURL, "bob")
	clk.advance(WebLoginTTL + time.Second)
	_, err = wl.Finish(ctx, q)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "took longer")
	st, err = bob.Status(ctx, up)
	require.NoError(t, err)
	assert.Equal(t, StateNeedsLogin, st.State)

	// The web registration is made once (and apart from the loopback one).
	wl, err = bob.StartWebLogin(ctx, up, callback)
	require.NoError(t, err)
	_, err = wl.Finish(ctx, approveAt(t, wl.AuthURL, "bob"))
	require.NoError(t, err)
	got, err = whoami(t, bob, up)
	require.NoError(t, err)
	assert.Equal(t, "bob", got["user"])
	assert.Equal(t, 1, as.count(t, "registrations"))
}
