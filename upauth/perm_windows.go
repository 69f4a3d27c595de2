//go:build windows

package upauth

import "os"

const isWindows = true

// checkPrivate is a no-op on Windows: Go's file modes do not show ACLs, and
// the store's directory inherits the user profile's ACL (see [FileStore]).
// Links and other non-regular files are refused by the callers.
func checkPrivate(string, os.FileInfo) error { return nil }

// syncDir is a no-op on Windows, where a directory cannot be opened for
// syncing; the file itself was synced before the rename.
func syncDir(string) error { return nil }
