package aggregator

import (
	"context"
	"log/slog"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// interest is what downstream clients asked of an upstream's shared
// connection: resource subscriptions, counted so the upstream sees one per URI
// however many clients want it, and the most verbose log level any client
// asked for. Both are re-applied when the connection is made again. Safe for
// concurrent use.
type interest struct {
	mu    sync.Mutex
	subs  map[string]int   // resource URI → downstream subscriptions
	level mcp.LoggingLevel // "" until a client sets one
}

func newInterest() *interest { return &interest{subs: map[string]int{}} }

// subscribe counts one more subscription to uri and reports whether it is
// the first, which the upstream must be told of.
func (i *interest) subscribe(uri string) (first bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.subs[uri]++
	return i.subs[uri] == 1
}

// unsubscribe counts one subscription to uri less and reports whether it was
// the last, which the upstream must be told of. An unknown uri is not
// counted and reports false.
func (i *interest) unsubscribe(uri string) (last bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	n, ok := i.subs[uri]
	if !ok {
		return false
	}
	if n <= 1 {
		delete(i.subs, uri)
		return true
	}
	i.subs[uri] = n - 1
	return false
}

// logLevels orders MCP log levels from most to least verbose.
var logLevels = map[mcp.LoggingLevel]int{"debug": 0, "info": 1, "notice": 2, "warning": 3, "error": 4, "critical": 5, "alert": 6, "emergency": 7}

// raiseLevel records that a client asked for level and reports whether the
// upstream must now log more verbosely than before. Unknown levels are
// ignored.
func (i *interest) raiseLevel(level mcp.LoggingLevel) bool {
	rank, ok := logLevels[level]
	if !ok {
		return false
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if cur, set := logLevels[i.level]; i.level != "" && set && rank >= cur {
		return false
	}
	i.level = level
	return true
}

// restore re-applies the subscriptions and the log level on a new
// connection to the upstream.
func (i *interest) restore(ctx context.Context, cs *mcp.ClientSession, log *slog.Logger) {
	i.mu.Lock()
	uris := make([]string, 0, len(i.subs))
	for uri := range i.subs {
		uris = append(uris, uri)
	}
	level := i.level
	i.mu.Unlock()
	for _, uri := range uris {
		if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: uri}); err != nil {
			log.Warn("re-subscribing after reconnect failed", "uri", uri, "err", err)
		}
	}
	if level != "" {
		if err := cs.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: level}); err != nil {
			log.Debug("setting log level after reconnect failed", "err", err)
		}
	}
}
