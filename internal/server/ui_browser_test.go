package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/scan/vulndb"
	"github.com/wharf-dev/wharf/internal/scanner/scantest"
	"github.com/wharf-dev/wharf/internal/testbrowser"
	"github.com/wharf-dev/wharf/internal/trust"
	"github.com/wharf-dev/wharf/internal/trust/trusttest"
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

// TestUIInBrowser drives the web UI in Chromium on fs+SQLite and
// S3+PostgreSQL: sign in,
// browse, search, open an image with its signature and SBOM, delete a tag
// with confirmation, be refused on an immutable one, create a robot and
// see its secret once; a read-only user sees no write buttons and is
// refused when forging the request; a form without its token is refused;
// hostile labels and annotations stay text.
func TestUIInBrowser(t *testing.T) {
	testbrowser.Require(t)
	// The two ends (fs and SQLite, S3 and PostgreSQL): the HTTP tests
	// cover every backend, and a browser run costs seconds each.
	for i, b := range backends(t) {
		if b.name != "fs+sqlite" && b.name != "s3+postgres" {
			continue
		}
		t.Run(b.name, func(t *testing.T) {
			if i > 0 && testing.Short() {
				t.Skip("one backend in -short")
			}
			cfg := newConfig(t, b)
			cfg.Auth.Enabled = true
			cfg.Auth.BcryptCost = 4
			cfg.AdminPassword = adminPassword
			cfg.Scanning.Enabled = true
			opsConfig(t, &cfg)
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

	// The namespace's settings: the immutability rule, a retention policy
	// previewed (a dry run: nothing goes) and not created.
	b.Do(
		chromedp.Navigate(u+"/ns/team"),
		chromedp.Click(chromedp.CSS(`[data-testid="settings"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="immutability"]`)),
	)
	if got := b.Text(`[data-testid="immutability"]`); !strings.Contains(got, "release-*") {
		t.Errorf("immutability rules: %q", got)
	}
	b.Do(
		chromedp.SetValue(chromedp.CSS("#ret-count"), "1"),
		chromedp.SetValue(chromedp.CSS("#ret-pattern"), "v*"),
		chromedp.Click(chromedp.CSS(`[data-testid="retention-dry-run"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="retention-preview"]`)),
	)
	if got := b.Text(`[data-testid="retention-preview"]`); !strings.Contains(got, "Nothing was deleted") || !strings.Contains(got, "team/api\tmain") {
		t.Errorf("retention preview: %q", got)
	}
	if shots {
		screenshot(t, b, "settings")
	}
	if r := tr.do("GET", "/v2/team/app/manifests/v1", nil, "Authorization", admin); r.status != http.StatusOK {
		t.Errorf("v1 after the retention preview: %d", r.status)
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
	b.Do(chromedp.Navigate(u + "/-/audit?result=denied"))
	if got := b.Text(`[data-testid="audit"]`); !strings.Contains(got, "tag.delete") {
		t.Errorf("the refused deletion is not in the audit log: %q", got)
	}
	if shots {
		screenshot(t, b, "audit")
	}

	// Administration: health, a garbage collection's dry run, storage per
	// namespace.
	b.Do(
		chromedp.Navigate(u+"/-/admin"),
		chromedp.Click(chromedp.CSS(`[data-testid="gc-dry-run"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="gc-report"]`)),
	)
	if got := b.Text(`[data-testid="health"]`); !strings.Contains(got, "ready") || !strings.Contains(got, "wharf vulndb import") {
		t.Errorf("health: %q", got)
	}
	b.Do(
		chromedp.Click(chromedp.CSS(`[data-testid="count-storage"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="storage-chart"]`)),
	)
	if shots {
		screenshot(t, b, "admin")
	}

	uiScanInBrowser(t, tr, b, shots)
	uiPromoteInBrowser(t, tr, b, shots)
	uiActivityInBrowser(t, tr, b, shots)
	uiOpsInBrowser(t, tr, b, shots)

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
	if n := testbrowser.Eval[int](rb, `document.querySelectorAll('a[href$="/delete"], form[action$="/delete"], form[action$="/scan"]').length`); n != 0 {
		t.Errorf("a read-only user sees %d delete or scan controls", n)
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

// uiScanInBrowser loads vulnerability data, pushes a Debian image with a
// vulnerable package, asks for a scan with the image page's button, and
// reads the findings with and without the filters.
func uiScanInBrowser(t *testing.T, tr *testRegistry, b *testbrowser.Browser, shots bool) {
	sv := tr.s.Scanner()
	dir := t.TempDir()
	src, err := scantest.WriteAdvisories(dir,
		scantest.Advisory("DSA-9001-1", "CVE-2026-9001", "Debian:12", "openssl", "3.0.14-1", scantest.Critical),
		scantest.Advisory("DSA-9002-1", "CVE-2026-9002", "Debian:12", "zlib", "", ""))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vulndb.Import(context.Background(), sv.VulnDB(), sv.VulnDB(), []string{src}, vulndb.ImportLimits{}, dir); err != nil {
		t.Fatal(err)
	}
	sv.Refresh(context.Background())
	img := scantest.NewImage("linux/amd64", scantest.Debian(
		scantest.Dpkg{Name: "openssl", Version: "3.0.11-1"}, scantest.Dpkg{Name: "zlib1g", Version: "1:1.2.13.dfsg-1", Source: "zlib"}))
	c := &client{tr: tr, user: "admin", secret: adminPassword}
	for _, bl := range img.Blobs {
		if s := c.pushBlob("team/web", bl.Bytes); s != http.StatusCreated {
			t.Fatalf("push blob: %d", s)
		}
	}
	if r := c.do("PUT", "/v2/team/web/manifests/1.0", img.Manifest, "Content-Type", "application/vnd.oci.image.manifest.v1+json"); r.status != http.StatusCreated {
		t.Fatalf("push: %d %s", r.status, r.body)
	}
	u := tr.srv.URL + "/r/team/web/-/tags/1.0"
	b.Do(
		chromedp.Navigate(u),
		chromedp.Click(chromedp.CSS(`[data-testid="scan-now"]`)),
		chromedp.WaitVisible(chromedp.CSS(".notice")),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := sv.Wait(ctx, "team/web", img.Digest); err != nil {
		t.Fatalf("wait for the scan: %v", err)
	}
	b.Do(chromedp.Navigate(u))
	findings := b.Text(`[data-testid="findings"]`)
	for _, want := range []string{"DSA-9001-1", "CVE-2026-9001", "critical", "3.0.14-1", "DSA-9002-1", "no fix"} {
		if !strings.Contains(findings, want) {
			t.Errorf("findings lack %q: %q", want, findings)
		}
	}
	if shots {
		b.Do(chromedp.ScrollIntoView(chromedp.CSS("#vulnerabilities")))
		screenshot(t, b, "vulnerabilities")
	}
	// The filters (the form's GET): fixable only, then high and worse.
	b.Do(chromedp.Navigate(u + "?fixable=1"))
	if got := b.Text(`[data-testid="findings"]`); !strings.Contains(got, "DSA-9001-1") || strings.Contains(got, "DSA-9002-1") {
		t.Errorf("fixable findings: %q", got)
	}
	b.Do(chromedp.Navigate(u + "?severity=high"))
	if got := b.Text(`[data-testid="findings"]`); !strings.Contains(got, "DSA-9001-1") || strings.Contains(got, "DSA-9002-1") {
		t.Errorf("high and worse: %q", got)
	}
}

// uiPromoteInBrowser promotes team/app:v1 from its page: into prod, whose
// policy wants a signature a trusted key made, the gates are shown failing
// before confirming and the promotion is refused; into stage, which wants
// an SBOM, it passes and the record shows on the promoted image.
func uiPromoteInBrowser(t *testing.T, tr *testRegistry, b *testbrowser.Browser, shots bool) {
	admin := auth.BasicAuthorization("admin", adminPassword)
	for _, call := range [][3]string{
		{"POST", "/api/v1/namespaces", `{"name":"prod"}`},
		{"POST", "/api/v1/namespaces", `{"name":"stage"}`},
		{"PUT", "/api/v1/namespaces/prod/promotion-policy", `{"gates":{"signature":true,"sbom":true}}`},
		{"PUT", "/api/v1/namespaces/stage/promotion-policy", `{"gates":{"sbom":true}}`},
	} {
		if r := tr.do(call[0], call[1], []byte(call[2]), "Authorization", admin, "Content-Type", "application/json"); r.status >= 300 {
			t.Fatalf("%s %s: %d %s", call[0], call[1], r.status, r.body)
		}
	}
	u := tr.srv.URL
	b.Do(
		chromedp.Navigate(u+"/r/team/app/-/tags/v1"),
		chromedp.SetValue(chromedp.CSS("#promote-target"), "prod/app:1.0"),
		chromedp.Click(chromedp.CSS(`[data-testid="promote"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="gates"]`)),
	)
	gates := b.Text(`[data-testid="gates"]`)
	if !strings.Contains(gates, "signature") || !strings.Contains(gates, "failed") || !strings.Contains(gates, "sbom") {
		t.Errorf("gates before promoting into prod: %q", gates)
	}
	if shots {
		screenshot(t, b, "promote")
	}
	b.Do(
		chromedp.Click(chromedp.CSS(`[data-testid="confirm-promote"]`)),
		chromedp.WaitVisible(chromedp.CSS(".problem")),
	)
	if got := b.Text(".problem"); !strings.Contains(got, "refused") || !strings.Contains(got, "signature") {
		t.Errorf("promoting into prod: %q", got)
	}
	if r := tr.do("GET", "/v2/prod/app/manifests/1.0", nil, "Authorization", admin); r.status != http.StatusNotFound {
		t.Errorf("prod/app:1.0 after the refused promotion: %d", r.status)
	}
	b.Do(
		chromedp.Navigate(u+"/r/team/app/-/tags/v1"),
		chromedp.SetValue(chromedp.CSS("#promote-target"), "stage/app:1.0"),
		chromedp.Click(chromedp.CSS(`[data-testid="promote"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="gates"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="confirm-promote"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="promotions"]`)),
	)
	if got := b.Text(".notice"); !strings.Contains(got, "Promoted to stage/app:1.0") {
		t.Errorf("after promoting into stage: %q", got)
	}
	if got := b.Text(`[data-testid="promotions"]`); !strings.Contains(got, "team/app@") || !strings.Contains(got, "stage/app:1.0") ||
		!strings.Contains(got, "by user:admin") || !strings.Contains(got, "sbom passed") {
		t.Errorf("the promotion record on the promoted image: %q", got)
	}

	// Into qa, which wants one approval by someone else: the promotion
	// waits, and another administrator approves it on the promotions page.
	for _, call := range [][3]string{
		{"POST", "/api/v1/namespaces", `{"name":"qa"}`},
		{"PUT", "/api/v1/namespaces/qa/promotion-policy", `{"gates":{"approvals":1}}`},
		{"POST", "/api/v1/users", `{"name":"boss","password":"boss-password","admin":true}`},
	} {
		if r := tr.do(call[0], call[1], []byte(call[2]), "Authorization", admin, "Content-Type", "application/json"); r.status >= 300 {
			t.Fatalf("%s %s: %d %s", call[0], call[1], r.status, r.body)
		}
	}
	b.Do(
		chromedp.Navigate(u+"/r/team/app/-/tags/v1"),
		chromedp.SetValue(chromedp.CSS("#promote-target"), "qa/app:1.0"),
		chromedp.Click(chromedp.CSS(`[data-testid="promote"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="gates"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="confirm-promote"]`)),
		chromedp.WaitVisible(chromedp.CSS(".notice")),
	)
	if got := b.Text(".notice"); !strings.Contains(got, "waits for approvals") {
		t.Errorf("promoting into qa: %q", got)
	}
	boss := newWebClient(t, tr)
	boss.signIn("boss", "boss-password")
	page := boss.get("/-/promotions", http.StatusOK)
	id := regexp.MustCompile(`data-testid="approve-(\d+)"`).FindStringSubmatch(page)
	if id == nil {
		t.Fatalf("no pending promotion on boss's promotions page:\n%s", page)
	}
	token := boss.csrf("/-/promotions")
	if done := string(boss.post("/-/promotions/"+id[1]+"/approve", url.Values{"csrf": {token}, "comment": {"ok"}}, http.StatusOK).body); !strings.Contains(done, "Approved and promoted") {
		t.Errorf("approving:\n%s", done)
	}
	if r := tr.do("GET", "/v2/qa/app/manifests/1.0", nil, "Authorization", admin); r.status != http.StatusOK {
		t.Errorf("qa/app:1.0 after the approval: %d", r.status)
	}

	// The policy verdict: would a pull from prod be allowed? prod enforces
	// signatures by a key it trusts, and trusts none.
	if r := tr.do("PUT", "/api/v1/namespaces/prod/image-policy", []byte(`{"requireSignature":{"mode":"enforce"}}`),
		"Authorization", admin, "Content-Type", "application/json"); r.status >= 300 {
		t.Fatalf("image policy: %d %s", r.status, r.body)
	}
	b.Do(chromedp.Navigate(u + "/r/team/app/-/tags/v1"))
	if got := b.Text(`[data-testid="verdict"]`); !strings.Contains(got, "allowed") || !strings.Contains(got, "team") {
		t.Errorf("the verdict of team's own policy: %q", got)
	}
	b.Do(
		chromedp.SetValue(chromedp.CSS("#policy-ns"), "prod"),
		chromedp.Click(chromedp.CSS(`[data-testid="check-policy"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#policy-ns[value="prod"]`)),
	)
	if got := b.Text(`[data-testid="verdict"]`); !strings.Contains(got, "refused") || !strings.Contains(got, "prod") {
		t.Errorf("would a pull from prod be allowed: %q", got)
	}
	if got := b.Text(`[data-testid="rules"]`); !strings.Contains(got, "require-signature") || !strings.Contains(got, "breaks it") {
		t.Errorf("prod's rules: %q", got)
	}

	// Signed with a key team trusts: the page says who signed, trusted.
	dv1 := digest.Digest(b.Text(`[data-testid="digest"]`))
	pub := cosignSign(t, tr, "team/app", dv1)
	if r := tr.do("PUT", "/api/v1/namespaces/team/trust", []byte(fmt.Sprintf(`{"keys":[{"name":"release-key","pem":%q}]}`, pub)),
		"Authorization", admin, "Content-Type", "application/json"); r.status >= 300 {
		t.Fatalf("key set: %d %s", r.status, r.body)
	}
	b.Do(chromedp.Navigate(u + "/r/team/app/-/tags/v1"))
	if got := b.Text(`[data-testid="signature-verdicts"]`); !strings.Contains(got, "key release-key") || !strings.Contains(got, "trusted") {
		t.Errorf("signature verdicts: %q", got)
	}
	if shots {
		b.Do(chromedp.ScrollIntoView(chromedp.CSS("#policy-h")))
		screenshot(t, b, "policy")
	}
}

// cosignSign signs image d of repo as cosign sign does by default (a
// simple-signing layer under the sha256-<hex>.sig tag) with a new key, and
// returns the public key's PEM.
func cosignSign(t *testing.T, tr *testRegistry, repo string, d digest.Digest) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	layer, err := trusttest.NewCosignLayer(key, trusttest.SimpleSigning(d))
	if err != nil {
		t.Fatal(err)
	}
	c := &client{tr: tr, user: "admin", secret: adminPassword}
	empty := []byte("{}")
	for _, bl := range [][]byte{empty, layer.Payload} {
		if s := c.pushBlob(repo, bl); s != http.StatusCreated {
			t.Fatalf("push blob: %d", s)
		}
	}
	ann, _ := json.Marshal(layer.Annotations)
	m := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":2},`+
		`"layers":[{"mediaType":"%s","digest":"%s","size":%d,"annotations":%s}]}`,
		digest.FromBytes(empty), trust.MediaTypeSimpleSigning, digest.FromBytes(layer.Payload), len(layer.Payload), ann))
	if r := c.do("PUT", "/v2/"+repo+"/manifests/"+trust.SignatureTag(d), m, "Content-Type", "application/vnd.oci.image.manifest.v1+json"); r.status != http.StatusCreated {
		t.Fatalf("push signature: %d %s", r.status, r.body)
	}
	pub, err := trusttest.PublicKeyPEM(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return string(pub)
}
