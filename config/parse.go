package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// EnvConfig is the environment variable [Find] reads for the config file's path.
const EnvConfig = "MCP_GATEWAY_CONFIG"

// DefaultConfigFile is the file [Find] looks for in the working directory.
const DefaultConfigFile = "mcp-gateway.json"

// ignoredTopLevel are top-level keys that Claude Desktop and VS Code keep in their config files.
// The gateway accepts and ignores them so those files work unchanged.
var ignoredTopLevel = []string{"globalShortcut", "inputs", "preferences"}

// Find returns the path of the config file: flagValue if not empty, else $MCP_GATEWAY_CONFIG if
// set, else ./mcp-gateway.json. A path given by the flag or the variable must exist; Find does not
// fall back from it to the next source. The error says what was tried.
func Find(flagValue string) (string, error) {
	check := func(path, source string) (string, error) {
		fi, err := os.Stat(path)
		if err != nil {
			return "", fmt.Errorf("config file from %s: %w", source, err)
		}
		if fi.IsDir() {
			return "", fmt.Errorf("config file from %s: %s is a directory", source, path)
		}
		return path, nil
	}
	if flagValue != "" {
		return check(flagValue, "--config")
	}
	if p := os.Getenv(EnvConfig); p != "" {
		return check(p, "$"+EnvConfig)
	}
	if _, err := os.Stat(DefaultConfigFile); !errors.Is(err, fs.ErrNotExist) {
		return check(DefaultConfigFile, "the working directory")
	}
	return "", fmt.Errorf("no config file: tried --config (not given), $%s (not set) and ./%s (does not exist): %w",
		EnvConfig, DefaultConfigFile, fs.ErrNotExist)
}

// Load reads and parses the config file at path, expanding variables from the environment. Every
// line of the returned error starts with path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err // *fs.PathError names the path
	}
	c, err := Parse(bytes.NewReader(data))
	if err != nil {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			errs := j.Unwrap()
			for i, e := range errs {
				errs[i] = fmt.Errorf("%s: %w", path, e)
			}
			return nil, errors.Join(errs...)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Parse reads a config, expands ${VAR} references from the environment, applies defaults and
// validates it. See [ParseEnv].
func Parse(r io.Reader) (*Config, error) {
	return ParseEnv(r, os.LookupEnv)
}

// ParseEnv is [Parse] with the environment read through lookup.
//
// Input that is not well-formed JSON gives one [*SyntaxError]. Otherwise every problem is
// reported at once: the error is an errors.Join of [*FieldError], sorted by path. Unknown keys are
// errors, except in an mcpServers entry, where they are recorded in [Upstream.Ignored], and the
// top-level keys Claude Desktop and VS Code use for themselves ("globalShortcut", "inputs",
// "preferences"), which are skipped. ${VAR} references are expanded in every string value the
// gateway reads, not in keys. Null means unset. An explicit zero duration or max_body_bytes is an
// error, since zero would silently mean the default.
func ParseEnv(r io.Reader, lookup func(string) (string, bool)) (*Config, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	// Windows editors may start the file with a byte order mark.
	tree, err := readTree(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")))
	if err != nil {
		return nil, err
	}
	if _, ok := tree.(*object); !ok {
		return nil, &FieldError{Err: detail(ErrType, "the config must be a JSON object, got %s", kindOf(tree))}
	}
	d := &decoder{lookup: lookup, decoded: decoded{bad: map[string]bool{}, alias: map[string]string{}}}
	c := &Config{}
	d.root(tree, c)
	c.applyDefaults()
	d.errs = append(d.errs, c.validate(d.decoded)...)
	if err := d.errs.join(); err != nil {
		return nil, err
	}
	return c, nil
}

// object is a JSON object that keeps its keys in order and remembers keys seen twice.
type object struct {
	keys []string
	vals []any
	dups []string
}

// readTree decodes data into nil, bool, json.Number, string, []any and *object values.
func readTree(data []byte) (any, error) {
	if !json.Valid(data) {
		var se *json.SyntaxError
		if err := json.Unmarshal(data, new(any)); errors.As(err, &se) {
			off := int(se.Offset) - 1 // Offset counts the offending byte
			if strings.HasPrefix(se.Error(), "unexpected end") {
				off = len(data)
			}
			return nil, newSyntaxError(data, off, se.Error())
		}
		return nil, newSyntaxError(data, 0, "not valid JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return readValue(dec)
}

// readValue reads one value of input already known to be valid.
func readValue(dec *json.Decoder) (any, error) {
	t, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t {
	case json.Delim('{'):
		obj := &object{}
		seen := map[string]int{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return nil, err
			}
			v, err := readValue(dec)
			if err != nil {
				return nil, err
			}
			key := k.(string)
			if i, ok := seen[key]; ok {
				obj.vals[i] = v // the last one wins, as in encoding/json
				obj.dups = append(obj.dups, key)
				continue
			}
			seen[key] = len(obj.keys)
			obj.keys = append(obj.keys, key)
			obj.vals = append(obj.vals, v)
		}
		_, err := dec.Token()
		return obj, err
	case json.Delim('['):
		arr := []any{}
		for dec.More() {
			v, err := readValue(dec)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		_, err := dec.Token()
		return arr, err
	}
	return t, nil
}

// kindOf names the JSON type of a tree value for error messages.
func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	}
	return "an object"
}
