package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	yaml "go.yaml.in/yaml/v3"
)

// TestDeployFilesParse: every JSON and YAML file of the deployment and client
// examples parses, and each YAML document is a mapping.
func TestDeployFilesParse(t *testing.T) {
	var jsonFiles, yamlFiles int
	for _, dir := range []string{deployDir, clientsDir} {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			switch filepath.Ext(p) {
			case ".json":
				jsonFiles++
				_ = readJSONValue(t, p)
			case ".yml", ".yaml":
				yamlFiles++
				docs := readYAMLDocs(t, p)
				assert.NotEmpty(t, docs, "%s: no YAML documents", p)
				for i, doc := range docs {
					assert.Equal(t, yaml.MappingNode, doc.Kind, "%s: document %d is not a mapping", p, i)
				}
			}
			return nil
		})
		require.NoError(t, err)
	}
	t.Logf("parsed %d JSON and %d YAML files", jsonFiles, yamlFiles)
	assert.GreaterOrEqual(t, jsonFiles, 5)
	assert.GreaterOrEqual(t, yamlFiles, 10)
}

// readJSONValue decodes one JSON value from file p, failing on anything after it.
func readJSONValue(t *testing.T, p string) any {
	t.Helper()
	data, err := os.ReadFile(p)
	require.NoError(t, err)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	require.NoError(t, dec.Decode(&v), "%s: invalid JSON", p)
	_, err = dec.Token()
	require.ErrorIs(t, err, io.EOF, "%s: data after the JSON value", p)
	return v
}

// decodeJSONFile decodes file p into v.
func decodeJSONFile(t *testing.T, p string, v any) {
	t.Helper()
	_ = readJSONValue(t, p)
	data, err := os.ReadFile(p)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, v), p)
}

// readYAMLDocs returns every document of a YAML file (yaml.v3 rejects duplicate keys).
func readYAMLDocs(t *testing.T, p string) []*yaml.Node {
	t.Helper()
	data, err := os.ReadFile(p)
	require.NoError(t, err)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err, "%s: invalid YAML", p)
		if len(n.Content) == 1 {
			docs = append(docs, n.Content[0])
		}
	}
	return docs
}

// decodeYAMLFile decodes a one-document YAML file into v.
func decodeYAMLFile(t *testing.T, p string, v any) {
	t.Helper()
	docs := readYAMLDocs(t, p)
	require.Len(t, docs, 1, "%s: want one YAML document", p)
	require.NoError(t, docs[0].Decode(v), p)
}
