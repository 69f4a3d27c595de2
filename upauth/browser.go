package upauth

import (
	"errors"
	"os/exec"
)

// errNoBrowser means this machine has no browser to open (no display, or an
// OS without an opener); Login then asks for the pasted redirect URL.
var errNoBrowser = errors.New("no browser available")

// startOpener runs an opener program on url without a shell (the URL is one
// argument, never parsed by a shell) and reaps it in the background.
func startOpener(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait()
	return nil
}
