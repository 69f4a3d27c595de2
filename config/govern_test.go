package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseOverridesAndPins(t *testing.T) {
	c, err := parseString(`{
		"mcpServers": {"a": {"command": "x", "overrides": {
			"tools": {
				"echo": {"name": "say", "description": "Repeat text.", "annotations": {"readOnlyHint": true}},
				"secret": {"hidden": true}
			},
			"prompts": {"greet": {"title": ""}}
		}}},
		"gateway": {"pins": {"new": "admit"}}
	}`, nil)
	require.NoError(t, err)
	o := c.MCPServers["a"].Overrides
	assert.Equal(t, "say", o.Tools["echo"].Name)
	assert.Equal(t, "Repeat text.", *o.Tools["echo"].Description)
	assert.True(t, *o.Tools["echo"].Annotations.ReadOnlyHint)
	assert.Nil(t, o.Tools["echo"].Annotations.DestructiveHint)
	assert.True(t, o.Tools["secret"].Hidden)
	assert.Equal(t, "", *o.Prompts["greet"].Title)
	assert.Equal(t, PinsNewAdmit, c.Gateway.Pins.New)
}

func TestValidateOverridesAndPins(t *testing.T) {
	tests := []struct {
		name string
		json string
		want []string
	}{
		{"budget without a match", `{"gateway": {"budgets": {"clients": [{"max_tools": 10}, {"client": "[", "max_tools": 3}]}}}`,
			[]string{
				`gateway.budgets.clients[0]: needs "client" or "identity"`,
				`gateway.budgets.clients[1].client: invalid glob pattern (see Go's path.Match)`,
				`gateway.budgets.clients[1].max_tools: must be at least 4 (three meta-tools and one tool), or 0 for no limit`,
			}},
		{"bad pins.new", `{"gateway": {"pins": {"new": "trust"}}}`,
			[]string{`gateway.pins.new: must be "quarantine" or "admit"`}},
		{"bad new name", `{"mcpServers": {"a": {"command": "x", "overrides": {"tools": {"t": {"name": "has space"}}}}}}`,
			[]string{`mcpServers.a.overrides.tools.t.name: must be 1 to 128 letters, digits, "_", "." or "-"`}},
		{"two renamed to one", `{"mcpServers": {"a": {"command": "x", "overrides": {"tools": {"t": {"name": "u"}, "v": {"name": "u"}}}}}}`,
			[]string{`mcpServers.a.overrides.tools.v.name: "t" is renamed to the same name`}},
		{"prompt annotations", `{"mcpServers": {"a": {"command": "x", "overrides": {"prompts": {"p": {"annotations": {"readOnlyHint": true}}}}}}}`,
			[]string{`mcpServers.a.overrides.prompts.p.annotations: only tools have annotations`}},
		{"hidden and renamed", `{"mcpServers": {"a": {"command": "x", "overrides": {"tools": {"t": {"hidden": true, "name": "u"}}}}}}`,
			[]string{`mcpServers.a.overrides.tools.t: "hidden" with other changes: a hidden item is not exposed at all`}},
		{"unknown override key", `{"mcpServers": {"a": {"command": "x", "overrides": {"tools": {"t": {"nmae": "u"}}}}}}`,
			[]string{`mcpServers.a.overrides.tools.t.nmae: unknown key, did you mean "name"?`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseString(tc.json, nil)
			require.Error(t, err)
			assert.Equal(t, tc.want, errLines(err))
		})
	}
}
