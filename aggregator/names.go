package aggregator

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// MaxNameLen is the longest exposed tool or prompt name. 64 is the limit of the
// strictest major client (SPEC §3); the MCP spec itself allows 128.
const MaxNameLen = 64

// Separator joins an upstream's prefix and a tool or prompt name.
const Separator = "__"

// hashLen is the number of hex digits of SHA-256 appended to a name that had to
// be mapped or shortened. 8 hex digits (32 bits) keep mapped names readable while
// making an accidental clash between two mapped names of one upstream unlikely;
// a clash that does happen is still detected and reported by the catalog.
const hashLen = 8

// ExposedName returns the name under which the upstream name is exposed with
// the given prefix ("" means unprefixed). The result always matches
// ^[A-Za-z0-9_-]{1,64}$. A name that is already valid is returned as
// prefix__name; otherwise characters outside the set are replaced by '_', the
// result is truncated, and a digest of the original joined name is appended,
// so the mapping is deterministic (stable across restarts) and distinct inputs
// keep distinct outputs.
//
// Routing never inverts this function: the catalog keeps a table from exposed
// name to (upstream, original name).
func ExposedName(prefix, name string) string {
	joined := name
	if prefix != "" {
		joined = prefix + Separator + name
	}
	if validName(joined) {
		return joined
	}
	var b strings.Builder
	for _, r := range joined {
		if validNameRune(r) {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	base := b.String()
	sum := sha256.Sum256([]byte(joined))
	suffix := "_" + hex.EncodeToString(sum[:])[:hashLen]
	if len(base) > MaxNameLen-len(suffix) {
		base = base[:MaxNameLen-len(suffix)]
	}
	return base + suffix
}

// validName reports whether s can be exposed unchanged.
func validName(s string) bool {
	if s == "" || len(s) > MaxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !validNameRune(rune(s[i])) {
			return false
		}
	}
	return true
}

func validNameRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-'
}
