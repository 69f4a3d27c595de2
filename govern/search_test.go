package govern

import (
	"fmt"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/assert"
)

func TestSearchTools(t *testing.T) {
	tools := []*mcp.Tool{
		{Name: "create_issue", Description: "Open a new issue in a repository.", InputSchema: map[string]any{"type": "object", "properties": map[string]any{"repo": map[string]any{}, "title": map[string]any{}}}},
		{Name: "listPullRequests", Title: "List pull requests", Description: "Pull requests of a repository."},
		{Name: "send_email", Description: "Send an email."},
		{Name: "read_file", Description: "Read a file, not an issue."},
	}
	tests := []struct {
		query string
		want  []string
	}{
		{"issue", []string{"create_issue", "read_file"}}, // the name counts more than a description
		{"pull requests", []string{"listPullRequests"}},  // camelCase split
		{"Email", []string{"send_email"}},
		{"repo", []string{"create_issue"}}, // argument names
		{"nothing matches", nil},
		{"", nil},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			var got []string
			for _, x := range SearchTools(tools, tc.query, 0) {
				got = append(got, x.Name)
			}
			assert.Equal(t, tc.want, got)
		})
	}
	assert.Len(t, SearchTools(tools, "repository", 1), 1)
}

// BenchmarkSearchTools1000 is one search over a catalog of 1,000 tools.
func BenchmarkSearchTools1000(b *testing.B) {
	var tools []*mcp.Tool
	for i := range 1000 {
		tools = append(tools, &mcp.Tool{Name: fmt.Sprintf("svc%d__tool_%04d", i%20, i),
			Description: fmt.Sprintf("Tool %d of service %d: reads, lists and updates records of kind %d.", i, i%20, i%37),
			InputSchema: map[string]any{"type": "object", "properties": map[string]any{"id": map[string]any{}, fmt.Sprintf("field%d", i%11): map[string]any{}}}})
	}
	b.ReportAllocs()
	for b.Loop() {
		SearchTools(tools, "update records kind 12", 10)
	}
}
