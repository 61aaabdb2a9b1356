package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/wharf-dev/wharf/internal/auth"
	"github.com/wharf-dev/wharf/internal/config"
)

// from is a client whose requests come through the trusted proxy on
// loopback from addr.
func from(c *client, addr string) *client {
	cc := *c
	cc.hdr = []string{"X-Forwarded-For", addr}
	return &cc
}

// TestNetworkRules: a namespace's pull and push allow-lists and the
// registry-wide ones refuse requests from other addresses, read through
// the trusted proxies, naming the rule; promotions into the namespace are
// pushes; on every backend.
func TestNetworkRules(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ar := newAuthRegistryOn(t, b, func(c *config.Config) {
			c.HTTP.TrustedProxies = "127.0.0.1"
			c.Network.Push = []string{"10.0.0.0/8", "192.168.7.0/24"}
		})
		ar.user("bob", false)
		ar.namespace("ci", false, map[string]auth.Role{"bob": auth.RoleDeveloper})
		ar.namespace("prod", false, map[string]auth.Role{"bob": auth.RoleAdmin})
		bob := &client{tr: ar.testRegistry, user: "bob", secret: "bob-pw"}
		inside, outside, pipeline := from(bob, "10.1.2.3"), from(bob, "192.168.7.9"), from(bob, "10.9.9.9")
		if s := inside.pushImage("prod/app", "v1", []byte(`{"v":1}`)); s != http.StatusCreated {
			t.Fatalf("push before any namespace rule: %d", s)
		}
		if s := inside.pushImage("ci/app", "v1", []byte(`{"v":2}`)); s != http.StatusCreated {
			t.Fatalf("push to ci: %d", s)
		}

		put := func(c *client, body string) response {
			return c.do("PUT", "/api/v1/namespaces/prod/network-rules", []byte(body), "Content-Type", "application/json")
		}
		wantAPI(t, "bad CIDR", put(inside, `{"pull":["10.0.0.0/33"]}`), http.StatusBadRequest)
		wantAPI(t, "rules", put(inside, `{"pull":["10.0.0.0/8"],"push":["10.9.9.9"]}`), http.StatusOK)
		// A body of null is no rules at all, not an empty list that lets
		// every address in.
		wantAPI(t, "null rules", put(inside, `null`), http.StatusBadRequest)
		r := inside.do("GET", "/api/v1/namespaces/prod/network-rules", nil)
		var rules struct{ Pull, Push []string }
		if json.Unmarshal(r.body, &rules) != nil || rules.Pull[0] != "10.0.0.0/8" || rules.Push[0] != "10.9.9.9/32" {
			t.Fatalf("rules read back: %s", r.body)
		}

		refused := func(what string, r response, says ...string) {
			t.Helper()
			want(t, what, r, http.StatusForbidden, "DENIED")
			for _, s := range says {
				if !strings.Contains(string(r.body), s) {
					t.Errorf("%s: %s does not say %q", what, r.body, s)
				}
			}
		}
		want(t, "pull from inside", inside.do("GET", "/v2/prod/app/manifests/v1", nil), http.StatusOK, "")
		refused("pull from outside", outside.do("GET", "/v2/prod/app/manifests/v1", nil), "prod/pull", "192.168.7.9", "10.0.0.0/8")
		want(t, "pull ci from outside", outside.do("GET", "/v2/ci/app/manifests/v1", nil), http.StatusOK, "")
		// What a pull reads beside /v2 obeys the pull lists too: the tags
		// by the management API and the Docker Hub API, the web UI's page.
		wantAPI(t, "tags from outside by the management API", outside.do("GET", "/api/v1/repositories/prod/app/tags", nil), http.StatusForbidden)
		wantAPI(t, "tags from inside by the management API", inside.do("GET", "/api/v1/repositories/prod/app/tags", nil), http.StatusOK)
		if hub := outside.do("GET", "/v2/repositories/prod/app/tags/", nil); hub.status != http.StatusForbidden || !strings.Contains(string(hub.body), "prod/pull") {
			t.Errorf("tags from outside by the Docker Hub API: %d %s", hub.status, hub.body)
		}
		if hub := inside.do("GET", "/v2/repositories/prod/app/tags/", nil); hub.status != http.StatusOK {
			t.Errorf("tags from inside by the Docker Hub API: %d %s", hub.status, hub.body)
		}
		refused("push from inside", inside.do("POST", "/v2/prod/app/blobs/uploads/", nil), "prod/push", "10.1.2.3")
		refused("delete from inside", inside.do("DELETE", "/v2/prod/app/manifests/v1", nil), "prod/push")
		// Deletes beside /v2 obey the push lists too: the management API,
		// the Docker Hub API and the web UI.
		wantAPI(t, "untag from inside by the management API", inside.do("DELETE", "/api/v1/repositories/prod/app/tags/v1", nil), http.StatusForbidden)
		hub := inside.do("DELETE", "/v2/repositories/prod/app/tags/v1/", nil)
		if hub.status != http.StatusForbidden || !strings.Contains(string(hub.body), "prod/push") {
			t.Errorf("untag from inside by the Docker Hub API: %d %s", hub.status, hub.body)
		}
		web := newWebClient(t, ar.testRegistry)
		web.signIn("bob", "bob-pw")
		// The test's own address, 127.0.0.1, is outside prod's pull list:
		// the pages show what a pull reads, so they are refused there.
		if r := web.do("GET", "/r/prod/app", nil); r.status != http.StatusForbidden || !strings.Contains(string(r.body), "prod/pull") {
			t.Errorf("the repository's page from outside: %d %s", r.status, r.body)
		}
		form := web.do("GET", "/r/prod/app/-/tags/v1/delete", nil, "X-Forwarded-For", "10.1.2.3")
		csrf := csrfField.FindStringSubmatch(string(form.body))
		if form.status != http.StatusOK || csrf == nil {
			t.Fatalf("the delete form from inside: %d %s", form.status, form.body)
		}
		page := web.post("/r/prod/app/-/tags/v1/delete", url.Values{"csrf": {csrf[1]}}, http.StatusForbidden, "X-Forwarded-For", "10.1.2.3")
		if !strings.Contains(string(page.body), "prod/push") {
			t.Errorf("untag from inside in the web UI: %s", page.body)
		}
		want(t, "prod/app:v1 after the refused deletes", inside.do("GET", "/v2/prod/app/manifests/v1", nil), http.StatusOK, "")
		if s := pipeline.pushImage("prod/app", "v2", []byte(`{"v":3}`)); s != http.StatusCreated {
			t.Errorf("push from the pipeline's address: %d", s)
		}
		// Registry-wide: pushes from outside 10/8 and 192.168.7/24 are refused
		// everywhere.
		refused("push to ci from elsewhere", from(bob, "172.16.0.1").do("POST", "/v2/ci/app/blobs/uploads/", nil), "network.push", "172.16.0.1")

		// A promotion into prod is a push into prod.
		status, a := promoteAs(t, inside, "ci/app:v1", "prod/app:1.0")
		if status != http.StatusForbidden || !strings.Contains(a.Detail, "prod/push") {
			t.Errorf("promotion from inside: %d %+v", status, a)
		}
		if status, a := promoteAs(t, pipeline, "ci/app:v1", "prod/app:1.0"); status != http.StatusCreated {
			t.Errorf("promotion from the pipeline's address: %d %+v", status, a)
		}

		// Removing the rules allows every address again, at once.
		wantAPI(t, "no rules", put(pipeline, `{"pull":[],"push":[]}`), http.StatusOK)
		want(t, "pull from outside after", outside.do("GET", "/v2/prod/app/manifests/v1", nil), http.StatusOK, "")
	})
}
