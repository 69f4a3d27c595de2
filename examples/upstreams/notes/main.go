// Command notes is an MCP server that keeps a personal notebook: short notes
// with a title, a body and tags, stored in one JSON file.
//
// Tools:
//
//	add_note(title, body, tags[])  store a note; returns it with its ID
//	list_notes(tag?)               all notes (or those with a tag), with a preview of each body
//	search_notes(query)            notes whose title or body contains query (case-insensitive)
//	get_note(id)                   one note in full
//	delete_note(id)                delete a note (destructive)
//
// Resources: notes://index (a markdown list of all notes) and the template
// notes://note/{id} (one note as markdown); both can be subscribed to and are
// reported updated when notes change. Prompt: summarize_notes(tag?).
// Completions: the tag argument of summarize_notes and the id of notes://note/{id}.
//
// Notes live in the file given by --file, by default
// $XDG_DATA_HOME/mcp-gateway-notes.json (or ~/.local/share/mcp-gateway-notes.json).
// Writes are atomic (temporary file + rename).
//
// It serves MCP over stdio by default, or streamable HTTP at /mcp with
// --http ADDR, or legacy SSE at /sse with --sse ADDR. Logs go to stderr.
//
//	go run ./examples/upstreams/notes --file /tmp/notes.json
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

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
		fmt.Fprintln(os.Stderr, "notes:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("notes", flag.ContinueOnError)
	var tf serve.Flags
	tf.Register(fs)
	file := fs.String("file", "", "notes `FILE` (default $XDG_DATA_HOME/mcp-gateway-notes.json or ~/.local/share/mcp-gateway-notes.json)")
	verbose := fs.Bool("v", false, "log SDK activity to stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if *file == "" {
		p, err := defaultPath()
		if err != nil {
			return err
		}
		*file = p
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	sdkLogger := slog.New(slog.DiscardHandler)
	if *verbose {
		sdkLogger = logger
	}
	st := newStore(*file)
	if _, err := st.list(""); err != nil { // fail fast on an unreadable file
		return err
	}
	logger.Info("notes server starting", "file", *file)
	return serve.Run(ctx, newServer(st, logger, sdkLogger), tf, os.Stderr)
}

// newServer builds the notes MCP server over st. sdkLogger receives the SDK's own logs.
func newServer(st *store, logger, sdkLogger *slog.Logger) *mcp.Server {
	n := &notes{st: st, logger: logger}
	n.srv = mcp.NewServer(&mcp.Implementation{Name: "notes", Title: "Notes", Version: "0.1.0"}, &mcp.ServerOptions{
		Instructions: "A personal notebook. Search or list notes before adding a duplicate; " +
			"tags group related notes.",
		Logger:                    sdkLogger,
		Capabilities:              &mcp.ServerCapabilities{}, // tools, resources and prompts are inferred; no logging
		SupportedProtocolVersions: serve.ProtocolVersions(),
		CompletionHandler:         n.complete,
		SubscribeHandler:          func(context.Context, *mcp.SubscribeRequest) error { return nil },
		UnsubscribeHandler:        func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
	})
	n.addTools()
	n.addResources()
	n.srv.AddPrompt(&mcp.Prompt{
		Name:        "summarize_notes",
		Title:       "Summarize notes",
		Description: "Ask the model to summarise all notes, or the notes with a tag.",
		Arguments: []*mcp.PromptArgument{{
			Name: "tag", Description: "only summarise notes with this tag", Required: false,
		}},
	}, n.summarizePrompt)
	return n.srv
}

// notes holds the MCP handlers.
type notes struct {
	st     *store
	srv    *mcp.Server
	logger *slog.Logger
}

type addNoteIn struct {
	Title string   `json:"title" jsonschema:"a short title"`
	Body  string   `json:"body" jsonschema:"the note's text; markdown is fine"`
	Tags  []string `json:"tags,omitempty" jsonschema:"optional tags, e.g. [\"work\", \"ideas\"]"`
}

type listNotesIn struct {
	Tag string `json:"tag,omitempty" jsonschema:"only list notes with this tag (case-insensitive)"`
}

type searchNotesIn struct {
	Query string `json:"query" jsonschema:"text to look for in titles and bodies (case-insensitive substring)"`
}

type idIn struct {
	ID string `json:"id" jsonschema:"the note's ID, as returned by add_note, list_notes or search_notes"`
}

// Summary is a note in list_notes: the body is cut to a preview.
type Summary struct {
	ID      string   `json:"id" jsonschema:"the note's identifier"`
	Title   string   `json:"title" jsonschema:"the note's title"`
	Tags    []string `json:"tags" jsonschema:"the note's tags"`
	Created string   `json:"created" jsonschema:"when the note was added, in RFC 3339 format"`
	Preview string   `json:"preview" jsonschema:"the start of the body; use get_note for the rest"`
}

type listNotesOut struct {
	Count int       `json:"count" jsonschema:"number of notes listed"`
	Notes []Summary `json:"notes" jsonschema:"the notes, oldest first"`
}

type searchNotesOut struct {
	Count int    `json:"count" jsonschema:"number of matching notes"`
	Notes []Note `json:"notes" jsonschema:"the matching notes, oldest first"`
}

type deleteNoteOut struct {
	Deleted Note `json:"deleted" jsonschema:"the note that was deleted"`
}

func (n *notes) addTools() {
	readOnly := &mcp.ToolAnnotations{ReadOnlyHint: true, IdempotentHint: true, OpenWorldHint: new(false)}
	mcp.AddTool(n.srv, &mcp.Tool{
		Name:        "add_note",
		Title:       "Add note",
		Description: "Store a new note. Returns the note with its ID.",
		Annotations: &mcp.ToolAnnotations{DestructiveHint: new(false), OpenWorldHint: new(false)},
	}, n.addNote)
	mcp.AddTool(n.srv, &mcp.Tool{
		Name:        "list_notes",
		Title:       "List notes",
		Description: "List all notes, or only those with a tag, oldest first, with a preview of each body.",
		Annotations: readOnly,
	}, n.listNotes)
	mcp.AddTool(n.srv, &mcp.Tool{
		Name:        "search_notes",
		Title:       "Search notes",
		Description: "Find notes whose title or body contains the query (case-insensitive). Returns the notes in full.",
		Annotations: readOnly,
	}, n.searchNotes)
	mcp.AddTool(n.srv, &mcp.Tool{
		Name:        "get_note",
		Title:       "Get note",
		Description: "Return one note in full.",
		Annotations: readOnly,
	}, n.getNote)
	mcp.AddTool(n.srv, &mcp.Tool{
		Name:        "delete_note",
		Title:       "Delete note",
		Description: "Delete a note permanently.",
		Annotations: &mcp.ToolAnnotations{DestructiveHint: new(true), IdempotentHint: true, OpenWorldHint: new(false)},
	}, n.deleteNote)
}

func (n *notes) addNote(ctx context.Context, _ *mcp.CallToolRequest, in addNoteIn) (*mcp.CallToolResult, Note, error) {
	if strings.TrimSpace(in.Title) == "" {
		return nil, Note{}, errors.New("title must not be empty")
	}
	note, err := n.st.add(strings.TrimSpace(in.Title), in.Body, in.Tags)
	if err != nil {
		return nil, Note{}, err
	}
	n.updated(ctx, note.ID)
	return nil, note, nil
}

func (n *notes) listNotes(_ context.Context, _ *mcp.CallToolRequest, in listNotesIn) (*mcp.CallToolResult, listNotesOut, error) {
	list, err := n.st.list(in.Tag)
	if err != nil {
		return nil, listNotesOut{}, err
	}
	out := listNotesOut{Count: len(list), Notes: []Summary{}}
	for _, note := range list {
		out.Notes = append(out.Notes, Summary{
			ID: note.ID, Title: note.Title, Tags: note.Tags, Created: note.Created, Preview: preview(note.Body, 120),
		})
	}
	return nil, out, nil
}

func (n *notes) searchNotes(_ context.Context, _ *mcp.CallToolRequest, in searchNotesIn) (*mcp.CallToolResult, searchNotesOut, error) {
	if strings.TrimSpace(in.Query) == "" {
		return nil, searchNotesOut{}, errors.New("query must not be empty")
	}
	found, err := n.st.search(in.Query)
	if err != nil {
		return nil, searchNotesOut{}, err
	}
	if found == nil {
		found = []Note{}
	}
	return nil, searchNotesOut{Count: len(found), Notes: found}, nil
}

func (n *notes) getNote(_ context.Context, _ *mcp.CallToolRequest, in idIn) (*mcp.CallToolResult, Note, error) {
	note, err := n.st.get(in.ID)
	return nil, note, err
}

func (n *notes) deleteNote(ctx context.Context, _ *mcp.CallToolRequest, in idIn) (*mcp.CallToolResult, deleteNoteOut, error) {
	note, err := n.st.remove(in.ID)
	if err != nil {
		return nil, deleteNoteOut{}, err
	}
	n.updated(ctx, note.ID)
	return nil, deleteNoteOut{Deleted: note}, nil
}

// updated tells subscribers that the index and the note with id changed.
func (n *notes) updated(ctx context.Context, id string) {
	for _, uri := range []string{indexURI, noteURIPrefix + id} {
		// The change itself is saved, so a failed notification is only logged.
		if err := n.srv.ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: uri}); err != nil {
			n.logger.Warn("resource updated notification", "uri", uri, "err", err)
		}
	}
}

const (
	indexURI      = "notes://index"
	noteURIPrefix = "notes://note/"
)

func (n *notes) addResources() {
	n.srv.AddResource(&mcp.Resource{
		URI:         indexURI,
		Name:        "index",
		Title:       "Notes index",
		Description: "A markdown list of all notes with their IDs and tags.",
		MIMEType:    "text/markdown",
	}, n.readIndex)
	n.srv.AddResourceTemplate(&mcp.ResourceTemplate{
		URITemplate: noteURIPrefix + "{id}",
		Name:        "note",
		Title:       "Note",
		Description: "One note as markdown.",
		MIMEType:    "text/markdown",
	}, n.readNote)
}

func (n *notes) readIndex(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
	list, err := n.st.list("")
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Notes (%d)\n\n", len(list))
	for _, note := range list {
		fmt.Fprintf(&b, "- [%s] **%s**", note.ID, note.Title)
		if len(note.Tags) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(note.Tags, ", "))
		}
		fmt.Fprintf(&b, " — %s\n", note.Created)
	}
	return textResult(req.Params.URI, b.String()), nil
}

func (n *notes) readNote(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
	id := strings.TrimPrefix(req.Params.URI, noteURIPrefix)
	note, err := n.st.get(id)
	if errors.Is(err, errNotFound) {
		return nil, mcp.ResourceNotFoundError(req.Params.URI)
	}
	if err != nil {
		return nil, err
	}
	return textResult(req.Params.URI, markdown(note)), nil
}

func (n *notes) summarizePrompt(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
	tag := strings.TrimSpace(req.Params.Arguments["tag"])
	list, err := n.st.list(tag)
	if err != nil {
		return nil, err
	}
	scope := "all my notes"
	if tag != "" {
		scope = fmt.Sprintf("my notes tagged %q", tag)
	}
	var b strings.Builder
	if len(list) == 0 {
		fmt.Fprintf(&b, "I asked for a summary of %s, but there are none yet. Say so briefly.", scope)
	} else {
		fmt.Fprintf(&b, "Summarise %s (%d). Group related notes, list open questions and to-dos, "+
			"and cite note IDs in brackets.\n\n", scope, len(list))
		for _, note := range list {
			b.WriteString("---\n\n")
			b.WriteString(markdown(note))
			b.WriteString("\n")
		}
	}
	return &mcp.GetPromptResult{
		Description: "Summary of " + scope,
		Messages:    []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: b.String()}}},
	}, nil
}

// complete offers existing tags for summarize_notes and IDs for notes://note/{id}.
func (n *notes) complete(_ context.Context, req *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
	var candidates []string
	ref, arg := req.Params.Ref, req.Params.Argument
	switch {
	case ref == nil:
	case ref.Type == "ref/prompt" && ref.Name == "summarize_notes" && arg.Name == "tag":
		tags, err := n.st.tags()
		if err != nil {
			return nil, err
		}
		candidates = tags
	case ref.Type == "ref/resource" && ref.URI == noteURIPrefix+"{id}" && arg.Name == "id":
		list, err := n.st.list("")
		if err != nil {
			return nil, err
		}
		for _, note := range list {
			candidates = append(candidates, note.ID)
		}
	}
	values := []string{}
	for _, c := range candidates {
		if strings.HasPrefix(strings.ToLower(c), strings.ToLower(arg.Value)) && len(values) < 100 {
			values = append(values, c)
		}
	}
	return &mcp.CompleteResult{Completion: mcp.CompletionResultDetails{Values: values, Total: len(values)}}, nil
}

// markdown renders a note for resources and prompts.
func markdown(n Note) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## %s\n\nID: %s · created %s", n.Title, n.ID, n.Created)
	if len(n.Tags) > 0 {
		fmt.Fprintf(&b, " · tags: %s", strings.Join(n.Tags, ", "))
	}
	fmt.Fprintf(&b, "\n\n%s\n", n.Body)
	return b.String()
}

func textResult(uri, text string) *mcp.ReadResourceResult {
	return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: uri, MIMEType: "text/markdown", Text: text}}}
}

// preview returns the first n runes of s on one line.
func preview(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
