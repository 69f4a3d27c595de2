package ratelimit

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLimiter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := New(time.Minute)
		for range 2 {
			ok, _ := l.Allow("a", 60, 2)
			require.True(t, ok)
		}
		ok, wait := l.Allow("a", 60, 2)
		assert.False(t, ok)
		assert.Equal(t, time.Second, wait)
		ok, _ = l.Allow("b", 60, 2)
		assert.True(t, ok, "another identity has its own bucket")
		time.Sleep(time.Second)
		ok, _ = l.Allow("a", 60, 2)
		assert.True(t, ok)
		ok, _ = l.Allow("u", -1, 0)
		assert.True(t, ok, "-1 is unlimited")

		// Memory does not grow with distinct callers: idle buckets go.
		for i := range 10000 {
			l.Allow(fmt.Sprint("bogus-", i), 60, 1)
		}
		assert.Equal(t, 10002, l.Len())
		time.Sleep(2 * time.Minute)
		l.Allow("a", 60, 2)
		assert.Equal(t, 1, l.Len())
	})
}

// TestLimitChange: a reload that leaves an identity's limit as it was keeps
// its bucket (what it spent stays spent); a new limit starts a new bucket.
func TestLimitChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := New(time.Minute)
		ok, _ := l.Allow("a", 1, 1)
		require.True(t, ok)
		ok, _ = l.Allow("a", 1, 1)
		assert.False(t, ok, "the same limit: the same, empty bucket")
		ok, _ = l.Allow("a", 2, 1)
		assert.True(t, ok, "a new limit: a new bucket")
		ok, _ = l.Allow("a", 2, 1)
		assert.False(t, ok)
	})
}
