package server_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/testbrowser"
	"github.com/wharf-dev/wharf/internal/trust/trusttest"
)

// uiOpsInBrowser drives the administration pages in Chromium, signed in
// as the administrator: create a webhook to a receiver on loopback and see
// its secret once, ping it and find the ping in the delivery log; create a
// replication rule with a password that is never shown back and run it;
// add a key to team's key set and enforce a rule of its image policy; read
// a pull-through cache's upstream. Every field of these pages has a label.
func uiOpsInBrowser(t *testing.T, tr *testRegistry, b *testbrowser.Browser, shots bool) {
	admin := auth.BasicAuthorization("admin", adminPassword)
	u := tr.srv.URL
	labelled := func(page string) {
		t.Helper()
		if n := testbrowser.Eval[int](b, `[...document.querySelectorAll("main input:not([type=hidden]), main select, main textarea")].filter(e => e.labels.length == 0).length`); n != 0 {
			t.Errorf("%s: %d fields without a label", page, n)
		}
	}

	// notice waits for the page's notice to say want: a click's new page
	// replaces the old one, whose notice may still be there.
	notice := func(want string) string {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			got := testbrowser.Eval[string](b, `(document.querySelector(".notice") || {}).textContent || ""`)
			if strings.Contains(got, want) {
				return got
			}
			if time.Now().After(deadline) {
				t.Fatalf("no notice %q: %q", want, b.Text("main"))
			}
		}
	}

	// A webhook: its secret once, a ping in the delivery log.
	rc := newReceiver(t, nil)
	b.Do(
		chromedp.Navigate(u+"/-/admin"),
		chromedp.Click(chromedp.CSS(`[data-testid="admin-webhooks"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="webhook-form"]`)),
	)
	labelled("the webhooks page")
	b.Do(
		chromedp.SetValue(chromedp.CSS("#wh-name"), "ci"),
		chromedp.SetValue(chromedp.CSS("#wh-url"), rc.srv.URL+"/hook"),
		chromedp.SetValue(chromedp.CSS("#wh-repos"), "team/*"),
		chromedp.Click(chromedp.CSS(`input[name="kinds"][value="artifact.pushed"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="create-webhook"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="webhook-secret"]`)),
	)
	secret := b.Text(`[data-testid="webhook-secret"]`)
	if len(secret) < 20 {
		t.Fatalf("webhook secret %q", secret)
	}
	b.Do(chromedp.Click(chromedp.CSS(`[data-testid="ping"]`)))
	notice("Ping sent: delivered, the receiver answered 204")
	if got := b.Text(`[data-testid="deliveries"]`); !strings.Contains(got, "webhook.ping") || !strings.Contains(got, "delivered") || !strings.Contains(got, "204") {
		t.Errorf("the delivery log: %q", got)
	}
	if main := b.Text("main"); strings.Contains(main, secret) {
		t.Errorf("the webhook's page shows the secret again after the ping")
	}
	if n := len(rc.requests(events.KindPing)); n != 1 {
		t.Errorf("the receiver got %d pings, want 1", n)
	}
	if shots {
		screenshot(t, b, "webhook")
	}
	// A webhook whose name holds script, listed and opened: the script
	// does not run.
	if r := tr.do("POST", "/api/v1/webhooks", []byte(`{"name":"\"><img src=x onerror=\"window.__xss=3\">","url":"`+rc.srv.URL+`"}`),
		"Authorization", admin, "Content-Type", "application/json"); r.status != http.StatusCreated {
		t.Fatalf("hostile webhook: %d %s", r.status, r.body)
	}
	b.Do(chromedp.Navigate(u+"/-/webhooks"), chromedp.Click(chromedp.CSS(`[data-testid="webhooks"] tbody tr:first-child a`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="webhook"]`)))
	if !testbrowser.Eval[bool](b, "window.__xss === undefined") || !strings.Contains(b.Text("h1"), "onerror") {
		t.Errorf("a webhook's hostile name: script ran, or the name is not shown (%q)", b.Text("h1"))
	}

	// A replication rule to a second registry, with a password, run now.
	remote := newTestRegistry(t, backend{name: "fs+sqlite", configure: func(*testing.T, *config.Config) {}})
	b.Do(
		chromedp.Navigate(u+"/-/admin"),
		chromedp.Click(chromedp.CSS(`[data-testid="admin-replication"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="rule-form"]`)),
	)
	labelled("the replication page")
	b.Do(
		chromedp.SetValue(chromedp.CSS("#rule-name"), "to-dr"),
		chromedp.SetValue(chromedp.CSS("#rule-url"), remote.srv.URL),
		chromedp.SetValue(chromedp.CSS("#rule-user"), "robot"),
		chromedp.SetValue(chromedp.CSS("#rule-password"), "s3cret-pa55word"),
		chromedp.SetValue(chromedp.CSS("#rule-repos"), "team/app"),
		chromedp.SetValue(chromedp.CSS("#rule-tags"), "v1"),
		chromedp.SetValue(chromedp.CSS("#rule-mappings"), "team => dr/team"),
		chromedp.Click(chromedp.CSS(`[data-testid="create-rule"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="rule"]`)),
	)
	if got := b.Text(`[data-testid="rule"]`); !strings.Contains(got, "robot (password set)") {
		t.Errorf("the rule: %q", got)
	}
	if html := testbrowser.Eval[string](b, "document.documentElement.outerHTML"); strings.Contains(html, "s3cret-pa55word") {
		t.Errorf("the rule's page holds its password")
	}
	b.Do(chromedp.Click(chromedp.CSS(`[data-testid="run-now"]`)))
	run := regexp.MustCompile(`Run (\d+) of to-dr is queued`).FindStringSubmatch(notice("is queued"))
	if run == nil {
		t.Fatalf("run now: %q", b.Text("main"))
	}
	var state struct{ State, Error string }
	for deadline := time.Now().Add(30 * time.Second); state.State != "succeeded"; time.Sleep(50 * time.Millisecond) {
		r := tr.do("GET", "/api/v1/replication/runs/"+run[1], nil, "Authorization", admin)
		_ = json.Unmarshal(r.body, &state)
		if time.Now().After(deadline) || state.State == "failed" {
			t.Fatalf("the run did not succeed: %+v", state)
		}
	}
	b.Do(chromedp.Navigate(u + "/-/replication/runs/" + run[1]))
	if got := b.Text(`[data-testid="run-log"]`); !strings.Contains(got, "team/app:v1") || !strings.Contains(got, "dr/team/app:v1") || !strings.Contains(got, "copied") {
		t.Errorf("the run's log: %q", got)
	}
	if shots {
		screenshot(t, b, "replication-run")
		b.Do(chromedp.Navigate(u + "/-/replication"))
		screenshot(t, b, "replication")
	}

	// team's key set: a key added; its image policy: require-signature
	// enforced.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := trusttest.PublicKeyPEM(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	b.Do(
		chromedp.Navigate(u+"/ns/team"),
		chromedp.Click(chromedp.CSS(`[data-testid="trust-settings"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="key-form"]`)),
	)
	labelled("the trust page")
	b.Do(
		chromedp.SetValue(chromedp.CSS("#key-name"), "ci-key"),
		chromedp.SetValue(chromedp.CSS("#key-pem"), string(pub)),
		chromedp.Click(chromedp.CSS(`[data-testid="add-key"]`)),
	)
	notice("Key ci-key is trusted in team")
	if got := b.Text(`[data-testid="keys"]`); !strings.Contains(got, "ci-key") || !strings.Contains(got, "release-key") {
		t.Errorf("the key set after adding ci-key: %q", got)
	}
	b.Do(
		chromedp.SetValue(chromedp.CSS("#mode-require_sbom"), "warn"),
		chromedp.Click(chromedp.CSS(`[data-testid="save-policy"]`)),
	)
	notice("The image policy of team is saved")
	var ks struct {
		KeySet struct{ Keys []struct{ Name string } }
	}
	_ = json.Unmarshal(tr.do("GET", "/api/v1/namespaces/team/trust", nil, "Authorization", admin).body, &ks)
	if len(ks.KeySet.Keys) != 2 {
		t.Errorf("team's key set through the API: %+v", ks)
	}
	var ip struct {
		Policy struct{ RequireSBOM struct{ Mode string } }
	}
	_ = json.Unmarshal(tr.do("GET", "/api/v1/namespaces/team/image-policy", nil, "Authorization", admin).body, &ip)
	if ip.Policy.RequireSBOM.Mode != "warn" {
		t.Errorf("team's image policy through the API: %+v", ip)
	}
	if shots {
		screenshot(t, b, "trust")
	}

	// A pull-through cache's upstream.
	if r := tr.do("POST", "/api/v1/namespaces", []byte(`{"name":"hub","kind":"proxy","public":true,"upstream":{"url":"https://registry.example"}}`),
		"Authorization", admin, "Content-Type", "application/json"); r.status != http.StatusCreated {
		t.Fatalf("proxy namespace: %d %s", r.status, r.body)
	}
	b.Do(
		chromedp.Navigate(u+"/ns/hub"),
		chromedp.Click(chromedp.CSS(`[data-testid="upstream-link"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="upstream-form"]`)),
	)
	labelled("the upstream page")
	if got := b.Text(`[data-testid="upstream"]`); !strings.Contains(got, "https://registry.example") {
		t.Errorf("the upstream: %q", got)
	}
	if shots {
		screenshot(t, b, "upstream")
	}
}

// TestUIOperationsWithoutJavaScript creates a webhook, pings it and
// creates and runs a replication rule with script turned off, on a
// registry without access control (the local administrator); then every
// administration page fits a phone-sized screen.
func TestUIOperationsWithoutJavaScript(t *testing.T) {
	testbrowser.Require(t)
	cfg := newConfig(t, backend{name: "fs+sqlite", configure: func(*testing.T, *config.Config) {}})
	opsConfig(t, &cfg)
	tr := openTestRegistry(t, cfg)
	pushHostile(t, tr, "", "", "team/app", "v1")
	remote := newTestRegistry(t, backend{name: "fs+sqlite", configure: func(*testing.T, *config.Config) {}})
	rc := newReceiver(t, nil)
	u := tr.srv.URL
	b := testbrowser.Start(t)
	b.Do(call(emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}))

	b.Do(
		chromedp.Navigate(u+"/-/webhooks"),
		chromedp.SetValue(chromedp.CSS("#wh-name"), "ci"),
		chromedp.SetValue(chromedp.CSS("#wh-url"), rc.srv.URL),
		chromedp.Click(chromedp.CSS(`input[name="kinds"][value="tag.deleted"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="create-webhook"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="webhook-secret"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="ping"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="deliveries"]`)),
	)
	if got := b.Text(`[data-testid="deliveries"]`); !strings.Contains(got, "webhook.ping") || !strings.Contains(got, "204") {
		t.Errorf("the delivery log without script: %q", got)
	}
	webhook := b.Location()
	b.Do(
		chromedp.Navigate(u+"/-/replication"),
		chromedp.SetValue(chromedp.CSS("#rule-name"), "to-dr"),
		chromedp.SetValue(chromedp.CSS("#rule-url"), remote.srv.URL),
		chromedp.SetValue(chromedp.CSS("#rule-repos"), "team/**"),
		chromedp.Click(chromedp.CSS(`[data-testid="create-rule"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="rule"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="run-now"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="replication-runs"]`)),
	)
	if got := b.Text("main"); !strings.Contains(got, "Run 1 of to-dr is queued") {
		t.Errorf("run now without script: %q", got)
	}
	rule := b.Location()

	// On a phone, with script: no page is wider than the screen.
	k := testbrowser.Start(t)
	k.Do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	for _, page := range []string{webhook, rule, u + "/-/replication", u + "/-/webhooks", u + "/-/replication/runs/1", u + "/-/admin", u + "/ns/team/-/trust"} {
		k.Do(chromedp.Navigate(page))
		if w := testbrowser.Eval[int](k, "document.documentElement.scrollWidth"); w > 390 {
			t.Errorf("%s is %d px wide on a 390 px screen: %s", page, w, testbrowser.Eval[string](k,
				`[...document.querySelectorAll("main *")].filter(e => e.getBoundingClientRect().right > 390).slice(-3).map(e => e.outerHTML.slice(0, 120)).join(" | ")`))
		}
	}
}
