// Package govern holds the gateway's catalog governance as pure functions over
// upstream definitions: canonical JSON and definition digests, the lockfile
// that pins them and the drift check against it, audit rules for suspicious
// definitions, per-upstream overrides, and tool budgets with a ranked search
// over the tools a budget hides.
//
// It knows no aggregator, config or network: callers pass go-sdk definitions
// (or their JSON) in and get decisions out, so the same functions serve the
// CLI, start-up and every re-list.
package govern

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Kind is the kind of a definition.
type Kind string

// Kinds of definitions that are pinned and governed.
const (
	KindTool     Kind = "tool"
	KindPrompt   Kind = "prompt"
	KindTemplate Kind = "template" // a resource template, named by its URI template
)

func (k Kind) valid() bool { return k == KindTool || k == KindPrompt || k == KindTemplate }

// Definition is one definition an upstream serves, as JSON.
type Definition struct {
	Kind Kind
	// Name is the upstream's own name for it: the tool's or prompt's name, or
	// a resource template's URI template (what routes to it).
	Name string
	// JSON is the full definition, a JSON object: every field the upstream
	// sent that the gateway passes on to clients.
	JSON json.RawMessage
}

// ToolDefinition returns t as a Definition. The JSON is go-sdk's encoding of
// t, which is exactly what the gateway serves to clients: a field the SDK
// does not decode never reaches a client, so it needs no pin.
func ToolDefinition(t *mcp.Tool) (Definition, error) {
	if t == nil {
		return Definition{}, errors.New("nil tool")
	}
	return newDefinition(KindTool, t.Name, t)
}

// PromptDefinition returns p as a Definition; see [ToolDefinition].
func PromptDefinition(p *mcp.Prompt) (Definition, error) {
	if p == nil {
		return Definition{}, errors.New("nil prompt")
	}
	return newDefinition(KindPrompt, p.Name, p)
}

// TemplateDefinition returns t as a Definition named by its URI template;
// see [ToolDefinition].
func TemplateDefinition(t *mcp.ResourceTemplate) (Definition, error) {
	if t == nil {
		return Definition{}, errors.New("nil resource template")
	}
	return newDefinition(KindTemplate, t.URITemplate, t)
}

func newDefinition(k Kind, name string, v any) (Definition, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return Definition{}, fmt.Errorf("%s %q: %w", k, name, err)
	}
	return Definition{Kind: k, Name: name, JSON: b}, nil
}

// Definitions converts the lists of one upstream, in order: tools, prompts,
// templates. A definition that does not marshal is left out and reported in
// the error, which joins one error per such definition.
func Definitions(tools []*mcp.Tool, prompts []*mcp.Prompt, templates []*mcp.ResourceTemplate) ([]Definition, error) {
	var defs []Definition
	var errs []error
	add := func(d Definition, err error) {
		if err != nil {
			errs = append(errs, err)
			return
		}
		defs = append(defs, d)
	}
	for _, t := range tools {
		add(ToolDefinition(t))
	}
	for _, p := range prompts {
		add(PromptDefinition(p))
	}
	for _, t := range templates {
		add(TemplateDefinition(t))
	}
	return defs, errors.Join(errs...)
}

// Digest is a SHA-256 digest, written "sha256:" and 64 lowercase hex digits.
type Digest [sha256.Size]byte

const digestPrefix = "sha256:"

// String returns "sha256:<hex>".
func (d Digest) String() string { return digestPrefix + hex.EncodeToString(d[:]) }

// ParseDigest reads what [Digest.String] writes.
func ParseDigest(s string) (Digest, error) {
	var d Digest
	h, ok := strings.CutPrefix(s, digestPrefix)
	if !ok || len(h) != 2*len(d) || strings.ToLower(h) != h {
		return d, fmt.Errorf(`want "sha256:" and 64 lowercase hex digits`)
	}
	if _, err := hex.Decode(d[:], []byte(h)); err != nil {
		return d, fmt.Errorf(`want "sha256:" and 64 lowercase hex digits`)
	}
	return d, nil
}

// FieldSum is the first 8 bytes of the SHA-256 of one top-level field's
// canonical JSON. It only says which fields changed; the full [Digest] is the
// pin.
type FieldSum [8]byte

// String returns 16 lowercase hex digits.
func (f FieldSum) String() string { return hex.EncodeToString(f[:]) }

// Fingerprint is what a lockfile keeps of one definition.
type Fingerprint struct {
	// Sum is the SHA-256 of the definition's RFC 8785 canonical JSON.
	Sum Digest
	// Fields has a FieldSum per top-level member of the definition.
	Fields map[string]FieldSum
}

// Fingerprint digests d. It fails when d.JSON is not an I-JSON object.
func (d Definition) Fingerprint() (Fingerprint, error) {
	ms, err := canonicalMembers(d.JSON)
	if err != nil {
		return Fingerprint{}, err
	}
	fp := Fingerprint{Sum: sha256.Sum256(joinMembers(ms)), Fields: make(map[string]FieldSum, len(ms))}
	for _, m := range ms {
		s := sha256.Sum256(m.value)
		fp.Fields[m.name] = FieldSum(s[:8])
	}
	return fp, nil
}

// ChangedFields returns, sorted, the top-level fields whose digests differ
// between pinned and now, including fields only one of them has.
func ChangedFields(pinned, now Fingerprint) []string {
	var out []string
	for k, v := range now.Fields {
		if w, ok := pinned.Fields[k]; !ok || w != v {
			out = append(out, k)
		}
	}
	for k := range pinned.Fields {
		if _, ok := now.Fields[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}
