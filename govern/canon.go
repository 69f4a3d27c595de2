package govern

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth is the deepest nesting of arrays and objects Canonicalize accepts.
const MaxDepth = 1000

// ErrNotCanonicalizable wraps every error of [Canonicalize]: the input is not
// I-JSON (RFC 7493), which RFC 8785 requires.
var ErrNotCanonicalizable = errors.New("not canonicalizable JSON")

// Canonicalize returns the RFC 8785 (JCS) canonical form of the JSON text
// data: no whitespace, object members sorted by the UTF-16 code units of
// their names, numbers in ECMAScript's shortest round-trip form, strings with
// only the escapes JSON requires. The input must be I-JSON: valid UTF-8, no
// lone surrogate escapes, no duplicate member names, numbers that are finite
// IEEE 754 doubles. Canonicalize(Canonicalize(x)) == Canonicalize(x).
func Canonicalize(data []byte) ([]byte, error) {
	p := &canonParser{data: data}
	p.space()
	out, err := p.value(nil, 0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.pos != len(p.data) {
		return nil, p.errorf("data after the JSON value")
	}
	return out, nil
}

// member is one name/value pair of an object, both in canonical form.
type member struct {
	name  string   // decoded
	units []uint16 // name as UTF-16, the sort key
	value []byte   // canonical
}

// canonicalMembers returns the members of the JSON object data, sorted, each
// value canonical. It is Canonicalize for a top-level object, keeping the
// members apart so that each can be digested on its own.
func canonicalMembers(data []byte) ([]member, error) {
	p := &canonParser{data: data}
	p.space()
	if p.pos >= len(p.data) || p.data[p.pos] != '{' {
		return nil, p.errorf("want a JSON object")
	}
	ms, err := p.members(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.pos != len(p.data) {
		return nil, p.errorf("data after the JSON value")
	}
	return ms, nil
}

// joinMembers writes sorted members as a canonical object.
func joinMembers(ms []member) []byte {
	n := 2
	for _, m := range ms {
		n += len(m.name) + len(m.value) + 4
	}
	out := make([]byte, 0, n)
	out = append(out, '{')
	for i, m := range ms {
		if i > 0 {
			out = append(out, ',')
		}
		out = appendString(out, m.name)
		out = append(out, ':')
		out = append(out, m.value...)
	}
	return append(out, '}')
}

type canonParser struct {
	data []byte
	pos  int
}

func (p *canonParser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: offset %d: %s", ErrNotCanonicalizable, p.pos, fmt.Sprintf(format, args...))
}

func (p *canonParser) space() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// value appends the canonical form of the value at p.pos to out.
func (p *canonParser) value(out []byte, depth int) ([]byte, error) {
	if p.pos >= len(p.data) {
		return nil, p.errorf("unexpected end of input")
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		ms, err := p.members(depth)
		if err != nil {
			return nil, err
		}
		return append(out, joinMembers(ms)...), nil
	case c == '[':
		return p.array(out, depth)
	case c == '"':
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		return appendString(out, s), nil
	case c == '-' || c >= '0' && c <= '9':
		return p.number(out)
	}
	for _, lit := range []string{"true", "false", "null"} {
		if strings.HasPrefix(string(p.data[p.pos:min(len(p.data), p.pos+5)]), lit) {
			p.pos += len(lit)
			return append(out, lit...), nil
		}
	}
	return nil, p.errorf("unexpected character %q", p.data[p.pos])
}

// members reads the object at p.pos and returns its members sorted.
func (p *canonParser) members(depth int) ([]member, error) {
	if depth >= MaxDepth {
		return nil, p.errorf("nested deeper than %d", MaxDepth)
	}
	p.pos++ // '{'
	var ms []member
	p.space()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return ms, nil
	}
	for {
		p.space()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return nil, p.errorf("want a member name")
		}
		name, err := p.str()
		if err != nil {
			return nil, err
		}
		p.space()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return nil, p.errorf("want ':' after a member name")
		}
		p.pos++
		p.space()
		v, err := p.value(nil, depth+1)
		if err != nil {
			return nil, err
		}
		ms = append(ms, member{name: name, units: utf16.Encode([]rune(name)), value: v})
		p.space()
		if p.pos >= len(p.data) {
			return nil, p.errorf("unexpected end of input in an object")
		}
		if p.data[p.pos] == '}' {
			p.pos++
			break
		}
		if p.data[p.pos] != ',' {
			return nil, p.errorf("want ',' or '}' in an object")
		}
		p.pos++
	}
	slices.SortFunc(ms, func(a, b member) int { return slices.Compare(a.units, b.units) })
	for i := 1; i < len(ms); i++ {
		if ms[i].name == ms[i-1].name {
			return nil, p.errorf("duplicate member name %q", ms[i].name)
		}
	}
	return ms, nil
}

func (p *canonParser) array(out []byte, depth int) ([]byte, error) {
	if depth >= MaxDepth {
		return nil, p.errorf("nested deeper than %d", MaxDepth)
	}
	p.pos++ // '['
	out = append(out, '[')
	p.space()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return append(out, ']'), nil
	}
	for first := true; ; first = false {
		if !first {
			out = append(out, ',')
		}
		p.space()
		var err error
		if out, err = p.value(out, depth+1); err != nil {
			return nil, err
		}
		p.space()
		if p.pos >= len(p.data) {
			return nil, p.errorf("unexpected end of input in an array")
		}
		if p.data[p.pos] == ']' {
			p.pos++
			return append(out, ']'), nil
		}
		if p.data[p.pos] != ',' {
			return nil, p.errorf("want ',' or ']' in an array")
		}
		p.pos++
	}
}

// str reads the string at p.pos (which is '"') and returns it decoded.
func (p *canonParser) str() (string, error) {
	p.pos++
	var b []byte
	for {
		if p.pos >= len(p.data) {
			return "", p.errorf("unterminated string")
		}
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			return string(b), nil
		case c == '\\':
			r, err := p.escape()
			if err != nil {
				return "", err
			}
			b = utf8.AppendRune(b, r)
		case c < 0x20:
			return "", p.errorf("control character %#02x in a string", c)
		case c < utf8.RuneSelf:
			b = append(b, c)
			p.pos++
		default:
			r, n := utf8.DecodeRune(p.data[p.pos:])
			if r == utf8.RuneError && n <= 1 {
				return "", p.errorf("invalid UTF-8")
			}
			b = append(b, p.data[p.pos:p.pos+n]...)
			p.pos += n
		}
	}
}

// escape reads one escape sequence, a surrogate pair counting as one.
func (p *canonParser) escape() (rune, error) {
	if p.pos+1 >= len(p.data) {
		return 0, p.errorf("unterminated escape")
	}
	c := p.data[p.pos+1]
	p.pos += 2
	switch c {
	case '"', '\\', '/':
		return rune(c), nil
	case 'b':
		return '\b', nil
	case 'f':
		return '\f', nil
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 't':
		return '\t', nil
	case 'u':
		r, err := p.hex4()
		if err != nil {
			return 0, err
		}
		if utf16.IsSurrogate(r) {
			if r >= 0xDC00 || p.pos+1 >= len(p.data) || p.data[p.pos] != '\\' || p.data[p.pos+1] != 'u' {
				return 0, p.errorf("lone surrogate \\u%04x", r)
			}
			p.pos += 2
			r2, err := p.hex4()
			if err != nil {
				return 0, err
			}
			pair := utf16.DecodeRune(r, r2)
			if pair == utf8.RuneError {
				return 0, p.errorf("lone surrogate \\u%04x", r)
			}
			return pair, nil
		}
		return r, nil
	}
	return 0, p.errorf("invalid escape \\%c", c)
}

func (p *canonParser) hex4() (rune, error) {
	if p.pos+4 > len(p.data) {
		return 0, p.errorf("short \\u escape")
	}
	v, err := strconv.ParseUint(string(p.data[p.pos:p.pos+4]), 16, 16)
	if err != nil {
		return 0, p.errorf("invalid \\u escape")
	}
	p.pos += 4
	return rune(v), nil
}

// number reads a number with RFC 8259's grammar and appends its ECMAScript
// form.
func (p *canonParser) number(out []byte) ([]byte, error) {
	start := p.pos
	digits := func() int {
		n := 0
		for p.pos < len(p.data) && p.data[p.pos] >= '0' && p.data[p.pos] <= '9' {
			p.pos++
			n++
		}
		return n
	}
	if p.data[p.pos] == '-' {
		p.pos++
	}
	switch {
	case p.pos < len(p.data) && p.data[p.pos] == '0':
		p.pos++
	case digits() == 0:
		return nil, p.errorf("invalid number")
	}
	if p.pos < len(p.data) && p.data[p.pos] == '.' {
		p.pos++
		if digits() == 0 {
			return nil, p.errorf("invalid number: no digits after '.'")
		}
	}
	if p.pos < len(p.data) && (p.data[p.pos] == 'e' || p.data[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.data) && (p.data[p.pos] == '+' || p.data[p.pos] == '-') {
			p.pos++
		}
		if digits() == 0 {
			return nil, p.errorf("invalid number: no digits in the exponent")
		}
	}
	f, err := strconv.ParseFloat(string(p.data[start:p.pos]), 64)
	if err != nil || math.IsInf(f, 0) {
		return nil, p.errorf("number out of the range of IEEE 754 doubles")
	}
	return appendNumber(out, f), nil
}

// appendNumber appends f as ECMAScript's Number.prototype.toString writes it
// (ECMA-262 7.1.12.1), which RFC 8785 section 3.2.2.3 adopts. strconv's
// shortest formatting picks the same digits: the fewest that round-trip,
// the closest to f when several do.
func appendNumber(out []byte, f float64) []byte {
	if f == 0 { // also -0
		return append(out, '0')
	}
	if f < 0 {
		out = append(out, '-')
		f = -f
	}
	e := strconv.AppendFloat(nil, f, 'e', -1, 64) // d[.ddd]e±XX
	mant, exp, _ := strings.Cut(string(e), "e")
	digits := strings.Replace(mant, ".", "", 1)
	x, _ := strconv.Atoi(exp)
	n, k := x+1, len(digits) // f = 0.digits × 10^n
	switch {
	case k <= n && n <= 21:
		out = append(out, digits...)
		out = append(out, strings.Repeat("0", n-k)...)
	case 0 < n && n <= 21:
		out = append(out, digits[:n]...)
		out = append(out, '.')
		out = append(out, digits[n:]...)
	case -6 < n && n <= 0:
		out = append(out, "0."...)
		out = append(out, strings.Repeat("0", -n)...)
		out = append(out, digits...)
	default:
		out = append(out, digits[0])
		if k > 1 {
			out = append(out, '.')
			out = append(out, digits[1:]...)
		}
		out = append(out, 'e')
		if n-1 >= 0 {
			out = append(out, '+')
		}
		out = strconv.AppendInt(out, int64(n-1), 10)
	}
	return out
}

// appendString appends s as a JSON string with RFC 8785's escaping: '"' and
// '\\', the short escapes \b \t \n \f \r, \u00xx (lowercase) for the other
// control characters, everything else as is.
func appendString(out []byte, s string) []byte {
	const hex = "0123456789abcdef"
	out = append(out, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"', '\\':
			out = append(out, '\\', c)
		case '\b':
			out = append(out, '\\', 'b')
		case '\t':
			out = append(out, '\\', 't')
		case '\n':
			out = append(out, '\\', 'n')
		case '\f':
			out = append(out, '\\', 'f')
		case '\r':
			out = append(out, '\\', 'r')
		default:
			if c < 0x20 {
				out = append(out, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			} else {
				out = append(out, c)
			}
		}
	}
	return append(out, '"')
}
