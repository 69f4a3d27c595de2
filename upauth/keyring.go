package upauth

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	gokeyring "github.com/zalando/go-keyring"
)

// KeyringService is the service name under which records sit in the OS
// keyring (macOS Keychain, Windows Credential Manager, the Secret Service on
// Linux); each record's account is its [Key] as a string.
const KeyringService = "mcp-gateway"

// DefaultKeyringTimeout bounds one keyring call. A keyring can hang (a locked
// Secret Service waiting for a prompt nobody sees, a D-Bus without a daemon);
// the gateway must not.
const DefaultKeyringTimeout = 3 * time.Second

// Keyring is the OS keyring, as three calls.
type Keyring interface {
	Get(service, account string) (string, error)
	Set(service, account, secret string) error
	Delete(service, account string) error
}

// OSKeyring is the system keyring through github.com/zalando/go-keyring:
// /usr/bin/security on macOS, the Credential Manager on Windows, the Secret
// Service over D-Bus on Linux and the BSDs.
type OSKeyring struct{}

func (OSKeyring) Get(service, account string) (string, error) {
	s, err := gokeyring.Get(service, account)
	if errors.Is(err, gokeyring.ErrNotFound) {
		return "", ErrNotFound
	}
	return s, err
}

func (OSKeyring) Set(service, account, secret string) error {
	return gokeyring.Set(service, account, secret)
}

func (OSKeyring) Delete(service, account string) error {
	err := gokeyring.Delete(service, account)
	if errors.Is(err, gokeyring.ErrNotFound) {
		return nil
	}
	return err
}

// KeyringStore keeps records in the OS keyring and falls back to another
// store (the file store) when the keyring is absent, fails, refuses a record
// (Windows caps a credential at 2.5 KB) or does not answer within the
// timeout. After one failure it uses the fallback for the rest of the
// process, so a hung keyring costs one timeout, not one per request. A call
// that timed out is abandoned, not stopped: its goroutine ends when the
// keyring answers.
type KeyringStore struct {
	kr       Keyring
	fallback Store
	timeout  time.Duration
	log      *slog.Logger
	down     atomic.Bool
}

// NewKeyringStore returns a store in kr that falls back to fallback. A zero
// timeout means [DefaultKeyringTimeout]; a nil log discards.
func NewKeyringStore(kr Keyring, fallback Store, timeout time.Duration, log *slog.Logger) *KeyringStore {
	if timeout <= 0 {
		timeout = DefaultKeyringTimeout
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &KeyringStore{kr: kr, fallback: fallback, timeout: timeout, log: log}
}

var errKeyringTimeout = errors.New("the keyring did not answer in time")

// call runs fn with the store's timeout.
func (s *KeyringStore) call(ctx context.Context, fn func() (string, error)) (string, error) {
	type result struct {
		v   string
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := fn()
		done <- result{v, err}
	}()
	t := time.NewTimer(s.timeout)
	defer t.Stop()
	select {
	case r := <-done:
		return r.v, r.err
	case <-t.C:
		return "", errKeyringTimeout
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// failed switches to the fallback after a keyring error. The error text is
// the keyring's own and never holds the record.
func (s *KeyringStore) failed(op string, err error) {
	if !s.down.Swap(true) {
		s.log.Warn("OS keyring unavailable; using the file store instead", "op", op, "err", err)
	}
}

// Load reads k from the keyring, or from the fallback when the keyring is
// unavailable or holds nothing under k (a record saved while it was down).
func (s *KeyringStore) Load(ctx context.Context, k Key) ([]byte, error) {
	if !s.down.Load() {
		v, err := s.call(ctx, func() (string, error) { return s.kr.Get(KeyringService, k.String()) })
		switch {
		case err == nil:
			return []byte(v), nil
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case !notFound(err):
			s.failed("get", err)
		}
	}
	return s.fallback.Load(ctx, k)
}

// Save writes k to the keyring and removes any fallback copy, or writes the
// fallback when the keyring fails.
func (s *KeyringStore) Save(ctx context.Context, k Key, data []byte) error {
	if !s.down.Load() {
		_, err := s.call(ctx, func() (string, error) { return "", s.kr.Set(KeyringService, k.String(), string(data)) })
		if err == nil {
			return s.fallback.Delete(ctx, k)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, gokeyring.ErrSetDataTooBig) {
			// One record too big for this keyring; the keyring itself works.
			s.log.Warn("record too big for the OS keyring; kept in the file store", "kind", k.Kind)
			return s.fallback.Save(ctx, k, data)
		}
		s.failed("set", err)
	}
	return s.fallback.Save(ctx, k, data)
}

// Delete removes k from the keyring and from the fallback.
func (s *KeyringStore) Delete(ctx context.Context, k Key) error {
	if !s.down.Load() {
		_, err := s.call(ctx, func() (string, error) { return "", s.kr.Delete(KeyringService, k.String()) })
		if err != nil && !notFound(err) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s.failed("delete", err)
		}
	}
	return s.fallback.Delete(ctx, k)
}

var _ Store = (*KeyringStore)(nil)
