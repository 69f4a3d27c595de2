package transport

import (
	"github.com/mcp-gateway/mcp-gateway/policy"
	"github.com/mcp-gateway/mcp-gateway/sessions"
)

// Sessions is what the front door needs of the record of open HTTP sessions,
// which is kept on the MCP server side, where sessions begin and end
// (*sessions.Book, its middleware on the servers served).
type Sessions interface {
	// Session returns the identity name session sid is bound to and the
	// protocol version it negotiated; ok is false if no such session is open.
	Session(sid string) (identity, protocol string, ok bool)
	// List returns the open sessions.
	List() []sessions.Info
}

// SessionInfo describes one downstream HTTP session in /agents/sessions.
type SessionInfo struct {
	sessions.Info
	Endpoint string `json:"endpoint"`
}

// Endpoint is the HTTP path that serves view: /mcp for the merged catalog
// (""), /mcp/{upstream} for one upstream's.
func Endpoint(view string) string {
	if view == "" {
		return "/mcp"
	}
	return "/mcp/" + view
}

// visibleSessions returns the sessions viewer may see in /agents/sessions:
// all for an admin, else its own.
func visibleSessions(book Sessions, viewer *policy.Identity) []SessionInfo {
	out := []SessionInfo{}
	for _, info := range book.List() {
		if viewer.Admin || info.Identity == viewer.Name {
			out = append(out, SessionInfo{Info: info, Endpoint: Endpoint(info.View)})
		}
	}
	return out
}
