package launch

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzLineFilter feeds arbitrary bytes through lineFilter with a fuzzed
// buffer size and message cap. Its output must be exactly the input lines
// that hold one JSON object or array, in order and unchanged, up to the
// first line over the cap, which must end the read with ErrMessageTooLarge;
// no message longer than the cap is ever passed on.
//
// Seeds: testdata/fuzz/FuzzLineFilter, written from lineFilterSeeds by
// go test ./launch -run TestFuzzSeeds -update-seeds.
func FuzzLineFilter(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, size, capN uint16) {
		bufSize := 16 + int(size%512)
		limit := 1 + int(capN%1024)
		lf := &lineFilter{r: bufio.NewReaderSize(bytes.NewReader(data), bufSize), max: limit, log: slog.New(slog.DiscardHandler)}

		want, wantTooLarge := referenceLineFilter(data, limit)
		var got [][]byte
		var cur []byte
		var readErr error
		buf := make([]byte, 1+int(size%97)) // odd read sizes split messages
		for i := 0; ; i++ {
			require.Less(t, i, 4*len(data)+10, "Read does not make progress")
			n, err := lf.Read(buf)
			cur = append(cur, buf[:n]...)
			// A message is passed on whole, one line at a time: cut the
			// output at newlines.
			for {
				j := bytes.IndexByte(cur, '\n')
				if j < 0 {
					break
				}
				got = append(got, cur[:j+1])
				cur = cur[j+1:]
			}
			if err != nil {
				readErr = err
				break
			}
		}
		if len(cur) > 0 {
			got = append(got, cur)
		}
		for _, m := range got {
			require.LessOrEqual(t, len(m), limit, "a message over the cap was passed on: %.100q", m)
		}
		require.Equal(t, want, got, "buffer %d, cap %d", bufSize, limit)
		if wantTooLarge {
			require.ErrorIs(t, readErr, ErrMessageTooLarge)
		} else {
			require.ErrorIs(t, readErr, io.EOF)
		}
	})
}

// lineFilterSeed is one FuzzLineFilter input: the buffer is 16+size%512
// bytes, the cap 1+max%1024.
type lineFilterSeed struct {
	data      string
	size, max uint16
}

var lineFilterSeeds = map[string]lineFilterSeed{
	"one-message":      {"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n", 0, 100},
	"banner-and-noise": {"banner\n{\"a\":1}\n  [1,2]\r\n{\"unterminated\":\nnot json\n{}", 0, 100},
	"scalars":          {"\"string\"\n42\nnull\ntrue\n{\"a\":1} {\"b\":2}\n[]\n", 0, 200},
	"long-noise":       {strings.Repeat("x", 300) + "\n{\"ok\":true}\n", 0, 1000},
	"over-cap-in-loop": {"{\"long\":\"" + strings.Repeat("y", 200) + "\"}\n{}\n", 0, 100},
	"blank-lines":      {"\n\n\r\n   \n{}\n", 0, 3},
	"invalid-utf8":     {"{\"a\":\"\xff\"}\n{\"b\":\"\\u0000\"}\n", 0, 100},
	"exact-cap":        {"{\"a\":\"" + strings.Repeat("x", 11) + "\"}\n{\"a\":\"" + strings.Repeat("x", 12) + "\"}\n{}\n", 0, 19},
	"no-final-newline": {"{}\n[1]", 0, 100},
	"cr-only":          {"{}\r{}\r\n", 0, 100},
	// A line shorter than the buffer but longer than the cap.
	"over-cap-within-buffer":       {"{\"long\":\"" + strings.Repeat("y", 200) + "\"}\n{}\n", 300, 100},
	"over-cap-within-buffer-small": {"\t{\"a\":1}\n[]\n", 16, 6},
}

// referenceLineFilter returns the lines of data that hold a JSON-RPC message
// (a JSON object or array naming "jsonrpc"), trailing blanks trimmed and one
// newline added, stopping at the first line whose content is longer than max
// (reported by the second result).
func referenceLineFilter(data []byte, max int) ([][]byte, bool) {
	var out [][]byte
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		line := data
		if i >= 0 {
			line = data[:i+1]
		}
		data = data[len(line):]
		if len(bytes.TrimRight(line, "\r\n")) > max {
			return out, true
		}
		// JSON whitespace is space, tab, CR and LF; the line has no LF but
		// its last byte.
		trimmed := bytes.TrimSpace(line)
		if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') && bytes.Contains(trimmed, []byte(`"jsonrpc"`)) && json.Valid(trimmed) {
			out = append(out, append(bytes.TrimRight(line, " \t\r\n"), '\n'))
		}
	}
	return out, false
}

var updateSeeds = flag.Bool("update-seeds", false, "rewrite the seed corpora under testdata/fuzz")

// TestFuzzSeeds checks that the seed corpus under testdata/fuzz matches
// lineFilterSeeds; -update-seeds rewrites it.
func TestFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzLineFilter")
	seeds := map[string][]byte{}
	for name, s := range lineFilterSeeds {
		seeds[name] = marshalCorpus([]byte(s.data), s.size, s.max)
	}
	if *updateSeeds {
		require.NoError(t, os.MkdirAll(dir, 0o755))
		for name, data := range seeds {
			require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o644))
		}
	}
	for name, data := range seeds {
		got, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err, "run go test -run TestFuzzSeeds -update-seeds")
		require.Equal(t, string(data), string(got), "%s is stale: run go test -run TestFuzzSeeds -update-seeds", name)
	}
}

// marshalCorpus encodes values as the go command's corpus file format does.
func marshalCorpus(vals ...any) []byte {
	var b strings.Builder
	b.WriteString("go test fuzz v1\n")
	for _, v := range vals {
		switch v := v.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		case uint16:
			fmt.Fprintf(&b, "uint16(%d)\n", v)
		default:
			panic(fmt.Sprintf("unsupported corpus type %T", v))
		}
	}
	return []byte(b.String())
}
