package govern

import (
	"fmt"
	"strings"
)

// Status is what the drift check found for one definition.
type Status string

// Statuses of [Verdict].
const (
	// StatusUnlocked: there is no lockfile, so nothing is pinned or checked.
	StatusUnlocked Status = "unlocked"
	// StatusPinned: the definition matches its pin.
	StatusPinned Status = "pinned"
	// StatusNew: the definition has no pin.
	StatusNew Status = "new"
	// StatusChanged: the definition differs from its pin.
	StatusChanged Status = "changed"
	// StatusLockError: the lockfile could not be read, so nothing can be trusted.
	StatusLockError Status = "lockfile_error"
	// StatusInvalid: the definition could not be digested (not an I-JSON object).
	StatusInvalid Status = "invalid"
)

// Policy decides which definitions are admitted against a lockfile. The zero
// value (no lockfile) admits everything. A Policy is read-only once built and
// safe for concurrent use.
type Policy struct {
	// Lock holds the pins. Nil with LockErr nil means there is no lockfile:
	// every definition is admitted.
	Lock *Lock
	// LockErr is why the lockfile could not be read. When set, every
	// definition is quarantined with it as the reason: a corrupt lockfile
	// fails closed, it is never taken as absent.
	LockErr error
	// AdmitNew admits definitions that have no pin. By default they are
	// quarantined: a tool that appears on an approved server (or an approved
	// tool under a new name) has not been reviewed.
	AdmitNew bool
	// Exposed returns the name a user passes to "mcp-gateway lock --approve"
	// for k, normally the exposed name. Nil means k.String() ("UPSTREAM/NAME").
	Exposed func(Key) string
}

// Verdict is the drift check's decision on one definition.
type Verdict struct {
	Key
	Status Status
	// Changed lists, sorted, the top-level fields that differ from the pin
	// (StatusChanged only).
	Changed []string
	// Fingerprint is the definition's current fingerprint (zero when
	// StatusInvalid).
	Fingerprint Fingerprint
	// Reason says why the definition is quarantined and how to approve it;
	// empty when it is admitted.
	Reason string
}

// Admitted reports whether the definition may be served.
func (v Verdict) Admitted() bool { return v.Reason == "" }

// Check decides on each definition of one upstream, in order. A definition
// pinned but no longer served is not reported: it is simply gone.
func (p *Policy) Check(upstream string, defs []Definition) []Verdict {
	out := make([]Verdict, 0, len(defs))
	for _, d := range defs {
		out = append(out, p.check(upstream, d))
	}
	return out
}

func (p *Policy) check(upstream string, d Definition) Verdict {
	k := Key{Upstream: upstream, Kind: d.Kind, Name: d.Name}
	v := Verdict{Key: k}
	name := p.exposed(k)
	what := fmt.Sprintf("%s %q", kindNoun(d.Kind), name)
	fp, err := d.Fingerprint()
	if err != nil {
		v.Status = StatusInvalid
		v.Reason = fmt.Sprintf("%s is quarantined: its definition cannot be digested: %v", what, err)
		return v
	}
	v.Fingerprint = fp
	switch {
	case p.LockErr != nil:
		v.Status = StatusLockError
		v.Reason = fmt.Sprintf("%s is quarantined because the lockfile cannot be read (%s): fix it, or rewrite it with mcp-gateway lock --all",
			what, oneLineError(p.LockErr))
		return v
	case p.Lock == nil:
		v.Status = StatusUnlocked
		return v
	}
	pin, ok := p.Lock.Pin(k)
	switch {
	case !ok:
		v.Status = StatusNew
		if !p.AdmitNew {
			v.Reason = fmt.Sprintf("%s is not pinned in the lockfile: review it, then run mcp-gateway lock --approve %s", what, shellWord(name))
		}
	case pin.Sum == fp.Sum:
		v.Status = StatusPinned
	default:
		v.Status = StatusChanged
		v.Changed = ChangedFields(pin, fp)
		fields := strings.Join(v.Changed, ", ")
		if fields == "" {
			fields = "no recorded field differs"
		}
		v.Reason = fmt.Sprintf("%s changed since it was pinned (%s): review it, then run mcp-gateway lock --approve %s", what, fields, shellWord(name))
	}
	return v
}

func (p *Policy) exposed(k Key) string {
	if p.Exposed != nil {
		if s := p.Exposed(k); s != "" {
			return s
		}
	}
	return k.String()
}

func kindNoun(k Kind) string {
	if k == KindTemplate {
		return "resource template"
	}
	return string(k)
}

// oneLineError joins a multi-line (joined) error into one line.
func oneLineError(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}

// shellWord quotes s for a POSIX shell when it is not a plain word.
func shellWord(s string) string {
	plain := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_-./:@%+,", r)) {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
