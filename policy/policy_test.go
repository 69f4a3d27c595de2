package policy

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestNewNames(t *testing.T) {
	assert.Equal(t, "api_key:alice", New(Identity{Kind: KindAPIKey, Owner: "alice"}).Name)
	assert.Equal(t, "agent:alice/bot", New(Identity{Kind: KindAgent, Owner: "alice", Agent: "bot"}).Name)
	assert.Equal(t, "local:local", Local().Name)
}

func TestDecisions(t *testing.T) {
	reader := New(Identity{Kind: KindAPIKey, Owner: "r", Upstreams: []string{"notes"}, Scopes: []string{ScopeRead}})
	writer := New(Identity{Kind: KindAPIKey, Owner: "w", Upstreams: []string{AllUpstreams}, Tools: []string{"notes__*"}, Scopes: []string{ScopeWrite}})
	none := New(Identity{Kind: KindAPIKey, Owner: "n", Upstreams: []string{AllUpstreams}})
	var nobody *Identity
	tests := []struct {
		name string
		got  bool
		want bool
	}{
		{"reader calls a read-only tool", reader.MayCall("notes", "notes__list", true), true},
		{"reader may not call a writing tool", reader.MayCall("notes", "notes__add", false), false},
		{"reader may not use another upstream", reader.MayCall("toolbox", "toolbox__hash", true), false},
		{"reader reads its upstream", reader.MayRead("notes"), true},
		{"reader is restricted", reader.Unrestricted(), false},
		{"writer calls within its globs", writer.MayCall("notes", "notes__add", false), true},
		{"writer may not call outside its globs", writer.MayCall("toolbox", "toolbox__hash", false), false},
		{"writer reads any upstream", writer.MayRead("toolbox"), true},
		{"writer with tool globs is restricted", writer.Unrestricted(), false},
		{"no scope may not use MCP", none.MayUseMCP(), false},
		{"no scope reads nothing", none.MayRead("notes"), false},
		{"local is unrestricted", Local().Unrestricted(), true},
		{"nil allows no upstream", nobody.AllowsUpstream("x"), false},
		{"nil allows no tool", nobody.AllowsTool("x"), false},
		{"nil is not unrestricted", nobody.Unrestricted(), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { assert.Equal(t, tc.want, tc.got) })
	}
}

func TestTokenInfoRoundTrip(t *testing.T) {
	id := New(Identity{Kind: KindOAuth, Owner: "sub-1", Scopes: []string{ScopeRead}})
	ti := id.TokenInfo()
	assert.Equal(t, "oauth:sub-1", ti.UserID)
	assert.Same(t, id, FromTokenInfo(ti))
	assert.Nil(t, FromTokenInfo(nil))
}

// TestTokenInfoBuiltOnce: a record from New hands out one token info for
// every request; a copy of a record gets its own.
func TestTokenInfoBuiltOnce(t *testing.T) {
	id := New(Identity{Kind: KindAPIKey, Owner: "alice", Scopes: []string{ScopeRead}})
	assert.Same(t, id.TokenInfo(), id.TokenInfo())
	c := *id
	c.Scopes = []string{ScopeWrite}
	assert.Same(t, &c, FromTokenInfo(c.TokenInfo()), "a copy's token info names the copy")
	assert.Equal(t, []string{ScopeWrite}, c.TokenInfo().Scopes)
	lit := &Identity{Name: "lit"}
	assert.Same(t, lit, FromTokenInfo(lit.TokenInfo()), "a record not built by New still works")
}
