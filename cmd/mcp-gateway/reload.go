package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/mcp-gateway/mcp-gateway/aggregator"
	"github.com/mcp-gateway/mcp-gateway/config"
	"github.com/mcp-gateway/mcp-gateway/govern"
)

// reloadDebounce gathers the several events one save makes (editors write,
// rename and chmod) into one reload.
const reloadDebounce = 200 * time.Millisecond

// reloader reloads the config and lockfile while the gateway runs. What
// takes effect without a restart: overrides, pins (the lockfile, and
// gateway.pins) and tool budgets, for the next request; clients get list_changed when what
// they see changed. Other changes are reported as needing a restart.
type reloader struct {
	path, lockFile string
	gate           *govern.Gate
	agg            *aggregator.Aggregator
	budgets        *budgets // nil: budgets are not reloaded
	log            *slog.Logger

	mu      sync.Mutex        // one reload at a time
	started map[string]string // upstream → its config entry at start, as JSON
	rest    string            // the gateway section at start, as JSON
}

func newReloader(path string, cfg *config.Config, gate *govern.Gate, agg *aggregator.Aggregator, log *slog.Logger) *reloader {
	r := &reloader{path: path, lockFile: lockPath(path), gate: gate, agg: agg, log: log}
	r.started, r.rest = fingerprintConfig(cfg)
	return r
}

// fingerprintConfig returns each enabled upstream's entry without its
// overrides, and the gateway section without pins, as JSON: what a reload
// does not apply.
func fingerprintConfig(cfg *config.Config) (map[string]string, string) {
	ups := map[string]string{}
	for _, u := range cfg.Enabled() {
		c := *u
		c.Overrides = config.Overrides{}
		b, _ := json.Marshal(c)
		ups[u.Name] = string(b)
	}
	g := cfg.Gateway
	g.Pins, g.Budgets = config.Pins{}, config.Budgets{}
	b, _ := json.Marshal(g)
	return ups, string(b)
}

// reloadResult is the body of POST /admin/reload.
type reloadResult struct {
	Reloaded bool `json:"reloaded"`
	// NeedRestart names what changed that only takes effect at a restart.
	NeedRestart []string `json:"need_restart,omitempty"`
}

// reload re-reads the config and the lockfile. A config with errors is
// refused whole, every error logged and returned, and the running config
// kept.
func (r *reloader) reload(reason string) (reloadResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cfg, err := config.Load(r.path)
	if err != nil {
		r.log.Error("config reload refused; the running config is kept", "reason", reason, "err", err)
		return reloadResult{}, err
	}
	resolvePaths(cfg, filepath.Dir(r.path))
	rules := govRules(cfg, r.lockFile, true)
	if err := rules.Policy.LockErr; err != nil {
		r.log.Error("the lockfile cannot be read: every definition is quarantined until it is fixed", "err", err)
	}
	r.gate.SetRules(rules)
	if r.budgets != nil {
		r.budgets.set(cfg.Gateway.Budgets)
	}
	r.agg.Regovern()
	res := reloadResult{Reloaded: true}
	ups, rest := fingerprintConfig(cfg)
	for _, name := range slices.Sorted(maps.Keys(ups)) {
		if was, ok := r.started[name]; !ok {
			res.NeedRestart = append(res.NeedRestart, "mcpServers."+name+" (added)")
		} else if was != ups[name] {
			res.NeedRestart = append(res.NeedRestart, "mcpServers."+name+" (changed)")
		}
	}
	for _, name := range slices.Sorted(maps.Keys(r.started)) {
		if _, ok := ups[name]; !ok {
			res.NeedRestart = append(res.NeedRestart, "mcpServers."+name+" (removed)")
		}
	}
	if rest != r.rest {
		res.NeedRestart = append(res.NeedRestart, "gateway")
	}
	r.log.Info("config reloaded: overrides, pins and budgets are in effect", "reason", reason)
	if len(res.NeedRestart) > 0 {
		r.log.Warn("config changes that take effect only at a restart", "changed", strings.Join(res.NeedRestart, ", "))
	}
	return res, nil
}

// run reloads on SIGHUP (where there is one) and when the config file or
// the lockfile changes, until ctx is done. A watcher that cannot start is
// logged; signals still work.
func (r *reloader) run(ctx context.Context) error {
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
