package config

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
)

// decoder sets a Config from a tree read by readTree, checking it against the Config's json tags.
// It reports every problem instead of stopping at the first, and drops the values it reports.
type decoder struct {
	lookup func(string) (string, bool)
	errs   errorList
	decoded
}

var (
	durationType  = reflect.TypeFor[Duration]()
	upstreamsType = reflect.TypeFor[map[string]*Upstream]()

	errNotPositive = detail(ErrInvalidValue, "must be greater than zero")
	errTransport   = detail(ErrInvalidValue, `must be "stdio", "http" or "sse"`)
)

func (d *decoder) fail(path string, err error) {
	d.errs.add(path, err)
	d.bad[path] = true
}

// root decodes the whole document into c.
func (d *decoder) root(tree any, c *Config) {
	names, _ := fieldsOf(reflect.TypeFor[Config]())
	d.object("", tree, reflect.ValueOf(c).Elem(), func(key string, _ any) {
		if !slices.Contains(ignoredTopLevel, key) {
			d.unknownKey("", key, names)
		}
	})
}

// value sets rv from v and reports whether it did. JSON null leaves rv unset.
func (d *decoder) value(path string, v any, rv reflect.Value) bool {
	if v == nil {
		return false
	}
	t := rv.Type()
	switch {
	case t == durationType:
		if _, ok := v.(string); !ok {
			d.fail(path, errDurationType)
			return false
		}
		s, ok := d.str(path, v)
		if !ok {
			return false
		}
		dur, err := parseDuration(s)
		if err == nil && dur == 0 {
			err = errNotPositive
		}
		if err != nil {
			d.fail(path, err)
			return false
		}
		rv.SetInt(int64(dur))
		return true
	case t == upstreamsType:
		return d.upstreams(path, v, rv)
	}
	switch t.Kind() {
	case reflect.String:
		s, ok := d.str(path, v)
		if ok {
			rv.SetString(s)
		}
		return ok
	case reflect.Bool:
		b, ok := v.(bool)
		if !ok {
			d.fail(path, typeError(t, v))
			return false
		}
		rv.SetBool(b)
		return true
	case reflect.Int64:
		n, ok := v.(json.Number)
		if !ok {
			d.fail(path, typeError(t, v))
			return false
		}
		i, err := n.Int64()
		if err != nil {
			d.fail(path, detail(ErrInvalidValue, "must be a whole number"))
			return false
		}
		if i <= 0 {
			d.fail(path, errNotPositive)
			return false
		}
		rv.SetInt(i)
		return true
	case reflect.Int:
		// Any whole number: validate checks the range, as for rate_limit_rpm where -1 is allowed.
		n, ok := v.(json.Number)
		if !ok {
			d.fail(path, typeError(t, v))
			return false
		}
		i, err := n.Int64()
		if err != nil || int64(int(i)) != i {
			d.fail(path, detail(ErrInvalidValue, "must be a whole number"))
			return false
		}
		rv.SetInt(i)
		return true
	case reflect.Pointer:
		p := reflect.New(t.Elem())
		if !d.value(path, v, p.Elem()) {
			return false
		}
		rv.Set(p)
		return true
	case reflect.Slice:
		arr, ok := v.([]any)
		if !ok {
			d.fail(path, typeError(t, v))
			return false
		}
		s := reflect.MakeSlice(t, len(arr), len(arr))
		for i, e := range arr {
			d.elem(index(path, i), e, s.Index(i))
		}
		rv.Set(s)
		return true
	case reflect.Map:
		obj, ok := v.(*object)
		if !ok {
			d.fail(path, typeError(t, v))
			return false
		}
		d.dups(path, obj)
		m := reflect.MakeMapWithSize(t, len(obj.keys))
		for i, key := range obj.keys {
			e := reflect.New(t.Elem()).Elem()
			if d.elem(child(path, key), obj.vals[i], e) {
				m.SetMapIndex(reflect.ValueOf(key), e)
			}
		}
		rv.Set(m)
		return true
	case reflect.Struct:
		return d.object(path, v, rv, nil)
	}
	panic("config: no decoding for " + t.String()) // a new field type needs a case above
}

// elem decodes an array element or map value, where null is an error rather than unset.
func (d *decoder) elem(path string, v any, rv reflect.Value) bool {
	if v == nil {
		d.fail(path, typeError(rv.Type(), v))
		return false
	}
	return d.value(path, v, rv)
}

// object decodes v, which must be an object, into the struct rv. Keys without a field go to
// unknown, or are reported when unknown is nil.
func (d *decoder) object(path string, v any, rv reflect.Value, unknown func(key string, v any)) bool {
	obj, ok := v.(*object)
	if !ok {
		d.fail(path, typeError(rv.Type(), v))
		return false
	}
	d.dups(path, obj)
	names, fields := fieldsOf(rv.Type())
	for i, key := range obj.keys {
		f, ok := fields[key]
		switch {
		case ok:
			d.value(child(path, key), obj.vals[i], rv.Field(f))
		case unknown != nil:
			unknown(key, obj.vals[i])
		default:
			d.unknownKey(path, key, names)
		}
	}
	return true
}

// upstreams decodes the mcpServers object.
func (d *decoder) upstreams(path string, v any, rv reflect.Value) bool {
	obj, ok := v.(*object)
	if !ok {
		d.fail(path, typeError(rv.Type(), v))
		return false
	}
	d.dups(path, obj)
	m := make(map[string]*Upstream, len(obj.keys))
	for i, name := range obj.keys {
		if u := d.upstream(child(path, name), name, obj.vals[i]); u != nil {
			m[name] = u
		}
	}
	rv.Set(reflect.ValueOf(m))
	return true
}

// upstream decodes one mcpServers entry. Unknown keys are recorded in Ignored; "type" is read as
// an alias of "transport", which must then agree with it.
func (d *decoder) upstream(path, name string, v any) *Upstream {
	u := &Upstream{Name: name}
	var typ any
	ok := d.object(path, v, reflect.ValueOf(u).Elem(), func(key string, v any) {
		if key == "type" {
			typ = v
			return
		}
		u.Ignored = append(u.Ignored, key)
	})
	if !ok {
		return nil
	}
	slices.Sort(u.Ignored)

	transportPath, at := child(path, "transport"), child(path, "transport")
	var t string
	if typePath := child(path, "type"); d.value(typePath, typ, reflect.ValueOf(&t).Elem()) && t != "" {
		switch {
		case u.Transport == "" && !d.bad[transportPath]:
			u.Transport, at = t, typePath
			d.alias[transportPath] = typePath
		case u.Transport != "" && canonTransport(u.Transport) != canonTransport(t):
			d.fail(typePath, detail(ErrConflict, `disagrees with "transport"; set only one of them`))
		}
	}
	if u.Transport != "" && normalizeTransport(u.Transport) == "" {
		d.fail(at, errTransport)
		d.bad[transportPath] = true
		u.Transport = ""
	}
	return u
}

// canonTransport is normalizeTransport, keeping unknown values as written.
func canonTransport(t string) string {
	if n := normalizeTransport(t); n != "" {
		return n
	}
	return t
}

// str returns v, which must be a string, with ${VAR} references expanded.
func (d *decoder) str(path string, v any) (string, bool) {
	s, ok := v.(string)
	if !ok {
		d.fail(path, typeError(reflect.TypeFor[string](), v))
		return "", false
	}
	s, errs := expand(s, d.lookup)
	for _, err := range errs {
		d.errs.add(path, err)
	}
	if len(errs) > 0 {
		d.bad[path] = true
		return "", false
	}
	return s, true
}

func (d *decoder) dups(path string, obj *object) {
	for _, key := range obj.dups {
		d.errs.add(child(path, key), detail(ErrDuplicateKey, "duplicate key"))
	}
}

func (d *decoder) unknownKey(path, key string, known []string) {
	err := detail(ErrUnknownKey, "unknown key")
	if s := suggest(key, known); s != "" {
		err = detail(ErrUnknownKey, "unknown key, did you mean %q?", s)
	}
	d.errs.add(child(path, key), err)
}

// typeError says which JSON type belongs where v is, for a value of type t.
func typeError(t reflect.Type, v any) error {
	want := "an object"
	switch t.Kind() {
	case reflect.String:
		want = "a string"
	case reflect.Bool:
		want = "true or false"
	case reflect.Int, reflect.Int64:
		want = "an integer"
	case reflect.Slice:
		want = "an array"
	case reflect.Pointer:
		return typeError(t.Elem(), v)
	}
	return detail(ErrType, "must be %s, got %s", want, kindOf(v))
}

// fieldsOf returns the JSON names of struct type t, sorted, and the field index of each.
func fieldsOf(t reflect.Type) ([]string, map[string]int) {
	fields := map[string]int{}
	var names []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		fields[name] = i
		names = append(names, name)
	}
	slices.Sort(names)
	return names, fields
}
