package govern

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// LockFileName is the lockfile's name, in the config file's directory.
const LockFileName = "mcp-gateway.lock"

// lockVersion is the first line of every lockfile that is not a comment.
const lockVersion = "version 1"

// MaxLockBytes caps the lockfile ParseLock reads.
const MaxLockBytes = 64 << 20

// lockHeader opens every lockfile that WriteLock writes.
const lockHeader = `# mcp-gateway.lock: the pinned definitions of the upstreams' tools, prompts and
# resource templates. Written by "mcp-gateway lock"; review changes to it like code.
#
# One line per definition, sorted:
#   UPSTREAM KIND NAME sha256:DIGEST FIELD=SUM...
# NAME is the upstream's own name (a template's URI template). DIGEST is the
# SHA-256 of the whole definition as RFC 8785 canonical JSON; each FIELD=SUM is
# the start of one top-level field's digest, so a mismatch can say what changed.
# Names that are not plain printable ASCII are quoted, with escapes for any
# hidden characters.
#
# While this file exists, a definition that differs from its pin, or that has
# none, is quarantined: not listed, and calls to it are refused. To approve:
#   mcp-gateway lock --approve NAME...   re-pin these (exposed names, or UPSTREAM/NAME; globs)
#   mcp-gateway lock --all               re-pin everything the upstreams serve now
`

// Key identifies a pinned definition.
type Key struct {
	Upstream string
	Kind     Kind
	Name     string // the upstream's own name
}

// String returns "UPSTREAM/NAME".
func (k Key) String() string { return k.Upstream + "/" + k.Name }

func compareKeys(a, b Key) int {
	if c := strings.Compare(a.Upstream, b.Upstream); c != 0 {
		return c
	}
	if c := strings.Compare(string(a.Kind), string(b.Kind)); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}

// Lock is a parsed lockfile: a set of pins. The zero value is empty; a nil
// *Lock has no pins. A Lock is not safe for concurrent mutation; readers of
// a Lock nobody mutates need no locking.
type Lock struct {
	pins map[Key]Fingerprint
}

// NewLock returns an empty Lock.
func NewLock() *Lock { return &Lock{pins: map[Key]Fingerprint{}} }

// Pin returns the pin of k.
func (l *Lock) Pin(k Key) (Fingerprint, bool) {
	if l == nil {
		return Fingerprint{}, false
	}
	fp, ok := l.pins[k]
	return fp, ok
}

// Set pins k to fp.
func (l *Lock) Set(k Key, fp Fingerprint) {
	if l.pins == nil {
		l.pins = map[Key]Fingerprint{}
	}
	l.pins[k] = fp
}

// Delete removes the pin of k.
func (l *Lock) Delete(k Key) { delete(l.pins, k) }

// Keys returns every pinned key, sorted by upstream, kind and name.
func (l *Lock) Keys() []Key {
	if l == nil {
		return nil
	}
	return slices.SortedFunc(maps.Keys(l.pins), compareKeys)
}

// HasUpstream reports whether any definition of the upstream is pinned.
func (l *Lock) HasUpstream(name string) bool {
	if l == nil {
		return false
	}
	for k := range l.pins {
		if k.Upstream == name {
			return true
		}
	}
	return false
}

// Clone returns a copy of l that shares nothing mutable with it.
func (l *Lock) Clone() *Lock {
	c := NewLock()
	if l != nil {
		for k, fp := range l.pins {
			c.pins[k] = Fingerprint{Sum: fp.Sum, Fields: maps.Clone(fp.Fields)}
		}
	}
	return c
}

// Marshal writes l in the lockfile format: the header, the version line, one
// sorted line per pin. The same pins always give the same bytes.
func (l *Lock) Marshal() []byte {
	var b bytes.Buffer
	b.WriteString(lockHeader)
	b.WriteString("\n" + lockVersion + "\n")
	for _, k := range l.Keys() {
		fp := l.pins[k]
		b.WriteString(lockToken(k.Upstream) + " " + string(k.Kind) + " " + lockToken(k.Name) + " " + fp.Sum.String())
		for _, f := range slices.Sorted(maps.Keys(fp.Fields)) {
			b.WriteString(" " + lockToken(f) + "=" + fp.Fields[f].String())
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// lockToken writes s bare when it is printable ASCII without space, '"',
// '\\', '=' or a leading '#', and quoted (Go syntax, ASCII only) otherwise.
func lockToken(s string) string {
	bare := s != "" && s[0] != '#'
	for i := 0; bare && i < len(s); i++ {
		c := s[i]
		bare = c > ' ' && c < 0x7f && c != '"' && c != '\\' && c != '='
	}
	if bare {
		return s
	}
	return strconv.QuoteToASCII(s)
}

// LockError is a problem on one line of a lockfile.
type LockError struct {
	Line int // 1-based; 0 for the file as a whole
	Msg  string
}

func (e *LockError) Error() string {
	if e.Line == 0 {
		return e.Msg
	}
	return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
}

// ParseLock reads a lockfile. It reports every bad line at once, as an
// errors.Join of [*LockError]; a lockfile with any error is unusable as a
// whole (see [Policy]), so no partial Lock is returned.
func ParseLock(r io.Reader) (*Lock, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxLockBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read lockfile: %w", err)
	}
	if len(data) > MaxLockBytes {
		return nil, &LockError{Msg: fmt.Sprintf("larger than %d bytes", MaxLockBytes)}
	}
	l := NewLock()
	var errs []error
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, MaxLockBytes+1)
	versioned := false
	seen := map[Key]int{}
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(strings.TrimSuffix(sc.Text(), "\r"))
		if line == "" || line[0] == '#' {
			continue
		}
		if !versioned {
			if line != lockVersion {
				errs = append(errs, &LockError{Line: n, Msg: fmt.Sprintf("want %q before the first pin", lockVersion)})
			}
			versioned = true
			continue
		}
		k, fp, err := parseLockLine(line)
		if err != nil {
			errs = append(errs, &LockError{Line: n, Msg: err.Error()})
			continue
		}
		if first, dup := seen[k]; dup {
			errs = append(errs, &LockError{Line: n, Msg: fmt.Sprintf("%s %q of upstream %q is already pinned on line %d", k.Kind, k.Name, k.Upstream, first)})
			continue
		}
		seen[k] = n
		l.pins[k] = fp
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read lockfile: %w", err)
	}
	if !versioned {
		errs = append(errs, &LockError{Msg: fmt.Sprintf("no %q line: not a lockfile", lockVersion)})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return l, nil
}

// parseLockLine reads "UPSTREAM KIND NAME sha256:DIGEST FIELD=SUM...".
func parseLockLine(line string) (Key, Fingerprint, error) {
	var k Key
	var fp Fingerprint
	up, rest, err := nextToken(line)
	if err != nil {
		return k, fp, fmt.Errorf("upstream: %w", err)
	}
	kind, rest, err := nextToken(rest)
	if err != nil {
		return k, fp, fmt.Errorf("kind: %w", err)
	}
	if !Kind(kind).valid() {
		return k, fp, fmt.Errorf(`kind must be "tool", "prompt" or "template"`)
	}
	name, rest, err := nextToken(rest)
	if err != nil {
		return k, fp, fmt.Errorf("name: %w", err)
	}
	sum, rest, err := nextToken(rest)
	if err != nil {
		return k, fp, fmt.Errorf("digest: %w", err)
	}
	if fp.Sum, err = ParseDigest(sum); err != nil {
		return k, fp, fmt.Errorf("digest: %w", err)
	}
	if up == "" || name == "" {
		return k, fp, errors.New("empty upstream or name")
	}
	fp.Fields = map[string]FieldSum{}
	for rest != "" {
		var field string
		if field, rest, err = nextField(rest); err != nil {
			return k, fp, err
		}
		sum, after := rest, ""
		if i := strings.IndexAny(rest, " \t"); i >= 0 {
			sum, after = rest[:i], rest[i:]
		}
		var fs FieldSum
		if len(sum) != 2*len(fs) || strings.ToLower(sum) != sum {
			return k, fp, fmt.Errorf("field %q: want 16 lowercase hex digits", field)
		}
		if _, err := hex.Decode(fs[:], []byte(sum)); err != nil {
			return k, fp, fmt.Errorf("field %q: want 16 lowercase hex digits", field)
		}
		if _, dup := fp.Fields[field]; dup {
			return k, fp, fmt.Errorf("field %q twice", field)
		}
		fp.Fields[field] = fs
		rest = strings.TrimLeft(after, " \t")
	}
	return Key{Upstream: up, Kind: Kind(kind), Name: name}, fp, nil
}

// nextToken reads one bare or quoted token and skips the blanks after it.
func nextToken(s string) (tok, rest string, err error) {
	s = strings.TrimLeft(s, " \t")
	if s == "" {
		return "", "", errors.New("missing")
	}
	if s[0] == '"' {
		q, err := strconv.QuotedPrefix(s)
		if err != nil {
			return "", "", errors.New("bad quoted string")
		}
		tok, _ = strconv.Unquote(q)
		rest = s[len(q):]
		if rest != "" && rest[0] != ' ' && rest[0] != '\t' {
			return "", "", errors.New("want a blank after a quoted string")
		}
		return tok, strings.TrimLeft(rest, " \t"), nil
	}
	end := strings.IndexAny(s, " \t")
	if end < 0 {
		end = len(s)
	}
	tok = s[:end]
	if strings.ContainsAny(tok, `"\`) {
		return "", "", errors.New(`'"' or '\' in a bare token: quote it`)
	}
	return tok, strings.TrimLeft(s[end:], " \t"), nil
}

// nextField reads "FIELD=" (FIELD bare or quoted) and returns FIELD and what
// follows the '='.
func nextField(s string) (field, rest string, err error) {
	if s[0] == '"' {
		q, err := strconv.QuotedPrefix(s)
		if err != nil {
			return "", "", errors.New("bad quoted field name")
		}
		field, _ = strconv.Unquote(q)
		rest, ok := strings.CutPrefix(s[len(q):], "=")
		if !ok {
			return "", "", fmt.Errorf("field %q: want '=' after the name", field)
		}
		return field, rest, nil
	}
	field, rest, ok := strings.Cut(s, "=")
	if !ok || field == "" || strings.ContainsAny(field, " \t\"\\") {
		return "", "", errors.New("want FIELD=SUM after the digest")
	}
	return field, rest, nil
}

// ReadLock reads the lockfile at path. A missing file gives an error that
// matches fs.ErrNotExist; other errors name the path.
func ReadLock(path string) (*Lock, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err // *fs.PathError names the path
	}
	defer f.Close()
	l, err := ParseLock(f)
	if err != nil {
		return nil, prefixErrors(path, err)
	}
	return l, nil
}

// prefixErrors puts path before each joined error.
func prefixErrors(path string, err error) error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var errs []error
		for _, e := range j.Unwrap() {
			errs = append(errs, fmt.Errorf("%s: %w", path, e))
		}
		return errors.Join(errs...)
	}
	return fmt.Errorf("%s: %w", path, err)
}

// WriteLock writes l to path atomically: to a temporary file in the same
// directory, synced, then renamed over path. A reader sees the old file or
// the new one, never a part.
func WriteLock(path string, l *Lock) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write lockfile: %w", err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(l.Marshal()); err != nil {
		return fmt.Errorf("write lockfile: %w", err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("write lockfile: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write lockfile: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write lockfile: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write lockfile: %w", err)
	}
	done = true
	return nil
}
