package deploy

// docker compose, Prometheus and Grafana: the services agree with the image,
// and the dashboard's queries name metrics and labels the gateway exposes.

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
		requireServeLine(t, "compose gateway command", gw.Command)
		checkFlagsByBinary(t, "compose gateway command", gw.Command)
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

func TestCheckLabelValues(t *testing.T) {
	for _, tc := range []struct {
		query string
		bad   string // substring of the error; "" when valid
	}{
		{`label_values(mcp_gateway_upstream_up{job=~"$job"}, upstream)`, ""},
		{`label_values(up, job)`, ""},
		{`  label_values(mcp_gateway_requests_total, outcome)  `, ""},
		{`label_values(mcp_gateway_upstream_up, tool)`, "label tool"},
		{`label_values(mcp_gateway_upstreams_up, upstream)`, "not a metric"},
		{`label_values(upstream)`, "want label_values(selector, label)"},
		{`label_values(up, job`, "want label_values(selector, label)"},
		{`query_result(up)`, "want label_values(selector, label)"},
	} {
		err := checkLabelValues(deployDocumentedMetrics, tc.query)
		if tc.bad == "" {
			assert.NoError(t, err, tc.query)
		} else if assert.Error(t, err, tc.query) {
			assert.Contains(t, err.Error(), tc.bad, tc.query)
		}
	}
}
