package config

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// FuzzParse checks that Parse never panics, that what it accepts passes Validate, and that a
// parsed config written back as JSON parses to the same config.
//
// Seeds: the files under testdata/config, and the corpus in the repository's
// testdata/fuzz/FuzzParse, which the go command does not read by itself (it only reads the
// package's own testdata/fuzz).
func FuzzParse(f *testing.F) {
	for _, pattern := range []string{"valid/*.json", "invalid/*.json"} {
		files, err := filepath.Glob(filepath.Join(testdataDir, pattern))
		require.NoError(f, err)
		for _, file := range files {
			data, err := os.ReadFile(file)
			require.NoError(f, err)
			f.Add(data)
		}
	}
	seeds, err := filepath.Glob("../testdata/fuzz/FuzzParse/*")
	require.NoError(f, err)
	for _, file := range seeds {
		f.Add(readCorpusFile(f, file))
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseEnv(bytes.NewReader(data), lookupIn(goldenEnv))
		if err != nil {
			assert.Nil(t, c)
			assertErrorShape(t, err)
			return
		}
		require.NoError(t, c.Validate(), "Parse accepted what Validate rejects")
		for _, u := range c.Enabled() {
			assert.NotContains(t, u.ExposedPrefix(), "__")
		}
		assertRoundTrip(t, c)
	})
}

// assertErrorShape checks that err is a single *SyntaxError or *FieldError, or a join of
// *FieldError.
func assertErrorShape(t *testing.T, err error) {
	t.Helper()
	var se *SyntaxError
	if errors.As(err, &se) {
		assert.ErrorIs(t, err, ErrSyntax)
		return
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		var fe *FieldError
		if assert.ErrorAs(t, e, &fe) {
			assert.NotEmpty(t, fe.Err.Error())
		}
	}
}

// assertRoundTrip marshals c, parses it again and checks that the result marshals the same.
// Parse has turned "$$" into "$", so the string values are escaped again before re-parsing.
func assertRoundTrip(t *testing.T, c *Config) {
	t.Helper()
	first, err := json.Marshal(c)
	require.NoError(t, err)
	var tree any
	dec := json.NewDecoder(bytes.NewReader(first))
	dec.UseNumber()
	require.NoError(t, dec.Decode(&tree))
	escaped, err := json.Marshal(escapeDollars(tree))
	require.NoError(t, err)

	c2, err := ParseEnv(bytes.NewReader(escaped), lookupIn(nil))
	require.NoError(t, err, "re-parsing %s", escaped)
	second, err := json.Marshal(c2)
	require.NoError(t, err)
	assert.JSONEq(t, string(first), string(second))
}

// escapeDollars doubles every '$' in the string values (not the keys) of a decoded JSON tree.
func escapeDollars(v any) any {
	switch v := v.(type) {
	case string:
		return strings.ReplaceAll(v, "$", "$$")
	case []any:
		for i := range v {
			v[i] = escapeDollars(v[i])
		}
	case map[string]any:
		for k := range v {
			v[k] = escapeDollars(v[k])
		}
	}
	return v
}

// readCorpusFile reads a one-argument []byte file in the go command's corpus format.
func readCorpusFile(tb testing.TB, file string) []byte {
	tb.Helper()
	f, err := os.Open(file)
	require.NoError(tb, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	require.True(tb, sc.Scan(), "%s: empty", file)
	require.Equal(tb, "go test fuzz v1", sc.Text(), "%s: not a corpus file", file)
	require.True(tb, sc.Scan(), "%s: no value", file)
	lit, ok := strings.CutPrefix(sc.Text(), "[]byte(")
	lit, ok2 := strings.CutSuffix(lit, ")")
	require.True(tb, ok && ok2, "%s: want one []byte value", file)
	s, err := strconv.Unquote(lit)
	require.NoError(tb, err, "%s", file)
	return []byte(s)
}
