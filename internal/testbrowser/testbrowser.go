// Package testbrowser drives a real browser in tests: Debian's Chromium,
// headless, through the DevTools protocol with chromedp. Each Browser is a
// fresh Chromium with its own profile (no cookies, no cache) that reaches
// no address but localhost, 127.0.0.1 and ::1, so a page loads only what
// the test serves on loopback. The web UI's tests and the sign-in tests share it.
//
// Use:
//
//	srv := httptest.NewServer(handler)          // or a started wharf server
//	b := testbrowser.Start(t)                   // skips without Chromium, fails in CI
//	b.Do(
//		chromedp.Navigate(srv.URL+"/ui/"),
//		chromedp.SetValue(chromedp.CSS(`input[name="username"]`), "ada"),
//		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
//		chromedp.WaitVisible(chromedp.CSS(`#repositories`)),
//	)
//	got := b.Text(`h1`)                         // the visible text of an element
//	path := testbrowser.Eval[string](b, "location.pathname")
//
// Every call fails the test on error or after Timeout (30 s), naming the
// page it was on and writing a screenshot next to the test's temporary
// files. For what the helpers do not cover, chromedp.Run(b.Context(), ...)
// runs any chromedp action in the browser's tab. CI installs Chromium
// (.ci/run); elsewhere a test that needs it is skipped (Require).
package testbrowser

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Browser is a running headless Chromium with one tab.
type Browser struct {
	t   testing.TB
	ctx context.Context
	// Timeout bounds each call of Do, Text, ...; 30 seconds unless set.
	Timeout time.Duration
}

// Require returns the path of Chromium, or fails the test (in CI, which
// installs it: .ci/run) or skips it (elsewhere).
func Require(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed; .ci/run installs Debian's chromium")
	}
	t.Skip("chromium is not installed (apt-get install chromium)")
	return ""
}

// Start runs a headless Chromium with a fresh profile until the test
// ends.
func Start(t testing.TB) *Browser {
	t.Helper()
	exe := Require(t)
	profile := filepath.Join(t.TempDir(), "profile")
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(profile),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("no-proxy-server", true),
		chromedp.Flag("window-size", "1200,900"),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1, EXCLUDE [::1]"),
	)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The browser starts with the first action, and lives as long as the
	// context that action ran in: this one, not a call's timeout.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return &Browser{t: t, ctx: ctx, Timeout: 30 * time.Second}
}

// Context is the context of the browser's tab, for chromedp.Run and
// chromedp.Do with actions the helpers here do not cover.
func (b *Browser) Context() context.Context { return b.ctx }

func (b *Browser) call() (context.Context, context.CancelFunc) {
	return context.WithTimeout(b.ctx, b.Timeout)
}

// Do runs steps, failing the test (with the page's address and a
// screenshot written beside the test's temporary files) if one fails.
func (b *Browser) Do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := b.call()
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.fail(err)
	}
}

// Text returns the text of the first element sel matches, once visible.
func (b *Browser) Text(sel string) string {
	b.t.Helper()
	ctx, cancel := b.call()
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(sel))); err != nil {
		b.fail(err)
	}
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.fail(err)
	}
	return s
}

// Location returns the address of the page.
func (b *Browser) Location() string {
	b.t.Helper()
	ctx, cancel := b.call()
	defer cancel()
	u, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		b.fail(err)
	}
	return u
}

// Eval evaluates a JavaScript expression in the page (awaiting a promise)
// and returns its value.
func Eval[T any](b *Browser, expr string) T {
	b.t.Helper()
	ctx, cancel := b.call()
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.fail(err)
	}
	return v
}

// Screenshot writes a PNG of the page to path.
func (b *Browser) Screenshot(path string) error {
	ctx, cancel := b.call()
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return err
	}
	return os.WriteFile(path, png, 0o644)
}

func (b *Browser) fail(err error) {
	b.t.Helper()
	where := "(unknown page)"
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	if u, lerr := chromedp.Run(ctx, chromedp.Location()); lerr == nil {
		where = u
	}
	// What the page said, shortened: often the reason (an error page, a
	// form that did not go where the test expected).
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if len(text) > 600 {
		text = text[:600] + "..."
	}
	shot := filepath.Join(os.TempDir(), "testbrowser-"+filepath.Base(b.t.Name())+".png")
	if png, serr := chromedp.Run(ctx, chromedp.FullScreenshot(100)); serr == nil && os.WriteFile(shot, png, 0o644) == nil {
		b.t.Fatalf("browser at %s: %v (screenshot: %s)\npage text: %s", where, err, shot, text)
	}
	b.t.Fatalf("browser at %s: %v\npage text: %s", where, err, text)
}
