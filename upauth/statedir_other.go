//go:build !darwin && !windows

package upauth

import "path/filepath"

// userStateDir on Linux and the BSDs is $XDG_STATE_HOME, else ~/.local/state
// (the XDG Base Directory specification's place for state that should survive
// a restart but is not worth backing up or sharing).
func userStateDir(getenv func(string) string) (string, error) {
	if d := getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return d, nil
	}
	home := getenv("HOME")
	if home == "" {
		return "", errNoHome
	}
	return filepath.Join(home, ".local", "state"), nil
}
