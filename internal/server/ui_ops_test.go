package server_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/trust/trusttest"
)

// The administration pages over HTTP: webhooks with their delivery log,
// replication rules and runs, pull-through caches' upstreams, trust
// settings and the health section, on every backend. Each page is read
// and each form posted by who may, and refused to a read-only member, to
// a namespace admin where system administrators decide, and to a forged
// form without the session's token; hostile names and URLs stay text.

// opsFixture is a registry with access control and the people the tests
// act as: the administrator, nadia who administers namespace team, and
// rita who may only read it.
type opsFixture struct {
	tr                 *testRegistry
	api                func(method, path, body string, status int) response
	admin, nadia, rita *webClient
}

func newOpsFixture(t *testing.T, b backend) *opsFixture {
	cfg := newConfig(t, b)
	cfg.Auth.Enabled = true
	cfg.Auth.BcryptCost = 4
	cfg.AdminPassword = adminPassword
	cfg.Scanning.Enabled = true
	opsConfig(t, &cfg)
	tr := openTestRegistry(t, cfg)
	admin := auth.BasicAuthorization("admin", adminPassword)
	f := &opsFixture{tr: tr}
	f.api = func(method, path, body string, status int) response {
		t.Helper()
		r := tr.do(method, path, []byte(body), "Authorization", admin, "Content-Type", "application/json")
		if r.status != status {
			t.Fatalf("%s %s: %d, want %d: %s", method, path, r.status, status, r.body)
		}
		return r
	}
	f.api("POST", "/api/v1/users", `{"name":"nadia","password":"nadia-password"}`, 201)
	f.api("POST", "/api/v1/users", `{"name":"rita","password":"rita-password"}`, 201)
	f.api("POST", "/api/v1/namespaces", `{"name":"team"}`, 201)
	f.api("PUT", "/api/v1/namespaces/team/members/nadia", `{"role":"admin"}`, 200)
	f.api("PUT", "/api/v1/namespaces/team/members/rita", `{"role":"readonly"}`, 200)
	f.admin, f.nadia, f.rita = newWebClient(t, tr), newWebClient(t, tr), newWebClient(t, tr)
	f.admin.signIn("admin", adminPassword)
	f.nadia.signIn("nadia", "nadia-password")
	f.rita.signIn("rita", "rita-password")
	return f
}

// opsConfig lets webhooks reach receivers on loopback, gives sealed
// passwords a key (PostgreSQL needs one; the same for both), and runs
// replication soon after it is asked.
func opsConfig(t *testing.T, cfg *config.Config) {
	webhookConfig(cfg)
	keyFile := filepath.Join(t.TempDir(), "credentials.key")
	if err := os.WriteFile(keyFile, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Replication.CredentialsKeyFile, cfg.Proxy.CredentialsKeyFile = keyFile, keyFile
	cfg.Replication.PollInterval = 100 * time.Millisecond
}

// TestUIOperations runs the administration pages' tests on every backend.
func TestUIOperations(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			f := newOpsFixture(t, b)
			t.Run("webhooks", func(t *testing.T) { uiWebhooks(t, f) })
			t.Run("health", func(t *testing.T) { uiHealth(t, f) })
			t.Run("trust", func(t *testing.T) { uiTrust(t, f) })
			t.Run("replication", func(t *testing.T) { uiReplication(t, f) })
			t.Run("upstream", func(t *testing.T) { uiUpstream(t, f) })
		})
	}
}

var (
	webhookSecretRE = regexp.MustCompile(`data-testid="webhook-secret">([^<]+)<`)
	webhookLinkRE   = regexp.MustCompile(`action="/-/webhooks/(\d+)/ping"`)
)

func uiWebhooks(t *testing.T, f *opsFixture) {
	rc := newReceiver(t, func(n int, r *http.Request, body []byte) int {
		if n == 1 {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	})
	// A namespace admin creates a webhook of team: the secret is shown
	// once, with the webhook.
	token := f.nadia.csrf("/ns/team/-/webhooks")
	form := url.Values{"csrf": {token}, "name": {hostile}, "url": {rc.srv.URL + "/hook?x=" + url.QueryEscape(hostile)}, "format": {"cloudevents"},
		"repositories": {"team/*"}, "kinds": {"artifact.pushed", "tag.deleted"}, "enabled": {"1"}}
	bad := f.nadia.post("/ns/team/-/webhooks", form, http.StatusBadRequest)
	noScript(t, "a refused webhook", string(bad.body))
	if !strings.Contains(string(bad.body), "name must be") {
		t.Errorf("the refusal of a hostile name does not say why:\n%s", bad.body)
	}
	form.Set("name", "ci")
	created := string(f.nadia.post("/ns/team/-/webhooks", form, http.StatusCreated).body)
	noScript(t, "the new webhook's page", created)
	secret := webhookSecretRE.FindStringSubmatch(created)
	id := webhookLinkRE.FindStringSubmatch(created)
	if secret == nil || id == nil || len(secret[1]) < 20 {
		t.Fatalf("the new webhook's page shows no secret or link:\n%s", created)
	}
	hook := "/-/webhooks/" + id[1]
	page := f.nadia.get(hook, http.StatusOK)
	noScript(t, "the webhook's page", page)
	if strings.Contains(page, secret[1]) || !strings.Contains(page, "artifact.pushed, tag.deleted") {
		t.Errorf("the webhook's page shows the secret again, or not its kinds:\n%s", page)
	}
	list := f.nadia.get("/ns/team/-/webhooks", http.StatusOK)
	if strings.Contains(list, secret[1]) || !strings.Contains(list, `href="`+hook+`"`) {
		t.Errorf("the webhooks list shows the secret, or not the webhook")
	}

	// A ping: the receiver answers 500, then 204; both are in the log
	// with their status, and the first with its response.
	for i, want := range []string{"Ping sent: dead, the receiver answered 500", "Ping sent: delivered, the receiver answered 204"} {
		if got := string(f.nadia.post(hook+"/ping", url.Values{"csrf": {token}}, http.StatusOK).body); !strings.Contains(got, want) {
			t.Errorf("ping %d: want %q:\n%s", i+1, want, got)
		}
	}
	if n := len(rc.requests(events.KindPing)); n != 2 {
		t.Fatalf("the receiver got %d pings, want 2", n)
	}
	log := f.nadia.get(hook, http.StatusOK)
	for _, want := range []string{"webhook.ping", "failed (dead letter)", ">500<", ">204<", "answer 1", "delivered"} {
		if !strings.Contains(log, want) {
			t.Errorf("the delivery log lacks %q", want)
		}
	}
	if dead := f.nadia.get(hook+"?state=dead", http.StatusOK); strings.Contains(dead, ">204<") || !strings.Contains(dead, ">500<") {
		t.Errorf("the log filtered by state dead:\n%s", dead)
	}
	var deliveries struct {
		Items []struct {
			ID     int64
			Status int
		}
	}
	_ = json.Unmarshal(f.api("GET", "/api/v1/webhooks/"+id[1]+"/deliveries", "", 200).body, &deliveries)
	if len(deliveries.Items) != 2 {
		t.Fatalf("deliveries through the API: %+v", deliveries)
	}
	first := "/-/webhooks/" + id[1] + "/deliveries/" + strconv.FormatInt(deliveries.Items[1].ID, 10)
	if got := f.nadia.get(first, http.StatusOK); !strings.Contains(got, `data-testid="attempts"`) || !strings.Contains(got, "answer 1") {
		t.Errorf("the delivery's attempts:\n%s", got)
	}
	// A ping is not redelivered: the refusal says what to do instead.
	if got := string(f.nadia.post(first+"/redeliver", url.Values{"csrf": {token}}, http.StatusBadRequest).body); !strings.Contains(got, "ping the webhook again") {
		t.Errorf("redelivering a ping:\n%s", got)
	}

	// Disable, enable, a new secret (shown once), settings saved.
	if got := string(f.nadia.post(hook+"/disable", url.Values{"csrf": {token}}, http.StatusOK).body); !strings.Contains(got, "is disabled") || !strings.Contains(got, `data-testid="enable"`) {
		t.Errorf("disabling:\n%s", got)
	}
	f.nadia.post(hook+"/enable", url.Values{"csrf": {token}}, http.StatusOK)
	rotated := webhookSecretRE.FindStringSubmatch(string(f.nadia.post(hook+"/secret", url.Values{"csrf": {token}}, http.StatusOK).body))
	if rotated == nil || rotated[1] == secret[1] {
		t.Errorf("a new secret: %v", rotated)
	}
	form.Set("format", "harbor")
	form.Del("kinds")
	if got := string(f.nadia.post(hook+"/update", form, http.StatusOK).body); !strings.Contains(got, "Harbor") || !strings.Contains(got, "every kind the format has") {
		t.Errorf("saving the settings:\n%s", got)
	}
	var hooks struct{ Items []struct{ Format string } }
	_ = json.Unmarshal(f.api("GET", "/api/v1/namespaces/team/webhooks", "", 200).body, &hooks)
	if len(hooks.Items) != 1 || hooks.Items[0].Format != "harbor" {
		t.Errorf("the webhook through the API after the change: %+v", hooks)
	}

	// A target the server may not reach (not in allowNetworks) is refused
	// in words.
	form.Set("url", "http://10.1.2.3/hook")
	if got := string(f.nadia.post(hook+"/update", form, http.StatusBadRequest).body); !strings.Contains(got, "url") {
		t.Errorf("a private target:\n%s", got)
	}

	// The read-only member: no page, no change, no ping; a forged form
	// without the token is refused too; the system-wide page is the
	// administrators'.
	f.rita.get("/ns/team/-/webhooks", http.StatusForbidden)
	f.rita.get(hook, http.StatusForbidden)
	rt := f.rita.csrf("/-/account")
	f.rita.post(hook+"/ping", url.Values{"csrf": {rt}}, http.StatusForbidden)
	f.rita.post(hook+"/delete", url.Values{"csrf": {rt}}, http.StatusForbidden)
	f.rita.post("/ns/team/-/webhooks", url.Values{"csrf": {rt}, "name": {"x"}, "url": {rc.srv.URL}}, http.StatusForbidden)
	f.nadia.post(hook+"/delete", url.Values{}, http.StatusForbidden)
	f.nadia.post(hook+"/delete", url.Values{"csrf": {"00"}}, http.StatusForbidden)
	f.nadia.get("/-/webhooks", http.StatusForbidden)
	f.nadia.post("/-/webhooks", url.Values{"csrf": {token}, "name": {"x"}, "url": {rc.srv.URL}}, http.StatusForbidden)
	newWebClient(t, f.tr).get(hook, http.StatusSeeOther) // anonymous: sign in first
	f.api("GET", "/api/v1/webhooks/"+id[1], "", 200)     // still there

	// The administrator's system-wide page lists the namespaces' webhooks;
	// a system-wide webhook is not found for a namespace admin.
	at := f.admin.csrf("/-/webhooks")
	if got := f.admin.get("/-/webhooks", http.StatusOK); !strings.Contains(got, `data-testid="namespace-webhooks"`) || !strings.Contains(got, ">ci<") {
		t.Errorf("the system-wide page lacks team's webhook:\n%s", got)
	}
	sys := string(f.admin.post("/-/webhooks", url.Values{"csrf": {at}, "name": {"audit"}, "url": {rc.srv.URL}, "format": {"distribution"}, "enabled": {"1"}}, http.StatusCreated).body)
	sysID := webhookLinkRE.FindStringSubmatch(sys)
	if sysID == nil {
		t.Fatalf("no system-wide webhook:\n%s", sys)
	}
	f.nadia.get("/-/webhooks/"+sysID[1], http.StatusNotFound)
	f.nadia.post("/-/webhooks/"+sysID[1]+"/ping", url.Values{"csrf": {token}}, http.StatusNotFound)

	// A hostile name short enough to be stored is shown as text.
	short := `"><script>window.__xss=1</script>`
	stored := string(f.admin.post("/-/webhooks", url.Values{"csrf": {at}, "name": {short}, "url": {rc.srv.URL + "/?q=" + url.QueryEscape(short)}, "enabled": {"1"}}, http.StatusCreated).body)
	noScript(t, "a webhook with a hostile name", stored)
	noScript(t, "the webhooks with a hostile name", f.admin.get("/-/webhooks", http.StatusOK))
	if !strings.Contains(stored, "&lt;script&gt;window.__xss=1&lt;/script&gt;") {
		t.Errorf("the hostile name is not shown as text")
	}

	// Deleting: gone from the list and the API.
	if got := string(f.nadia.post(hook+"/delete", url.Values{"csrf": {token}}, http.StatusOK).body); !strings.Contains(got, "Webhook ci deleted") {
		t.Errorf("deleting:\n%s", got)
	}
	f.api("GET", "/api/v1/webhooks/"+id[1], "", 404)
}

// uiHealth: the administration page's health section lists the
// background jobs with their last runs, and the scheduled collection.
func uiHealth(t *testing.T, f *opsFixture) {
	var page string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		page = f.admin.get("/-/admin", http.StatusOK)
		if strings.Contains(page, "<td>webhooks</td>") && strings.Contains(page, "runs here") || time.Now().After(deadline) {
			break
		}
	}
	for _, want := range []string{`data-testid="jobs"`, "<td>gc</td>", "<td>webhooks</td>", "<td>expire-uploads</td>", "runs here", "Scheduled garbage collection", "Vulnerability data", `href="/-/webhooks"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the administration page lacks %q", want)
		}
	}
	f.nadia.get("/-/admin", http.StatusForbidden)
}

// uiTrust edits team's key set, image policy and allowlist as its admin,
// and is refused as its read-only member, who sees the settings without a
// form.
func uiTrust(t *testing.T, f *opsFixture) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := trusttest.PublicKeyPEM(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	// The read-only member sees the settings, and no form.
	page := f.rita.get("/ns/team/-/trust", http.StatusOK)
	if !strings.Contains(page, `data-testid="no-keys"`) || strings.Contains(page, "<form class=\"card") || strings.Contains(page, "/-/trust/keys") {
		t.Errorf("the read-only member's trust page:\n%s", page)
	}
	newWebClient(t, f.tr).get("/ns/team/-/trust", http.StatusNotFound)
	rt := f.rita.csrf("/-/account")
	f.rita.post("/ns/team/-/trust/keys", url.Values{"csrf": {rt}, "name": {"k"}, "pem": {string(pub)}}, http.StatusForbidden)
	f.rita.post("/ns/team/-/image-policy", url.Values{"csrf": {rt}, "require_signature": {"off"}}, http.StatusForbidden)
	f.rita.post("/ns/team/-/allowlist", url.Values{"csrf": {rt}, "id": {"CVE-2026-1"}, "reason": {"x"}}, http.StatusForbidden)
	f.api("GET", "/api/v1/namespaces/team/trust", "", 404)

	// The admin adds a key: a hostile name or a bad key is refused in
	// words and changes nothing; a good one is trusted.
	token := f.nadia.csrf("/ns/team/-/trust")
	f.nadia.post("/ns/team/-/trust/keys", url.Values{"name": {"k"}, "pem": {string(pub)}}, http.StatusForbidden)
	bad := string(f.nadia.post("/ns/team/-/trust/keys", url.Values{"csrf": {token}, "name": {hostile}, "pem": {string(pub)}}, http.StatusBadRequest).body)
	noScript(t, "a refused key", bad)
	if !strings.Contains(bad, "a key&#39;s name is letters") {
		t.Errorf("the refusal of a hostile key name:\n%s", bad)
	}
	if bad := string(f.nadia.post("/ns/team/-/trust/keys", url.Values{"csrf": {token}, "name": {"k"}, "pem": {"not a key"}}, http.StatusBadRequest).body); !strings.Contains(bad, "keys[0] (k)") {
		t.Errorf("the refusal of a bad key:\n%s", bad)
	}
	f.api("GET", "/api/v1/namespaces/team/trust", "", 404)
	page = string(f.nadia.post("/ns/team/-/trust/keys", url.Values{"csrf": {token}, "version": {"0"}, "name": {"release"}, "pem": {string(pub)}}, http.StatusOK).body)
	if !strings.Contains(page, "Key release is trusted in team") || !strings.Contains(page, `data-testid="remove-key-release"`) {
		t.Errorf("after adding a key:\n%s", page)
	}
	var ks struct {
		KeySet  struct{ Keys []struct{ Name string } }
		Version int64
	}
	_ = json.Unmarshal(f.api("GET", "/api/v1/namespaces/team/trust", "", 200).body, &ks)
	if len(ks.KeySet.Keys) != 1 || ks.KeySet.Keys[0].Name != "release" {
		t.Fatalf("the key set through the API: %+v", ks)
	}
	f.nadia.post("/ns/team/-/trust/keys", url.Values{"csrf": {token}, "name": {"release"}, "pem": {string(pub)}}, http.StatusConflict)
	// A form of a page loaded before another change is refused.
	if got := string(f.nadia.post("/ns/team/-/trust/keys", url.Values{"csrf": {token}, "version": {"0"}, "name": {"other"}, "pem": {string(pub)}}, http.StatusConflict).body); !strings.Contains(got, "changed since this page was loaded") {
		t.Errorf("a stale form:\n%s", got)
	}
	if got := string(f.nadia.post("/ns/team/-/trust/identities", url.Values{"csrf": {token}, "subject": {"a@example.com"}, "issuer": {"https://issuer.example"}}, http.StatusBadRequest).body); !strings.Contains(got, "trusted root") {
		t.Errorf("an identity without a trusted root:\n%s", got)
	}
	if got := f.rita.get("/ns/team/-/trust", http.StatusOK); !strings.Contains(got, "release") || strings.Contains(got, "remove-key-release") {
		t.Errorf("the read-only member's view of the key: %v", strings.Contains(got, "release"))
	}

	// The image policy: each rule's mode; a mode that is none is refused.
	if got := string(f.nadia.post("/ns/team/-/image-policy", url.Values{"csrf": {token}, "require_signature": {"bogus"}}, http.StatusBadRequest).body); !strings.Contains(got, "requireSignature.mode") {
		t.Errorf("a bad mode:\n%s", got)
	}
	f.nadia.post("/ns/team/-/image-policy", url.Values{"csrf": {token}, "require_signature": {"enforce"}, "vulnerabilities": {"warn"}, "severity": {"high"},
		"require_scan": {"off"}, "require_sbom": {"warn"}, "ignore_unfixed": {"1"}}, http.StatusOK)
	var ip struct {
		Policy struct {
			RequireSignature, RequireSBOM struct{ Mode string }
			Vulnerabilities               struct {
				Mode, Severity string
				IgnoreUnfixed  bool
			}
		}
	}
	_ = json.Unmarshal(f.api("GET", "/api/v1/namespaces/team/image-policy", "", 200).body, &ip)
	if ip.Policy.RequireSignature.Mode != "enforce" || ip.Policy.Vulnerabilities.Mode != "warn" || ip.Policy.Vulnerabilities.Severity != "high" ||
		!ip.Policy.Vulnerabilities.IgnoreUnfixed || ip.Policy.RequireSBOM.Mode != "warn" {
		t.Errorf("the image policy through the API: %+v", ip)
	}
	if got := f.rita.get("/ns/team/-/trust", http.StatusOK); !strings.Contains(got, `data-testid="mode-require_signature">enforce<`) {
		t.Errorf("the read-only member does not see the enforced rule")
	}

	// The allowlist, with an expiry and a reason.
	bad = string(f.nadia.post("/ns/team/-/allowlist", url.Values{"csrf": {token}, "id": {hostile}, "reason": {"x"}}, http.StatusBadRequest).body)
	noScript(t, "a refused allowlist entry", bad)
	f.nadia.post("/ns/team/-/allowlist", url.Values{"csrf": {token}, "id": {"CVE-2026-1"}, "reason": {"not reachable"}, "expires": {"2099-01-31"}}, http.StatusOK)
	var al struct {
		Items []struct {
			ID, Reason, Expires string
		}
	}
	_ = json.Unmarshal(f.api("GET", "/api/v1/namespaces/team/allowlist", "", 200).body, &al)
	if len(al.Items) != 1 || al.Items[0].Reason != "not reachable" || al.Items[0].Expires != "2099-02-01T00:00:00Z" {
		t.Errorf("the allowlist through the API: %+v", al)
	}
	f.nadia.post("/ns/team/-/allowlist/CVE-2026-1/remove", url.Values{"csrf": {token}}, http.StatusOK)
	f.nadia.post("/ns/team/-/allowlist/CVE-2026-1/remove", url.Values{"csrf": {token}}, http.StatusNotFound)

	// Removing the last key removes the key set. The changes are in the
	// audit log as the API's.
	f.nadia.post("/ns/team/-/trust/keys/release/remove", url.Values{"csrf": {token}}, http.StatusOK)
	f.api("GET", "/api/v1/namespaces/team/trust", "", 404)
	var audit struct {
		Items []struct{ Actor, Action, Result string }
	}
	_ = json.Unmarshal(f.api("GET", "/api/v1/audit?target=team", "", 200).body, &audit)
	seen := map[string]bool{}
	for _, e := range audit.Items {
		seen[e.Actor+" "+e.Action+" "+e.Result] = true
	}
	for _, want := range []string{"user:nadia trust.set ok", "user:nadia image-policy.set ok", "user:nadia allowlist.add ok", "user:nadia trust.delete ok"} {
		if !seen[want] {
			t.Errorf("the audit log lacks %q: %v", want, seen)
		}
	}
}

// uiReplication creates a push rule to a second registry with a password,
// which is never shown back, edits it, runs it and reads the run's log;
// a namespace admin is refused every page and form.
func uiReplication(t *testing.T, f *opsFixture) {
	remote := newTestRegistry(t, backend{name: "fs+sqlite", configure: func(*testing.T, *config.Config) {}})
	pushHostile(t, f.tr, "admin", adminPassword, "team/app", "v1")
	token := f.admin.csrf("/-/replication")
	form := url.Values{"csrf": {token}, "name": {"to-dr"}, "direction": {"push"}, "url": {remote.srv.URL}, "username": {"robot"},
		"password": {"s3cret-pa55word"}, "repositories": {"team/**"}, "tags": {"v*"}, "mappings": {"team => dr/team"}, "enabled": {"1"}}
	form.Set("name", hostile)
	bad := string(f.admin.post("/-/replication/rules", form, http.StatusBadRequest).body)
	noScript(t, "a refused rule", bad)
	if !strings.Contains(bad, "name: ") || strings.Contains(bad, "s3cret-pa55word") {
		t.Errorf("the refusal of a hostile name:\n%s", bad)
	}
	form.Set("name", "to-dr")
	form.Set("mappings", "team -> dr")
	if bad := string(f.admin.post("/-/replication/rules", form, http.StatusBadRequest).body); !strings.Contains(bad, "FROM =&gt; TO") {
		t.Errorf("a bad mapping:\n%s", bad)
	}
	form.Set("mappings", "team => dr/team")
	form.Set("url", "https://robot:hunter2-secret@dr.example")
	if bad := string(f.admin.post("/-/replication/rules", form, http.StatusBadRequest).body); strings.Contains(bad, "hunter2-secret") || !strings.Contains(bad, "holds credentials") {
		t.Errorf("a remote URL with credentials is echoed, or not refused in words:\n%s", bad)
	}
	form.Set("url", remote.srv.URL)
	created := string(f.admin.post("/-/replication/rules", form, http.StatusCreated).body)
	if strings.Contains(created, "s3cret-pa55word") || !strings.Contains(created, "robot (password set)") {
		t.Errorf("the new rule's page shows the password, or not that one is set:\n%s", created)
	}
	m := regexp.MustCompile(`action="/-/replication/rules/(\d+)/run"`).FindStringSubmatch(created)
	if m == nil {
		t.Fatalf("no run button on the new rule's page:\n%s", created)
	}
	rule := "/-/replication/rules/" + m[1]

	// Edited without typing the password: it is kept (the API says so).
	form.Set("password", "")
	form.Set("tags", "v1")
	f.admin.post(rule+"/update", form, http.StatusOK)
	var got struct {
		Tags   []string
		Remote struct{ HasPassword bool }
	}
	_ = json.Unmarshal(f.api("GET", "/api/v1/replication/rules/"+m[1], "", 200).body, &got)
	if !got.Remote.HasPassword || len(got.Tags) != 1 || got.Tags[0] != "v1" {
		t.Errorf("the rule after the edit: %+v", got)
	}
	// The remote's password only goes to the remote: a run against it
	// without auth works anyway, so remove it, then run.
	form.Set("clear_password", "1")
	f.admin.post(rule+"/update", form, http.StatusOK)
	_ = json.Unmarshal(f.api("GET", "/api/v1/replication/rules/"+m[1], "", 200).body, &got)
	if got.Remote.HasPassword {
		t.Errorf("the password was not removed")
	}
	page := string(f.admin.post(rule+"/run", url.Values{"csrf": {token}}, http.StatusOK).body)
	run := regexp.MustCompile(`Run (\d+) of to-dr is queued`).FindStringSubmatch(page)
	if run == nil {
		t.Fatalf("running the rule:\n%s", page)
	}
	var state struct{ State string }
	for deadline := time.Now().Add(30 * time.Second); state.State != "succeeded"; time.Sleep(50 * time.Millisecond) {
		_ = json.Unmarshal(f.api("GET", "/api/v1/replication/runs/"+run[1], "", 200).body, &state)
		if time.Now().After(deadline) {
			t.Fatalf("the run did not succeed: %+v", state)
		}
	}
	log := f.admin.get("/-/replication/runs/"+run[1], http.StatusOK)
	noScript(t, "the run's log", log)
	for _, want := range []string{`data-testid="run-log"`, "team/app:v1", "dr/team/app:v1", "copied", "1 copied"} {
		if !strings.Contains(log, want) {
			t.Errorf("the run's page lacks %q:\n%s", want, log)
		}
	}
	if r := remote.do("GET", "/v2/dr/team/app/manifests/v1", nil); r.status != http.StatusOK {
		t.Errorf("the copy at the remote: %d", r.status)
	}
	if list := f.admin.get("/-/replication", http.StatusOK); !strings.Contains(list, `href="/-/replication/runs/`+run[1]+`"`) || !strings.Contains(list, ">to-dr<") {
		t.Errorf("the replication page lacks the rule or the run")
	}

	// Not a system administrator: refused, and nothing changes.
	nt := f.nadia.csrf("/ns/team/-/trust")
	f.nadia.get("/-/replication", http.StatusForbidden)
	f.nadia.get(rule, http.StatusForbidden)
	f.nadia.get("/-/replication/runs/"+run[1], http.StatusForbidden)
	f.nadia.post(rule+"/run", url.Values{"csrf": {nt}}, http.StatusForbidden)
	f.nadia.post(rule+"/delete", url.Values{"csrf": {nt}}, http.StatusForbidden)
	f.nadia.post("/-/replication/rules", form, http.StatusForbidden)
	f.admin.post(rule+"/delete", url.Values{}, http.StatusForbidden)
	f.api("GET", "/api/v1/replication/rules/"+m[1], "", 200)

	if got := string(f.admin.post(rule+"/delete", url.Values{"csrf": {token}}, http.StatusOK).body); !strings.Contains(got, "to-dr deleted") {
		t.Errorf("deleting the rule:\n%s", got)
	}
	f.api("GET", "/api/v1/replication/rules/"+m[1], "", 404)
}

// uiUpstream: a proxy namespace's admin reads its upstream; a system
// administrator sets it, with a password never shown back; a failing
// upstream's health says why.
func uiUpstream(t *testing.T, f *opsFixture) {
	up := newTestRegistry(t, backend{name: "fs+sqlite", configure: func(*testing.T, *config.Config) {}})
	f.api("POST", "/api/v1/namespaces", `{"name":"hub","kind":"proxy","public":true,"upstream":{"url":"`+up.srv.URL+`"}}`, 201)
	f.api("PUT", "/api/v1/namespaces/hub/members/nadia", `{"role":"admin"}`, 200)
	if ns := f.nadia.get("/ns/hub", http.StatusOK); !strings.Contains(ns, `href="/ns/hub/-/upstream"`) {
		t.Errorf("the proxy namespace's page does not link to its upstream")
	}
	page := f.nadia.get("/ns/hub/-/upstream", http.StatusOK)
	if !strings.Contains(page, up.srv.URL) || !strings.Contains(page, "available") || strings.Contains(page, `data-testid="upstream-form"`) {
		t.Errorf("the namespace admin's upstream page:\n%s", page)
	}
	nt := f.nadia.csrf("/ns/hub/-/upstream")
	f.nadia.post("/ns/hub/-/upstream", url.Values{"csrf": {nt}, "url": {"https://evil.example"}}, http.StatusForbidden)
	f.rita.get("/ns/hub/-/upstream", http.StatusForbidden)
	f.admin.get("/ns/team/-/upstream", http.StatusNotFound) // not a proxy namespace

	at := f.admin.csrf("/ns/hub/-/upstream")
	f.admin.post("/ns/hub/-/upstream", url.Values{"url": {up.srv.URL}}, http.StatusForbidden)
	bad := string(f.admin.post("/ns/hub/-/upstream", url.Values{"csrf": {at}, "url": {"https://user:pa55w0rd@upstream.example"}}, http.StatusBadRequest).body)
	if strings.Contains(bad, "pa55w0rd") || !strings.Contains(bad, "holds credentials") {
		t.Errorf("a URL with credentials:\n%s", bad)
	}
	noScript(t, "a hostile upstream URL", string(f.admin.post("/ns/hub/-/upstream", url.Values{"csrf": {at}, "url": {hostile}}, http.StatusBadRequest).body))
	f.admin.post("/ns/hub/-/upstream", url.Values{"csrf": {at}, "url": {up.srv.URL}, "tag_check_interval": {"soon"}}, http.StatusBadRequest)
	saved := string(f.admin.post("/ns/hub/-/upstream", url.Values{"csrf": {at}, "url": {up.srv.URL}, "username": {"puller"}, "password": {"t0ken-s3cret"},
		"tag_check_interval": {"1h"}}, http.StatusOK).body)
	if strings.Contains(saved, "t0ken-s3cret") || !strings.Contains(saved, "puller (password set)") || !strings.Contains(saved, "1h0m0s") {
		t.Errorf("after setting the upstream:\n%s", saved)
	}
	var u struct {
		Username    string
		HasPassword bool
	}
	f.admin.post("/ns/hub/-/upstream", url.Values{"csrf": {at}, "url": {up.srv.URL}, "username": {"puller"}, "tag_check_interval": {"1h"}}, http.StatusOK)
	_ = json.Unmarshal(f.api("GET", "/api/v1/namespaces/hub/upstream", "", 200).body, &u)
	if u.Username != "puller" || !u.HasPassword {
		t.Errorf("the password was not kept: %+v", u)
	}
	f.admin.post("/ns/hub/-/upstream", url.Values{"csrf": {at}, "url": {up.srv.URL}, "clear_password": {"1"}}, http.StatusOK)
	_ = json.Unmarshal(f.api("GET", "/api/v1/namespaces/hub/upstream", "", 200).body, &u)
	if u.HasPassword {
		t.Errorf("the password was not removed: %+v", u)
	}

	// An upstream that is down: a pull through the cache fails, and the
	// page says since when and why.
	down := up.srv.URL
	up.close()
	f.admin.post("/ns/hub/-/upstream", url.Values{"csrf": {at}, "url": {down}}, http.StatusOK)
	f.tr.do("GET", "/v2/hub/library/alpine/manifests/latest", nil, "Authorization", auth.BasicAuthorization("admin", adminPassword))
	if got := f.admin.get("/ns/hub/-/upstream", http.StatusOK); !strings.Contains(got, "failing") {
		t.Errorf("the health of an upstream that is down:\n%s", got)
	}
}
