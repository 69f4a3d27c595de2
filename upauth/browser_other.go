//go:build !darwin && !windows && !linux && !freebsd && !openbsd && !netbsd && !dragonfly

package upauth

import "context"

// openBrowser has no opener on this OS: the URL is printed instead.
func openBrowser(context.Context, string) error { return errNoBrowser }
