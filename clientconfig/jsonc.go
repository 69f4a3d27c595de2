package clientconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrSyntax is wrapped by every error about malformed JSON or JSONC.
var ErrSyntax = errors.New("syntax error")

// document is a JSONC file read for reading and editing: the original bytes,
// the same bytes with comments and trailing commas blanked (strict JSON of
// the same length, so an offset into one is an offset into the other), and
// the tree of values with their offsets.
type document struct {
	src  []byte
	std  []byte
	root *node
	// comments are the [start, end) ranges of comments in src.
	comments [][2]int
}

// node is one JSON value: its kind ('{', '[', '"', or 'v' for numbers,
// booleans and null) and its [start, end) range. Objects keep their members
// in file order.
type node struct {
	kind       byte
	start, end int
	members    []member
	elems      []*node
}

type member struct {
	key      string
	keyStart int
	val      *node
}

// get returns the member named key of an object node, or nil.
func (n *node) get(key string) *node {
	if n == nil || n.kind != '{' {
		return nil
	}
	for i := len(n.members) - 1; i >= 0; i-- { // the last one wins, as in encoding/json
		if n.members[i].key == key {
			return n.members[i].val
		}
	}
	return nil
}

// parseDocument reads JSON with comments (// and /* */) and trailing commas,
// as VS Code's settings.json and mcp.json allow. A UTF-8 byte order mark is
// skipped.
func parseDocument(src []byte) (*document, error) {
	d := &document{src: src}
	std, comments, err := standardize(src)
	if err != nil {
		return nil, err
	}
	d.std, d.comments = std, comments
	p := &parser{b: std}
	p.skipSpace()
	if p.i >= len(p.b) {
		return nil, fmt.Errorf("%w: empty document", ErrSyntax)
	}
	root, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.i < len(p.b) {
		return nil, p.errorf("unexpected %q after the top-level value", p.b[p.i])
	}
	d.root = root
	return d, nil
}

// decode unmarshals the value of n into v.
func (d *document) decode(n *node, v any) error {
	return json.Unmarshal(d.std[n.start:n.end], v)
}

// inComment reports whether offset i of src lies inside a comment.
func (d *document) inComment(i int) bool {
	for _, c := range d.comments {
		if i >= c[0] && i < c[1] {
			return true
		}
	}
	return false
}

// standardize blanks comments and trailing commas with spaces (keeping line
// breaks), so the result is strict JSON at the same offsets. It also blanks a
// leading byte order mark.
func standardize(src []byte) ([]byte, [][2]int, error) {
	out := bytes.Clone(src)
	if bytes.HasPrefix(out, []byte("\xef\xbb\xbf")) {
		copy(out, "   ")
	}
	var comments [][2]int
	blank := func(from, to int) {
		for k := from; k < to; k++ {
			if out[k] != '\n' && out[k] != '\r' {
				out[k] = ' '
			}
		}
	}
	lastComma := -1 // offset of a comma not yet followed by a value
	for i := 0; i < len(out); i++ {
		switch c := out[i]; {
		case c == '"':
			j := i + 1
			for ; j < len(out) && out[j] != '"'; j++ {
				if out[j] == '\\' {
					j++
				}
			}
			if j >= len(out) {
				return nil, nil, fmt.Errorf("%w: unterminated string at offset %d", ErrSyntax, i)
			}
			lastComma = -1
			i = j
		case c == '/' && i+1 < len(out) && out[i+1] == '/':
			j := i + 2
			for j < len(out) && out[j] != '\n' {
				j++
			}
			comments = append(comments, [2]int{i, j})
			blank(i, j)
			i = j - 1
		case c == '/' && i+1 < len(out) && out[i+1] == '*':
			end := bytes.Index(out[i+2:], []byte("*/"))
			if end < 0 {
				return nil, nil, fmt.Errorf("%w: unterminated /* comment at offset %d", ErrSyntax, i)
			}
			j := i + 2 + end + 2
			comments = append(comments, [2]int{i, j})
			blank(i, j)
			i = j - 1
		case c == ',':
			lastComma = i
		case c == '}' || c == ']':
			if lastComma >= 0 {
				out[lastComma] = ' '
			}
			lastComma = -1
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
		default:
			lastComma = -1
		}
	}
	return out, comments, nil
}

// maxDepth bounds nesting, so a hostile file cannot exhaust the stack.
const maxDepth = 512

// parser is a strict JSON parser that records offsets. It runs on the output
// of standardize.
type parser struct {
	b []byte
	i int
}

func (p *parser) errorf(format string, args ...any) error {
	line := 1 + bytes.Count(p.b[:min(p.i, len(p.b))], []byte("\n"))
	return fmt.Errorf("%w: line %d: %s", ErrSyntax, line, fmt.Sprintf(format, args...))
}

func (p *parser) skipSpace() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) value(depth int) (*node, error) {
	if depth > maxDepth {
		return nil, p.errorf("nested deeper than %d levels", maxDepth)
	}
	p.skipSpace()
	if p.i >= len(p.b) {
		return nil, p.errorf("unexpected end of input")
	}
	switch c := p.b[p.i]; c {
	case '{':
		return p.object(depth)
	case '[':
		return p.array(depth)
	case '"':
		start := p.i
		if _, err := p.str(); err != nil {
			return nil, err
		}
		return &node{kind: '"', start: start, end: p.i}, nil
	default:
		start := p.i
		for p.i < len(p.b) && !bytes.ContainsRune([]byte(" \t\r\n,:]}[{\""), rune(p.b[p.i])) {
			p.i++
		}
		if start == p.i || !json.Valid(p.b[start:p.i]) {
			p.i = start
			return nil, p.errorf("invalid value starting with %q", c)
		}
		return &node{kind: 'v', start: start, end: p.i}, nil
	}
}

// str reads a string starting at p.i and returns it decoded.
func (p *parser) str() (string, error) {
	start := p.i
	p.i++
	for p.i < len(p.b) && p.b[p.i] != '"' {
		if p.b[p.i] == '\\' {
			p.i++
		}
		p.i++
	}
	if p.i >= len(p.b) {
		p.i = start
		return "", p.errorf("unterminated string")
	}
	p.i++
	var s string
	if err := json.Unmarshal(p.b[start:p.i], &s); err != nil {
		p.i = start
		return "", p.errorf("invalid string")
	}
	return s, nil
}

func (p *parser) object(depth int) (*node, error) {
	n := &node{kind: '{', start: p.i}
	p.i++
	p.skipSpace()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		n.end = p.i
		return n, nil
	}
	for {
		p.skipSpace()
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return nil, p.errorf("expected a member name")
		}
		keyStart := p.i
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return nil, p.errorf("expected ':' after member %q", key)
		}
		p.i++
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		n.members = append(n.members, member{key: key, keyStart: keyStart, val: v})
		p.skipSpace()
		if p.i >= len(p.b) {
			return nil, p.errorf("unterminated object")
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			n.end = p.i
			return n, nil
		default:
			return nil, p.errorf("expected ',' or '}' in an object, got %q", p.b[p.i])
		}
	}
}

func (p *parser) array(depth int) (*node, error) {
	n := &node{kind: '[', start: p.i}
	p.i++
	p.skipSpace()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		n.end = p.i
		return n, nil
	}
	for {
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		n.elems = append(n.elems, v)
		p.skipSpace()
		if p.i >= len(p.b) {
			return nil, p.errorf("unterminated array")
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case ']':
			p.i++
			n.end = p.i
			return n, nil
		default:
			return nil, p.errorf("expected ',' or ']' in an array, got %q", p.b[p.i])
		}
	}
}
