package govern

import (
	"errors"
	"fmt"
	"path"
	"slices"
)

// Action is what [Update] did with one definition.
type Action string

// Actions of [Change].
const (
	ActionPinned   Action = "pinned"   // newly pinned
	ActionRepinned Action = "repinned" // its changed definition approved
	ActionRemoved  Action = "removed"  // no longer served; its pin dropped
	ActionPending  Action = "pending"  // new or changed, not approved: still quarantined
	ActionInvalid  Action = "invalid"  // cannot be digested; not pinned
)

// Change is one line of what [Update] did.
type Change struct {
	Key
	Action Action
	// Changed are the fields that differ from the old pin (ActionRepinned,
	// and ActionPending for a changed definition).
	Changed []string
	// New is true for a definition that had no pin (ActionPinned, or
	// ActionPending for a new one).
	New bool
	// Err is why an ActionInvalid definition cannot be digested.
	Err error
}

// Served is what one upstream serves now.
type Served struct {
	Upstream    string
	Definitions []Definition
}

// UpdateOptions says which pending definitions Update approves.
type UpdateOptions struct {
	// All re-pins every served definition.
	All bool
	// Approve selects definitions to (re-)pin; nil selects none. It is
	// called once for every served definition.
	Approve func(Key) bool
}

// Update returns a new Lock made from old (nil for none) and what the
// upstreams serve now, and what it did, sorted by key:
//
//   - An upstream that is not in served (it could not be reached) keeps its
//     pins untouched.
//   - An upstream with no pins at all is trusted on first use: all it serves
//     is pinned. This is how the first "mcp-gateway lock" pins everything,
//     and how an upstream added to the config later gets its pins.
//   - Otherwise a definition without a pin, or different from its pin, is
//     (re-)pinned only when approved (o.All or o.Approve); else it stays
//     pending. A new tool on an approved server is not trusted by default:
//     it could be an approved tool under a new name.
//   - Pins of definitions an upstream no longer serves are dropped.
//
// old is not modified.
func Update(old *Lock, served []Served, o UpdateOptions) (*Lock, []Change) {
	lock := old.Clone()
	var changes []Change
	for _, s := range served {
		tofu := !old.HasUpstream(s.Upstream)
		current := map[Key]bool{}
		for _, d := range s.Definitions {
			k := Key{Upstream: s.Upstream, Kind: d.Kind, Name: d.Name}
			current[k] = true
			approved := o.All || tofu
			if o.Approve != nil && o.Approve(k) {
				approved = true
			}
			fp, err := d.Fingerprint()
			if err == nil && d.Name == "" {
				err = errors.New("no name")
			}
			if err != nil {
				changes = append(changes, Change{Key: k, Action: ActionInvalid, Err: err})
				continue
			}
			pin, pinned := old.Pin(k)
			switch {
			case pinned && pin.Sum == fp.Sum:
				if len(ChangedFields(pin, fp)) > 0 {
					lock.Set(k, fp) // same digest, refresh field sums
				}
			case !approved:
				c := Change{Key: k, Action: ActionPending, New: !pinned}
				if pinned {
					c.Changed = ChangedFields(pin, fp)
				}
				changes = append(changes, c)
			case pinned:
				lock.Set(k, fp)
				changes = append(changes, Change{Key: k, Action: ActionRepinned, Changed: ChangedFields(pin, fp)})
			default:
				lock.Set(k, fp)
				changes = append(changes, Change{Key: k, Action: ActionPinned, New: true})
			}
		}
		for _, k := range old.Keys() {
			if k.Upstream == s.Upstream && !current[k] {
				lock.Delete(k)
				changes = append(changes, Change{Key: k, Action: ActionRemoved})
			}
		}
	}
	slices.SortStableFunc(changes, func(a, b Change) int { return compareKeys(a.Key, b.Key) })
	return lock, changes
}

// Approvals selects definitions for "mcp-gateway lock --approve": each
// pattern is a path.Match glob on the exposed name or on "UPSTREAM/NAME". It
// records which patterns matched, so that a typo is reported rather than
// approving nothing in silence. Not safe for concurrent use.
type Approvals struct {
	patterns []string
	used     []bool
}

// NewApprovals checks the patterns.
func NewApprovals(patterns []string) (*Approvals, error) {
	for _, p := range patterns {
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("--approve %q: invalid glob pattern", p)
		}
	}
	return &Approvals{patterns: patterns, used: make([]bool, len(patterns))}, nil
}

// Match reports whether any pattern matches exposed or k.String().
func (a *Approvals) Match(exposed string, k Key) bool {
	hit := false
	for i, p := range a.patterns {
		m1, _ := path.Match(p, exposed)
		m2, _ := path.Match(p, k.String())
		if m1 || m2 {
			a.used[i] = true
			hit = true
		}
	}
	return hit
}

// Unused returns the patterns that matched nothing.
func (a *Approvals) Unused() []string {
	var out []string
	for i, p := range a.patterns {
		if !a.used[i] {
			out = append(out, p)
		}
	}
	return out
}
