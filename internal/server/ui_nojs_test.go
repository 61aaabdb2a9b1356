package server_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/testbrowser"
)

// TestUIWithoutJavaScript reads and deletes with script turned off, on a
// registry without access control (the laptop case): every page reads,
// and a deletion goes through its confirmation page. Then, with script on,
// the keyboard reaches the skip link first, and a phone-sized screen in
// dark mode gets its layout (screenshot).
func TestUIWithoutJavaScript(t *testing.T) {
	testbrowser.Require(t)
	tr := openTestRegistry(t, newConfig(t, backend{name: "fs+sqlite", configure: func(*testing.T, *config.Config) {}}))
	pushHostile(t, tr, "", "", "team/app", "v1")
	pushHostile(t, tr, "", "", "team/app", "v2")
	u := tr.srv.URL
	b := testbrowser.Start(t)
	b.Do(call(emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}))

	b.Do(chromedp.Navigate(u + "/"))
	if home := b.Text("main"); !strings.Contains(home, "team/app") {
		t.Fatalf("home page without script: %q", home)
	}
	b.Do(chromedp.Navigate(u + "/r/team/app/-/tags/v1"))
	if got := b.Text(`[data-testid="labels"]`); !strings.Contains(got, "window.__xss") {
		t.Errorf("labels without script: %q", got)
	}
	if got := b.Text(".commands"); !strings.Contains(got, "docker pull") {
		t.Errorf("pull commands without script: %q", got)
	}
	if n := testbrowser.Eval[int](b, `[...document.querySelectorAll("button.copy")].filter(e => !e.hidden).length`); n != 0 {
		t.Errorf("%d copy buttons shown without the script that makes them work", n)
	}
	b.Do(
		chromedp.Click(chromedp.CSS(`[data-testid="delete-tag"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="confirm-delete"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="confirm-delete"]`)),
		chromedp.WaitVisible(chromedp.CSS(".notice")),
	)
	if got := b.Text(".notice"); !strings.Contains(got, "Deleted tag team/app:v1") {
		t.Errorf("deleting without script: %q", got)
	}

	// With script: the first Tab reaches the skip link; copy buttons show.
	k := testbrowser.Start(t)
	k.Do(chromedp.Navigate(u+"/r/team/app/-/tags/v2"), chromedp.KeyEvent("\t"))
	if got := testbrowser.Eval[string](k, "document.activeElement.textContent"); got != "Skip to content" {
		t.Errorf("the first Tab reaches %q, want the skip link", got)
	}
	if n := testbrowser.Eval[int](k, `[...document.querySelectorAll("button.copy")].filter(e => !e.hidden).length`); n == 0 {
		t.Errorf("no copy button with script on")
	}
	k.Do(
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
		call(emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}}),
		chromedp.Navigate(u+"/r/team/app/-/tags/v2"),
	)
	if bg := testbrowser.Eval[string](k, "getComputedStyle(document.body).backgroundColor"); bg != "rgb(13, 17, 23)" {
		t.Errorf("dark mode background %q", bg)
	}
	if w := testbrowser.Eval[int](k, "document.documentElement.scrollWidth"); w > 390 {
		t.Errorf("the image page is %d px wide on a 390 px screen", w)
	}
	screenshot(t, k, "phone-dark")
}

// call runs one DevTools command in the page.
func call[P, R any](cmd cdp.Command[P, R], params P) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, cmd, params)
		return err
	})
}
