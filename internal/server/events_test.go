package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/httpapi/mgmt"
	"github.com/wharf-dev/wharf/internal/meta"
)

// mainBackends are the two combinations the event stream must work on:
// the laptop's (fs+sqlite) and the cluster's (s3+postgres), when this
// machine runs the latter.
func mainBackends(t *testing.T, fn func(t *testing.T, b backend)) {
	for _, b := range backends(t) {
		if b.name == "fs+sqlite" || b.name == "s3+postgres" {
			t.Run(b.name, func(t *testing.T) { fn(t, b) })
		}
	}
}

// streamOf returns every event of the registry's stream, oldest first,
// decoded.
func (ar *authRegistry) streamOf() []events.Event {
	ar.t.Helper()
	rd := ar.store.(meta.EventReader)
	var out []events.Event
	for before := int64(0); ; {
		recs, err := rd.Events(context.Background(), meta.EventQuery{BeforeSeq: before, N: 1000})
		if err != nil {
			ar.t.Fatal(err)
		}
		for _, r := range recs {
			e, err := events.Decode(r)
			if err != nil {
				ar.t.Fatal(err)
			}
			out = append(out, e)
		}
		if len(recs) < 1000 {
			break
		}
		before = recs[len(recs)-1].Seq
	}
	slices.Reverse(out)
	return out
}

// kindCounts counts the events of each kind, leaving out logins (a test's
// clients log in as they go).
func kindCounts(es []events.Event) map[events.Kind]int {
	out := map[events.Kind]int{}
	for _, e := range es {
		if k := e.Kind(); k != events.KindLoginSucceeded {
			out[k]++
		}
	}
	return out
}

// of returns the events of kind k.
func of(es []events.Event, k events.Kind) []events.Event {
	var out []events.Event
	for _, e := range es {
		if e.Kind() == k {
			out = append(out, e)
		}
	}
	return out
}

// api calls the management API as c and decodes the answer into out.
func (c *client) api(method, path string, in, out any, wantStatus int) {
	c.tr.t.Helper()
	var body []byte
	if in != nil {
		body, _ = json.Marshal(in)
	}
	r := c.do(method, path, body, "Content-Type", "application/json")
	if r.status != wantStatus {
		c.tr.t.Fatalf("%s %s: %d, want %d: %s", method, path, r.status, wantStatus, r.body)
	}
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			c.tr.t.Fatalf("%s %s: %v: %s", method, path, err, r.body)
		}
	}
}

// TestEventsExactlyOnce makes one change of each kind the registry
// records, through its APIs, and checks that the stream holds each event
// once, with what a subscriber needs, and nothing for the refused ones,
// whose transactions rolled back.
func TestEventsExactlyOnce(t *testing.T) {
	mainBackends(t, func(t *testing.T, b backend) {
		ar := newAuthRegistryOn(t, b, func(c *config.Config) {
			c.GC.ReleasedGrace, c.GC.UnreferencedGrace = 0, 0
			c.Events.QuotaWarningPercent = 50
		})
		ar.user("reader", false)
		ar.namespace("team", false, map[string]auth.Role{"reader": auth.RoleReadonly})
		admin := &client{tr: ar.testRegistry, user: "admin", secret: adminPassword}
		reader := &client{tr: ar.testRegistry, user: "reader", secret: "reader-pw"}

		// Pushes: a new repository, the same manifest again, a tag moved.
		if s := admin.pushImage("team/app", "v1", []byte(`{"n":1}`)); s != http.StatusCreated {
			t.Fatal(s)
		}
		first := digest.FromBytes(image([]byte(`{"n":1}`)))
		want(t, "push again", admin.do("PUT", "/v2/team/app/manifests/v1", image([]byte(`{"n":1}`)), "Content-Type", "application/vnd.oci.image.manifest.v1+json"), http.StatusCreated, "")
		if s := admin.pushImage("team/app", "v1", []byte(`{"n":2}`)); s != http.StatusCreated {
			t.Fatal(s)
		}
		second := digest.FromBytes(image([]byte(`{"n":2}`)))
		// Pulls: three GETs and a HEAD make one event counting three.
		for range 3 {
			want(t, "pull", admin.do("GET", "/v2/team/app/manifests/v1", nil), http.StatusOK, "")
		}
		want(t, "head", admin.do("HEAD", "/v2/team/app/manifests/v1", nil), http.StatusOK, "")
		// Refused: a reader's push, and a push an immutable tag forbids.
		want(t, "reader push", reader.do("PUT", "/v2/team/app/manifests/v9", image([]byte(`{"n":1}`)), "Content-Type", "application/vnd.oci.image.manifest.v1+json"), http.StatusForbidden, "DENIED")
		var rule mgmt.ImmutabilityRule
		admin.api("POST", "/api/v1/namespaces/team/immutability-rules", mgmt.ImmutabilityRuleCreate{Pattern: "v1"}, &rule, http.StatusCreated)
		want(t, "move an immutable tag", admin.do("PUT", "/v2/team/app/manifests/v1", image([]byte(`{"n":1}`)), "Content-Type", "application/vnd.oci.image.manifest.v1+json"), http.StatusForbidden, "DENIED")
		admin.api("DELETE", fmt.Sprintf("/api/v1/namespaces/team/immutability-rules/%d", rule.ID), nil, nil, http.StatusNoContent)
		// Deletes: the tag, both manifests (the last one ends the
		// repository), a blob link.
		want(t, "delete tag", admin.do("DELETE", "/v2/team/app/manifests/v1", nil), http.StatusAccepted, "")
		want(t, "delete manifest", admin.do("DELETE", "/v2/team/app/manifests/"+second.String(), nil), http.StatusAccepted, "")
		want(t, "delete manifest", admin.do("DELETE", "/v2/team/app/manifests/"+first.String(), nil), http.StatusAccepted, "")
		want(t, "delete blob", admin.do("DELETE", "/v2/team/app/blobs/"+digest.FromBytes([]byte(`{"n":2}`)).String(), nil), http.StatusAccepted, "")
		// A quota: a push crosses half of it (a warning), the next exceeds it.
		admin.api("PUT", "/api/v1/namespaces/team/quota", mgmt.QuotaPut{LimitBytes: 1000}, nil, http.StatusOK)
		if s := admin.pushBlob("team/quota", []byte(strings.Repeat("a", 600))); s != http.StatusCreated {
			t.Fatalf("blob under the quota: %d", s)
		}
		if s := admin.pushBlob("team/quota", []byte(strings.Repeat("b", 600))); s != http.StatusForbidden {
			t.Fatalf("blob over the quota: %d", s)
		}
		admin.api("DELETE", "/api/v1/namespaces/team/quota", nil, nil, http.StatusNoContent)
		// Retention deletes what no rule keeps, then GC collects.
		if s := admin.pushImage("team/old", "stale", []byte(`{"n":3}`)); s != http.StatusCreated {
			t.Fatal(s)
		}
		var pol mgmt.RetentionPolicy
		admin.api("POST", "/api/v1/retention-policies", json.RawMessage(`{"scope":"team/old","keep":["v*"]}`), &pol, http.StatusCreated)
		admin.api("POST", "/api/v1/retention/run", nil, nil, http.StatusOK)
		admin.api("POST", "/api/v1/gc", nil, nil, http.StatusOK)
		// A failed login.
		want(t, "bad password", (&client{tr: ar.testRegistry, user: "reader", secret: "wrong"}).do("GET", "/v2/", nil), http.StatusUnauthorized, "")
		// Accounts, each change once: a user, a namespace, a member, a
		// token, a robot, a signing key, and a webhook.
		admin.api("POST", "/api/v1/users", mgmt.UserCreate{Name: "carol", Password: "carol-password"}, nil, http.StatusCreated)
		yes := true
		admin.api("PATCH", "/api/v1/users/carol", mgmt.UserUpdate{Disabled: &yes}, nil, http.StatusOK)
		admin.api("POST", "/api/v1/namespaces", mgmt.NamespaceCreate{Name: "ops"}, nil, http.StatusCreated)
		admin.api("PATCH", "/api/v1/namespaces/ops", mgmt.NamespaceUpdate{Public: &yes}, nil, http.StatusOK)
		admin.api("PUT", "/api/v1/namespaces/ops/members/carol", mgmt.MemberPut{Role: "developer"}, nil, http.StatusOK)
		admin.api("DELETE", "/api/v1/namespaces/ops/members/carol", nil, nil, http.StatusNoContent)
		var tok, robot mgmt.Token
		admin.api("POST", "/api/v1/users/admin/tokens", mgmt.TokenCreate{Name: "ci", Scopes: []string{"*:pull"}}, &tok, http.StatusCreated)
		admin.api("DELETE", "/api/v1/users/admin/tokens/"+tok.ID, nil, nil, http.StatusNoContent)
		admin.api("POST", "/api/v1/namespaces/ops/robots", mgmt.TokenCreate{Name: "deploy", Scopes: []string{"ops/*:pull"}}, &robot, http.StatusCreated)
		admin.api("DELETE", "/api/v1/namespaces/ops/robots/"+robot.ID, nil, nil, http.StatusNoContent)
		var key mgmt.SigningKey
		var keys []mgmt.SigningKey
		admin.api("GET", "/api/v1/keys", nil, &keys, http.StatusOK)
		admin.api("POST", "/api/v1/keys/rotate", nil, &key, http.StatusCreated)
		admin.api("POST", "/api/v1/keys/"+keys[0].ID+"/retire", nil, nil, http.StatusOK)
		admin.api("POST", "/api/v1/webhooks", mgmt.WebhookCreate{Name: "off", URL: "https://203.0.113.10/hook", Enabled: new(bool)}, nil, http.StatusCreated)
		admin.api("DELETE", "/api/v1/namespaces/ops", nil, nil, http.StatusNoContent)
		admin.api("DELETE", "/api/v1/users/carol", nil, nil, http.StatusNoContent)
		admin.api("POST", "/api/v1/users", mgmt.UserCreate{Name: "Bad Name"}, nil, http.StatusBadRequest)

		var es []events.Event
		// Refusals are written off the request path, pulls every pull window.
		deadline := time.Now().Add(5 * time.Second)
		for {
			es = ar.streamOf()
			if len(of(es, events.KindLoginFailed)) > 0 && len(of(es, events.KindAccessDenied)) > 1 && len(of(es, events.KindArtifactPulled)) > 0 ||
				time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		got := kindCounts(es)
		wantCounts := map[events.Kind]int{
			events.KindRepositoryCreated: 2, // team/app, team/old
			events.KindArtifactPushed:    4,
			events.KindTagMoved:          1,
			events.KindArtifactPulled:    1,
			events.KindAccessDenied:      2, // the reader's push, the immutable tag
			events.KindPolicyChanged:     5, // immutability add and delete, quota set and delete, retention policy
			events.KindTagDeleted:        2, // v1, and stale by retention
			events.KindArtifactDeleted:   3, // two by hand, one by retention
			events.KindRepositoryDeleted: 2, // team/app by hand, team/old by retention
			events.KindBlobDeleted:       1,
			events.KindQuotaWarning:      1,
			events.KindQuotaExceeded:     1,
			events.KindRetentionRun:      1,
			events.KindGCRun:             1,
			events.KindLoginFailed:       1,
			events.KindUserCreated:       2, // the first administrator, carol
			events.KindUserUpdated:       1,
			events.KindUserDeleted:       1,
			events.KindNamespaceCreated:  1,
			events.KindNamespaceUpdated:  1,
			events.KindNamespaceDeleted:  1,
			events.KindMemberSet:         1,
			events.KindMemberRemoved:     1,
			events.KindTokenCreated:      1,
			events.KindTokenRevoked:      1,
			events.KindRobotCreated:      1,
			events.KindRobotRevoked:      1,
			events.KindKeyRotated:        2, // the first key, and the rotation
			events.KindKeyRetired:        1,
			events.KindWebhookChanged:    1,
			events.KindRequestFailed:     1, // the user name refused
		}
		if diff := cmp.Diff(wantCounts, got); diff != "" {
			t.Errorf("events by kind (-want +got):\n%s", diff)
			for _, e := range es {
				t.Logf("%s %s %s %+v", e.Kind(), e.Actor.Name, e.Repository, e.Data)
			}
		}
		check := func(what string, ok bool) {
			t.Helper()
			if !ok {
				t.Errorf("%s: %+v", what, es)
			}
		}
		pushed := of(es, events.KindArtifactPushed)
		if len(pushed) == 4 {
			p := pushed[0].Data.(*events.ArtifactPushed)
			check("first push", p.Digest == first && slices.Equal(p.Tags, []string{"v1"}) && p.Size > 0 &&
				p.MediaType == "application/vnd.oci.image.manifest.v1+json" && pushed[0].Actor.Name == "user:admin" &&
				pushed[0].Actor.Client == "127.0.0.1" && pushed[0].Actor.Request.Method == "PUT" && pushed[0].Namespace == "team")
		}
		if m := of(es, events.KindTagMoved); len(m) == 1 {
			d := m[0].Data.(*events.TagMoved)
			check("tag moved", d.Tag == "v1" && d.Previous == first && d.Digest == second)
		}
		if p := of(es, events.KindArtifactPulled); len(p) == 1 {
			d := p[0].Data.(*events.ArtifactPulled)
			check("pulls counted", d.Count == 3 && d.Tag == "v1" && d.Digest == second && slices.Equal(d.Clients, []string{"127.0.0.1"}))
		}
		if d := of(es, events.KindArtifactDeleted); len(d) == 3 {
			check("retention's deletion", d[2].Actor.Name == "user:admin" && d[2].Data.(*events.ArtifactDeleted).Reason != "")
		}
		if w := of(es, events.KindQuotaWarning); len(w) == 1 {
			d := w[0].Data.(*events.QuotaWarning)
			check("quota warning", d.Percent == 50 && d.LimitBytes == 1000 && d.UsedBytes >= 600)
		}
		if r := of(es, events.KindRetentionRun); len(r) == 1 {
			d := r[0].Data.(*events.RetentionRun)
			check("retention run", d.TagsDeleted == 1 && d.ManifestsDeleted == 1)
		}
		if g := of(es, events.KindGCRun); len(g) == 1 {
			check("gc run", g[0].Data.(*events.GCRun).BlobsDeleted > 0)
		}
		if m := of(es, events.KindMemberSet); len(m) == 1 {
			d := m[0].Data.(*events.MemberSet)
			check("member set", d.User == "carol" && d.Role == "developer" && m[0].Namespace == "ops" && m[0].Actor.Name == "user:admin")
		}
		if r := of(es, events.KindRobotCreated); len(r) == 1 {
			d := r[0].Data.(*events.RobotCreated)
			check("robot", d.Name == "ops+deploy" && d.ID == robot.ID && r[0].Namespace == "ops")
		}
		if f := of(es, events.KindLoginFailed); len(f) == 1 {
			check("failed login", f[0].Actor.Name == "user:reader" && f[0].Actor.Client == "127.0.0.1")
		}
		// The events are the audit log.
		ev := ar.auditEvents(meta.AuditQuery{Actor: "user:admin", Action: "push", TargetPrefix: "team/app:v1", Result: "ok"}, 3)
		if len(ev) != 3 || ev[0].Detail != second.String() {
			t.Errorf("audit of the pushes: %+v", ev)
		}
	})
}
