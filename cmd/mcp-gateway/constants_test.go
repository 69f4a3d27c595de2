package main

import (
	"testing"

	"github.com/mcp-gateway/mcp-gateway/auth"
	"github.com/mcp-gateway/mcp-gateway/config"
	"github.com/mcp-gateway/mcp-gateway/policy"
	"github.com/stretchr/testify/assert"
)

// TestConstantsAgree pins the constants config (stdlib-only, so it cannot
// import them) keeps its own copy of: config validates with them what auth
// and policy then apply.
func TestConstantsAgree(t *testing.T) {
	tests := []struct {
		name         string
		config, auth any
	}{
		{"default agent token ttl", config.DefaultAgentTokenTTL, auth.DefaultAgentTokenTTL},
		{"default agent token max ttl", config.DefaultAgentTokenMaxTTL, auth.DefaultAgentTokenMaxTTL},
		{"default oauth leeway", config.DefaultOAuthLeeway, auth.DefaultOAuthLeeway},
		{"default jwks refresh interval", config.DefaultJWKSRefreshMinInterval, auth.DefaultJWKSRefreshMinInterval},
		{"max oauth leeway", config.MaxOAuthLeeway, auth.MaxOAuthLeeway},
		{"max credential bytes", config.MaxCredentialBytes, auth.MaxCredentialBytes},
		{"min agent secret bytes", config.MinAgentSecretBytes, auth.MinAgentSecretBytes},
		{"key digest prefix", config.KeyDigestPrefix, auth.KeyDigestPrefix},
		{"scope read", config.ScopeRead, policy.ScopeRead},
		{"scope write", config.ScopeWrite, policy.ScopeWrite},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { assert.EqualValues(t, tc.config, tc.auth) })
	}
}
