package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/mcp-gateway/mcp-gateway/aggregator"
	"github.com/mcp-gateway/mcp-gateway/auth"
	"github.com/mcp-gateway/mcp-gateway/config"
	"github.com/mcp-gateway/mcp-gateway/govern"
	"github.com/mcp-gateway/mcp-gateway/policy"
)

// reloadDebounce gathers the several events one save makes (editors write,
// rename and chmod) into one reload.
const reloadDebounce = 200 * time.Millisecond

// reloader reloads the config and lockfile while the gateway runs. What
// takes effect for the next request: overrides, pins (the lockfile, and
// gateway.pins), tool budgets, keys, policies and rate limits (gateway.auth,
// gateway.limits, the local identity of the stdio client). Upstreams added, removed or changed are started, stopped
// or restarted, each alone, calls in flight to them finishing first. Clients
// get list_changed when what they see changed. The settings
// config.KeepRestartOnly names are reported as needing a restart.
type reloader struct {
	path, lockFile string
	gate           *govern.Gate
	agg            *aggregator.Aggregator
	budgets        *budgets  // nil: budgets are not reloaded
	auth           *liveAuth // nil: authentication is not reloaded
	log            *slog.Logger

	mu  sync.Mutex                    // one reload at a time
	cfg atomic.Pointer[config.Config] // the config in effect
	// life ends when the gateway shuts down: waits for calls in flight to
	// an upstream being stopped end with it.
	life atomic.Pointer[context.Context]
}

func newReloader(path string, cfg *config.Config, gate *govern.Gate, agg *aggregator.Aggregator, log *slog.Logger) *reloader {
	r := &reloader{path: path, lockFile: lockPath(path), gate: gate, agg: agg, log: log}
	r.cfg.Store(cfg)
	life := context.Background()
	r.life.Store(&life)
	return r
}

// config returns the config in effect.
func (r *reloader) config() *config.Config { return r.cfg.Load() }

// reloadResult is the body of POST /admin/reload.
type reloadResult struct {
	Reloaded bool `json:"reloaded"`
	// Added, Removed and Restarted name the upstreams started, stopped and
	// restarted.
	Added     []string `json:"added,omitempty"`
	Removed   []string `json:"removed,omitempty"`
	Restarted []string `json:"restarted,omitempty"`
	// Errors are upstream changes that could not be made; the rest was.
	Errors []string `json:"errors,omitempty"`
	// NeedRestart names what changed that only takes effect at a restart.
	NeedRestart []string `json:"need_restart,omitempty"`
}

// reload re-reads the config and the lockfile. A config with errors is
// refused whole, every error logged and returned, and the running config
// kept.
func (r *reloader) reload(reason string) (reloadResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	running := r.config()
	cfg, err := config.Load(r.path)
	if err == nil {
		resolvePaths(cfg, filepath.Dir(r.path))
	}
	var authn *auth.Authenticator
	if err == nil && r.auth != nil && authChanged(running, cfg) {
		authn, err = newAuthenticator(cfg, r.log)
	}
	if err != nil {
		r.log.Error("config reload refused; the running config is kept", "reason", reason, "err", err)
		return reloadResult{}, err
	}
	res := reloadResult{Reloaded: true, NeedRestart: config.KeepRestartOnly(running, cfg)}
	if authn != nil {
		if authn.Enabled() != r.auth.load().Enabled() {
			// Switching authentication on or off changes what the listen
			// address may be: that is checked at start.
			res.NeedRestart = append(res.NeedRestart, "gateway.auth (authentication switched on or off)")
			cfg.Gateway.Auth, cfg.Gateway.Limits.RateLimitRPM, cfg.Gateway.Limits.Burst = running.Gateway.Auth, running.Gateway.Limits.RateLimitRPM, running.Gateway.Limits.Burst
		} else {
			r.auth.cur.Store(authn)
			r.agg.Reidentify(authn.Local(), func(id *policy.Identity) *policy.Identity {
				if id.Kind != policy.KindAPIKey || id.Agent != "" {
					return id // an OAuth or agent token's record is in the token
				}
				if now, ok := authn.KeyIdentity(id.Owner); ok {
					return now
				}
				return nil
			})
		}
	}
	rules := govRules(cfg, r.lockFile, true)
	if err := rules.Policy.LockErr; err != nil {
		r.log.Error("the lockfile cannot be read: every definition is quarantined until it is fixed", "err", err)
	}
	r.gate.SetRules(rules)
	if r.budgets != nil {
		r.budgets.set(cfg.Gateway.Budgets)
	}
	r.agg.Regovern()
	r.applyUpstreams(running, cfg, &res)
	r.cfg.Store(cfg)
	r.log.Info("config reloaded", "reason", reason, "added", res.Added, "removed", res.Removed, "restarted", res.Restarted)
	if len(res.NeedRestart) > 0 {
		r.log.Warn("config changes that take effect only at a restart", "changed", strings.Join(res.NeedRestart, ", "))
	}
	return res, nil
}

// authChanged reports whether what the authenticator is built from
// differs: gateway.auth and the default rate limit.
func authChanged(running, loaded *config.Config) bool {
	key := func(c *config.Config) string {
		b, _ := json.Marshal([]any{c.Gateway.Auth, c.Gateway.Limits.RateLimitRPM, c.Gateway.Limits.Burst})
		return string(b)
	}
	return key(running) != key(loaded)
}

// applyUpstreams stops the upstreams removed, restarts those changed and
// starts those added, in that order (a removed upstream's prefix may be
// an added one's). An upstream change that fails is reported, and the
// entry in effect is kept in cfg.
func (r *reloader) applyUpstreams(running, cfg *config.Config, res *reloadResult) {
	d := config.DiffUpstreams(running, cfg)
	if d.Empty() {
		return
	}
	specs := map[string]aggregator.UpstreamSpec{}
	for _, s := range upstreamSpecs(cfg, r.log) {
		specs[s.Name] = s
	}
	failed := func(name, what string, err error) {
		r.log.Error("upstream change not made", "upstream", name, "change", what, "err", err)
		res.Errors = append(res.Errors, fmt.Sprintf("mcpServers.%s (%s): %v", name, what, err))
		if u, ok := running.MCPServers[name]; ok && !u.Disabled {
			cfg.MCPServers[name] = u
		} else {
			delete(cfg.MCPServers, name)
		}
	}
	// Calls in flight to an upstream are bounded by its call timeout; a
	// restarted one is also given its first connection attempt.
	for _, name := range d.Removed {
		ctx, cancel := context.WithTimeout(*r.life.Load(), running.MCPServers[name].Timeout.D())
		err := r.agg.Remove(ctx, name)
		cancel()
		if err != nil {
			failed(name, "removed", err)
			continue
		}
		res.Removed = append(res.Removed, name)
	}
	for _, name := range d.Changed {
		ctx, cancel := context.WithTimeout(*r.life.Load(), running.MCPServers[name].Timeout.D()+cfg.MCPServers[name].InitTimeout.D())
		err := r.agg.Replace(ctx, specs[name])
		cancel()
		if err != nil {
			failed(name, "changed", err)
			continue
		}
		res.Restarted = append(res.Restarted, name)
	}
	for _, name := range d.Added {
		if err := r.agg.Add(specs[name]); err != nil {
			failed(name, "added", err)
			continue
		}
		res.Added = append(res.Added, name)
	}
}

// run reloads on SIGHUP (where there is one) and when the config file or
// the lockfile changes, until ctx is done. A watcher that cannot start is
// logged; signals still work.
func (r *reloader) run(ctx context.Context) error {
	r.life.Store(&ctx)
	sig := make(chan os.Signal, 1)
	if s := reloadSignals(); len(s) > 0 {
		signal.Notify(sig, s...)
		defer signal.Stop(sig)
	}
	var events <-chan fsnotify.Event
	var errs <-chan error
	w, err := fsnotify.NewWatcher()
	if err == nil {
		// The directory, not the files: editors and "mcp-gateway lock"
		// replace a file by renaming another over it.
		err = w.Add(filepath.Dir(r.path))
	}
	if err != nil {
		r.log.Warn("not watching the config for changes; SIGHUP or POST /admin/reload still reload it", "err", err)
	} else {
		defer w.Close()
		events, errs = w.Events, w.Errors
	}
	names := map[string]bool{filepath.Base(r.path): true, filepath.Base(r.lockFile): true}
	var debounce <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sig:
			r.reload("SIGHUP")
		case ev := <-events:
			if names[filepath.Base(ev.Name)] && !ev.Has(fsnotify.Chmod) {
				debounce = time.After(reloadDebounce)
			}
		case err := <-errs:
			r.log.Warn("watching the config", "err", err)
		case <-debounce:
			debounce = nil
			r.reload("file changed")
		}
	}
}

// adminReload is POST /admin/reload.
func (r *reloader) adminReload() (any, error) {
	res, err := r.reload("POST /admin/reload")
	if err != nil {
		return nil, err
	}
	return res, nil
}
