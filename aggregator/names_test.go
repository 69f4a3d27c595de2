package aggregator

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

var exposedRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func TestExposedName(t *testing.T) {
	long := strings.Repeat("x", 100)
	for _, tc := range []struct{ prefix, name, want string }{
		{"fs", "read_file", "fs__read_file"},
		{"", "read_file", "read_file"},
		{"my-server", "get-sum", "my-server__get-sum"},
		{"fs", "read.file", "fs__read_file_3d6b9878"}, // the README's example; stable across releases
		{"fs", "a:b c", "fs__a_b_c_" + hashOf("fs__a:b c")},
		{"fs", long, ("fs__" + long)[:55] + "_" + hashOf("fs__"+long)},
		{"fs", "ünïcode", "fs___n_code_" + hashOf("fs__ünïcode")},
	} {
		got := ExposedName(tc.prefix, tc.name)
		assert.Equal(t, tc.want, got, "%q %q", tc.prefix, tc.name)
		assert.Regexp(t, exposedRE, got)
	}
	// Mapped names stay distinct from each other and from valid names.
	assert.NotEqual(t, ExposedName("fs", "a.b"), ExposedName("fs", "a_b"))
	assert.NotEqual(t, ExposedName("fs", "a.b"), ExposedName("fs", "a:b"))
	assert.NotEqual(t, ExposedName("fs", long+"1"), ExposedName("fs", long+"2"))
}

func hashOf(s string) string {
	return ExposedName("", s)[len(ExposedName("", s))-hashLen:]
}

func FuzzExposedName(f *testing.F) {
	for _, s := range [][2]string{{"fs", "read_file"}, {"", "a.b"}, {"x", strings.Repeat("é", 80)}, {"p", ""}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, prefix, name string) {
		got := ExposedName(prefix, name)
		if !exposedRE.MatchString(got) {
			t.Fatalf("ExposedName(%q, %q) = %q: not a valid exposed name", prefix, name, got)
		}
		if got != ExposedName(prefix, name) {
			t.Fatal("not deterministic")
		}
		joined := name
		if prefix != "" {
			joined = prefix + Separator + name
		}
		if exposedRE.MatchString(joined) && got != joined {
			t.Fatalf("valid name %q was changed to %q", joined, got)
		}
		if !exposedRE.MatchString(joined) && got == ExposedName(prefix, name+"\x00") {
			t.Fatalf("two different mapped names collide: %q", got)
		}
	})
}
