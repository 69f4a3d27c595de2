// Command toolbox is an MCP server with small, stateless developer utilities.
//
// Tools (all annotated read-only and idempotent: they change nothing, though
// uuid and time_now answer differently each time):
//
//	hash(text, algorithm)     hex digest: sha256 (default), sha1 or md5
//	base64(text, decode)      encode text as standard base64, or decode it
//	format_json(json, indent) pretty-print JSON with indent spaces, or compact it with indent 0
//	uuid()                    a random (version 4) UUID
//	time_now(timezone?)       the current time in an IANA zone, such as Europe/Paris (default: the server's zone)
//	count_words(text)         words, lines and characters
//
// Bad input (invalid JSON or base64, an unknown time zone) gives a tool
// result with isError set and a message saying what is wrong.
//
// Resource: toolbox://timezones (common IANA zones with their current UTC
// offsets). Prompt: code_review(language, code).
//
// It serves MCP over stdio by default, or streamable HTTP at /mcp with
// --http ADDR, or legacy SSE at /sse with --sse ADDR. Logs go to stderr.
//
//	go run ./examples/upstreams/toolbox --http 127.0.0.1:8081
package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // time_now works on hosts without a zoneinfo database
	"unicode/utf8"

	"github.com/mcp-gateway/mcp-gateway/examples/upstreams/serve"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "toolbox:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("toolbox", flag.ContinueOnError)
	var tf serve.Flags
	tf.Register(fs)
	verbose := fs.Bool("v", false, "log SDK activity to stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	sdkLogger := slog.New(slog.DiscardHandler)
	if *verbose {
		sdkLogger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return serve.Run(ctx, newServer(sdkLogger), tf, os.Stderr)
}

// newServer builds the toolbox MCP server.
func newServer(sdkLogger *slog.Logger) *mcp.Server {
	srv := mcp.NewServer(&mcp.Implementation{Name: "toolbox", Title: "Toolbox", Version: "0.1.0"}, &mcp.ServerOptions{
		Instructions:              "Deterministic helpers: hashing, base64, JSON formatting, UUIDs, time zones, word counts.",
		Logger:                    sdkLogger,
		Capabilities:              &mcp.ServerCapabilities{}, // tools, resources and prompts are inferred; no logging
		SupportedProtocolVersions: serve.ProtocolVersions(),
	})
	// idempotentHint is about effects on the environment, so it holds for all.
	pure := &mcp.ToolAnnotations{ReadOnlyHint: true, IdempotentHint: true, OpenWorldHint: new(false)}
	mcp.AddTool(srv, &mcp.Tool{
		Name:        "hash",
		Title:       "Hash text",
		Description: "Hex digest of the UTF-8 text with sha256 (default), sha1 or md5.",
		InputSchema: hashSchema,
		Annotations: pure,
	}, hashTool)
	mcp.AddTool(srv, &mcp.Tool{
		Name:        "base64",
		Title:       "Base64 encode/decode",
		Description: "Encode text as standard base64, or decode base64 (standard or URL alphabet, padding optional) when decode is true.",
		Annotations: pure,
	}, base64Tool)
	mcp.AddTool(srv, &mcp.Tool{
		Name:        "format_json",
		Title:       "Format JSON",
		Description: "Pretty-print a JSON document with indent spaces (default 2), or compact it with indent 0. Key order is kept.",
		Annotations: pure,
	}, formatJSON)
	mcp.AddTool(srv, &mcp.Tool{
		Name:        "uuid",
		Title:       "New UUID",
		Description: "Generate a random version 4 UUID.",
		Annotations: pure,
	}, uuidTool)
	mcp.AddTool(srv, &mcp.Tool{
		Name:        "time_now",
		Title:       "Current time",
		Description: "The current date and time in an IANA time zone such as Europe/Paris or America/New_York (default: the server's zone).",
		Annotations: pure,
	}, timeNow)
	mcp.AddTool(srv, &mcp.Tool{
		Name:        "count_words",
		Title:       "Count words",
		Description: "Count the words (runs of non-space characters), lines and characters (Unicode code points) of a text.",
		Annotations: pure,
	}, countWords)

	srv.AddPrompt(&mcp.Prompt{
		Name:        "code_review",
		Title:       "Code review",
		Description: "Ask the model for a careful review of a piece of code.",
		Arguments: []*mcp.PromptArgument{
			{Name: "language", Description: "the programming language, e.g. Go", Required: true},
			{Name: "code", Description: "the code to review", Required: true},
		},
	}, codeReview)
	srv.AddResource(&mcp.Resource{
		URI:         "toolbox://timezones",
		Name:        "timezones",
		Title:       "Common time zones",
		Description: "Common IANA time zone names for time_now, with their current UTC offsets.",
		MIMEType:    "text/plain",
	}, readTimezones)
	return srv
}

// hashSchema is written out by hand for the enum and default, which struct
// tags cannot express. The SDK applies the default before hashTool runs.
var hashSchema = json.RawMessage(`{
	"type": "object",
	"properties": {
		"text": {"type": "string", "description": "the text to hash (as UTF-8)"},
		"algorithm": {"type": "string", "enum": ["sha256", "sha1", "md5"], "default": "sha256", "description": "hash function"}
	},
	"required": ["text"],
	"additionalProperties": false
}`)

type hashIn struct {
	Text      string `json:"text"`
	Algorithm string `json:"algorithm"`
}

type hashOut struct {
	Algorithm string `json:"algorithm" jsonschema:"the hash function used"`
	Hex       string `json:"hex" jsonschema:"the digest in lowercase hex"`
}

func hashTool(_ context.Context, _ *mcp.CallToolRequest, in hashIn) (*mcp.CallToolResult, hashOut, error) {
	var h hash.Hash
	switch in.Algorithm {
	case "sha256", "":
		in.Algorithm, h = "sha256", sha256.New()
	case "sha1":
		h = sha1.New()
	case "md5":
		h = md5.New()
	default:
		return nil, hashOut{}, fmt.Errorf("unknown algorithm %q: use sha256, sha1 or md5", in.Algorithm)
	}
	h.Write([]byte(in.Text))
	sum := hex.EncodeToString(h.Sum(nil))
	return textResult(sum), hashOut{Algorithm: in.Algorithm, Hex: sum}, nil
}

type base64In struct {
	Text   string `json:"text" jsonschema:"the text to encode, or the base64 to decode"`
	Decode bool   `json:"decode,omitempty" jsonschema:"decode instead of encode (default false)"`
}

type resultOut struct {
	Result string `json:"result" jsonschema:"the result"`
}

func base64Tool(_ context.Context, _ *mcp.CallToolRequest, in base64In) (*mcp.CallToolResult, resultOut, error) {
	if !in.Decode {
		s := base64.StdEncoding.EncodeToString([]byte(in.Text))
		return textResult(s), resultOut{s}, nil
	}
	s := strings.Join(strings.Fields(in.Text), "") // tolerate line-wrapped input
	enc := base64.StdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.URLEncoding
	}
	data, err := enc.WithPadding(base64.NoPadding).DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, resultOut{}, fmt.Errorf("invalid base64: %v", err)
	}
	if !utf8.Valid(data) {
		return nil, resultOut{}, fmt.Errorf("decoded %d bytes that are not UTF-8 text; hex: %s", len(data), hex.EncodeToString(data))
	}
	return textResult(string(data)), resultOut{string(data)}, nil
}

type formatJSONIn struct {
	JSON   string `json:"json" jsonschema:"the JSON document"`
	Indent *int   `json:"indent,omitempty" jsonschema:"spaces per level, 0 to 8; 0 compacts (default 2)"`
}

type formatJSONOut struct {
	Formatted string `json:"formatted" jsonschema:"the formatted JSON"`
}

func formatJSON(_ context.Context, _ *mcp.CallToolRequest, in formatJSONIn) (*mcp.CallToolResult, formatJSONOut, error) {
	indent := 2
	if in.Indent != nil {
		indent = *in.Indent
	}
	if indent < 0 || indent > 8 {
		return nil, formatJSONOut{}, fmt.Errorf("indent must be between 0 and 8, got %d", indent)
	}
	src := []byte(in.JSON)
	if err := validJSON(src); err != nil {
		return nil, formatJSONOut{}, err
	}
	var buf bytes.Buffer
	var err error
	if indent == 0 {
		err = json.Compact(&buf, src)
	} else {
		err = json.Indent(&buf, src, "", strings.Repeat(" ", indent))
	}
	if err != nil {
		return nil, formatJSONOut{}, fmt.Errorf("invalid JSON: %v", err)
	}
	return textResult(buf.String()), formatJSONOut{buf.String()}, nil
}

// validJSON reports where a document stops being JSON, as line and column.
func validJSON(src []byte) error {
	var v any
	err := json.Unmarshal(src, &v)
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		// Offset counts the bytes read, including the offending one.
		line, col := 1, 1
		for _, c := range string(src[:max(min(int(syn.Offset), len(src))-1, 0)]) {
			if c == '\n' {
				line, col = line+1, 1
			} else {
				col++
			}
		}
		return fmt.Errorf("invalid JSON at line %d, column %d: %v", line, col, syn)
	}
	if err != nil {
		return fmt.Errorf("invalid JSON: %v", err)
	}
	return nil
}

type uuidOut struct {
	UUID string `json:"uuid" jsonschema:"a random version 4 UUID"`
}

func uuidTool(_ context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, uuidOut, error) {
	var u [16]byte
	rand.Read(u[:])         // never fails (crypto/rand)
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	s := fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
	return textResult(s), uuidOut{s}, nil
}

type timeNowIn struct {
	Timezone string `json:"timezone,omitempty" jsonschema:"IANA time zone name, e.g. Europe/Paris or UTC (default: the server's zone)"`
}

type timeNowOut struct {
	Time      string `json:"time" jsonschema:"the current time, RFC 3339"`
	Timezone  string `json:"timezone" jsonschema:"the zone used"`
	Abbrev    string `json:"abbreviation" jsonschema:"the zone's abbreviation now, e.g. CEST"`
	UTCOffset string `json:"utc_offset" jsonschema:"offset from UTC, e.g. +02:00"`
	Weekday   string `json:"weekday" jsonschema:"day of the week"`
	Unix      int64  `json:"unix" jsonschema:"seconds since 1970-01-01 UTC"`
}

func timeNow(_ context.Context, _ *mcp.CallToolRequest, in timeNowIn) (*mcp.CallToolResult, timeNowOut, error) {
	loc := time.Local
	if tz := strings.TrimSpace(in.Timezone); tz != "" {
		var err error
		if loc, err = time.LoadLocation(tz); err != nil || tz == "Local" {
			return nil, timeNowOut{}, fmt.Errorf("unknown time zone %q: use an IANA name such as Europe/Paris, America/New_York or UTC (see toolbox://timezones)", tz)
		}
	}
	now := time.Now().In(loc)
	abbrev, _ := now.Zone()
	return nil, timeNowOut{
		Time:      now.Format(time.RFC3339),
		Timezone:  zoneName(loc),
		Abbrev:    abbrev,
		UTCOffset: now.Format("-07:00"),
		Weekday:   now.Weekday().String(),
		Unix:      now.Unix(),
	}, nil
}

// zoneName is loc's IANA name; for the server's zone, which Go calls
// "Local", it is looked up in $TZ or the /etc/localtime symlink.
func zoneName(loc *time.Location) string {
	if loc != time.Local {
		return loc.String()
	}
	if tz := strings.TrimPrefix(os.Getenv("TZ"), ":"); tz != "" {
		return tz
	}
	if target, err := filepath.EvalSymlinks("/etc/localtime"); err == nil {
		if _, name, ok := strings.Cut(target, "zoneinfo/"); ok {
			return name
		}
	}
	return "Local"
}

type countWordsIn struct {
	Text string `json:"text" jsonschema:"the text to count"`
}

type countWordsOut struct {
	Words      int `json:"words" jsonschema:"runs of non-space characters"`
	Lines      int `json:"lines" jsonschema:"lines; a final line break does not start a new line"`
	Characters int `json:"characters" jsonschema:"Unicode code points"`
}

func countWords(_ context.Context, _ *mcp.CallToolRequest, in countWordsIn) (*mcp.CallToolResult, countWordsOut, error) {
	lines := strings.Count(in.Text, "\n")
	if in.Text != "" && !strings.HasSuffix(in.Text, "\n") {
		lines++
	}
	return nil, countWordsOut{
		Words:      len(strings.Fields(in.Text)),
		Lines:      lines,
		Characters: utf8.RuneCountInString(in.Text),
	}, nil
}

func codeReview(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
	lang, code := strings.TrimSpace(req.Params.Arguments["language"]), req.Params.Arguments["code"]
	if lang == "" || strings.TrimSpace(code) == "" {
		return nil, errors.New(`code_review needs both "language" and "code"`)
	}
	text := fmt.Sprintf("Please review this %s code. Look for bugs first, then unclear naming, "+
		"missing error handling, security problems and needless complexity. For each finding, quote "+
		"the line, explain the problem and suggest a fix. Finish with the three changes you would make first.\n\n"+
		"```%s\n%s\n```\n", lang, strings.ToLower(lang), strings.TrimRight(code, "\n"))
	return &mcp.GetPromptResult{
		Description: "Code review of " + lang + " code",
		Messages:    []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: text}}},
	}, nil
}

// commonZones is the list served by toolbox://timezones.
var commonZones = []string{
	"UTC",
	"America/Los_Angeles", "America/Denver", "America/Chicago", "America/New_York", "America/Sao_Paulo",
	"Europe/London", "Europe/Paris", "Europe/Berlin", "Europe/Madrid", "Europe/Moscow",
	"Africa/Cairo", "Africa/Johannesburg", "Africa/Lagos",
	"Asia/Dubai", "Asia/Kolkata", "Asia/Shanghai", "Asia/Singapore", "Asia/Tokyo", "Asia/Seoul",
	"Australia/Sydney", "Pacific/Auckland",
}

func readTimezones(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
	var b strings.Builder
	now := time.Now()
	for _, name := range commonZones {
		loc, err := time.LoadLocation(name)
		if err != nil {
			continue
		}
		t := now.In(loc)
		abbrev, _ := t.Zone()
		fmt.Fprintf(&b, "%-22s UTC%s  %s\n", name, t.Format("-07:00"), abbrev)
	}
	return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, MIMEType: "text/plain", Text: b.String()}}}, nil
}

// textResult is a result whose content is s itself, rather than the SDK's
// default of the structured output serialized as JSON.
func textResult(s string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
}
