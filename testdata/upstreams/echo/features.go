package main

// The echo server's resources, prompt and completions:
//
//	echo://static        "static resource of NAME"
//	echo://item/{id}     "item ID from NAME"
//	greet(name)          user message "Hello, NAME! (from SERVERNAME)"; name is required
//	completion           greet's name argument: "alice", "albert", "bob" filtered by prefix
//
// Subscriptions are accepted for any URI; the touch tool reports an update.

import (
	"context"
	"fmt"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const itemURIPrefix = "echo://item/"

func (e *echoServer) addFeatures() {
	e.srv.AddResource(&mcp.Resource{
		URI:         "echo://static",
		Name:        "static",
		Description: "A fixed text naming the server.",
		MIMEType:    "text/plain",
	}, func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return textResource(req.Params.URI, "static resource of "+e.name), nil
	})
	e.srv.AddResourceTemplate(&mcp.ResourceTemplate{
		URITemplate: itemURIPrefix + "{id}",
		Name:        "item",
		Description: "An item named by its ID.",
		MIMEType:    "text/plain",
	}, func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		id := strings.TrimPrefix(req.Params.URI, itemURIPrefix)
		return textResource(req.Params.URI, fmt.Sprintf("item %s from %s", id, e.name)), nil
	})
	e.srv.AddPrompt(&mcp.Prompt{
		Name:        "greet",
		Description: "Greet someone by name.",
		Arguments:   []*mcp.PromptArgument{{Name: "name", Description: "who to greet", Required: true}},
	}, e.greet)
}

func (e *echoServer) greet(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
	name := req.Params.Arguments["name"]
	if name == "" {
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: `greet: missing required argument "name"`}
	}
	return &mcp.GetPromptResult{
		Description: "A greeting for " + name,
		Messages: []*mcp.PromptMessage{{
			Role:    "user",
			Content: &mcp.TextContent{Text: fmt.Sprintf("Hello, %s! (from %s)", name, e.name)},
		}},
	}, nil
}

var greetNames = []string{"alice", "albert", "bob"}

// complete completes greet's name argument; anything else gets no values.
func (e *echoServer) complete(_ context.Context, req *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
	values := []string{}
	ref, arg := req.Params.Ref, req.Params.Argument
	if ref != nil && ref.Type == "ref/prompt" && ref.Name == "greet" && arg.Name == "name" {
		for _, n := range greetNames {
			if strings.HasPrefix(n, arg.Value) {
				values = append(values, n)
			}
		}
	}
	return &mcp.CompleteResult{Completion: mcp.CompletionResultDetails{Values: values, Total: len(values)}}, nil
}

func textResource(uri, text string) *mcp.ReadResourceResult {
	return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: uri, MIMEType: "text/plain", Text: text}}}
}
