package clientconfig

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Edits change one member of an object in the file's own text: everything
// else — other members, their order, comments, indentation — stays as it
// was, so a user's client config is not reformatted by the gateway.

// setMember returns src with obj's member key set to value: the value of an
// existing member is replaced, otherwise the member is added at the end.
func (d *document) setMember(obj *node, key string, value any) []byte {
	raw := marshal(value)
	for i := len(obj.members) - 1; i >= 0; i-- {
		if m := obj.members[i]; m.key == key {
			ind, _ := d.memberIndent(m.keyStart)
			text := indentJSON(raw, ind, d.unit(obj, ind))
			return splice(d.src, m.val.start, m.val.end, text)
		}
	}
	return d.addMember(obj, key, raw)
}

func (d *document) addMember(obj *node, key string, raw []byte) []byte {
	nl := d.newline()
	if len(obj.members) == 0 {
		outer := lineIndent(d.src, obj.start)
		unit := d.unit(d.root, "")
		ind := outer + unit
		text := "{" + nl + ind + string(marshal(key)) + ": " + indentJSON(raw, ind, unit) + nl + outer + "}"
		return splice(d.src, obj.start, obj.end, text)
	}
	last := obj.members[len(obj.members)-1]
	ind, ownLine := d.memberIndent(last.keyStart)
	unit := d.unit(obj, ind)
	from, comma := last.val.end, ","
	if c := d.trailingComma(last.val.end, obj.end); c >= 0 {
		from, comma = c+1, "" // the comma JSONC allows after the last member now separates
	}
	if !ownLine {
		// A one-line object stays one line.
		return splice(d.src, from, from, comma+" "+string(marshal(key))+": "+string(raw))
	}
	// After the end of the last member's line (and a comment on it), before
	// the line break.
	at := obj.end - 1
	for i := from; i < obj.end-1; i++ {
		if d.src[i] == '\n' && !d.inComment(i) {
			at = i
			if i > 0 && d.src[i-1] == '\r' {
				at = i - 1
			}
			break
		}
	}
	out := splice(d.src, at, at, nl+ind+string(marshal(key))+": "+indentJSON(raw, ind, unit))
	return splice(out, from, from, comma)
}

// trailingComma returns the offset of a comma that follows the value ending
// at from before the object's end at to (JSONC allows one after the last
// member), or -1.
func (d *document) trailingComma(from, to int) int {
	for i := from; i < to; i++ {
		if d.src[i] == ',' && !d.inComment(i) {
			return i
		}
	}
	return -1
}

// memberIndent returns the indentation of the line a member's key is on,
// and whether the key is the first thing on that line.
func (d *document) memberIndent(keyStart int) (string, bool) {
	ind := lineIndent(d.src, keyStart)
	lineStart := bytes.LastIndexByte(d.src[:keyStart], '\n') + 1
	return ind, lineStart+len(ind) == keyStart
}

// unit guesses one level of indentation from obj's members: the difference
// between a member's indentation and the object's, else two spaces.
func (d *document) unit(obj *node, memberInd string) string {
	if obj != nil && len(obj.members) > 0 {
		if memberInd == "" {
			memberInd, _ = d.memberIndent(obj.members[0].keyStart)
		}
		outer := lineIndent(d.src, obj.start)
		if u, ok := strings.CutPrefix(memberInd, outer); ok && u != "" {
			return u
		}
	}
	return "  "
}

func (d *document) newline() string {
	if bytes.Contains(d.src, []byte("\r\n")) {
		return "\r\n"
	}
	return "\n"
}

// lineIndent is the run of spaces and tabs that starts the line holding
// offset off.
func lineIndent(src []byte, off int) string {
	start := bytes.LastIndexByte(src[:off], '\n') + 1
	end := start
	for end < len(src) && (src[end] == ' ' || src[end] == '\t') {
		end++
	}
	return string(src[start:end])
}

func splice(src []byte, from, to int, text string) []byte {
	out := make([]byte, 0, len(src)-(to-from)+len(text))
	out = append(out, src[:from]...)
	out = append(out, text...)
	return append(out, src[to:]...)
}

// indentJSON indents compact JSON for a value whose line starts with prefix.
func indentJSON(raw []byte, prefix, unit string) string {
	var b bytes.Buffer
	if err := json.Indent(&b, raw, prefix, unit); err != nil {
		return string(raw) // marshal produced it: cannot happen
	}
	return b.String()
}

// marshal encodes v without escaping <, > and & (a command line may hold
// them) and without a trailing newline.
func marshal(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic("clientconfig: marshal: " + err.Error()) // only our own plain values are marshalled
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// object is a JSON object that keeps its keys in the order they were added.
type object []field

type field struct {
	key string
	val any
}

// set adds or replaces key.
func (o *object) set(key string, val any) {
	for i := range *o {
		if (*o)[i].key == key {
			(*o)[i].val = val
			return
		}
	}
	*o = append(*o, field{key, val})
}

func (o object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(marshal(f.key))
		b.WriteByte(':')
		b.Write(marshal(f.val))
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
