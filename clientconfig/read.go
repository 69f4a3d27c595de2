package clientconfig

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Server is one server entry of a client's file, converted to a gateway
// mcpServers entry.
type Server struct {
	// Name is the entry's key in the client's file.
	Name string
	// From is the file it was read from.
	From Location
	// Entry is the gateway entry: command, args, env, cwd, url, headers,
	// transport, disabled — in that order, the ones set.
	Entry object
	// Dropped lists, sorted, the client's keys the gateway has no use for
	// (autoApprove, envFile, …): they are left out of Entry.
	Dropped []string
	// Disabled, if set, says why the entry is imported disabled: it uses a
	// variable only the client can resolve.
	Disabled string
	// Skipped, if set, says why the entry is not imported at all: it is
	// malformed.
	Skipped string
	// Inputs are the VS Code inputs it uses.
	Inputs []*Input
}

// Source is what one client file holds.
type Source struct {
	Location Location
	Servers  []Server
	// Inputs are the VS Code inputs the servers use, in the order first used.
	Inputs []*Input
}

// Parse reads the servers of a client file in loc's shape (or, with an empty
// shape, whichever shape the file has). VS Code files may hold comments and
// trailing commas.
func Parse(loc Location, data []byte, e Env) (*Source, error) {
	d, err := parseDocument(data)
	if err != nil {
		return nil, err
	}
	if d.root.kind != '{' {
		return nil, fmt.Errorf("%w: the file is not a JSON object", ErrSyntax)
	}
	if loc.Shape == "" {
		loc.Shape = detectShape(d.root)
	}
	var servers, inputs *node
	switch loc.Shape {
	case ShapeMCPServers:
		servers = d.root.get("mcpServers")
	case ShapeServers:
		servers, inputs = d.root.get("servers"), d.root.get("inputs")
		if servers == nil { // a VS Code mcp.json written in the common shape
			servers = d.root.get("mcpServers")
		}
	case ShapeSettings:
		if mcp := d.root.get("mcp"); mcp != nil {
			servers, inputs = mcp.get("servers"), mcp.get("inputs")
		} else {
			servers, inputs = d.root.get("mcp.servers"), d.root.get("mcp.inputs")
		}
	}
	src := &Source{Location: loc}
	if servers == nil {
		return src, nil
	}
	if servers.kind != '{' {
		return nil, fmt.Errorf("the servers are not a JSON object")
	}
	vc := &varContext{env: e, workspace: loc.Workspace, inputs: map[string]*Input{}, used: map[string]*Input{}}
	if inputs != nil && inputs.kind == '[' {
		for _, el := range inputs.elems {
			var in struct {
				ID          string `json:"id"`
				Description string `json:"description"`
				Password    bool   `json:"password"`
			}
			if d.decode(el, &in) == nil && in.ID != "" {
				vc.inputs[in.ID] = &Input{ID: in.ID, Description: in.Description, Password: in.Password, Env: inputEnv(in.ID)}
			}
		}
	}
	for _, m := range servers.members {
		vc.used = map[string]*Input{}
		s := convertEntry(d, m, vc)
		s.From = loc
		for _, id := range slices.Sorted(maps.Keys(vc.used)) {
			s.Inputs = append(s.Inputs, vc.used[id])
			if !slices.Contains(src.Inputs, vc.used[id]) {
				src.Inputs = append(src.Inputs, vc.used[id])
			}
		}
		src.Servers = append(src.Servers, s)
	}
	return src, nil
}

// detectShape tells a file's shape from its top-level keys.
func detectShape(root *node) Shape {
	switch {
	case root.get("mcpServers") != nil:
		return ShapeMCPServers
	case root.get("servers") != nil:
		return ShapeServers
	case root.get("mcp") != nil || root.get("mcp.servers") != nil:
		return ShapeSettings
	}
	return ShapeMCPServers
}

// gatewayKeys are the client keys the gateway entry is made of.
var gatewayKeys = []string{"command", "args", "env", "cwd", "url", "serverUrl", "headers", "type", "transport", "disabled"}

// convertEntry converts one client server entry.
func convertEntry(d *document, m member, vc *varContext) Server {
	s := Server{Name: m.key}
	if m.val.kind != '{' {
		s.Skipped = "the entry is not a JSON object"
		return s
	}
	for _, f := range m.val.members {
		if !slices.Contains(gatewayKeys, f.key) && !slices.Contains(s.Dropped, f.key) {
			s.Dropped = append(s.Dropped, f.key)
		}
	}
	slices.Sort(s.Dropped)
	var raw struct {
		Command   *string        `json:"command"`
		Args      []any          `json:"args"`
		Env       map[string]any `json:"env"`
		Cwd       *string        `json:"cwd"`
		URL       *string        `json:"url"`
		ServerURL *string        `json:"serverUrl"` // Windsurf
		Headers   map[string]any `json:"headers"`
		Type      *string        `json:"type"`
		Transport *string        `json:"transport"`
		Disabled  *bool          `json:"disabled"`
	}
	if err := d.decode(m.val, &raw); err != nil {
		s.Skipped = "malformed entry: " + strings.TrimPrefix(err.Error(), "json: ")
		return s
	}
	var unresolved []string
	conv := func(v string) string {
		out, err := vc.convert(v)
		if err != nil && !slices.Contains(unresolved, err.Error()) {
			unresolved = append(unresolved, err.Error())
		}
		return out
	}
	str := func(v any) (string, bool) {
		switch v := v.(type) {
		case string:
			return v, true
		case float64, bool:
			return fmt.Sprint(v), true
		}
		return "", false
	}
	strMap := func(key string, in map[string]any) (object, error) {
		var out object
		for _, k := range slices.Sorted(maps.Keys(in)) {
			v, ok := str(in[k])
			if !ok {
				return nil, fmt.Errorf("%s.%s is not a string", key, k)
			}
			out.set(k, conv(v))
		}
		return out, nil
	}
	url := raw.URL
	if url == nil {
		url = raw.ServerURL
	}
	if raw.Command != nil && *raw.Command != "" {
		s.Entry.set("command", conv(*raw.Command))
	}
	if len(raw.Args) > 0 {
		args := make([]string, 0, len(raw.Args))
		for i, a := range raw.Args {
			v, ok := str(a)
			if !ok {
				s.Skipped = fmt.Sprintf("args[%d] is not a string", i)
				return s
			}
			args = append(args, conv(v))
		}
		s.Entry.set("args", args)
	}
	if len(raw.Env) > 0 {
		env, err := strMap("env", raw.Env)
		if err != nil {
			s.Skipped = err.Error()
			return s
		}
		s.Entry.set("env", env)
	}
	if raw.Cwd != nil && *raw.Cwd != "" {
		s.Entry.set("cwd", conv(*raw.Cwd))
	}
	if url != nil && *url != "" {
		s.Entry.set("url", conv(*url))
	}
	if len(raw.Headers) > 0 {
		h, err := strMap("headers", raw.Headers)
		if err != nil {
			s.Skipped = err.Error()
			return s
		}
		s.Entry.set("headers", h)
	}
	hasCommand, hasURL := raw.Command != nil && *raw.Command != "", url != nil && *url != ""
	switch {
	case hasCommand && hasURL:
		s.Skipped = `it has both "command" and a URL`
		return s
	case !hasCommand && !hasURL:
		s.Skipped = `it has neither "command" nor a URL`
		return s
	}
	t := raw.Type
	if t == nil {
		t = raw.Transport
	}
	if t != nil {
		switch tr := transportOf(*t); {
		case tr == "":
			s.Skipped = fmt.Sprintf("unknown transport %q", *t)
			return s
		case tr == "stdio" && !hasCommand, tr != "stdio" && !hasURL:
			s.Skipped = fmt.Sprintf("transport %q does not fit the entry", *t)
			return s
		case tr == "sse":
			s.Entry.set("transport", "sse")
		}
	}
	if len(unresolved) > 0 {
		s.Disabled = strings.Join(unresolved, "; ")
	}
	if (raw.Disabled != nil && *raw.Disabled) || s.Disabled != "" {
		s.Entry.set("disabled", true)
	}
	return s
}

// transportOf maps a client's type or transport value to the gateway's
// transport, or "".
func transportOf(t string) string {
	switch strings.ToLower(t) {
	case "stdio", "local":
		return "stdio"
	case "http", "streamable-http", "streamablehttp", "streamable_http", "remote":
		return "http"
	case "sse":
		return "sse"
	}
	return ""
}
