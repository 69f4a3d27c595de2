package clientconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/mcp-gateway/mcp-gateway/config"
)

// ActionKind is what import did with one server.
type ActionKind string

// What import does with a server.
const (
	Added     ActionKind = "added"     // under its own name
	Renamed   ActionKind = "renamed"   // under another name, its own being taken
	Duplicate ActionKind = "duplicate" // the config already has the same server
	Skipped   ActionKind = "skipped"   // malformed: not imported
)

// Action reports what import did with one server.
type Action struct {
	Kind   ActionKind
	Server Server
	// Name is the server's name in the gateway config (for Duplicate, the
	// name of the entry it duplicates).
	Name string
	// Reason explains a rename, a duplicate or a skip.
	Reason string
}

// Result is the outcome of [Merge].
type Result struct {
	// Config is the gateway config after the merge.
	Config []byte
	// Changed reports whether Config differs from the target.
	Changed bool
	// Actions are one per server read, in the order read.
	Actions []Action
	// Inputs are the VS Code inputs the added servers read from the
	// environment now.
	Inputs []*Input
}

// newConfig is the gateway config import starts from when there is none.
const newConfig = "{\n  \"mcpServers\": {}\n}\n"

// Merge adds the servers of sources to the gateway config target (nil or
// empty: a new config) and returns the result. A server the config already
// has (the same command, arguments, environment and directory, or the same
// URL and headers) is not added twice. A server whose name is taken, or
// whose name would give the same tool-name prefix as an entry's, is added
// under "<name>-<client>" (then "-2", "-3", …): the result never has a name
// or prefix collision, and the same inputs always give the same names. The
// result must be a valid gateway config (environment variables that are not
// set do not count against it), else Merge fails and writes nothing.
func Merge(target []byte, sources []*Source) (*Result, error) {
	if len(bytes.TrimSpace(target)) == 0 {
		target = []byte(newConfig)
	}
	d, err := parseDocument(target)
	if err != nil {
		return nil, fmt.Errorf("the gateway config: %w", err)
	}
	if d.root.kind != '{' {
		return nil, errors.New("the gateway config is not a JSON object")
	}
	names := map[string]bool{}
	prefixes := map[string]string{} // exposed prefix → name
	same := map[string]string{}     // identity of a server → name
	if servers := d.root.get("mcpServers"); servers != nil {
		if servers.kind != '{' {
			return nil, errors.New("the gateway config's mcpServers is not an object")
		}
		for _, m := range servers.members {
			names[m.key] = true
			var e struct {
				Prefix *string `json:"prefix"`
			}
			_ = d.decode(m.val, &e) // a malformed entry keeps its default prefix; validation reports it
			prefix := config.DefaultPrefix(m.key)
			if e.Prefix != nil {
				prefix = *e.Prefix
			}
			prefixes[prefix] = m.key
			if id := identity(d.std[m.val.start:m.val.end]); id != "" {
				same[id] = m.key
			}
		}
	}
	res := &Result{}
	out := d.src
	added := 0
	for _, src := range sources {
		for _, s := range src.Servers {
			a := Action{Server: s}
			if s.Skipped != "" {
				a.Kind, a.Reason = Skipped, s.Skipped
				res.Actions = append(res.Actions, a)
				continue
			}
			id := identity(marshal(s.Entry))
			if other, ok := same[id]; ok {
				a.Kind, a.Name, a.Reason = Duplicate, other, fmt.Sprintf("the same server as %q", other)
				res.Actions = append(res.Actions, a)
				continue
			}
			name, reason := pickName(s, names, prefixes)
			a.Kind, a.Name, a.Reason = Added, name, reason
			if name != s.Name {
				a.Kind = Renamed
			}
			names[name] = true
			prefixes[config.DefaultPrefix(name)] = name
			same[id] = name
			if out, err = addServer(out, name, s.Entry); err != nil {
				return nil, err
			}
			added++
			for _, in := range s.Inputs {
				if !slices.Contains(res.Inputs, in) {
					res.Inputs = append(res.Inputs, in)
				}
			}
			res.Actions = append(res.Actions, a)
		}
	}
	res.Config, res.Changed = out, added > 0
	if err := validate(out); err != nil {
		return nil, fmt.Errorf("the merged config would not be valid (nothing written):\n%w", err)
	}
	return res, nil
}

// pickName returns the name a server is added under and, if it is not its
// own, why.
func pickName(s Server, names map[string]bool, prefixes map[string]string) (string, string) {
	free := func(n string) bool {
		_, taken := prefixes[config.DefaultPrefix(n)]
		return !names[n] && !taken
	}
	if free(s.Name) {
		return s.Name, ""
	}
	reason := fmt.Sprintf("%q is taken by a different server", s.Name)
	if !names[s.Name] {
		reason = fmt.Sprintf("its tool prefix %q is taken by %q", config.DefaultPrefix(s.Name), prefixes[config.DefaultPrefix(s.Name)])
	}
	base := s.Name + "-" + string(s.From.Client)
	if s.From.Client == "" {
		base = s.Name + "-imported"
	}
	for i := 1; ; i++ {
		n := base
		if i > 1 {
			n = fmt.Sprintf("%s-%d", base, i)
		}
		if free(n) {
			return n, reason
		}
	}
}

// addServer adds the entry name to the mcpServers object of the config src,
// making the object if there is none.
func addServer(src []byte, name string, entry object) ([]byte, error) {
	d, err := parseDocument(src)
	if err != nil {
		return nil, err
	}
	servers := d.root.get("mcpServers")
	if servers == nil {
		return d.setMember(d.root, "mcpServers", object{{name, entry}}), nil
	}
	return d.setMember(servers, name, entry), nil
}

// identity is what makes two entries the same server: what is started, or
// where it is reached. It is "" for an entry that cannot be read.
func identity(raw []byte) string {
	var e map[string]any
	if json.Unmarshal(raw, &e) != nil {
		return ""
	}
	keep := map[string]any{}
	for _, k := range []string{"command", "args", "env", "cwd", "url", "headers"} {
		if v, ok := e[k]; ok {
			keep[k] = v
		}
	}
	b, _ := json.Marshal(keep) // maps of decoded JSON always marshal; keys come out sorted
	return string(b)
}

// placeholder stands for an environment variable that is not set when the
// merged config is checked: the variables are read when the gateway starts,
// not now. It is a URL, so a "url" made of one variable passes as well.
const placeholder = "http://unset.invalid/"

// validate checks a gateway config as the gateway would load it.
func validate(data []byte) error {
	_, err := config.ParseEnv(bytes.NewReader(data), func(name string) (string, bool) {
		return placeholder, true
	})
	return err
}
