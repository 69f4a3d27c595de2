package main

// Checks of the deployment files (examples/deploy) and client configs
// (examples/clients). Docker and Kubernetes are not needed: the files are
// parsed (YAML with go.yaml.in/yaml/v3, already in go.sum through testify) and
// checked against each other and against the real command tree, and the
// image's CMD is run in-process with the image's config.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcp-gateway/mcp-gateway/auth"
	"github.com/mcp-gateway/mcp-gateway/config"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	yaml "go.yaml.in/yaml/v3"
)

// Paths from this package's directory, where go test runs.
const (
	repoRoot   = "../.."
	deployDir  = "../../examples/deploy"
	clientsDir = "../../examples/clients"
)

// exampleAPIKey is the documented example key (examples/deploy/README.md)
// whose digest examples/deploy/k8s/secret.yaml ships as a placeholder.
const exampleAPIKey = "mcp-gateway-example-key-CHANGE-ME"

// apiKeyHeader is the header clients send an API key in (SPEC §7).
const apiKeyHeader = auth.HeaderAPIKey

// keyDigestEnv holds the hex SHA-256 of the API key in the deploy config.
const keyDigestEnv = "MCP_GATEWAY_API_KEY_DIGEST"

func exampleKeyDigest() string {
	sum := sha256.Sum256([]byte(exampleAPIKey))
	return hex.EncodeToString(sum[:])
}

// deployMetric describes one metric family: its labels and, for histograms,
// that it has _bucket, _sum and _count series.
type deployMetric struct {
	name      string
	histogram bool
	labels    []string
}

// deployDocumentedMetrics are the metrics the gateway exposes at GET
// /metrics, as documentation: the checks use a scrape of the real /metrics
// (deployExposedMetrics), and TestDeployMetricsDocumented keeps this list
// equal to it.
var deployDocumentedMetrics = []deployMetric{
	{name: "mcp_gateway_requests_total", labels: []string{"method", "upstream", "outcome"}},
	{name: "mcp_gateway_request_duration_seconds", histogram: true, labels: []string{"method", "upstream"}},
	{name: "mcp_gateway_tool_call_duration_seconds", histogram: true, labels: []string{"upstream", "tool"}},
	{name: "mcp_gateway_upstream_up", labels: []string{"upstream"}},
	{name: "mcp_gateway_upstream_restarts_total", labels: []string{"upstream"}},
	{name: "mcp_gateway_breaker_state", labels: []string{"upstream"}},
	{name: "mcp_gateway_rate_limited_total", labels: []string{"identity"}},
	{name: "mcp_gateway_sessions_active", labels: []string{"endpoint"}},
	{name: "mcp_gateway_catalog_items", labels: []string{"kind"}},
	{name: "mcp_gateway_audit_write_errors_total"},
}

// deployExposedMetrics scrapes the metrics a real gateway exposes at GET
// /metrics after traffic that gives every family a series (obTraffic: calls
// that succeed and fail, a rate-limited identity): each mcp_gateway_ family
// with its type and the label names of its series. Under -short (no test
// binaries) it falls back to the documented list.
func deployExposedMetrics(t *testing.T) []deployMetric {
	t.Helper()
	if bins.gateway == "" {
		t.Log("NOTE: -short: checking against the documented metrics, not a scrape")
		return deployDocumentedMetrics
	}
	g := startObserveGateway(t, obOptions{})
	obTraffic(t, g, "deploy")
	var out []deployMetric
	for name, f := range scrapeMetrics(t, g.url, nil) {
		if !strings.HasPrefix(name, "mcp_gateway_") {
			continue
		}
		m := deployMetric{name: name, histogram: f.GetType() == dto.MetricType_HISTOGRAM}
		for _, series := range f.GetMetric() {
			for _, l := range series.GetLabel() {
				if !slices.Contains(m.labels, l.GetName()) {
					m.labels = append(m.labels, l.GetName())
				}
			}
		}
		slices.Sort(m.labels)
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b deployMetric) int { return strings.Compare(a.name, b.name) })
	return out
}

// TestDeployMetricsDocumented keeps the documented list equal to what the
// gateway really exposes.
func TestDeployMetricsDocumented(t *testing.T) {
	needBins(t)
	var documented []deployMetric
	for _, m := range deployDocumentedMetrics {
		m.labels = slices.Sorted(slices.Values(m.labels))
		documented = append(documented, m)
	}
	slices.SortFunc(documented, func(a, b deployMetric) int { return strings.Compare(a.name, b.name) })
	assert.Equal(t, documented, deployExposedMetrics(t))
}

// deployStandardMetrics are those of client_golang's Go and process collectors that
// the dashboard may use, and Prometheus' own per-target `up`.
var deployStandardMetrics = []deployMetric{
	{name: "go_goroutines"},
	{name: "go_threads"},
	{name: "go_info", labels: []string{"version"}},
	{name: "go_gc_duration_seconds", labels: []string{"quantile"}},
	{name: "go_memstats_alloc_bytes"},
	{name: "go_memstats_heap_alloc_bytes"},
	{name: "go_memstats_heap_inuse_bytes"},
	{name: "go_memstats_sys_bytes"},
	{name: "process_resident_memory_bytes"},
	{name: "process_virtual_memory_bytes"},
	{name: "process_cpu_seconds_total"},
	{name: "process_open_fds"},
	{name: "process_max_fds"},
	{name: "process_start_time_seconds"},
	{name: "up"},
}

// deployLabelValues are the values some labels take; a query matching other values
// would never match anything.
var deployLabelValues = map[string][]string{
	"outcome": {"ok", "error", "denied", "rate_limited", "unavailable", "timeout"},
	"kind":    {"tools", "prompts", "resources", "resource_templates"},
}

// deployTargetLabels are added by Prometheus to every scraped series.
var deployTargetLabels = []string{"job", "instance"}

// ---------------------------------------------------------------------------
// Every file parses.

func TestDeployFilesParse(t *testing.T) {
	var jsonFiles, yamlFiles int
	for _, dir := range []string{deployDir, clientsDir} {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			switch filepath.Ext(p) {
			case ".json":
				jsonFiles++
				_ = readJSONValue(t, p)
			case ".yml", ".yaml":
				yamlFiles++
				docs := readYAMLDocs(t, p)
				assert.NotEmpty(t, docs, "%s: no YAML documents", p)
				for i, doc := range docs {
					assert.Equal(t, yaml.MappingNode, doc.Kind, "%s: document %d is not a mapping", p, i)
				}
			}
			return nil
		})
		require.NoError(t, err)
	}
	t.Logf("parsed %d JSON and %d YAML files", jsonFiles, yamlFiles)
	assert.GreaterOrEqual(t, jsonFiles, 5)
	assert.GreaterOrEqual(t, yamlFiles, 10)
}

// readJSONValue decodes one JSON value from file p, failing on anything after it.
func readJSONValue(t *testing.T, p string) any {
	t.Helper()
	data, err := os.ReadFile(p)
	require.NoError(t, err)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	require.NoError(t, dec.Decode(&v), "%s: invalid JSON", p)
	_, err = dec.Token()
	require.ErrorIs(t, err, io.EOF, "%s: data after the JSON value", p)
	return v
}

// decodeJSONFile decodes file p into v.
func decodeJSONFile(t *testing.T, p string, v any) {
	t.Helper()
	_ = readJSONValue(t, p)
	data, err := os.ReadFile(p)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, v), p)
}

// readYAMLDocs returns every document of a YAML file (yaml.v3 rejects duplicate keys).
func readYAMLDocs(t *testing.T, p string) []*yaml.Node {
	t.Helper()
	data, err := os.ReadFile(p)
	require.NoError(t, err)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err, "%s: invalid YAML", p)
		if len(n.Content) == 1 {
			docs = append(docs, n.Content[0])
		}
	}
	return docs
}

// decodeYAMLFile decodes a one-document YAML file into v.
func decodeYAMLFile(t *testing.T, p string, v any) {
	t.Helper()
	docs := readYAMLDocs(t, p)
	require.Len(t, docs, 1, "%s: want one YAML document", p)
	require.NoError(t, docs[0].Decode(v), p)
}

// ---------------------------------------------------------------------------
// The command lines in the deployment files, resolved by the real command tree.

// serveLine is a resolved `mcp-gateway serve ...` command line.
type serveLine struct {
	addr        string // --http address; "" for stdio only
	stdio       bool
	configPath  string
	logFormat   string
	allowUnauth bool
}

// parseServeLine resolves args (without the program name) the way the
// command tree does, and requires them to be a valid serve command line.
func parseServeLine(t *testing.T, what string, args []string) serveLine {
	t.Helper()
	root := newRootCmd(io.NopCloser(strings.NewReader("")), io.Discard, io.Discard)
	cmd, rest, err := root.Find(args)
	require.NoError(t, err, "%s: %q", what, args)
	require.Equal(t, "serve", cmd.Name(), "%s: %q is not a serve command line", what, args)
	require.NoError(t, cmd.ParseFlags(rest), "%s: %q", what, args)
	pos := cmd.Flags().Args()
	require.NoError(t, cmd.ValidateArgs(pos), "%s: %q", what, args)
	f := cmd.Flags()
	l := serveLine{
		configPath: f.Lookup("config").Value.String(),
		logFormat:  f.Lookup("log-format").Value.String(),
	}
	l.allowUnauth, err = f.GetBool("allow-unauthenticated")
	require.NoError(t, err)
	if f.Changed("http") {
		l.addr = f.Lookup("http").Value.String()
		// "--http ADDR" reaches serve as a bare --http plus an argument.
		if l.addr == httpFromConfig && len(pos) == 1 {
			l.addr, pos = pos[0], nil
		}
	}
	require.Empty(t, pos, "%s: unexpected arguments in %q", what, args)
	stdio, err := f.GetBool("stdio")
	require.NoError(t, err)
	l.stdio = stdio || !f.Changed("http")
	if l.logFormat != "" {
		_, err := newLogger(io.Discard, "info", l.logFormat)
		require.NoError(t, err, "%s: --log-format", what)
	}
	return l
}

// hostPortNumber returns the port of a host:port address.
func hostPortNumber(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	require.NoError(t, err, addr)
	n, err := strconv.Atoi(p)
	require.NoError(t, err, addr)
	return n
}

// ---------------------------------------------------------------------------
// Dockerfile

type dfInstr struct {
	cmd  string // upper case
	args string
	line int
}

type dfStage struct {
	image, name string
	instrs      []dfInstr
}

func (s dfStage) all(cmd string) []dfInstr {
	var out []dfInstr
	for _, in := range s.instrs {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// parseDockerfile splits a Dockerfile into stages of instructions, joining
// continuation lines and dropping comments.
func parseDockerfile(t *testing.T, p string) []dfStage {
	t.Helper()
	data, err := os.ReadFile(p)
	require.NoError(t, err)
	var stages []dfStage
	var cur strings.Builder
	start := 0
	flush := func() {
		s := strings.TrimSpace(cur.String())
		cur.Reset()
		if s == "" {
			return
		}
		cmd, args, _ := strings.Cut(s, " ")
		in := dfInstr{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: start}
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			f = slices.DeleteFunc(f, func(s string) bool { return strings.HasPrefix(s, "--") })
			require.NotEmpty(t, f, "line %d: FROM without an image", in.line)
			st := dfStage{image: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			}
			stages = append(stages, st)
			return
		}
		require.NotEmpty(t, stages, "line %d: %s before FROM", in.line, in.cmd)
		stages[len(stages)-1].instrs = append(stages[len(stages)-1].instrs, in)
	}
	for i, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if body, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(trimmed)
		flush()
	}
	require.Zero(t, cur.Len(), "Dockerfile ends inside a continued line")
	return stages
}

// execForm parses an exec-form (JSON array) instruction argument.
func execForm(t *testing.T, in dfInstr) []string {
	t.Helper()
	var v []string
	require.NoError(t, json.Unmarshal([]byte(in.args), &v), "line %d: %s must be exec form (a JSON array)", in.line, in.cmd)
	return v
}

// imageSpec is what the deployment files need to agree with.
type imageSpec struct {
	entrypoint []string
	cmd        []string
	serve      serveLine
	port       int
	uid        int
	copies     map[string]string // destination path in the image -> source
	built      map[string]string // output path in the builder -> package built there
}

func readImageSpec(t *testing.T) imageSpec {
	t.Helper()
	stages := parseDockerfile(t, filepath.Join(deployDir, "Dockerfile"))
	require.GreaterOrEqual(t, len(stages), 2, "want a multi-stage build")
	final := stages[len(stages)-1]
	spec := imageSpec{copies: map[string]string{}, built: map[string]string{}}
	for _, in := range stages[0].all("RUN") {
		for _, m := range regexp.MustCompile(`go build [^&]*-o (\S+) (\./\S+)`).FindAllStringSubmatch(in.args, -1) {
			spec.built[m[1]] = m[2]
		}
	}

	eps := final.all("ENTRYPOINT")
	require.Len(t, eps, 1, "final stage: one ENTRYPOINT")
	spec.entrypoint = execForm(t, eps[0])
	cmds := final.all("CMD")
	require.Len(t, cmds, 1, "final stage: one CMD")
	spec.cmd = execForm(t, cmds[0])

	exposes := final.all("EXPOSE")
	require.Len(t, exposes, 1, "final stage: one EXPOSE")
	p, _, _ := strings.Cut(strings.Fields(exposes[0].args)[0], "/")
	spec.port, _ = strconv.Atoi(p)

	users := final.all("USER")
	require.Len(t, users, 1, "final stage: one USER")
	u, _, _ := strings.Cut(users[0].args, ":")
	uid, err := strconv.Atoi(u)
	require.NoError(t, err, "USER must be numeric so Kubernetes' runAsNonRoot can check it")
	spec.uid = uid

	for _, in := range final.all("COPY") {
		f := slices.DeleteFunc(strings.Fields(in.args), func(s string) bool { return strings.HasPrefix(s, "--") })
		require.GreaterOrEqual(t, len(f), 2, "line %d: COPY", in.line)
		dst, srcs := f[len(f)-1], f[:len(f)-1]
		for _, src := range srcs {
			if strings.HasSuffix(dst, "/") {
				spec.copies[path.Join(dst, path.Base(src))] = src
			} else {
				require.Len(t, srcs, 1, "line %d: COPY of several files needs a directory destination", in.line)
				spec.copies[dst] = src
			}
		}
	}
	require.NotEmpty(t, spec.entrypoint)
	require.Len(t, spec.entrypoint, 1, "ENTRYPOINT is the binary alone; its arguments belong in CMD")
	spec.serve = parseServeLine(t, "Dockerfile CMD", spec.cmd)
	return spec
}

func TestDeployDockerfile(t *testing.T) {
	stages := parseDockerfile(t, filepath.Join(deployDir, "Dockerfile"))
	require.GreaterOrEqual(t, len(stages), 2, "want a multi-stage build")
	build, final := stages[0], stages[len(stages)-1]

	// Builder: golang with the go.mod's Go version, static, reproducible.
	repo, tag, ok := strings.Cut(build.image, ":")
	require.True(t, ok, "builder image %q has no tag", build.image)
	assert.Equal(t, "golang", repo)
	checkGoTag(t, tag)
	var env, runs string
	for _, in := range build.all("ENV") {
		env += " " + in.args
	}
	for _, in := range build.all("RUN") {
		runs += " " + in.args
	}
	assert.Contains(t, strings.Fields(env), "CGO_ENABLED=0")
	builds := map[string]string{} // package -> its go build command
	for _, c := range strings.Split(runs, "&&") {
		if m := regexp.MustCompile(`go build .* (\./\S+)\s*$`).FindStringSubmatch(c); m != nil {
			builds[m[1]] = c
		}
	}
	for _, pkg := range []string{"./cmd/mcp-gateway", "./examples/upstreams/notes", "./examples/upstreams/toolbox"} {
		require.Contains(t, builds, pkg, "the builder builds %s", pkg)
		assert.Contains(t, strings.Fields(builds[pkg]), "-trimpath", "go build %s", pkg)
		_, err := os.Stat(filepath.Join(repoRoot, pkg, "main.go"))
		assert.NoError(t, err, "package %s", pkg)
	}
	assert.Regexp(t, `-ldflags "-s -w -X main\.version=\$\{?VERSION\}? -X main\.commit=\$\{?COMMIT\}?"`, builds["./cmd/mcp-gateway"])
	_ = []*string{&version, &commit} // the variables the -X flags set exist

	// Final image: distroless static, non-root.
	assert.Equal(t, "gcr.io/distroless/static-debian12:nonroot", final.image)
	spec := readImageSpec(t)
	assert.NotZero(t, spec.uid, "USER must not be root")
	assert.Equal(t, []string{"/mcp-gateway"}, spec.entrypoint)
	assert.Equal(t, "./cmd/mcp-gateway", spec.built[spec.copies["/mcp-gateway"]], "the entrypoint is the gateway built in the first stage")
	assert.Equal(t, "serve", spec.cmd[0])

	// CMD: serve HTTP on all interfaces at the EXPOSEd port, JSON logs, the
	// config the image carries, and auth from the config rather than
	// --allow-unauthenticated.
	s := spec.serve
	assert.Equal(t, 8080, spec.port)
	require.NotEmpty(t, s.addr, "CMD must serve HTTP")
	assert.False(t, s.stdio, "a container has no stdio client")
	host, _, err := net.SplitHostPort(s.addr)
	require.NoError(t, err)
	assert.Equal(t, "0.0.0.0", host, "listen on every interface of the container")
	assert.Equal(t, spec.port, hostPortNumber(t, s.addr), "CMD --http port and EXPOSE disagree")
	assert.Equal(t, "json", s.logFormat)
	assert.Equal(t, "/etc/mcp-gateway/config.json", s.configPath)
	assert.False(t, s.allowUnauth, "configure auth instead of --allow-unauthenticated")
	assert.Equal(t, "examples/deploy/config.json", spec.copies[s.configPath], "the image carries the deploy config at the CMD's --config path")

	// Every stdio upstream of the config is a binary the image carries.
	cfg := parseDeployConfig(t)
	for _, u := range cfg.Enabled() {
		if u.Transport == config.TransportStdio {
			assert.NotEmpty(t, spec.built[spec.copies[u.Command]], "upstream %q runs %s, which the image does not contain", u.Name, u.Command)
		}
	}

	checkDockerignore(t)
}

// checkGoTag requires the golang image tag to be the go.mod's Go release.
func checkGoTag(t *testing.T, tag string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^go (\d+)\.(\d+)(?:\.(\d+))?\s*$`).FindStringSubmatch(string(data))
	require.NotNil(t, m, "go.mod has no go directive")
	tm := regexp.MustCompile(`^(\d+)\.(\d+)(?:\.(\d+))?(?:-[a-z0-9.]+)?$`).FindStringSubmatch(tag)
	require.NotNil(t, tm, "golang tag %q is not a Go version", tag)
	assert.Equal(t, m[1]+"."+m[2], tm[1]+"."+tm[2], "golang:%s does not match go.mod's go %s.%s", tag, m[1], m[2])
	if tm[3] != "" && m[3] != "" {
		tp, _ := strconv.Atoi(tm[3])
		mp, _ := strconv.Atoi(m[3])
		assert.GreaterOrEqual(t, tp, mp, "golang:%s is older than go.mod's go line (the image sets GOTOOLCHAIN=local)", tag)
	}
}

// checkDockerignore requires Dockerfile.dockerignore to keep the heavy and
// irrelevant parts of the repository out of the build context and nothing the
// build needs.
func checkDockerignore(t *testing.T) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(deployDir, "Dockerfile.dockerignore"))
	require.NoError(t, err, "BuildKit reads <Dockerfile>.dockerignore next to the Dockerfile")
	var patterns []string
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "#") {
			patterns = append(patterns, l)
		}
	}
	for _, p := range []string{".git/HEAD", "bin/mcp-gateway", "testdata/interop/node_modules/x/index.js", "aggregator/aggregator_test.go"} {
		assert.True(t, dockerignored(patterns, p), "%s should be left out of the build context", p)
	}
	needed := []string{"go.mod", "go.sum", "examples/deploy/config.json"}
	err = filepath.WalkDir(repoRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(repoRoot, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			switch d.Name() {
			case ".git", "node_modules", "testdata", "bin":
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(rel, ".go") && !strings.HasSuffix(rel, "_test.go") {
			needed = append(needed, rel)
		}
		return nil
	})
	require.NoError(t, err)
	for _, p := range needed {
		assert.False(t, dockerignored(patterns, p), "the build needs %s but Dockerfile.dockerignore leaves it out", p)
	}
}

// dockerignored reports whether .dockerignore patterns exclude the
// slash-separated path p (a pattern matching a parent directory excludes
// everything in it; the last matching pattern wins).
func dockerignored(patterns []string, p string) bool {
	ignored := false
	for _, pat := range patterns {
		neg := strings.HasPrefix(pat, "!")
		pat = path.Clean(strings.TrimPrefix(strings.TrimPrefix(pat, "!"), "/"))
		re := regexp.MustCompile("^" + globRegexp(pat) + "$")
		parts := strings.Split(p, "/")
		for i := range parts {
			if re.MatchString(strings.Join(parts[:i+1], "/")) {
				ignored = !neg
				break
			}
		}
	}
	return ignored
}

func globRegexp(pat string) string {
	var b strings.Builder
	for i := 0; i < len(pat); i++ {
		switch c := pat[i]; {
		case strings.HasPrefix(pat[i:], "**/"):
			b.WriteString("(.*/)?")
			i += 2
		case strings.HasPrefix(pat[i:], "**"):
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	return b.String()
}

// ---------------------------------------------------------------------------
// The deploy config

// parseDeployConfig parses examples/deploy/config.json as the gateway does,
// with the key digest set in the environment.
func parseDeployConfig(t *testing.T) *config.Config {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(deployDir, "config.json"))
	require.NoError(t, err)
	lookup := func(k string) (string, bool) {
		if k == keyDigestEnv {
			return exampleKeyDigest(), true
		}
		return "", false
	}
	cfg, err := config.ParseEnv(bytes.NewReader(data), lookup)
	require.NoError(t, err, "examples/deploy/config.json")
	return cfg
}

func TestDeployConfig(t *testing.T) {
	cfg := parseDeployConfig(t)
	assert.Equal(t, "json", cfg.Gateway.Log.Format)
	assert.Len(t, cfg.Enabled(), 2)

	// One API key, given to the gateway as the digest from the environment.
	raw, err := os.ReadFile(filepath.Join(deployDir, "config.json"))
	require.NoError(t, err)
	assert.Contains(t, string(raw), `"key": "`+config.KeyDigestPrefix+"${"+keyDigestEnv+`}"`, "the key is the digest from the environment")
	keys := cfg.Gateway.Auth.APIKeys
	require.Len(t, keys, 1)
	k := keys[0]
	assert.Equal(t, config.KeyDigestPrefix+exampleKeyDigest(), k.Key)
	assert.NotEmpty(t, k.Owner)
	assert.ElementsMatch(t, []string{config.ScopeRead, config.ScopeWrite}, k.Scopes)
	assert.Equal(t, []string{"*"}, k.AllowedUpstreams)
}

// ---------------------------------------------------------------------------
// The image's command line, run for real.

func TestDeployImageCommandServes(t *testing.T) {
	spec := readImageSpec(t)
	cfg := parseDeployConfig(t)
	tmp := t.TempDir()

	// The upstreams the image carries, built for this machine.
	data, err := os.ReadFile(filepath.Join(deployDir, "config.json"))
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(data, &doc))
	servers := doc["mcpServers"].(map[string]any)
	for _, u := range cfg.Enabled() {
		pkg := spec.built[spec.copies[u.Command]]
		require.NotEmpty(t, pkg, "upstream %q: %s is not a binary built into the image", u.Name, u.Command)
		bin := filepath.Join(tmp, path.Base(u.Command))
		build := exec.Command("go", "build", "-o", bin, pkg)
		build.Dir = repoRoot
		out, err := build.CombinedOutput()
		require.NoError(t, err, "go build %s: %s", pkg, out)
		servers[u.Name].(map[string]any)["command"] = bin
	}
	cfgPath := filepath.Join(tmp, "config.json")
	data, err = json.Marshal(doc)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(cfgPath, data, 0o600))
	t.Setenv(keyDigestEnv, exampleKeyDigest())
	t.Setenv("MCP_GATEWAY_NOTES_FILE", filepath.Join(tmp, "notes.json"))

	// The image's CMD with a loopback port of this machine and the config above.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	args := slices.Clone(spec.cmd)
	for i := range args[:len(args)-1] {
		switch args[i] {
		case "--http":
			args[i+1] = addr
		case "--config":
			args[i+1] = cfgPath
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, io.NopCloser(strings.NewReader("")), io.Discard, &stderr) }()
	stopped := false
	stop := func() int {
		cancel()
		select {
		case code := <-done:
			stopped = true
			return code
		case <-time.After(20 * time.Second):
			t.Fatalf("gateway did not stop; log:\n%s", stderr.String())
			return -1
		}
	}
	t.Cleanup(func() {
		if !stopped {
			stop()
		}
	})
	base := "http://" + addr
	client := &http.Client{Timeout: 5 * time.Second}
	waitStatus := func(p string, want int, within time.Duration) []byte {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			select {
			case code := <-done:
				stopped = true
				t.Fatalf("gateway exited with %d; log:\n%s", code, stderr.String())
			default:
			}
			resp, err := client.Get(base + p)
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == want {
					return body
				}
				err = fmt.Errorf("status %d: %s", resp.StatusCode, body)
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET %s: %v; log:\n%s", p, err, stderr.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// The probes of k8s/deployment.yaml.
	health := waitStatus("/health", http.StatusOK, 15*time.Second)
	assert.JSONEq(t, `{"status":"ok","version":"dev"}`, string(health))
	waitStatus("/readyz", http.StatusOK, 30*time.Second)

	// What the HTTP client configs do: initialize at /mcp with the key.
	initialize := func(headers map[string]string) (*http.Response, string) {
		t.Helper()
		body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"deploy-test","version":"0"}}}`
		req, err := http.NewRequest(http.MethodPost, base+"/mcp", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		require.NoError(t, err)
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(got)
	}
	resp, body := initialize(map[string]string{apiKeyHeader: exampleAPIKey})
	if assert.Equal(t, http.StatusOK, resp.StatusCode, "initialize with the example key: %s\nlog:\n%s", body, stderr.String()) {
		assert.NotEmpty(t, resp.Header.Get("Mcp-Session-Id"))
	}
	// Once the gateway enforces the config's keys anywhere (GET /upstreams
	// requires auth), /mcp must refuse a client without one.
	if r, err := client.Get(base + "/upstreams"); assert.NoError(t, err) {
		r.Body.Close()
		if r.StatusCode == http.StatusUnauthorized {
			resp, body = initialize(nil)
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "initialize without a key: %s", body)
		} else {
			t.Logf("NOTE: GET /upstreams without a key: status %d; gateway.auth is not enforced yet", r.StatusCode)
		}
	}

	// Prometheus' scrape target.
	fams := scrapeMetrics(t, base, nil)
	assert.Contains(t, fams, "go_goroutines")
	for _, u := range cfg.Enabled() {
		v, ok := metricValue(fams, "mcp_gateway_upstream_up", map[string]string{"upstream": u.Name})
		assert.True(t, ok, "no mcp_gateway_upstream_up for %s", u.Name)
		if u.Required { // /readyz said so
			assert.Equal(t, 1.0, v, "required upstream %s is up", u.Name)
		}
	}

	assert.Zero(t, stop(), "exit code; log:\n%s", stderr.String())
}

// ---------------------------------------------------------------------------
// docker compose, Prometheus, Grafana

type composeFile struct {
	Name     string                    `yaml:"name"`
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image string `yaml:"image"`
	Build *struct {
		Context    string            `yaml:"context"`
		Dockerfile string            `yaml:"dockerfile"`
		Args       map[string]string `yaml:"args"`
	} `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	Ports       []string          `yaml:"ports"`
	DependsOn   []string          `yaml:"depends_on"`
	ReadOnly    bool              `yaml:"read_only"`
	Tmpfs       []string          `yaml:"tmpfs"`
}

// mounts returns the service's mounts: target -> source.
func (s composeService) mounts() map[string]string {
	m := map[string]string{}
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 {
			m[parts[1]] = parts[0]
		}
	}
	return m
}

func readCompose(t *testing.T) composeFile {
	t.Helper()
	var c composeFile
	decodeYAMLFile(t, filepath.Join(deployDir, "docker-compose.yml"), &c)
	return c
}

func TestDeployCompose(t *testing.T) {
	c := readCompose(t)
	spec := readImageSpec(t)
	for _, name := range []string{"gateway", "prometheus", "grafana", "jaeger"} {
		require.Contains(t, c.Services, name)
	}
	for name, s := range c.Services {
		// Pinned images.
		require.NotEmpty(t, s.Image, "service %s has no image", name)
		ref := s.Image[strings.LastIndex(s.Image, "/")+1:]
		_, tag, ok := strings.Cut(ref, ":")
		assert.True(t, ok && tag != "" && tag != "latest", "service %s: image %q is not pinned to a tag", name, s.Image)
		// Bind mounts exist; named volumes are declared.
		for target, src := range s.mounts() {
			if strings.HasPrefix(src, ".") {
				_, err := os.Stat(filepath.Join(deployDir, src))
				assert.NoError(t, err, "service %s mounts %s at %s", name, src, target)
			} else {
				assert.Contains(t, c.Volumes, src, "service %s: volume %q is not declared", name, src)
			}
		}
		// Published on loopback only.
		for _, p := range s.Ports {
			assert.True(t, strings.HasPrefix(p, "127.0.0.1:"), "service %s publishes %s beyond loopback", name, p)
		}
		for _, d := range s.DependsOn {
			assert.Contains(t, c.Services, d, "service %s depends on an unknown service", name)
		}
	}

	gw := c.Services["gateway"]
	require.NotNil(t, gw.Build, "the gateway is built from the Dockerfile")
	ctxDir := filepath.Join(deployDir, gw.Build.Context)
	abs1, _ := filepath.Abs(ctxDir)
	abs2, _ := filepath.Abs(repoRoot)
	assert.Equal(t, abs2, abs1, "the build context is the repository root")
	assert.Equal(t, "examples/deploy/Dockerfile", gw.Build.Dockerfile)
	if len(gw.Command) > 0 {
		parseServeLine(t, "compose gateway command", gw.Command)
	}
	assert.Equal(t, "./config.json", gw.mounts()[spec.serve.configPath], "the config is mounted at the CMD's --config path")
	var published []int
	for _, p := range gw.Ports {
		parts := strings.Split(p, ":")
		n, err := strconv.Atoi(strings.TrimSuffix(parts[len(parts)-1], "/tcp"))
		require.NoError(t, err, p)
		published = append(published, n)
	}
	assert.Contains(t, published, spec.port, "the gateway's container port is published")
	assert.Contains(t, gw.Environment, keyDigestEnv)
	assert.True(t, gw.ReadOnly, "read-only root filesystem")
	assert.Contains(t, gw.Tmpfs, "/tmp", "the notes upstream writes under /tmp")

	// Traces to Jaeger over OTLP/HTTP.
	assert.Equal(t, "mcp-gateway", gw.Environment["OTEL_SERVICE_NAME"])
	u, err := url.Parse(gw.Environment["OTEL_EXPORTER_OTLP_ENDPOINT"])
	require.NoError(t, err)
	assert.Equal(t, "jaeger", u.Hostname())
	assert.Equal(t, "4318", u.Port(), "OTLP over HTTP")
	if p := gw.Environment["OTEL_EXPORTER_OTLP_PROTOCOL"]; p != "" {
		assert.Equal(t, "http/protobuf", p)
	}
	assert.Contains(t, c.Services["jaeger"].Image, "jaegertracing/")
}

func TestDeployPrometheus(t *testing.T) {
	c := readCompose(t)
	spec := readImageSpec(t)
	var prom struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			MetricsPath   string `yaml:"metrics_path"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	decodeYAMLFile(t, filepath.Join(deployDir, "prometheus.yml"), &prom)
	assert.Equal(t, "./prometheus.yml", c.Services["prometheus"].mounts()["/etc/prometheus/prometheus.yml"])
	found := false
	for _, sc := range prom.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			if slices.Contains(st.Targets, net.JoinHostPort("gateway", strconv.Itoa(spec.port))) {
				found = true
				assert.Equal(t, "/metrics", sc.MetricsPath)
				assert.Equal(t, "mcp-gateway", sc.JobName)
			}
		}
	}
	assert.True(t, found, "prometheus.yml scrapes the gateway service at its container port")
}

type grafanaDatasource struct {
	Type string `json:"type" yaml:"type"`
	UID  string `json:"uid" yaml:"uid"`
}

type grafanaPanel struct {
	ID         int                `json:"id"`
	Type       string             `json:"type"`
	Title      string             `json:"title"`
	Datasource *grafanaDatasource `json:"datasource"`
	GridPos    struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		RefID        string             `json:"refId"`
		Expr         string             `json:"expr"`
		LegendFormat string             `json:"legendFormat"`
		Datasource   *grafanaDatasource `json:"datasource"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"`
}

type grafanaDashboard struct {
	UID           string         `json:"uid"`
	Title         string         `json:"title"`
	SchemaVersion int            `json:"schemaVersion"`
	Panels        []grafanaPanel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string             `json:"name"`
			Type       string             `json:"type"`
			Query      any                `json:"query"`
			Datasource *grafanaDatasource `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

func TestDeployGrafana(t *testing.T) {
	c := readCompose(t)
	grafana := c.Services["grafana"]
	mounts := grafana.mounts()
	assert.Equal(t, "./grafana/provisioning", mounts["/etc/grafana/provisioning"])

	// Data sources point at the compose services.
	var ds struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			Name string `yaml:"name"`
			UID  string `yaml:"uid"`
			Type string `yaml:"type"`
			URL  string `yaml:"url"`
		} `yaml:"datasources"`
	}
	decodeYAMLFile(t, filepath.Join(deployDir, "grafana/provisioning/datasources/datasources.yml"), &ds)
	assert.Equal(t, 1, ds.APIVersion)
	types := map[string]string{}
	for _, d := range ds.Datasources {
		types[d.Type] = d.URL
		u, err := url.Parse(d.URL)
		require.NoError(t, err)
		assert.Contains(t, c.Services, u.Hostname(), "data source %s", d.Name)
	}
	assert.Equal(t, "http://prometheus:9090", types["prometheus"])
	assert.Equal(t, "http://jaeger:16686", types["jaeger"])

	// The dashboard provider reads the directory the dashboards are mounted at.
	var prov struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Type    string `yaml:"type"`
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	decodeYAMLFile(t, filepath.Join(deployDir, "grafana/provisioning/dashboards/dashboards.yml"), &prov)
	require.Len(t, prov.Providers, 1)
	assert.Equal(t, "file", prov.Providers[0].Type)
	dashDir, ok := mounts[prov.Providers[0].Options.Path]
	require.True(t, ok, "nothing is mounted at the provider's path %s", prov.Providers[0].Options.Path)
	assert.Equal(t, "./grafana/dashboards", dashDir)
	home := grafana.Environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
	assert.Equal(t, path.Join(prov.Providers[0].Options.Path, "mcp-gateway.json"), home)

	checkDashboard(t, filepath.Join(deployDir, dashDir, "mcp-gateway.json"), deployExposedMetrics(t))
}

// checkDashboard checks the dashboard's queries against the metrics the
// gateway exposes.
func checkDashboard(t *testing.T, p string, exposed []deployMetric) {
	var d grafanaDashboard
	decodeJSONFile(t, p, &d)
	assert.Equal(t, "mcp-gateway", d.UID)
	assert.NotEmpty(t, d.Title)
	assert.Positive(t, d.SchemaVersion)

	// Template variables: a Prometheus data source and label_values queries.
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
		switch v.Type {
		case "datasource":
			assert.Equal(t, "prometheus", v.Query, "variable %s", v.Name)
		case "query":
			q := v.Query
			if m, ok := q.(map[string]any); ok {
				q = m["query"]
			}
			s, _ := q.(string)
			assert.NoError(t, checkLabelValues(exposed, s), "variable %s", v.Name)
		}
	}
	require.True(t, vars["datasource"], "a datasource variable, so the dashboard imports into any Grafana")

	used := map[string]bool{}
	ids := map[int]bool{}
	var walk func(ps []grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, pn := range ps {
			assert.False(t, ids[pn.ID], "panel id %d used twice", pn.ID)
			ids[pn.ID] = true
			assert.LessOrEqual(t, pn.GridPos.X+pn.GridPos.W, 24, "panel %q is wider than the grid", pn.Title)
			assert.Positive(t, pn.GridPos.H, "panel %q", pn.Title)
			walk(pn.Panels)
			if pn.Type == "row" {
				continue
			}
			assert.NotEmpty(t, pn.Title)
			require.NotNil(t, pn.Datasource, "panel %q has no data source", pn.Title)
			assert.Equal(t, "${datasource}", pn.Datasource.UID, "panel %q", pn.Title)
			assert.NotEmpty(t, pn.Targets, "panel %q has no queries", pn.Title)
			refs := map[string]bool{}
			for _, tg := range pn.Targets {
				assert.False(t, refs[tg.RefID], "panel %q: refId %s twice", pn.Title, tg.RefID)
				refs[tg.RefID] = true
				q, err := parsePromQL(exposed, tg.Expr)
				if !assert.NoError(t, err, "panel %q: %s", pn.Title, tg.Expr) {
					continue
				}
				assert.NoError(t, q.check(), "panel %q: %s", pn.Title, tg.Expr)
				assert.NoError(t, q.checkLegend(tg.LegendFormat), "panel %q", pn.Title)
				for _, m := range q.metrics {
					if info, _, ok := q.lookupMetric(m); ok {
						used[info.name] = true
					}
				}
				for _, v := range regexp.MustCompile(`\$\{?(\w+)`).FindAllStringSubmatch(tg.Expr, -1) {
					if !strings.HasPrefix(v[1], "__") {
						assert.True(t, vars[v[1]], "panel %q uses undefined variable $%s", pn.Title, v[1])
					}
				}
			}
		}
	}
	walk(d.Panels)
	for _, m := range exposed {
		assert.True(t, used[m.name], "no panel shows %s", m.name)
	}
	for _, m := range []string{"process_resident_memory_bytes", "go_goroutines"} {
		assert.True(t, used[m], "no panel shows %s", m)
	}
}

// checkLabelValues checks a Grafana label_values(selector, label) query.
func checkLabelValues(exposed []deployMetric, s string) error {
	inner, ok := strings.CutPrefix(strings.TrimSpace(s), "label_values(")
	if !ok || !strings.HasSuffix(inner, ")") {
		return fmt.Errorf("%q: want label_values(selector, label)", s)
	}
	inner = strings.TrimSuffix(inner, ")")
	i := strings.LastIndex(inner, ",")
	if i < 0 {
		return fmt.Errorf("%q: want label_values(selector, label)", s)
	}
	sel, label := inner[:i], strings.TrimSpace(inner[i+1:])
	q, err := parsePromQL(exposed, sel)
	if err != nil {
		return err
	}
	q.labels = append(q.labels, label)
	return q.check()
}

// ---------------------------------------------------------------------------
// A PromQL reader, just enough to list the metrics, labels and label matchers
// a query names.

type promMatcher struct{ label, op, value string }

type promQuery struct {
	known    []deployMetric // the gateway's metrics; the standard ones are added
	expr     string
	metrics  []string
	labels   []string // in matchers, by/without/on/ignoring/group_left/group_right
	matchers []promMatcher
}

type promToken struct {
	kind string // ident, string, number, range, op, var
	val  string
}

// promFunctions are PromQL's functions and aggregation operators.
var promFunctions = func() map[string]bool {
	m := map[string]bool{}
	for _, f := range strings.Fields(`sum avg min max count group topk bottomk quantile stddev stdvar count_values limitk
		rate irate increase delta idelta deriv changes resets predict_linear
		histogram_quantile histogram_count histogram_sum histogram_fraction histogram_avg
		clamp clamp_min clamp_max abs ceil floor round sqrt exp ln log2 log10 sgn
		sort sort_desc label_replace label_join absent absent_over_time vector scalar time timestamp
		avg_over_time min_over_time max_over_time sum_over_time count_over_time last_over_time
		quantile_over_time stddev_over_time present_over_time`) {
		m[f] = true
	}
	return m
}()

var promKeywords = map[string]bool{"bool": true, "and": true, "or": true, "unless": true, "offset": true, "atan2": true}

var promGrouping = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}

func lexPromQL(s string) ([]promToken, error) {
	var toks []promToken
	isIdent := func(c byte, first bool) bool {
		return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (!first && c >= '0' && c <= '9')
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '"' || c == '\'' || c == '`':
			j := i + 1
			var b strings.Builder
			for ; j < len(s) && s[j] != c; j++ {
				if s[j] == '\\' && c != '`' && j+1 < len(s) {
					j++
				}
				b.WriteByte(s[j])
			}
			if j >= len(s) {
				return nil, fmt.Errorf("unterminated string in %q", s)
			}
			toks = append(toks, promToken{"string", b.String()})
			i = j + 1
		case c == '[':
			j := strings.IndexByte(s[i:], ']')
			if j < 0 {
				return nil, fmt.Errorf("unterminated range in %q", s)
			}
			toks = append(toks, promToken{"range", s[i+1 : i+j]})
			i += j + 1
		case c == '$':
			j := i + 1
			if j < len(s) && s[j] == '{' {
				k := strings.IndexByte(s[j:], '}')
				if k < 0 {
					return nil, fmt.Errorf("unterminated variable in %q", s)
				}
				j += k + 1
			} else {
				for j < len(s) && isIdent(s[j], false) {
					j++
				}
			}
			toks = append(toks, promToken{"var", s[i:j]})
			i = j
		case isIdent(c, true):
			j := i
			for j < len(s) && isIdent(s[j], false) {
				j++
			}
			toks = append(toks, promToken{"ident", s[i:j]})
			i = j
		case c >= '0' && c <= '9' || (c == '.' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9'):
			j := i
			for j < len(s) && (isIdent(s[j], false) || s[j] == '.' ||
				((s[j] == '+' || s[j] == '-') && (s[j-1] == 'e' || s[j-1] == 'E'))) {
				j++
			}
			toks = append(toks, promToken{"number", s[i:j]})
			i = j
		default:
			op := string(c)
			if i+1 < len(s) {
				if two := s[i : i+2]; two == "=~" || two == "!~" || two == "!=" || two == "==" || two == ">=" || two == "<=" {
					op = two
				}
			}
			if !strings.Contains("(){},=!~+-*/%^<>", op[:1]) {
				return nil, fmt.Errorf("unexpected %q in %q", op, s)
			}
			toks = append(toks, promToken{"op", op})
			i += len(op)
		}
	}
	return toks, nil
}

func parsePromQL(exposed []deployMetric, expr string) (*promQuery, error) {
	toks, err := lexPromQL(expr)
	if err != nil {
		return nil, err
	}
	q := &promQuery{known: exposed, expr: expr}
	inBraces := false
	for i := 0; i < len(toks); i++ {
		tk := toks[i]
		next := func(k int) promToken {
			if i+k < len(toks) {
				return toks[i+k]
			}
			return promToken{}
		}
		switch {
		case tk.kind == "op" && tk.val == "{":
			inBraces = true
		case tk.kind == "op" && tk.val == "}":
			inBraces = false
		case tk.kind != "ident":
		case inBraces:
			op, val := next(1), next(2)
			if op.kind != "op" || !slices.Contains([]string{"=", "!=", "=~", "!~"}, op.val) || val.kind != "string" {
				return nil, fmt.Errorf("malformed matcher for %s in %q", tk.val, expr)
			}
			q.labels = append(q.labels, tk.val)
			q.matchers = append(q.matchers, promMatcher{tk.val, op.val, val.val})
			i += 2
		case promGrouping[tk.val]:
			if next(1).val != "(" {
				continue
			}
			j := i + 2
			for ; j < len(toks) && toks[j].val != ")"; j++ {
				if toks[j].kind == "ident" {
					q.labels = append(q.labels, toks[j].val)
				}
			}
			i = j
		case promKeywords[tk.val]:
		case promFunctions[tk.val] && (next(1).val == "(" || promGrouping[next(1).val]):
			// A function, or an aggregation with its grouping first: sum by (x) (...).
		case next(1).val == "(":
			return nil, fmt.Errorf("unknown function %s in %q", tk.val, expr)
		default:
			q.metrics = append(q.metrics, tk.val)
		}
	}
	if len(q.metrics) == 0 {
		return nil, fmt.Errorf("no metric in %q", expr)
	}
	return q, nil
}

// lookupMetric finds the family of a series name: the family, whether the
// name is its _bucket series, and whether it is known.
func (q *promQuery) lookupMetric(name string) (deployMetric, bool, bool) {
	for _, m := range slices.Concat(q.known, deployStandardMetrics) {
		if m.name == name {
			return m, false, true
		}
		if m.histogram {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if name == m.name+suffix {
					return m, suffix == "_bucket", true
				}
			}
		}
	}
	return deployMetric{}, false, false
}

// allowedLabels are the labels of the query's metrics and the target labels.
func (q *promQuery) allowedLabels() []string {
	allowed := slices.Clone(deployTargetLabels)
	for _, m := range q.metrics {
		info, bucket, _ := q.lookupMetric(m)
		allowed = append(allowed, info.labels...)
		if bucket {
			allowed = append(allowed, "le")
		}
	}
	return allowed
}

// check requires every metric to be one the gateway (or a standard
// collector) exposes, every label to belong to one of them, and matchers on
// enumerated labels to name values that exist.
func (q *promQuery) check() error {
	var errs []error
	for _, m := range q.metrics {
		if _, _, ok := q.lookupMetric(m); !ok {
			errs = append(errs, fmt.Errorf("%s is not a metric the gateway exposes", m))
		}
	}
	allowed := q.allowedLabels()
	for _, l := range q.labels {
		if !slices.Contains(allowed, l) {
			errs = append(errs, fmt.Errorf("label %s is not a label of %v", l, q.metrics))
		}
	}
	for _, m := range q.matchers {
		values, ok := deployLabelValues[m.label]
		if !ok || strings.Contains(m.value, "$") {
			continue
		}
		alts := []string{m.value}
		if m.op == "=~" || m.op == "!~" {
			if strings.ContainsAny(m.value, `.*+?()[]{}\^$`) {
				continue
			}
			alts = strings.Split(m.value, "|")
		}
		for _, a := range alts {
			if !slices.Contains(values, a) {
				errs = append(errs, fmt.Errorf("%s %q is not one of %v", m.label, a, values))
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%q: %w", q.expr, errors.Join(errs...))
	}
	return nil
}

// checkLegend requires the {{label}} references of a legend to be labels the
// query's series can have.
func (q *promQuery) checkLegend(legend string) error {
	allowed := q.allowedLabels()
	for _, m := range regexp.MustCompile(`\{\{\s*(\w+)\s*\}\}`).FindAllStringSubmatch(legend, -1) {
		if !slices.Contains(allowed, m[1]) {
			return fmt.Errorf("legend %q: %s is not a label of %v", legend, m[1], q.metrics)
		}
	}
	return nil
}

func TestDeployPromQLChecker(t *testing.T) {
	for _, tc := range []struct {
		expr string
		bad  string // substring of the error; "" when valid
	}{
		{`sum by (method, outcome) (rate(mcp_gateway_requests_total{job=~"$job", upstream=~"$upstream"}[$__rate_interval]))`, ""},
		{`histogram_quantile(0.99, sum by (upstream, le) (rate(mcp_gateway_tool_call_duration_seconds_bucket[5m])))`, ""},
		{`sum(rate(mcp_gateway_requests_total{outcome=~"error|timeout"}[1m])) / sum(rate(mcp_gateway_requests_total[1m]))`, ""},
		{`rate(process_cpu_seconds_total[1m]) * 1e-3 offset 5m`, ""},
		{`rate(mcp_gateway_request_total[5m])`, "not a metric"},
		{`sum by (upstreams) (mcp_gateway_upstream_up)`, "label upstreams"},
		{`mcp_gateway_upstream_up{le="1"}`, "label le"},
		{`mcp_gateway_requests_total{outcome="failed"}`, `outcome "failed"`},
		{`mcp_gateway_catalog_items{kind=~"tools|templates"}`, `kind "templates"`},
		{`rates(mcp_gateway_requests_total[5m])`, "unknown function"},
	} {
		q, err := parsePromQL(deployDocumentedMetrics, tc.expr)
		if err == nil {
			err = q.check()
		}
		if tc.bad == "" {
			assert.NoError(t, err, tc.expr)
		} else if assert.Error(t, err, tc.expr) {
			assert.Contains(t, err.Error(), tc.bad, tc.expr)
		}
	}
	q, err := parsePromQL(deployDocumentedMetrics, `sum by (upstream) (mcp_gateway_upstream_up)`)
	require.NoError(t, err)
	assert.NoError(t, q.checkLegend("{{upstream}} {{instance}}"))
	assert.Error(t, q.checkLegend("{{tool}}"))
	assert.NoError(t, checkLabelValues(deployDocumentedMetrics, `label_values(mcp_gateway_upstream_up{job=~"$job"}, upstream)`))
	assert.Error(t, checkLabelValues(deployDocumentedMetrics, `label_values(mcp_gateway_upstream_up, tool)`))
}

// ---------------------------------------------------------------------------
// Kubernetes

type k8sMeta struct {
	Name      string            `yaml:"name"`
	Namespace string            `yaml:"namespace"`
	Labels    map[string]string `yaml:"labels"`
}

type k8sHeader struct {
	APIVersion string  `yaml:"apiVersion"`
	Kind       string  `yaml:"kind"`
	Metadata   k8sMeta `yaml:"metadata"`
}

type k8sSecurityContext struct {
	RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
	RunAsUser                *int  `yaml:"runAsUser"`
	ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
	AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
	Capabilities             *struct {
		Drop []string `yaml:"drop"`
	} `yaml:"capabilities"`
}

type k8sProbe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

type k8sContainer struct {
	Name  string   `yaml:"name"`
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			SecretKeyRef *struct {
				Name string `yaml:"name"`
				Key  string `yaml:"key"`
			} `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	LivenessProbe   *k8sProbe          `yaml:"livenessProbe"`
	ReadinessProbe  *k8sProbe          `yaml:"readinessProbe"`
	SecurityContext k8sSecurityContext `yaml:"securityContext"`
	VolumeMounts    []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
}

type k8sSelector struct {
	MatchLabels map[string]string `yaml:"matchLabels"`
}

type k8sDeployment struct {
	Spec struct {
		Replicas int         `yaml:"replicas"`
		Selector k8sSelector `yaml:"selector"`
		Template struct {
			Metadata k8sMeta `yaml:"metadata"`
			Spec     struct {
				TerminationGracePeriodSeconds int                `yaml:"terminationGracePeriodSeconds"`
				SecurityContext               k8sSecurityContext `yaml:"securityContext"`
				Containers                    []k8sContainer     `yaml:"containers"`
				Volumes                       []struct {
					Name      string `yaml:"name"`
					ConfigMap *struct {
						Name string `yaml:"name"`
					} `yaml:"configMap"`
					EmptyDir map[string]any `yaml:"emptyDir"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type k8sService struct {
	Spec struct {
		Type     string            `yaml:"type"`
		Selector map[string]string `yaml:"selector"`
		Ports    []struct {
			Name       string `yaml:"name"`
			Port       int    `yaml:"port"`
			TargetPort any    `yaml:"targetPort"`
		} `yaml:"ports"`
		SessionAffinity       string `yaml:"sessionAffinity"`
		SessionAffinityConfig struct {
			ClientIP struct {
				TimeoutSeconds int `yaml:"timeoutSeconds"`
			} `yaml:"clientIP"`
		} `yaml:"sessionAffinityConfig"`
	} `yaml:"spec"`
}

type k8sPDB struct {
	Spec struct {
		MinAvailable   any         `yaml:"minAvailable"`
		MaxUnavailable any         `yaml:"maxUnavailable"`
		Selector       k8sSelector `yaml:"selector"`
	} `yaml:"spec"`
}

type k8sHPA struct {
	Spec struct {
		ScaleTargetRef struct {
			APIVersion string `yaml:"apiVersion"`
			Kind       string `yaml:"kind"`
			Name       string `yaml:"name"`
		} `yaml:"scaleTargetRef"`
		MinReplicas int `yaml:"minReplicas"`
		MaxReplicas int `yaml:"maxReplicas"`
		Metrics     []struct {
			Type     string `yaml:"type"`
			Resource *struct {
				Name   string `yaml:"name"`
				Target struct {
					Type               string `yaml:"type"`
					AverageUtilization int    `yaml:"averageUtilization"`
				} `yaml:"target"`
			} `yaml:"resource"`
		} `yaml:"metrics"`
	} `yaml:"spec"`
}

type k8sData struct {
	Type       string            `yaml:"type"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
}

// k8sObjects reads every manifest under k8s/ (kustomization.yaml aside),
// keyed by kind; each kind appears once.
func k8sObjects(t *testing.T) map[string]*yaml.Node {
	t.Helper()
	dir := filepath.Join(deployDir, "k8s")
	files, err := filepath.Glob(filepath.Join(dir, "*.y*ml"))
	require.NoError(t, err)
	objs := map[string]*yaml.Node{}
	var listed []string
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		listed = append(listed, filepath.Base(f))
		for _, doc := range readYAMLDocs(t, f) {
			var h k8sHeader
			require.NoError(t, doc.Decode(&h), f)
			require.NotEmpty(t, h.Kind, "%s: no kind", f)
			require.NotEmpty(t, h.APIVersion, "%s: no apiVersion", f)
			assert.Empty(t, h.Metadata.Namespace, "%s: %s names a namespace; the manifests are namespace-less", f, h.Kind)
			assert.Equal(t, "mcp-gateway", h.Metadata.Name, "%s: %s", f, h.Kind)
			require.NotContains(t, objs, h.Kind, "two %s objects", h.Kind)
			objs[h.Kind] = doc
		}
	}
	var kust struct {
		APIVersion string   `yaml:"apiVersion"`
		Kind       string   `yaml:"kind"`
		Resources  []string `yaml:"resources"`
	}
	decodeYAMLFile(t, filepath.Join(dir, "kustomization.yaml"), &kust)
	assert.Equal(t, "Kustomization", kust.Kind)
	assert.ElementsMatch(t, listed, kust.Resources, "kustomization.yaml lists every manifest")
	return objs
}

func decodeK8s(t *testing.T, objs map[string]*yaml.Node, kind, apiVersion string, v any) {
	t.Helper()
	n, ok := objs[kind]
	require.True(t, ok, "no %s in k8s/", kind)
	var h k8sHeader
	require.NoError(t, n.Decode(&h))
	assert.Equal(t, apiVersion, h.APIVersion, kind)
	require.NoError(t, n.Decode(v), kind)
}

// selectsLabels reports whether every label of sel is in labels.
func selectsLabels(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func TestDeployKubernetes(t *testing.T) {
	objs := k8sObjects(t)
	spec := readImageSpec(t)
	cfg := parseDeployConfig(t)

	var dep k8sDeployment
	decodeK8s(t, objs, "Deployment", "apps/v1", &dep)
	pod := dep.Spec.Template
	assert.Equal(t, 2, dep.Spec.Replicas)
	assert.True(t, selectsLabels(dep.Spec.Selector.MatchLabels, pod.Metadata.Labels), "the selector matches the pod labels")
	assert.Greater(t, pod.Spec.TerminationGracePeriodSeconds, int(cfg.Gateway.ShutdownGrace.D()/time.Second),
		"terminationGracePeriodSeconds must exceed the gateway's shutdown_grace")
	require.Len(t, pod.Spec.Containers, 1)
	ctr := pod.Spec.Containers[0]

	// Command line: the image's entrypoint with valid serve arguments.
	args := ctr.Args
	if len(args) == 0 {
		args = spec.cmd
	}
	s := parseServeLine(t, "Deployment args", args)
	assert.Equal(t, spec.serve, s, "the Deployment's args differ from the image's CMD")

	// Non-root, read-only, no privileges.
	sc, psc := ctr.SecurityContext, pod.Spec.SecurityContext
	assert.True(t, (sc.RunAsNonRoot != nil && *sc.RunAsNonRoot) || (psc.RunAsNonRoot != nil && *psc.RunAsNonRoot), "runAsNonRoot")
	uid := psc.RunAsUser
	if sc.RunAsUser != nil {
		uid = sc.RunAsUser
	}
	if assert.NotNil(t, uid, "runAsUser") {
		assert.Equal(t, spec.uid, *uid, "runAsUser is the image's USER")
	}
	assert.True(t, sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem, "readOnlyRootFilesystem")
	assert.True(t, sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation, "allowPrivilegeEscalation: false")
	if assert.NotNil(t, sc.Capabilities) {
		assert.Equal(t, []string{"ALL"}, sc.Capabilities.Drop)
	}
	for _, r := range []string{"cpu", "memory"} {
		assert.NotEmpty(t, ctr.Resources.Requests[r], "resources.requests.%s", r)
	}
	assert.NotEmpty(t, ctr.Resources.Limits["memory"], "resources.limits.memory")

	// Ports and probes agree with the image.
	require.Len(t, ctr.Ports, 1)
	assert.Equal(t, spec.port, ctr.Ports[0].ContainerPort, "containerPort is the image's EXPOSE")
	assert.Equal(t, hostPortNumber(t, s.addr), ctr.Ports[0].ContainerPort, "containerPort is the --http port")
	probePort := func(p any) int {
		switch v := p.(type) {
		case int:
			return v
		case string:
			for _, cp := range ctr.Ports {
				if cp.Name == v {
					return cp.ContainerPort
				}
			}
		}
		return 0
	}
	for name, pr := range map[string]struct {
		probe *k8sProbe
		path  string
	}{"liveness": {ctr.LivenessProbe, "/health"}, "readiness": {ctr.ReadinessProbe, "/readyz"}} {
		require.NotNil(t, pr.probe, "%s probe", name)
		require.NotNil(t, pr.probe.HTTPGet, "%s probe is an HTTP GET", name)
		assert.Equal(t, pr.path, pr.probe.HTTPGet.Path, "%s probe path", name)
		assert.Equal(t, spec.port, probePort(pr.probe.HTTPGet.Port), "%s probe port", name)
	}

	// Config from the ConfigMap at the --config path; it is config.json.
	var cm k8sData
	decodeK8s(t, objs, "ConfigMap", "v1", &cm)
	mounts := map[string]string{}
	for _, m := range ctr.VolumeMounts {
		mounts[m.MountPath] = m.Name
	}
	configVolume := mounts[path.Dir(s.configPath)]
	require.NotEmpty(t, configVolume, "nothing is mounted at %s", path.Dir(s.configPath))
	writable := map[string]bool{}
	for _, v := range pod.Spec.Volumes {
		if v.Name == configVolume {
			require.NotNil(t, v.ConfigMap, "volume %s is a ConfigMap", v.Name)
			assert.Equal(t, "mcp-gateway", v.ConfigMap.Name)
		}
		if v.EmptyDir != nil {
			writable[v.Name] = true
		}
	}
	want, err := os.ReadFile(filepath.Join(deployDir, "config.json"))
	require.NoError(t, err)
	got, ok := cm.Data[path.Base(s.configPath)]
	require.True(t, ok, "the ConfigMap has no %s", path.Base(s.configPath))
	assert.Equal(t, strings.TrimSpace(string(want)), strings.TrimSpace(got), "the ConfigMap's config.json differs from examples/deploy/config.json")
	assert.True(t, writable[mounts["/tmp"]], "/tmp is a writable emptyDir (the root filesystem is read-only)")

	// The key digest from the Secret; the placeholder is the example key's.
	var secret k8sData
	decodeK8s(t, objs, "Secret", "v1", &secret)
	var ref string
	for _, e := range ctr.Env {
		if e.Name == keyDigestEnv {
			require.NotNil(t, e.ValueFrom, "%s comes from the Secret", keyDigestEnv)
			require.NotNil(t, e.ValueFrom.SecretKeyRef)
			assert.Equal(t, "mcp-gateway", e.ValueFrom.SecretKeyRef.Name)
			ref = e.ValueFrom.SecretKeyRef.Key
		}
	}
	require.NotEmpty(t, ref, "the container has no %s", keyDigestEnv)
	assert.Equal(t, exampleKeyDigest(), secret.StringData[ref], "the placeholder is the SHA-256 of the documented example key")
	readme, err := os.ReadFile(filepath.Join(deployDir, "README.md"))
	require.NoError(t, err)
	assert.Contains(t, string(readme), exampleAPIKey, "README.md documents the example key")
	assert.Contains(t, string(readme), exampleKeyDigest())

	// Service: the container port, with ClientIP affinity that outlives an idle session.
	var svc k8sService
	decodeK8s(t, objs, "Service", "v1", &svc)
	assert.True(t, selectsLabels(svc.Spec.Selector, pod.Metadata.Labels), "the Service selects the pods")
	require.Len(t, svc.Spec.Ports, 1)
	assert.Equal(t, spec.port, probePort(svc.Spec.Ports[0].TargetPort), "the Service targets the container port")
	assert.Equal(t, "ClientIP", svc.Spec.SessionAffinity, "MCP sessions live in one replica")
	assert.GreaterOrEqual(t, time.Duration(svc.Spec.SessionAffinityConfig.ClientIP.TimeoutSeconds)*time.Second,
		cfg.Gateway.SessionIdleTimeout.D(), "affinity must last at least session_idle_timeout")

	// PodDisruptionBudget and HorizontalPodAutoscaler.
	var pdb k8sPDB
	decodeK8s(t, objs, "PodDisruptionBudget", "policy/v1", &pdb)
	assert.True(t, selectsLabels(pdb.Spec.Selector.MatchLabels, pod.Metadata.Labels), "the PDB selects the pods")
	minAvailable, ok := pdb.Spec.MinAvailable.(int)
	require.True(t, ok, "minAvailable is a number")
	var hpa k8sHPA
	decodeK8s(t, objs, "HorizontalPodAutoscaler", "autoscaling/v2", &hpa)
	ref2 := hpa.Spec.ScaleTargetRef
	assert.Equal(t, [3]string{"apps/v1", "Deployment", "mcp-gateway"}, [3]string{ref2.APIVersion, ref2.Kind, ref2.Name})
	assert.Equal(t, dep.Spec.Replicas, hpa.Spec.MinReplicas, "minReplicas is the Deployment's replicas")
	assert.Less(t, minAvailable, hpa.Spec.MinReplicas, "the PDB must allow an eviction")
	assert.Greater(t, hpa.Spec.MaxReplicas, hpa.Spec.MinReplicas)
	require.Len(t, hpa.Spec.Metrics, 1)
	m := hpa.Spec.Metrics[0]
	require.Equal(t, "Resource", m.Type)
	require.NotNil(t, m.Resource)
	assert.Equal(t, "cpu", m.Resource.Name)
	assert.Equal(t, "Utilization", m.Resource.Target.Type)
	assert.Positive(t, m.Resource.Target.AverageUtilization)
}

// ---------------------------------------------------------------------------
// Client configs

// checkGatewayURL requires u to be the gateway's default HTTP endpoint.
func checkGatewayURL(t *testing.T, what, u string) {
	t.Helper()
	pu, err := url.Parse(u)
	require.NoError(t, err, what)
	assert.Equal(t, "http", pu.Scheme, what)
	assert.Equal(t, config.DefaultListen, pu.Host, "%s: the gateway's default listen address", what)
	assert.Equal(t, "/mcp", pu.Path, "%s: the merged endpoint", what)
}

func TestDeployClientConfigs(t *testing.T) {
	t.Run("claude_desktop", func(t *testing.T) {
		var c struct {
			MCPServers map[string]struct {
				Command string   `json:"command"`
				Args    []string `json:"args"`
			} `json:"mcpServers"`
		}
		decodeJSONFile(t, filepath.Join(clientsDir, "claude_desktop_config.json"), &c)
		require.Len(t, c.MCPServers, 1)
		gw, ok := c.MCPServers["gateway"]
		require.True(t, ok)
		assert.Equal(t, "mcp-gateway", path.Base(gw.Command))
		s := parseServeLine(t, "claude_desktop_config.json", gw.Args)
		assert.True(t, s.stdio, "Claude Desktop talks stdio")
		assert.Empty(t, s.addr, "no HTTP listener from a desktop client")
		assert.True(t, path.IsAbs(s.configPath), "--config is an absolute path (the client's working directory is unknown)")
	})

	t.Run("cursor", func(t *testing.T) {
		var c struct {
			MCPServers map[string]struct {
				URL     string            `json:"url"`
				Command string            `json:"command"`
				Headers map[string]string `json:"headers"`
			} `json:"mcpServers"`
		}
		decodeJSONFile(t, filepath.Join(clientsDir, "cursor-mcp.json"), &c)
		gw, ok := c.MCPServers["gateway"]
		require.True(t, ok)
		assert.Empty(t, gw.Command)
		checkGatewayURL(t, "cursor-mcp.json", gw.URL)
		require.Len(t, gw.Headers, 1)
		assert.Regexp(t, `^\$\{env:[A-Z_]+\}$`, gw.Headers[apiKeyHeader], "the key comes from the environment")
	})

	t.Run("vscode", func(t *testing.T) {
		var c struct {
			Inputs []struct {
				Type     string `json:"type"`
				ID       string `json:"id"`
				Password bool   `json:"password"`
			} `json:"inputs"`
			Servers map[string]struct {
				Type    string            `json:"type"`
				URL     string            `json:"url"`
				Headers map[string]string `json:"headers"`
			} `json:"servers"`
		}
		decodeJSONFile(t, filepath.Join(clientsDir, "vscode-mcp.json"), &c)
		gw, ok := c.Servers["gateway"]
		require.True(t, ok)
		assert.Equal(t, "http", gw.Type)
		checkGatewayURL(t, "vscode-mcp.json", gw.URL)
		require.Len(t, gw.Headers, 1)
		m := regexp.MustCompile(`^\$\{input:([\w-]+)\}$`).FindStringSubmatch(gw.Headers[apiKeyHeader])
		require.NotNil(t, m, "the key comes from an input")
		i := slices.IndexFunc(c.Inputs, func(in struct {
			Type     string `json:"type"`
			ID       string `json:"id"`
			Password bool   `json:"password"`
		}) bool {
			return in.ID == m[1]
		})
		require.GreaterOrEqual(t, i, 0, "input %s is declared", m[1])
		assert.Equal(t, "promptString", c.Inputs[i].Type)
		assert.True(t, c.Inputs[i].Password, "the key input is a password")
	})
}
