package deploy

// A reader of `mcp-gateway serve ...` command lines, for the command lines
// the deployment files and client configs carry. It knows the serve flags and
// the global ones and refuses anything else; the checks then run the real
// gateway with each command line they rely on, so the binary's own command
// tree has the last word.

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// serveLine is a resolved `mcp-gateway serve ...` command line.
type serveLine struct {
	addr        string // --http address; "config" for a bare --http; "" for stdio only
	stdio       bool
	configPath  string
	logFormat   string
	logLevel    string
	allowUnauth bool
}

// bareHTTP is what a bare --http stands for: the config's listen address.
const bareHTTP = "config"

// parseServeLine reads args (without the program name) as a serve command
// line: "serve", then flags in any order.
func parseServeLine(args []string) (serveLine, error) {
	if len(args) == 0 || args[0] != "serve" {
		return serveLine{}, fmt.Errorf("%q is not a serve command line", args)
	}
	var l serveLine
	httpSet, stdioSet := false, false
	value := func(i *int, name, inline string, hasInline bool) (string, error) {
		if hasInline {
			return inline, nil
		}
		if *i+1 >= len(args) || strings.HasPrefix(args[*i+1], "-") {
			return "", fmt.Errorf("%s needs a value", name)
		}
		*i++
		return args[*i], nil
	}
	boolean := func(name, inline string, hasInline bool) (bool, error) {
		if !hasInline {
			return true, nil
		}
		b, err := strconv.ParseBool(inline)
		if err != nil {
			return false, fmt.Errorf("%s=%q is not a boolean", name, inline)
		}
		return b, nil
	}
	for i := 1; i < len(args); i++ {
		a := args[i]
		name, inline, hasInline := strings.Cut(a, "=")
		var err error
		switch name {
		case "--http":
			httpSet = true
			switch {
			case hasInline:
				l.addr = inline
			case i+1 < len(args) && !strings.HasPrefix(args[i+1], "-"):
				// "--http ADDR": the command takes one optional argument.
				i++
				l.addr = args[i]
			default:
				l.addr = bareHTTP
			}
		case "--stdio":
			stdioSet, err = boolean(name, inline, hasInline)
		case "--allow-unauthenticated":
			l.allowUnauth, err = boolean(name, inline, hasInline)
		case "--config", "-c":
			l.configPath, err = value(&i, name, inline, hasInline)
		case "--log-format":
			l.logFormat, err = value(&i, name, inline, hasInline)
			if err == nil && l.logFormat != "text" && l.logFormat != "json" {
				err = fmt.Errorf("--log-format %q: want text or json", l.logFormat)
			}
		case "--log-level":
			l.logLevel, err = value(&i, name, inline, hasInline)
		default:
			if strings.HasPrefix(a, "-") {
				err = fmt.Errorf("unknown flag %s", a)
			} else {
				err = fmt.Errorf("unexpected argument %q", a)
			}
		}
		if err != nil {
			return serveLine{}, fmt.Errorf("%q: %w", args, err)
		}
	}
	l.stdio = stdioSet || !httpSet
	return l, nil
}

// requireServeLine is parseServeLine that fails the test on an error.
func requireServeLine(t *testing.T, what string, args []string) serveLine {
	t.Helper()
	l, err := parseServeLine(args)
	require.NoError(t, err, what)
	return l
}

// withServeArgs returns a copy of args with the values of --http and
// --config replaced (when the replacement is not ""), in either spelling.
func withServeArgs(args []string, addr, configPath string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		name, _, hasInline := strings.Cut(args[i], "=")
		repl := ""
		switch name {
		case "--http":
			repl = addr
		case "--config", "-c":
			repl = configPath
		}
		if repl == "" {
			out = append(out, args[i])
			continue
		}
		out = append(out, name+"="+repl)
		if !hasInline && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			i++
		}
	}
	return out
}

// hostPortNumber returns the port of a host:port address.
func hostPortNumber(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	require.NoError(t, err, addr)
	n, err := strconv.Atoi(p)
	require.NoError(t, err, addr)
	return n
}

func TestParseServeLine(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want serveLine
		err  string
	}{
		{args: []string{"serve"}, want: serveLine{stdio: true}},
		{args: []string{"serve", "--config", "/c.json"}, want: serveLine{stdio: true, configPath: "/c.json"}},
		{args: []string{"serve", "-c", "/c.json", "--log-level", "debug"}, want: serveLine{stdio: true, configPath: "/c.json", logLevel: "debug"}},
		{
			args: []string{"serve", "--http", "0.0.0.0:8080", "--config", "/etc/c.json", "--log-format", "json"},
			want: serveLine{addr: "0.0.0.0:8080", configPath: "/etc/c.json", logFormat: "json"},
		},
		{args: []string{"serve", "--http=127.0.0.1:9", "--config=/c"}, want: serveLine{addr: "127.0.0.1:9", configPath: "/c"}},
		{args: []string{"serve", "--http", "--config", "/c"}, want: serveLine{addr: bareHTTP, configPath: "/c"}},
		{args: []string{"serve", "--http"}, want: serveLine{addr: bareHTTP}},
		{args: []string{"serve", "--stdio", "--http", ":1"}, want: serveLine{addr: ":1", stdio: true}},
		{args: []string{"serve", "--stdio=false", "--http", ":1"}, want: serveLine{addr: ":1"}},
		{args: []string{"serve", "--http", ":1", "--allow-unauthenticated"}, want: serveLine{addr: ":1", allowUnauth: true}},
		{args: nil, err: "not a serve command line"},
		{args: []string{"tools"}, err: "not a serve command line"},
		{args: []string{"serve", "--port", "1"}, err: "unknown flag --port"},
		{args: []string{"serve", "extra"}, err: `unexpected argument "extra"`},
		{args: []string{"serve", "--http", ":1", "extra"}, err: `unexpected argument "extra"`},
		{args: []string{"serve", "--config"}, err: "--config needs a value"},
		{args: []string{"serve", "--config", "--stdio"}, err: "--config needs a value"},
		{args: []string{"serve", "--log-format", "yaml"}, err: `--log-format "yaml"`},
		{args: []string{"serve", "--stdio=maybe"}, err: "not a boolean"},
	} {
		got, err := parseServeLine(tc.args)
		if tc.err != "" {
			if assert.Error(t, err, "%q", tc.args) {
				assert.Contains(t, err.Error(), tc.err, "%q", tc.args)
			}
			continue
		}
		require.NoError(t, err, "%q", tc.args)
		assert.Equal(t, tc.want, got, "%q", tc.args)
	}
}

func TestWithServeArgs(t *testing.T) {
	for _, tc := range []struct {
		args       []string
		addr, conf string
		want       []string
	}{
		{[]string{"serve", "--http", "0.0.0.0:8080", "--config", "/etc/c", "--log-format", "json"}, "127.0.0.1:0", "/tmp/c",
			[]string{"serve", "--http=127.0.0.1:0", "--config=/tmp/c", "--log-format", "json"}},
		{[]string{"serve", "--http=0.0.0.0:8080", "-c", "/etc/c"}, "127.0.0.1:0", "/tmp/c",
			[]string{"serve", "--http=127.0.0.1:0", "-c=/tmp/c"}},
		{[]string{"serve", "--http", "--config", "/etc/c"}, "127.0.0.1:0", "",
			[]string{"serve", "--http=127.0.0.1:0", "--config", "/etc/c"}},
		{[]string{"serve", "--config", "/etc/c"}, "", "/tmp/c", []string{"serve", "--config=/tmp/c"}},
	} {
		got := withServeArgs(tc.args, tc.addr, tc.conf)
		assert.Equal(t, tc.want, got, "%q", tc.args)
		_, err := parseServeLine(got)
		assert.NoError(t, err, "%q", got)
	}
}

// FuzzServeLine checks that the reader never panics and that what it accepts
// reads the same after withServeArgs changes nothing but the two values.
func FuzzServeLine(f *testing.F) {
	f.Add("serve --http 0.0.0.0:8080 --config /etc/mcp-gateway/config.json --log-format json")
	f.Add("serve --http --stdio=false -c x")
	f.Fuzz(func(t *testing.T, line string) {
		args := strings.Fields(line)
		l, err := parseServeLine(args)
		if err != nil {
			return
		}
		if l.addr == "" || l.configPath == "" || strings.HasPrefix(l.addr, "-") || strings.HasPrefix(l.configPath, "-") {
			return
		}
		m, err := parseServeLine(withServeArgs(args, l.addr, l.configPath))
		require.NoError(t, err)
		assert.Equal(t, l, m)
	})
}
