package config

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Sentinel errors. Every [*FieldError] wraps exactly one of them; test with errors.Is.
var (
	// ErrSyntax means the input is not one well-formed JSON value; see [*SyntaxError].
	ErrSyntax = errors.New("invalid JSON")
	// ErrUnknownKey means an object has a key the gateway does not know.
	ErrUnknownKey = errors.New("unknown key")
	// ErrDuplicateKey means an object has the same key twice.
	ErrDuplicateKey = errors.New("duplicate key")
	// ErrType means a value has the wrong JSON type, such as a number where a string belongs.
	ErrType = errors.New("wrong type")
	// ErrInvalidValue means a value has the right type but is not allowed.
	ErrInvalidValue = errors.New("invalid value")
	// ErrUnsetVariable means a string refers to an unset environment variable without a default.
	ErrUnsetVariable = errors.New("environment variable not set")
	// ErrRequired means a required setting is missing.
	ErrRequired = errors.New("required")
	// ErrConflict means settings contradict each other, or two upstreams collide.
	ErrConflict = errors.New("conflict")
)

// FieldError is a problem with the value at Path, a JSON path such as `mcpServers.notion.timeout`
// or `mcpServers["my server"].url`. Err wraps one of the package's sentinel errors.
type FieldError struct {
	Path string
	Err  error
}

// Error returns "<path>: <err>", or just the error for the whole document (empty Path).
func (e *FieldError) Error() string {
	if e.Path == "" {
		return e.Err.Error()
	}
	return e.Path + ": " + e.Err.Error()
}

// Unwrap returns e.Err.
func (e *FieldError) Unwrap() error { return e.Err }

// SyntaxError reports input that is not well-formed JSON, at a 1-based line and column (in bytes).
type SyntaxError struct {
	Line, Column int
	Msg          string
}

// Error returns "line L, column C: msg".
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Msg)
}

// Is reports whether target is ErrSyntax.
func (e *SyntaxError) Is(target error) bool { return target == ErrSyntax }

// newSyntaxError places a syntax error at byte offset off of data.
func newSyntaxError(data []byte, off int, msg string) *SyntaxError {
	off = min(max(off, 0), len(data))
	before := data[:off]
	line := 1 + strings.Count(string(before), "\n")
	col := off - strings.LastIndexByte(string(before), '\n')
	return &SyntaxError{Line: line, Column: col, Msg: msg}
}

// detailError is a message that wraps a sentinel, so "unknown key, did you mean ...?" still
// matches errors.Is(err, ErrUnknownKey).
type detailError struct {
	kind error
	msg  string
}

func (e *detailError) Error() string { return e.msg }
func (e *detailError) Unwrap() error { return e.kind }

// detail returns an error with the formatted message that wraps kind. Callers never format a
// configured value into it.
func detail(kind error, format string, args ...any) error {
	return &detailError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// errorList collects field errors in the order found.
type errorList []error

func (l *errorList) add(path string, err error) {
	*l = append(*l, &FieldError{Path: path, Err: err})
}

// join returns the collected errors sorted by path (stable, so errors at one path keep their
// order), joined, or nil.
func (l errorList) join() error {
	slices.SortStableFunc(l, func(a, b error) int {
		return strings.Compare(a.(*FieldError).Path, b.(*FieldError).Path)
	})
	return errors.Join(l...)
}

// child appends an object key to a JSON path: `.key` when key is an identifier, else `["key"]`.
func child(path, key string) string {
	if !isIdent(key) {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// index appends an array index to a JSON path.
func index(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

func isIdent(s string) bool {
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return s != ""
}

// keyHints names the right key for keys other tools use for the same thing.
var keyHints = map[string]string{
	"servers":   "mcpServers", // VS Code's .vscode/mcp.json
	"serverUrl": "url",        // Windsurf
	"httpUrl":   "url",        // Gemini CLI
}

// suggest returns the known key the user most likely meant by key, or "". It matches keys that
// differ only in case, '_' and '-', then keys within edit distance 2.
func suggest(key string, known []string) string {
	if k, ok := keyHints[key]; ok && slices.Contains(known, k) {
		return k
	}
	norm := func(s string) string {
		return strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(s))
	}
	best, bestDist := "", 3
	for _, k := range known {
		if norm(k) == norm(key) {
			return k
		}
		if d := editDistance(key, k); d < bestDist && d < len(k) {
			best, bestDist = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
