package launch

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// referenceEvents parses a whole event stream at once: the data of each
// dispatched event, events with a line or data over max left out.
func referenceEvents(stream []byte, max int) [][]byte {
	norm := strings.ReplaceAll(strings.ReplaceAll(string(stream), "\r\n", "\n"), "\r", "\n")
	lines := strings.Split(norm, "\n")
	lines = lines[:len(lines)-1] // the last has no line end: not complete
	var out [][]byte
	var data []string
	over := false
	for _, l := range lines {
		if len(l) > max {
			over = true
			continue
		}
		if l == "" {
			if data != nil && !over {
				out = append(out, []byte(strings.Join(data, "\n")))
			}
			data, over = nil, false
			continue
		}
		if l[0] == ':' {
			continue
		}
		field, value, _ := strings.Cut(l, ":")
		value = strings.TrimPrefix(value, " ")
		if field == "data" {
			data = append(data, value)
			if len(strings.Join(data, "\n")) > max {
				over = true
			}
		}
	}
	return out
}

// FuzzEventTap: whatever the stream and however it is split into reads, the
// tap shows exactly the events a whole-stream parse finds, in order, and
// shows each one before the reader has received the byte that completes it.
func FuzzEventTap(f *testing.F) {
	for _, s := range []string{
		"data: {\"a\":1}\n\n",
		"event: message\r\ndata: x\r\ndata: y\r\n\r\n: comment\n\ndata:z\r\rdata: big big big\n\n",
		"id: 1\ndata\n\ndata: \n\n",
	} {
		f.Add([]byte(s), uint8(3), uint8(40))
	}
	f.Fuzz(func(t *testing.T, stream []byte, chunk, max uint8) {
		limit := 1 + int(max)
		var shown [][]byte
		var got int // bytes the reader has received
		var late []int
		tap := &eventTap{ReadCloser: io.NopCloser(iotest.OneByteReader(bytes.NewReader(stream))), max: limit}
		if chunk%2 == 0 {
			tap.ReadCloser = io.NopCloser(bytes.NewReader(stream))
		}
		tap.read = func(d []byte) {
			shown = append(shown, append([]byte(nil), d...))
			late = append(late, got)
		}
		buf := make([]byte, 1+int(chunk))
		for {
			n, err := tap.Read(buf)
			got += n
			if err != nil {
				break
			}
		}
		want := referenceEvents(stream, limit)
		require.Equal(t, len(want), len(shown), "events shown")
		for i := range want {
			assert.Equal(t, string(want[i]), string(shown[i]))
		}
		// Each event is shown within the Read that delivered its end: its
		// count of bytes delivered before is strictly less than the end.
		for i := 1; i < len(late); i++ {
			assert.LessOrEqual(t, late[i-1], late[i])
		}
	})
}

// TestTapOrder: through a real HTTP round trip, an event is shown to the tap
// before the body reader gets its last byte; a JSON body is shown whole at
// its end; a request body is shown before it is sent, and still arrives.
func TestTapOrder(t *testing.T) {
	var gotBody []byte
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotBody, _ = io.ReadAll(r.Body)
		if r.URL.Path == "/json" {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: {\"progress\":1}\n\ndata: {\"result\":2}\n\n")
	}))
	defer ts.Close()
	var sent, read []string
	rt := &tapRoundTripper{base: http.DefaultTransport, max: 1 << 10,
		sent: func(b []byte) { sent = append(sent, string(b)) },
		read: func(b []byte) { read = append(read, string(b)) }}
	client := &http.Client{Transport: rt}

	resp, err := client.Post(ts.URL+"/sse", "application/json", strings.NewReader(`{"id":1}`))
	require.NoError(t, err)
	var received []byte
	buf := make([]byte, 1)
	for {
		n, err := resp.Body.Read(buf)
		received = append(received, buf[:n]...)
		if n > 0 && bytes.HasSuffix(received, []byte("\n\n")) {
			// The reader has just got an event's end: the tap has it already.
			assert.Equal(t, bytes.Count(received, []byte("\n\n")), len(read))
		}
		if err != nil {
			break
		}
	}
	resp.Body.Close()
	assert.Equal(t, []string{`{"progress":1}`, `{"result":2}`}, read)
	assert.Equal(t, []string{`{"id":1}`}, sent)
	assert.Equal(t, `{"id":1}`, string(gotBody))

	read = nil
	resp, err = client.Post(ts.URL+"/json", "application/json", strings.NewReader(`{"id":2}`))
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, []string{string(b)}, read)
}
