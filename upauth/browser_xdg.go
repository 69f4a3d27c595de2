//go:build linux || freebsd || openbsd || netbsd || dragonfly

package upauth

import (
	"context"
	"os"
)

// openBrowser opens url with xdg-open when there is a graphical session
// (DISPLAY or WAYLAND_DISPLAY); over SSH there is none, and the caller falls
// back to printing the URL.
func openBrowser(_ context.Context, url string) error {
	if err := checkOAuthURL("the authorization URL", url); err != nil {
		return err
	}
	if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
		return errNoBrowser
	}
	return startOpener("xdg-open", url)
}
