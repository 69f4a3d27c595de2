package main

import (
	"context"

	"github.com/mcp-gateway/mcp-gateway/aggregator"
	"github.com/mcp-gateway/mcp-gateway/config"
	"github.com/mcp-gateway/mcp-gateway/transport"
)

// relayOff reports whether the relay lane is off: gateway.relay: false.
func relayOff(cfg *config.Config) bool { return !cfg.Gateway.RelayOn() }

// relayLane hands the front door's relay requests to the aggregator; nil
// when the lane is off.
func relayLane(cfg *config.Config, agg *aggregator.Aggregator) transport.Relay {
	if relayOff(cfg) {
		return nil
	}
	return func(ctx context.Context, r *transport.RelayRequest) ([]byte, bool) {
		return agg.Relay(ctx, &aggregator.RelayRequest{View: r.View, Session: r.Session, Identity: r.Identity,
			Header: r.Header, Body: r.Body, KeepAlive: r.KeepAlive})
	}
}
