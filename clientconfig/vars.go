package clientconfig

import (
	"cmp"
	"fmt"
	"path"
	"strings"
)

// Input is a VS Code input variable: a value VS Code asks the user for
// (a token, typically). The gateway reads it from the environment instead.
type Input struct {
	ID          string
	Description string
	Password    bool
	// Env is the environment variable that replaces ${input:ID}.
	Env string
}

// inputEnv is the environment variable standing for VS Code input id: its
// letters and digits upper-cased, other characters as "_", after MCP_INPUT_
// (a prefix, so an input called "path" cannot read $PATH).
func inputEnv(id string) string {
	var b strings.Builder
	b.WriteString("MCP_INPUT_")
	for _, r := range id {
		switch {
		case r >= 'a' && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
		case r >= 'A' && r <= 'Z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// varContext is what converting a client's variable references needs.
type varContext struct {
	env       Env
	workspace string            // the workspace folder, if the file is a workspace's
	inputs    map[string]*Input // by id
	used      map[string]*Input // inputs referenced, by id
}

// convert rewrites a client's variable references into the gateway's
// ${NAME} syntax: ${env:NAME} → ${NAME}; ${input:id} → ${MCP_INPUT_ID};
// ${userHome}, ${workspaceFolder}, ${workspaceFolderBasename},
// ${pathSeparator} and ${/} → their values; ${NAME} and ${NAME:-default}
// stay. A "$$" that the client meant literally is doubled, since the gateway
// reads "$$" as "$". A reference the gateway cannot resolve is kept as
// literal text ("$${command:x}") and reported in the error: the value is
// then unusable, but the config stays valid.
func (vc *varContext) convert(s string) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	var firstErr error
	for {
		i := strings.IndexByte(s, '$')
		if i < 0 {
			b.WriteString(s)
			return b.String(), firstErr
		}
		b.WriteString(s[:i])
		s = s[i:]
		if !strings.HasPrefix(s, "${") {
			if strings.HasPrefix(s, "$$") {
				b.WriteString("$$") // the gateway reads "$$" as "$": keep the client's literal "$"
			} else {
				b.WriteByte('$')
			}
			s = s[1:]
			continue
		}
		end := strings.IndexByte(s, '}')
		if end < 0 {
			b.WriteString("$" + s) // the gateway would read "${" as a reference
			return b.String(), cmp.Or(firstErr, fmt.Errorf("unterminated %q", s))
		}
		ref := s[2:end]
		s = s[end+1:]
		out, err := vc.ref(ref)
		if err != nil {
			firstErr = cmp.Or(firstErr, err)
			out = "$${" + ref + "}"
		}
		b.WriteString(out)
	}
}

// ref converts what stands between "${" and "}".
func (vc *varContext) ref(ref string) (string, error) {
	literal := func(v string) string { return strings.ReplaceAll(v, "$", "$$") }
	kind, rest, hasKind := strings.Cut(ref, ":")
	switch {
	case hasKind && kind == "env" && isIdent(rest):
		return "${" + rest + "}", nil
	case hasKind && kind == "input":
		in := vc.inputs[rest]
		if in == nil {
			// VS Code also prompts for an input it has no definition of.
			in = &Input{ID: rest, Env: inputEnv(rest)}
			vc.inputs[rest] = in
		}
		vc.used[rest] = in
		return "${" + in.Env + "}", nil
	case ref == "userHome":
		return literal(vc.env.Home), nil
	case ref == "pathSeparator" || ref == "/":
		if vc.env.GOOS == "windows" {
			return `\`, nil
		}
		return "/", nil
	case (ref == "workspaceFolder" || ref == "workspaceFolderBasename") && vc.workspace != "":
		if ref == "workspaceFolder" {
			return literal(vc.workspace), nil
		}
		return literal(path.Base(strings.ReplaceAll(vc.workspace, `\`, "/"))), nil
	case clientVariables[ref]:
		return "", fmt.Errorf("${%s} has no meaning outside the client", ref)
	case isIdent(ref):
		return "${" + ref + "}", nil
	case hasKind && isIdent(kind) && strings.HasPrefix(rest, "-"):
		return "${" + ref + "}", nil // ${NAME:-default}
	}
	return "", fmt.Errorf("${%s} has no meaning outside the client", ref)
}

// clientVariables are the predefined variables of VS Code and Cursor that
// only an editor can resolve (the open file, the selection, …), besides the
// ones convert resolves.
var clientVariables = map[string]bool{
	"workspaceFolder": true, "workspaceFolderBasename": true, "file": true, "fileWorkspaceFolder": true,
	"relativeFile": true, "relativeFileDirname": true, "fileBasename": true, "fileBasenameNoExtension": true,
	"fileExtname": true, "fileDirname": true, "fileDirnameBasename": true, "cwd": true, "lineNumber": true,
	"selectedText": true, "execPath": true, "defaultBuildTask": true,
}

// isIdent reports whether s is a variable name the gateway expands: letters,
// digits and '_', not starting with a digit.
func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
