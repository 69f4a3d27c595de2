package aggregator

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/yosida95/uritemplate/v3"
)

// toolRoute is where an exposed tool name leads.
type toolRoute struct {
	up       *upstream
	original string
	tool     *mcp.Tool // as exposed (Name replaced)
	// policyName is the tool's name in the merged catalog, which identity
	// tool globs match in every view (/mcp and /mcp/{upstream} alike).
	policyName string
}

type promptRoute struct {
	up       *upstream
	original string
}

type templateRoute struct {
	up *upstream
	re interface{ MatchString(string) bool }
}

// catalog is an immutable snapshot of one view's merged lists and routing
// tables. A refresh builds a new one and swaps it in; readers never lock.
type catalog struct {
	tools        []*mcp.Tool // sorted by exposed name
	toolRoutes   map[string]toolRoute
	prompts      []*mcp.Prompt // sorted by exposed name
	promptRoutes map[string]promptRoute
	resources    []*mcp.Resource // sorted by URI
	resourceUps  map[string]*upstream
	templates    []*mcp.ResourceTemplate // sorted by URI template
	templateUps  []templateRoute         // in upstream order, for matching
	templateByID map[string]*upstream    // URI template → upstream, for completion

	// fingerprints of each list as exposed, to send list_changed only on change.
	toolsSum, promptsSum, resourcesSum [32]byte
	// withheld tools and prompts, by exposed name: why they are not served.
	withheldTools, withheldPrompts map[string]string
	// problems found while building: skipped definitions and collisions.
	problems []string
}

// source is one upstream's contribution to a view.
type source struct {
	up     *upstream
	prefix string // "" = names unchanged
	lists  *lists
}

// buildCatalog merges the sources, which must be sorted by upstream name so
// that collisions resolve the same way every time.
func buildCatalog(sources []source) *catalog {
	c := &catalog{
		toolRoutes:   make(map[string]toolRoute),
		promptRoutes: make(map[string]promptRoute),
		resourceUps:  make(map[string]*upstream),
		templateByID: make(map[string]*upstream),
	}
	for _, s := range sources {
		if s.lists == nil {
			continue
		}
		name := s.up.spec.Name
		g := &s.lists.gov
		c.withheldTools = withhold(c.withheldTools, s.prefix, g.withheldTools, g.toolOrigins, s.up.toolAllowed)
		c.withheldPrompts = withhold(c.withheldPrompts, s.prefix, g.withheldPrompts, g.promptOrigins, func(string) bool { return true })
		for _, t := range s.lists.tools {
			own := origin(s.lists.gov.toolOrigins, t.Name)
			if !s.up.toolAllowed(own) {
				continue
			}
			if err := checkTool(t); err != nil {
				c.problems = append(c.problems, fmt.Sprintf("upstream %q: tool %q skipped: %v", name, t.Name, err))
				continue
			}
			exposed := exposeIn(s.prefix, t.Name)
			if prev, ok := c.toolRoutes[exposed]; ok {
				c.problems = append(c.problems, fmt.Sprintf("upstream %q: tool %q skipped: exposed name %q is already taken by upstream %q tool %q",
					name, t.Name, exposed, prev.up.spec.Name, prev.original))
				continue
			}
			et := *t
			et.Name = exposed
			c.tools = append(c.tools, &et)
			c.toolRoutes[exposed] = toolRoute{up: s.up, original: own, tool: &et, policyName: exposeIn(s.up.spec.Prefix, t.Name)}
		}
		for _, p := range s.lists.prompts {
			if p == nil || p.Name == "" {
				c.problems = append(c.problems, fmt.Sprintf("upstream %q: prompt without a name skipped", name))
				continue
			}
			exposed := exposeIn(s.prefix, p.Name)
			if prev, ok := c.promptRoutes[exposed]; ok {
				c.problems = append(c.problems, fmt.Sprintf("upstream %q: prompt %q skipped: exposed name %q is already taken by upstream %q",
					name, p.Name, exposed, prev.up.spec.Name))
				continue
			}
			ep := *p
			ep.Name = exposed
			c.prompts = append(c.prompts, &ep)
			c.promptRoutes[exposed] = promptRoute{up: s.up, original: origin(s.lists.gov.promptOrigins, p.Name)}
		}
		for _, r := range s.lists.resources {
			if r == nil || r.URI == "" {
				c.problems = append(c.problems, fmt.Sprintf("upstream %q: resource without a URI skipped", name))
				continue
			}
			if prev, ok := c.resourceUps[r.URI]; ok {
				c.problems = append(c.problems, fmt.Sprintf("upstream %q: resource %q skipped: also served by upstream %q, which is routed",
					name, r.URI, prev.spec.Name))
				continue
			}
			c.resources = append(c.resources, r)
			c.resourceUps[r.URI] = s.up
		}
		for _, t := range s.lists.templates {
			if t == nil {
				continue
			}
			tmpl, err := uritemplate.New(t.URITemplate)
			if err != nil {
				c.problems = append(c.problems, fmt.Sprintf("upstream %q: resource template %q skipped: %v", name, t.URITemplate, err))
				continue
			}
			if prev, ok := c.templateByID[t.URITemplate]; ok {
				c.problems = append(c.problems, fmt.Sprintf("upstream %q: resource template %q skipped: also served by upstream %q, which is routed",
					name, t.URITemplate, prev.spec.Name))
				continue
			}
			c.templateByID[t.URITemplate] = s.up
			c.templates = append(c.templates, t)
			c.templateUps = append(c.templateUps, templateRoute{up: s.up, re: tmpl.Regexp()})
		}
	}
	slices.SortFunc(c.tools, func(a, b *mcp.Tool) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(c.prompts, func(a, b *mcp.Prompt) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(c.resources, func(a, b *mcp.Resource) int { return strings.Compare(a.URI, b.URI) })
	slices.SortFunc(c.templates, func(a, b *mcp.ResourceTemplate) int { return strings.Compare(a.URITemplate, b.URITemplate) })
	c.toolsSum = fingerprint(c.tools)
	c.promptsSum = fingerprint(c.prompts)
	c.resourcesSum = fingerprint([]any{c.resources, c.templates})
	return c
}

func exposeIn(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return ExposedName(prefix, name)
}

// resourceUpstream returns the upstream that serves uri: an exact URI from a
// resources list first, then the first template (in upstream order) that
// matches.
func (c *catalog) resourceUpstream(uri string) (*upstream, bool) {
	if up, ok := c.resourceUps[uri]; ok {
		return up, true
	}
	for _, t := range c.templateUps {
		if t.re.MatchString(uri) {
			return t.up, true
		}
	}
	return nil, false
}

// checkTool applies the rules under which the SDK would refuse to serve a
// tool (mcp.Server.AddTool panics on them): upstream definitions are untrusted.
func checkTool(t *mcp.Tool) error {
	if t == nil || t.Name == "" {
		return fmt.Errorf("no name")
	}
	m, ok := t.InputSchema.(map[string]any)
	if !ok {
		return fmt.Errorf("input schema is not a JSON object")
	}
	if m["type"] != "object" {
		return fmt.Errorf(`input schema must have type "object" (got %v)`, m["type"])
	}
	if t.OutputSchema != nil {
		if _, ok := t.OutputSchema.(map[string]any); !ok {
			return fmt.Errorf("output schema is not a JSON object")
		}
	}
	return nil
}

// globMatch reports whether name matches any of the path.Match patterns.
// Patterns are validated by config; a malformed one matches nothing.
func globMatch(patterns []string, name string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

func fingerprint(v any) [32]byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Values came from JSON, so they marshal; if not, force a change.
		return sha256.Sum256([]byte(err.Error()))
	}
	return sha256.Sum256(b)
}
