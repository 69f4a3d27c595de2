package transport

import (
	"context"
	"github.com/mcp-gateway/mcp-gateway/policy"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAuthFailuresAreLimited: guessing keys from one address gets 429 after
// the burst, while a valid credential from the same address still works.
func TestAuthFailuresAreLimited(t *testing.T) {
	var mu sync.Mutex
	used := map[string]int{}
	o := HTTPOptions{
		Merged: mcp.NewServer(&mcp.Implementation{Name: "t"}, nil),
		Status: func() any { return nil },
		Ready:  func() bool { return true },
		Auth: AuthOptions{
			Authenticate: func(_ context.Context, h http.Header) (*policy.Identity, error) {
				if h.Get("X-Api-Key") == "good" {
					return &policy.Identity{Name: "good", Scopes: []string{"read"}}, nil
				}
				return nil, ErrUnauthenticated
			},
			Allow: func(key string, _, burst int) (bool, time.Duration) { // a bucket that never refills
				mu.Lock()
				defer mu.Unlock()
				used[key]++
				return used[key] <= burst, time.Minute
			},
		},
	}
	h := NewHandler(o, true)
	get := func(key string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "http://127.0.0.1/upstreams", nil)
		r.RemoteAddr = "127.0.0.1:5555"
		if key != "" {
			r.Header.Set("X-Api-Key", key)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for i := range authFailureBurst {
		require.Equal(t, http.StatusUnauthorized, get("guess").Code, "attempt %d", i)
	}
	w := get("guess")
	assert.Equal(t, http.StatusTooManyRequests, w.Code)
	assert.Equal(t, "60", w.Header().Get("Retry-After"))
	assert.Equal(t, http.StatusOK, get("good").Code, "a valid credential is not limited")
}
