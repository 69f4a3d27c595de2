package upauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// OAuthError is an error response of a token endpoint (RFC 6749 §5.2).
type OAuthError struct {
	// Code is the error code, such as "invalid_grant".
	Code string
	// Description is the server's error_description, shortened, with
	// anything the request sent as a secret removed.
	Description string
}

func (e *OAuthError) Error() string {
	if e.Description == "" {
		return "token endpoint: " + e.Code
	}
	return "token endpoint: " + e.Code + ": " + e.Description
}

// tokenResponse is a successful token endpoint response.
type tokenResponse struct {
	AccessToken  string          `json:"access_token"`
	TokenType    string          `json:"token_type"`
	ExpiresIn    json.RawMessage `json:"expires_in"`
	RefreshToken string          `json:"refresh_token"`
	Scope        string          `json:"scope"`
}

// expiresIn reads expires_in, which some servers send as a string.
func (t *tokenResponse) expiresIn() time.Duration {
	s := strings.Trim(string(t.ExpiresIn), `"`)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0
	}
	return time.Duration(n) * time.Second
}

// maxTokenResponse caps a token endpoint response.
const maxTokenResponse = 1 << 20

// tokenRequest posts form to endpoint, authenticating as client c (with
// secret) by its token_endpoint_auth_method, and returns the tokens. Its
// errors never hold the response body or anything sent: a misbehaving server
// may echo the code, the verifier or the refresh token.
func tokenRequest(ctx context.Context, hc *http.Client, endpoint string, form url.Values, c *clientRecord, secret string) (*tokenResponse, error) {
	switch c.AuthMethod {
	case "client_secret_basic":
		// RFC 6749 §2.3.1: id and secret are form-encoded before Basic encoding.
	case "client_secret_post":
		form.Set("client_id", c.ClientID)
		form.Set("client_secret", secret)
	default:
		form.Set("client_id", c.ClientID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if c.AuthMethod == "client_secret_basic" {
		req.SetBasicAuth(url.QueryEscape(c.ClientID), url.QueryEscape(secret))
	}
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is the endpoint's, but keep messages short
		}
		return nil, fmt.Errorf("token endpoint: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponse+1))
	if err != nil {
		return nil, fmt.Errorf("token endpoint: reading the response: %w", err)
	}
	if len(body) > maxTokenResponse {
		return nil, errors.New("token endpoint: response too large")
	}
	secrets := []string{form.Get("code"), form.Get("code_verifier"), form.Get("refresh_token"), secret}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(body, &e) == nil && isErrorCode(e.Error) {
			return nil, &OAuthError{Code: e.Error, Description: scrub(e.Description, secrets)}
		}
		return nil, fmt.Errorf("token endpoint answered %s", resp.Status)
	}
	var t tokenResponse
	if err := json.Unmarshal(body, &t); err != nil {
		return nil, errors.New("token endpoint: the response is not a JSON token response")
	}
	if t.AccessToken == "" {
		return nil, errors.New("token endpoint: the response has no access_token")
	}
	if t.TokenType != "" && !strings.EqualFold(t.TokenType, "bearer") {
		return nil, fmt.Errorf("token endpoint: unsupported token_type %q", scrub(t.TokenType, secrets))
	}
	return &t, nil
}

// isErrorCode reports whether s looks like an OAuth error code (RFC 6749
// limits them to printable ASCII without '"' and '\').
func isErrorCode(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return false
		}
	}
	return true
}

// scrub shortens a server-supplied text to one printable line of at most 200
// characters and removes the given secrets from it.
func scrub(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return ' '
	}, s)
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return s
}
