package upauth

import "context"

// openBrowser opens url in the default browser through the URL protocol
// handler (rundll32 url.dll,FileProtocolHandler), not through cmd /c start,
// whose parsing of & and ^ would mangle or run parts of the URL.
func openBrowser(_ context.Context, url string) error {
	if err := checkOAuthURL("the authorization URL", url); err != nil {
		return err
	}
	return startOpener("rundll32", "url.dll,FileProtocolHandler", url)
}
