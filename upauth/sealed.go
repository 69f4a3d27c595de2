package upauth

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// TokenKeyEnv names the environment variable that holds the key of a
// [SealedStore]: 32 random bytes, written as base64 or as 64 hex digits
// (`openssl rand -base64 32`).
const TokenKeyEnv = "MCP_GATEWAY_TOKEN_KEY"

// ErrUnsealable means a sealed record could not be decrypted: the key is not
// the one it was sealed with, or the record was altered or moved to another
// key (each record is bound to its own key).
var ErrUnsealable = errors.New("stored record cannot be decrypted: wrong " + TokenKeyEnv + ", or the record was altered or moved")

// ParseTokenKey decodes a key as [TokenKeyEnv] holds it. Errors never repeat
// the value.
func ParseTokenKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("%s is not set", TokenKeyEnv)
	}
	if len(s) == 64 {
		if b, err := hex.DecodeString(s); err == nil {
			return b, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != 32 {
				return nil, fmt.Errorf("%s must hold 32 bytes, got %d", TokenKeyEnv, len(b))
			}
			return b, nil
		}
	}
	return nil, fmt.Errorf("%s must be 32 bytes in base64 or 64 hex digits", TokenKeyEnv)
}

// SealedStore encrypts every record with AES-256-GCM before it reaches the
// store beneath, with a fresh random nonce per write and the record's [Key]
// as additional data: a sealed record copied under another key (another
// identity's, another upstream's) does not decrypt. It is meant for the
// tokens the gateway holds on behalf of its identities, which the operator
// may keep on shared disks or volumes.
type SealedStore struct {
	base Store
	aead cipher.AEAD
}

// NewSealedStore returns a store that seals records into base with key, which
// must be 32 bytes.
func NewSealedStore(base Store, key []byte) (*SealedStore, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("sealed store: key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &SealedStore{base: base, aead: aead}, nil
}

// sealed is a record as SealedStore writes it: text, so any store can hold it.
type sealed struct {
	V     int    `json:"v"`
	Alg   string `json:"alg"`
	Nonce []byte `json:"nonce"`
	CT    []byte `json:"ct"`
}

const sealedAlg = "A256GCM"

// Save seals data and stores it under k.
func (s *SealedStore) Save(ctx context.Context, k Key, data []byte) error {
	nonce := make([]byte, s.aead.NonceSize())
	rand.Read(nonce) // never fails (crypto/rand)
	out, err := json.Marshal(sealed{V: 1, Alg: sealedAlg, Nonce: nonce, CT: s.aead.Seal(nil, nonce, data, []byte(k.String()))})
	if err != nil {
		return err
	}
	return s.base.Save(ctx, k, out)
}

// Load reads and opens the record under k.
func (s *SealedStore) Load(ctx context.Context, k Key) ([]byte, error) {
	raw, err := s.base.Load(ctx, k)
	if err != nil {
		return nil, err
	}
	var rec sealed
	if err := json.Unmarshal(raw, &rec); err != nil || rec.V != 1 || rec.Alg != sealedAlg || len(rec.Nonce) != s.aead.NonceSize() {
		return nil, ErrUnsealable
	}
	data, err := s.aead.Open(nil, rec.Nonce, rec.CT, []byte(k.String()))
	if err != nil {
		return nil, ErrUnsealable
	}
	return data, nil
}

// Delete removes the record under k.
func (s *SealedStore) Delete(ctx context.Context, k Key) error { return s.base.Delete(ctx, k) }

var _ Store = (*SealedStore)(nil)
