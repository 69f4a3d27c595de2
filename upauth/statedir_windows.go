package upauth

// userStateDir on Windows is %LOCALAPPDATA% (per user, not roaming: tokens
// and loopback ports belong to this machine).
func userStateDir(getenv func(string) string) (string, error) {
	d := getenv("LOCALAPPDATA")
	if d == "" {
		return "", errNoHome
	}
	return d, nil
}
