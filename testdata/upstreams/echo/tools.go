package main

// The echo server's tools:
//
//	echo(text)             text content = text; structured {"text"}; request _meta returned as result _meta["echoed_meta"]
//	add(a, b)              structured {"sum"}
//	fail(message)          result with isError and message as text
//	rpc_error(code, msg)   JSON-RPC error with that code and message
//	sleep(ms)              sleeps, honouring cancellation; progress every 50ms if the call has a progress token
//	add_tool(name, [description])
//	                       registers (or replaces) an echo-like tool (tools/list_changed follows)
//	remove_tool(name)      removes a tool (tools/list_changed follows)
//	touch(uri)             sends notifications/resources/updated for uri to subscribers
//	whoami()               name, pid, ECHO_SECRET set?, ECHO_GREETING, cwd, as JSON
//	headers()              HTTP headers of this call as a JSON object ({} over stdio;
//	                       over SSE those of the latest POST, see lastHeaders)
//	sample(prompt)         sampling/createMessage; returns the model's text
//	elicit(message)        elicitation/create; returns {"action","content"} as JSON
//	roots()                roots/list; returns the URIs as a JSON array
//	log(level, message)    notifications/message at level, then "ok"
//	progress(count)        count progress notifications (1..count of count), the last one
//	                       immediately before the result "sent COUNT"
//	raw_result()           over stdio, a result written as raw bytes (rawResult): fields the
//	                       SDK does not know, its own key order and number formats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func (e *echoServer) addTools() {
	mcp.AddTool(e.srv, &mcp.Tool{Name: "echo", Description: e.echoDescription}, e.echo)
	mcp.AddTool(e.srv, &mcp.Tool{Name: "add", Description: "Add two numbers."}, e.add)
	mcp.AddTool(e.srv, &mcp.Tool{Name: "fail", Description: "Return a tool error (isError) with the message."}, e.fail)
	mcp.AddTool(e.srv, &mcp.Tool{Name: "rpc_error", Description: "Fail with a JSON-RPC error of the given code and message."}, e.rpcError)
	mcp.AddTool(e.srv, &mcp.Tool{Name: "sleep", Description: "Sleep ms milliseconds, sending progress every 50ms when asked to."}, e.sleep)
	mcp.AddTool(e.srv, &mcp.Tool{Name: "add_tool", Description: "Register a tool that echoes its value argument."}, e.addTool)
	mcp.AddTool(e.srv, &mcp.Tool{Name: "remove_tool", Description: "Remove a tool."}, e.removeTool)
	mcp.AddTool(e.srv, &mcp.Tool{Name: "touch", Description: "Notify subscribers that a resource was updated."}, e.touch)
	mcp.AddTool(e.srv, &mcp.Tool{Name: "whoami", Description: "Report the server's name, PID, environment and working directory."}, e.whoami)
	mcp.AddTool(e.srv, &mcp.Tool{Name: "headers", Description: "Return the HTTP request headers of this call as JSON."}, e.headers)
	mcp.AddTool(e.srv, &mcp.Tool{Name: "sample", Description: "Ask the client's model (sampling) and return its text."}, e.sample)
	mcp.AddTool(e.srv, &mcp.Tool{Name: "elicit", Description: "Ask the user (elicitation) and return the action and content as JSON."}, e.elicit)
	mcp.AddTool(e.srv, &mcp.Tool{Name: "roots", Description: "List the client's roots and return their URIs as JSON."}, e.roots)
	mcp.AddTool(e.srv, &mcp.Tool{Name: "log", Description: "Send a log message to the client at a level, then return ok."}, e.log)
	mcp.AddTool(e.srv, &mcp.Tool{Name: "raw_result", Description: "Over stdio, answer with a result written as raw bytes."}, e.rawResult)
	mcp.AddTool(e.srv, &mcp.Tool{Name: "progress", Description: "Send count progress notifications, the last right before the result."}, e.progress)
}

type progressIn struct {
	Count int `json:"count" jsonschema:"how many progress notifications to send"`
}

func (e *echoServer) progress(ctx context.Context, req *mcp.CallToolRequest, in progressIn) (*mcp.CallToolResult, any, error) {
	token := req.Params.GetProgressToken()
	if token == nil {
		return nil, nil, errors.New("progress: the call has no progress token")
	}
	for i := 1; i <= in.Count; i++ {
		err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: token, Progress: float64(i), Total: float64(in.Count)})
		if err != nil {
			return nil, nil, fmt.Errorf("progress: %w", err)
		}
	}
	return textResult(fmt.Sprintf("sent %d", in.Count)), nil, nil
}

type textArg struct {
	Text string `json:"text" jsonschema:"text to echo"`
}

type echoOut struct {
	Text string `json:"text" jsonschema:"the echoed text"`
}

func (e *echoServer) echo(_ context.Context, req *mcp.CallToolRequest, in textArg) (*mcp.CallToolResult, echoOut, error) {
	res := textResult(in.Text)
	if meta := req.Params.Meta; len(meta) > 0 {
		res.Meta = mcp.Meta{"echoed_meta": meta}
	}
	return res, echoOut{Text: in.Text}, nil
}

type addIn struct {
	A float64 `json:"a" jsonschema:"first addend"`
	B float64 `json:"b" jsonschema:"second addend"`
}

type addOut struct {
	Sum float64 `json:"sum" jsonschema:"a + b"`
}

func (e *echoServer) add(_ context.Context, _ *mcp.CallToolRequest, in addIn) (*mcp.CallToolResult, addOut, error) {
	return nil, addOut{Sum: in.A + in.B}, nil
}

type messageArg struct {
	Message string `json:"message" jsonschema:"the message"`
}

func (e *echoServer) fail(_ context.Context, _ *mcp.CallToolRequest, in messageArg) (*mcp.CallToolResult, any, error) {
	res := textResult(in.Message)
	res.IsError = true
	return res, nil, nil
}

type rpcErrorIn struct {
	Code    int    `json:"code" jsonschema:"JSON-RPC error code"`
	Message string `json:"message" jsonschema:"JSON-RPC error message"`
}

func (e *echoServer) rpcError(_ context.Context, _ *mcp.CallToolRequest, in rpcErrorIn) (*mcp.CallToolResult, any, error) {
	// mcp.AddTool passes a *jsonrpc.Error through as the response error.
	return nil, nil, &jsonrpc.Error{Code: int64(in.Code), Message: in.Message}
}

type sleepIn struct {
	MS int `json:"ms" jsonschema:"milliseconds to sleep"`
}

type sleepOut struct {
	SleptMS int64 `json:"slept_ms" jsonschema:"milliseconds slept"`
}

func (e *echoServer) sleep(ctx context.Context, req *mcp.CallToolRequest, in sleepIn) (*mcp.CallToolResult, sleepOut, error) {
	start := time.Now()
	done := time.NewTimer(time.Duration(in.MS) * time.Millisecond)
	defer done.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	token := req.Params.GetProgressToken()
	for {
		select {
		case <-ctx.Done():
			e.logger.Info("sleep cancelled", "after", time.Since(start))
			return nil, sleepOut{}, ctx.Err()
		case <-done.C:
			return nil, sleepOut{SleptMS: time.Since(start).Milliseconds()}, nil
		case <-tick.C:
			if token == nil {
				continue
			}
			elapsed := time.Since(start).Milliseconds()
			err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
				ProgressToken: token,
				Progress:      float64(elapsed),
				Total:         float64(in.MS),
				Message:       fmt.Sprintf("slept %d of %d ms", elapsed, in.MS),
			})
			if err != nil {
				e.logger.Warn("progress notification", "err", err)
			}
		}
	}
}

type nameArg struct {
	Name string `json:"name" jsonschema:"tool name"`
}

type addToolArgs struct {
	Name        string `json:"name" jsonschema:"tool name"`
	Description string `json:"description,omitempty" jsonschema:"the tool's description; a default one if empty"`
}

func (e *echoServer) addTool(_ context.Context, _ *mcp.CallToolRequest, in addToolArgs) (*mcp.CallToolResult, any, error) {
	if in.Name == "" {
		return nil, nil, errors.New("name must not be empty")
	}
	addGenerated(e.srv, in.Name, in.Description)
	return textResult("added tool " + in.Name), nil, nil
}

func (e *echoServer) removeTool(_ context.Context, _ *mcp.CallToolRequest, in nameArg) (*mcp.CallToolResult, any, error) {
	e.srv.RemoveTools(in.Name)
	return textResult("removed tool " + in.Name), nil, nil
}

type uriArg struct {
	URI string `json:"uri" jsonschema:"resource URI"`
}

func (e *echoServer) touch(ctx context.Context, _ *mcp.CallToolRequest, in uriArg) (*mcp.CallToolResult, any, error) {
	if err := e.srv.ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: in.URI}); err != nil {
		return nil, nil, err
	}
	return textResult("touched " + in.URI), nil, nil
}

type whoamiOut struct {
	Name          string `json:"name" jsonschema:"the --name flag"`
	PID           int    `json:"pid" jsonschema:"process ID"`
	EchoSecretSet bool   `json:"echo_secret_set" jsonschema:"whether ECHO_SECRET is set (its value is never shown)"`
	EchoGreeting  string `json:"echo_greeting" jsonschema:"value of ECHO_GREETING"`
	Cwd           string `json:"cwd" jsonschema:"working directory"`
	// Client is the clientInfo the session's client sent in initialize.
	Client *mcp.Implementation `json:"client,omitempty" jsonschema:"the clientInfo of this session's client"`
}

func (e *echoServer) whoami(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, whoamiOut, error) {
	_, secretSet := os.LookupEnv("ECHO_SECRET")
	cwd, err := os.Getwd()
	if err != nil {
		return nil, whoamiOut{}, err
	}
	var client *mcp.Implementation
	if ip := req.Session.InitializeParams(); ip != nil {
		client = ip.ClientInfo
	}
	return nil, whoamiOut{
		Client:        client,
		Name:          e.name,
		PID:           os.Getpid(),
		EchoSecretSet: secretSet,
		EchoGreeting:  os.Getenv("ECHO_GREETING"),
		Cwd:           cwd,
	}, nil
}

func (e *echoServer) headers(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
	h := map[string][]string{}
	if req.Extra != nil && req.Extra.Header != nil {
		h = req.Extra.Header // streamable HTTP: this call's POST
	} else if sse := e.sseHeaders.get(); sse != nil {
		h = sse // legacy SSE: the latest POST
	}
	return jsonResult(h)
}

type promptArg struct {
	Prompt string `json:"prompt" jsonschema:"what to ask the model"`
}

func (e *echoServer) sample(ctx context.Context, req *mcp.CallToolRequest, in promptArg) (*mcp.CallToolResult, any, error) {
	res, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{
		Messages:  []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: in.Prompt}}},
		MaxTokens: 256,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("sampling: %w", err)
	}
	if text, ok := res.Content.(*mcp.TextContent); ok {
		return textResult(text.Text), nil, nil
	}
	return jsonResult(res.Content)
}

func (e *echoServer) elicit(ctx context.Context, req *mcp.CallToolRequest, in messageArg) (*mcp.CallToolResult, any, error) {
	res, err := req.Session.Elicit(ctx, &mcp.ElicitParams{
		Message: in.Message,
		RequestedSchema: map[string]any{
			"type": "object",
			"properties": map[string]any{
				"answer": map[string]any{"type": "string", "description": "your answer"},
			},
		},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("elicitation: %w", err)
	}
	return jsonResult(map[string]any{"action": res.Action, "content": res.Content})
}

func (e *echoServer) roots(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
	res, err := req.Session.ListRoots(ctx, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("roots: %w", err)
	}
	uris := []string{}
	for _, r := range res.Roots {
		uris = append(uris, r.URI)
	}
	return jsonResult(uris)
}

type logIn struct {
	Level   string `json:"level" jsonschema:"debug, info, notice, warning, error, critical, alert or emergency"`
	Message string `json:"message" jsonschema:"the log message"`
}

var logLevels = []string{"debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"}

func (e *echoServer) log(ctx context.Context, req *mcp.CallToolRequest, in logIn) (*mcp.CallToolResult, any, error) {
	if !slices.Contains(logLevels, in.Level) {
		return nil, nil, fmt.Errorf("unknown level %q; use one of %v", in.Level, logLevels)
	}
	err := req.Session.Log(ctx, &mcp.LoggingMessageParams{Level: mcp.LoggingLevel(in.Level), Logger: e.name, Data: in.Message})
	if err != nil {
		return nil, nil, err
	}
	return textResult("ok"), nil, nil
}

// jsonResult is a tool result whose text content is v as JSON.
func jsonResult(v any) (*mcp.CallToolResult, any, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, nil, err
	}
	return textResult(string(data)), nil, nil
}
