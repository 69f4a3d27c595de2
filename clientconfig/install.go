package clientconfig

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"time"
)

// DefaultEntryName is the name install gives the gateway's entry.
const DefaultEntryName = "mcp-gateway"

// Entry is the gateway as one stdio server of a client.
type Entry struct {
	// Name is the entry's key; empty means [DefaultEntryName].
	Name    string
	Command string
	Args    []string
}

// InstallResult reports what [Install] did.
type InstallResult struct {
	// Path is the client file.
	Path string
	// Changed is false when the file already had the entry as it is.
	Changed bool
	// Created reports that the file did not exist.
	Created bool
	// Replaced reports that an entry of that name with other settings was
	// replaced.
	Replaced bool
	// Backup is the copy of the file made before it was changed ("" if
	// the file was created or not changed).
	Backup string
	// Others are the file's other servers, in file order.
	Others []string
}

// PlanInstall returns the client file data with e added for client c: the
// file's other entries and keys, their order and its comments are kept.
// data nil means the file does not exist. changed is false when the file
// already has the entry exactly; replaced says an entry of that name with
// other settings was there.
func PlanInstall(c Client, data []byte, e Entry) (out []byte, changed, replaced bool, others []string, err error) {
	if e.Name == "" {
		e.Name = DefaultEntryName
	}
	key := "mcpServers"
	var entry object
	if c == VSCode {
		key = "servers"
		entry.set("type", "stdio")
	}
	entry.set("command", e.Command)
	entry.set("args", e.Args)
	if len(data) == 0 {
		var root object
		root.set(key, object{{e.Name, entry}})
		return append([]byte(indentJSON(marshal(root), "", "  ")), '\n'), true, false, nil, nil
	}
	d, err := parseDocument(data)
	if err != nil {
		return nil, false, false, nil, err
	}
	if d.root.kind != '{' {
		return nil, false, false, nil, fmt.Errorf("%w: the file is not a JSON object", ErrSyntax)
	}
	servers := d.root.get(key)
	if servers == nil {
		return d.setMember(d.root, key, object{{e.Name, entry}}), true, false, nil, nil
	}
	if servers.kind != '{' {
		return nil, false, false, nil, fmt.Errorf("%q is not a JSON object", key)
	}
	for _, m := range servers.members {
		if m.key != e.Name {
			others = append(others, m.key)
		}
	}
	if old := servers.get(e.Name); old != nil {
		var have, want any
		if err := d.decode(old, &have); err == nil {
			_ = json.Unmarshal(marshal(entry), &want) // our own JSON
			if reflect.DeepEqual(have, want) {
				return data, false, false, others, nil
			}
		}
		replaced = true
	}
	return d.setMember(servers, e.Name, entry), true, replaced, others, nil
}

// Install adds the gateway entry e to client c's file at path, creating the
// file (and its directory) if needed. Before changing an existing file it
// copies it to path.bak-YYYYMMDD-HHMMSS; a second run with the same entry
// changes nothing.
func Install(c Client, path string, e Entry, now time.Time) (*InstallResult, error) {
	res := &InstallResult{Path: path}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		res.Created = true
	case err != nil:
		return nil, err
	}
	out, changed, replaced, others, err := PlanInstall(c, data, e)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	res.Changed, res.Replaced, res.Others = changed, replaced, others
	if !changed {
		return res, nil
	}
	if res.Backup, err = WriteFile(path, out, now); err != nil {
		return nil, err
	}
	return res, nil
}

// WriteFile replaces the file at path with data, first copying an existing
// file to path.bak-YYYYMMDD-HHMMSS (returned), and keeping its permissions.
// The new content is written to a temporary file and renamed into place, so
// a crash leaves the old file or the new one, never half of one. A symbolic
// link is followed: its target is replaced.
func WriteFile(path string, data []byte, now time.Time) (backup string, err error) {
	if target, err := filepath.EvalSymlinks(path); err == nil {
		path = target
	}
	mode := fs.FileMode(0o600)
	old, err := os.ReadFile(path)
	switch {
	case err == nil:
		if fi, err := os.Stat(path); err == nil {
			mode = fi.Mode().Perm()
		}
		backup = path + ".bak-" + now.Format("20060102-150405")
		for i := 2; ; i++ {
			if _, err := os.Lstat(backup); errors.Is(err, fs.ErrNotExist) {
				break
			}
			backup = fmt.Sprintf("%s.bak-%s-%d", path, now.Format("20060102-150405"), i)
		}
		if err := os.WriteFile(backup, old, mode); err != nil {
			return "", fmt.Errorf("backing up %s: %w", path, err)
		}
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return "", err
		}
	default:
		return "", err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Chmod(mode); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", err
	}
	return backup, nil
}
