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

// SetLocal makes id the identity of requests that carry none, from the next
// request on (a reloaded config's local identity). Sessions that run as it
// get list_changed if what they see changed.
func (a *Aggregator) SetLocal(id *policy.Identity) {
	if a.local.Swap(id) == id {
		return
	}
	a.mu.RLock()
	views := []*view{a.merged}
	for _, v := range a.single {
		views = append(views, v)
	}
	a.mu.RUnlock()
	for _, v := range views {
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
