package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRedisConfig(t *testing.T) {
	tests := []struct {
		name    string
		redis   string
		wantErr string // substring of the error; "" means valid
	}{
		{"plain", `{"url":"redis://127.0.0.1:6379/0"}`, ""},
		{"tls with password", `{"url":"rediss://user:pw@redis.internal:6380/2","timeout":"250ms","prefix":"gw1:"}`, ""},
		{"no db", `{"url":"redis://redis:6379"}`, ""},
		{"missing url", `{}`, "gateway.redis.url"},
		{"http scheme", `{"url":"http://127.0.0.1:6379"}`, "scheme must be redis or rediss"},
		{"no host", `{"url":"redis:///0"}`, "no host"},
		{"bad db", `{"url":"redis://127.0.0.1:6379/x"}`, "database number"},
		{"bad port", `{"url":"redis://127.0.0.1:99999/0"}`, "port must be"},
		{"negative timeout", `{"url":"redis://127.0.0.1:6379","timeout":"-1s"}`, "gateway.redis.timeout"},
		{"prefix with space", `{"url":"redis://127.0.0.1:6379","prefix":"a b"}`, "gateway.redis.prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(strings.NewReader(`{"mcpServers":{},"gateway":{"redis":` + tt.redis + `}}`))
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.NotNil(t, c.Gateway.Redis)
			assert.NotEmpty(t, c.Gateway.Redis.Prefix)
			assert.Positive(t, c.Gateway.Redis.Timeout)
		})
	}
	c, err := Parse(strings.NewReader(`{"mcpServers":{}}`))
	require.NoError(t, err)
	assert.Nil(t, c.Gateway.Redis, "no gateway.redis: state stays in the process")
}

func TestRedactURL(t *testing.T) {
	got := RedactURL("redis://user:s3cret@host:6379/1")
	assert.NotContains(t, got, "s3cret")
	assert.True(t, strings.HasPrefix(got, "redis://user:[redacted]@host:6379/1"), got)
	assert.Equal(t, "redis://host:6379/0", RedactURL("redis://host:6379/0"))
}
