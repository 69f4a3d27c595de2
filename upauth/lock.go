package upauth

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/gofrs/flock"
)

// lockRetry is how often a waiting process retries a held lock.
const lockRetry = 20 * time.Millisecond

// lock takes the cross-process lock of k (a file lock under dir/locks: flock
// on Unix, LockFileEx on Windows), waiting until ctx is done. Readers need no
// lock (records are replaced atomically); the lock serializes
// read-refresh-write, so two processes never spend the same refresh token.
// It also excludes other goroutines of this process: each call opens the
// lock file anew, and these locks belong to the open file.
func (m *Manager) lock(ctx context.Context, k Key) (unlock func(), err error) {
	dir := filepath.Join(m.dir, "locks")
	if err := ensureDir(m.dir); err != nil {
		return nil, err
	}
	if err := ensureDir(dir); err != nil {
		return nil, err
	}
	fl := flock.New(filepath.Join(dir, strings.TrimSuffix(k.fileName(), ".json")+".lock"), flock.SetPermissions(0o600))
	ok, err := fl.TryLockContext(ctx, lockRetry)
	if err != nil {
		return nil, fmt.Errorf("locking the token store: %w", err)
	}
	if !ok {
		return nil, fmt.Errorf("locking the token store: %w", context.Cause(ctx))
	}
	return func() { fl.Unlock() }, nil
}
