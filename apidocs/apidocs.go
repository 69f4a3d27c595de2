// Package apidocs serves the OpenAPI 3.1 description of the gateway's
// HTTP endpoints besides MCP (/openapi.json) and a page that renders it
// (/docs). Both come from the binary alone: the document is embedded and the
// page is rendered on the server, with no script and nothing from the
// network.
package apidocs

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"sort"
	"strings"
)

//go:embed openapi.json
var document []byte

//go:embed docs.html
var pageTemplate string

// Docs serves the document and its page.
type Docs struct {
	spec []byte
	page []byte
}

// New returns the docs with info.version set to version.
func New(version string) (*Docs, error) {
	var doc map[string]any
	if err := json.Unmarshal(document, &doc); err != nil {
		return nil, fmt.Errorf("apidocs: the embedded document: %w", err)
	}
	if info, ok := doc["info"].(map[string]any); ok && version != "" {
		info["version"] = version
	}
	spec, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	var typed spec31
	if err := json.Unmarshal(spec, &typed); err != nil {
		return nil, fmt.Errorf("apidocs: the embedded document: %w", err)
	}
	tmpl, err := template.New("docs").Parse(pageTemplate)
	if err != nil {
		return nil, err
	}
	var page bytes.Buffer
	if err := tmpl.Execute(&page, render(typed)); err != nil {
		return nil, err
	}
	return &Docs{spec: spec, page: page.Bytes()}, nil
}

// Document returns the OpenAPI document.
func (d *Docs) Document() []byte { return slices.Clone(d.spec) }

// Spec serves GET /openapi.json.
func (d *Docs) Spec() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Write(d.spec)
	})
}

// Page serves GET /docs.
func (d *Docs) Page() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		w.Write(d.page)
	})
}

// spec31 is the part of an OpenAPI 3.1 document the page shows.
type spec31 struct {
	OpenAPI string `json:"openapi"`
	Info    struct {
		Title       string `json:"title"`
		Version     string `json:"version"`
		Summary     string `json:"summary"`
		Description string `json:"description"`
	} `json:"info"`
	Tags []struct {
		Name        string `json:"name"`
		Description string `json:"description"`
	} `json:"tags"`
	Paths      map[string]map[string]operation `json:"paths"`
	Components struct {
		SecuritySchemes map[string]struct {
			Type        string `json:"type"`
			In          string `json:"in"`
			Name        string `json:"name"`
			Scheme      string `json:"scheme"`
			Description string `json:"description"`
		} `json:"securitySchemes"`
		Responses map[string]response `json:"responses"`
		Schemas   map[string]schema   `json:"schemas"`
	} `json:"components"`
}

type operation struct {
	Tags        []string              `json:"tags"`
	Summary     string                `json:"summary"`
	Description string                `json:"description"`
	Access      string                `json:"x-access"`
	Security    []map[string][]string `json:"security"`
	Parameters  []struct {
		Name        string `json:"name"`
		In          string `json:"in"`
		Description string `json:"description"`
		Schema      schema `json:"schema"`
	} `json:"parameters"`
	RequestBody *struct {
		Content map[string]media `json:"content"`
	} `json:"requestBody"`
	Responses map[string]response `json:"responses"`
}

type response struct {
	Ref         string           `json:"$ref"`
	Description string           `json:"description"`
	Content     map[string]media `json:"content"`
}

type media struct {
	Schema  *schema `json:"schema"`
	Example any     `json:"example"`
}

type schema struct {
	Ref         string            `json:"$ref"`
	Type        any               `json:"type"` // a string or a list
	Format      string            `json:"format"`
	Const       any               `json:"const"`
	Enum        []any             `json:"enum"`
	Items       *schema           `json:"items"`
	Properties  map[string]schema `json:"properties"`
	Required    []string          `json:"required"`
	Description string            `json:"description"`
}

// The page's view of the document.
type (
	pageView struct {
		Title, Version, Summary, Description, OpenAPI string
		Groups                                        []groupView
		Schemes                                       []schemeView
		Schemas                                       []schemaView
	}
	groupView struct {
		Name, Description string
		Ops               []opView
	}
	opView struct {
		ID, Method, Path, Summary, Description, Access string
		Auth                                           []string
		Params                                         []fieldView
		Request                                        []bodyView
		Responses                                      []respView
	}
	bodyView struct {
		Type    string
		Schema  typeView
		Example string
	}
	respView struct {
		Code, Description string
		Bodies            []bodyView
	}
	schemeView struct{ Name, Where, Description string }
	schemaView struct {
		Name, Description string
		Fields            []fieldView
		Type              typeView
	}
	fieldView struct {
		Name, In, Description string
		Required              bool
		Type                  typeView
	}
	// typeView is a type written out, with a link when it names a schema.
	typeView struct{ Text, Link string }
)

var methodOrder = []string{"get", "post", "put", "patch", "delete"}

func render(s spec31) pageView {
	v := pageView{Title: s.Info.Title, Version: s.Info.Version, Summary: s.Info.Summary, Description: s.Info.Description, OpenAPI: s.OpenAPI}
	byTag := map[string][]opView{}
	paths := make([]string, 0, len(s.Paths))
	for p := range s.Paths {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		for _, m := range methodOrder {
			op, ok := s.Paths[p][m]
			if !ok {
				continue
			}
			ov := opView{ID: m + "-" + strings.NewReplacer("/", "-", "{", "", "}", "", ".", "").Replace(p),
				Method: strings.ToUpper(m), Path: p, Summary: op.Summary, Description: op.Description, Access: op.Access}
			if len(op.Security) == 0 {
				ov.Auth = []string{"none"}
			}
			for _, alt := range op.Security {
				if len(alt) == 0 {
					ov.Auth = append(ov.Auth, "none")
				}
				for name := range alt {
					ov.Auth = append(ov.Auth, name)
				}
			}
			for _, prm := range op.Parameters {
				ov.Params = append(ov.Params, fieldView{Name: prm.Name, In: prm.In, Description: prm.Description, Required: true, Type: typeOf(prm.Schema)})
			}
			if op.RequestBody != nil {
				ov.Request = bodies(op.RequestBody.Content)
			}
			codes := make([]string, 0, len(op.Responses))
			for c := range op.Responses {
				codes = append(codes, c)
			}
			sort.Strings(codes)
			for _, c := range codes {
				r := op.Responses[c]
				if name, ok := strings.CutPrefix(r.Ref, "#/components/responses/"); ok {
					r = s.Components.Responses[name]
				}
				ov.Responses = append(ov.Responses, respView{Code: c, Description: r.Description, Bodies: bodies(r.Content)})
			}
			tag := "other"
			if len(op.Tags) > 0 {
				tag = op.Tags[0]
			}
			byTag[tag] = append(byTag[tag], ov)
		}
	}
	for _, t := range s.Tags {
		if ops := byTag[t.Name]; len(ops) > 0 {
			v.Groups = append(v.Groups, groupView{Name: t.Name, Description: t.Description, Ops: ops})
			delete(byTag, t.Name)
		}
	}
	if ops := byTag["other"]; len(ops) > 0 {
		v.Groups = append(v.Groups, groupView{Name: "other", Ops: ops})
	}
	for _, name := range sortedKeys(s.Components.SecuritySchemes) {
		sc := s.Components.SecuritySchemes[name]
		where := sc.In + " " + sc.Name
		if sc.Type == "http" {
			where = "Authorization: " + sc.Scheme
		}
		v.Schemes = append(v.Schemes, schemeView{Name: name, Where: where, Description: sc.Description})
	}
	for _, name := range sortedKeys(s.Components.Schemas) {
		sc := s.Components.Schemas[name]
		v.Schemas = append(v.Schemas, schemaView{Name: name, Description: sc.Description, Fields: fields(sc), Type: typeOf(sc)})
	}
	return v
}

func bodies(content map[string]media) []bodyView {
	var out []bodyView
	for _, ct := range sortedKeys(content) {
		m := content[ct]
		b := bodyView{Type: ct}
		if m.Schema != nil {
			b.Schema = typeOf(*m.Schema)
		}
		if m.Example != nil {
			ex, _ := json.MarshalIndent(m.Example, "", "  ")
			b.Example = string(ex)
		}
		out = append(out, b)
	}
	return out
}

func fields(s schema) []fieldView {
	var out []fieldView
	for _, name := range sortedKeys(s.Properties) {
		p := s.Properties[name]
		out = append(out, fieldView{Name: name, Description: p.Description, Required: slices.Contains(s.Required, name), Type: typeOf(p)})
	}
	return out
}

// typeOf writes a schema's type in a few words: "string (date-time)",
// "array of UpstreamStatus", "\"ok\"", "one of: a, b".
func typeOf(s schema) typeView {
	if name, ok := strings.CutPrefix(s.Ref, "#/components/schemas/"); ok {
		return typeView{Text: name, Link: "#schema-" + name}
	}
	if s.Const != nil {
		b, _ := json.Marshal(s.Const)
		return typeView{Text: string(b)}
	}
	var t string
	switch tt := s.Type.(type) {
	case string:
		t = tt
	case []any:
		var parts []string
		for _, p := range tt {
			parts = append(parts, fmt.Sprint(p))
		}
		t = strings.Join(parts, " or ")
	}
	if t == "array" && s.Items != nil {
		in := typeOf(*s.Items)
		return typeView{Text: "array of " + in.Text, Link: in.Link}
	}
	if len(s.Enum) > 0 {
		var parts []string
		for _, e := range s.Enum {
			parts = append(parts, fmt.Sprint(e))
		}
		t += ": one of " + strings.Join(parts, ", ")
	}
	if s.Format != "" {
		t += " (" + s.Format + ")"
	}
	return typeView{Text: t}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
