package main

// OpenTelemetry tracing (issue 7, SPEC §9), configured by the standard OTEL_*
// environment variables. Off unless asked for: without OTEL_TRACES_EXPORTER
// or an OTLP endpoint no SDK is set up, and the aggregator and transport get
// a nil TracerProvider, which installs nothing on the request path.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// serviceName is the default service.name; OTEL_SERVICE_NAME or
// OTEL_RESOURCE_ATTRIBUTES override it.
const serviceName = "mcp-gateway"

// tracing is the gateway's tracer provider, or nothing when tracing is off.
// Its methods may be called on a nil *tracing.
type tracing struct {
	tp     *sdktrace.TracerProvider
	logger *slog.Logger
}

// tracingEnabled reports whether the environment asks for traces:
// OTEL_TRACES_EXPORTER set to anything but "none", or, with it unset, an OTLP
// endpoint (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT).
// OTEL_SDK_DISABLED=true turns tracing off whatever else is set.
func tracingEnabled(getenv func(string) string) bool {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return false
	}
	switch strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")) {
	case "none":
		return false
	case "":
		return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
	}
	return true
}

// newTracing sets up tracing as the environment says, or returns nil when it
// is off. Exporters: "otlp" (the default) over OTLP/HTTP protobuf, configured
// by the usual OTEL_EXPORTER_OTLP_* variables; "console" writes spans to
// stderr — never stdout, which carries the protocol in stdio mode. OTLP over
// gRPC is not built in: its packages (gRPC and every OTLP signal, through
// contrib's autoexport) cost a gateway that does not trace ~5 MB of resident
// memory; collectors, Jaeger included, take OTLP/HTTP on 4318. Sampling
// (OTEL_TRACES_SAMPLER) and batching (OTEL_BSP_*) are the SDK's, from the
// environment too.
func newTracing(ctx context.Context, stderr io.Writer, logger *slog.Logger) (*tracing, error) {
	getenv := os.Getenv // as autoexport and the SDK read it
	if !tracingEnabled(getenv) {
		return nil, nil
	}
	var exp sdktrace.SpanExporter
	var err error
	switch name := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); name {
	case "console":
		exp, err = stdouttrace.New(stdouttrace.WithWriter(stderr))
	case "", "otlp":
		switch proto := otlpProtocol(getenv); proto {
		case "http/protobuf":
			exp, err = otlptracehttp.New(ctx) // reads OTEL_EXPORTER_OTLP_* itself
		default:
			err = fmt.Errorf("OTLP protocol %q is not supported: use http/protobuf (OTEL_EXPORTER_OTLP_PROTOCOL), port 4318 on collectors", proto)
		}
	default:
		err = fmt.Errorf("unknown exporter %q: want otlp, console or none", name)
	}
	if err != nil {
		return nil, fmt.Errorf("tracing (OTEL_TRACES_EXPORTER=%q): %w", getenv("OTEL_TRACES_EXPORTER"), err)
	}
	// Later detectors win: the environment's service name over ours.
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", serviceName), attribute.String("service.version", version)),
		resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil {
		logger.Warn("tracing: incomplete resource", "err", err) // res still has what could be detected
	}
	// Export errors (a collector that is down) go to the log, not to the
	// standard library logger the SDK uses by default.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { logger.Warn("tracing: export failed", "err", err) }))
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	logger.Info("tracing enabled", "exporter", exporterName(getenv))
	return &tracing{tp: tp, logger: logger}, nil
}

// exporterName names the exporter in use for the start-up log line.
func exporterName(getenv func(string) string) string {
	name := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER"))
	if name == "" {
		name = "otlp"
	}
	if name != "otlp" {
		return name
	}
	return name + " (" + otlpProtocol(getenv) + ")"
}

// otlpProtocol is the OTLP protocol the environment asks for traces.
func otlpProtocol(getenv func(string) string) string {
	proto := getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if proto == "" {
		proto = getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	if proto == "" {
		proto = "http/protobuf"
	}
	return proto
}

// provider is what the aggregator and transport trace with: nil when off.
func (t *tracing) provider() trace.TracerProvider {
	if t == nil {
		return nil
	}
	return t.tp
}

// shutdown flushes the spans still buffered and stops the exporter, giving
// up after grace.
func (t *tracing) shutdown(ctx context.Context, grace time.Duration) {
	if t == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if err := t.tp.Shutdown(ctx); err != nil {
		t.logger.Warn("tracing: flushing spans at shutdown", "err", err)
	}
}
