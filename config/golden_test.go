package config

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/config/invalid/*.errors")

const testdataDir = "../testdata/config"

// goldenEnv is the environment the files under testdata/config are parsed with.
var goldenEnv = map[string]string{
	"HOME":         "/home/test",
	"NOTION_TOKEN": "golden-secret-notion",
	"GITHUB_TOKEN": "golden-secret-github",
}

func lookupIn(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

// errLines splits a joined error into its lines.
func errLines(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

func TestGoldenValid(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(testdataDir, "valid", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			require.NoError(t, err)
			c, err := ParseEnv(bytes.NewReader(data), lookupIn(goldenEnv))
			require.NoError(t, err)
			assert.NoError(t, c.Validate())
			assertRoundTrip(t, c)
		})
	}
}

func TestGoldenInvalid(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(testdataDir, "invalid", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			require.NoError(t, err)
			c, err := ParseEnv(bytes.NewReader(data), lookupIn(goldenEnv))
			require.Error(t, err)
			assert.Nil(t, c)
			got := errLines(err)
			for _, secret := range goldenEnv {
				assert.NotContains(t, err.Error(), secret)
			}

			errorsFile := strings.TrimSuffix(file, ".json") + ".errors"
			if *update {
				require.NoError(t, os.WriteFile(errorsFile, []byte(strings.Join(got, "\n")+"\n"), 0o644))
			}
			want, err := os.ReadFile(errorsFile)
			require.NoError(t, err, "run go test ./config -run TestGoldenInvalid -update to create it")
			assert.Equal(t, strings.Split(strings.TrimSuffix(string(want), "\n"), "\n"), got)
		})
	}
}

// TestGoldenAllAtOnce guards the point of many.json: Parse reports every problem, not the first.
func TestGoldenAllAtOnce(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(testdataDir, "invalid", "many.json"))
	require.NoError(t, err)
	_, err = ParseEnv(bytes.NewReader(data), lookupIn(goldenEnv))
	require.Error(t, err)
	assert.GreaterOrEqual(t, len(errLines(err)), 5)
	for _, sentinel := range []error{ErrUnknownKey, ErrType, ErrInvalidValue, ErrUnsetVariable, ErrRequired, ErrConflict} {
		assert.ErrorIs(t, err, sentinel)
	}
}
