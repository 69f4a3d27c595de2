package config

import (
	"encoding/json"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func ptr[T any](v T) *T { return &v }

func TestDefault(t *testing.T) {
	c := Default()
	require.NotNil(t, c.MCPServers)
	assert.Empty(t, c.MCPServers)
	assert.Equal(t, Gateway{
		Listen:             "127.0.0.1:8080",
		SessionIdleTimeout: Duration(30 * time.Minute),
		ShutdownGrace:      Duration(10 * time.Second),
		MaxBodyBytes:       4 << 20,
		Log:                Log{Level: "info", Format: "text"},
		Limits:             defaultLimits,
	}, c.Gateway)
	assert.NoError(t, c.Validate())
	assert.Empty(t, c.Enabled())
}

func TestDefaultPrefix(t *testing.T) {
	tests := []struct{ name, want string }{
		{"notion", "notion"},
		{"Brave-Search", "Brave-Search"},
		{"my server", "my-server"},
		{"a__b", "a-b"},
		{"a_b", "a-b"},
		{"a--b", "a-b"},
		{"a - b", "a-b"},
		{"--x--", "x"},
		{"_a_", "a"},
		{"A.B.C", "A-B-C"},
		{"ünïcode", "n-code"},
		{"日本", "upstream"},
		{"___", "upstream"},
		{"", "upstream"},
	}
	valid := regexp.MustCompile(`^[A-Za-z0-9]+(-[A-Za-z0-9]+)*$`)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := DefaultPrefix(tc.name)
			assert.Equal(t, tc.want, got)
			assert.Regexp(t, valid, got)
			assert.Equal(t, got, DefaultPrefix(tc.name), "deterministic")
		})
	}
}

func TestExposedPrefix(t *testing.T) {
	tests := []struct {
		name string
		u    Upstream
		want string
	}{
		{"default from name", Upstream{Name: "my server"}, "my-server"},
		{"explicit", Upstream{Name: "my server", Prefix: ptr("ms")}, "ms"},
		{"explicitly unprefixed", Upstream{Name: "my server", Prefix: ptr("")}, ""},
		{"no name", Upstream{}, "upstream"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, tc.u.ExposedPrefix())
		})
	}
}

func TestEnabled(t *testing.T) {
	c := &Config{MCPServers: map[string]*Upstream{
		"zeta":  {Name: "zeta", Command: "z"},
		"alpha": {Name: "alpha", Command: "a"},
		"off":   {Name: "off", Command: "o", Disabled: true},
		"mid":   {Name: "mid", URL: "https://example.com"},
		"nil":   nil,
	}}
	var names []string
	for _, u := range c.Enabled() {
		names = append(names, u.Name)
	}
	assert.Equal(t, []string{"alpha", "mid", "zeta"}, names)
	assert.Same(t, c.MCPServers["alpha"], c.Enabled()[0], "returns the config's own upstreams")
}

func TestDurationJSON(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    time.Duration
		wantErr error
	}{
		{"milliseconds", `"500ms"`, 500 * time.Millisecond, nil},
		{"compound", `"1m30s"`, 90 * time.Second, nil},
		{"zero", `"0s"`, 0, nil},
		{"null leaves unset", `null`, 0, nil},
		{"bare number", `45`, 0, ErrType},
		{"bare float", `1.5`, 0, ErrType},
		{"bool", `true`, 0, ErrType},
		{"no unit", `"30"`, 0, ErrInvalidValue},
		{"garbage", `"soon"`, 0, ErrInvalidValue},
		{"negative", `"-5s"`, 0, ErrInvalidValue},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d Duration
			err := json.Unmarshal([]byte(tc.in), &d)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				assert.NotContains(t, err.Error(), tc.in, "the value is not repeated")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, d.D())
		})
	}
	t.Run("bare number message", func(t *testing.T) {
		var d Duration
		assert.EqualError(t, json.Unmarshal([]byte(`30`), &d), `durations are strings like "30s"`)
	})
	t.Run("marshal", func(t *testing.T) {
		b, err := json.Marshal(struct {
			T Duration `json:"t"`
		}{Duration(90 * time.Second)})
		require.NoError(t, err)
		assert.JSONEq(t, `{"t": "1m30s"}`, string(b))
		assert.Equal(t, "1m30s", Duration(90*time.Second).String())
	})
}

// defaultLimits is gateway.limits as Parse fills it in.
var defaultLimits = Limits{
	RateLimitRPM: DefaultRateLimitRPM, Burst: DefaultRateLimitBurst, MaxMessageBytes: DefaultMaxMessageBytes,
	Breaker: Breaker{Failures: DefaultBreakerFailures, OpenTimeout: Duration(DefaultBreakerOpen)},
}
