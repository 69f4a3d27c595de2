package aggregator

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// maxListPages bounds how many pages of one list the gateway follows: an
// upstream cannot keep it paging forever.
const maxListPages = 100

// lists is what one upstream last reported. Values are never mutated after
// they are stored, so catalogs may share them.
type lists struct {
	tools     []*mcp.Tool
	prompts   []*mcp.Prompt
	resources []*mcp.Resource
	templates []*mcp.ResourceTemplate
	gov       governed // what the Governor said; zero when listed
}

// listAll lists every feature the upstream advertises.
func listAll(ctx context.Context, cs *mcp.ClientSession, log *slog.Logger) (*lists, error) {
	l := &lists{}
	caps := cs.InitializeResult().Capabilities
	if caps == nil {
		return l, nil
	}
	var err error
	if caps.Tools != nil {
		if l.tools, err = listPages(ctx, log, "tools/list", cs.ListTools,
			func(c string) *mcp.ListToolsParams { return &mcp.ListToolsParams{Cursor: c} },
			func(r *mcp.ListToolsResult) ([]*mcp.Tool, string) { return r.Tools, r.NextCursor }); err != nil {
			return nil, err
		}
	}
	if caps.Prompts != nil {
		if l.prompts, err = listPages(ctx, log, "prompts/list", cs.ListPrompts,
			func(c string) *mcp.ListPromptsParams { return &mcp.ListPromptsParams{Cursor: c} },
			func(r *mcp.ListPromptsResult) ([]*mcp.Prompt, string) { return r.Prompts, r.NextCursor }); err != nil {
			return nil, err
		}
	}
	if caps.Resources != nil {
		if l.resources, err = listPages(ctx, log, "resources/list", cs.ListResources,
			func(c string) *mcp.ListResourcesParams { return &mcp.ListResourcesParams{Cursor: c} },
			func(r *mcp.ListResourcesResult) ([]*mcp.Resource, string) { return r.Resources, r.NextCursor }); err != nil {
			return nil, err
		}
		if l.templates, err = listPages(ctx, log, "resources/templates/list", cs.ListResourceTemplates,
			func(c string) *mcp.ListResourceTemplatesParams { return &mcp.ListResourceTemplatesParams{Cursor: c} },
			func(r *mcp.ListResourceTemplatesResult) ([]*mcp.ResourceTemplate, string) {
				return r.ResourceTemplates, r.NextCursor
			}); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// listPages follows a list's cursors, stopping at maxListPages or a repeated
// cursor with what it has and a warning.
func listPages[P, R, T any](ctx context.Context, log *slog.Logger, method string, list func(context.Context, P) (R, error),
	params func(cursor string) P, page func(R) ([]T, string)) ([]T, error) {
	var all []T
	seen := map[string]bool{}
	cursor := ""
	for i := 0; ; i++ {
		res, err := list(ctx, params(cursor))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", method, err)
		}
		items, next := page(res)
		all = append(all, items...)
		if next == "" {
			return all, nil
		}
		if seen[next] || i+1 >= maxListPages {
			log.Warn("upstream pagination stopped early", "method", method, "pages", i+1, "items", len(all))
			return all, nil
		}
		seen[next] = true
		cursor = next
	}
}
