// Package envelope reads the envelope of a JSON-RPC message — its top-level
// members — out of the message's bytes without decoding the values: the
// relay lane forwards a tools/call request and its result as bytes, and
// reads only the id, the method, the tool name and _meta.
//
// The functions expect JSON the caller has checked (json.Valid, as the HTTP
// front door and the upstream line reader do). On any input they never
// panic and never read past it; on valid JSON they agree with
// encoding/json. What they cannot read plainly (a key with escapes, a
// member given twice) they report as not understood, and the caller takes
// the general path. The package is a leaf: the standard library only.
package envelope

// Message holds the raw values of a JSON-RPC message's members; a member
// that is absent is nil.
type Message struct {
	Version, ID, Method, Params, Result, Error []byte
}

// Read reads the top-level members of the message b (one object, not a
// batch). It reports false if b is not an object, or has a member it cannot
// name plainly (an escaped key) or names twice, or a member other than the
// five of JSON-RPC 2.0.
func Read(b []byte) (Message, bool) {
	var m Message
	ok := Members(b, func(key, value []byte) bool {
		var slot *[]byte
		switch string(key) {
		case "jsonrpc":
			slot = &m.Version
		case "id":
			slot = &m.ID
		case "method":
			slot = &m.Method
		case "params":
			slot = &m.Params
		case "result":
			slot = &m.Result
		case "error":
			slot = &m.Error
		default:
			return false
		}
		if *slot != nil {
			return false
		}
		*slot = value
		return true
	})
	return m, ok
}

// Members calls f with the key (without its quotes) and the raw value of each
// member of the object b, in order, until f returns false. It reports
// whether b is an object whose members were all read and accepted: false if
// b is not an object, if a key holds an escape (its bytes are not its name),
// or if f returned false. Whitespace around b is allowed.
func Members(b []byte, f func(key, value []byte) bool) bool {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return skipSpace(b, i+1) == len(b)
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return false
		}
		end, escaped := stringEnd(b, i)
		if end < 0 || escaped {
			return false
		}
		key := b[i+1 : end-1]
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipSpace(b, i+1)
		vend := valueEnd(b, i)
		if vend < 0 {
			return false
		}
		if !f(key, b[i:vend]) {
			return false
		}
		i = skipSpace(b, vend)
		if i >= len(b) {
			return false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return skipSpace(b, i+1) == len(b)
		default:
			return false
		}
	}
}

// String returns the contents of the JSON string v without its quotes, if v
// is a string without escapes (whose bytes are then its value).
func String(v []byte) (string, bool) {
	if len(v) < 2 || v[0] != '"' {
		return "", false
	}
	end, escaped := stringEnd(v, 0)
	if end != len(v) || escaped {
		return "", false
	}
	return string(v[1 : len(v)-1]), true
}

// IsInteger reports whether v is a JSON number written as a plain integer
// (an optional minus and digits, no leading zero, no fraction or exponent)
// of at most 15 digits: exact as a float64, so one that every JSON-RPC
// implementation (go-sdk's included) reads and writes back as the same bytes.
func IsInteger(v []byte) bool {
	d := v
	if len(d) > 0 && d[0] == '-' {
		d = d[1:]
	}
	if len(d) == 0 || len(d) > 15 || (d[0] == '0' && len(d) > 1) {
		return false
	}
	for _, c := range d {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// stringEnd returns the index just past the string that starts at b[i] (a
// quote), and whether it holds an escape; -1 if it does not end.
func stringEnd(b []byte, i int) (int, bool) {
	escaped := false
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			return j + 1, escaped
		}
	}
	return -1, escaped
}

// valueEnd returns the index just past the value that starts at b[i], or -1.
// Objects and arrays are skipped by counting brackets outside strings; the
// caller's validation is what makes that exact.
func valueEnd(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch c := b[i]; {
	case c == '"':
		end, _ := stringEnd(b, i)
		return end
	case c == '{' || c == '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, _ := stringEnd(b, j)
				if end < 0 {
					return -1
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	default: // a number or a literal: up to the next delimiter
		j := i
		for j < len(b) {
			switch b[j] {
			case ',', '}', ']', ' ', '\t', '\r', '\n':
				if j == i {
					return -1
				}
				return j
			}
			j++
		}
		if j == i {
			return -1
		}
		return j
	}
}
