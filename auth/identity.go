package auth

import (
	"context"
	"net/http"

	sdkauth "github.com/modelcontextprotocol/go-sdk/auth"
)

// Verifier returns a verifier for sdkauth.RequireBearerToken, which puts the TokenInfo where the
// SDK's streamable handler finds it (and binds sessions to its UserID). The verifier ignores the
// token it is given and authenticates all of the request's headers with [Authenticator.Authenticate],
// so its precedence applies. RequireBearerToken answers 401 by itself, before calling the
// verifier, when the request has no "Authorization: Bearer <token>" header: a caller that accepts
// X-Api-Key or X-Agent-Token alone must add a placeholder bearer header to such requests. Set
// RequireBearerTokenOptions.AllowMissingExpiration, since API keys do not expire.
func (a *Authenticator) Verifier() sdkauth.TokenVerifier {
	return func(ctx context.Context, _ string, req *http.Request) (*sdkauth.TokenInfo, error) {
		var h http.Header
		if req != nil {
			h = req.Header
		}
		id, err := a.Authenticate(ctx, h)
		if err != nil {
			return nil, err
		}
		return id.TokenInfo(), nil
	}
}
