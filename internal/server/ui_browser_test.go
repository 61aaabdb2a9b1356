package server_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/testbrowser"
)

// screenshotDir is where the browser tests save screenshots of the main
// pages: WHARF_UI_SCREENSHOTS (docs/img, to refresh the documentation's),
// or a directory of the test's own.
func screenshotDir(t *testing.T) string {
	if d := os.Getenv("WHARF_UI_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	d := filepath.Join(os.TempDir(), "wharf-ui-screenshots")
	_ = os.MkdirAll(d, 0o755)
	return d
}

// screenshot saves the whole page as name.png. (Quality 100 makes
// Chromium write PNG; testbrowser's Screenshot writes JPEG.)
func screenshot(t *testing.T, b *testbrowser.Browser, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.Context(), 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err == nil {
		err = os.WriteFile(filepath.Join(screenshotDir(t), name+".png"), png, 0o644)
	}
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
	}
}

// TestUIInBrowser drives the web UI in Chromium on every backend: sign in,
// browse, search, open an image with its signature and SBOM, delete a tag
// with confirmation, be refused on an immutable one, create a robot and
// see its secret once; a read-only user sees no write buttons and is
// refused when forging the request; a form without its token is refused;
// hostile labels and annotations stay text.
func TestUIInBrowser(t *testing.T) {
	testbrowser.Require(t)
	for i, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			if i > 0 && testing.Short() {
				t.Skip("one backend in -short")
			}
			cfg := newConfig(t, b)
			cfg.Auth.Enabled = true
			cfg.Auth.BcryptCost = 4
			cfg.AdminPassword = adminPassword
			tr := openTestRegistry(t, cfg)
			uiInBrowser(t, tr, i == 0)
		})
	}
}

func uiInBrowser(t *testing.T, tr *testRegistry, shots bool) {
	admin := auth.BasicAuthorization("admin", adminPassword)
	api := func(method, path, body string, status int) {
		t.Helper()
		if r := tr.do(method, path, []byte(body), "Authorization", admin, "Content-Type", "application/json"); r.status != status {
			t.Fatalf("%s %s: %d, want %d: %s", method, path, r.status, status, r.body)
		}
	}
	api("POST", "/api/v1/users", `{"name":"rita","password":"rita-password"}`, 201)
	api("POST", "/api/v1/namespaces", `{"name":"team"}`, 201)
	api("POST", "/api/v1/namespaces", `{"name":"tools","public":true}`, 201)
	api("PUT", "/api/v1/namespaces/team/members/rita", `{"role":"readonly"}`, 200)
	api("POST", "/api/v1/namespaces/team/immutability-rules", `{"pattern":"release-*"}`, 201)
	api("PUT", "/api/v1/namespaces/team/quota", `{"limitBytes":1048576}`, 200)
	for _, ref := range []string{"team/app:v1", "team/app:v2", "team/app:release-1", "team/api:main", "tools/lint:latest"} {
		repo, tag, _ := strings.Cut(ref, ":")
		pushHostile(t, tr, "admin", adminPassword, repo, tag)
	}
	u := tr.srv.URL
	b := testbrowser.Start(t)
	noXSS := func(where string) {
		t.Helper()
		if got := testbrowser.Eval[bool](b, "window.__xss === undefined"); !got {
			t.Fatalf("%s: the hostile label or annotation ran script", where)
		}
	}

	// Anonymous: the public namespace only, and a way to sign in.
	b.Do(chromedp.Navigate(u + "/"))
	if home := b.Text("main"); !strings.Contains(home, "tools/lint") || strings.Contains(home, "team/app") {
		t.Fatalf("anonymous home page: %q", home)
	}
	b.Do(chromedp.Navigate(u + "/-/login"))
	if shots {
		screenshot(t, b, "login")
	}

	// Sign in as the administrator.
	b.Do(
		chromedp.SetValue(chromedp.CSS("#username"), "admin"),
		chromedp.SetValue(chromedp.CSS("#password"), adminPassword),
		chromedp.Click(chromedp.CSS(`main button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/r/team/app"]`)),
	)
	if got := b.Text(`[data-testid="user"]`); got != "admin" {
		t.Fatalf("signed in as %q", got)
	}
	if shots {
		screenshot(t, b, "home")
	}

	// Browse: the namespace with its quota, the repository, the image.
	b.Do(chromedp.Navigate(u + "/ns/team"))
	if page := b.Text("main"); !strings.Contains(page, "team/api") || !strings.Contains(page, "of 1.0 MiB") {
		t.Errorf("namespace page: %q", page)
	}
	if shots {
		screenshot(t, b, "namespace")
	}
	b.Do(chromedp.Navigate(u + "/r/team/app"))
	if tags := b.Text(`[data-testid="tags"]`); !strings.Contains(tags, "v1") || !strings.Contains(tags, "release-1") {
		t.Errorf("tags: %q", tags)
	}
	if shots {
		screenshot(t, b, "repository")
	}
	b.Do(chromedp.Navigate(u + "/r/team/app/-/tags/v1"))
	noXSS("the image page")
	if got := b.Text(`[data-testid="labels"]`); !strings.Contains(got, "window.__xss") {
		t.Errorf("the hostile label is not shown as text: %q", got)
	}
	if got := b.Text(`[data-testid="packages"]`); !strings.Contains(got, "openssl") {
		t.Errorf("SBOM packages: %q", got)
	}
	if got := b.Text(`[data-testid="signatures"]`); !strings.Contains(got, "cosign") {
		t.Errorf("signatures: %q", got)
	}
	if shots {
		screenshot(t, b, "image")
	}

	// Search across repositories and tags.
	b.Do(
		chromedp.SetValue(chromedp.CSS("#q"), "release"),
		chromedp.Submit(chromedp.CSS("#q")),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="tag-hits"]`)),
	)
	if got := b.Text(`[data-testid="tag-hits"]`); !strings.Contains(got, "team/app") || !strings.Contains(got, "release-1") {
		t.Errorf("search hits: %q", got)
	}

	// Delete a tag, with confirmation; an immutable one is refused with
	// the reason.
	b.Do(
		chromedp.Navigate(u+"/r/team/app/-/tags/v2"),
		chromedp.Click(chromedp.CSS(`[data-testid="delete-tag"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="confirm-delete"]`)),
	)
	if shots {
		screenshot(t, b, "delete")
	}
	b.Do(
		chromedp.Click(chromedp.CSS(`[data-testid="confirm-delete"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.notice`)),
	)
	if got := b.Text(".notice"); !strings.Contains(got, "Deleted tag team/app:v2") {
		t.Errorf("after deleting: %q", got)
	}
	if r := tr.do("GET", "/v2/team/app/manifests/v2", nil, "Authorization", admin); r.status != http.StatusNotFound {
		t.Errorf("v2 after deleting it: %d", r.status)
	}
	b.Do(
		chromedp.Navigate(u+"/r/team/app/-/tags/release-1/delete"),
		chromedp.Click(chromedp.CSS(`[data-testid="confirm-delete"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.problem`)),
	)
	if got := b.Text(".problem"); !strings.Contains(got, "immutable") {
		t.Errorf("deleting an immutable tag: %q", got)
	}

	// A robot's secret is shown once.
	b.Do(
		chromedp.Navigate(u+"/ns/team"),
		chromedp.SetValue(chromedp.CSS("#robot-name"), "builder"),
		chromedp.Click(chromedp.CSS(`#robots ~ form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="secret"]`)),
	)
	secret := b.Text(`[data-testid="secret"]`)
	if len(secret) < 20 {
		t.Fatalf("robot secret %q", secret)
	}
	if shots {
		screenshot(t, b, "robot")
	}
	rc := &client{tr: tr, user: "team+builder", secret: secret}
	if r := rc.do("GET", "/v2/team/app/tags/list", nil); r.status != http.StatusOK {
		t.Errorf("the robot's secret does not pull: %d", r.status)
	}
	b.Do(chromedp.Navigate(u + "/ns/team"))
	if page := b.Text("main"); strings.Contains(page, secret) || !strings.Contains(page, "team+builder") {
		t.Errorf("the namespace page shows the secret again, or not the robot")
	}

	// A form posted without its token is refused.
	if got := testbrowser.Eval[int](b, `fetch("/r/team/app/-/tags/v1/delete", {method: "POST",
		headers: {"Content-Type": "application/x-www-form-urlencoded"}, body: "csrf="}).then(r => r.status)`); got != http.StatusForbidden {
		t.Errorf("delete without the CSRF token: %d", got)
	}
	b.Do(chromedp.Navigate(u + "/-/audit"))
	if shots {
		screenshot(t, b, "audit")
	}

	// A read-only user: no write buttons, and a forged delete (with the
	// session's own token) is refused.
	rb := testbrowser.Start(t)
	rb.Do(
		chromedp.Navigate(u+"/-/login"),
		chromedp.SetValue(chromedp.CSS("#username"), "rita"),
		chromedp.SetValue(chromedp.CSS("#password"), "rita-password"),
		chromedp.Click(chromedp.CSS(`main button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/r/team/app"]`)),
		chromedp.Navigate(u+"/r/team/app/-/tags/v1"),
	)
	if n := testbrowser.Eval[int](rb, `document.querySelectorAll('a[href$="/delete"], form[action$="/delete"]').length`); n != 0 {
		t.Errorf("a read-only user sees %d delete controls", n)
	}
	forged := testbrowser.Eval[int](rb, `fetch("/-/account").then(r => r.text()).then(t => {
		const token = t.match(/name="csrf" value="([0-9a-f]+)"/)[1];
		return fetch("/r/team/app/-/tags/v1/delete", {method: "POST",
			headers: {"Content-Type": "application/x-www-form-urlencoded"}, body: "csrf=" + token});
	}).then(r => r.status)`)
	if forged != http.StatusForbidden {
		t.Errorf("a read-only user's forged delete: %d", forged)
	}
	if r := tr.do("GET", "/v2/team/app/manifests/v1", nil, "Authorization", admin); r.status != http.StatusOK {
		t.Errorf("v1 after the refused delete: %d", r.status)
	}
}
