package config

import "time"

// Defaults of the limits settings.
const (
	DefaultInitTimeout     = 30 * time.Second
	DefaultRateLimitRPM    = 1200
	DefaultRateLimitBurst  = 200
	DefaultBreakerFailures = 5
	DefaultBreakerOpen     = 30 * time.Second
	DefaultMaxMessageBytes = 16 << 20
)

// Limits are the gateway-wide limits (gateway.limits).
type Limits struct {
	// RateLimitRPM is the default per-identity request rate, in requests per
	// minute, for identities that set none: -1 means unlimited. Parse sets it
	// to DefaultRateLimitRPM when unset.
	RateLimitRPM int `json:"rate_limit_rpm,omitempty"`
	// Burst is the default per-identity burst. Parse sets it to
	// DefaultRateLimitBurst when unset.
	Burst int `json:"burst,omitempty"`
	// MaxMessageBytes caps one message from an upstream. A stdio upstream
	// that sends more is restarted. Parse sets it to DefaultMaxMessageBytes.
	MaxMessageBytes int `json:"max_message_bytes,omitempty"`
	// Breaker configures the per-upstream circuit breakers.
	Breaker Breaker `json:"breaker,omitempty"`
}

// Breaker configures the per-upstream circuit breakers (gateway.limits.breaker).
type Breaker struct {
	// Failures is how many consecutive upstream failures (transport errors,
	// timeouts, crashes) open the breaker. Parse sets it to
	// DefaultBreakerFailures; -1 disables the breakers.
	Failures int `json:"failures,omitempty"`
	// OpenTimeout is how long an open breaker fails calls fast before it lets
	// one probe through (half-open). Parse sets it to DefaultBreakerOpen.
	OpenTimeout Duration `json:"open_timeout,omitempty"`
}

func (l *Limits) applyDefaults() {
	if l.RateLimitRPM == 0 {
		l.RateLimitRPM = DefaultRateLimitRPM
	}
	if l.Burst == 0 {
		l.Burst = DefaultRateLimitBurst
	}
	if l.MaxMessageBytes == 0 {
		l.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if l.Breaker.Failures == 0 {
		l.Breaker.Failures = DefaultBreakerFailures
	}
	if l.Breaker.OpenTimeout == 0 {
		l.Breaker.OpenTimeout = Duration(DefaultBreakerOpen)
	}
}

func validateLimits(errs *errorList, l *Limits) {
	const p = "gateway.limits"
	if l.RateLimitRPM < -1 {
		errs.add(p+".rate_limit_rpm", detail(ErrInvalidValue, "must be positive, or -1 for unlimited"))
	}
	if l.Burst < 0 {
		errs.add(p+".burst", errNotPositive)
	}
	if l.MaxMessageBytes < 0 || (l.MaxMessageBytes > 0 && l.MaxMessageBytes < 1024) {
		errs.add(p+".max_message_bytes", detail(ErrInvalidValue, "must be at least 1024"))
	}
	if l.Breaker.Failures < -1 {
		errs.add(p+".breaker.failures", detail(ErrInvalidValue, "must be positive, or -1 to disable the breakers"))
	}
	if l.Breaker.OpenTimeout < 0 {
		errs.add(p+".breaker.open_timeout", detail(ErrInvalidValue, "must not be negative"))
	}
}

// validateUpstreamLimits checks an upstream's limit settings at path p.
func validateUpstreamLimits(errs *errorList, p string, u *Upstream) {
	if u.InitTimeout < 0 {
		errs.add(child(p, "init_timeout"), detail(ErrInvalidValue, "must not be negative"))
	}
	if u.MaxConcurrency < 0 {
		errs.add(child(p, "max_concurrency"), detail(ErrInvalidValue, "must be positive (0 means no cap)"))
	}
}
