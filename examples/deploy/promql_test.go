package deploy

// A PromQL reader, just enough to list the metrics, labels and label
// matchers a query names, and to check them against the metrics the gateway
// exposes. It does not evaluate or fully validate PromQL.

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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

// lexPromQL splits a query into tokens. A string token's value is unquoted;
// a range token's is what is between the brackets; a var token keeps its $.
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

// parsePromQL lists the metrics, labels and matchers of expr. exposed are
// the gateway's metrics, which check and lookupMetric use.
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

func TestLexPromQL(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []promToken
		err  string
	}{
		{in: "", want: nil},
		{in: "up", want: []promToken{{"ident", "up"}}},
		{
			in: `rate(x_total{a="b\"c", d=~'e|f'}[$__rate_interval])`,
			want: []promToken{{"ident", "rate"}, {"op", "("}, {"ident", "x_total"}, {"op", "{"}, {"ident", "a"}, {"op", "="}, {"string", `b"c`},
				{"op", ","}, {"ident", "d"}, {"op", "=~"}, {"string", "e|f"}, {"op", "}"}, {"range", "$__rate_interval"}, {"op", ")"}},
		},
		{in: "a != 1e-3 >= .5", want: []promToken{{"ident", "a"}, {"op", "!="}, {"number", "1e-3"}, {"op", ">="}, {"number", ".5"}}},
		{in: "x{job=~`a\\b`}", want: []promToken{{"ident", "x"}, {"op", "{"}, {"ident", "job"}, {"op", "=~"}, {"string", `a\b`}, {"op", "}"}}},
		{in: "$job ${upstream} $", want: []promToken{{"var", "$job"}, {"var", "${upstream}"}, {"var", "$"}}},
		{in: "a:b:c_1 * 2", want: []promToken{{"ident", "a:b:c_1"}, {"op", "*"}, {"number", "2"}}},
		{in: `x{a="b`, err: "unterminated string"},
		{in: `rate(x[5m)`, err: "unterminated range"},
		{in: `rate(x[1m]) * ${b`, err: "unterminated variable"},
		{in: `x # comment`, err: `unexpected "#"`},
		{in: `x @ 100`, err: `unexpected "@"`},
	} {
		got, err := lexPromQL(tc.in)
		if tc.err != "" {
			if assert.Error(t, err, tc.in) {
				assert.Contains(t, err.Error(), tc.err, tc.in)
			}
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
}

func TestParsePromQL(t *testing.T) {
	for _, tc := range []struct {
		in       string
		metrics  []string
		labels   []string
		matchers []promMatcher
		err      string
	}{
		{in: "up", metrics: []string{"up"}},
		{
			in:       `sum by (method, outcome) (rate(mcp_gateway_requests_total{job=~"$job", upstream!="x"}[5m]))`,
			metrics:  []string{"mcp_gateway_requests_total"},
			labels:   []string{"method", "outcome", "job", "upstream"},
			matchers: []promMatcher{{"job", "=~", "$job"}, {"upstream", "!=", "x"}},
		},
		{
			in:      `sum(rate(a_total[1m])) without (instance) / on (job) group_left (version) go_info`,
			metrics: []string{"a_total", "go_info"},
			labels:  []string{"instance", "job", "version"},
		},
		{in: `rate(x[1m]) * 1e-3 offset 5m and bool y`, metrics: []string{"x", "y"}},
		{in: `histogram_quantile(0.9, sum by (le) (rate(h_bucket[5m])))`, metrics: []string{"h_bucket"}, labels: []string{"le"}},
		{in: `sum by (x)`, err: "no metric"},
		{in: `1 + 2`, err: "no metric"},
		{in: `rates(x[5m])`, err: "unknown function rates"},
		{in: `x{a}`, err: "malformed matcher for a"},
		{in: `x{a=b}`, err: "malformed matcher for a"},
		{in: `x{a=="b"}`, err: "malformed matcher for a"},
		{in: `x{a="b`, err: "unterminated string"},
	} {
		q, err := parsePromQL(nil, tc.in)
		if tc.err != "" {
			if assert.Error(t, err, tc.in) {
				assert.Contains(t, err.Error(), tc.err, tc.in)
			}
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.metrics, q.metrics, tc.in)
		assert.Equal(t, tc.labels, q.labels, tc.in)
		assert.Equal(t, tc.matchers, q.matchers, tc.in)
	}
}

func TestPromQLCheck(t *testing.T) {
	for _, tc := range []struct {
		expr string
		bad  string // substring of the error; "" when valid
	}{
		{`sum by (method, outcome) (rate(mcp_gateway_requests_total{job=~"$job", upstream=~"$upstream"}[$__rate_interval]))`, ""},
		{`histogram_quantile(0.99, sum by (upstream, le) (rate(mcp_gateway_tool_call_duration_seconds_bucket[5m])))`, ""},
		{`sum(rate(mcp_gateway_requests_total{outcome=~"error|timeout"}[1m])) / sum(rate(mcp_gateway_requests_total[1m]))`, ""},
		{`rate(process_cpu_seconds_total[1m]) * 1e-3 offset 5m`, ""},
		{`mcp_gateway_requests_total{outcome=~"err.*"}`, ""}, // a real regexp is not enumerated
		{`rate(mcp_gateway_request_total[5m])`, "not a metric"},
		{`sum by (upstreams) (mcp_gateway_upstream_up)`, "label upstreams"},
		{`mcp_gateway_upstream_up{le="1"}`, "label le"},
		{`mcp_gateway_request_duration_seconds_sum{le="1"}`, "label le"}, // le is a label of _bucket only
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
}

func TestPromQLCheckLegend(t *testing.T) {
	q, err := parsePromQL(deployDocumentedMetrics, `sum by (upstream) (mcp_gateway_upstream_up)`)
	require.NoError(t, err)
	assert.NoError(t, q.checkLegend("{{upstream}} {{instance}}"))
	assert.NoError(t, q.checkLegend("{{ job }}"))
	assert.NoError(t, q.checkLegend("no labels"))
	assert.Error(t, q.checkLegend("{{tool}}"))

	h, err := parsePromQL(deployDocumentedMetrics, `mcp_gateway_request_duration_seconds_bucket`)
	require.NoError(t, err)
	assert.NoError(t, h.checkLegend("{{le}} {{method}}"))
}

func TestPromQLLookupMetric(t *testing.T) {
	q := &promQuery{known: deployDocumentedMetrics}
	for _, tc := range []struct {
		name, family string
		bucket, ok   bool
	}{
		{"mcp_gateway_requests_total", "mcp_gateway_requests_total", false, true},
		{"mcp_gateway_request_duration_seconds_bucket", "mcp_gateway_request_duration_seconds", true, true},
		{"mcp_gateway_request_duration_seconds_count", "mcp_gateway_request_duration_seconds", false, true},
		{"mcp_gateway_requests_total_count", "", false, false}, // not a histogram
		{"go_goroutines", "go_goroutines", false, true},
		{"up", "up", false, true},
		{"nope", "", false, false},
	} {
		m, bucket, ok := q.lookupMetric(tc.name)
		assert.Equal(t, tc.family, m.name, tc.name)
		assert.Equal(t, tc.bucket, bucket, tc.name)
		assert.Equal(t, tc.ok, ok, tc.name)
	}
}

// FuzzPromQL checks that the PromQL reader never panics, that a query it
// accepts names at least one metric, and that checking it never panics.
func FuzzPromQL(f *testing.F) {
	var d grafanaDashboard
	data, err := os.ReadFile(filepath.Join("grafana", "dashboards", "mcp-gateway.json"))
	require.NoError(f, err)
	require.NoError(f, json.Unmarshal(data, &d))
	var add func(ps []grafanaPanel)
	add = func(ps []grafanaPanel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				f.Add(tg.Expr, tg.LegendFormat)
			}
			add(p.Panels)
		}
	}
	add(d.Panels)
	f.Add(`x{a="b\`, "{{a}}")
	f.Add(`sum by (`, "")
	f.Fuzz(func(t *testing.T, expr, legend string) {
		q, err := parsePromQL(deployDocumentedMetrics, expr)
		if err != nil {
			assert.Nil(t, q)
			return
		}
		assert.NotEmpty(t, q.metrics)
		for _, m := range q.matchers {
			assert.Contains(t, q.labels, m.label, "a matcher's label is one of the query's labels")
		}
		_ = q.check()
		_ = q.checkLegend(legend)
		_ = checkLabelValues(deployDocumentedMetrics, "label_values("+expr+", "+legend+")")
	})
}
