package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/mcp-gateway/mcp-gateway/aggregator"
	"github.com/mcp-gateway/mcp-gateway/config"
	"github.com/mcp-gateway/mcp-gateway/govern"
	"github.com/mcp-gateway/mcp-gateway/sessions"
	"github.com/mcp-gateway/mcp-gateway/transport"
	"github.com/mcp-gateway/mcp-gateway/ui"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
)

type serveOptions struct {
	stdio                bool
	http                 string
	allowUnauthenticated bool
	locked               bool
	// onListen, if set, receives the HTTP address once bound (tests).
	onListen func(net.Addr)
}

func newServeCmd(g *globalOptions, stdin io.ReadCloser, stdout, stderr io.Writer) *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve [--stdio] [--http [ADDR]]",
		Short: "Run the gateway (stdio by default; --http serves streamable HTTP)",
		Long: `Run the gateway. With no flags it serves one MCP client over stdin/stdout (the
mode to use in Claude Desktop, Cursor or VS Code). --http ADDR serves streamable
HTTP instead (ADDR defaults to the config's gateway.listen, else 127.0.0.1:8080);
--stdio --http ADDR serves both from one catalog.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// --http takes an optional value: "--http=ADDR", "--http ADDR" or
			// a bare "--http" (pflag hands "--http ADDR" over as an argument).
			if len(args) == 1 {
				if !cmd.Flags().Changed("http") || o.http != httpFromConfig {
					return fmt.Errorf("unexpected argument %q", args[0])
				}
				o.http = args[0]
			}
			if !cmd.Flags().Changed("http") {
				o.stdio = true
			}
			return serve(cmd.Context(), g, *o, stdin, stdout, stderr)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.stdio, "stdio", false, "serve one client over stdin/stdout (the default without --http)")
	f.StringVar(&o.http, "http", "", "serve streamable HTTP on ADDR (default: gateway.listen, else 127.0.0.1:8080)")
	f.Lookup("http").NoOptDefVal = httpFromConfig
	f.BoolVar(&o.allowUnauthenticated, "allow-unauthenticated", false, "allow listening on a non-loopback address without authentication")
	f.BoolVar(&o.locked, "locked", false, "refuse to start if any definition differs from mcp-gateway.lock (for CI)")
	return cmd
}

// httpFromConfig is the value of a bare --http: listen where the config says.
const httpFromConfig = "config"

func serve(ctx context.Context, g *globalOptions, o serveOptions, stdin io.ReadCloser, stdout, stderr io.Writer) error {
	cfg, logger, err := loadConfig(g, stderr, "")
	if err != nil {
		return err
	}
	addr := o.http
	if addr == httpFromConfig {
		addr = cfg.Gateway.Listen
	}
	authn, err := newAuthenticator(cfg, logger)
	if err != nil {
		return err
	}
	if addr != "" && !o.allowUnauthenticated && !authn.Enabled() {
		if err := requireLoopback(addr); err != nil {
			return err
		}
	}
	var names []string
	for _, u := range cfg.Enabled() {
		names = append(names, u.Name)
	}
	// The record of downstream sessions: kept by the aggregator's servers,
	// read by the front door and the sessions gauge.
	book := sessions.New()
	obs, err := newObserver(cfg, logger, names, book)
	if err != nil {
		return err
	}
	defer obs.Close()
	// The state replicas share (gateway.redis): the rate-limit gate and
	// session records.
	shared, err := newFleet(cfg, logger, obs)
	if err != nil {
		return err
	}
	// Tracing (issue 7): off unless OTEL_* asks for it; spans still buffered
	// are flushed on the way out, within the shutdown grace.
	traces, err := newTracing(ctx, stderr, logger)
	if err != nil {
		return err
	}
	defer traces.shutdown(ctx, cfg.Gateway.ShutdownGrace.D())
	aggOpts := aggregatorOptions(logger, authn, obs)
	aggOpts.Sessions = book
	aggOpts.TracerProvider = traces.provider()
	lockFile := lockPath(g.loadedPath)
	gate := govern.NewGate(govRules(cfg, lockFile, true), logger)
	if err := gate.Rules().Policy.LockErr; err != nil {
		logger.Error("the lockfile cannot be read: every definition is quarantined until it is fixed", "err", err)
	}
	aggOpts.Governor = gateGovernor{gate}
	buds := newBudgets(cfg.Gateway.Budgets)
	aggOpts.Budgets = buds
	// The status page (HTTP only) sees every call, refusal and upstream
	// change through the observer.
	var agg *aggregator.Aggregator
	var feed *ui.Feed
	if addr != "" {
		feed = ui.NewFeed(0)
		aggOpts.Observer = &feedObserver{Observer: obs, feed: feed, now: time.Now, lastError: func(name string) string {
			for _, st := range agg.Status() {
				if st.Name == name {
					return st.LastError
				}
			}
			return ""
		}}
	}
	report := startupFor(stderr, g, cfg, aggOpts.Observer)
	aggOpts.Observer = report.observer(aggOpts.Observer)
	aggOpts.NoRelay = relayOff(cfg)
	agg, err = aggregator.New(upstreamSpecs(cfg, logger), aggOpts)
	if err != nil {
		return err
	}
	report.begin(statusOf(agg))
	// The aggregator outlives the transports: on a signal the transports stop
	// accepting and drain their in-flight calls first, and only then are the
	// upstreams closed. A required upstream that fails stops the transports.
	trackFleet(shared, agg, names)
	aggCtx, stopAgg := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAgg()
	sharedDone := make(chan error, 1) // like the aggregator, it outlives the transports
	go func() { sharedDone <- shared.Run(aggCtx) }()
	defer func() { stopAgg(); <-sharedDone }()
	aggErr := make(chan error, 1)
	go func() { aggErr <- agg.Run(aggCtx) }()
	if o.locked {
		select {
		case err := <-aggErr:
			return err
		case <-agg.Started():
		}
		if err := checkLocked(agg, gate, lockFile, logger); err != nil {
			stopAgg()
			<-aggErr
			return err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	eg, ctx := errgroup.WithContext(ctx)
	eg.Go(func() error {
		select {
		case err := <-aggErr:
			aggErr <- err
			return err // Run returns early only for a failed required upstream
		case <-ctx.Done():
			return nil
		}
	})
	rl := newReloader(g.loadedPath, cfg, gate, agg, logger)
	rl.budgets = buds
	rl.auth = newLiveAuth(authn)
	eg.Go(func() error { return rl.run(ctx) })
	if o.stdio {
		eg.Go(func() error {
			defer cancel() // the client hung up: shut down
			return transport.ServeStdio(ctx, agg.Server(), stdin, nopWriteCloser{stdout}, &transport.StdioOptions{
				Identity: authn.Local(), Allow: shared.Allow, OnRateLimited: obs.RateLimited,
			})
		})
	}
	if addr != "" {
		eg.Go(func() error {
			defer cancel()
			ho := httpOptions(cfg, agg, addr, logger, o.onListen)
			ho.Status = func() any { return statusWithQuarantine(agg, gate) }
			ho.Auth = authOptions(rl.auth, rl.config, shared.Allow, obs)
			ho.Auth.OnRateLimited = aggOpts.Observer.RateLimited // the feed's too
			ho.Restore = shared.Handler
			ho.Auth.Reload = rl.adminReload
			ho.Auth.MetricsRequireAuth = cfg.Gateway.Metrics.RequireAuth
			ho.Auth.Connect, ho.Auth.Callback = webConnectRoutes(cfg, logger)
			ho.Metrics = obs.Handler()
			ho.Sessions = book
			ho.TracerProvider = traces.provider() // Tracing (issue 7)
			page := newStatusPage(agg, gate, book, names, authn.Local().Name, feed)
			extra, err := extraRoutes(page, ui.New(page, feed, &ui.Options{Logger: logger.With("component", "ui")}))
			if err != nil {
				return err
			}
			ho.Extra = extra
			ho.Relay = relayLane(cfg, agg)
			return transport.ServeHTTP(ctx, ho)
		})
	}
	err = eg.Wait()
	stopAgg()
	if aerr := <-aggErr; err == nil {
		err = aerr
	}
	logger.Info("gateway stopped")
	return err
}

// requireLoopback refuses a listen address that is not loopback: with no
// authentication configured, anyone who can reach the port could use every
// upstream.
func requireLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--http %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.IsLoopback() {
		return nil
	}
	return errors.New("refusing to listen on " + addr + " without authentication: configure gateway.auth (api_keys or oauth), bind a loopback address (127.0.0.1), or pass --allow-unauthenticated if something in front of the gateway authenticates")
}

func httpOptions(cfg *config.Config, agg *aggregator.Aggregator, addr string, logger *slog.Logger, onListen func(net.Addr)) transport.HTTPOptions {
	return transport.HTTPOptions{
		Addr:           addr,
		OnListen:       onListen,
		Logger:         logger,
		Version:        version,
		Merged:         agg.Server(),
		Upstream:       agg.UpstreamServer,
		Status:         func() any { return agg.Status() },
		Ready:          agg.Ready,
		AllowedOrigins: cfg.Gateway.AllowedOrigins,
		SessionTimeout: cfg.Gateway.SessionIdleTimeout.D(),
		MaxBodyBytes:   cfg.Gateway.MaxBodyBytes,
		ShutdownGrace:  cfg.Gateway.ShutdownGrace.D(),
	}
}

// nopWriteCloser keeps the SDK from closing the process's stdout.
type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
