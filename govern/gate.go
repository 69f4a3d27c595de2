package govern

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Listing is one upstream's definitions, as listed or as governed. Its
// fields are those of the aggregator's listing, so either converts to the
// other.
type Listing struct {
	Tools     []*mcp.Tool
	Prompts   []*mcp.Prompt
	Resources []*mcp.Resource
	Templates []*mcp.ResourceTemplate
	// ToolOrigins and PromptOrigins map a renamed tool's or prompt's new
	// name to the upstream's own.
	ToolOrigins, PromptOrigins map[string]string
	// WithheldTools and WithheldPrompts map the (overridden) name of each
	// quarantined tool or prompt to why it is quarantined.
	WithheldTools, WithheldPrompts map[string]string
}

// Rules are what a [Gate] decides by. A Rules value is not modified once
// given to a Gate.
type Rules struct {
	// Policy is the drift check; its Exposed is set by the Gate.
	Policy Policy
	// Overrides are per upstream, by upstream name.
	Overrides map[string]Overrides
	// Expose returns the exposed name of a tool or prompt of an upstream
	// from its (overridden) name, for messages. Nil means "UPSTREAM/NAME".
	Expose func(upstream, name string) string
	// QuarantineFlagged withholds every tool and prompt the [Audit] flags,
	// as exposed (after overrides). Other upstreams' tool names are those
	// listed so far.
	QuarantineFlagged bool
}

// StatusFlagged: the audit flagged the definition and Rules.QuarantineFlagged is set.
const StatusFlagged Status = "flagged"

// Flagged is one definition the audit flagged.
type Flagged struct {
	Upstream string    `json:"upstream"`
	Kind     Kind      `json:"kind"`
	Name     string    `json:"name"` // exposed
	Findings []Finding `json:"findings"`
}

// Quarantine is one definition a Gate withholds, for status output.
type Quarantine struct {
	Kind    Kind     `json:"kind"`
	Name    string   `json:"name"` // the upstream's own name
	Status  Status   `json:"status"`
	Changed []string `json:"changed,omitempty"`
	Reason  string   `json:"reason"`
}

// Gate governs upstream listings at run time: it checks each definition
// against the lockfile, withholds those that fail, and applies overrides.
// It remembers what each upstream last served (for "mcp-gateway lock") and
// what it withheld (for status and logs). Safe for concurrent use.
type Gate struct {
	log   *slog.Logger
	rules atomic.Pointer[Rules]

	mu          sync.Mutex
	served      map[string][]Definition
	shown       map[string][]exposedDef
	quarantined map[string][]Quarantine
}

// exposedDef is a tool or prompt as served (overridden), with its exposed name.
type exposedDef struct {
	Definition
	name string
}

// NewGate returns a Gate deciding by r. A nil log discards.
func NewGate(r *Rules, log *slog.Logger) *Gate {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g := &Gate{log: log, served: map[string][]Definition{}, shown: map[string][]exposedDef{}, quarantined: map[string][]Quarantine{}}
	g.SetRules(r)
	return g
}

// SetRules replaces the rules for the next listing governed; the caller
// then re-governs the current listings (the aggregator's Regovern).
func (g *Gate) SetRules(r *Rules) {
	c := *r
	c.Policy.Exposed = func(k Key) string { return g.exposed(&c, k) }
	g.rules.Store(&c)
}

// Rules returns the rules in force.
func (g *Gate) Rules() *Rules { return g.rules.Load() }

// exposed returns the exposed name of an (overridden) tool or prompt name.
func (r *Rules) exposed(k Kind, upstream, name string) string {
	if k == KindTemplate || r.Expose == nil {
		return upstream + "/" + name
	}
	return r.Expose(upstream, name)
}

func (g *Gate) exposed(r *Rules, k Key) string {
	name := k.Name
	if k.Kind == KindTemplate {
		return k.String()
	}
	ov := r.Overrides[k.Upstream]
	m := ov.Tools
	if k.Kind == KindPrompt {
		m = ov.Prompts
	}
	if o, ok := m[k.Name]; ok && o.Name != "" {
		name = o.Name
	}
	if r.Expose == nil {
		return k.Upstream + "/" + name
	}
	return r.Expose(k.Upstream, name)
}

// Exposed returns the name "mcp-gateway lock --approve" knows k by.
func (g *Gate) Exposed(k Key) string { return g.exposed(g.rules.Load(), k) }

// Govern checks and overrides one upstream's listing. in is not modified.
func (g *Gate) Govern(upstream string, in Listing) Listing {
	r := g.rules.Load()
	ov := r.Overrides[upstream]
	out := Listing{Resources: in.Resources}
	var served []Definition
	var shown []exposedDef
	var quar []Quarantine
	others := g.otherTools(upstream)
	// flagged audits a tool or prompt as exposed: its findings, and the
	// reason to withhold it when flagged definitions are quarantined.
	flagged := func(k Kind, own string, d Definition, err error) string {
		if err != nil {
			return ""
		}
		name := r.exposed(k, upstream, d.Name)
		shown = append(shown, exposedDef{Definition: d, name: name})
		if !r.QuarantineFlagged {
			return ""
		}
		fs := Audit(d, others)
		if len(fs) == 0 {
			return ""
		}
		var parts []string
		for _, f := range fs {
			parts = append(parts, f.String())
		}
		why := fmt.Sprintf("%s %q is quarantined because the audit flagged it (%s): review it, then hide it or override what was flagged",
			kindNoun(k), name, strings.Join(parts, "; "))
		quar = append(quar, Quarantine{Kind: k, Name: own, Status: StatusFlagged, Reason: why})
		return why
	}
	// verdict checks one definition; a definition that cannot be made
	// (it does not marshal) is checked as invalid JSON, so it is withheld.
	verdict := func(d Definition, err error, k Kind, name string) Verdict {
		if err != nil {
			d = Definition{Kind: k, Name: name, JSON: []byte("null")}
		} else {
			served = append(served, d)
		}
		v := r.Policy.check(upstream, d)
		if !v.Admitted() {
			quar = append(quar, Quarantine{Kind: k, Name: name, Status: v.Status, Changed: v.Changed, Reason: v.Reason})
		}
		return v
	}
	for _, t := range in.Tools {
		if t == nil {
			continue
		}
		d, err := ToolDefinition(t)
		v := verdict(d, err, KindTool, t.Name)
		o := ov.Tools[t.Name]
		if o.Hidden {
			continue
		}
		et := o.applyTool(t)
		if et.Name != t.Name {
			out.ToolOrigins = put(out.ToolOrigins, et.Name, t.Name)
		}
		if !v.Admitted() {
			out.WithheldTools = put(out.WithheldTools, et.Name, v.Reason)
			continue
		}
		ed, err := ToolDefinition(et)
		if why := flagged(KindTool, t.Name, ed, err); why != "" {
			out.WithheldTools = put(out.WithheldTools, et.Name, why)
			continue
		}
		out.Tools = append(out.Tools, et)
	}
	for _, p := range in.Prompts {
		if p == nil {
			continue
		}
		d, err := PromptDefinition(p)
		v := verdict(d, err, KindPrompt, p.Name)
		o := ov.Prompts[p.Name]
		if o.Hidden {
			continue
		}
		ep := o.applyPrompt(p)
		if ep.Name != p.Name {
			out.PromptOrigins = put(out.PromptOrigins, ep.Name, p.Name)
		}
		if !v.Admitted() {
			out.WithheldPrompts = put(out.WithheldPrompts, ep.Name, v.Reason)
			continue
		}
		ed, err := PromptDefinition(ep)
		if why := flagged(KindPrompt, p.Name, ed, err); why != "" {
			out.WithheldPrompts = put(out.WithheldPrompts, ep.Name, why)
			continue
		}
		out.Prompts = append(out.Prompts, ep)
	}
	for _, t := range in.Templates {
		if t == nil {
			continue
		}
		d, err := TemplateDefinition(t)
		if v := verdict(d, err, KindTemplate, t.URITemplate); v.Admitted() {
			out.Templates = append(out.Templates, t)
		}
	}
	g.record(upstream, served, shown, quar)
	return out
}

// otherTools returns the own names of the tools other upstreams served.
func (g *Gate) otherTools(upstream string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for u, defs := range g.served {
		if u == upstream {
			continue
		}
		for _, d := range defs {
			if d.Kind == KindTool {
				out = append(out, d.Name)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// AuditAll audits every tool and prompt the upstreams last served, as
// exposed, each against the tool names of all the other upstreams.
func (g *Gate) AuditAll() []Flagged {
	g.mu.Lock()
	ups := slices.Sorted(maps.Keys(g.shown))
	all := map[string][]exposedDef{}
	for _, u := range ups {
		all[u] = slices.Clone(g.shown[u])
	}
	g.mu.Unlock()
	var out []Flagged
	for _, u := range ups {
		others := g.otherTools(u)
		for _, d := range all[u] {
			if fs := Audit(d.Definition, others); len(fs) > 0 {
				out = append(out, Flagged{Upstream: u, Kind: d.Kind, Name: d.name, Findings: fs})
			}
		}
	}
	return out
}

func put(m map[string]string, k, v string) map[string]string {
	if m == nil {
		m = map[string]string{}
	}
	m[k] = v
	return m
}

// record keeps what the upstream served and logs what changed in its
// quarantine: each definition newly withheld (or withheld for a new
// reason) once, and each released.
func (g *Gate) record(upstream string, served []Definition, shown []exposedDef, quar []Quarantine) {
	g.mu.Lock()
	prev := g.quarantined[upstream]
	g.served[upstream] = served
	g.shown[upstream] = shown
	g.quarantined[upstream] = quar
	g.mu.Unlock()
	was := map[Key]string{}
	for _, q := range prev {
		was[Key{Upstream: upstream, Kind: q.Kind, Name: q.Name}] = q.Reason
	}
	for _, q := range quar {
		k := Key{Upstream: upstream, Kind: q.Kind, Name: q.Name}
		if why, ok := was[k]; !ok || why != q.Reason {
			g.log.Warn("definition quarantined", "upstream", upstream, "kind", string(q.Kind), "name", q.Name,
				"status", string(q.Status), "reason", q.Reason)
		}
		delete(was, k)
	}
	for _, k := range slices.SortedFunc(maps.Keys(was), compareKeys) {
		g.log.Info("definition released from quarantine", "upstream", upstream, "kind", string(k.Kind), "name", k.Name)
	}
}

// Quarantined returns what the upstream's last listing had withheld, in
// listing order (tools, prompts, templates).
func (g *Gate) Quarantined(upstream string) []Quarantine {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.quarantined[upstream])
}

// Served returns what the named upstreams last served, for [Update]; an
// upstream never governed is left out, so its pins are kept.
func (g *Gate) Served(upstreams []string) []Served {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []Served
	for _, u := range upstreams {
		if defs, ok := g.served[u]; ok {
			out = append(out, Served{Upstream: u, Definitions: slices.Clone(defs)})
		}
	}
	return out
}
