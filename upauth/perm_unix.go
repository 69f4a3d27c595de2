//go:build !windows

package upauth

import (
	"fmt"
	"os"
	"syscall"
)

const isWindows = false

// checkPrivate refuses a store file or directory that other users may read,
// write or enter, or that another user owns.
func checkPrivate(p string, fi os.FileInfo) error {
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		want := "600"
		if fi.IsDir() {
			want = "700"
		}
		return &InsecureFileError{Path: p, Reason: fmt.Sprintf("other users may access it (mode %04o); run: chmod %s %s", perm, want, p)}
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return &InsecureFileError{Path: p, Reason: fmt.Sprintf("owned by uid %d, not by this user", st.Uid)}
	}
	return nil
}

// syncDir flushes a directory entry (a rename) to disk.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
