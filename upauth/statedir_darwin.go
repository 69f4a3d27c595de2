package upauth

import "path/filepath"

// userStateDir on macOS is ~/Library/Application Support.
func userStateDir(getenv func(string) string) (string, error) {
	home := getenv("HOME")
	if home == "" {
		return "", errNoHome
	}
	return filepath.Join(home, "Library", "Application Support"), nil
}
