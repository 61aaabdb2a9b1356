package server_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/meta"
)

// TestUIActivity: the activity feed and the charts show each visitor what
// their roles allow and nothing else (a private namespace's events are
// neither listed nor counted in a chart); hostile text in events is
// rendered inert; the feed's filters refuse bad input.
func TestUIActivity(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			cfg := newConfig(t, b)
			cfg.Auth.Enabled = true
			cfg.Auth.BcryptCost = 4
			cfg.AdminPassword = adminPassword
			uiActivity(t, openTestRegistry(t, cfg))
		})
	}
}

// pushesShown reads the total of the pushes chart on page.
var pushesShown = regexp.MustCompile(`Pushes per day <span class="muted">\((\d+) in all\)`)

func uiActivity(t *testing.T, tr *testRegistry) {
	admin := auth.BasicAuthorization("admin", adminPassword)
	api := func(method, path, body string, status int) {
		t.Helper()
		if r := tr.do(method, path, []byte(body), "Authorization", admin, "Content-Type", "application/json"); r.status != status {
			t.Fatalf("%s %s: %d, want %d: %s", method, path, r.status, status, r.body)
		}
	}
	api("POST", "/api/v1/users", `{"name":"rita","password":"rita-password"}`, 201)
	api("POST", "/api/v1/users", `{"name":"max","password":"max-password"}`, 201)
	api("POST", "/api/v1/namespaces", `{"name":"team"}`, 201)
	api("POST", "/api/v1/namespaces", `{"name":"secret"}`, 201)
	api("POST", "/api/v1/namespaces", `{"name":"pub","public":true}`, 201)
	api("PUT", "/api/v1/namespaces/team/members/rita", `{"role":"readonly"}`, 200)
	pushHostile(t, tr, "admin", adminPassword, "team/app", "v1")      // three pushes (the image, an SBOM, a signature), and a fourth below
	pushHostile(t, tr, "admin", adminPassword, "secret/hidden", "v1") // three more, rita's to neither see nor count
	pushHostile(t, tr, "admin", adminPassword, "secret/hidden", "v2")
	pushHostile(t, tr, "admin", adminPassword, "pub/tool", "latest")

	// Events whose every field a visitor may read holds hostile text, as
	// a newer replica or a hostile signer could write them.
	ctx := events.WithActor(context.Background(), events.Actor{Name: "user:" + hostile})
	d := digest.FromString("x")
	err := tr.s.MetaStore().Update(context.Background(), func(tx meta.Tx) error {
		return events.Append(context.Background(), tx,
			events.New(ctx, "team/app", &events.TagDeleted{Tag: hostile, Digest: d, Reason: hostile}),
			events.New(ctx, "team/app", &events.SignatureVerified{Digest: d, Tag: hostile, Signer: hostile, Reason: hostile}),
			events.New(ctx, "team/app", &events.ScanCompleted{Digest: d, Status: "failed", Error: hostile}),
			events.New(ctx, "team/app", &events.ArtifactPromoted{Digest: d, From: hostile, FromTag: hostile, Tags: []string{hostile}}),
			events.New(ctx, "", &events.MemberSet{User: hostile, Role: hostile}).InNamespace("team"),
		)
	})
	if err != nil {
		t.Fatal(err)
	}
	// And a repository name no push could give (names are checked), as a
	// record written by another writer of the stream could hold.
	rec, err := events.Records(events.New(ctx, "team/app", &events.ArtifactPushed{Digest: d, Tags: []string{"v9"}}))
	if err != nil {
		t.Fatal(err)
	}
	rec[0].Repository = "team/" + hostile
	if err := tr.s.MetaStore().Update(context.Background(), func(tx meta.Tx) error { return tx.AppendEvents(context.Background(), rec...) }); err != nil {
		t.Fatal(err)
	}

	rita := newWebClient(t, tr)
	rita.signIn("rita", "rita-password")
	feed := rita.get("/ns/team/-/activity", http.StatusOK)
	noScript(t, "the namespace's feed", feed)
	if !strings.Contains(feed, "&lt;script&gt;window.__xss=1") || !strings.Contains(feed, `href="/r/team/%22%3E%3Cscript%3E`) {
		t.Errorf("rita's feed of team does not show the hostile events' text and repository (escaped)")
	}
	for _, want := range []string{`data-testid="feed"`, `href="/r/team/app/-/tags/v1"`, ">admin</span> pushed", "scanned", "checked the signature of"} {
		if !strings.Contains(feed, want) {
			t.Errorf("rita's feed of team lacks %q:\n%s", want, feed)
		}
	}
	for _, unwanted := range []string{"secret", "member.put", "127.0.0.1"} {
		if strings.Contains(feed, unwanted) {
			t.Errorf("rita's feed of team shows %q", unwanted)
		}
	}
	rita.get("/ns/secret/-/activity", http.StatusNotFound)
	rita.get("/-/activity", http.StatusForbidden)
	rita.get("/ns/team/-/activity?kind=member.set", http.StatusBadRequest)
	rita.get("/ns/team/-/activity?repository=secret/hidden", http.StatusBadRequest)
	noScript(t, "a bad kind", rita.get("/ns/team/-/activity?kind="+strings.ReplaceAll(hostile, " ", "+"), http.StatusBadRequest))
	rita.get("/ns/team/-/activity?before=x", http.StatusBadRequest)
	if only := rita.get("/ns/team/-/activity?kind=artifact.pushed", http.StatusOK); strings.Contains(only, "scanned") {
		t.Errorf("the feed filtered to pushes shows a scan")
	}
	ns := rita.get("/ns/team", http.StatusOK)
	noScript(t, "the namespace page", ns)
	if m := pushesShown.FindStringSubmatch(ns); m == nil || m[1] != "4" {
		t.Errorf("rita's chart of team's pushes: %q; want 4 (team's, not secret's)", m)
	}
	for _, want := range []string{`data-testid="feed"`, `data-testid="chart-ns-pushes"`, `data-testid="chart-ns-storage"`, `<desc id="ns-pulls-d">`, "<table"} {
		if !strings.Contains(ns, want) {
			t.Errorf("rita's page of team lacks %q", want)
		}
	}
	repo := rita.get("/r/team/app", http.StatusOK)
	noScript(t, "the repository page", repo)
	if !strings.Contains(repo, `data-testid="chart-repo-pushes"`) || !strings.Contains(repo, `data-testid="repo-activity"`) {
		t.Errorf("the repository page lacks its chart or feed")
	}

	// Someone who sees only the public namespace.
	maxc := newWebClient(t, tr)
	maxc.signIn("max", "max-password")
	maxc.get("/ns/team/-/activity", http.StatusNotFound)
	if pub := maxc.get("/ns/pub/-/activity", http.StatusOK); !strings.Contains(pub, "pub/tool") || strings.Contains(pub, "team/app") {
		t.Errorf("max's feed of pub:\n%s", pub)
	}

	// Anonymous visitors are asked to sign in, and see no feed on pages.
	anon := newWebClient(t, tr)
	anon.get("/ns/pub/-/activity", http.StatusSeeOther)
	anon.get("/-/activity", http.StatusSeeOther)
	if pub := anon.get("/ns/pub", http.StatusOK); strings.Contains(pub, `data-testid="feed"`) {
		t.Errorf("an anonymous visitor sees the feed of pub")
	}

	// The system administrator: everything, the namespace's own events
	// too, and the registry's charts.
	adm := newWebClient(t, tr)
	adm.signIn("admin", adminPassword)
	all := adm.get("/-/activity", http.StatusOK)
	noScript(t, "the registry's feed", all)
	if m := pushesShown.FindStringSubmatch(all); m == nil || m[1] != "13" {
		t.Errorf("the registry's chart of pushes: %q; want 13", m)
	}
	for _, want := range []string{"secret/hidden", "pub/tool", `data-testid="chart-all-storage"`, `data-testid="chart-ns-top-storage"`} {
		if !strings.Contains(all, want) {
			t.Errorf("the registry's feed lacks %q", want)
		}
	}
	if team := adm.get("/ns/team/-/activity", http.StatusOK); !strings.Contains(team, "member.put") {
		t.Errorf("the administrator's feed of team lacks the member's event")
	}
}

// TestUIActivityWithoutAccessControl: on a laptop the local administrator
// reads the registry's feed and charts and a namespace's, whose namespace
// has no record (pushes create none without access control); a request
// from elsewhere is refused.
func TestUIActivityWithoutAccessControl(t *testing.T) {
	tr := openTestRegistry(t, newConfig(t, backend{name: "fs+sqlite", configure: func(*testing.T, *config.Config) {}}))
	pushHostile(t, tr, "", "", "team/app", "v1")
	if err := tr.s.RunJob(context.Background(), "storage-metrics"); err != nil {
		t.Fatal(err)
	}
	c := newWebClient(t, tr)
	all := c.get("/-/activity", http.StatusOK)
	if m := pushesShown.FindStringSubmatch(all); m == nil || m[1] != "3" || !strings.Contains(all, `href="/r/team/app/-/tags/v1"`) {
		t.Errorf("the registry's feed and charts (pushes %q):\n%s", m, all)
	}
	ns := c.get("/ns/team", http.StatusOK)
	if !strings.Contains(ns, `data-testid="chart-ns-storage"`) || strings.Contains(ns, "No storage counted yet") || !strings.Contains(ns, `data-testid="feed"`) {
		t.Errorf("the namespace page's charts and feed:\n%s", ns)
	}
	c.get("/ns/team/-/activity", http.StatusOK)
	if r := c.do("GET", "/-/activity", nil, "X-Forwarded-For", "203.0.113.9"); r.status != http.StatusForbidden {
		t.Errorf("the feed to a forwarded request: %d", r.status)
	}
}
