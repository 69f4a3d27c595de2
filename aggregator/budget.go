package aggregator

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/mcp-gateway/mcp-gateway/fault"
	"github.com/mcp-gateway/mcp-gateway/policy"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Names of the meta-tools a session over its tool budget is listed instead
// of the tools that do not fit.
const (
	MetaSearch   = "gateway_search_tools"
	MetaDescribe = "gateway_describe_tool"
	MetaCall     = "gateway_call_tool"
)

// Budgets limits how many tools a client is listed. Safe for concurrent use.
type Budgets interface {
	// Budget returns the most tools the session may be listed (0: no
	// limit), and the exposed names (globs) to keep listed first.
	Budget(client *mcp.Implementation, identity string) (max int, pinned []string)
	// Search ranks tools for a query, best first, at most limit.
	Search(tools []*mcp.Tool, query string, limit int) []*mcp.Tool
}

// uses counts calls per exposed tool name, to keep the most used listed.
type uses struct {
	mu sync.Mutex
	n  map[string]int
}

func (u *uses) add(name string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.n == nil {
		u.n = map[string]int{}
	}
	u.n[name]++
}

func (u *uses) get(name string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.n[name]
}

var metaTools = []*mcp.Tool{
	{Name: MetaCall, Description: "Call a tool of this gateway that is not listed, by name, with its arguments. Use " + MetaSearch + " to find it and " + MetaDescribe + " for its input schema.",
		InputSchema: map[string]any{"type": "object", "required": []any{"name"}, "properties": map[string]any{
			"name":      map[string]any{"type": "string", "description": "the tool's name"},
			"arguments": map[string]any{"type": "object", "description": "the tool's arguments"},
		}}},
	{Name: MetaDescribe, Description: "Return the full definition (description, input schema, annotations) of a tool of this gateway, listed or not.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
		InputSchema: map[string]any{"type": "object", "required": []any{"name"}, "properties": map[string]any{
			"name": map[string]any{"type": "string", "description": "the tool's name"},
		}}},
	{Name: MetaSearch, Description: "Search the tools of this gateway that are not listed (too many for this client) by what they do; returns names, titles and descriptions, best match first.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
		InputSchema: map[string]any{"type": "object", "required": []any{"query"}, "properties": map[string]any{
			"query": map[string]any{"type": "string", "description": "words describing the task"},
			"limit": map[string]any{"type": "integer", "description": "most results (default 10)"},
		}}},
}

// budgetOf returns the session's tool budget, 0 for none.
func (v *view) budgetOf(ss *mcp.ServerSession, p *policy.Identity) (int, []string) {
	if v.budgets == nil || ss == nil {
		return 0, nil
	}
	var client *mcp.Implementation
	if init := ss.InitializeParams(); init != nil {
		client = init.ClientInfo
	}
	return v.budgets.Budget(client, p.Name)
}

// withinBudget returns the tools to list for a budget of limit: all of
// them if they fit, else the limit-3 most relevant (pinned, then most used, then
// by name) and the meta-tools, sorted by name.
func (v *view) withinBudget(items []*mcp.Tool, limit int, pinned []string) []*mcp.Tool {
	if limit <= 0 || len(items) <= limit {
		return items
	}
	keep := max(limit-len(metaTools), 0)
	ranked := slices.Clone(items)
	pin := func(t *mcp.Tool) int {
		for i, p := range pinned {
			if globMatch([]string{p}, t.Name) {
				return i
			}
		}
		return len(pinned)
	}
	slices.SortStableFunc(ranked, func(a, b *mcp.Tool) int {
		if c := pin(a) - pin(b); c != 0 {
			return c
		}
		return v.uses.get(b.Name) - v.uses.get(a.Name) // then by use; ties stay by name
	})
	out := append(ranked[:keep:keep], metaTools...)
	slices.SortFunc(out, func(a, b *mcp.Tool) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// callMeta serves a call to a meta-tool; ok is false when name is not one
// or the session has no budget (then it is an ordinary tool name).
func (v *view) callMeta(ctx context.Context, req *mcp.CallToolRequest) (res mcp.Result, ok bool, err error) {
	name := req.Params.Name
	if name != MetaSearch && name != MetaDescribe && name != MetaCall {
		return nil, false, nil
	}
	p := v.identity(req)
	if limit, _ := v.budgetOf(req.Session, p); limit <= 0 {
		return nil, false, nil
	}
	var args struct {
		Name      string          `json:"name"`
		Query     string          `json:"query"`
		Limit     int             `json:"limit"`
		Arguments json.RawMessage `json:"arguments"`
	}
	if len(req.Params.Arguments) > 0 {
		if err := json.Unmarshal(req.Params.Arguments, &args); err != nil {
			return nil, true, fault.Wire(fault.InvalidParams(fmt.Sprintf("%s: arguments: %v", name, err)))
		}
	}
	v.waitStart(ctx)
	cat := v.cat.Load()
	visible := func(t string) (toolRoute, bool) {
		r, ok := cat.toolRoutes[t]
		return r, ok && mayCall(p, r)
	}
	switch name {
	case MetaSearch:
		var tools []*mcp.Tool
		for _, t := range cat.tools {
			if _, ok := visible(t.Name); ok {
				tools = append(tools, t)
			}
		}
		if args.Limit <= 0 {
			args.Limit = 10
		}
		type found struct {
			Name        string `json:"name"`
			Title       string `json:"title,omitempty"`
			Description string `json:"description,omitempty"`
		}
		out := []found{}
		for _, t := range v.budgets.Search(tools, args.Query, args.Limit) {
			out = append(out, found{t.Name, t.Title, t.Description})
		}
		return jsonResult(map[string]any{"tools": out}), true, nil
	case MetaDescribe:
		r, ok := visible(args.Name)
		if !ok {
			return nil, true, fault.WireFor("", fault.UnknownTool(args.Name))
		}
		return jsonResult(r.tool), true, nil
	default: // MetaCall: the named tool, as a direct call, under the same policy
		if args.Name == "" || args.Name == MetaCall {
			return nil, true, fault.Wire(fault.InvalidParams(MetaCall + `: "name" must name a tool`))
		}
		inner := &mcp.CallToolRequest{Session: req.Session, Extra: req.Extra, Params: &mcp.CallToolParamsRaw{
			Meta: req.Params.Meta, Name: args.Name, Arguments: args.Arguments,
		}}
		v.uses.add(args.Name)
		res, err := v.callTool(ctx, inner)
		return res, true, err
	}
}

func jsonResult(v any) *mcp.CallToolResult {
	b, err := json.Marshal(v)
	if err != nil {
		return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: err.Error()}}}
	}
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(b)}}}
}
