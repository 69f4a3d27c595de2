package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExpand(t *testing.T) {
	env := map[string]string{"A": "alpha", "EMPTY": "", "DOLLAR": "$B", "BRACE": "${A}"}
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr []string
	}{
		{name: "no references", in: "plain text", want: "plain text"},
		{name: "variable", in: "${A}", want: "alpha"},
		{name: "embedded", in: "x-${A}-y", want: "x-alpha-y"},
		{name: "adjacent", in: "${A}${A}", want: "alphaalpha"},
		{name: "set but empty", in: "[${EMPTY}]", want: "[]"},
		{name: "default when unset", in: "${NOPE:-fallback}", want: "fallback"},
		{name: "default when empty", in: "${EMPTY:-fallback}", want: "fallback"},
		{name: "default unused", in: "${A:-fallback}", want: "alpha"},
		{name: "empty default", in: "${NOPE:-}", want: ""},
		{name: "default with specials", in: "${NOPE:-a:-b $c}", want: "a:-b $c"},
		{name: "escaped dollar", in: "$$", want: "$"},
		{name: "escaped reference", in: "$${A}", want: "${A}"},
		{name: "four dollars", in: "$$$$", want: "$$"},
		{name: "lone dollar kept", in: "$HOME $ a$", want: "$HOME $ a$"},
		{name: "values are not expanded again", in: "${DOLLAR} ${BRACE}", want: "$B ${A}"},
		{name: "unset", in: "Bearer ${TOKEN}", wantErr: []string{"environment variable TOKEN is not set"}},
		{name: "every unset one", in: "${X1}${X2}", wantErr: []string{"environment variable X1 is not set", "environment variable X2 is not set"}},
		{name: "unterminated", in: "a ${A", wantErr: []string{`unterminated "${": write "$$" for a literal "$"`}},
		{name: "empty name", in: "${}", wantErr: []string{`empty variable name in "${...}"`}},
		{name: "empty name with default", in: "${:-x}", wantErr: []string{`empty variable name in "${...}"`}},
		{name: "bad name", in: "${A-B}", wantErr: []string{`malformed variable reference: write ${NAME} or ${NAME:-default}, NAME being letters, digits and '_'`}},
		{name: "leading digit", in: "${1A}", wantErr: []string{`malformed variable reference: write ${NAME} or ${NAME:-default}, NAME being letters, digits and '_'`}},
		{name: "colon without dash", in: "${A:x}", wantErr: []string{`malformed variable reference: write ${NAME} or ${NAME:-default}, NAME being letters, digits and '_'`}},
		{name: "vs code input", in: "${input:token}", wantErr: []string{`VS Code input variables ("${input:...}") are not supported: use ${NAME} to read the environment`}},
		{name: "nested default", in: "${NOPE:-${A}}", wantErr: []string{"variable NOPE: nested references in a default are not supported"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, errs := expand(tc.in, lookupIn(env))
			if tc.wantErr != nil {
				var msgs []string
				for _, err := range errs {
					msgs = append(msgs, err.Error())
				}
				assert.Equal(t, tc.wantErr, msgs)
				return
			}
			require.Empty(t, errs)
			assert.Equal(t, tc.want, got)
		})
	}
}
