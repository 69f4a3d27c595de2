package auth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"unicode"
)

// Reasons checkCompact gives. Fixed strings: they never quote the token.
var (
	errCompactSize    = errors.New("token too long")
	errCompactShape   = errors.New("malformed token: want three base64url segments without padding")
	errCompactJSON    = errors.New("malformed token: header and payload must be JSON objects")
	errCompactDupKey  = errors.New("malformed token: duplicate JSON key")
	errCompactCrit    = errors.New("unsupported critical header extension")
	errCompactNoSig   = errors.New("token has no signature")
	errCompactTooDeep = errors.New("malformed token: JSON nested too deeply")
)

// maxJSONDepth bounds the nesting of a token's header and payload.
const maxJSONDepth = 32

// checkCompact checks what golang-jwt leaves open in a compact JWS before it is parsed:
//   - three segments of canonical unpadded base64url, the signature not empty (SECURITY.md J14, J17);
//   - header and payload JSON objects without duplicate keys, comparing keys as encoding/json
//     matches them, case-insensitively, so that the issuer and this gateway cannot read different
//     claims from one token (J19);
//   - no "crit" header: this gateway understands no JWS extension, so RFC 7515 §4.1.11 requires
//     rejecting any that is marked critical (J18).
func checkCompact(tok string) error {
	if len(tok) > MaxCredentialBytes {
		return errCompactSize
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return errCompactShape
	}
	enc := base64.RawURLEncoding.Strict()
	var segs [3][]byte
	for i, p := range parts {
		if strings.ContainsFunc(p, func(r rune) bool { return !isBase64URL(r) }) {
			return errCompactShape
		}
		b, err := enc.DecodeString(p)
		if err != nil {
			return errCompactShape
		}
		segs[i] = b
	}
	if len(segs[2]) == 0 {
		return errCompactNoSig
	}
	for _, seg := range segs[:2] {
		if err := checkJSONObject(seg); err != nil {
			return err
		}
	}
	var header map[string]json.RawMessage
	if err := json.Unmarshal(segs[0], &header); err != nil {
		return errCompactJSON
	}
	if _, ok := header["crit"]; ok {
		return errCompactCrit
	}
	return nil
}

func isBase64URL(r rune) bool {
	return r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_'
}

// checkJSONObject checks that data is one JSON object in which no object has two keys that
// encoding/json would match to the same struct field.
func checkJSONObject(data []byte) error {
	if !json.Valid(data) {
		return errCompactJSON
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	t, err := dec.Token()
	if err != nil || t != json.Delim('{') {
		return errCompactJSON
	}
	if err := checkObject(dec, 1); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errCompactJSON
	}
	return nil
}

// checkObject reads the rest of an object whose '{' has been read.
func checkObject(dec *json.Decoder, depth int) error {
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return errCompactJSON
		}
		k := foldKey(t.(string))
		if seen[k] {
			return errCompactDupKey
		}
		seen[k] = true
		if err := checkValue(dec, depth); err != nil {
			return err
		}
	}
	_, err := dec.Token() // '}'
	if err != nil {
		return errCompactJSON
	}
	return nil
}

// checkValue reads one value, checking the objects in it.
func checkValue(dec *json.Decoder, depth int) error {
	if depth > maxJSONDepth {
		return errCompactTooDeep
	}
	t, err := dec.Token()
	if err != nil {
		return errCompactJSON
	}
	switch t {
	case json.Delim('{'):
		return checkObject(dec, depth+1)
	case json.Delim('['):
		for dec.More() {
			if err := checkValue(dec, depth+1); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return errCompactJSON
		}
	}
	return nil
}

// foldKey maps every rune of s to the smallest rune of its Unicode simple case-folding orbit, so
// that foldKey(a) == foldKey(b) exactly when strings.EqualFold(a, b), which is how encoding/json
// matches object keys to struct fields.
func foldKey(s string) string {
	return strings.Map(func(r rune) rune {
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			m = min(m, f)
		}
		return m
	}, s)
}
