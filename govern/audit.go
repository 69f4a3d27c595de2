package govern

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// Audit rules, each deterministic: the same definition always gives the
// same findings.
const (
	// RuleHiddenUnicode: a string holds characters a reader does not see:
	// Unicode tag characters (U+E0000–U+E007F, which can spell text only a
	// model reads), bidirectional controls, or zero-width characters.
	RuleHiddenUnicode = "hidden-unicode"
	// RuleInstructions: text aimed at the model rather than at describing
	// the tool ("ignore previous instructions", "do not tell the user").
	RuleInstructions = "model-instructions"
	// RuleOtherTools: the description names another upstream's tool, the
	// way a tool steers the model towards (or away from) others. Only names
	// that read as identifiers count (see identifierLike).
	RuleOtherTools = "other-tool-reference"
	// RuleLongDescription: a description longer than [MaxDescription].
	RuleLongDescription = "long-description"
	// RuleSecretField: an input schema property asks for a secret.
	RuleSecretField = "secret-field"
)

// MaxDescription is the longest description (in characters) not flagged.
const MaxDescription = 2000

// Finding is one thing the audit flags in a definition.
type Finding struct {
	Rule string `json:"rule"`
	// Where is the JSON path of the value ("description",
	// "inputSchema.properties.token").
	Where string `json:"where"`
	// Detail says what was found, with hidden characters written as U+XXXX.
	Detail string `json:"detail"`
}

func (f Finding) String() string { return f.Rule + " at " + f.Where + ": " + f.Detail }

// instructionRE matches phrases addressed to a model. Case-insensitive,
// whitespace-tolerant.
var instructionRE = regexp.MustCompile(`(?i)\b(` + strings.Join([]string{
	`ignore\s+(all\s+)?(the\s+)?(previous|prior|above|earlier)(\s+instructions)?`,
	`disregard\s+(all\s+)?(the\s+)?(previous|prior|above|earlier)`,
	`forget\s+(all\s+)?(your|the)\s+(previous\s+)?instructions`,
	`(do\s+not|don't|never)\s+(tell|inform|mention\s+(this\s+)?to|reveal\s+(this\s+)?to|show)\s+(the\s+)?user`,
	`without\s+(telling|informing|asking)\s+the\s+user`,
	`the\s+user\s+(must|should)\s+not\s+(know|see|be\s+told)`,
	`(new|updated|override)\s+(system\s+)?instructions`,
	`system\s+prompt`,
	`you\s+are\s+now`,
	`before\s+(using|calling)\s+(any\s+)?other\s+tools?`,
	`instead\s+of\s+(using|calling)\s+(the\s+)?\S+\s+tool`,
}, "|") + `)`)

// secretRE matches a property name that asks for a secret, as whole words
// of the name after [snakeName] ("githubToken", "API-Key"; not "tokenizer").
var secretRE = regexp.MustCompile(`(^|_)(password|passwd|passphrase|secret|api_?key|access_?key|private_?key|token|credentials?|cookie|ssh_?key|mnemonic|seed_?phrase)s?($|_)`)

// snakeName lower-cases name with "_" between its words: camelCase humps,
// "-", "." and spaces become "_".
func snakeName(name string) string {
	var b strings.Builder
	prevLower := false
	for _, r := range name {
		lower := r >= 'a' && r <= 'z' || r >= '0' && r <= '9'
		switch {
		case r == '-' || r == '.' || r == ' ':
			r = '_'
		case r >= 'A' && r <= 'Z':
			if prevLower {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		prevLower = lower
		b.WriteRune(r)
	}
	return b.String()
}

// hidden reports whether r is a character the audit calls hidden.
func hidden(r rune) bool {
	switch {
	case r >= 0xE0000 && r <= 0xE007F: // tags
		return true
	case r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069, r == 0x200E, r == 0x200F, r == 0x061C: // bidi
		return true
	case r >= 0x200B && r <= 0x200D, r == 0x2060, r == 0xFEFF, r == 0x180E: // zero-width
		return true
	}
	return false
}

// Audit applies every rule to one definition. others are the names of
// other upstreams' tools (their own names and exposed names); a mention of
// one of at least 4 characters, as a whole word, is flagged. Findings are
// sorted by rule, then path.
func Audit(d Definition, others []string) []Finding {
	var v any
	if err := json.Unmarshal(d.JSON, &v); err != nil {
		return []Finding{{Rule: RuleInstructions, Where: "", Detail: "definition is not JSON: " + err.Error()}}
	}
	var out []Finding
	walkStrings(v, "", func(path string, s string, isKey bool) {
		if hs := hiddenChars(s); hs != "" {
			out = append(out, Finding{Rule: RuleHiddenUnicode, Where: path, Detail: hs})
		}
		if isKey {
			return
		}
		for _, m := range instructionRE.FindAllString(s, -1) {
			out = append(out, Finding{Rule: RuleInstructions, Where: path, Detail: fmt.Sprintf("%q", m)})
		}
	})
	obj, _ := v.(map[string]any)
	desc, _ := obj["description"].(string)
	if n := utf8.RuneCountInString(desc); n > MaxDescription {
		out = append(out, Finding{Rule: RuleLongDescription, Where: "description", Detail: fmt.Sprintf("%d characters (more than %d)", n, MaxDescription)})
	}
	for _, name := range others {
		if len(name) >= 4 && name != d.Name && identifierLike(name) && wordIn(desc, name) {
			out = append(out, Finding{Rule: RuleOtherTools, Where: "description", Detail: fmt.Sprintf("names tool %q", name)})
		}
	}
	if d.Kind == KindTool {
		schema, _ := obj["inputSchema"].(map[string]any)
		props, _ := schema["properties"].(map[string]any)
		for name := range props {
			if m := secretRE.FindStringSubmatch(snakeName(name)); m != nil {
				out = append(out, Finding{Rule: RuleSecretField, Where: "inputSchema.properties." + name, Detail: fmt.Sprintf("property name asks for %q", m[2])})
			}
		}
	}
	slices.SortFunc(out, func(a, b Finding) int {
		if c := strings.Compare(a.Rule, b.Rule); c != 0 {
			return c
		}
		if c := strings.Compare(a.Where, b.Where); c != 0 {
			return c
		}
		return strings.Compare(a.Detail, b.Detail)
	})
	return slices.Compact(out)
}

// walkStrings calls f with every string in v (object keys too, isKey set),
// with its JSON path.
func walkStrings(v any, path string, f func(path, s string, isKey bool)) {
	switch x := v.(type) {
	case string:
		f(path, x, false)
	case []any:
		for i, e := range x {
			walkStrings(e, fmt.Sprintf("%s[%d]", path, i), f)
		}
	case map[string]any:
		for k, e := range x {
			p := k
			if path != "" {
				p = path + "." + k
			}
			f(p, k, true)
			walkStrings(e, p, f)
		}
	}
}

// hiddenChars lists the distinct hidden characters in s as "U+XXXX", or "".
func hiddenChars(s string) string {
	var found []string
	for _, r := range s {
		if hidden(r) {
			u := fmt.Sprintf("U+%04X", r)
			if !slices.Contains(found, u) {
				found = append(found, u)
			}
		}
	}
	if len(found) == 0 {
		return ""
	}
	return "hidden characters " + strings.Join(found, " ")
}

// identifierLike reports whether a tool name reads as an identifier rather
// than an ordinary word ("send_email", "listIssues", "v2", not "progress"),
// so that a description's plain English is not taken for a reference.
func identifierLike(name string) bool {
	for i, r := range name {
		if r == '_' || r == '-' || r == '.' || r >= '0' && r <= '9' || i > 0 && r >= 'A' && r <= 'Z' {
			return true
		}
	}
	return false
}

// wordIn reports whether name occurs in s not inside a longer word.
func wordIn(s, name string) bool {
	word := func(b byte) bool {
		return b == '_' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
	}
	for i := 0; ; {
		j := strings.Index(s[i:], name)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(name)
		if (start == 0 || !word(s[start-1])) && (end == len(s) || !word(s[end])) {
			return true
		}
		i = start + 1
	}
}
