package config

import "strings"

// expand replaces ${NAME} and ${NAME:-default} in s with values from lookup and turns $$ into $.
// A default is used when NAME is unset or empty; it is taken literally up to the first '}'. A '$'
// followed by anything else stays as written, so "$HOME" and "^a$" are left alone.
//
// The errors, one per bad reference, name at most the variable, never s or a variable's value.
func expand(s string, lookup func(string) (string, bool)) (string, []error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	var errs []error
	for {
		i := strings.IndexByte(s, '$')
		if i < 0 || i == len(s)-1 {
			b.WriteString(s)
			return b.String(), errs
		}
		b.WriteString(s[:i])
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			s = s[i+2:]
		case '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return "", append(errs, detail(ErrInvalidValue, `unterminated "${": write "$$" for a literal "$"`))
			}
			v, err := resolve(s[i+2:i+2+end], lookup)
			if err != nil {
				errs = append(errs, err)
			}
			b.WriteString(v)
			s = s[i+2+end+1:]
		default:
			b.WriteByte('$')
			s = s[i+1:]
		}
	}
}

// resolve returns the value of one reference, given what stands between "${" and "}".
func resolve(ref string, lookup func(string) (string, bool)) (string, error) {
	name, def, hasDef := strings.Cut(ref, ":-")
	switch {
	case strings.HasPrefix(ref, "input:"):
		return "", detail(ErrInvalidValue, `VS Code input variables ("${input:...}") are not supported: use ${NAME} to read the environment`)
	case name == "":
		return "", detail(ErrInvalidValue, `empty variable name in "${...}"`)
	case !isIdent(name):
		return "", detail(ErrInvalidValue, `malformed variable reference: write ${NAME} or ${NAME:-default}, NAME being letters, digits and '_'`)
	case strings.Contains(def, "${"):
		return "", detail(ErrInvalidValue, "variable %s: nested references in a default are not supported", name)
	}
	v, ok := lookup(name)
	if hasDef && (!ok || v == "") {
		return def, nil
	}
	if !ok {
		return "", detail(ErrUnsetVariable, "environment variable %s is not set", name)
	}
	return v, nil
}
