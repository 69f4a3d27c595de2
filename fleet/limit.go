package fleet

import (
	"context"
	"time"

	"github.com/go-redis/redis_rate/v10"
)

// Allow takes one token from key's bucket of rpm requests a minute with the
// given burst (less than 1 counts as 1; rpm < 0 is unlimited), and reports
// false and how long to wait if it is empty. It is the one rate-limit gate
// of the front door (per identity; per remote address for failed
// authentications). With Redis up the bucket is the fleet's, a GCRA in Redis
// (redis_rate); otherwise it is this replica's own (ratelimit.Limiter), and
// the decision counts as degraded.
func (s *State) Allow(key string, rpm, burst int) (bool, time.Duration) {
	if rpm < 0 {
		return true, 0
	}
	if burst < 1 {
		burst = 1
	}
	if s.rdb == nil {
		return s.local.Allow(key, rpm, burst)
	}
	var res *redis_rate.Result
	ok := s.call(context.Background(), func(ctx context.Context) error {
		var err error
		res, err = s.rate.Allow(ctx, s.key("rl", key), redis_rate.Limit{Rate: rpm, Burst: burst, Period: time.Minute})
		return err
	})
	if !ok {
		s.degraded(KindRateLimit)
		return s.local.Allow(key, rpm, burst)
	}
	if res.Allowed > 0 {
		return true, 0
	}
	return false, res.RetryAfter
}
