package config

import (
	"maps"
	"regexp"
	"slices"
)

// Pin policies for definitions that have no pin in the lockfile. See [Pins.New].
const (
	PinsNewQuarantine = "quarantine"
	PinsNewAdmit      = "admit"
)

// Pins configures the check of upstream definitions against the lockfile (gateway.pins).
type Pins struct {
	// New is what happens, while a lockfile exists, to a tool, prompt or resource template that has
	// no pin: PinsNewQuarantine (the default) or PinsNewAdmit.
	New string `json:"new,omitempty"`
	// QuarantineFlagged withholds every tool and prompt that "mcp-gateway tools --audit" flags
	// (hidden Unicode, instructions to the model, other tools' names, very long descriptions,
	// input fields asking for secrets).
	QuarantineFlagged bool `json:"quarantine_flagged,omitempty"`
}

// Overrides adjusts how one upstream's tools and prompts are exposed, keyed by the upstream's own
// names (mcpServers.NAME.overrides).
type Overrides struct {
	Tools   map[string]*Override `json:"tools,omitempty"`
	Prompts map[string]*Override `json:"prompts,omitempty"`
}

// Override changes one tool or prompt. Fields left out keep the upstream's value.
type Override struct {
	// Name replaces the name (before the prefix). The upstream's own name is then not exposed;
	// calls to the new name are routed to it.
	Name string `json:"name,omitempty"`
	// Title and Description replace the upstream's; a pointer to "" removes them.
	Title       *string `json:"title,omitempty"`
	Description *string `json:"description,omitempty"`
	// Annotations set tool annotations (tools only).
	Annotations *Annotations `json:"annotations,omitempty"`
	// Hidden leaves the tool or prompt out entirely.
	Hidden bool `json:"hidden,omitempty"`
}

// Annotations are the tool hints an override may set; each one left out keeps the upstream's.
type Annotations struct {
	ReadOnlyHint    *bool `json:"readOnlyHint,omitempty"`
	DestructiveHint *bool `json:"destructiveHint,omitempty"`
	IdempotentHint  *bool `json:"idempotentHint,omitempty"`
	OpenWorldHint   *bool `json:"openWorldHint,omitempty"`
}

// nameRE is the syntax of a name an override gives: what MCP allows for tool names.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)

func validatePins(errs *errorList, p *Pins) {
	switch p.New {
	case "", PinsNewQuarantine, PinsNewAdmit:
	default:
		errs.add("gateway.pins.new", detail(ErrInvalidValue, `must be "quarantine" or "admit"`))
	}
}

// validateOverrides checks the overrides of the upstream at path p.
func validateOverrides(errs *errorList, p string, o *Overrides) {
	check := func(kind string, m map[string]*Override) {
		taken := map[string]string{} // new name → the name it renames
		for _, name := range slices.Sorted(maps.Keys(m)) {
			ov, at := m[name], child(child(child(p, "overrides"), kind), name)
			if ov == nil {
				errs.add(at, detail(ErrType, "must be an object, got null"))
				continue
			}
			if ov.Name != "" {
				if !nameRE.MatchString(ov.Name) {
					errs.add(child(at, "name"), detail(ErrInvalidValue, `must be 1 to 128 letters, digits, "_", "." or "-"`))
				} else if first, dup := taken[ov.Name]; dup {
					errs.add(child(at, "name"), detail(ErrConflict, "%q is renamed to the same name", first))
				} else {
					taken[ov.Name] = name
				}
			}
			if ov.Annotations != nil && kind == "prompts" {
				errs.add(child(at, "annotations"), detail(ErrInvalidValue, "only tools have annotations"))
			}
			if ov.Hidden && (ov.Name != "" || ov.Title != nil || ov.Description != nil || ov.Annotations != nil) {
				errs.add(at, detail(ErrConflict, `"hidden" with other changes: a hidden item is not exposed at all`))
			}
		}
	}
	check("tools", o.Tools)
	check("prompts", o.Prompts)
}

// Budgets limits how many tools a client is listed (gateway.budgets). Past its budget of N, a
// client is listed N-3 tools (its pinned ones, then the most used) and three meta-tools that
// search, describe and call the rest.
type Budgets struct {
	// Builtin applies the gateway's budgets for clients with known tool caps (Cursor, Windsurf,
	// VS Code/Copilot, OpenAI) after Clients. Nil means true.
	Builtin *bool `json:"builtin,omitempty"`
	// Clients are tried in order; the first that matches a session applies.
	Clients []*Budget `json:"clients,omitempty"`
}

// Budget is one client's tool budget.
type Budget struct {
	// Client is a glob (path.Match, case-insensitive) on the clientInfo.name the client sends.
	Client string `json:"client,omitempty"`
	// Identity is a glob on the identity: its name (an API key's owner) or "KIND:NAME"
	// ("api_key:ci", "agent:owner/agent").
	Identity string `json:"identity,omitempty"`
	// MaxTools is the most tools listed, meta-tools included: at least 4. Zero lifts the limit
	// for the clients matched.
	MaxTools int `json:"max_tools"`
	// Pinned are exposed tool names (globs) that stay listed first.
	Pinned []string `json:"pinned,omitempty"`
}

func validateBudgets(errs *errorList, b *Budgets) {
	for i, c := range b.Clients {
		p := index("gateway.budgets.clients", i)
		if c == nil {
			errs.add(p, detail(ErrType, "must be an object, got null"))
			continue
		}
		if c.Client == "" && c.Identity == "" {
			errs.add(p, detail(ErrRequired, `needs "client" or "identity"`))
		}
		checkGlob(errs, child(p, "client"), c.Client)
		checkGlob(errs, child(p, "identity"), c.Identity)
		for j, g := range c.Pinned {
			checkGlob(errs, index(child(p, "pinned"), j), g)
		}
		if c.MaxTools != 0 && c.MaxTools < 4 {
			errs.add(child(p, "max_tools"), detail(ErrInvalidValue, "must be at least 4 (three meta-tools and one tool), or 0 for no limit"))
		}
	}
}
