package upauth

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// maxRecordBytes caps one stored record; a larger file is not one of ours.
const maxRecordBytes = 1 << 20

// FileStore keeps each record in its own file under a directory that only the
// user may enter: the directory and its subdirectories are created 0700, files
// are written 0600 through a temporary file that is synced and renamed over
// the old one (then the directory is synced), so a crash leaves the old record
// or the new one.
//
// On Unix a file or directory that other users may read or write, that another
// user owns, or that is a symbolic link is refused with an [*InsecureFileError]
// rather than used (and never repaired silently). On Windows the store relies
// on the ACL its directory inherits from the user profile (%LOCALAPPDATA%
// grants the user, SYSTEM and Administrators); it refuses links and other
// non-regular files but does not read ACLs.
type FileStore struct {
	dir string
}

// NewFileStore returns a store in dir. The directory is created on the first
// Save.
func NewFileStore(dir string) *FileStore { return &FileStore{dir: dir} }

// Dir is the store's directory.
func (s *FileStore) Dir() string { return s.dir }

// InsecureFileError reports a store file or directory that others may read
// or write, or that is not what the store wrote. The store refuses to use it.
type InsecureFileError struct {
	Path   string
	Reason string
}

func (e *InsecureFileError) Error() string {
	return fmt.Sprintf("refusing to use %s: %s", e.Path, e.Reason)
}

func (s *FileStore) path(k Key) string {
	return filepath.Join(s.dir, k.Kind+"s", k.fileName())
}

// Load reads the record under k.
func (s *FileStore) Load(_ context.Context, k Key) ([]byte, error) {
	p := s.path(k)
	if err := checkDir(s.dir); err != nil {
		return nil, err
	}
	if err := checkDir(filepath.Dir(p)); err != nil {
		return nil, err
	}
	f, err := openPrivate(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxRecordBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxRecordBytes {
		return nil, &InsecureFileError{Path: p, Reason: "larger than any record the gateway writes"}
	}
	return data, nil
}

// openPrivate opens p for reading after checking that it is a regular file
// only the user can read and write; an absent file gives fs.ErrNotExist.
func openPrivate(p string) (*os.File, error) {
	fi, err := os.Lstat(p)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &InsecureFileError{Path: p, Reason: "not a regular file"}
	}
	if err := checkPrivate(p, fi); err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	// The file checked is the file opened: a swap between Lstat and Open
	// shows as a different file.
	if fi2, err := f.Stat(); err != nil || !os.SameFile(fi, fi2) {
		f.Close()
		return nil, &InsecureFileError{Path: p, Reason: "changed while being opened"}
	}
	return f, nil
}

// Save writes data under k atomically.
func (s *FileStore) Save(_ context.Context, k Key, data []byte) error {
	p := s.path(k)
	if err := ensureDir(s.dir); err != nil {
		return err
	}
	dir := filepath.Dir(p)
	if err := ensureDir(dir); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if err := tmp.Chmod(0o600); err != nil && !isWindows {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
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
	if err := os.Rename(tmp.Name(), p); err != nil {
		return err
	}
	return syncDir(dir)
}

// Delete removes the record under k.
func (s *FileStore) Delete(_ context.Context, k Key) error {
	err := os.Remove(s.path(k))
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// ensureDir creates dir 0700 if it is absent and checks it otherwise.
func ensureDir(dir string) error {
	err := os.Mkdir(dir, 0o700)
	if os.IsNotExist(err) {
		// The parent is missing (a fresh ~/.local/state): create it the usual
		// way, then ours.
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return err
		}
		err = os.Mkdir(dir, 0o700)
	}
	if err != nil && !os.IsExist(err) {
		return err
	}
	return checkDir(dir)
}

// checkDir checks a store directory; an absent one is fine (nothing stored).
func checkDir(dir string) error {
	fi, err := os.Lstat(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return &InsecureFileError{Path: dir, Reason: "not a directory"}
	}
	return checkPrivate(dir, fi)
}

var _ Store = (*FileStore)(nil)
