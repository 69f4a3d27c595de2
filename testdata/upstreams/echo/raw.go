package main

import (
	"bytes"
	"context"
	"io"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// rawResult is the result raw_result answers with over stdio, as these
// bytes: members the SDK does not know, keys out of the SDK's order, and
// numbers as the SDK would never write them. A gateway that passes results
// on byte for byte delivers exactly this.
const rawResult = `{"zeta":{"b":2,"a":1},"content":[{"text":"raw","type":"text","annotations":{"priority":1.0}}],` +
	`"num":1.50e+3,"big":12345678901234567890,"isError":false,"structuredContent":{"x":-0.0,"y":[1E2,0.10]}}`

// rawMarker is the text of the result the SDK writes for raw_result, which
// rawWriter replaces.
const rawMarker = "raw-result-marker-7f3a"

func (e *echoServer) rawResult(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: rawMarker}}}, nil, nil
}

// rawWriter writes stdout, replacing the result of each response that
// carries rawMarker by rawResult. The SDK writes one message per Write.
type rawWriter struct{ w io.Writer }

func (r rawWriter) Write(p []byte) (int, error) {
	if !bytes.Contains(p, []byte(rawMarker)) {
		return r.w.Write(p)
	}
	i := bytes.Index(p, []byte(`,"result":`))
	if i < 0 {
		return r.w.Write(p)
	}
	out := append(append([]byte(nil), p[:i]...), `,"result":`+rawResult+"}\n"...)
	if _, err := r.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}
