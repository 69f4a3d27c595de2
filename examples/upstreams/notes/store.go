package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Note is one stored note. It is also the output of add_note and get_note.
type Note struct {
	ID      string   `json:"id" jsonschema:"the note's identifier, for get_note and delete_note"`
	Title   string   `json:"title" jsonschema:"the note's title"`
	Body    string   `json:"body" jsonschema:"the note's text"`
	Tags    []string `json:"tags" jsonschema:"the note's tags"`
	Created string   `json:"created" jsonschema:"when the note was added, in RFC 3339 format"`
}

// fileFormat is the JSON file's layout. NextID keeps IDs unique after deletes.
type fileFormat struct {
	NextID int    `json:"next_id"`
	Notes  []Note `json:"notes"`
}

// errNotFound is returned for an unknown note ID.
var errNotFound = errors.New("no such note")

// store keeps notes in a JSON file. It is safe for concurrent use.
//
// Every operation re-reads the file, so several notes servers (say, one per
// gateway session) sharing a file see each other's notes. Writes go to a
// temporary file that is renamed over the old one, so a reader never sees a
// torn file; two processes writing at the same instant can still lose one
// update (there is no cross-process lock).
type store struct {
	path string
	now  func() time.Time

	mu sync.Mutex // serialises read-modify-write cycles within this process
}

func newStore(path string) *store {
	return &store{path: path, now: time.Now}
}

// defaultPath is $XDG_DATA_HOME/mcp-gateway-notes.json, or
// ~/.local/share/mcp-gateway-notes.json when XDG_DATA_HOME is unset.
func defaultPath() (string, error) {
	if dir := os.Getenv("XDG_DATA_HOME"); filepath.IsAbs(dir) {
		return filepath.Join(dir, "mcp-gateway-notes.json"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no --file given and no home directory: %w", err)
	}
	return filepath.Join(home, ".local", "share", "mcp-gateway-notes.json"), nil
}

// load reads the file. A missing file is an empty store; a corrupt one is an
// error, so that it is never overwritten.
func (s *store) load() (*fileFormat, error) {
	data, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return &fileFormat{NextID: 1}, nil
	}
	if err != nil {
		return nil, err
	}
	var f fileFormat
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("reading %s: %w", s.path, err)
	}
	// Repair a hand-edited file whose next_id would reuse an ID.
	for _, n := range f.Notes {
		if id, err := strconv.Atoi(n.ID); err == nil && id >= f.NextID {
			f.NextID = id + 1
		}
	}
	if f.NextID < 1 {
		f.NextID = 1
	}
	return &f, nil
}

// save writes f atomically: temporary file in the same directory, fsync, rename.
func (s *store) save(f *fileFormat) error {
	if f.Notes == nil {
		f.Notes = []Note{}
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(s.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(s.path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), s.path)
}

// add stores a new note and returns it.
func (s *store) add(title, body string, tags []string) (Note, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.load()
	if err != nil {
		return Note{}, err
	}
	n := Note{
		ID:      strconv.Itoa(f.NextID),
		Title:   title,
		Body:    body,
		Tags:    normalizeTags(tags),
		Created: s.now().UTC().Format(time.RFC3339),
	}
	f.NextID++
	f.Notes = append(f.Notes, n)
	if err := s.save(f); err != nil {
		return Note{}, err
	}
	return n, nil
}

// remove deletes the note with the given ID.
func (s *store) remove(id string) (Note, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.load()
	if err != nil {
		return Note{}, err
	}
	i := slices.IndexFunc(f.Notes, func(n Note) bool { return n.ID == id })
	if i < 0 {
		return Note{}, fmt.Errorf("%w: %q", errNotFound, id)
	}
	n := f.Notes[i]
	f.Notes = slices.Delete(f.Notes, i, i+1)
	return n, s.save(f)
}

// get returns the note with the given ID.
func (s *store) get(id string) (Note, error) {
	notes, err := s.list("")
	if err != nil {
		return Note{}, err
	}
	for _, n := range notes {
		if n.ID == id {
			return n, nil
		}
	}
	return Note{}, fmt.Errorf("%w: %q", errNotFound, id)
}

// list returns all notes, oldest first, or those carrying tag (case-insensitive).
func (s *store) list(tag string) ([]Note, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.load()
	if err != nil {
		return nil, err
	}
	tag = strings.TrimSpace(tag)
	if tag == "" {
		return f.Notes, nil
	}
	var out []Note
	for _, n := range f.Notes {
		if slices.ContainsFunc(n.Tags, func(t string) bool { return strings.EqualFold(t, tag) }) {
			out = append(out, n)
		}
	}
	return out, nil
}

// search returns the notes whose title or body contains query, ignoring case.
func (s *store) search(query string) ([]Note, error) {
	notes, err := s.list("")
	if err != nil {
		return nil, err
	}
	q := strings.ToLower(query)
	var out []Note
	for _, n := range notes {
		if strings.Contains(strings.ToLower(n.Title), q) || strings.Contains(strings.ToLower(n.Body), q) {
			out = append(out, n)
		}
	}
	return out, nil
}

// tags returns every distinct tag, sorted.
func (s *store) tags() ([]string, error) {
	notes, err := s.list("")
	if err != nil {
		return nil, err
	}
	var all []string
	for _, n := range notes {
		all = append(all, n.Tags...)
	}
	return normalizeTags(all), nil
}

// normalizeTags trims tags, drops empty ones and case-insensitive duplicates,
// and sorts them. It never returns nil.
func normalizeTags(tags []string) []string {
	out := []string{}
	for _, t := range tags {
		t = strings.TrimSpace(t)
		if t != "" && !slices.ContainsFunc(out, func(o string) bool { return strings.EqualFold(o, t) }) {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
	return out
}
