package deploy

// A Dockerfile reader, just enough for the checks: the stages and their
// instructions, with continuation lines joined and comments dropped. It does
// not expand ARGs or parse heredocs; the checked Dockerfile uses neither in
// what the checks read.

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dfInstr is one instruction: its keyword in upper case, its arguments, and
// the line it starts on.
type dfInstr struct {
	cmd  string
	args string
	line int
}

// dfStage is one FROM and the instructions after it.
type dfStage struct {
	image, name string
	instrs      []dfInstr
}

// all returns the stage's instructions with keyword cmd, in order.
func (s dfStage) all(cmd string) []dfInstr {
	var out []dfInstr
	for _, in := range s.instrs {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// errContinued is returned for a Dockerfile that ends inside a continued line.
var errContinued = errors.New("Dockerfile ends inside a continued line")

// parseDockerfile splits a Dockerfile into stages of instructions, joining
// continuation lines (a trailing backslash) and dropping comment lines.
func parseDockerfile(data []byte) ([]dfStage, error) {
	var stages []dfStage
	var cur strings.Builder
	start := 0
	flush := func() error {
		s := strings.TrimSpace(cur.String())
		cur.Reset()
		if s == "" {
			return nil
		}
		cmd, args, _ := strings.Cut(s, " ")
		in := dfInstr{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: start}
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			f = slices.DeleteFunc(f, func(s string) bool { return strings.HasPrefix(s, "--") })
			if len(f) == 0 {
				return fmt.Errorf("line %d: FROM without an image", in.line)
			}
			st := dfStage{image: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			}
			stages = append(stages, st)
			return nil
		}
		if len(stages) == 0 {
			return fmt.Errorf("line %d: %s before FROM", in.line, in.cmd)
		}
		stages[len(stages)-1].instrs = append(stages[len(stages)-1].instrs, in)
		return nil
	}
	for i, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if body, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(trimmed)
		if err := flush(); err != nil {
			return nil, err
		}
	}
	if cur.Len() != 0 {
		return nil, errContinued
	}
	return stages, nil
}

// readDockerfile parses the Dockerfile at p.
func readDockerfile(t *testing.T, p string) []dfStage {
	t.Helper()
	data, err := os.ReadFile(p)
	require.NoError(t, err)
	stages, err := parseDockerfile(data)
	require.NoError(t, err, p)
	return stages
}

// execForm parses an exec-form (JSON array) instruction argument.
func execForm(in dfInstr) ([]string, error) {
	var v []string
	if err := json.Unmarshal([]byte(in.args), &v); err != nil {
		return nil, fmt.Errorf("line %d: %s must be exec form (a JSON array): %w", in.line, in.cmd, err)
	}
	return v, nil
}

func TestParseDockerfile(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []dfStage
		err  string // substring of the error; "" when valid
	}{
		{name: "empty", in: "", want: nil},
		{name: "comments and blank lines only", in: "# syntax=docker/dockerfile:1\n\n# more\n", want: nil},
		{
			name: "one stage",
			in:   "FROM alpine:3\nRUN echo hi\nCMD [\"sh\"]\n",
			want: []dfStage{{image: "alpine:3", instrs: []dfInstr{{"RUN", "echo hi", 2}, {"CMD", `["sh"]`, 3}}}},
		},
		{
			name: "stages with names and flags",
			in:   "FROM --platform=$BUILDPLATFORM golang:1.26 AS build\nWORKDIR /src\n\nFROM scratch\nCOPY --from=build /out/x /x\n",
			want: []dfStage{
				{image: "golang:1.26", name: "build", instrs: []dfInstr{{"WORKDIR", "/src", 2}}},
				{image: "scratch", instrs: []dfInstr{{"COPY", "--from=build /out/x /x", 5}}},
			},
		},
		{
			name: "lower-case keywords and AS",
			in:   "from a as b\nrun x\n",
			want: []dfStage{{image: "a", name: "b", instrs: []dfInstr{{"RUN", "x", 2}}}},
		},
		{
			name: "continuation lines are joined; the instruction keeps its first line",
			in:   "FROM a\nRUN one && \\\n    two \\\n    three\nUSER 1\n",
			want: []dfStage{{image: "a", instrs: []dfInstr{{"RUN", "one &&  two  three", 2}, {"USER", "1", 5}}}},
		},
		{
			name: "a comment inside a continuation is dropped",
			in:   "FROM a\nRUN one \\\n# not part of it\n  two\n",
			want: []dfStage{{image: "a", instrs: []dfInstr{{"RUN", "one  two", 2}}}},
		},
		{
			name: "CRLF line ends",
			in:   "FROM a\r\nEXPOSE 8080\r\n",
			want: []dfStage{{image: "a", instrs: []dfInstr{{"EXPOSE", "8080", 2}}}},
		},
		{name: "instruction before FROM", in: "RUN x\nFROM a\n", err: "line 1: RUN before FROM"},
		{name: "FROM without an image", in: "FROM --platform=linux/amd64\n", err: "line 1: FROM without an image"},
		{name: "bare FROM", in: "# c\nFROM\n", err: "line 2: FROM without an image"},
		{name: "ends inside a continued line", in: "FROM a\nRUN x \\", err: errContinued.Error()},
		{
			name: "a blank line ends a continued line",
			in:   "FROM a\nRUN x \\\n\nUSER 1\n",
			want: []dfStage{{image: "a", instrs: []dfInstr{{"RUN", "x", 2}, {"USER", "1", 4}}}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseDockerfile([]byte(tc.in))
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				assert.Nil(t, got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestDfStageAll(t *testing.T) {
	s := dfStage{instrs: []dfInstr{{"RUN", "a", 1}, {"ENV", "X=1", 2}, {"RUN", "b", 3}}}
	assert.Equal(t, []dfInstr{{"RUN", "a", 1}, {"RUN", "b", 3}}, s.all("RUN"))
	assert.Nil(t, s.all("CMD"))
}

func TestExecForm(t *testing.T) {
	for _, tc := range []struct {
		args string
		want []string
		err  bool
	}{
		{args: `["/mcp-gateway"]`, want: []string{"/mcp-gateway"}},
		{args: `["serve", "--http", "0.0.0.0:8080"]`, want: []string{"serve", "--http", "0.0.0.0:8080"}},
		{args: `[]`, want: []string{}},
		{args: `serve --http 0.0.0.0:8080`, err: true}, // shell form
		{args: `["serve", 1]`, err: true},
		{args: `{"a":1}`, err: true},
	} {
		got, err := execForm(dfInstr{cmd: "CMD", args: tc.args, line: 7})
		if tc.err {
			if assert.Error(t, err, tc.args) {
				assert.Contains(t, err.Error(), "line 7: CMD must be exec form")
			}
			continue
		}
		require.NoError(t, err, tc.args)
		assert.Equal(t, tc.want, got, tc.args)
	}
}

// FuzzDockerfile checks that parseDockerfile never panics and that what it
// accepts is well formed: upper-case keywords without spaces, line numbers
// within the file and increasing, every stage with an image.
func FuzzDockerfile(f *testing.F) {
	real, err := os.ReadFile("Dockerfile")
	require.NoError(f, err)
	f.Add(real)
	for _, s := range []string{"", "FROM a\nRUN x \\\n", "RUN x\n", "FROM a AS b\nCOPY --from=b / /\n\\\n", "FROM\t\\\n a\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		stages, err := parseDockerfile(data)
		if err != nil {
			assert.Nil(t, stages)
			return
		}
		lines := strings.Count(string(data), "\n") + 1
		last := 0
		for _, st := range stages {
			assert.NotEmpty(t, st.image)
			assert.False(t, strings.HasPrefix(st.image, "--"), "image %q", st.image)
			for _, in := range st.instrs {
				assert.NotEmpty(t, in.cmd)
				assert.Equal(t, strings.ToUpper(in.cmd), in.cmd)
				assert.NotContains(t, in.cmd, " ")
				assert.NotEqual(t, "FROM", in.cmd)
				assert.Greater(t, in.line, last, "instructions in line order")
				assert.LessOrEqual(t, in.line, lines)
				last = in.line
			}
		}
	})
}
