package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/httpapi/mgmt"
	"github.com/wharf-dev/wharf/internal/meta"
)

// received is one request a receiver got.
type received struct {
	at     time.Time
	header http.Header
	body   []byte
	status int // what the receiver answered
}

// receiver is a webhook receiver: answer decides the status of its nth
// request (from 1), and may block.
type receiver struct {
	srv    *httptest.Server
	answer func(n int, r *http.Request, body []byte) int

	mu  sync.Mutex
	got []received
}

func newReceiver(t *testing.T, answer func(n int, r *http.Request, body []byte) int) *receiver {
	rc := &receiver{answer: answer}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		n := len(rc.got) + 1
		rc.got = append(rc.got, received{at: time.Now(), header: r.Header.Clone(), body: body})
		rc.mu.Unlock()
		status := http.StatusNoContent
		if rc.answer != nil {
			status = rc.answer(n, r, body)
		}
		rc.mu.Lock()
		rc.got[n-1].status = status
		rc.mu.Unlock()
		w.WriteHeader(status)
		_, _ = fmt.Fprintf(w, "answer %d", n)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

// requests returns what the receiver got of kind (every kind if "").
func (rc *receiver) requests(kind events.Kind) []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []received
	for _, r := range rc.got {
		if kind == "" || r.header.Get(events.HeaderEventKind) == string(kind) {
			out = append(out, r)
		}
	}
	return out
}

// await waits until cond holds of what the receiver got.
func (rc *receiver) await(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			rc.mu.Lock()
			defer rc.mu.Unlock()
			for _, r := range rc.got {
				t.Logf("received %s %s attempt %s: %d", r.header.Get(events.HeaderEventKind), r.header.Get(events.HeaderEventID), r.header.Get(events.HeaderAttempt), r.status)
			}
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// webhookConfig lets webhooks reach loopback receivers and retry fast.
func webhookConfig(c *config.Config) {
	c.Events.Webhooks.AllowNetworks = "127.0.0.0/8"
	c.Events.Webhooks.Backoff = 100 * time.Millisecond
	c.Events.Webhooks.MaxBackoff = 800 * time.Millisecond
	c.Events.Webhooks.Timeout = time.Second
	c.Events.Webhooks.MaxAttempts = 6
}

// createWebhook creates a webhook as c and returns it, with its secret.
func (c *client) createWebhook(ns string, in mgmt.WebhookCreate) mgmt.Webhook {
	c.tr.t.Helper()
	path := "/api/v1/webhooks"
	if ns != "" {
		path = "/api/v1/namespaces/" + ns + "/webhooks"
	}
	var w mgmt.Webhook
	c.api("POST", path, in, &w, http.StatusCreated)
	if !strings.HasPrefix(w.Secret, events.SecretPrefix) {
		c.tr.t.Fatalf("created webhook without a secret: %+v", w)
	}
	return w
}

// TestWebhookRetries: a receiver that fails three times and then accepts
// gets the event four times, with the same event id, numbered attempts,
// growing waits between them and a valid signature each time; the delivery
// log says so.
func TestWebhookRetries(t *testing.T) {
	mainBackends(t, func(t *testing.T, b backend) {
		ar := newAuthRegistryOn(t, b, webhookConfig)
		admin := &client{tr: ar.testRegistry, user: "admin", secret: adminPassword}
		rc := newReceiver(t, func(n int, r *http.Request, _ []byte) int {
			if n <= 3 {
				return http.StatusServiceUnavailable
			}
			return http.StatusOK
		})
		hook := admin.createWebhook("", mgmt.WebhookCreate{Name: "ci", URL: rc.srv.URL + "/hook", Kinds: []string{"artifact.pushed"}})
		if s := admin.pushImage("team/app", "v1", []byte(`{"retry":1}`)); s != http.StatusCreated {
			t.Fatal(s)
		}
		rc.await(t, "four attempts", 10*time.Second, func() bool { return len(rc.requests("")) >= 4 })
		got := rc.requests("")
		if len(got) != 4 {
			t.Fatalf("%d requests, want 4", len(got))
		}
		id := got[0].header.Get(events.HeaderIdempotencyKey)
		for i, r := range got {
			h := r.header
			if h.Get(events.HeaderIdempotencyKey) != id || h.Get(events.HeaderEventID) != id || h.Get(events.HeaderAttempt) != fmt.Sprint(i+1) ||
				h.Get(events.HeaderEventKind) != "artifact.pushed" || h.Get("Content-Type") != events.CloudEventsContentType {
				t.Errorf("attempt %d headers: %v", i+1, h)
			}
			if err := events.Verify(hook.Secret, h.Get(events.HeaderTimestamp), h.Get(events.HeaderSignature), r.body, time.Now()); err != nil {
				t.Errorf("attempt %d signature: %v", i+1, err)
			}
			if i > 0 {
				// Backoff 100ms doubled each time, less up to half of it.
				least := (50 * time.Millisecond) << (i - 1)
				if gap := r.at.Sub(got[i-1].at); gap < least {
					t.Errorf("attempt %d came %s after the one before, want at least %s", i+1, gap, least)
				}
			}
		}
		var ce struct {
			Type string `json:"type"`
			Data struct {
				Repository string   `json:"repository"`
				Tags       []string `json:"tags"`
			} `json:"data"`
		}
		if err := json.Unmarshal(got[3].body, &ce); err != nil || ce.Type != "dev.wharf.artifact.pushed" || ce.Data.Repository != "team/app" || !slices.Equal(ce.Data.Tags, []string{"v1"}) {
			t.Errorf("payload %s: %v", got[3].body, err)
		}
		// The delivery log, once the success is recorded.
		var log mgmt.List[mgmt.Delivery]
		deadline := time.Now().Add(5 * time.Second)
		for {
			admin.api("GET", fmt.Sprintf("/api/v1/webhooks/%d/deliveries", hook.ID), nil, &log, http.StatusOK)
			if len(log.Items) == 1 && log.Items[0].State == "delivered" || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if len(log.Items) != 1 || log.Items[0].State != "delivered" || log.Items[0].Attempts != 4 || log.Items[0].Status != 200 || log.Items[0].EventID != id {
			t.Fatalf("delivery log: %+v", log.Items)
		}
		var one mgmt.Delivery
		admin.api("GET", fmt.Sprintf("/api/v1/webhooks/%d/deliveries/%d", hook.ID, log.Items[0].ID), nil, &one, http.StatusOK)
		var statuses []int
		for _, a := range one.AttemptList {
			statuses = append(statuses, a.Status)
		}
		if !slices.Equal(statuses, []int{503, 503, 503, 200}) || one.AttemptList[0].Response != "answer 1" || one.AttemptList[0].Error == "" {
			t.Errorf("attempts: %+v", one.AttemptList)
		}
		if got[0].header.Get(events.HeaderDelivery) != fmt.Sprint(one.ID) {
			t.Errorf("delivery header %q, log id %d", got[0].header.Get(events.HeaderDelivery), one.ID)
		}
	})
}

// TestWebhookDeadLetter: after its last attempt fails a delivery is dead,
// counted, and a redelivery sends the event again, with the same id.
func TestWebhookDeadLetter(t *testing.T) {
	ar := newAuthRegistry(t, func(c *config.Config) {
		webhookConfig(c)
		c.Events.Webhooks.MaxAttempts = 2
	})
	admin := &client{tr: ar.testRegistry, user: "admin", secret: adminPassword}
	var mu sync.Mutex
	down := true
	rc := newReceiver(t, func(int, *http.Request, []byte) int {
		mu.Lock()
		defer mu.Unlock()
		if down {
			return http.StatusInternalServerError
		}
		return http.StatusAccepted
	})
	hook := admin.createWebhook("", mgmt.WebhookCreate{Name: "ci", URL: rc.srv.URL, Kinds: []string{"artifact.pushed"}})
	if s := admin.pushImage("team/app", "v1", []byte(`{"dead":1}`)); s != http.StatusCreated {
		t.Fatal(s)
	}
	var dead mgmt.List[mgmt.Delivery]
	deadline := time.Now().Add(10 * time.Second)
	for len(dead.Items) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no dead delivery; the receiver got %d requests", len(rc.requests("")))
		}
		time.Sleep(20 * time.Millisecond)
		admin.api("GET", fmt.Sprintf("/api/v1/webhooks/%d/deliveries?state=dead", hook.ID), nil, &dead, http.StatusOK)
	}
	if len(rc.requests("")) != 2 || dead.Items[0].Attempts != 2 || dead.Items[0].Status != 500 {
		t.Fatalf("dead letter %+v after %d requests", dead.Items[0], len(rc.requests("")))
	}
	metricsHave := func(want ...string) bool {
		r := ar.do("GET", "/metrics", nil)
		for _, w := range want {
			if !strings.Contains(string(r.body), w) {
				return false
			}
		}
		return true
	}
	deadline = time.Now().Add(5 * time.Second)
	for !metricsHave(`wharf_webhook_deliveries_total{result="dead"} 1`, `wharf_webhook_deliveries_total{result="failed"} 1`, "wharf_webhook_dead_letters 1") {
		if time.Now().After(deadline) {
			t.Fatalf("metrics:\n%s", grepLines(string(ar.do("GET", "/metrics", nil).body), "wharf_webhook"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	down = false
	mu.Unlock()
	var again mgmt.Delivery
	admin.api("POST", fmt.Sprintf("/api/v1/webhooks/%d/deliveries/%d/redeliver", hook.ID, dead.Items[0].ID), nil, &again, http.StatusAccepted)
	rc.await(t, "the redelivery", 5*time.Second, func() bool { return len(rc.requests("")) == 3 })
	if r := rc.requests("")[2]; r.header.Get(events.HeaderEventID) != dead.Items[0].EventID || r.header.Get(events.HeaderDelivery) != fmt.Sprint(again.ID) {
		t.Errorf("redelivery headers %v", r.header)
	}
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestWebhookSlowReceiver: a receiver that never answers holds up neither
// pushes nor another webhook.
func TestWebhookSlowReceiver(t *testing.T) {
	ar := newAuthRegistry(t, webhookConfig)
	admin := &client{tr: ar.testRegistry, user: "admin", secret: adminPassword}
	release := make(chan struct{})
	hung := newReceiver(t, func(int, *http.Request, []byte) int {
		<-release
		return http.StatusOK
	})
	defer close(release)
	live := newReceiver(t, nil)
	admin.createWebhook("", mgmt.WebhookCreate{Name: "hung", URL: hung.srv.URL, Kinds: []string{"artifact.pushed"}})
	admin.createWebhook("", mgmt.WebhookCreate{Name: "live", URL: live.srv.URL, Kinds: []string{"artifact.pushed"}})
	start := time.Now()
	for i := range 6 {
		if s := admin.pushImage(fmt.Sprintf("team/app%d", i), "v1", fmt.Appendf(nil, `{"slow":%d}`, i)); s != http.StatusCreated {
			t.Fatal(s)
		}
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("six pushes took %s with a hung webhook", took)
	}
	live.await(t, "the live webhook's six deliveries", 5*time.Second, func() bool { return len(live.requests("")) == 6 })
	hung.await(t, "the hung webhook's first request", 5*time.Second, func() bool { return len(hung.requests("")) > 0 })
	time.Sleep(200 * time.Millisecond) // room for requests beyond its concurrency, were any sent
	if n := len(hung.requests("")); n > 4 {
		t.Errorf("the hung webhook got %d requests at once; want at most 4 (its concurrency)", n)
	}
}

// TestWebhookOrderPerRepository: while a repository's delivery waits for
// a retry, later events of that repository wait behind it, and other
// repositories' are delivered.
func TestWebhookOrderPerRepository(t *testing.T) {
	ar := newAuthRegistry(t, func(c *config.Config) {
		webhookConfig(c)
		c.Events.Webhooks.Backoff, c.Events.Webhooks.MaxBackoff = 2*time.Second, 4*time.Second // team/b is dispatched meanwhile
	})
	admin := &client{tr: ar.testRegistry, user: "admin", secret: adminPassword}
	failedOnce := false
	var mu sync.Mutex
	rc := newReceiver(t, func(_ int, _ *http.Request, body []byte) int {
		mu.Lock()
		defer mu.Unlock()
		if strings.Contains(string(body), `"team/a"`) && !failedOnce {
			failedOnce = true
			return http.StatusBadGateway
		}
		return http.StatusOK
	})
	admin.createWebhook("", mgmt.WebhookCreate{Name: "ci", URL: rc.srv.URL, Kinds: []string{"artifact.pushed"}, Format: "distribution"})
	for _, p := range []struct{ repo, tag string }{{"team/a", "1"}, {"team/b", "1"}, {"team/a", "2"}} {
		if s := admin.pushImage(p.repo, p.tag, []byte(`{"`+p.repo+p.tag+`":1}`)); s != http.StatusCreated {
			t.Fatal(s)
		}
	}
	rc.await(t, "four requests", 10*time.Second, func() bool { return len(rc.requests("")) == 4 })
	var order []string
	for _, r := range rc.requests("") {
		var env struct {
			Events []struct {
				Target struct{ Repository, Tag string }
			}
		}
		if err := json.Unmarshal(r.body, &env); err != nil || len(env.Events) != 1 {
			t.Fatalf("envelope %s: %v", r.body, err)
		}
		order = append(order, fmt.Sprintf("%s:%s=%d", env.Events[0].Target.Repository, env.Events[0].Target.Tag, r.status))
	}
	// team/b goes while team/a:1 waits; team/a:2 only after team/a:1.
	ia1, ia1ok, ia2, ib := slices.Index(order, "team/a:1=502"), slices.Index(order, "team/a:1=200"), slices.Index(order, "team/a:2=200"), slices.Index(order, "team/b:1=200")
	if ia1 < 0 || ia1ok < ia1 || ia2 < ia1ok || ib < 0 || ib > ia1ok {
		t.Errorf("delivery order %v", order)
	}
}

// TestWebhookManagement: who manages which webhook, what is refused
// (targets the server may not reach, filters that cannot match), that a
// secret is shown once, pings, and what a namespace's webhook is sent.
func TestWebhookManagement(t *testing.T) {
	ar := newAuthRegistry(t, webhookConfig)
	ar.user("lead", false)
	ar.user("dev", false)
	ar.namespace("team", false, map[string]auth.Role{"lead": auth.RoleAdmin, "dev": auth.RoleDeveloper})
	ar.namespace("ops", false, nil)
	admin := &client{tr: ar.testRegistry, user: "admin", secret: adminPassword}
	lead := &client{tr: ar.testRegistry, user: "lead", secret: "lead-pw"}
	dev := &client{tr: ar.testRegistry, user: "dev", secret: "dev-pw"}
	rc := newReceiver(t, nil)

	// Who may manage what.
	lead.api("POST", "/api/v1/webhooks", mgmt.WebhookCreate{Name: "x", URL: rc.srv.URL}, nil, http.StatusForbidden)
	dev.api("POST", "/api/v1/namespaces/team/webhooks", mgmt.WebhookCreate{Name: "x", URL: rc.srv.URL}, nil, http.StatusForbidden)
	lead.api("POST", "/api/v1/namespaces/ops/webhooks", mgmt.WebhookCreate{Name: "x", URL: rc.srv.URL}, nil, http.StatusNotFound)
	teamHook := lead.createWebhook("team", mgmt.WebhookCreate{Name: "team-ci", URL: rc.srv.URL, Format: "harbor", Repositories: []string{"team/**"}})
	sysHook := admin.createWebhook("", mgmt.WebhookCreate{Name: "audit", URL: rc.srv.URL, Kinds: []string{"namespace.created", "policy.changed"}})
	lead.api("GET", fmt.Sprintf("/api/v1/webhooks/%d", sysHook.ID), nil, nil, http.StatusNotFound)
	dev.api("GET", fmt.Sprintf("/api/v1/webhooks/%d", teamHook.ID), nil, nil, http.StatusForbidden)
	var got mgmt.Webhook
	lead.api("GET", fmt.Sprintf("/api/v1/webhooks/%d", teamHook.ID), nil, &got, http.StatusOK)
	var list mgmt.List[mgmt.Webhook]
	admin.api("GET", "/api/v1/webhooks?all=true", nil, &list, http.StatusOK)
	if got.Secret != "" || len(list.Items) != 2 || list.Items[0].Secret != "" || list.Items[1].Secret != "" {
		t.Errorf("a secret shown again: %+v, %+v", got, list.Items)
	}
	if r := admin.do("GET", "/api/v1/webhooks?all=true", nil); strings.Contains(string(r.body), teamHook.Secret) {
		t.Errorf("the secret is in a listing: %s", r.body)
	}

	// Refused settings, each with the reason.
	for _, tc := range []struct {
		in   mgmt.WebhookCreate
		want string
	}{
		{mgmt.WebhookCreate{Name: "k", URL: rc.srv.URL, Kinds: []string{"artifact.pushd"}}, "not an event kind"},
		{mgmt.WebhookCreate{Name: "f", URL: rc.srv.URL, Format: "harbor", Kinds: []string{"login.failed"}}, "has no login.failed events"},
		{mgmt.WebhookCreate{Name: "r", URL: rc.srv.URL, Repositories: []string{"ops/**"}}, "outside namespace team"},
		{mgmt.WebhookCreate{Name: "u", URL: "ftp://example.com/"}, "scheme"},
		{mgmt.WebhookCreate{Name: "", URL: rc.srv.URL}, "name"},
	} {
		r := lead.do("POST", "/api/v1/namespaces/team/webhooks", webhookJSON(tc.in), "Content-Type", "application/json")
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), tc.want) {
			t.Errorf("%+v: %d %s, want 400 saying %q", tc.in, r.status, r.body, tc.want)
		}
	}
	lead.api("POST", "/api/v1/namespaces/team/webhooks", mgmt.WebhookCreate{Name: "team-ci", URL: rc.srv.URL}, nil, http.StatusConflict)

	// A ping, logged; a new secret signs from then on.
	var ping mgmt.Delivery
	lead.api("POST", fmt.Sprintf("/api/v1/webhooks/%d/ping", teamHook.ID), nil, &ping, http.StatusOK)
	if ping.State != "delivered" || ping.Kind != "webhook.ping" || ping.Status != http.StatusNoContent {
		t.Errorf("ping: %+v", ping)
	}
	pings := rc.requests(events.KindPing)
	if len(pings) != 1 || !strings.Contains(string(pings[0].body), `"type":"PING"`) {
		t.Fatalf("pings received: %+v", pings)
	}
	var secret mgmt.WebhookSecret
	lead.api("POST", fmt.Sprintf("/api/v1/webhooks/%d/secret", teamHook.ID), nil, &secret, http.StatusOK)
	lead.api("POST", fmt.Sprintf("/api/v1/webhooks/%d/ping", teamHook.ID), nil, nil, http.StatusOK)
	last := rc.requests(events.KindPing)[1]
	if secret.Secret == teamHook.Secret || events.Verify(secret.Secret, last.header.Get(events.HeaderTimestamp), last.header.Get(events.HeaderSignature), last.body, time.Now()) != nil {
		t.Error("the new secret does not sign")
	}

	// The namespace's webhook gets team's pushes, in Harbor's format, and
	// not ops's; the system-wide one gets the namespace and policy events.
	if s := dev.pushImage("team/app", "v1", []byte(`{"m":1}`)); s != http.StatusCreated {
		t.Fatal(s)
	}
	if s := admin.pushImage("ops/app", "v1", []byte(`{"m":2}`)); s != http.StatusCreated {
		t.Fatal(s)
	}
	admin.api("PUT", "/api/v1/namespaces/ops/quota", mgmt.QuotaPut{LimitBytes: 1 << 30}, nil, http.StatusOK)
	rc.await(t, "team's push and ops's quota", 5*time.Second, func() bool {
		return len(rc.requests(events.KindArtifactPushed)) >= 1 && len(rc.requests(events.KindPolicyChanged)) >= 1
	})
	time.Sleep(300 * time.Millisecond) // anything else would have come by now
	pushes := rc.requests(events.KindArtifactPushed)
	if len(pushes) != 1 || pushes[0].header.Get("Content-Type") != "application/json" ||
		!strings.Contains(string(pushes[0].body), `"type":"PUSH_ARTIFACT"`) || !strings.Contains(string(pushes[0].body), `"repo_full_name":"team/app"`) {
		t.Errorf("pushes received: %d, first %s", len(pushes), pushes[0].body)
	}
	if n := len(rc.requests(events.KindPolicyChanged)); n != 1 {
		t.Errorf("policy events received: %d", n)
	}
	// Disabled, it gets nothing; deleted, it is gone with its log.
	off := false
	lead.api("PATCH", fmt.Sprintf("/api/v1/webhooks/%d", teamHook.ID), mgmt.WebhookUpdate{Enabled: &off}, &got, http.StatusOK)
	if got.Enabled || got.Secret != "" {
		t.Errorf("disabled: %+v", got)
	}
	if s := dev.pushImage("team/app", "v2", []byte(`{"m":3}`)); s != http.StatusCreated {
		t.Fatal(s)
	}
	time.Sleep(500 * time.Millisecond)
	if n := len(rc.requests(events.KindArtifactPushed)); n != 1 {
		t.Errorf("a disabled webhook got %d pushes", n)
	}
	lead.api("DELETE", fmt.Sprintf("/api/v1/webhooks/%d", teamHook.ID), nil, nil, http.StatusNoContent)
	lead.api("GET", fmt.Sprintf("/api/v1/webhooks/%d/deliveries", teamHook.ID), nil, nil, http.StatusNotFound)
	// The changes are audited, without the secret.
	ev := ar.auditEvents(meta.AuditQuery{Action: "webhook.create", Result: "ok"}, 2)
	if len(ev) != 2 || ev[0].Actor != "user:admin" {
		t.Errorf("audit of webhook changes: %+v", ev)
	}
	for _, e := range ar.streamOf() {
		if b, _ := json.Marshal(e.Data); strings.Contains(string(b), "whsec_") {
			t.Errorf("a secret in event %s: %s", e.Kind(), b)
		}
	}
}

func webhookJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// TestWebhookTargetsRefused: by default a webhook may not target this host,
// link-local addresses (cloud metadata) or private networks, by address or
// by a name that resolves to one; one created while allowed is refused at
// connect time once the allowance is gone.
func TestWebhookTargetsRefused(t *testing.T) {
	ar := newAuthRegistry(t, nil)
	admin := &client{tr: ar.testRegistry, user: "admin", secret: adminPassword}
	for _, url := range []string{"http://127.0.0.1:9/", "http://localhost:9/", "http://[::1]:9/", "http://169.254.169.254/latest/meta-data/",
		"http://10.0.0.5/", "http://192.168.1.10/", "http://[fd00:ec2::254]/"} {
		r := admin.do("POST", "/api/v1/webhooks", webhookJSON(mgmt.WebhookCreate{Name: "x", URL: url}), "Content-Type", "application/json")
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "allowNetworks") {
			t.Errorf("%s: %d %s", url, r.status, r.body)
		}
	}

	// Allowed, created, then refused where it counts.
	cfg := newConfig(t, backends(t)[0])
	cfg.Auth.Enabled, cfg.Auth.BcryptCost, cfg.AdminPassword = true, 4, adminPassword
	webhookConfig(&cfg)
	cfg.Resolve()
	rc := newReceiver(t, nil)
	tr := openTestRegistry(t, cfg)
	c := &client{tr: tr, user: "admin", secret: adminPassword}
	hook := c.createWebhook("", mgmt.WebhookCreate{Name: "local", URL: strings.Replace(rc.srv.URL, "127.0.0.1", "localhost", 1)})
	var ping mgmt.Delivery
	c.api("POST", fmt.Sprintf("/api/v1/webhooks/%d/ping", hook.ID), nil, &ping, http.StatusOK)
	if ping.State != "delivered" {
		t.Fatalf("ping while allowed: %+v", ping)
	}
	tr.close()
	cfg.Events.Webhooks.AllowNetworks = ""
	tr = openTestRegistry(t, cfg)
	c = &client{tr: tr, user: "admin", secret: adminPassword}
	c.api("POST", fmt.Sprintf("/api/v1/webhooks/%d/ping", hook.ID), nil, &ping, http.StatusOK)
	if ping.State != "dead" || !strings.Contains(ping.Error, "refused") || len(rc.requests("")) != 1 {
		t.Errorf("ping once refused: %+v after %d requests", ping, len(rc.requests("")))
	}
}
