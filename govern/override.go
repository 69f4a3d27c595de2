package govern

import "github.com/modelcontextprotocol/go-sdk/mcp"

// Override changes how one tool or prompt is exposed. Fields left zero keep
// the upstream's value.
type Override struct {
	// Name replaces the upstream's name; calls to it are routed to the
	// upstream's own name, which is not exposed.
	Name string
	// Title and Description, when not nil, replace the upstream's.
	Title, Description *string
	// Annotations set tool hints (tools only).
	Annotations *Annotations
	// Hidden leaves the tool or prompt out.
	Hidden bool
}

// Annotations are tool hints an override sets; nil ones keep the upstream's.
type Annotations struct {
	ReadOnlyHint, DestructiveHint, IdempotentHint, OpenWorldHint *bool
}

// Overrides are one upstream's overrides, keyed by its own names.
type Overrides struct {
	Tools, Prompts map[string]Override
}

// applyTool returns t with o applied, a copy when anything changes; t is
// never modified.
func (o Override) applyTool(t *mcp.Tool) *mcp.Tool {
	if o.Name == "" && o.Title == nil && o.Description == nil && o.Annotations == nil {
		return t
	}
	c := *t
	if o.Name != "" {
		c.Name = o.Name
	}
	if o.Title != nil {
		c.Title = *o.Title
	}
	if o.Description != nil {
		c.Description = *o.Description
	}
	if a := o.Annotations; a != nil {
		var ann mcp.ToolAnnotations
		if t.Annotations != nil {
			ann = *t.Annotations
		}
		if a.ReadOnlyHint != nil {
			ann.ReadOnlyHint = *a.ReadOnlyHint
		}
		if a.IdempotentHint != nil {
			ann.IdempotentHint = *a.IdempotentHint
		}
		if a.DestructiveHint != nil {
			ann.DestructiveHint = new(*a.DestructiveHint)
		}
		if a.OpenWorldHint != nil {
			ann.OpenWorldHint = new(*a.OpenWorldHint)
		}
		c.Annotations = &ann
	}
	return &c
}

// applyPrompt is applyTool for prompts (which have no annotations).
func (o Override) applyPrompt(p *mcp.Prompt) *mcp.Prompt {
	if o.Name == "" && o.Title == nil && o.Description == nil {
		return p
	}
	c := *p
	if o.Name != "" {
		c.Name = o.Name
	}
	if o.Title != nil {
		c.Title = *o.Title
	}
	if o.Description != nil {
		c.Description = *o.Description
	}
	return &c
}
