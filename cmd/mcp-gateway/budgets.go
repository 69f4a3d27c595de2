package main

import (
	"path"
	"strings"
	"sync/atomic"

	"github.com/mcp-gateway/mcp-gateway/config"
	"github.com/mcp-gateway/mcp-gateway/govern"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// builtinBudgets are the budgets of clients with known tool caps, as globs
// on the lower-cased clientInfo.name: Cursor warns past 40 tools, Windsurf
// stops at 50, VS Code (Copilot) and OpenAI's clients refuse more than 128.
var builtinBudgets = []config.Budget{
	{Client: "cursor*", MaxTools: 40},
	{Client: "windsurf*", MaxTools: 50},
	{Client: "visual studio code*", MaxTools: 128},
	{Client: "vscode*", MaxTools: 128},
	{Client: "*copilot*", MaxTools: 128},
	{Client: "openai*", MaxTools: 128},
}

// budgets implements aggregator.Budgets from the config; set swaps the
// config in on reload.
type budgets struct {
	cfg atomic.Pointer[config.Budgets]
}

func newBudgets(b config.Budgets) *budgets {
	x := &budgets{}
	x.set(b)
	return x
}

func (b *budgets) set(c config.Budgets) { b.cfg.Store(&c) }

func (b *budgets) Budget(client *mcp.Implementation, identity string) (int, []string) {
	c := b.cfg.Load()
	name := ""
	if client != nil {
		name = strings.ToLower(client.Name)
	}
	match := func(r *config.Budget) bool {
		if r.Client != "" {
			if ok, _ := path.Match(strings.ToLower(r.Client), name); !ok {
				return false
			}
		}
		if r.Identity != "" {
			// identity is "KIND:NAME" ("api_key:ci"); the glob may be
			// written for either.
			_, bare, _ := strings.Cut(identity, ":")
			ok1, _ := path.Match(r.Identity, identity)
			ok2, _ := path.Match(r.Identity, bare)
			if !ok1 && !ok2 {
				return false
			}
		}
		return true
	}
	for _, r := range c.Clients {
		if match(r) {
			return r.MaxTools, r.Pinned
		}
	}
	if c.Builtin == nil || *c.Builtin {
		for i := range builtinBudgets {
			if match(&builtinBudgets[i]) {
				return builtinBudgets[i].MaxTools, nil
			}
		}
	}
	return 0, nil
}

func (b *budgets) Search(tools []*mcp.Tool, query string, limit int) []*mcp.Tool {
	return govern.SearchTools(tools, query, limit)
}
