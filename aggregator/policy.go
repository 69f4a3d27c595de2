package aggregator

import (
	"github.com/mcp-gateway/mcp-gateway/policy"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// identity is who req runs as: the record the HTTP front door attached to
// the request's token info, else the local (stdio) identity.
func (a *Aggregator) identity(req mcp.Request) *policy.Identity {
	if extra := req.GetExtra(); extra != nil {
		if id := policy.FromTokenInfo(extra.TokenInfo); id != nil {
			return id
		}
	}
	return a.local.Load()
}

// Reidentify applies a reload of identities for the next request: local
// becomes the identity of requests that carry none, and now maps an
// identity to what it runs as from its next request (nil: it is no longer
// accepted; itself if that cannot be known). Sessions whose lists that
// changes get list_changed.
func (a *Aggregator) Reidentify(local *policy.Identity, now func(*policy.Identity) *policy.Identity) {
	a.local.Store(local)
	a.mu.RLock()
	views := []*view{a.merged}
	for _, v := range a.single {
		views = append(views, v)
	}
	a.mu.RUnlock()
	for _, v := range views {
		v.reidentify.Store(&now)
		v.recheck()
	}
}

// mayCall reports whether id may see and call the routed tool.
func mayCall(id *policy.Identity, r toolRoute) bool {
	readOnly := r.tool != nil && r.tool.Annotations != nil && r.tool.Annotations.ReadOnlyHint
	return id.MayCall(r.up.spec.Name, r.policyName, readOnly)
}

// cacheFor is the cache scope of a list result for id: lists of a
// restricted identity are its own.
func cacheFor(id *policy.Identity) mcp.Cacheable {
	if id.Unrestricted() {
		return mcp.Cacheable{CacheScope: "public"}
	}
	return mcp.Cacheable{CacheScope: "private"}
}
