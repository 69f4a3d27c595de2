package govern

import (
	"math"
	"slices"
	"unicode"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// BM25 parameters: the usual ones.
const (
	bm25K1 = 1.2
	bm25B  = 0.75
)

// Field weights: a term in a tool's name counts three times, in its title
// or an argument name twice, in its description once.
const (
	weightName = 3
	weightArg  = 2
	weightText = 1
)

// SearchTools ranks tools for query by BM25 over their names, titles,
// descriptions and argument names, best first, at most limit (all if
// limit <= 0); tools that match no term are left out, and ties keep the
// input order. It is our own, about a hundred lines, rather than a search
// library: catalogs are a few thousand short documents held in memory, so
// an index library's storage, analyzers and dependencies buy nothing here.
func SearchTools(tools []*mcp.Tool, query string, limit int) []*mcp.Tool {
	terms := tokens(query)
	if len(terms) == 0 || len(tools) == 0 {
		return nil
	}
	docs := make([]map[string]float64, len(tools))
	lens := make([]float64, len(tools))
	df := map[string]int{}
	total := 0.0
	for i, t := range tools {
		tf := map[string]float64{}
		add := func(s string, w float64) {
			for _, tok := range tokens(s) {
				tf[tok] += w
				lens[i] += w
			}
		}
		add(t.Name, weightName)
		add(t.Title, weightArg)
		add(t.Description, weightText)
		for _, a := range argNames(t.InputSchema) {
			add(a, weightArg)
		}
		for tok := range tf {
			df[tok]++
		}
		docs[i] = tf
		total += lens[i]
	}
	avg := total / float64(len(tools))
	if avg == 0 {
		avg = 1
	}
	type hit struct {
		i     int
		score float64
	}
	var hits []hit
	n := float64(len(tools))
	for i, tf := range docs {
		score := 0.0
		for _, q := range terms {
			f := tf[q]
			if f == 0 {
				continue
			}
			idf := math.Log(1 + (n-float64(df[q])+0.5)/(float64(df[q])+0.5))
			score += idf * f * (bm25K1 + 1) / (f + bm25K1*(1-bm25B+bm25B*lens[i]/avg))
		}
		if score > 0 {
			hits = append(hits, hit{i, score})
		}
	}
	slices.SortStableFunc(hits, func(a, b hit) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		}
		return 0
	})
	if limit > 0 && len(hits) > limit {
		hits = hits[:limit]
	}
	out := make([]*mcp.Tool, len(hits))
	for i, h := range hits {
		out[i] = tools[h.i]
	}
	return out
}

// tokens lower-cases s and splits it into words at anything but letters
// and digits, and at camelCase humps ("listIssues" → "list", "issues").
func tokens(s string) []string {
	var out []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			out = append(out, string(cur))
			cur = cur[:0]
		}
	}
	prevLower := false
	for _, r := range s {
		switch {
		case unicode.IsUpper(r):
			if prevLower {
				flush()
			}
			cur = append(cur, unicode.ToLower(r))
			prevLower = false
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			cur = append(cur, r)
			prevLower = true
		default:
			flush()
			prevLower = false
		}
	}
	flush()
	return out
}

// argNames returns the property names of an input schema.
func argNames(schema any) []string {
	var props map[string]any
	switch s := schema.(type) {
	case map[string]any:
		props, _ = s["properties"].(map[string]any)
	}
	names := make([]string, 0, len(props))
	for k := range props {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// EstimateTokens is the documented estimate of how many model tokens a JSON
// text costs: one per four bytes, the usual rule of thumb for English and
// JSON under BPE tokenizers.
func EstimateTokens(jsonBytes int) int { return (jsonBytes + 3) / 4 }
