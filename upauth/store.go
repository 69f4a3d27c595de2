package upauth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"strings"
)

// ErrNotFound is returned by a [Store] for a key it holds nothing under. It
// is fs.ErrNotExist, so errors.Is works with either.
var ErrNotFound = fs.ErrNotExist

// Kinds of record a [Store] holds.
const (
	// KindClient is a client registration: client id, secret, redirect port.
	KindClient = "client"
	// KindToken is an upstream's tokens and login state.
	KindToken = "token"
)

// Key names one record of a Store. Kind is one of the Kind constants; Name is
// free text (an upstream name, an issuer, an identity) that a store must map
// to its own namespace safely.
type Key struct {
	Kind string
	Name string
}

// String is the key as one string, "kind/name", as the keyring stores it and
// as a [SealedStore] binds ciphertexts to it.
func (k Key) String() string { return k.Kind + "/" + k.Name }

// fileName is a name for k that is safe as one path element on every OS: a
// readable part (letters, digits, '-' and '_' of Name, at most 40 bytes) and
// a hash of the whole key, so distinct keys never share a file and Windows'
// reserved names (CON, NUL, ...) never occur.
func (k Key) fileName() string {
	var b strings.Builder
	for _, r := range k.Name {
		if b.Len() >= 40 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	sum := sha256.Sum256([]byte(k.String()))
	return b.String() + "-" + hex.EncodeToString(sum[:8]) + ".json"
}

// Store keeps small records (JSON documents holding secrets) by key.
// Implementations are safe for concurrent use; a Save replaces the whole
// record atomically, so a reader sees the old record or the new, never a mix.
type Store interface {
	// Load returns the record under k, or an error wrapping [ErrNotFound].
	Load(ctx context.Context, k Key) ([]byte, error)
	// Save stores data under k, replacing any record there.
	Save(ctx context.Context, k Key, data []byte) error
	// Delete removes the record under k. Deleting an absent record is not an error.
	Delete(ctx context.Context, k Key) error
}

// notFound reports whether err means the record is absent.
func notFound(err error) bool { return errors.Is(err, ErrNotFound) }
