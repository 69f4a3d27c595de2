package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mcp-gateway/mcp-gateway/aggregator"
	"github.com/mcp-gateway/mcp-gateway/auth"
	"github.com/mcp-gateway/mcp-gateway/config"
	"github.com/mcp-gateway/mcp-gateway/launch"
	"github.com/mcp-gateway/mcp-gateway/upauth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// inheritedEnv names the gateway environment variables a stdio upstream
// inherits. Everything else it gets only from its own "env": the gateway's
// secrets are not passed on to every child.
var inheritedEnv = []string{
	"PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "TMPDIR", "TEMP", "TMP",
	"LANG", "LC_ALL", "LC_CTYPE", "TZ",
	"XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR",
	"SSL_CERT_FILE", "SSL_CERT_DIR", "NODE_EXTRA_CA_CERTS",
	"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
}

// upstreamSpecs maps the config's enabled upstreams to aggregator specs.
func upstreamSpecs(cfg *config.Config, logger *slog.Logger) []aggregator.UpstreamSpec {
	var specs []aggregator.UpstreamSpec
	ua := newUpstreamAuth(logger)
	for _, u := range cfg.Enabled() {
		if len(u.Ignored) > 0 {
			logger.Debug("ignoring config keys meant for other clients", "upstream", u.Name, "keys", strings.Join(u.Ignored, ","))
		}
		specs = append(specs, aggregator.UpstreamSpec{
			Name:           u.Name,
			Prefix:         u.ExposedPrefix(),
			Kind:           u.Transport,
			NewTransport:   newTransportFunc(u, cfg.Gateway.Limits.MaxMessageBytes, ua, logger.With("upstream", u.Name)),
			Required:       u.Required,
			CallTimeout:    u.Timeout.D(),
			Allow:          u.Tools.Allow,
			Deny:           u.Tools.Deny,
			Isolation:      aggregator.Isolation(u.Isolation),
			InitTimeout:    u.InitTimeout.D(),
			MaxConcurrency: u.MaxConcurrency,
			Breaker: aggregator.BreakerSettings{
				Failures:    cfg.Gateway.Limits.Breaker.Failures,
				OpenTimeout: cfg.Gateway.Limits.Breaker.OpenTimeout.D(),
			},
		})
	}
	return specs
}

func newTransportFunc(u *config.Upstream, maxMessage int, ua *upauth.Manager, logger *slog.Logger) func(context.Context) (mcp.Transport, error) {
	switch u.Transport {
	case "stdio":
		t := &launch.CommandTransport{
			Path:            u.Command,
			Args:            u.Args,
			Env:             childEnv(os.LookupEnv, u.Env),
			Dir:             u.Cwd,
			Logger:          logger,
			MaxMessageBytes: maxMessage,
		}
		return launch.StaticTransport(t)
	case "http", "sse":
		shared := launch.StaticTransport(launch.NewHTTPTransport(u.URL, launch.HTTPTransportOptions{
			SSE:             u.Transport == "sse",
			Headers:         u.Headers,
			MaxMessageBytes: maxMessage,
			Wrap:            upstreamAuthWrap(ua, u),
		}))
		if u.PerIdentity {
			return perIdentityTransport(u, maxMessage, ua, shared, logger)
		}
		return shared
	}
	return func(context.Context) (mcp.Transport, error) {
		return nil, fmt.Errorf("unknown transport %q", u.Transport) // config validation prevents this
	}
}

// childEnv is the environment of a stdio upstream: the inherited variables
// that are set, then the upstream's own env, which wins.
func childEnv(lookup func(string) (string, bool), own map[string]string) []string {
	env := map[string]string{}
	for _, k := range inheritedEnv {
		if v, ok := lookup(k); ok {
			env[k] = v
		}
	}
	for k, v := range own {
		env[k] = v
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// loadConfig finds and loads the config and builds the logger. The flags win
// over the config; cliLevel, if set, replaces the config's level (the one-shot
// commands keep stderr quiet unless asked).
func loadConfig(g *globalOptions, stderr io.Writer, cliLevel string) (*config.Config, *slog.Logger, error) {
	path, err := config.Find(g.configPath)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, nil, err
	}
	resolvePaths(cfg, filepath.Dir(path))
	g.loadedPath = path
	level, format := g.logLevel, g.logFormat
	if level == "" {
		level = cliLevel
	}
	if level == "" {
		level = cfg.Gateway.Log.Level
	}
	if format == "" {
		format = cfg.Gateway.Log.Format
	}
	logger, err := newLogger(stderr, level, format)
	if err != nil {
		return nil, nil, err
	}
	return cfg, logger, nil
}

// aggregatorOptions maps the config to the aggregator's options. Requests
// with no identity of their own (stdio, the CLI) run as the configured local
// identity.
func aggregatorOptions(logger *slog.Logger, a *auth.Authenticator, obs aggregator.Observer) *aggregator.Options {
	return &aggregator.Options{
		Logger:   logger,
		Version:  version,
		Local:    a.Local(),
		Observer: obs,
	}
}

// resolvePaths makes an upstream's relative command path ("./bin/server",
// "../tools/x") and relative cwd relative to the config file's directory, so
// a config works whatever directory the gateway is started from (Claude
// Desktop starts it in its own). A bare command name ("npx") is looked up
// in PATH as usual.
func resolvePaths(cfg *config.Config, dir string) {
	for _, u := range cfg.MCPServers {
		if strings.ContainsRune(u.Command, filepath.Separator) && !filepath.IsAbs(u.Command) {
			u.Command = filepath.Join(dir, u.Command)
		}
		if u.Cwd != "" && !filepath.IsAbs(u.Cwd) {
			u.Cwd = filepath.Join(dir, u.Cwd)
		}
	}
}
