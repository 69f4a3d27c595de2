package govern

import (
	"log/slog"
	"maps"
	"slices"
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
	quarantined map[string][]Quarantine
}

// NewGate returns a Gate deciding by r. A nil log discards.
func NewGate(r *Rules, log *slog.Logger) *Gate {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g := &Gate{log: log, served: map[string][]Definition{}, quarantined: map[string][]Quarantine{}}
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
	var quar []Quarantine
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
	g.record(upstream, served, quar)
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
func (g *Gate) record(upstream string, served []Definition, quar []Quarantine) {
	g.mu.Lock()
	prev := g.quarantined[upstream]
	g.served[upstream] = served
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

// Forget drops what the Gate recorded of an upstream that is gone.
func (g *Gate) Forget(upstream string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.served, upstream)
	delete(g.quarantined, upstream)
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
