package deploy

// The image: its Dockerfile, build context, config, and its command line run
// for real.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
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
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// exampleAPIKey is the documented example key (README.md) whose digest
// k8s/secret.yaml ships as a placeholder.
const exampleAPIKey = "mcp-gateway-example-key-CHANGE-ME"

// apiKeyHeader is the header clients send an API key in.
const apiKeyHeader = auth.HeaderAPIKey

// keyDigestEnv holds the hex SHA-256 of the API key in the deploy config.
const keyDigestEnv = "MCP_GATEWAY_API_KEY_DIGEST"

func exampleKeyDigest() string {
	sum := sha256.Sum256([]byte(exampleAPIKey))
	return hex.EncodeToString(sum[:])
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
	stages := readDockerfile(t, filepath.Join(deployDir, "Dockerfile"))
	require.GreaterOrEqual(t, len(stages), 2, "want a multi-stage build")
	final := stages[len(stages)-1]
	spec := imageSpec{copies: map[string]string{}, built: map[string]string{}}
	for _, in := range stages[0].all("RUN") {
		for _, m := range regexp.MustCompile(`go build [^&]*-o (\S+) (\./\S+)`).FindAllStringSubmatch(in.args, -1) {
			spec.built[m[1]] = m[2]
		}
	}

	var err error
	eps := final.all("ENTRYPOINT")
	require.Len(t, eps, 1, "final stage: one ENTRYPOINT")
	spec.entrypoint, err = execForm(eps[0])
	require.NoError(t, err)
	cmds := final.all("CMD")
	require.Len(t, cmds, 1, "final stage: one CMD")
	spec.cmd, err = execForm(cmds[0])
	require.NoError(t, err)

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
	spec.serve = requireServeLine(t, "Dockerfile CMD", spec.cmd)
	return spec
}

func TestDeployDockerfile(t *testing.T) {
	stages := readDockerfile(t, filepath.Join(deployDir, "Dockerfile"))
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

	// Final image: distroless static, non-root.
	assert.Equal(t, "gcr.io/distroless/static-debian12:nonroot", final.image)
	spec := readImageSpec(t)
	assert.NotZero(t, spec.uid, "USER must not be root")
	assert.Equal(t, []string{"/mcp-gateway"}, spec.entrypoint)
	assert.Equal(t, "./cmd/mcp-gateway", spec.built[spec.copies["/mcp-gateway"]], "the entrypoint is the gateway built in the first stage")
	assert.Equal(t, "serve", spec.cmd[0])

	// CMD: serve HTTP on all interfaces at the EXPOSEd port, JSON logs, the
	// config the image carries, and auth from the config rather than
	// --allow-unauthenticated. TestDeployImageCommandServes runs it.
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

// TestDeployVersionStamp: the variables the Dockerfile's -X flags set are the
// ones `mcp-gateway version` prints.
func TestDeployVersionStamp(t *testing.T) {
	needBinaries(t)
	out, err := exec.Command(gatewayBin(t), "version").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "mcp-gateway "+stampVersion+"\n", "-X main.version")
	assert.Contains(t, string(out), "commit: "+stampCommit+"\n", "-X main.commit")
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
	patterns, err := parseDockerignore(data)
	require.NoError(t, err)
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

// parseDeployConfig parses config.json as the gateway does, with the key
// digest set in the environment.
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

// TestDeployImageCommandServes runs the image's CMD with the real gateway
// binary: the image's config with its upstreams built for this machine, a
// loopback port, and what the probes, the client configs and Prometheus do.
func TestDeployImageCommandServes(t *testing.T) {
	needBinaries(t)
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
		servers[u.Name].(map[string]any)["command"] = goBuild(t, path.Base(u.Command), pkg)
	}
	cfgPath := filepath.Join(tmp, "config.json")
	data, err = json.Marshal(doc)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(cfgPath, data, 0o600))

	// The image's CMD with a loopback port of this machine and the config above.
	args := withServeArgs(spec.cmd, "127.0.0.1:0", cfgPath)
	g := startGateway(t, args, []string{
		keyDigestEnv + "=" + exampleKeyDigest(),
		"MCP_GATEWAY_NOTES_FILE=" + filepath.Join(tmp, "notes.json"),
	}, true)

	// The probes of k8s/deployment.yaml.
	health := g.waitStatus(t, "/health", http.StatusOK, 15*time.Second)
	assert.JSONEq(t, `{"status":"ok","version":"`+stampVersion+`"}`, string(health))
	g.waitStatus(t, "/readyz", http.StatusOK, 30*time.Second)

	// What the HTTP client configs do: initialize at /mcp with the key.
	resp := postInitialize(t, g.url, map[string]string{apiKeyHeader: exampleAPIKey})
	if assert.Equal(t, http.StatusOK, resp.StatusCode, "initialize with the example key: %s\nlog:\n%s", resp.Body, g.stderr) {
		assert.NotEmpty(t, resp.Header.Get("Mcp-Session-Id"))
	}
	// Once the gateway enforces the config's keys anywhere (GET /upstreams
	// requires auth), /mcp must refuse a client without one.
	if code, _ := httpGet(t, g.url+"/upstreams"); code == http.StatusUnauthorized {
		resp = postInitialize(t, g.url, nil)
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "initialize without a key: %s", resp.Body)
	} else {
		t.Logf("NOTE: GET /upstreams without a key: status %d; gateway.auth is not enforced yet", code)
	}

	// Prometheus' scrape target.
	fams := scrapeMetrics(t, g.url)
	assert.Contains(t, fams, "go_goroutines")
	for _, u := range cfg.Enabled() {
		v, ok := metricValue(fams, "mcp_gateway_upstream_up", map[string]string{"upstream": u.Name})
		assert.True(t, ok, "no mcp_gateway_upstream_up for %s", u.Name)
		if u.Required { // /readyz said so
			assert.Equal(t, 1.0, v, "required upstream %s is up", u.Name)
		}
	}

	// SIGTERM, as docker stop and Kubernetes send: exit status 0.
	assert.NoError(t, g.stop(), "log:\n%s", g.stderr)
	// --log-format json: every line the gateway logged is a JSON object.
	for _, line := range strings.Split(strings.TrimSpace(g.stderr.String()), "\n") {
		var v map[string]any
		assert.NoError(t, json.Unmarshal([]byte(line), &v), "log line %q is not JSON", line)
	}
}

// waitStatus polls GET path until it answers want, and returns the body. The
// gateway is another process that says nothing when its upstreams are ready;
// the poll ends early if it exits.
func (g *gatewayProcess) waitStatus(t *testing.T, p string, want int, within time.Duration) []byte {
	t.Helper()
	deadline := time.After(within)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		resp, err := httpClient.Get(g.url + p)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == want {
				return body
			}
			err = fmt.Errorf("status %d: %s", resp.StatusCode, body)
		}
		last = err
		select {
		case err := <-g.done:
			g.done <- err
			t.Fatalf("gateway exited (%v); log:\n%s", err, g.stderr)
		case <-deadline:
			t.Fatalf("GET %s: %v; log:\n%s", p, last, g.stderr)
		case <-tick.C:
		}
	}
}
