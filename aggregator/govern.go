package aggregator

import (
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Governor reviews each upstream's definitions every time they are listed
// (at connection, after list_changed, after a reconnect) before they enter
// any catalog: it may leave definitions out, change them, or rename them.
// Implementations must be safe for concurrent use and must not modify the
// definitions they are given (copy what they change).
type Governor interface {
	Govern(upstream string, l Listing) Listing
}

// Listing is one upstream's definitions, as listed or as governed.
type Listing struct {
	Tools     []*mcp.Tool
	Prompts   []*mcp.Prompt
	Resources []*mcp.Resource
	Templates []*mcp.ResourceTemplate
	// ToolOrigins and PromptOrigins map a name the governor gave a tool or
	// prompt to the upstream's own name, which calls are routed to.
	ToolOrigins, PromptOrigins map[string]string
	// WithheldTools and WithheldPrompts map the name of a tool or prompt
	// that is left out to why: a call to it is refused with that reason
	// rather than as unknown.
	WithheldTools, WithheldPrompts map[string]string
}

// governed is what a Governor said of one listing beyond the lists.
type governed struct {
	toolOrigins, promptOrigins     map[string]string
	withheldTools, withheldPrompts map[string]string
}

// applyGovernor applies g to l; with no governor l is returned as it is.
func applyGovernor(g Governor, upstream string, l *lists) *lists {
	if g == nil || l == nil {
		return l
	}
	out := g.Govern(upstream, Listing{Tools: l.tools, Prompts: l.prompts, Resources: l.resources, Templates: l.templates})
	return &lists{
		tools: out.Tools, prompts: out.Prompts, resources: out.Resources, templates: out.Templates,
		gov: governed{
			toolOrigins: out.ToolOrigins, promptOrigins: out.PromptOrigins,
			withheldTools: out.WithheldTools, withheldPrompts: out.WithheldPrompts,
		},
	}
}

// storeLists keeps the upstream's listing as listed and serves it governed.
func (u *upstream) storeLists(l *lists) {
	u.listed.Store(l)
	u.lists.Store(applyGovernor(u.env.governor, u.spec.Name, l))
}

// Regovern applies the governor again to every upstream's last listing and
// rebuilds the catalogs; sessions get list_changed for what changed. Call it
// when what the governor decides by has changed (a new lockfile, new
// overrides).
func (a *Aggregator) Regovern() {
	for _, u := range a.snapshot() {
		// Loaded before the listing, so that a concurrent re-list or
		// disconnect wins over this.
		cur := u.lists.Load()
		if l := u.listed.Load(); cur != nil && l != nil && u.lists.CompareAndSwap(cur, applyGovernor(u.env.governor, u.spec.Name, l)) {
			a.changed(u.spec.Name)
		}
	}
}

// origin returns the upstream's own name of a tool or prompt served as name.
func origin(m map[string]string, name string) string {
	if o, ok := m[name]; ok {
		return o
	}
	return name
}

// withhold adds an upstream's withheld names, exposed with prefix, to m,
// leaving out those whose own name (through origins) is not allowed.
func withhold(m map[string]string, prefix string, from, origins map[string]string, allowed func(string) bool) map[string]string {
	for name, why := range from {
		if !allowed(origin(origins, name)) {
			continue
		}
		if m == nil {
			m = map[string]string{}
		}
		m[exposeIn(prefix, name)] = why
	}
	return m
}
