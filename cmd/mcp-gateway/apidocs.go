package main

import (
	"github.com/mcp-gateway/mcp-gateway/apidocs"
	"github.com/mcp-gateway/mcp-gateway/transport"
	"github.com/mcp-gateway/mcp-gateway/ui"
)

// extraRoutes are the routes served beside transport's own: the status page
// and the API docs. The API docs test holds the description to them.
func extraRoutes(page *statusPage, u *ui.UI) ([]transport.Route, error) {
	docs, err := docsRoutes()
	if err != nil {
		return nil, err
	}
	return append(page.routes(u), docs...), nil
}

// docsRoutes serve the OpenAPI description of the HTTP endpoints and its
// page, to anyone: they describe the API, not this gateway's config.
func docsRoutes() ([]transport.Route, error) {
	d, err := apidocs.New(version)
	if err != nil {
		return nil, err
	}
	return []transport.Route{
		{Pattern: "GET /openapi.json", Handler: d.Spec()},
		{Pattern: "GET /docs", Handler: d.Page()},
	}, nil
}
