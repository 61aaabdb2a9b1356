package server_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/wharf-dev/wharf/internal/config"
	"github.com/wharf-dev/wharf/internal/events"
	"github.com/wharf-dev/wharf/internal/meta"
)

// txKinds are the kinds of the changes TestChangeEventsInTransaction
// makes: settings kept in tables of their own (replication rules,
// allowlists, key sets, image, network and promotion policies, upstreams),
// whose events were once written after the change, outside its
// transaction.
var txKinds = []events.Kind{events.KindPolicyChanged, events.KindReplicationRuleChanged, events.KindReplicationRun}

// changeKey names an event of txKinds by what a test expects of it: its
// kind, and for a policy its policy, change and scope; for a replication
// run its state. Other events give "".
func changeKey(e events.Event) string {
	switch d := e.Data.(type) {
	case *events.PolicyChanged:
		return fmt.Sprintf("policy.changed %s %s %s", d.Policy, d.Change, d.Scope)
	case *events.ReplicationRuleChanged:
		return fmt.Sprintf("replication.rule.changed %s %s", d.Change, d.Name)
	case *events.ReplicationRun:
		if d.State == meta.RunQueued { // the run's end is the job's, on its own time
			return "replication.run queued"
		}
	}
	return ""
}

// changeKeys counts the events of es by changeKey.
func changeKeys(es []events.Event) map[string]int {
	out := map[string]int{}
	for _, e := range es {
		if k := changeKey(e); k != "" {
			out[k]++
		}
	}
	return out
}

// TestChangeEventsInTransaction: each change of a replication rule, an
// allowlist, a key set, an image, network or promotion policy or an
// upstream writes its event once, in the change's transaction, with no
// secret in it; and a change the database refuses half-way (it refuses to
// store the event, the transaction's last statement) or that is refused
// after its first list is checked leaves neither the change nor an event.
func TestChangeEventsInTransaction(t *testing.T) {
	mainBackends(t, func(t *testing.T, b backend) {
		keyFile := filepath.Join(t.TempDir(), "credentials.key")
		if err := os.WriteFile(keyFile, []byte(hex.EncodeToString(bytes.Repeat([]byte{7}, 32))+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		ar := newAuthRegistryOn(t, b, func(c *config.Config) {
			c.Scanning.Enabled = true
			c.Proxy.CredentialsKeyFile, c.Replication.CredentialsKeyFile = keyFile, keyFile
		})
		ar.namespace("team", false, nil)
		admin := &client{tr: ar.testRegistry, user: "admin", secret: adminPassword}
		const secret = "s3cret-upstream-password"
		rule := func(name, repos string) string {
			return fmt.Sprintf(`{"name":%q,"direction":"push","repositories":[%q],"trigger":{},
				"remote":{"url":"https://backup.example:5000","username":"robot","password":%q}}`, name, repos, secret)
		}
		keySet := fmt.Sprintf(`{"keys":[{"name":"release-key","pem":%q}]}`, publicKeyPEM(t))
		call := func(what, method, path, body string, status int) response {
			t.Helper()
			r := admin.do(method, path, []byte(body), "Content-Type", "application/json")
			if r.status != status {
				t.Fatalf("%s: %s %s: %d, want %d: %s", what, method, path, r.status, status, r.body)
			}
			return r
		}

		// Every change once.
		var created struct{ ID int64 }
		if err := json.Unmarshal(call("create a rule", "POST", "/api/v1/replication/rules", rule("dr", "team/**"), http.StatusCreated).body, &created); err != nil {
			t.Fatal(err)
		}
		ruleURL := fmt.Sprintf("/api/v1/replication/rules/%d", created.ID)
		call("update the rule", "PUT", ruleURL, rule("dr", "team/app"), http.StatusOK)
		call("run the rule", "POST", ruleURL+"/run", "", http.StatusAccepted)
		call("delete the rule", "DELETE", ruleURL, "", http.StatusNoContent)
		call("allow in team", "POST", "/api/v1/namespaces/team/allowlist", `{"id":"CVE-2024-1","reason":"not reachable"}`, http.StatusCreated)
		call("disallow in team", "DELETE", "/api/v1/namespaces/team/allowlist/CVE-2024-1", "", http.StatusNoContent)
		call("allow system-wide", "POST", "/api/v1/allowlist", `{"id":"CVE-2024-2","reason":"not reachable"}`, http.StatusCreated)
		call("disallow system-wide", "DELETE", "/api/v1/allowlist/CVE-2024-2", "", http.StatusNoContent)
		call("set the key set", "PUT", "/api/v1/namespaces/team/trust", keySet, http.StatusOK)
		call("delete the key set", "DELETE", "/api/v1/namespaces/team/trust", "", http.StatusNoContent)
		call("set the image policy", "PUT", "/api/v1/namespaces/team/image-policy", `{"requireSignature":{"mode":"warn"}}`, http.StatusOK)
		call("delete the image policy", "DELETE", "/api/v1/namespaces/team/image-policy", "", http.StatusNoContent)
		call("set network rules", "PUT", "/api/v1/namespaces/team/network-rules", `{"pull":["127.0.0.0/8","10.0.0.0/8"],"push":[]}`, http.StatusOK)
		call("set the promotion policy", "PUT", "/api/v1/namespaces/team/promotion-policy", `{"directPush":true}`, http.StatusOK)
		call("delete the promotion policy", "DELETE", "/api/v1/namespaces/team/promotion-policy", "", http.StatusNoContent)
		call("delete no promotion policy", "DELETE", "/api/v1/namespaces/team/promotion-policy", "", http.StatusNoContent)
		call("create a proxy namespace", "POST", "/api/v1/namespaces", `{"name":"hub","kind":"proxy","upstream":{"url":"https://upstream.example"}}`, http.StatusCreated)
		call("set its upstream", "PUT", "/api/v1/namespaces/hub/upstream",
			fmt.Sprintf(`{"url":"https://upstream.example","username":"puller","password":%q}`, secret), http.StatusOK)

		want := map[string]int{
			"replication.rule.changed created dr":     1,
			"replication.rule.changed updated dr":     1,
			"replication.run queued":                  1,
			"replication.rule.changed deleted dr":     1,
			"policy.changed allowlist created team":   1,
			"policy.changed allowlist deleted team":   1,
			"policy.changed allowlist created system": 1,
			"policy.changed allowlist deleted system": 1,
			"policy.changed trust updated team":       1,
			"policy.changed trust deleted team":       1,
			"policy.changed image updated team":       1,
			"policy.changed image deleted team":       1,
			"policy.changed network updated team":     1,
			"policy.changed promotion updated team":   1,
			"policy.changed promotion deleted team":   1, // once: deleting no policy is no change
			"policy.changed upstream created hub":     1,
			"policy.changed upstream updated hub":     1,
		}
		es := ar.streamOf()
		if diff := cmp.Diff(want, changeKeys(es)); diff != "" {
			t.Errorf("events of the changes (-want +got):\n%s", diff)
		}
		for _, e := range es {
			if changeKey(e) != "" && (e.Actor.Name != "user:admin" || e.Actor.Client == "") {
				t.Errorf("%s: actor %+v, want user:admin with the client's address", changeKey(e), e.Actor)
			}
		}
		recs, err := ar.store.(meta.EventReader).Events(context.Background(), meta.EventQuery{N: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if bytes.Contains(r.Data, []byte(secret)) || strings.Contains(r.Detail, secret) {
				t.Errorf("event %s (%s) holds the password: %s %s", r.ID, r.Kind, r.Data, r.Detail)
			}
		}

		// What the refused changes below would change, as it is now.
		if err := json.Unmarshal(call("create a rule", "POST", "/api/v1/replication/rules", rule("kept", "team/**"), http.StatusCreated).body, &created); err != nil {
			t.Fatal(err)
		}
		ruleURL = fmt.Sprintf("/api/v1/replication/rules/%d", created.ID)
		call("allow in team", "POST", "/api/v1/namespaces/team/allowlist", `{"id":"CVE-2024-3","reason":"kept"}`, http.StatusCreated)
		call("allow system-wide", "POST", "/api/v1/allowlist", `{"id":"CVE-2024-4","reason":"kept"}`, http.StatusCreated)
		call("set the image policy", "PUT", "/api/v1/namespaces/team/image-policy", `{"requireSignature":{"mode":"warn"}}`, http.StatusOK)
		call("set the promotion policy", "PUT", "/api/v1/namespaces/team/promotion-policy", `{"directPush":true}`, http.StatusOK)
		reads := []string{"/api/v1/replication/rules", "/api/v1/replication/runs", "/api/v1/namespaces/team/allowlist",
			"/api/v1/allowlist", "/api/v1/namespaces/team/trust", "/api/v1/namespaces/team/image-policy",
			"/api/v1/namespaces/team/network-rules", "/api/v1/namespaces/team/promotion-policy"}
		state := func() map[string]string {
			out := map[string]string{}
			for _, p := range reads {
				r := admin.do("GET", p, nil)
				out[p] = fmt.Sprintf("%d %s", r.status, r.body)
			}
			// The upstream as stored: its health is this replica's view, which moves.
			var u struct{ URL, Username string }
			_ = json.Unmarshal(admin.do("GET", "/api/v1/namespaces/hub/upstream", nil).body, &u)
			out["upstream"] = u.URL + " " + u.Username
			return out
		}
		before, beforeKeys := state(), changeKeys(ar.streamOf())

		// A refusal after the first list is checked: pull is fine, push is not.
		call("bad push list", "PUT", "/api/v1/namespaces/team/network-rules", `{"pull":["10.1.0.0/16"],"push":["not a cidr"]}`, http.StatusBadRequest)

		// The database refuses to store the events: each change fails whole.
		undo := refuseEvents(t, ar.cfg, txKinds...)
		failing := []struct{ what, method, path, body string }{
			{"create a rule", "POST", "/api/v1/replication/rules", rule("lost", "team/**")},
			{"update a rule", "PUT", ruleURL, rule("kept", "team/other")},
			{"run a rule", "POST", ruleURL + "/run", ""},
			{"delete a rule", "DELETE", ruleURL, ""},
			{"allow in team", "POST", "/api/v1/namespaces/team/allowlist", `{"id":"CVE-2024-5","reason":"lost"}`},
			{"disallow in team", "DELETE", "/api/v1/namespaces/team/allowlist/CVE-2024-3", ""},
			{"allow system-wide", "POST", "/api/v1/allowlist", `{"id":"CVE-2024-6","reason":"lost"}`},
			{"disallow system-wide", "DELETE", "/api/v1/allowlist/CVE-2024-4", ""},
			{"set the key set", "PUT", "/api/v1/namespaces/team/trust", keySet},
			{"set the image policy", "PUT", "/api/v1/namespaces/team/image-policy", `{"requireSignature":{"mode":"enforce"}}`},
			{"delete the image policy", "DELETE", "/api/v1/namespaces/team/image-policy", ""},
			{"set network rules", "PUT", "/api/v1/namespaces/team/network-rules", `{"pull":["127.0.0.0/8"],"push":["127.0.0.1"]}`},
			{"set the promotion policy", "PUT", "/api/v1/namespaces/team/promotion-policy", `{"directPush":false}`},
			{"delete the promotion policy", "DELETE", "/api/v1/namespaces/team/promotion-policy", ""},
			{"set the upstream", "PUT", "/api/v1/namespaces/hub/upstream", `{"url":"https://other.example"}`},
		}
		for _, f := range failing {
			if r := admin.do(f.method, f.path, []byte(f.body), "Content-Type", "application/json"); r.status < 500 {
				t.Errorf("%s with its event refused: %d, want a server error: %s", f.what, r.status, r.body)
			}
		}
		undo()

		if diff := cmp.Diff(before, state()); diff != "" {
			t.Errorf("refused changes changed something (-before +after):\n%s", diff)
		}
		if diff := cmp.Diff(beforeKeys, changeKeys(ar.streamOf())); diff != "" {
			t.Errorf("refused changes left events (-before +after):\n%s", diff)
		}
	})
}

// refuseEvents makes the registry's database refuse to store events of
// kinds, as a database failing a transaction's last statement would, until
// the function it returns is called.
func refuseEvents(t *testing.T, cfg config.Config, kinds ...events.Kind) func() {
	t.Helper()
	quoted := make([]string, len(kinds))
	for i, k := range kinds {
		quoted[i] = "'" + string(k) + "'"
	}
	in := strings.Join(quoted, ", ")
	ctx := context.Background()
	if cfg.Database.Driver == "postgres" {
		conn, err := pgx.Connect(ctx, cfg.Database.Postgres.URL)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{
			`CREATE FUNCTION refuse_event() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'event refused by the test'; END $$`,
			`CREATE TRIGGER refuse_events BEFORE INSERT ON events FOR EACH ROW WHEN (NEW.kind IN (` + in + `)) EXECUTE FUNCTION refuse_event()`,
		} {
			if _, err := conn.Exec(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		return func() {
			t.Helper()
			if _, err := conn.Exec(ctx, `DROP TRIGGER refuse_events ON events; DROP FUNCTION refuse_event()`); err != nil {
				t.Fatal(err)
			}
			_ = conn.Close(ctx)
		}
	}
	db, err := sql.Open("sqlite", "file:"+cfg.Database.SQLite.Path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TRIGGER refuse_events BEFORE INSERT ON events WHEN NEW.kind IN (` + in + `)
		BEGIN SELECT RAISE(ABORT, 'event refused by the test'); END`); err != nil {
		t.Fatal(err)
	}
	return func() {
		t.Helper()
		if _, err := db.Exec(`DROP TRIGGER refuse_events`); err != nil {
			t.Fatal(err)
		}
		_ = db.Close()
	}
}

// publicKeyPEM is a new ECDSA public key, as a key set holds it.
func publicKeyPEM(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// TestRequestEventsInTransaction: a scan asked for, a promotion that waits
// for approval and an approval write their events once, in the change's
// transaction; refused by the database, they leave neither the change nor
// the event. A scan's end and a promotion's copy are events once too.
func TestRequestEventsInTransaction(t *testing.T) {
	mainBackends(t, func(t *testing.T, b backend) {
		ar := newAuthRegistryOn(t, b, func(c *config.Config) { c.Scanning.Enabled = true })
		ar.user("bob", true) // a second person, to approve
		ar.namespace("team", false, nil)
		ar.namespace("prod", false, nil)
		admin := &client{tr: ar.testRegistry, user: "admin", secret: adminPassword}
		bob := &client{tr: ar.testRegistry, user: "bob", secret: "bob-pw"}
		if s := admin.pushImage("team/app", "v1", []byte(`{"n":1}`)); s != http.StatusCreated {
			t.Fatal(s)
		}
		call := func(c *client, what, method, path, body string, status int) response {
			t.Helper()
			r := c.do(method, path, []byte(body), "Content-Type", "application/json")
			if status != 0 && r.status != status || status == 0 && r.status < 500 {
				t.Fatalf("%s: %s %s: %d, want %d (0: a server error): %s", what, method, path, r.status, status, r.body)
			}
			return r
		}
		call(admin, "approvals gate", "PUT", "/api/v1/namespaces/prod/promotion-policy", `{"gates":{"approvals":1}}`, http.StatusOK)
		promote := `{"source":"team/app:v1","target":"prod/app:v1"}`
		requests := func() string { return string(admin.do("GET", "/api/v1/promotion-requests", nil).body) }
		state := func() string {
			return string(admin.do("GET", "/api/v1/repositories/team/app/scans/v1", nil).body) + requests()
		}
		kinds := []events.Kind{events.KindScanRequested, events.KindPromotionRequested, events.KindPromotionApproved}
		count := func() map[events.Kind]int {
			out := map[events.Kind]int{}
			for _, e := range ar.streamOf() {
				out[e.Kind()]++
			}
			return out
		}

		// Refused by the database: nothing changes.
		before := state()
		undo := refuseEvents(t, ar.cfg, kinds...)
		call(admin, "scan with its event refused", "POST", "/api/v1/repositories/team/app/scans/v1", "", 0)
		call(admin, "promotion request with its event refused", "POST", "/api/v1/promotions", promote, 0)
		undo()
		if after := state(); after != before {
			t.Errorf("refused requests changed something:\n%s\nwas\n%s", after, before)
		}
		if c := count(); c[events.KindScanRequested]+c[events.KindPromotionRequested] != 0 {
			t.Errorf("refused requests left events: %v", c)
		}

		// Made: each once.
		// Accepted while queued or running; 200 if a worker was quicker
		// than the answer.
		if r := admin.do("POST", "/api/v1/repositories/team/app/scans/v1", nil); r.status != http.StatusAccepted && r.status != http.StatusOK {
			t.Fatalf("scan: %d, want 202 or 200: %s", r.status, r.body)
		}
		var pending struct{ Request struct{ ID int64 } }
		if err := json.Unmarshal(call(admin, "promote", "POST", "/api/v1/promotions", promote, http.StatusAccepted).body, &pending); err != nil || pending.Request.ID == 0 {
			t.Fatalf("pending promotion: %v %+v", err, pending)
		}
		call(admin, "ask again", "POST", "/api/v1/promotions", promote, http.StatusAccepted)
		approve := fmt.Sprintf("/api/v1/promotion-requests/%d/approve", pending.Request.ID)
		before = requests() // the scan goes on meanwhile
		undo = refuseEvents(t, ar.cfg, events.KindPromotionApproved)
		call(bob, "approval with its event refused", "POST", approve, `{"comment":"ok"}`, 0)
		undo()
		if after := requests(); after != before {
			t.Errorf("a refused approval changed something:\n%s\nwas\n%s", after, before)
		}
		call(bob, "approve", "POST", approve, `{"comment":"ok"}`, http.StatusCreated)

		deadline := time.Now().Add(30 * time.Second)
		for count()[events.KindScanCompleted] == 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		want := map[events.Kind]int{events.KindScanRequested: 1, events.KindScanCompleted: 1, events.KindPromotionRequested: 1,
			events.KindPromotionApproved: 1, events.KindArtifactPromoted: 1}
		got := count()
		for k := range got {
			if _, ok := want[k]; !ok {
				delete(got, k)
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})
}

// TestScanResultWithItsEvent: a scan's result is stored with its
// scan.completed event or not at all: with the event refused by the
// database, the scan stays running (its claim lapses and another worker
// scans it again) and no event is written.
func TestScanResultWithItsEvent(t *testing.T) {
	mainBackends(t, func(t *testing.T, b backend) {
		ar := newAuthRegistryOn(t, b, func(c *config.Config) { c.Scanning.Enabled = true })
		ar.namespace("team", false, nil)
		admin := &client{tr: ar.testRegistry, user: "admin", secret: adminPassword}
		if s := admin.pushImage("team/app", "v1", []byte(`{"n":1}`)); s != http.StatusCreated {
			t.Fatal(s)
		}
		undo := refuseEvents(t, ar.cfg, events.KindScanCompleted)
		defer undo()
		if r := admin.do("POST", "/api/v1/repositories/team/app/scans/v1", nil); r.status != http.StatusAccepted && r.status != http.StatusOK {
			t.Fatalf("scan: %d %s", r.status, r.body)
		}
		// A scan of this image takes milliseconds; give the worker time
		// to try to store it.
		var state struct{ Manifests []struct{ Status string } }
		for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			_ = json.Unmarshal(admin.do("GET", "/api/v1/repositories/team/app/scans/v1", nil).body, &state)
			if len(state.Manifests) != 1 || state.Manifests[0].Status != "queued" && state.Manifests[0].Status != "running" {
				t.Fatalf("the scan's result was stored without its event: %+v", state)
			}
		}
		if n := len(of(ar.streamOf(), events.KindScanCompleted)); n != 0 {
			t.Errorf("%d scan.completed events", n)
		}
	})
}
