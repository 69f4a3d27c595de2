package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/mcp-gateway/mcp-gateway/aggregator"
	"github.com/mcp-gateway/mcp-gateway/config"
	"github.com/mcp-gateway/mcp-gateway/govern"
)

// lockPath is where the lockfile of the config at configPath lives.
func lockPath(configPath string) string {
	return filepath.Join(filepath.Dir(configPath), govern.LockFileName)
}

// readLock reads the lockfile; a missing one is (nil, nil).
func readLock(path string) (*govern.Lock, error) {
	l, err := govern.ReadLock(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return l, err
}

// govRules maps the config and the lockfile at lockFile to the gate's
// rules. A lockfile that cannot be read quarantines everything (it is
// never taken as absent); checkPins false leaves pins unchecked, for
// "mcp-gateway lock", which must see every definition.
func govRules(cfg *config.Config, lockFile string, checkPins bool) *govern.Rules {
	r := &govern.Rules{Overrides: map[string]govern.Overrides{}}
	prefixes := map[string]string{}
	for _, u := range cfg.Enabled() {
		prefixes[u.Name] = u.ExposedPrefix()
		r.Overrides[u.Name] = govern.Overrides{Tools: overrides(u.Overrides.Tools), Prompts: overrides(u.Overrides.Prompts)}
	}
	r.Expose = func(up, name string) string { return aggregator.ExposedName(prefixes[up], name) }
	r.QuarantineFlagged = cfg.Gateway.Pins.QuarantineFlagged
	if checkPins {
		r.Policy.Lock, r.Policy.LockErr = readLock(lockFile)
		r.Policy.AdmitNew = cfg.Gateway.Pins.New == config.PinsNewAdmit
	}
	return r
}

func overrides(m map[string]*config.Override) map[string]govern.Override {
	out := make(map[string]govern.Override, len(m))
	for name, o := range m {
		g := govern.Override{Name: o.Name, Title: o.Title, Description: o.Description, Hidden: o.Hidden}
		if a := o.Annotations; a != nil {
			g.Annotations = &govern.Annotations{ReadOnlyHint: a.ReadOnlyHint, DestructiveHint: a.DestructiveHint,
				IdempotentHint: a.IdempotentHint, OpenWorldHint: a.OpenWorldHint}
		}
		out[name] = g
	}
	return out
}

// gateGovernor adapts the gate to the aggregator's Governor.
type gateGovernor struct{ g *govern.Gate }

func (a gateGovernor) Govern(upstream string, l aggregator.Listing) aggregator.Listing {
	return aggregator.Listing(a.g.Govern(upstream, govern.Listing(l)))
}

// govStatus is one line of /upstreams: the aggregator's status and
// what the gate has quarantined of the upstream, and why.
type govStatus struct {
	aggregator.UpstreamStatus
	Quarantined []govern.Quarantine `json:"quarantined,omitempty"`
}

func statusWithQuarantine(agg *aggregator.Aggregator, gate *govern.Gate) []govStatus {
	var out []govStatus
	for _, st := range agg.Status() {
		out = append(out, govStatus{UpstreamStatus: st, Quarantined: gate.Quarantined(st.Name)})
	}
	return out
}

// checkLocked is serve --locked: after start-up, any definition the gate
// quarantined (or a missing lockfile) is an error naming each.
func checkLocked(agg *aggregator.Aggregator, gate *govern.Gate, lockFile string, logger *slog.Logger) error {
	r := gate.Rules()
	if r.Policy.Lock == nil && r.Policy.LockErr == nil {
		return fmt.Errorf("--locked: no lockfile at %s: run mcp-gateway lock first", lockFile)
	}
	var problems []string
	for _, st := range agg.Status() {
		if st.State != aggregator.StateUp {
			logger.Warn("--locked: upstream not connected, so its definitions were not checked", "upstream", st.Name, "err", st.LastError)
		}
		for _, q := range gate.Quarantined(st.Name) {
			problems = append(problems, q.Reason)
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("--locked: %d definitions differ from %s:\n  %s", len(problems), lockFile, strings.Join(problems, "\n  "))
	}
	return nil
}
