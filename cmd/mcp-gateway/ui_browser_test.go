package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chromium finds Debian's Chromium (installed by the Makefile when
// missing). Without it the test skips, saying so, except under CI=true.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium in PATH: the browser test cannot run (CI=true forbids skipping; make test installs Debian's chromium)")
	}
	t.Skip("skipped: no chromium in PATH for the status page's browser test (apt-get install chromium, or run make test as root)")
	return ""
}

// TestStatusPageInBrowser drives the page in headless Chromium: it shows the
// upstreams of a running gateway, renders hostile strings from the live
// stream as text, and follows an upstream that is killed and restarted.
// A screenshot is written to the test's artifact directory.
func TestStatusPageInBrowser(t *testing.T) {
	needBins(t)
	browser := chromium(t)
	g := startHTTP(t, uiHostileConfig(t, nil))
	cs := connectHTTP(t, g.url+"/mcp", nil)
	pid := callWhoami(t, cs, "good__whoami").PID

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser),
		chromedp.NoSandbox, chromedp.WindowSize(1400, 1000), chromedp.Flag("disable-gpu", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(bctx, 90*time.Second)
	defer cancel()

	// rowState reads the state cell of the "good" upstream's row.
	rowState := func() (string, error) {
		return chromedp.Run(ctx, chromedp.Evaluate[string](
			`(document.querySelector('#upstreams tr[data-upstream="good"] td.state')||{}).textContent||""`))
	}
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(g.url+"/ui"),
		chromedp.WaitVisible(`#live.live-on`), // the event stream is open
	))
	eventually(t, 20*time.Second, "both upstreams shown, the good one up", func() error {
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#upstreams tbody tr[data-upstream]').length`))
		if err != nil {
			return err
		}
		s, err := rowState()
		if err != nil {
			return err
		}
		if n != 2 || s != "up" {
			return fmt.Errorf("%d rows, good is %q", n, s)
		}
		return nil
	})

	// Kill the upstream: the page shows it went down (a transition) and,
	// after the gateway restarted it, up again with one restart.
	proc, err := os.FindProcess(pid)
	require.NoError(t, err)
	require.NoError(t, proc.Kill())
	eventually(t, 30*time.Second, "the kill shown as a transition to down", func() error {
		down, err := chromedp.Run(ctx, chromedp.Evaluate[bool](
			`[...document.querySelectorAll('#transitions tbody tr')].some(r => r.cells.length === 4 && r.cells[1].textContent === "good" && r.cells[2].textContent === "down")`))
		if err != nil || !down {
			return fmt.Errorf("no down transition yet (%v)", err)
		}
		return nil
	})
	eventually(t, 30*time.Second, "the restarted upstream shown up", func() error {
		restarts, err := chromedp.Run(ctx, chromedp.Evaluate[string](
			`(document.querySelector('#upstreams tr[data-upstream="good"] td.restarts')||{}).textContent||""`))
		if err != nil {
			return err
		}
		s, err := rowState()
		if err != nil {
			return err
		}
		if s != "up" || restarts != "1" {
			return fmt.Errorf("good is %q with %q restarts", s, restarts)
		}
		return nil
	})

	// Everything the script inserted is text: no hostile element ran or
	// exists, and the hostile strings are readable.
	pwned, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__pwned !== undefined`))
	require.NoError(t, err)
	imgs, err := chromedp.Run(ctx, chromedp.Evaluate[int](
		`document.querySelectorAll('img, iframe, object, embed, [onerror], [onmouseover]').length + document.querySelectorAll('script').length - 1`))
	require.NoError(t, err)
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	require.NoError(t, err)
	assert.False(t, pwned, "a hostile string ran as script")
	assert.Zero(t, imgs, "a hostile string made elements")
	assert.Contains(t, text, "evil"+uiHostileImg)
	assert.Contains(t, text, uiHostileScript)
	assert.Contains(t, text, "rtl⟨U+202E⟩exe.txt⟨U+200B⟩")

	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	shot := filepath.Join(t.ArtifactDir(), "status-page.png")
	require.NoError(t, os.WriteFile(shot, png, 0o644))
	t.Logf("screenshot: %s", shot)
}
