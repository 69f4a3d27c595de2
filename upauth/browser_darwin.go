package upauth

import "context"

// openBrowser opens url with open(1), in the user's default browser.
func openBrowser(_ context.Context, url string) error {
	if err := checkOAuthURL("the authorization URL", url); err != nil {
		return err
	}
	return startOpener("open", url)
}
